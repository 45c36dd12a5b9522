"""Quitting with messages still in the outbox, against the real servers: a chat
line deferred for bob (offline, Prosody says so) keeps waiting, and q, `:quit` and
ctrl+q say so before the app closes (aerc and mutt warn of postponed work): how
many and to whom, and that they go on the next run; Esc stays, o opens the outbox,
q or ctrl+q again quits. With an empty outbox q quits at once
(tests/test_app_keys_back.py)."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from bridge.model import Availability
from tests.others import person
from tests.screen import drawn_text
from tests.test_app import alice_app, pilot_until
from tuiclient.screens.main import MainScreen
from tuiclient.screens.outbox import OutboxScreen

pytestmark = pytest.mark.servers


async def test_quitting_with_a_deferred_line_says_it_waits(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 36)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        assert await pilot_until(pilot, lambda: app.engine.availability(
            alice.name, bob.jid).availability is Availability.OFFLINE, 30)
        result = await app.engine.send_message(alice.name, [bob.jid], "Monday at nine.",
                                               via="im", when_away="defer")
        assert result.deferred, result

        async def asked(*keys: str) -> str:
            await pilot.press(*keys)
            assert await pilot_until(pilot, lambda: app.screen is not main)
            await pilot.pause()
            return str(app.screen.query_one("#quit-waiting", Static).render())

        said = await asked("q")
        assert app.return_code is None
        assert said.startswith(f"1 message is still waiting in the outbox (to "
                               f"{bob.display_name}): it goes next time the app"), said
        shown = drawn_text(app.export_screenshot())
        assert "Quit [q]" in shown and "Stay [esc]" in shown and "[o]" in shown, shown
        await pilot.press("escape")  # stay
        assert await pilot_until(pilot, lambda: app.screen is main)
        assert app.return_code is None

        # :quit asks the same; o opens the outbox, where the line waits.
        shown = await asked("colon", *"quit", "enter")
        assert "still waiting in the outbox" in shown, shown
        await pilot.press("o")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        assert await pilot_until(pilot, lambda: "Monday at nine." in drawn_text(
            app.export_screenshot()))
        assert app.return_code is None
        outbox = app.screen
        await pilot.press("ctrl+q", "o")  # asked on the outbox: o leaves it there
        assert await pilot_until(pilot, lambda: app.screen is outbox)
        assert len([s for s in app.screen_stack if isinstance(s, OutboxScreen)]) == 1
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: app.screen is main)

        # ctrl+q asks too; ctrl+q again quits.
        shown = await asked("ctrl+q")
        assert "still waiting in the outbox" in shown, shown
        await pilot.press("ctrl+q")
        assert await pilot_until(pilot, lambda: app.return_code is not None)
