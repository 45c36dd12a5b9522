"""The app, driven with Textual's Pilot against the real servers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge.config import load_config
from tests.conftest import password_command
from tests.harness.servers import World
from tuiclient.app import TuiClientApp
from tuiclient.widgets.server_status import ServerStatus, state_of

pytestmark = pytest.mark.servers


async def wait_until(predicate, timeout: float = 20.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


def write_config(world: World, tmp: Path, name: str, pwcmd: str | None = None) -> Path:
    account = world.add_account(name)
    path = tmp / "config.toml"
    path.write_text(world.client_config(account, pwcmd or password_command(tmp, account)))
    return path


async def test_app_connects_to_every_server_of_the_account(world, tmp_path):
    config = load_config(write_config(world, tmp_path, "uma"))
    app = TuiClientApp(config)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(ServerStatus)
        done = await wait_until(lambda: all(
            not state_of(table, "uma", s).startswith("connecting")
            for s in ("imap", "smtp", "xmpp")))
        assert done, [state_of(table, "uma", s) for s in ("imap", "smtp", "xmpp")]
        assert "INBOX 0 messages" in state_of(table, "uma", "imap")
        assert state_of(table, "uma", "smtp") == "login ok"
        assert state_of(table, "uma", "xmpp").startswith("online as uma@example.test")
        await pilot.press("q")
    assert app.return_code == 0


async def test_app_shows_a_server_that_refuses_the_login(world, tmp_path):
    path = write_config(world, tmp_path, "vic", pwcmd="echo wrong-password")
    app = TuiClientApp(load_config(path))
    async with app.run_test(size=(120, 30)):
        table = app.screen.query_one(ServerStatus)
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "imap"))
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "smtp"))
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "xmpp"))
