"""Keys that leave something go back to where the user was, as mutt and aerc do:
Cancel in the reply options (o) gives the focus back to the list, where the next
keys (j, d) are the list's again, not words in a chat line that Enter would
send; and a note to self is named so in the reply line, not "this chat (to the
sender)". Against the real servers (the mail comes by SMTP into Dovecot)."""

from __future__ import annotations

import pytest
from textual.widgets import Label

from tests.others import person, send_email
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tuiclient.screens.main import MainScreen
from tuiclient.screens.prompts import ReplyOptionsScreen
from tuiclient.widgets.conversation import ChatReply

pytestmark = pytest.mark.servers


async def test_cancelled_reply_options_give_the_focus_back(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    send_email(world, bob, [alice.email], [], "Lunch", "Lunch at noon?")
    send_email(world, bob, [alice.email], [], "Dinner", "Dinner at eight?")
    send_email(world, alice, [alice.email], [], "Milk", "buy milk")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 36)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        assert await pilot_until(pilot, lambda: len(listing(app).rows) == 3, 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Dinner")
        at = listing(app).cursor
        await pilot.press("o")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ReplyOptionsScreen))
        assert "Reply by IM: options" in str(app.screen.query_one(".dialog-title",
                                                                  Label).render())
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: app.screen is main)
        await pilot.pause()
        chat_input = main.query_one(ChatReply)
        assert listing(app).has_focus and not chat_input.has_focus
        assert main.draft is None  # nothing is being written
        assert str(main.query_one("#reply-target", Label).render()) == ""
        await pilot.press("k" if at else "j")  # the list's key again
        assert listing(app).cursor != at and chat_input.value == ""

        # A note to self: named so, with nobody to answer "to the sender".
        await go_to_row(pilot, app, lambda t: t.subject == "Milk")
        await pilot.press("o")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ReplyOptionsScreen))
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: app.screen is main)
        target = str(main.query_one("#reply-target", Label).render())
        assert await pilot_until(pilot, lambda: chat_input.has_focus)
        assert "yourself (a note to self)" in target, target
        assert "this chat" not in target and "to the sender" not in target
