"""An attachment's content type and name are remote text too: shown inert.

The hostile email is built and sent by swaks (not by us) through the harness's
SMTP server, synced by `tuiclient sync` and shown by `tuiclient show` as text and
as JSON; a row an older version stored with such a content type is shown inert as
well, and the app draws both inert.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.model import Attachment, Direction, Message, Party, Transport
from bridge.paths import data_dir
from bridge.store import Store
from tests.conftest import password_command
from tests.harness.servers import REPO_ROOT
from tests.others import person
from tests.screen import drawn_after_opening_first
from tests.swaks import swaks
from tests.test_app_snapshots import CONFIG

CONTROLS = ("\x1b", "\x9b", "\x9d", "\x07", "\u202e", "\u2066")
HOSTILE_TYPE = "application/pdf\x1b]0;pwned\x07\x9b31m\u202eevil\x1b[2J"
HOSTILE_NAME = "bill\x1b]8;;http://evil.example/\x1b\\\u202efdp.exe\x9d52;c;x\x07.pdf"


def run(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuiclient", "--config", str(config), *argv],
                          capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


def assert_inert(printed: str) -> None:
    for bad in CONTROLS:
        assert bad not in printed, (bad, printed)


@pytest.mark.servers
def test_a_hostile_attachment_from_swaks_is_shown_inert(world, tmp_path: Path) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(alice, password_command(tmp_path, alice)))
    swaks(world, bob, alice.email, "--attach-type", HOSTILE_TYPE, "--attach-name", HOSTILE_NAME,
          "--attach", "%PDF-1.4 not really", subject="Invoice", body="Pay now.")
    done = run(config, "sync")
    assert done.returncode == 0, done.stderr
    listed = run(config, "list", "--json")
    thread = next(t for t in json.loads(listed.stdout) if t["subject"] == "Invoice")

    shown = run(config, "show", str(thread["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "Pay now." in shown.stdout and "file: bill" in shown.stdout
    assert_inert(shown.stdout)

    as_json = run(config, "show", str(thread["id"]), "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert_inert(as_json.stdout)
    (attachment,) = json.loads(as_json.stdout)["messages"][0]["attachments"]
    assert attachment["filename"].startswith("bill") and attachment["filename"].endswith(".pdf")
    assert_inert(attachment["filename"])
    # Not a MIME type (RFC 2045 token/token): stored as what it is, unknown bytes.
    assert attachment["content_type"] == "application/octet-stream"


def hostile_row(store: Store) -> None:
    """A row as an older version stored it: the content type kept as sent."""
    root = "oldrow@example.test"
    store.insert_messages([Message(
        msg_id=root, account="alice", transport=Transport.EMAIL, direction=Direction.IN,
        thread_id=root, date=time.time() - 60, sender=Party("mallory@example.test", "Mallory"),
        recipients=[Party("alice@example.test", "Alice", "to")], subject="Old invoice",
        text="Pay now.", attachments=[Attachment(HOSTILE_NAME, HOSTILE_TYPE, 10)])])


def test_a_stored_hostile_content_type_is_printed_inert(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    with Store.open(data_dir() / "store.db") as store:
        hostile_row(store)
        thread = store.list_threads("alice")[0]
    shown = run(config, "show", str(thread.id), "--no-fetch")
    assert shown.returncode == 0, shown.stderr
    assert "file: bill" in shown.stdout and "application/pdf" in shown.stdout
    assert_inert(shown.stdout)
    as_json = run(config, "show", str(thread.id), "--no-fetch", "--json")
    assert_inert(as_json.stdout)
    assert json.loads(as_json.stdout)["messages"][0]["attachments"][0]["content_type"] \
        == HOSTILE_TYPE  # JSON keeps the value, escaped by the encoder


async def test_the_app_draws_a_hostile_attachment_inert(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    hostile_row(store)
    drawn, _app = await drawn_after_opening_first(tmp_path, CONFIG, store)
    assert "Old invoice" in drawn and "bill" in drawn
    assert_inert(drawn)
