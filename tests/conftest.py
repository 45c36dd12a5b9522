"""Shared fixtures: the real servers start once per test session."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.servers import Account, World


@pytest.fixture(autouse=True)
def private_xdg(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config and data folders, never the user's."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    return home


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    """Dovecot, the SMTP server and Prosody on loopback, for the whole session."""
    with World(debug=bool(os.environ.get("TUICLIENT_DEBUG_SERVERS"))) as w:
        sys.stderr.write(f"\n[harness] servers up in {w.startup_seconds:.2f}s at {w.base}\n")
        yield w


def password_command(tmp: Path, account: Account) -> str:
    """A password_command that prints the account's password from an owner-only file."""
    secret = tmp / f"{account.name}.secret"
    secret.write_text(account.password + "\n")
    secret.chmod(0o600)
    return f"cat {shlex.quote(str(secret))}"


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets")
