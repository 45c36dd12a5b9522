"""A chat line typed but not sent belongs to its conversation and is never lost
(a project rule, issue #19): opening another conversation puts it aside and
brings it back on return (as Profanity and Gajim do), Enter there sends only what
was typed there, and the line survives quitting (and a crash: it is on disk, 0600,
a moment after the keystrokes); Esc in a new message by IM keeps it for later
there, or with the drafts. alice uses the app against the real Prosody; bob
and dave use plain slixmpp.
"""

from __future__ import annotations

import json
import stat

import pytest
from textual.widgets import Button, Input, TextArea

from bridge.paths import data_dir
from tests.others import person
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import line
from tuiclient.drafts import unsent
from tuiclient.screens.compose import NewMessageScreen
from tuiclient.screens.drafts import DraftsScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import UnsentPrompt
from tuiclient.screens.prompts import DeferScreen
from tuiclient.widgets.conversation import ChatReply

pytestmark = pytest.mark.servers


async def open_chat(pilot, app, snippet: str) -> None:
    await go_to_row(pilot, app, lambda t: t.snippet == snippet)
    await pilot.press("enter")
    await pilot.pause()


async def test_an_unsent_chat_line_stays_with_its_conversation(world, tmp_path, running):
    _, xmpp = running
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    world.befriend(alice, dave)
    bob_x = await xmpp(plain(world, bob))
    dave_x = await xmpp(plain(world, dave))
    app = alice_app(world, tmp_path, alice, bob, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        bob_x.send_xml(line(alice.jid, "From bob")[1])
        dave_x.send_xml(line(alice.jid, "From dave")[1])
        assert await pilot_until(pilot, lambda: {"From bob", "From dave"} <= {
            t.snippet for t in listing(app).rows}, 30)
        chat_input = app.screen.query_one(ChatReply)

        await open_chat(pilot, app, "From bob")
        await pilot.press("i")
        assert chat_input.has_focus
        await pilot.press(*"half for bob")
        # Another conversation: its own (empty) line; Enter sends only what is typed there.
        await open_chat(pilot, app, "From dave")
        assert chat_input.value == ""
        await pilot.press("i")
        await pilot.press(*"for dave", "enter")
        assert await pilot_until(pilot, lambda: "for dave" in dave_x.bodies())
        # Back to bob: his line is there again, the cursor at its end.
        await open_chat(pilot, app, "From bob")
        assert chat_input.value == "half for bob"
        assert chat_input.cursor_position == len("half for bob")
        assert "half for bob" not in bob_x.bodies() + dave_x.bodies()
        # On disk a moment after the keystrokes (a crash keeps it), private.
        path = data_dir() / "chat-lines.json"
        assert await pilot_until(pilot, lambda: path.exists() and "half for bob" in
                                 path.read_text())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [x[2] for x in json.loads(path.read_text())] == ["half for bob"]
        await pilot.press("i", *" and more")

    # Quit and start again: the line comes back with bob's conversation only.
    app = alice_app(world, tmp_path, alice, bob, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: {"From bob", "for dave"} <= {
            t.snippet for t in listing(app).rows}, 30)
        chat_input = app.screen.query_one(ChatReply)
        await open_chat(pilot, app, "for dave")
        assert chat_input.value == ""
        await open_chat(pilot, app, "From bob")
        assert chat_input.value == "half for bob and more"
        # Sent: nothing is kept for it any more.
        await pilot.press("i", "enter")
        assert await pilot_until(pilot, lambda: "half for bob and more" in bob_x.bodies())
        assert await pilot_until(pilot, lambda: json.loads(
            (data_dir() / "chat-lines.json").read_text()) == [])


async def new_im(pilot, app, to: str, *typed: str) -> NewMessageScreen:
    """`c`, by IM (ctrl+t), to `to`, the text typed; Esc: the unsent prompt."""
    await pilot.press("c")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
    screen = app.screen
    assert await pilot_until(pilot, lambda: screen.focused is screen.query_one("#to"))
    await pilot.press("ctrl+t", *to)
    screen.query_one("#body", TextArea).focus()
    await pilot.press(*typed)
    await pilot.press("escape")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
    assert "Keep for later" in str(app.screen.query_one("#save", Button).label)
    return screen


async def test_esc_in_an_im_compose_keeps_the_text_for_later(world, tmp_path, running):
    """Esc in a new message by IM offers to keep it (not only to throw it away):
    one line to someone we chat with becomes the unsent line of that chat, and
    the app says so; anything else (two lines, nobody to chat with yet) is kept
    with the drafts P lists, and resumes as a chat message that then goes."""
    _, xmpp = running
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    world.befriend(alice, dave)
    bob_x = await xmpp(plain(world, bob))
    dave_x = await xmpp(plain(world, dave))
    app = alice_app(world, tmp_path, alice, bob, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        bob_x.send_xml(line(alice.jid, "Lunch?")[1])
        assert await pilot_until(pilot, lambda: "Lunch?" in {
            t.snippet for t in listing(app).rows}, 30)
        await new_im(pilot, app, bob.jid, *"see you at noon")
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert any(f"unsent line in the chat with {bob.jid}" in n for n in notes(app)), \
            notes(app)
        await open_chat(pilot, app, "Lunch?")
        assert app.screen.query_one(ChatReply).value == "see you at noon"
        assert "see you at noon" not in bob_x.bodies()

        # Two lines to dave, whom alice never wrote to: with the drafts.
        await pilot.press("escape")
        await new_im(pilot, app, dave.jid, *"first", "enter", *"second")
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert any("P lists it" in n for n in notes(app)), notes(app)
        assert [(u.to, u.text, u.via) for u in unsent()] == [
            ([dave.jid], "first\nsecond", "im")]
        await pilot.press("P")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen), 20)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        assert not screen.by_email()
        assert screen.query_one("#to", Input).value == dave.jid
        assert screen.query_one("#body", TextArea).text == "first\nsecond"
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: "first\nsecond" in dave_x.bodies(), 30)
    assert unsent() == []


async def test_a_new_im_that_does_not_go_keeps_its_text(world, tmp_path):
    """The compose screen is closed when the send asks its questions: a new IM
    message to someone away, the question answered with Esc, went nowhere and
    its text with it. Now it is kept with the drafts P lists, and the toast
    says so; P resumes it as a chat message."""
    alice, erin = person(world, "alice"), person(world, "erin")
    world.befriend(alice, erin)  # erin is offline: away for the send
    app = alice_app(world, tmp_path, alice, erin)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        assert await pilot_until(pilot, lambda: screen.focused is screen.query_one("#to"))
        await pilot.press("ctrl+t", *erin.jid)
        screen.query_one("#body", TextArea).focus()
        await pilot.press(*"the keys are under the mat")
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen), 30)
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: any(
            n.startswith("Message not sent.") and "P offers it again" in n
            for n in notes(app)), 20), notes(app)
        assert [(u.to, u.text, u.via) for u in unsent()] == [
            ([erin.jid], "the keys are under the mat", "im")]
        await pilot.press("P")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen), 20)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        assert not app.screen.by_email()
        assert app.screen.query_one("#body", TextArea).text == "the keys are under the mat"
