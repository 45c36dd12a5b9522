"""What a command line loads before it runs: `--help` (and any usage error) builds
the parser without asyncio, the store, the identity layer or the engine; the
garbage collector (held off while the app starts) is on after every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PARSER_ONLY = """
import json, sys
from tuiclient.__main__ import build_parser
build_parser().format_help()
print(json.dumps(sorted(m for m in sys.modules if m in {
    "asyncio", "bridge.store", "bridge.identity", "bridge.engine", "bridge.headless.host",
    "bridge.headless.verbs", "slixmpp", "imapclient", "textual"})))
"""

GC_AFTER = """
import gc, json, sys
from tuiclient.__main__ import main
codes = []
for argv in (["--config", sys.argv[1], "list"], ["--config", sys.argv[1] + ".nope", "list"],
             ["--config", sys.argv[1], "config", "check"]):
    try:
        codes.append(main(argv))
    except SystemExit as exc:
        codes.append(exc.code)
    codes.append(gc.isenabled())
print(json.dumps(codes))
"""

CONFIG = """
[[accounts]]
name = "alice"
email = "alice@example.test"
password_command = "echo secret"

[accounts.imap]
host = "127.0.0.1"
port = 1
tls = "plain"
"""


def run(code: str, tmp_path: Path, *argv: str) -> list:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_parser_loads_no_runtime(tmp_path):
    assert run(PARSER_ONLY, tmp_path) == []


def test_garbage_collection_is_on_after_every_command(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    got = run(GC_AFTER, tmp_path, str(config))
    assert got == [0, True, 3, True, 0, True]
