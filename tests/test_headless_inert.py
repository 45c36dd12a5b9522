"""Headless output never passes a remote string's terminal controls through.

A subject, a name, a body or a file name can carry escape sequences that move
the cursor, rename the window, plant an OSC 8 link or write the clipboard (OSC
52), or bidi overrides that reorder what is shown. What `tuiclient` prints for
people must contain none of them; --json escapes them by construction.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bridge.model import Attachment, Direction, Message, Party, Transport
from bridge.paths import data_dir
from bridge.store import Store
from tests.harness.servers import REPO_ROOT

HOSTILE = ("\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b]0;pwned\x07\x9b31m"
           "\u202eevil\u202c\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\")
CONFIG = """
[[accounts]]
name = "me"
email = "me@example.test"
password_command = "echo x"

[accounts.imap]
host = "127.0.0.1"
port = 1
tls = "tls"
"""


def run(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuiclient", "--config", str(config), *argv],
                          capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


def test_hostile_text_is_inert_in_human_output(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    with Store.open(data_dir() / "store.db") as store:
        store.insert_messages([Message(
            msg_id="hostile@example.test", account="me", transport=Transport.EMAIL,
            direction=Direction.IN, thread_id="hostile@example.test", date=time.time(),
            sender=Party("mallory@example.test", "Mallory " + HOSTILE),
            recipients=[Party("me@example.test", "", "to")], subject="Invoice " + HOSTILE,
            text="Pay now " + HOSTILE,
            attachments=[Attachment("bill" + HOSTILE + ".pdf", "application/pdf", 10)])])
        thread = store.list_threads("me")[0]
    outputs = [run(config, "list"), run(config, "show", str(thread.id), "--no-fetch"),
               run(config, "search", "invoice")]
    for done in outputs:
        assert done.returncode == 0, done.stderr
        printed = done.stdout
        assert "Invoice" in printed or "Pay now" in printed
        for bad in ("\x1b", "\x9b", "\x07", "\u202e", "\u202c"):
            assert bad not in printed, (bad, printed)
    # The machine-readable form keeps the text but escapes every control character.
    done = run(config, "show", str(thread.id), "--no-fetch", "--json")
    for bad in ("\x1b", "\x9b", "\u202e"):
        assert bad not in done.stdout
    assert "\\u001b" in done.stdout
    assert json.loads(done.stdout)["messages"][0]["subject"] == "Invoice " + HOSTILE
