"""Our own presence in the status bar, against the real servers (issue 21):
`:status away "lunch"` shows "◑ away “lunch”" for the account (by shape and
word), a contact sees it, and it holds across a reconnection (the server
restarted): offline while the stream is down, away with its message after, and
the new session tells contacts so.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import Static

from bridge.engine import Engine
from bridge.model import Availability, ContactPresence
from tests.others import person, plain, until
from tests.test_app import alice_app, pilot_until
from tests.test_app_snapshots import WIDE, make_app
from tuiclient.app import TuiClientApp
from tuiclient.screens.main import MainScreen

pytestmark = pytest.mark.servers


def status_bar(app: TuiClientApp) -> str:
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return str(main.query_one("#status", Static).render())


def sees_away(presences: list, jid: str) -> bool:
    """Whether a plain client got `jid`'s presence as away, "lunch"."""
    for p in presences:
        if (p.get("from") or "").split("/")[0] != jid:
            continue
        show = next((c.text for c in p if c.tag.endswith("}show")), "")
        status = next((c.text for c in p if c.tag.endswith("}status")), "")
        if show == "away" and status == "lunch":
            return True
    return False


async def test_own_presence_is_in_the_status_bar_and_survives_a_reconnect(
        world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(160, 40)) as pilot:
        assert await pilot_until(pilot, lambda: f"{alice.name}: ● online" in status_bar(app)), \
            status_bar(app)

        await pilot.press("colon", *'status away "lunch"', "enter")
        away = f"{alice.name}: ◑ away “lunch”"
        assert await pilot_until(pilot, lambda: away in status_bar(app)), status_bar(app)
        bob_x = await xmpp(plain(world, bob))
        await until(lambda: sees_away(bob_x.presences, alice.jid), 20, "bob sees alice away")

        restart = asyncio.ensure_future(asyncio.to_thread(world.restart_prosody))
        assert await pilot_until(pilot, lambda: f"{alice.name}: ○ offline" in status_bar(app),
                                 30), status_bar(app)
        await restart
        assert await pilot_until(pilot, lambda: away in status_bar(app), 60), status_bar(app)
        # The new session told it again: a client that comes now sees alice away.
        bob_again = await xmpp(plain(world, bob))
        await until(lambda: sees_away(bob_again.presences, alice.jid), 20,
                    "bob sees alice away after her reconnection")


def test_own_presence_snapshot(snap_compare, tmp_path, monkeypatch):
    """The status bar with our presence set (the engine's answer stood in for, on
    the snapshot tests' fixed store): shape, word and message before the servers."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(Engine, "own_presence", lambda self, account: ContactPresence(
        "alice@example.test", Availability.AWAY, "lunch"))
    assert snap_compare(make_app(tmp_path), terminal_size=WIDE)
