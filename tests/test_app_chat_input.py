"""The chat input as a Profanity or Poezio user types in it, driven with Textual's
Pilot against the real Prosody: its hint tells the truth about where the keys
go (after Alt+N, after `/help`, in a room, away from it), and a line that looks
like a slip (the reply key typed first as the keys came by themselves, a known
command after a stray letter) is asked about before it goes. alice uses the
app; bob and dave are plain slixmpp, their side read as another client would.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from textual import events

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tests.test_app_chat import command, status
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import NS_CORRECT, line, own_room
from tuiclient.screens.help import HelpScreen
from tuiclient.widgets.conversation import ChatReply, Timeline
from tuiclient.widgets.conversation_list import key_of

pytestmark = pytest.mark.servers

REPLY_HINT = "press i to reply by IM"


async def two_chats(world, xmpp):
    """bob, then dave, write to alice: dave's chat is the list's first row."""
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    world.befriend(alice, dave)
    bob_x = await xmpp(plain(world, bob))
    dave_x = await xmpp(plain(world, dave))
    bob_x.send_xml(line(alice.jid, "From bob")[1])
    await asyncio.sleep(1.1)  # a second apart: the list's order is by date
    dave_x.send_xml(line(alice.jid, "From dave")[1])
    return alice, bob, dave, bob_x, dave_x


async def test_the_hint_follows_the_focus_and_a_slip_is_asked_about(world, tmp_path,
                                                                     running):
    _, xmpp = running
    alice, bob, dave, bob_x, dave_x = await two_chats(world, xmpp)
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    app = alice_app(world, tmp_path, alice, bob, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: [t.snippet for t in listing(app).rows][:2]
                                 == ["From dave", "From bob"], 30)
        main = app.screen
        chat_input = main.query_one(ChatReply)
        bob_key = key_of(listing(app).rows[1])
        await go_to_row(pilot, app, lambda t: t.snippet == "From dave")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: main.query_one(Timeline).has_focus)
        assert chat_input.placeholder == REPLY_HINT
        await pilot.press("i")
        assert await pilot_until(pilot, lambda: chat_input.has_focus)
        assert chat_input.placeholder == "your message"
        await pilot.press(*"half for dave")

        # Alt+2: the keys stay in the input, and its hint says so.
        await pilot.press("alt+2")
        assert await pilot_until(pilot, lambda: main.open_key == bob_key)
        assert chat_input.has_focus and chat_input.value == ""
        assert chat_input.placeholder == "your message"
        # The reply key typed first then is a slip: asked about, not sent.
        await pilot.press(*"iBob, can you bring the charts?", "enter")
        assert await pilot_until(pilot, lambda: "not sent" in status(app)), status(app)
        assert chat_input.value == "iBob, can you bring the charts?"
        # Taken away, the line goes as meant.
        await pilot.press("home", "delete", "end", "enter")
        assert await pilot_until(pilot, lambda: "Bob, can you bring the charts?"
                                 in bob_x.bodies(), 20)
        # A known command after a stray letter is never sent as text unasked.
        await pilot.press(*"i/omemo on", "enter")
        await pilot.pause()
        assert "/omemo" in status(app) and "not sent" in status(app), status(app)
        assert chat_input.value == "i/omemo on"
        await pilot.press("home", "delete", "enter")
        assert await pilot_until(pilot, lambda: "OMEMO on" in status(app)), status(app)
        await command(pilot, app, "/omemo off")
        # A line typed on, after the first key, is no slip: it goes at once.
        await pilot.press(*"it is fine", "enter")
        assert await pilot_until(pilot, lambda: "it is fine" in bob_x.bodies(), 20)

        # Out of /help: the keys are back in the input, and the hint says so.
        await command(pilot, app, "/help")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: app.screen is main)
        assert chat_input.has_focus and chat_input.placeholder == "your message"
        await pilot.press(*"iHello there", "enter")
        await pilot.pause()
        assert "not sent" in status(app), status(app)
        await pilot.press("ctrl+u", *"i/join elsewhere", "enter")
        await pilot.pause()
        assert "not sent" in status(app) and "/join" in status(app), status(app)
        await pilot.press("ctrl+u")

        # In a room, away from the input: the hint names the key, not "your message".
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: "in the room" in status(app), 30), status(app)
        assert chat_input.placeholder == "your message"
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not chat_input.has_focus)
        assert chat_input.placeholder == "press i to write to the room"
    sent = bob_x.bodies() + dave_x.bodies()
    assert not [b for b in sent if b.startswith(("iBob", "iHello", "i/")) or "/omemo" in b
                or "/join" in b], sent


async def test_a_multi_line_paste_goes_whole_as_one_message(world, tmp_path, running):
    """Textual's Input keeps a paste's first line only; here every line stays,
    shown with ↵ and counted on the input's frame, and bob's client gets them
    as one message of that many lines."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    bob_x.send_xml(line(alice.jid, "Send me the list?")[1])
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Send me the list?" for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Send me the list?")
        await pilot.press("enter", "i", *"Here: ")
        chat_input = app.screen.query_one(ChatReply)
        assert await pilot_until(pilot, lambda: chat_input.has_focus)
        app.post_message(events.Paste("eggs\r\nflour\n\nsugar, 200 g\n"))
        assert await pilot_until(pilot, lambda: "sugar" in chat_input.value)
        assert chat_input.value == "Here: eggs↵flour↵↵sugar, 200 g"
        assert chat_input.cursor_position == len(chat_input.value)
        assert "4 lines" in str(chat_input.border_subtitle)
        await pilot.press(*" (thanks)", "enter")
        whole = "Here: eggs\nflour\n\nsugar, 200 g (thanks)"
        assert await pilot_until(pilot, lambda: whole in bob_x.bodies(), 20), bob_x.bodies()
        assert chat_input.value == "" and not chat_input.border_subtitle


async def test_a_refused_command_comes_back_with_the_cursor_at_its_end(world, tmp_path,
                                                                       running):
    """The room refuses alice's /topic (only moderators set it there): the line
    comes back to fix, and what she types goes on at its end, as ctrl+u clears it."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob", **{"muc#roomconfig_changesubject": "0"})
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        chat_input = app.screen.query_one(ChatReply)
        assert await pilot_until(pilot, lambda: app.engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: "in the room" in status(app), 30), status(app)
        await command(pilot, app, "/topic changed again")
        assert await pilot_until(pilot, lambda: "/topic:" in status(app), 20), status(app)
        assert chat_input.value == "/topic changed again"
        assert chat_input.has_focus
        await pilot.press(*"!")
        assert chat_input.value == "/topic changed again!"
        await pilot.press("ctrl+u")
        assert chat_input.value == ""
    assert not [m for m in bob_x.stanzas if m.findtext("{jabber:client}subject")
                == "changed again"]


async def test_tab_in_the_input_completes_or_stays(world, tmp_path, running):
    """Tab with nothing to complete leaves the keys in the input (they went to
    the sidebar, where j moved it); `/correct ` Tab brings the last line's text,
    as Poezio does, and bob's client gets the correction."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    bob_x.send_xml(line(alice.jid, "Where are we?")[1])
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Where are we?" for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Where are we?")
        await pilot.press("enter", "i", *"at the staton", "enter")
        assert await pilot_until(pilot, lambda: "at the staton" in bob_x.bodies(), 20)
        chat_input = app.screen.query_one(ChatReply)
        await pilot.press(*"so", "tab")
        await pilot.pause()
        assert chat_input.has_focus
        await pilot.press("j")
        assert chat_input.value == "soj"
        await pilot.press("ctrl+u", "tab", "j")
        await pilot.pause()
        assert chat_input.has_focus and chat_input.value == "j"
        await pilot.press("ctrl+u", *"/correct ", "tab")
        assert await pilot_until(pilot, lambda: chat_input.value == "/correct at the staton")
        await pilot.press("left", "left", "i", "end", "enter")
        assert await pilot_until(pilot, lambda: "at the station" in bob_x.bodies(), 20)
        assert bob_x.with_child(NS_CORRECT, "replace")


async def test_who_close_and_quit_as_profanity_users_type_them(world, tmp_path, running):
    """/who: a contact's presence in a chat (bob's client says away, at lunch), a
    room's occupants in a room; /close: back to the list, as q while reading;
    /quit: the app's quit, asking first about the line still waiting for dave."""
    _, xmpp = running
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    world.befriend(alice, dave)
    bob_x = await xmpp(plain(world, bob))
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    bob_x.set_presence("away", "at lunch")
    bob_x.send_xml(line(alice.jid, "Back at two")[1])
    app = alice_app(world, tmp_path, alice, bob, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "away", 30)
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Back at two" for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Back at two")
        await pilot.press("enter", "i", *"/who", "enter")
        assert await pilot_until(pilot, lambda: f"{bob.display_name} is away: at lunch"
                                 in status(app)), status(app)
        assert "unknown command" not in status(app)

        await command(pilot, app, f"/join {room} Ally")
        assert await pilot_until(pilot, lambda: "in the room" in status(app), 30), status(app)
        await command(pilot, app, "/who")
        assert await pilot_until(pilot, lambda: f"2 in {room}: Ally, bob" in status(app)), \
            status(app)

        await command(pilot, app, "/close")
        assert await pilot_until(pilot, lambda: listing(app).has_focus)

        main = app.screen
        result = await engine.send_message(alice.name, [dave.jid], "Monday at nine.",
                                           via="im", when_away="defer")
        assert result.deferred, result
        await command(pilot, app, "/quit")
        assert await pilot_until(pilot, lambda: app.screen is not main)
        assert "still waiting in the outbox" in str(
            app.screen.query_one("#quit-waiting").render())
        assert app.return_code is None
        await pilot.press("q")
        assert await pilot_until(pilot, lambda: app.return_code is not None)
