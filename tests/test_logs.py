"""A library's log record goes to the log file, never into a command's output or
over the app's screen (bridge/logs.py). CI saw `send` print python-omemo's
19-line traceback where one line was promised."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """
[[accounts]]
name = "alice"
email = "alice@example.test"
jid = "alice@example.test"
password_command = "echo secret"

[accounts.imap]
host = "127.0.0.1"
port = 1
tls = "plain"
"""

# The command runs as `python -m tuiclient` would, but a library logs as the
# engine is made: python-omemo's words, with a traceback and a terminal escape a
# peer could have put in a log line.
RUN = """
import logging, runpy, sys
import bridge.headless.host as host

made = host.Headless.__init__

def init(self, *a, **k):
    try:
        raise LookupError("item-not-found")
    except LookupError:
        logging.getLogger("omemo.session_manager").exception(
            "Couldn't download own bundle.\\x1b]52;c;aGk=\\x07 from here")
    logging.getLogger("slixmpp.test").info("an info line")
    made(self, *a, **k)

host.Headless.__init__ = init
sys.argv = ["tuiclient", *sys.argv[1:]]
runpy.run_module("tuiclient", run_name="__main__")
"""


def run(tmp_path: Path, *argv: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "PYTHONPATH": str(ROOT)}
    env.pop("TUICLIENT_DEBUG", None)
    if debug:
        env["TUICLIENT_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-c", RUN, "--config", str(config), *argv],
                          env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_librarys_traceback_goes_to_the_log_file_not_the_commands_output(tmp_path):
    done = run(tmp_path, "sync", "--json")
    said = json.loads(done.stdout)  # the output is the command's JSON alone
    assert said["code"] == done.returncode != 0
    assert done.stderr == ""
    done = run(tmp_path, "sync")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "IMAP" in lines[0], done.stderr

    log = tmp_path / "state" / "tuiclient" / "tuiclient.log"
    text = log.read_text()
    assert text.count("Couldn't download own bundle.") == 2
    assert "LookupError: item-not-found" in text and "omemo.session_manager" in text
    assert "\x1b" not in text and "\x07" not in text
    assert "an info line" not in text  # warnings and up, unless debugging
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_with_tuiclient_debug_a_command_shows_its_log_and_keeps_it(tmp_path):
    done = run(tmp_path, "sync", debug=True)
    assert "Couldn't download own bundle." in done.stderr
    assert "an info line" in done.stderr
    log = tmp_path / "state" / "tuiclient" / "tuiclient.log"
    assert "an info line" in log.read_text()


def test_a_full_log_is_kept_once_as_log_1_and_started_again(tmp_path):
    log = tmp_path / "state" / "tuiclient" / "tuiclient.log"
    log.parent.mkdir(parents=True)
    log.write_text("old line\n" * 200_000)
    run(tmp_path, "sync", "--json")
    assert (log.parent / "tuiclient.log.1").read_text().startswith("old line")
    assert log.read_text().count("Couldn't download own bundle.") == 1
