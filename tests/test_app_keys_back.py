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


async def test_q_reading_goes_back_to_the_list_and_quits_from_there(world, tmp_path):
    """q in an open conversation is mutt's pager q (aerc's tab close): back to the
    list, the footer and help say so; q on the list quits, as before."""
    from tests.screen import drawn_text
    from tuiclient.screens.help import HelpScreen, help_text
    from tuiclient.widgets.timeline import Timeline

    alice, bob = person(world, "alice"), person(world, "bob")
    send_email(world, bob, [alice.email], [], "Lunch", "Lunch at noon?")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 36)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        assert await pilot_until(pilot, lambda: len(listing(app).rows) == 1, 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Lunch")
        await pilot.press("enter")
        timeline = main.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.has_focus)
        await pilot.pause()
        assert "q back" in drawn_text(app.export_screenshot())
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code is None and app.screen is main
        assert listing(app).has_focus
        assert "q quit" in drawn_text(app.export_screenshot())
        await pilot.press("question_mark")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        said = help_text({}, main, 120).plain
        assert "quit; reading a conversation: back to the list" in said
        assert "ctrl+q" in said
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: app.screen is main)
        await pilot.press("q")
        assert await pilot_until(pilot, lambda: app.return_code is not None)
