"""Room discovery (XEP-0045 §6) and a direct invitation declined (XEP-0249), against
the real Prosody with plain slixmpp on the other side: `/rooms` lists the service's
rooms with their names and how many are in, and joins the one chosen; `rooms
[SERVICE] --json` lists the same; a direct invitation dropped with d (or `invite
decline --direct`) sends nothing, since XEP-0249 has no decline: neither the room nor
the inviter hears of it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from slixmpp import JID
from textual.widgets import Input

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import alice_app, listing, notes, pilot_until
from tests.test_app_chat import asked, command, status
from tests.test_headless import cli, write_config
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import NS_MUC_USER, own_room
from tuiclient.screens.chat_prompts import RoomsScreen

pytestmark = pytest.mark.servers
PUBLIC = {"muc#roomconfig_publicroom": "1"}  # listed by the service (Prosody: not by default)


def declines(x) -> list:
    """Every muc#user decline bob's client got (from the room or anyone)."""
    return [m for m in x.stanzas if m.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}decline")
            is not None]


async def test_rooms_listed_and_joined_and_a_direct_invitation_dropped(world, tmp_path,
                                                                       running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    tag = uuid.uuid4().hex[:6]
    den, lab = f"den{tag}@{MUC_DOMAIN}", f"lab{tag}@{MUC_DOMAIN}"
    await own_room(bob_x, den, "bob", **{"muc#roomconfig_roomname": f"Den of plans {tag}",
                                         **PUBLIC})
    await own_room(bob_x, lab, "bob", **PUBLIC)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        await command(pilot, app, "/rooms")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RoomsScreen)), status(app)
        listed = {r.jid: r for r in app.screen.rooms}
        assert listed[den].name == f"Den of plans {tag}" and listed[den].occupants == 1
        assert listed[lab].occupants == 1
        app.screen.query_one(Input).value = f"plans {tag}"  # by its name
        await pilot.pause()
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [den])
        assert await pilot_until(pilot, lambda: f"{den}/{alice.jid.partition('@')[0]}" in {
            p.get("from") for p in bob_x.presences}), status(app)

        # A direct invitation, dropped with d: nothing goes out, through the room or not.
        sent_before = len(bob_x.stanzas)
        bob_x.xmpp.register_plugin("xep_0249")
        bob_x.xmpp.plugin["xep_0249"].send_invitation(JID(alice.jid), JID(lab),
                                                      reason="lab time")
        assert await pilot_until(pilot, lambda: asked(app, "invitation"))
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: f"dropped the invitation to {lab}" in notes(app))
        # A line through the den afterwards: once bob has it, a decline would be there.
        await command(pilot, app, "/status away")
        assert await pilot_until(pilot, lambda: [
            p for p in bob_x.presences if p.get("from", "").startswith(den)
            and p.findtext("{jabber:client}show") == "away"])
        await asyncio.sleep(1)
        assert declines(bob_x) == []
        assert [m for m in bob_x.stanzas[sent_before:]
                if (m.get("from") or "").startswith((lab, alice.jid))] == []
        assert engine.joined_rooms(alice.name) == [den]


async def test_rooms_from_the_command_line(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"hall{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob", **{"muc#roomconfig_roomname": "The hall", **PUBLIC})
    config = write_config(world, tmp_path, alice)
    for argv in (["rooms"], ["rooms", MUC_DOMAIN]):
        code, rooms, err = await cli(config, *argv)
        assert code == 0, err
        assert {"jid": room, "name": "The hall", "occupants": 1} in rooms, rooms
    code, refused, err = await cli(config, "rooms", f"nowhere.{MUC_DOMAIN}")
    assert code == 1 and "nowhere" in f"{refused} {err}", (refused, err)
    # Registering a nick (XEP-0045 §7.10): Prosody takes it from members only.
    code, refused, err = await cli(config, "register", room, "Ally")
    assert code == 1 and "registers only its members' nicks" in f"{refused} {err}", err
    await bob_x.xmpp.plugin["xep_0045"].set_affiliation(room, "member", jid=alice.jid)
    code, registered, err = await cli(config, "register", room, "Ally")
    assert code == 0 and registered == {"room": room, "registered": "Ally"}, err
    # A direct invitation declined from the command line: nothing is sent.
    code, dropped, err = await cli(config, "invite", "decline", room, bob.jid, "--direct")
    assert code == 0 and dropped == {"room": room, "declined": bob.jid}, err
    await asyncio.sleep(2)
    assert declines(bob_x) == []


async def test_rooms_from_the_colon_line_answers_in_a_toast(world, tmp_path, running):
    """`:rooms` answers where every `:` command answers, in a toast: its refusal
    and the room it joined, not under the open chat's timeline (the chat
    input's `/rooms` answers there)."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    hall = f"hall{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, hall, "bob", **PUBLIC)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.chat_online(alice.name), 30)
        bob_x.send(alice.jid, "Rooms, anyone?")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Rooms, anyone?"
                                                    for t in listing(app).rows))
        main = app.screen
        main.open_thread(next(t for t in listing(app).rows if t.snippet == "Rooms, anyone?"))
        assert await pilot_until(pilot, lambda: main.open_key is not None)

        await pilot.press("colon", *f"rooms nowhere.{MUC_DOMAIN}", "enter")
        assert await pilot_until(pilot, lambda: any(
            n.startswith(":rooms: ") and "nowhere" in n for n in notes(app))), notes(app)
        assert status(app) == "", status(app)

        await pilot.press("colon", *f"rooms {MUC_DOMAIN}", "enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RoomsScreen)), notes(app)
        app.screen.query_one(Input).value = hall.partition("@")[0]
        await pilot.pause()
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [hall])
        assert await pilot_until(pilot, lambda: any(
            n.startswith(f"joined {hall}") for n in notes(app))), notes(app)
        assert "joined" not in status(app), status(app)
