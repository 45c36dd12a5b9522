"""The app's chat client, driven with Textual's Pilot against the real Prosody:
corrections, reactions, retractions and /me in the timeline, the `/` commands of
the chat input, chat states both ways, a room's invitation and occupants, and a
contact request. alice uses the app; bob, carol and dave use plain slixmpp
(tests/harness/plain_xmpp.py), their side written out as other clients send it.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from rich.console import Console
from textual.widgets import Input

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import (
    alice_app,
    go_to_message,
    go_to_row,
    listing,
    notes,
    pilot_until,
    wait_until,
)
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import (
    NS_CHAT_STATES,
    NS_CORRECT,
    NS_MUC_USER,
    NS_REACTIONS,
    NS_RETRACT,
    line,
    own_room,
)
from tuiclient.app import TuiClientApp
from tuiclient.screens.chat_prompts import AskScreen, RevisionsScreen
from tuiclient.screens.roster import RosterScreen
from tuiclient.widgets.conversation import ChatReply, Timeline
from tuiclient.widgets.occupants import Occupants

pytestmark = pytest.mark.servers


def drawn(app: TuiClientApp) -> list[str]:
    """Each line of the open conversation's timeline as the screen draws it."""
    timeline = app.screen.query_one(Timeline)
    console = Console(width=100, record=True, color_system=None)
    out = []
    for i in range(timeline.option_count):
        with console.capture() as capture:
            console.print(timeline.get_option_at_index(i).prompt)
        out.append(capture.get())
    return out


def status(app: TuiClientApp) -> str:
    label = app.screen.query_one("#chat-status")
    return str(label.render()) if label.display else ""


def asked(app: TuiClientApp, which: str) -> bool:
    return isinstance(app.screen, AskScreen) and app.screen.id == which


async def command(pilot, app: TuiClientApp, text: str) -> None:
    """Type a line into the chat input (emoji set directly) and press enter."""
    chat_input = app.screen.query_one(ChatReply)
    chat_input.focus()
    chat_input.value = text
    chat_input.cursor_position = len(text)
    await pilot.press("enter")
    await pilot.pause()


async def test_a_chat_lives_in_the_timeline_and_the_input(world, tmp_path, running):
    _, xmpp = running
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    dave_x = await xmpp(plain(world, dave))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        # bob's client says it takes chat states (XEP-0085) with its line.
        first, stanza = line(alice.jid, "Lunch at non?", f"<active xmlns='{NS_CHAT_STATES}'/>")
        bob_x.send_xml(stanza)
        assert await pilot_until(pilot, lambda: any(t.snippet == "Lunch at non?"
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.snippet == "Lunch at non?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Lunch at non?" in x for x in drawn(app)))

        # A correction replaces the line in place, marked; E shows what it was.
        bob_x.send_xml(line(alice.jid, "Lunch at noon?",
                            f"<replace xmlns='{NS_CORRECT}' id='{first}'/>")[1])
        assert await pilot_until(pilot, lambda: "Lunch at noon?" in drawn(app)[-1])
        assert "edited" in drawn(app)[-1] and len(drawn(app)) == 1
        app.screen.query_one(Timeline).focus()
        await pilot.press("E")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RevisionsScreen))
        assert "Lunch at non?" in str(app.screen.query_one("#revisions-body").render())
        await pilot.press("escape")
        # bob reacts: the emoji under the line, with his name.
        bob_x.send_xml(line(alice.jid, "", f"<reactions xmlns='{NS_REACTIONS}' id='{first}'>"
                            "<reaction>👍</reaction></reactions>")[1])
        assert await pilot_until(pilot, lambda: "👍 " + bob.display_name in drawn(app)[-1]), \
            (drawn(app), app.screen.query_one(Timeline).reactions, bob.display_name)
        # bob types, pauses, and his line ends it.
        bob_x.send_xml(f"<message to='{alice.jid}' type='chat'>"
                       f"<composing xmlns='{NS_CHAT_STATES}'/></message>")
        assert await pilot_until(pilot, lambda: "is typing" in status(app))
        bob_x.send_xml(f"<message to='{alice.jid}' type='chat'>"
                       f"<paused xmlns='{NS_CHAT_STATES}'/></message>")
        assert await pilot_until(pilot, lambda: "stopped typing" in status(app))
        bob_x.send_xml(f"<message to='{alice.jid}' type='chat'>"
                       f"<active xmlns='{NS_CHAT_STATES}'/></message>")
        assert await pilot_until(pilot, lambda: status(app) == "")

        # alice types: bob sees her composing, then gets the line.
        await pilot.press("i")
        chat_input = app.screen.query_one(ChatReply)
        assert chat_input.has_focus
        await pilot.press(*"See you there")
        assert await pilot_until(pilot, lambda: bob_x.with_child(NS_CHAT_STATES, "composing"))
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "See you there" in bob_x.bodies())
        assert await pilot_until(pilot, lambda: "See you there" in drawn(app)[-1])
        # Up in the empty input: the last line, to correct.
        await pilot.press("up")
        assert chat_input.value == "/correct See you there"
        await pilot.press("!", "enter")
        assert await pilot_until(pilot, lambda: any(
            m.find(f"{{{NS_CORRECT}}}replace") is not None
            for m in bob_x.with_child(NS_CORRECT, "replace")))
        assert "See you there!" in bob_x.bodies()
        assert await pilot_until(pilot, lambda: "See you there!" in drawn(app)[-1]
                                 and "edited" in drawn(app)[-1])

        # /react on the chosen line (bob's), next to his 👍.
        await go_to_message(pilot, app, lambda m: m.text == "Lunch at noon?")
        await command(pilot, app, "/react 🎉")
        assert await pilot_until(pilot, lambda: bob_x.with_child(NS_REACTIONS, "reactions"))
        assert await pilot_until(pilot, lambda: "🎉 you" in drawn(app)[0])
        assert "👍 " + bob.display_name in drawn(app)[0]
        # Words are no reaction (XEP-0444: one emoji): refused in one line, none sent.
        sent = len(bob_x.with_child(NS_REACTIONS, "reactions"))
        await command(pilot, app, "/react ok")
        assert await pilot_until(pilot, lambda: "'ok' is not an emoji" in status(app))
        assert "ok you" not in drawn(app)[0]
        assert len(bob_x.with_child(NS_REACTIONS, "reactions")) == sent

        # /me is a line of its own, shown as an action; /retract takes it back.
        await command(pilot, app, "/me waves")
        assert await pilot_until(pilot, lambda: "/me waves" in bob_x.bodies())
        assert await pilot_until(pilot, lambda: "waves" in drawn(app)[-1])
        assert "* " in drawn(app)[-1] and "/me" not in drawn(app)[-1]
        await command(pilot, app, "/retract")
        assert await pilot_until(pilot, lambda: bob_x.with_child(NS_RETRACT, "retract"))
        assert await pilot_until(pilot, lambda: "message retracted" in drawn(app)[-1])
        assert "waves" not in drawn(app)[-1]

        # An unknown command: one line, and the words stay to fix.
        await command(pilot, app, "/frob now")
        assert "unknown command /frob" in status(app)
        assert chat_input.value == "/frob now"
        # Tab completes a command's name.
        chat_input.value = ""
        await pilot.press(*"/inv", "tab")
        assert chat_input.value == "/invite "
        chat_input.value = ""

        # /status: bob sees alice away, with her words.
        await command(pilot, app, "/status away at lunch")
        assert await pilot_until(pilot, lambda: any(
            p.get("from", "").startswith(alice.jid) and
            (p.findtext("{jabber:client}show") or "") == "away" and
            (p.findtext("{jabber:client}status") or "") == "at lunch"
            for p in bob_x.presences))

        # dave asks to see alice's presence: a prompt, never answered alone.
        dave_x.xmpp.send_presence(pto=alice.jid, ptype="subscribe")
        assert await pilot_until(pilot, lambda: asked(app, "subscription"))
        assert not [p for p in dave_x.presences if p.get("type") == "subscribed"]
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: [
            p for p in dave_x.presences if p.get("type") == "subscribed"
            and p.get("from", "").startswith(alice.jid)])


async def test_a_room_invitation_occupants_and_roster_from_the_input(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    carol, dave = person(world, "carol"), person(world, "dave")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    carol_x = await xmpp(plain(world, carol))
    carol_x.join_on_invite = False
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        bob_x.xmpp.plugin["xep_0045"].invite(room, alice.jid, "come in")
        assert await pilot_until(pilot, lambda: asked(app, "invitation"))
        assert "come in" in str(app.screen.query_one("#ask-body").render())
        assert engine.joined_rooms(alice.name) == []
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room])

        bob_x.send(room, "Welcome in", groupchat=True)
        assert await pilot_until(pilot, lambda: any(t.snippet == "Welcome in"
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.snippet == "Welcome in")
        await pilot.press("enter")
        pane = app.screen.query_one(Occupants)
        nick = alice.jid.partition("@")[0]
        assert await pilot_until(pilot, lambda: pane.display and
                                 {o.nick for o in pane.occupants} == {"bob", nick})
        shown = str(pane.render())
        assert "moderators" in shown and "participants" in shown
        # bob sets the room's subject: in the title, and said once.
        bob_x.xmpp.plugin["xep_0045"].set_subject(room, "Launch party")
        assert await pilot_until(pilot, lambda: "topic: Launch party" in str(
            app.screen.query_one("#chat-title").render()))
        assert status(app) == "bob set the topic: Launch party"
        await command(pilot, app, "/topic")
        assert await pilot_until(pilot, lambda: status(app) == "topic: Launch party")
        # bob goes away in the room: the pane follows.
        bob_x.xmpp.send_presence(pto=f"{room}/bob", pshow="away")
        assert await pilot_until(pilot, lambda: "bob away" in str(pane.render()))

        await command(pilot, app, f"/invite {carol.jid} see this")
        assert await pilot_until(pilot, lambda: room in carol_x.invites)
        await command(pilot, app, "/leave")
        assert await pilot_until(pilot, lambda: [
            p for p in bob_x.presences if p.get("from") == f"{room}/{nick}"
            and p.get("type") == "unavailable"])
        assert await pilot_until(pilot, lambda: not pane.display)
        assert engine.joined_rooms(alice.name) == []
        # From another conversation, /join opens the room's own.
        bob_x.send(alice.jid, "Back to us")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Back to us"
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.snippet == "Back to us")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "Back to us" in drawn(app)[-1])
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room])
        assert await pilot_until(pilot, lambda: any("Welcome in" in x for x in drawn(app)))
        assert await pilot_until(pilot, lambda: pane.display)
        assert "joined" in status(app)

        await command(pilot, app, f"/add {dave.jid} Dave D")
        assert await pilot_until(pilot, lambda: any(
            i.jid == dave.jid and i.name == "Dave D" for i in engine.roster(alice.name)))
        await command(pilot, app, "/roster")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RosterScreen)
                                 and {jid for _, jid in app.screen.rows} == {bob.jid, dave.jid}), \
            (app.screen, getattr(app.screen, "rows", None), status(app) if not isinstance(
                app.screen, RosterScreen) else "")
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, RosterScreen))
        await command(pilot, app, f"/remove {dave.jid}")
        assert await pilot_until(pilot, lambda: all(
            i.jid != dave.jid for i in engine.roster(alice.name)))


async def test_up_past_the_first_line_pages_the_server_archive(world, tmp_path, running):
    """A new device gets the recent history only; up past the first line asks the
    server's archive (MAM) for the older lines, until its start."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    elsewhere = await xmpp(plain(world, alice))  # alice's other client, all along
    for i in range(60):
        if i == 10:  # the archive stamps by the second: the older page, older
            await asyncio.sleep(1.1)
        bob_x.send(alice.jid, f"line {i:02d}")
    assert await wait_until(lambda: len(elsewhere.bodies()) == 60)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(t.snippet == "line 59"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "line 59")
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: len(timeline.messages) == 50)
        assert timeline.messages[0].text == "line 10"
        timeline.focus()
        await pilot.press("g", "k")
        assert await pilot_until(pilot, lambda: len(timeline.messages) == 60)
        assert [m.text for m in timeline.messages] == [f"line {i:02d}" for i in range(60)]
        assert await pilot_until(pilot, lambda: "10 older lines" in status(app)), status(app)
        assert timeline.current is not None and timeline.current.text == "line 10"
        await pilot.press("g", "k")
        assert await pilot_until(pilot, lambda: "start of this chat" in status(app))
        assert len(timeline.messages) == 60


async def test_a_moderator_kicks_and_bans_from_the_input(world, tmp_path, running):
    _, xmpp = running
    alice, carol = person(world, "alice"), person(world, "carol")
    carol_x = await xmpp(plain(world, carol))
    room = f"mod{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    app = alice_app(world, tmp_path, alice)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: app.screen.query_one(ChatReply) is not None)
        await pilot.pause(1.0)
        # ":" opens the command line from the list, no conversation open; the chat
        # commands are there by the same names.
        await pilot.press("colon")
        line = app.screen.query_one("#command", Input)
        assert line.has_focus
        await pilot.press(*f"join {room}")
        assert line.value == f"join {room}"
        await pilot.press("enter")  # a new room: alice owns it
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room], 30), \
            status(app)
        assert await pilot_until(pilot, lambda: any(
            "write its first line below" in n for n in notes(app))), notes(app)
        await carol_x.join(room)
        carol_x.send(room, "Hello from carol", groupchat=True)
        assert await pilot_until(pilot, lambda: any(t.snippet == "Hello from carol"
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.snippet == "Hello from carol")
        await pilot.press("enter")
        pane = app.screen.query_one(Occupants)
        nick = carol.jid.partition("@")[0]
        assert await pilot_until(pilot, lambda: nick in {o.nick for o in pane.occupants})
        # /nick: the room tells everyone; a nick in use is refused, in one line.
        await command(pilot, app, "/nick Boss")
        assert await pilot_until(pilot, lambda: any(
            p.get("from") == f"{room}/Boss" and p.get("type") is None
            for p in carol_x.presences)), status(app)
        assert await pilot_until(pilot, lambda: "Boss" in {o.nick for o in pane.occupants})
        assert engine.joined_rooms(alice.name) == [room]
        await command(pilot, app, f"/nick {nick}")
        assert await pilot_until(pilot, lambda: "/nick:" in status(app) and
                                 "conflict" in status(app)), status(app)
        assert engine.joined_rooms(alice.name) == [room]
        await command(pilot, app, f"/kick {nick} too loud")
        assert await pilot_until(pilot, lambda: any(
            p.get("type") == "unavailable" and p.get("from") == f"{room}/{nick}" and
            p.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}status[@code='307']") is not None
            for p in carol_x.presences)), status(app)
        assert await pilot_until(pilot, lambda: nick not in {o.nick for o in pane.occupants})
        await command(pilot, app, f"/ban {carol.jid} for good")
        assert await pilot_until(pilot, lambda: "banned" in status(app)), status(app)
        with pytest.raises(Exception):  # noqa: B017  # the room refuses her (forbidden)
            await asyncio.wait_for(carol_x.join(room), 5)
        # Nobody by that nick: the room's refusal comes back as one line.
        await command(pilot, app, "/kick nobody")
        assert await pilot_until(pilot, lambda: "/kick:" in status(app))
