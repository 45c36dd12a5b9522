"""Rooms the user keeps, against the real Prosody: bookmarks (XEP-0402) shared with
the user's other clients, Profanity among them (it reads the older XEP-0048
bookmarks; Prosody's mod_bookmarks keeps both in step), and self-ping
(XEP-0410) noticing a room that forgot us.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from tests import test_xmpp_client
from tests.harness.profanity import Profanity
from tests.harness.servers import MUC_DOMAIN
from tests.others import plain
from tests.test_xmpp_chat import own_room
from tests.test_xmpp_client import person, until

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect  # the fixture: our engine's XmppClient on an account


def new_room(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"


async def test_a_joined_room_is_bookmarked_and_followed_by_our_other_clients(
        world, connect, running, tmp_path: Path):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = new_room("book")
    await own_room(bob_x, room, "bob")
    laptop = await connect(alice, resource="laptop")
    phone = await connect(alice, resource="phone")
    assert await laptop.client.bookmarks() == []

    await laptop.client.join_room(room, "Ally")
    marks = await phone.client.bookmarks()
    assert [(m.room, m.nick, m.autojoin) for m in marks] == [(room, "Ally", True)]
    # The other client hears of it at once (PEP notification) and joins too.
    await until(lambda: room in phone.client.rooms(), what="the phone follows")

    # Leaving keeps the bookmark but no longer joins it anywhere.
    await laptop.client.leave_room(room)
    marks = await phone.client.bookmarks()
    assert [(m.room, m.autojoin) for m in marks] == [(room, False)]

    # Joined again, then a new device: it joins the room at login, from the bookmark.
    await laptop.client.join_room(room, "Ally")
    tablet = await connect(alice, resource="tablet", data=tmp_path / "new-device")
    assert room in tablet.client.rooms()
    assert {o.nick for o in tablet.client.occupants(room)} >= {"bob", "Ally"}

    await laptop.client.unbookmark(room)
    assert await tablet.client.bookmarks() == []


async def test_profanity_follows_our_bookmarks(world, connect, tmp_path: Path):
    alice = person(world, "alice")
    a = await connect(alice)
    ours = new_room("ours")
    await a.client.join_room(ours, "Ally")
    p = Profanity(world, alice, tmp_path / "prof").start()
    try:
        await p.started()
        # Profanity joins what we bookmarked with autojoin, at its login, as Ally.
        await p.shows(f"Autojoined {ours} as Ally")
        p.type("/bookmark list")
        await p.shows(f"{ours}/Ally (autojoin)")
    finally:
        p.stop()


async def test_a_room_that_forgot_us_is_joined_again(world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = new_room("ghost")
    await own_room(bob_x, room, "bob")
    a = await connect(alice)
    a.client.self_ping_interval = 0.5
    await a.client.join_room(room, "Ally")
    await until(lambda: [p for p in bob_x.presences if p.get("from") == f"{room}/Ally"],
                what="bob sees alice")
    # The room drops us and the news is lost on the way (a restarted room server, a
    # network split): we still think we are in.
    lost = f"{room}/Ally"

    def drop_our_exit(stanza):
        if stanza.name == "presence" and str(stanza["from"]) == lost \
                and stanza["type"] == "unavailable":
            return None
        return stanza

    a.client.session.add_filter("in", drop_our_exit)
    seen = len(bob_x.presences)
    a.client.session.send_presence(pto=lost, ptype="unavailable")
    await until(lambda: [p for p in bob_x.presences[seen:] if p.get("from") == lost
                         and p.get("type") == "unavailable"], what="the room drops alice")
    assert room in a.client.rooms()  # none the wiser, until the self-ping
    a.client.session.del_filter("in", drop_our_exit)
    await until(lambda: [p for p in bob_x.presences[seen:] if p.get("from") == lost
                         and p.get("type") in (None, "", "available")],
                timeout=10, what="alice is back in the room")
    a.client.send_room(room, "Sorry, I was away")
    await until(lambda: "Sorry, I was away" in bob_x.bodies(), what="the room hears us")
    await asyncio.sleep(0.1)


async def test_a_client_bound_to_the_servers_resource_hears_of_new_bookmarks(
        world, connect, running):
    """The app asks for no resource (the server picks one): our "+notify" for
    bookmarks must be in the capabilities of the JID the server bound, or the
    other client's bookmark never comes by push (slixmpp keeps disco features per
    JID: an interest said before the bind is under the unbound one)."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = new_room("bound")
    await own_room(bob_x, room, "bob")
    laptop = await connect(alice, resource="laptop")
    phone = await connect(alice)  # no resource asked for, as the app
    await laptop.client.join_room(room, "Ally")
    await until(lambda: room in phone.client.rooms(), what="the phone follows")
