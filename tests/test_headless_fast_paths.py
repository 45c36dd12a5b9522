"""What a fast command line leaves unloaded (issue 22, "instant commands"):

- `tuiclient --help` (and a usage error) builds the parser without the config's
  loader (its schema, secrets and the TLS library), SQLite, asyncio or the engine:
  those are imported where a command runs (bridge/headless/cli.py);
- loading a config imports no TLS library unless it names a CA file
  (bridge/config/load.py `check_ca_files`);
- `list`, `search`, `show --no-fetch` and `outbox list` are answered from the
  store by bridge.reader.Reader (the engine's reads), without importing the
  engine or what it wires (bridge/headless/reads.py), nor asyncio (no event
  loop: reads.at_once), the identity layer, the events or ssl; `list --match`
  and `show` that may fetch a body still get the engine;
- the parser is made of argparse-only modules (arguments.py and the verbs'
  *_args.py): `--help` imports none of the verbs' handlers, nor the model, the
  errors or dataclasses.

Each runs in a fresh interpreter and reads `sys.modules` once it is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
report, argv = sys.argv[1], sys.argv[2:]
code = None
if argv == ["--import-config"]:
    import bridge.config
else:
    from tuiclient.__main__ import main
    try:
        code = main(argv)
    except SystemExit as exc:  # --help, a usage error
        code = exc.code
with open(report, "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""

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

[accounts.xmpp]
host = "127.0.0.1"
port = 3
"""


def probe(tmp_path: Path, *argv: str) -> tuple[object, set[str], str]:
    """Run ARGV in a fresh interpreter: its exit code, the modules loaded, stdout."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    report = tmp_path / "report.json"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "PYTHONPATH": str(ROOT)}
    argv = tuple(a.replace("CONFIG", str(config)) for a in argv)
    done = subprocess.run([sys.executable, "-c", PROBE, str(report), *argv], env=env, cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          check=False)
    assert report.exists(), done.stderr
    got = json.loads(report.read_text())
    return got["code"], set(got["modules"]), done.stdout


def top(modules: set[str], names: set[str]) -> set[str]:
    return {m for m in modules if m in names or m.split(".")[0] in names}


# The handoff's store reads (a timeline across both transports, the index caught
# up) are the Reader's too; the package loads none of its other modules at import.
HANDOFF_READS = {"bridge.handoff", "bridge.handoff.reads"}


RUNTIME = {"asyncio", "sqlite3", "ssl", "bridge.config", "bridge.engine", "bridge.store",
           "bridge.headless.host", "bridge.headless.verbs", "slixmpp", "imapclient", "textual"}


def test_help_builds_the_parser_only(tmp_path):
    code, modules, stdout = probe(tmp_path, "--help")
    assert code == 0
    assert "list" in stdout and "search" in stdout  # every verb still listed
    assert {m for m in modules if m in RUNTIME} == set()


def test_a_usage_error_needs_the_parser_only(tmp_path):
    code, modules, _ = probe(tmp_path, "--config", "CONFIG", "list", "--no-such-option")
    assert code == 2
    assert {m for m in modules if m in RUNTIME} == set()


# All of bridge that `--help` and a usage error may load: the command line's own
# modules, argparse only.
PARSER = {"bridge", "bridge.headless", "bridge.headless.cli", "bridge.headless.arguments",
          "bridge.headless.common_args", "bridge.headless.chat_args",
          "bridge.headless.mail_args", "bridge.headless.keys_args",
          "bridge.headless.outcome"}


def test_the_parser_is_made_of_argparse_only_modules(tmp_path):
    for argv in (("--help",), ("--config", "CONFIG", "roster", "--no-such-option")):
        code, modules, _ = probe(tmp_path, *argv)
        assert code in (0, 2)
        assert {m for m in modules if m.split(".")[0] == "bridge"} <= PARSER, argv
        assert "dataclasses" not in modules and "asyncio" not in modules


def test_the_parser_spells_when_away_as_the_errors_do():
    from bridge.errors import WHEN_AWAY
    from bridge.headless.chat_args import WHEN_AWAY as PARSER_WHEN_AWAY

    assert PARSER_WHEN_AWAY == WHEN_AWAY


def test_the_parser_asks_gettext_as_argparse_does_once_made():
    """The parser is made with each of argparse's words looked up once
    (arguments.add_commands); argparse's own lookup is back afterwards."""
    import argparse

    looked_up = vars(argparse)["_"]
    from tuiclient.__main__ import build_parser

    build_parser()
    assert vars(argparse)["_"] is looked_up


def test_loading_a_config_imports_no_tls_library(tmp_path):
    _, modules, _ = probe(tmp_path, "--import-config")
    assert "bridge.config" in modules
    assert "ssl" not in modules and "_ssl" not in modules


# What the engine wires and a command that only reads the store never needs.
ENGINE = {"bridge.engine", "bridge.handoff", "bridge.outbox", "bridge.health",
          "bridge.delivery", "bridge.headless.host", "bridge.headless.verbs",
          "bridge.headless.serve", "slixmpp", "imapclient", "textual"}


# What a read-only command needs neither: no event loop (reads.at_once), no TLS,
# no who-is-who, no events, no OpenPGP or XMPP helpers, no command runner.
NOT_READ = {"asyncio", "ssl", "bridge.identity", "bridge.events", "bridge.crypto.reading",
            "bridge.crypto.openpgp", "bridge.xmpp", "subprocess", "difflib",
            "bridge.headless.chat", "bridge.headless.mail_verbs", "bridge.headless.keys"}


def test_list_and_search_read_the_store_without_the_engine(tmp_path):
    code, modules, stdout = probe(tmp_path, "--config", "CONFIG", "list", "--json")
    assert code == 0
    assert json.loads(stdout) == []
    assert top(modules - HANDOFF_READS, ENGINE) == set()
    assert {m for m in modules if m.startswith("bridge.handoff.")} <= HANDOFF_READS
    assert "bridge.reader" in modules
    assert {m for m in modules if m in NOT_READ or m.startswith("bridge.xmpp.")} == set()
    code, modules, stdout = probe(tmp_path, "--config", "CONFIG", "search", "budget", "--json")
    assert (code, json.loads(stdout)) == (0, [])
    assert top(modules - HANDOFF_READS, ENGINE) == set()
    assert {m for m in modules if m.startswith("bridge.handoff.")} <= HANDOFF_READS
    assert {m for m in modules if m in NOT_READ or m.startswith("bridge.xmpp.")} == set()


def test_show_no_fetch_and_outbox_list_read_the_store_without_the_engine(tmp_path):
    code, modules, stdout = probe(tmp_path, "--config", "CONFIG", "show", "1", "--no-fetch")
    assert code == 1  # no conversation 1, said as the engine says it
    assert top(modules, ENGINE) == set()
    assert "asyncio" not in modules
    for argv in (("outbox", "--json"), ("outbox", "list", "--all", "--log", "--json")):
        code, modules, stdout = probe(tmp_path, "--config", "CONFIG", *argv)
        assert (code, json.loads(stdout)) == (0, []), argv
        assert top(modules, ENGINE) == set()
        assert "asyncio" not in modules


def test_a_read_only_command_that_would_wait_is_refused():
    """reads.at_once runs a coroutine that never waits; one that does is a
    mistake of cli.read_only, said as such (and closed, never left half run)."""
    import asyncio

    from bridge.headless.reads import at_once

    async def reads() -> int:
        return 7

    async def waits() -> int:
        await asyncio.sleep(0)
        return 7

    assert at_once(reads()) == 7
    with pytest.raises(RuntimeError, match="needs the engine"):
        at_once(waits())


def test_list_match_and_show_get_the_engine(tmp_path):
    """`list --match` runs the engine's search over conversations; `show` may fetch
    a body: both are served by the Headless host (still without going online);
    so is `outbox retry`, which sends."""
    code, modules, stdout = probe(tmp_path, "--config", "CONFIG", "list", "--match",
                                  "from:bob", "--json")
    assert (code, json.loads(stdout)) == (0, [])
    assert {"bridge.engine", "bridge.headless.host"} <= modules
    assert top(modules, {"slixmpp", "imapclient", "textual"}) == set()
    code, modules, _ = probe(tmp_path, "--config", "CONFIG", "show", "1", "--json")
    assert code == 1  # no conversation 1
    assert "bridge.engine" in modules
    code, modules, _ = probe(tmp_path, "--config", "CONFIG", "outbox", "cancel", "3")
    assert code == 1  # nothing in the outbox has the number 3
    assert "bridge.engine" in modules


# What a command that only reads rows defines or loads for nothing: the blob
# store's hashing and temporary files (bridge/store/blobs.py, written blobs only),
# the standard library's `dataclasses` with `inspect` (the records are plain
# classes: bridge/record.py).
NOT_READING_ROWS = {"hashlib", "tempfile", "random"}
NO_DATACLASSES = {"dataclasses", "inspect", "ast", "dis", "tokenize"}


def test_list_and_search_hash_and_write_nothing(tmp_path):
    for argv in (("list",), ("search", "budget")):
        code, modules, _ = probe(tmp_path, "--config", "CONFIG", *argv)
        assert code == 0, argv
        assert modules & NOT_READING_ROWS == set(), argv


def test_list_and_search_define_no_dataclass(tmp_path):
    for argv in (("list",), ("search", "budget")):
        code, modules, _ = probe(tmp_path, "--config", "CONFIG", *argv)
        assert code == 0, argv
        assert modules & NO_DATACLASSES == set(), argv


def test_list_of_conversations_with_a_chat_account_reads_no_state_dataclass(tmp_path):
    """With conversations in the store and an account that chats, `list` asks
    which of them are rooms: from the chat client's state file, read as JSON,
    not through the client's state class (dataclasses, tempfile: ~25 ms of a
    60 ms command). Here no state file yet, as for an account that never joined
    a room; the row is listed as it is."""
    from bridge.store import Store
    from tests.test_store import email

    folder = tmp_path / "data" / "tuiclient"  # as probe() sets XDG_DATA_HOME
    folder.mkdir(parents=True, mode=0o700)
    store = Store.open(folder / "store.db")
    store.upsert_account("alice")
    store.upsert_folder("alice", "INBOX", role="inbox")
    store.insert_messages([email(1, account="alice", subject="Quarterly numbers")])
    store.close()
    code, modules, stdout = probe(tmp_path, "--config", "CONFIG", "list")
    assert code == 0
    assert "Quarterly numbers" in stdout
    assert modules & (NO_DATACLASSES | NOT_READING_ROWS) == set()
