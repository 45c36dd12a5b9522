"""The chat basics of issue 20 in the app, driven with Textual's Pilot against
the real Prosody; the other side is plain slixmpp (tests/harness/plain_xmpp.py),
its wire read as another client would: a declined invitation, `/join` with a
password, Tab completing a command's arguments, our presence in the rooms we
are in, `/topic` setting the subject, a direct invitation (XEP-0249) from
slixmpp's own plugin, the roster screen's keys, blocking, contact names and
groups, auto-away on idle, and message styling (XEP-0393) in the timeline."""

from __future__ import annotations

import uuid

import pytest
from rich.console import Console
from rich.text import Text
from slixmpp import JID

from bridge.config import load_config
from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import (
    alice_app,
    contacts_toml,
    go_to_row,
    listing,
    password_command,
    pilot_until,
)
from tests.test_app_chat import asked, command, status
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import NS_MUC_USER, own_room
from tuiclient.app import TuiClientApp
from tuiclient.screens.chat_prompts import AskScreen
from tuiclient.screens.roster import RosterScreen
from tuiclient.widgets.conversation import ChatReply, Timeline

pytestmark = pytest.mark.servers
NS_CLIENT = "jabber:client"


def shown_presence(x, frm: str, show: str | None, status_text: str | None = None) -> list:
    """Presences `x` got from `frm` with this show (None: none, available)."""
    return [p for p in x.presences if p.get("from") == frm and p.get("type") is None
            and p.findtext(f"{{{NS_CLIENT}}}show") == show
            and (status_text is None or p.findtext(f"{{{NS_CLIENT}}}status") == status_text)]


async def tab(pilot, app: TuiClientApp, typed: str) -> str:
    """Type `typed` into the chat input, press Tab: what the input holds then."""
    chat_input = app.screen.query_one(ChatReply)
    chat_input.focus()
    chat_input.value = typed
    chat_input.cursor_position = len(typed)
    await pilot.press("tab")
    await pilot.pause()
    return chat_input.value


async def test_rooms_password_completion_presence_topic_and_invitations(world, tmp_path,
                                                                        running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    lab = f"lab{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob", **{
        "muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "s3cret",
        "muc#roomconfig_changesubject": "1"})
    await own_room(bob_x, lab, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        # A mediated invitation, declined with d: the room tells bob.
        bob_x.xmpp.plugin["xep_0045"].invite(room, alice.jid, "come in")
        assert await pilot_until(pilot, lambda: asked(app, "invitation"))
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: [m for m in bob_x.stanzas if m.find(
            f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}decline") is not None])
        assert engine.joined_rooms(alice.name) == []

        await command(pilot, app, f"/join {room} Ally wrong")
        assert await pilot_until(pilot, lambda: "not-authorized" in status(app)), status(app)
        app.screen.query_one(ChatReply).value = ""
        await command(pilot, app, f"/join {room} Ally s3cret")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room])
        assert await pilot_until(pilot, lambda: f"{room}/Ally" in {
            p.get("from") for p in bob_x.presences})

        # Tab completes the arguments: nicks in the open room, roster JIDs, rooms.
        assert await tab(pilot, app, "/msg b") == "/msg bob "
        # A plain line completes the open room's nicks, as in Profanity.
        assert await tab(pilot, app, "B") == "bob: "
        assert await tab(pilot, app, "thanks b") == "thanks bob "
        assert await tab(pilot, app, "/invite b") == f"/invite {bob.jid} "
        assert await tab(pilot, app, "/leave d") == f"/leave {room} "
        assert await tab(pilot, app, "/status aw") == "/status away "
        assert await tab(pilot, app, "/status a") == "/status a"
        assert await pilot_until(pilot, lambda: status(app) == "available  away")
        app.screen.query_one(ChatReply).value = ""

        # Our status reaches the room too (XEP-0045 §7.7), as bob's client sees it.
        await command(pilot, app, "/status away at lunch")
        assert await pilot_until(pilot, lambda: shown_presence(
            bob_x, f"{room}/Ally", "away", "at lunch"))
        assert shown_presence(bob_x, alice.jid + "/" + engine.xmpp[alice.name].session
                              .boundjid.resource, "away", "at lunch")
        # The subject set from the input: bob's client gets it from the room.
        await command(pilot, app, "/topic New plans")
        assert await pilot_until(pilot, lambda: [
            m for m in bob_x.stanzas if m.get("from") == f"{room}/Ally"
            and m.findtext(f"{{{NS_CLIENT}}}subject") == "New plans"])
        assert await pilot_until(pilot, lambda: "topic: New plans" in str(
            app.screen.query_one("#chat-title").render()))

        # A direct invitation from slixmpp's own XEP-0249 plugin: asked, then joined.
        bob_x.xmpp.register_plugin("xep_0249")
        bob_x.xmpp.plugin["xep_0249"].send_invitation(JID(alice.jid), JID(lab),
                                                      reason="lab time")
        assert await pilot_until(pilot, lambda: asked(app, "invitation"))
        assert "lab time" in str(app.screen.query_one("#ask-body").render())
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: set(engine.joined_rooms(alice.name))
                                 == {room, lab})
        # Joined while away: the new room has our presence as set.
        assert await pilot_until(pilot, lambda: shown_presence(
            bob_x, f"{lab}/{alice.jid.partition('@')[0]}", "away", "at lunch"))
        # A room where only moderators set the subject says no, and we say so.
        assert await pilot_until(pilot, lambda: "lab" in str(
            app.screen.query_one("#chat-title").render()))
        await command(pilot, app, "/topic Mine now")
        assert await pilot_until(pilot, lambda: "refused the subject: forbidden"
                                 in status(app)), status(app)


def styled_words(prompt) -> list[tuple[str, str]]:
    """(text, style) of every styled span of a timeline line's Text parts."""
    if isinstance(prompt, Text):
        return [(prompt.plain[s.start:s.end], str(s.style)) for s in prompt.spans]
    found = []
    for part in [*getattr(prompt, "renderables", ()), getattr(prompt, "renderable", None)]:
        if part is not None:
            found += styled_words(part)
    return found


async def test_roster_keys_blocking_names_and_styling(world, tmp_path, running):
    _, xmpp = running
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    dave_x = await xmpp(plain(world, dave))
    dave_x.xmpp.auto_authorize = None  # dave does not answer alice's request
    dave_x.xmpp.auto_subscribe = False
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        # XEP-0393 styling, as the timeline draws a line from a client not ours.
        bob_x.send(alice.jid, "a *loud* word and `x = 1`")
        assert await pilot_until(pilot, lambda: any("loud" in t.snippet
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: "loud" in t.snippet)
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.option_count >= 1)
        spans = styled_words(timeline.get_option_at_index(timeline.option_count - 1).prompt)
        assert ("loud", "bold") in spans and ("x = 1", "reverse") in spans, spans
        console = Console(width=100, record=True, color_system=None)
        with console.capture() as capture:
            console.print(timeline.get_option_at_index(timeline.option_count - 1).prompt)
        assert "a *loud* word" in capture.get()  # the directives stay on screen

        await command(pilot, app, f"/add {dave.jid}")
        assert await pilot_until(pilot, lambda: [p for p in dave_x.presences if p.get(
            "type") == "subscribe" and (p.get("from") or "").startswith(alice.jid)])
        await command(pilot, app, f"/name {dave.jid} Dave D")
        await command(pilot, app, f"/group {dave.jid} Work, Pals")
        assert await pilot_until(pilot, lambda: any(
            i.jid == dave.jid and i.name == "Dave D" and i.groups == ("Pals", "Work")
            for i in engine.roster(alice.name)))

        await command(pilot, app, "/roster")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RosterScreen)
                                 and app.screen.rows == [(alice.name, bob.jid),
                                                         (alice.name, dave.jid)])
        roster = app.screen
        assert roster.current() == (alice.name, bob.jid)

        def got(x, ptype: str) -> int:
            return len([p for p in x.presences if p.get("type") == ptype
                        and (p.get("from") or "").startswith(alice.jid)])

        await pilot.press("d")
        assert await pilot_until(pilot, lambda: got(bob_x, "unsubscribed") == 1)
        # bob asks again: the prompt left for later (esc), the roster's a approves.
        bob_x.xmpp.send_presence(pto=alice.jid, ptype="subscribe")
        assert await pilot_until(pilot, lambda: asked(app, "subscription"))
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: app.screen is roster)
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: got(bob_x, "subscribed") >= 1)
        # b blocks bob: the server turns his line back, it never shows.
        await pilot.press("b")
        assert await pilot_until(pilot, lambda: engine.blocking(alice.name) == {bob.jid})
        bob_x.send(alice.jid, "Psst while blocked")
        assert await pilot_until(pilot, lambda: [
            m for m in bob_x.stanzas if m.get("type") == "error"])
        await pilot.press("b")
        assert await pilot_until(pilot, lambda: engine.blocking(alice.name) == set())
        assert engine.search("Psst") == []

        await pilot.press("down")
        assert roster.current() == (alice.name, dave.jid)
        await pilot.press("u")
        assert await pilot_until(pilot, lambda: got(dave_x, "unsubscribe") == 1)
        await pilot.press("x")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press("y")
        assert await pilot_until(pilot, lambda: all(
            i.jid != dave.jid for i in engine.roster(alice.name)))
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RosterScreen))
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, RosterScreen))

        # The same from the input; the open chat's contact when no JID is given.
        await command(pilot, app, "/block")
        assert await pilot_until(pilot, lambda: status(app).startswith(f"blocked {bob.jid}"))
        await command(pilot, app, "/blocked")
        assert await pilot_until(pilot, lambda: status(app) == f"blocked: {bob.jid}")
        assert await tab(pilot, app, "/unblock ") == f"/unblock {bob.jid} "
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: status(app) == f"unblocked {bob.jid}")
        bob_x.send(alice.jid, "Back in touch")
        assert await pilot_until(pilot, lambda: bool(engine.search("Back in touch")))


async def test_auto_away_on_idle_and_back_on_a_key(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    path = tmp_path / "config.toml"
    path.write_text(world.client_config(alice, password_command(tmp_path, alice))
                    + '\n[chat]\nauto_away = "2s"\nauto_xa = "5s"\n'
                    'auto_away_message = "gone fishing"\n' + contacts_toml(bob))
    app = TuiClientApp(load_config(path), probe_on_start=False)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.presence_as_set(alice.name)
                                 is not None, 30)
        client = engine.xmpp[alice.name]
        mine = lambda: f"{alice.jid}/{client.session.boundjid.resource}"  # noqa: E731
        assert await pilot_until(pilot, lambda: shown_presence(
            bob_x, mine(), "away", "gone fishing"), 15)
        assert await pilot_until(pilot, lambda: shown_presence(
            bob_x, mine(), "xa", "gone fishing"), 15)
        assert engine.own_presence(alice.name).availability.value == "away"
        await pilot.press("j")
        assert await pilot_until(pilot, lambda: engine.presence_as_set(alice.name)
                                 == ("", ""))

        def last_show() -> str | None:
            last = [p for p in bob_x.presences if p.get("from") == mine()][-1]
            return last.findtext(f"{{{NS_CLIENT}}}show")
        assert await pilot_until(pilot, lambda: last_show() is None)
        # A presence the user chose is theirs: idleness leaves dnd alone.
        await command(pilot, app, "/status dnd deep work")
        assert await pilot_until(pilot, lambda: last_show() == "dnd")
        await pilot.pause(3)
        assert engine.presence_as_set(alice.name) == ("dnd", "deep work")
        assert last_show() == "dnd"
        # Prosody has no invisible mode: said so, and nothing changes.
        await command(pilot, app, "/status invisible")
        assert await pilot_until(pilot, lambda: "no invisible mode" in status(app)), \
            status(app)
        assert engine.presence_as_set(alice.name) == ("dnd", "deep work")


async def test_reply_all_by_email_to_a_room_line_names_no_room_as_a_recipient(
        world, tmp_path, running):
    """R on a line said in a room: the reply's To names the people, never the
    room's JID (no email goes to a room: shown must be what is used)."""
    from tuiclient.screens.compose import ComposeScreen

    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"rr{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        await command(pilot, app, f"/join {room} Ally")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room])
        bob_x.send(room, "hello room", groupchat=True)
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.current is not None
                                 and timeline.current.text == "hello room")
        timeline.focus()
        await pilot.press("R")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen))
        to = str(app.screen.query_one("#compose-to").render())
        assert "bob" in to.lower() and room not in to, to
