"""The command line: `tuiclient config check`, and the rule that it needs no Textual."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness.servers import REPO_ROOT

GOOD = """\
[[accounts]]
name = "alice"
email = "alice@example.test"
jid = "alice@example.test"
password_command = "cat /nonexistent/alice-secret"

[accounts.imap]
host = "imap.example.test"

[accounts.xmpp]
host = "xmpp.example.test"

[[contacts]]
name = "Bob"
emails = ["bob@example.test"]
jids = ["bob@chat.example.test"]
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuiclient", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, env=os.environ.copy())


def test_config_check_prints_what_it_found(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    result = run("--config", str(path), "config", "check")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert str(path) in out
    assert "alice" in out and "imap.example.test:993" in out
    assert "xmpp.example.test:5222" in out
    assert "bob@chat.example.test" in out
    # Where the password comes from is named; the command is not run to check.
    assert "password_command: cat /nonexistent/alice-secret" in out


def test_config_check_uses_the_xdg_config_path(tmp_path: Path, monkeypatch):
    xdg = Path(os.environ["XDG_CONFIG_HOME"]) / "tuiclient"
    xdg.mkdir(parents=True)
    (xdg / "config.toml").write_text(GOOD)
    result = run("config", "check")
    assert result.returncode == 0, result.stderr
    assert str(xdg / "config.toml") in result.stdout


def test_a_password_in_the_config_is_refused_with_file_line_and_key(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(GOOD.replace('host = "imap.example.test"',
                                 'host = "imap.example.test"\npassword = "hunter2"'))
    result = run("--config", str(path), "config", "check")
    assert result.returncode == 3
    line = GOOD.splitlines().index('host = "imap.example.test"') + 2
    assert f"{path}:{line}: accounts[0].imap.password:" in result.stderr
    assert "keyring" in result.stderr and "password_command" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_missing_config_is_a_clear_error(tmp_path: Path):
    result = run("--config", str(tmp_path / "nope.toml"), "config", "check")
    assert result.returncode == 3
    assert "nope.toml" in result.stderr and "does not exist" in result.stderr


def test_bridge_and_commands_never_import_textual():
    code = (
        "import importlib, pkgutil, sys, bridge\n"
        "for m in pkgutil.walk_packages(bridge.__path__, 'bridge.'):\n"
        "    importlib.import_module(m.name)\n"
        "from tuiclient.__main__ import build_parser\n"
        "assert 'textual' not in sys.modules, sorted(k for k in sys.modules if 'textual' in k)\n"
        "print('clean')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"
