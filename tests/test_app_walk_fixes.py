"""What a new user's walk through the app found (session 7), each against the
real servers: one toast for a chat message given up and sent by email; an
encrypted email read once opened; a draft marked as one in the timeline, and
Enter on it resumes it; an IM reply from the list to the person the row shows;
the main screen and the help readable at 80x24.
"""

from __future__ import annotations

import pytest

from tests.others import person, plain, wait_inbox
from tests.test_app import alice_app, notes, pilot_until
from tuiclient.screens.outbox import OutboxScreen

pytestmark = pytest.mark.servers

AWAY = "In meetings until 3pm"


async def test_a_deferred_chat_sent_by_email_is_told_once(world, tmp_path, running):
    """e in the outbox: carol's deferred chat message goes by email, and one toast
    says so, naming where it went (not one from the outbox and one from the
    engine's event, nor a third for the email's SMTP answer)."""
    _, xmpp = running
    alice, carol = person(world, "alice"), person(world, "carol")
    world.befriend(alice, carol)
    carol_x = await xmpp(plain(world, carol))
    carol_x.set_presence("away", AWAY)
    app = alice_app(world, tmp_path, alice, carol)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.xmpp.get(alice.name)
                                 is not None and app.engine.xmpp[alice.name].connected)
        result = await app.engine.send_message(alice.name, [carol.jid], "Lunch on Friday?",
                                               via="im", when_away="defer")
        assert result.deferred, result
        await pilot.press("O")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        assert await pilot_until(pilot, lambda: app.screen.items)
        before = len(notes(app))
        await pilot.press("e")
        assert await wait_inbox(world, carol, lambda m: "Lunch on Friday?" in str(
            m.get_body(("plain",)).get_content()))
        await pilot.pause(1.5)  # the events of the send (fallback, SMTP) all told
        told = notes(app)[before:]
        assert len(told) == 1, told
        assert told[0].startswith("Sent by email instead") and carol.email in told[0], told
