"""Tab in the compose screens goes where the words typed after it are meant for:
in a forward from To to the note (its options under it), with To labelled once
filled; from the text of a new message by IM to the buttons, never into the path
of a file to attach (what is typed on a button goes on in the text). Against the
real servers: the forward that arrives carries the note, inline."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Button, Checkbox, Input, TextArea

from tests.others import person, send_email, wait_inbox
from tests.screen import drawn_text
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tuiclient.screens.compose import ForwardScreen, NewMessageScreen
from tuiclient.screens.main import MainScreen

pytestmark = pytest.mark.servers


async def test_forward_tab_from_to_reaches_the_note(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    send_email(world, bob, [alice.email], [], "Agenda", "The agenda.")
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(120, 36)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert await pilot_until(pilot, lambda: any(t.subject == "Agenda"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Agenda")
        await pilot.press("f")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ForwardScreen), 20)
        screen = app.screen
        assert await pilot_until(pilot, lambda: screen.focused is screen.query_one("#to"))
        await pilot.press(*carol.email, "tab", *"see the agenda below")
        body = screen.query_one("#body", TextArea)
        assert body.text == "see the agenda below", (body.text, screen.focused)
        assert not screen.query_one("#as-attachment", Checkbox).value
        # The filled To says what it is.
        await pilot.pause()
        drawn = drawn_text(app.export_screenshot())
        assert re.search(r"To:\s*" + re.escape(carol.email), drawn), drawn
        # The options come after the note.
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#as-attachment")
        await pilot.press("ctrl+s")
        (got,) = await wait_inbox(world, carol, lambda m: "Agenda" in str(m["Subject"]), 30)
        text = got.get_body(("plain",)).get_content()
        assert "see the agenda below" in text and "The agenda." in text
        assert got.get_content_type() != "message/rfc822"
        assert not [p for p in got.iter_attachments()
                    if p.get_content_type() == "message/rfc822"]


async def test_im_message_tab_from_the_text_reaches_the_buttons(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 32)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        assert await pilot_until(pilot, lambda: screen.focused is screen.query_one("#to"))
        await pilot.press("ctrl+t", *bob.jid, "tab", *"hello", "tab")
        assert screen.focused is screen.query_one("#send", Button)
        # Words typed on the buttons go on in the text, never in the path field.
        await pilot.press(*" and more")
        body, path = screen.query_one("#body", TextArea), screen.query_one("#attach-path",
                                                                            Input)
        assert body.text == "hello and more"
        assert path.value == ""
        assert screen.focused is body
        assert isinstance(app.screen, NewMessageScreen)  # nothing was sent
        # The path is after the buttons: Tab, then shift+Tab back to the text.
        await pilot.press("tab", "tab", "tab", "tab")
        assert screen.focused is path
        await pilot.press("shift+tab", "shift+tab", "shift+tab", "shift+tab")
        assert screen.focused is body
