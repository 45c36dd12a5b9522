"""The chat with one person, as a Profanity or Poezio user starts it: Enter on a
contact (the sidebar, the roster) or `/msg JID|name [text]` opens the 1:1 chat
with them, never an email thread they are only on the Cc of; a new one is
empty and ready to write in. And a contact who is away: the defer prompt can
answer for the rest of the chat until they are back, and keys typed while it
opens are never joined to the line it asks about. alice uses the app against
the real Prosody and Dovecot; carol, dave and bob use plain slixmpp and smtplib.
"""

from __future__ import annotations

import pytest
from textual import events

from tests.others import person, send_email
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until
from tests.test_app_chat import command
from tests.test_headless_chat import plain
from tuiclient.drafts import unsent
from tuiclient.screens.prompts import DeferScreen
from tuiclient.screens.roster import RosterScreen, RosterTable
from tuiclient.widgets.conversation import ChatReply, Timeline
from tuiclient.widgets.sidebar import Sidebar

pytestmark = pytest.mark.servers


def type_on(app, *parts: str) -> None:
    """Keys as a person types them, each at its own moment whatever the app is
    doing (Pilot's press waits for the app after each key, so its keys come as
    slowly as the app is busy); "\n" is Enter."""
    for part in parts:
        for char in part:
            key = {" ": "space", "\n": "enter"}.get(char, char)
            app.post_message(events.Key(key, "\r" if char == "\n" else char))


async def open_reply(pilot, app, snippet: str) -> None:
    """The conversation whose last line is `snippet`, open, i: its input."""
    assert await pilot_until(pilot, lambda: any(t.snippet == snippet
                                                for t in listing(app).rows), 30)
    await go_to_row(pilot, app, lambda t: t.snippet == snippet)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press("i")
    assert await pilot_until(pilot, lambda: app.screen.query_one(ChatReply).has_focus)


def title(app) -> str:
    return str(app.screen.query_one("#chat-title").render())


def availability(app, who) -> str:
    return app.engine.availability(app.engine.accounts[0].name, who.jid).availability.value


def target(app) -> str:
    return str(app.screen.query_one("#reply-target").render())


async def test_enter_on_a_contact_opens_the_chat_with_them(world, tmp_path, running):
    """carol is only on the Cc of dave's email: Enter on her in the sidebar opened
    that email, its input replying to dave. Now: the chat with carol, empty,
    the input ready; what is typed goes to her, and Enter on her in the roster
    comes back to the same chat."""
    _, xmpp = running
    alice, carol, dave = person(world, "alice"), person(world, "carol"), person(world, "dave")
    world.befriend(alice, carol)
    carol_x = await xmpp(plain(world, carol))
    send_email(world, dave, [alice.email], [carol.email], "Project kickoff on Monday",
               "The kickoff is on Monday at 10:00.")
    app = alice_app(world, tmp_path, alice, carol, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            t.subject == "Project kickoff on Monday" for t in listing(app).rows), 30)
        main = app.screen
        sidebar = main.query_one(Sidebar)
        assert await pilot_until(pilot, lambda: sidebar.get_option_index(
            f"contact:{carol.jid}") is not None)
        sidebar.focus()
        sidebar.highlighted = sidebar.get_option_index(f"contact:{carol.jid}")
        await pilot.press("enter")
        chat_input = main.query_one(ChatReply)
        assert await pilot_until(pilot, lambda: chat_input.has_focus)
        assert main.query_one(Timeline).messages == []
        assert f"Chat with {carol.display_name}" in title(app), title(app)
        assert f"IM to {carol.display_name}" in target(app), target(app)
        assert dave.display_name not in target(app), target(app)
        await pilot.press(*"Are you coming on Monday?", "enter")
        assert await pilot_until(pilot, lambda: "Are you coming on Monday?"
                                 in carol_x.bodies(alice.jid), 20), carol_x.bodies()
        assert await pilot_until(pilot, lambda: [m.text for m in main.query_one(
            Timeline).messages] == ["Are you coming on Monday?"])
        assert chat_input.value == ""
        kickoff = next(t for t in listing(app).rows
                       if t.subject == "Project kickoff on Monday")
        assert main.open_key != (kickoff.account, kickoff.thread_id)
        carol_x.send(alice.jid, "Yes, see you there")
        assert await pilot_until(pilot, lambda: [m.text for m in main.query_one(
            Timeline).messages][-1:] == ["Yes, see you there"], 20)

        # The roster's Enter: the same chat, not the email.
        await pilot.press("escape")
        await pilot.press("colon", *"roster", "enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RosterScreen)
                                 and (app.screen.rows or []) != [])
        roster = app.screen
        roster.query_one(RosterTable).move_cursor(
            row=[jid for _a, jid in roster.rows].index(carol.jid))
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: app.screen is main)
        assert await pilot_until(pilot, lambda: [m.text for m in main.query_one(
            Timeline).messages] == ["Are you coming on Monday?", "Yes, see you there"])
        assert carol_x.bodies(alice.jid) == ["Are you coming on Monday?"]


async def test_msg_opens_the_chat_and_sends_outside_a_room(world, tmp_path, running):
    """`/msg` outside a group chat said "not in a group chat". Now `/msg Carol
    text` (a contact's name) opens the chat with her and sends the text; `/msg
    JID` alone opens the chat with them, empty, to write in."""
    _, xmpp = running
    alice, carol, dave = person(world, "alice"), person(world, "carol"), person(world, "dave")
    world.befriend(alice, carol)
    world.befriend(alice, dave)
    carol_x = await xmpp(plain(world, carol))
    dave_x = await xmpp(plain(world, dave))
    app = alice_app(world, tmp_path, alice, carol, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        main = app.screen
        assert await pilot_until(pilot, lambda: availability(app, carol) == "available", 30)
        await command(pilot, app, f"/msg {carol.display_name} the slides are up")
        assert await pilot_until(pilot, lambda: "the slides are up"
                                 in carol_x.bodies(alice.jid), 20), (notes(app), str(
            main.query_one("#chat-status").render()), title(app))
        assert await pilot_until(pilot, lambda: f"Chat with {carol.display_name}" in title(app))
        assert await pilot_until(pilot, lambda: [m.text for m in main.query_one(
            Timeline).messages] == ["the slides are up"])

        await command(pilot, app, f"/msg {dave.jid}")
        assert await pilot_until(pilot, lambda: f"Chat with {dave.display_name}" in title(app)), \
            title(app)
        assert main.query_one(Timeline).messages == []
        chat_input = main.query_one(ChatReply)
        assert chat_input.has_focus and chat_input.value == ""
        await pilot.press(*"and for you too", "enter")
        assert await pilot_until(pilot, lambda: "and for you too"
                                 in dave_x.bodies(alice.jid), 20)
        assert carol_x.bodies(alice.jid) == ["the slides are up"]


async def test_the_same_answer_for_an_away_contact_until_they_are_back(
        world, tmp_path, running):
    """dave is away: every line asked again (three lines, three prompts). Now the
    prompt's "the same until they are back" (a) with Defer: the next lines are
    deferred without asking, and go to him when he is back; then, away again,
    he is asked about again."""
    _, xmpp = running
    alice, dave = person(world, "alice"), person(world, "dave")
    world.befriend(alice, dave)
    dave_x = await xmpp(plain(world, dave))
    dave_x.set_presence("away", "At the dentist")
    app = alice_app(world, tmp_path, alice, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        main = app.screen
        assert await pilot_until(pilot, lambda: availability(app, dave) == "away", 30)
        dave_x.send(alice.jid, "Where are the cables?")
        await open_reply(pilot, app, "Where are the cables?")
        await pilot.press(*"the cables are in the van", "enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen), 20)
        assert dave.display_name in str(app.screen.query_one("#remember").label)
        await pilot.pause(0.5)
        await pilot.press("a", "d")
        assert await pilot_until(pilot, lambda: app.screen is main)
        for n, words in enumerate(("the keys too", "and the map")):
            await pilot.press(*words, "enter")
            assert await pilot_until(pilot, lambda n=n: len(app.engine.store.outbox_items(
                ["deferred"])) == n + 2, 20)
            assert not isinstance(app.screen, DeferScreen)
        await pilot.pause(0.5)
        assert app.screen is main and dave_x.bodies(alice.jid) == []
        assert main.query_one(ChatReply).value == ""
        assert any(n.startswith("Deferred") for n in notes(app)) or \
            "Deferred" in str(main.query_one("#chat-status").render())

        dave_x.set_presence("", "")  # back: the three lines go to him, in order
        assert await pilot_until(pilot, lambda: dave_x.bodies(alice.jid) == [
            "the cables are in the van", "the keys too", "and the map"], 40), \
            dave_x.bodies(alice.jid)
        # Away again: asked again.
        dave_x.set_presence("away", "Back at 5")
        assert await pilot_until(pilot, lambda: availability(app, dave) == "away", 20)
        await pilot.press(*"one more", "enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen), 20)
        await pilot.pause(0.5)
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: main.query_one(ChatReply).value == "one more")


async def test_keys_typed_while_the_prompt_opens_stay_apart_from_the_line(
        world, tmp_path, running):
    """The user types on after Enter while the defer prompt opens: those keys
    were joined to the line put back ("one more thingexcept the cables"), lost,
    or taken as answers (the "e" of "one" sent the line by email). Now Cancel
    puts back exactly the line and keeps the new words for P; after Defer the
    new words are the input's next line. bob gets nothing by either way."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    bob_x.set_presence("away", "In a meeting")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        main = app.screen
        assert await pilot_until(pilot, lambda: availability(app, bob) == "away", 30)
        bob_x.send(alice.jid, "Anything else?")
        await open_reply(pilot, app, "Anything else?")
        chat_input = main.query_one(ChatReply)
        type_on(app, "except the cables\none more thing")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen), 20)
        await pilot.pause(0.6)
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: app.screen is main)
        assert await pilot_until(pilot, lambda: chat_input.value == "except the cables"), (
            chat_input.value, unsent(), notes(app), bob_x.bodies())
        assert [u.text for u in unsent()] == ["one more thing"]
        assert await pilot_until(pilot, lambda: any("one more thing" in n and "P offers"
                                                    in n for n in notes(app)))

        chat_input.focus()
        type_on(app, "\nsee you at six")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen), 20), (
            notes(app), chat_input.value, str(main.query_one("#chat-status").render()),
            app.engine.store.outbox_items(), bob_x.bodies())
        await pilot.pause(0.6)
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: app.screen is main)
        assert await pilot_until(pilot, lambda: chat_input.value == "see you at six")
        assert await pilot_until(pilot, lambda: [
            i.payload.get("plan", {}).get("text") for i in
            app.engine.store.outbox_items(["deferred"])] == ["except the cables"])
        assert app.engine.store.outbox_items(["fell-back-to-email"]) == []
        assert bob_x.bodies() == []
