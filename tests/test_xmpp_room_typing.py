"""Chat states in rooms (XEP-0085 §5.5, "Use in Groupchat") against the real
Prosody: our typing goes to a room where we may speak, never "gone", never as a
visitor of a moderated room; an occupant's typing is told with their nick,
never our own echo, never "gone"; and the app shows who types and forgets a
typing nobody ends. bob and dave are plain slixmpp (tests/harness/plain_xmpp.py),
their chat states written out by hand (Profanity sends none in rooms).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bridge.events import ChatStateChanged
from tests import test_xmpp_client
from tests.harness.servers import MUC_DOMAIN
from tests.others import person, plain
from tests.test_app import alice_app, pilot_until
from tests.test_app_chat import command, status
from tests.test_xmpp_chat import NS_CHAT_STATES, own_room
from tests.test_xmpp_client import until
from tuiclient.screens.chatting import Chatting
from tuiclient.widgets.reply_bar import ChatReply

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect  # the fixture: our engine's XmppClient on an account


def states_from(x, room: str) -> list[tuple[str, str]]:
    """(nick, state) of every standalone chat state bob's client got from `room`."""
    out = []
    for m in x.stanzas:
        if m.get("type") != "groupchat" or not (m.get("from") or "").startswith(room + "/"):
            continue
        for child in m:
            if child.tag.startswith(f"{{{NS_CHAT_STATES}}}") and \
                    m.find("{jabber:client}body") is None:
                out.append((m.get("from").split("/", 1)[1], child.tag.split("}")[1]))
    return out


def groupchat_state(room: str, state: str) -> str:
    return (f"<message to='{room}' type='groupchat'>"
            f"<{state} xmlns='{NS_CHAT_STATES}'/></message>")


async def test_typing_in_a_room_both_ways(world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = f"ty{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    a = await connect(alice)
    await a.client.join_room(room, "Ally")

    # bob types in the room: told with his nick; "gone" is ignored (§5.5).
    bob_x.send_xml(groupchat_state(room, "composing"))
    await until(lambda: a.of(ChatStateChanged), what="bob's typing")
    [typing] = a.of(ChatStateChanged)
    assert typing.jid == f"{room}/bob" and typing.state == "composing"
    bob_x.send_xml(groupchat_state(room, "gone"))
    bob_x.send_xml(groupchat_state(room, "paused"))
    await until(lambda: len(a.of(ChatStateChanged)) >= 2, what="bob's pause")
    assert [e.state for e in a.of(ChatStateChanged)] == ["composing", "paused"]

    # alice types: the room carries it to bob, from her nick; her own echo is
    # not told back to her; "gone" is never sent to a room.
    a.client.send_chat_state(room, "composing")
    await until(lambda: ("Ally", "composing") in states_from(bob_x, room),
                what="alice's typing at bob's")
    a.client.send_chat_state(room, "gone")
    a.client.send_chat_state(room, "paused")
    await until(lambda: ("Ally", "paused") in states_from(bob_x, room), what="alice paused")
    assert ("Ally", "gone") not in states_from(bob_x, room)
    await asyncio.sleep(0.3)
    assert all(e.jid != f"{room}/Ally" for e in a.of(ChatStateChanged))


async def test_a_visitor_of_a_moderated_room_sends_no_typing(world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = f"mo{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob", **{"muc#roomconfig_moderatedroom": "1"})
    a = await connect(alice)
    occupants = await a.client.join_room(room, "Ally")
    assert {o.nick: o.role for o in occupants}["Ally"] == "visitor"
    a.client.send_chat_state(room, "composing")
    await asyncio.sleep(1.0)
    assert ("Ally", "composing") not in states_from(bob_x, room)
    # Given voice by the moderator, she may: her typing goes.
    await bob_x.xmpp.plugin["xep_0045"].set_role(room, "Ally", "participant")
    await until(lambda: {o.nick: o.role for o in a.client.occupants(room)}.get("Ally")
                == "participant", what="alice's voice")
    a.client.send_chat_state(room, "composing")
    await until(lambda: ("Ally", "composing") in states_from(bob_x, room),
                what="alice's typing, with voice")


async def test_the_app_shows_who_types_in_a_room_and_forgets_a_stale_typing(
        world, tmp_path, running, monkeypatch):
    _, xmpp = running
    # The XEP's "inactive" timing is 30 s; the test does not wait that long.
    monkeypatch.setattr(Chatting, "TYPING_STALE", 10.0)
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    bob_x = await xmpp(plain(world, bob))
    dave_x = await xmpp(plain(world, dave))
    room = f"at{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    await dave_x.join(room)
    app = alice_app(world, tmp_path, alice)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: app.screen.query_one(ChatReply) is not None)
        # The engine starts after the first frame: its XMPP client comes a moment later.
        assert await pilot_until(pilot, lambda: alice.name in engine.xmpp)
        # The login's catch-up done (it rejoins remembered rooms: not this test's matter).
        assert await engine.xmpp[alice.name].wait_synced(30)
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room], 30)
        assert await pilot_until(pilot, lambda: status(app).startswith("joined"))  # open
        # Two type, one pauses; bob's client then goes quiet (no paused, no line).
        bob_x.send_xml(groupchat_state(room, "composing"))
        dave_x.send_xml(groupchat_state(room, "composing"))
        d = dave.jid.partition("@")[0]  # his nick there
        assert await pilot_until(pilot, lambda: status(app) == f"bob, {d} are typing…"), \
            status(app)
        dave_x.send_xml(groupchat_state(room, "paused"))
        assert await pilot_until(
            pilot, lambda: status(app) == f"bob is typing…; {d} stopped typing"), status(app)
        # dave's line ends his; bob's stale "typing" is forgotten on its own.
        dave_x.send(room, "Here", groupchat=True)
        assert await pilot_until(pilot, lambda: status(app) == "bob is typing…"), status(app)
        assert await pilot_until(pilot, lambda: status(app) == "", 30), status(app)

        # alice types in the room: bob sees her composing, from her nick there.
        chat_input = app.screen.query_one(ChatReply)
        chat_input.focus()
        await pilot.press(*"hello")
        nick = alice.jid.partition("@")[0]
        assert await pilot_until(pilot, lambda: (nick, "composing")
                                 in states_from(bob_x, room)), states_from(bob_x, room)
