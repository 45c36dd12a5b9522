"""Where the list's cursor is while conversations come in above it, as mutt and
aerc keep it: on the newest until the user puts it somewhere, then on the
conversation it was put on. (At the start the chat catch-up came after the
mail's first page, and the cursor sat on the third row, not the newest.)
Against the real servers; bob writes with plain slixmpp."""

from __future__ import annotations

import pytest

from tests.others import person, send_email
from tests.test_app import alice_app, listing, pilot_until
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import line

pytestmark = pytest.mark.servers


async def test_the_cursor_stays_on_the_newest_until_the_user_moves_it(world, tmp_path,
                                                                      running):
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    send_email(world, carol, [alice.email], [], "Minutes", "Attached.")
    send_email(world, carol, [alice.email], [], "Agenda", "For Monday.")
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(120, 30)) as pilot:
        rows = listing(app)
        assert await pilot_until(pilot, lambda: {"Minutes", "Agenda"} <= {
            t.subject for t in rows.rows}, 30)
        assert rows.cursor == 0
        bob_x.send_xml(line(alice.jid, "Are you in today?")[1])
        assert await pilot_until(pilot, lambda: rows.rows and
                                 rows.rows[0].snippet == "Are you in today?", 30)
        await pilot.pause()
        assert rows.cursor == 0 and rows.current is not None
        assert rows.current.snippet == "Are you in today?"

        # Put on a conversation, the cursor stays with it as another comes in.
        await pilot.press("j")
        chosen = rows.current
        assert chosen is not None and chosen.snippet != "Are you in today?"
        send_email(world, carol, [alice.email], [], "Parking", "Level 2.")
        assert await pilot_until(pilot, lambda: rows.rows and
                                 rows.rows[0].subject == "Parking", 30)
        await pilot.pause()
        assert rows.current is not None and rows.current.thread_id == chosen.thread_id
