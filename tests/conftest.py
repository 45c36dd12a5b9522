"""Shared fixtures: the real servers start once per test session."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bridge.config import get_password, load_config
from bridge.events import EventBus
from bridge.mail.connect import open_imap
from bridge.mail.sync import MailSync
from bridge.store import Store
from tests.harness.servers import Account, World

if TYPE_CHECKING:
    from bridge.engine import Engine
    from tests.harness.plain_xmpp import PlainXmpp


def compile_once() -> None:
    """Let this process and every Python one the tests start (a `tuiclient` command,
    a daemon, the harness's SMTP server: hundreds in a run) keep the bytecode they
    compile, under one folder of the system's temp, never beside the sources.

    An environment with PYTHONDONTWRITEBYTECODE would otherwise compile the whole
    code of a command each time one starts, a quarter of its CPU time."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return
    prefix = Path(tempfile.gettempdir()) / f"tuiclient-tests-pycache-{os.getuid()}"
    prefix.mkdir(mode=0o700, exist_ok=True)
    if prefix.stat().st_uid != os.getuid() or prefix.stat().st_mode & 0o077:
        return  # someone else's folder: bytecode from there would run as ours
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)
    sys.pycache_prefix = str(prefix)
    sys.dont_write_bytecode = False


compile_once()


@pytest.fixture(autouse=True)
def private_xdg(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config, data, cache, state and download folders, never the
    user's (avatars go to the cache, saved attachments to downloads)."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(home / "downloads"))
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


class Person:
    """A harness account with its own store and IMAP sync, for mail tests."""

    def __init__(self, world: World, tmp: Path, name: str) -> None:
        self.account = world.add_account(f"{name}-{uuid.uuid4().hex[:6]}")
        path = tmp / f"{self.account.name}.toml"
        path.write_text(world.client_config(self.account, password_command(tmp, self.account)))
        self.config = load_config(path).account(self.account.name)
        self.store = Store.open(tmp / f"{self.account.name}.db")
        self.events: list = []
        bus = EventBus()
        bus.subscribe(self.events.append)
        self.sync = MailSync(self.config, lambda: get_password(self.config, "imap"),
                             self.store, bus)

    def imap(self):
        return open_imap(self.config.imap, self.account.email, self.account.password)

    def close(self) -> None:
        self.sync.close()
        self.store.close()


@pytest.fixture
def people(world, tmp_path):
    made: list[Person] = []

    def make(name: str) -> Person:
        p = Person(world, tmp_path, name)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


@pytest.fixture
async def running():
    """Start engines and plain XMPP clients; all are stopped after the test."""
    engines: list[Engine] = []
    clients: list[PlainXmpp] = []

    async def start(engine: Engine) -> Engine:
        engines.append(engine)
        await engine.start()
        return engine

    async def xmpp(client: PlainXmpp) -> PlainXmpp:
        clients.append(client)
        return await client.start()
    yield start, xmpp
    for c in clients:
        await c.stop()
    for e in engines:
        await e.stop()
        e.close()
