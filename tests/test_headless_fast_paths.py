"""What a fast command line leaves unloaded (issue 22, "instant commands"):

- `tuiclient --help` (and a usage error) builds the parser without the config's
  loader (its schema, secrets and the TLS library), SQLite, asyncio or the engine:
  those are imported where a command runs (bridge/headless/cli.py);
- loading a config imports no TLS library unless it names a CA file
  (bridge/config/load.py `check_ca_files`);
- `list` and `search` are answered from the store by bridge.reader.Reader (the
  engine's reads), without importing the engine or what it wires
  (bridge/headless/reads.py); `list --match` and `show` still get the engine.

Each runs in a fresh interpreter and reads `sys.modules` once it is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_loading_a_config_imports_no_tls_library(tmp_path):
    _, modules, _ = probe(tmp_path, "--import-config")
    assert "bridge.config" in modules
    assert "ssl" not in modules and "_ssl" not in modules


# What the engine wires and a command that only reads the store never needs.
ENGINE = {"bridge.engine", "bridge.handoff", "bridge.outbox", "bridge.health",
          "bridge.delivery", "bridge.headless.host", "bridge.headless.verbs",
          "bridge.headless.serve", "slixmpp", "imapclient", "textual"}


def test_list_and_search_read_the_store_without_the_engine(tmp_path):
    code, modules, stdout = probe(tmp_path, "--config", "CONFIG", "list", "--json")
    assert code == 0
    assert json.loads(stdout) == []
    assert top(modules, ENGINE) == set()
    assert "bridge.reader" in modules
    code, modules, stdout = probe(tmp_path, "--config", "CONFIG", "search", "budget", "--json")
    assert (code, json.loads(stdout)) == (0, [])
    assert top(modules, ENGINE) == set()


def test_list_match_and_show_get_the_engine(tmp_path):
    """`list --match` runs the engine's search over conversations; `show` may fetch
    a body: both are served by the Headless host (still without going online)."""
    code, modules, stdout = probe(tmp_path, "--config", "CONFIG", "list", "--match",
                                  "from:bob", "--json")
    assert (code, json.loads(stdout)) == (0, [])
    assert {"bridge.engine", "bridge.headless.host"} <= modules
    assert top(modules, {"slixmpp", "imapclient", "textual"}) == set()
    code, modules, _ = probe(tmp_path, "--config", "CONFIG", "show", "1", "--json")
    assert code == 1  # no conversation 1
    assert "bridge.engine" in modules
