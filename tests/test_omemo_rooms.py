"""OMEMO in rooms (issue 23) against the harness's real Prosody, with peers we
did not write (plain slixmpp with slixmpp-omemo and slixmpp's xep_0045,
tests/omemo_peer.py): in a members-only non-anonymous room (made through
slixmpp's xep_0045 config form) a line is sealed for every member's devices and
opened by each; theirs are opened live and from the room's archive; Prosody's
room archive holds no text; an open or semi-anonymous room is refused, saying
why, and nothing goes in clear.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bridge.errors import EncryptionRefused
from bridge.model import DeliveryState, Direction, Message
from tests.harness.servers import MUC_DOMAIN, World
from tests.omemo_peer import peers
from tests.test_xmpp_client import Running, connect, person, until

pytestmark = pytest.mark.servers
__all__ = ["connect", "peers"]  # the fixtures, used by name


def _line(me: Running, text: str) -> Message | None:
    found = me.with_text(text)
    return found[0] if found else None


async def _room_archive(world: World, room: str) -> str:
    """What Prosody's room archive (mod_muc_mam, internal storage) holds for
    `room`, read from its files on disk."""
    from tests.harness.servers import prosody_path_encode

    await asyncio.sleep(0.5)
    local = room.partition("@")[0]
    root = world.prosody_dir / "data" / prosody_path_encode(MUC_DOMAIN)
    texts = [path.read_bytes().decode("utf-8", "replace") for path in root.rglob("*")
             if path.is_file() and any(w in str(path.relative_to(root))
                                       for w in ("archive", "muc_log"))
             and prosody_path_encode(local) in path.name]
    assert texts, f"no archive of {room} under {root}"
    return "\n".join(texts)


async def test_a_members_only_room_is_sealed_for_every_member(world, connect, peers,
                                                               tmp_path) -> None:
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    b, c = await peers(bob).start(), await peers(carol).start()
    data = tmp_path / "alice-data"
    me = await connect(alice, omemo=True, data=data)
    room = f"sealed{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await me.client.create_room(room, "Alice", members_only=True, public_jids=True)
    for who in (bob, carol):
        await me.client.grant_membership(room, who.jid)
    await b.join_room(room, "Bob")
    await c.join_room(room, "Carol")
    await until(lambda: len(me.client.occupants(room)) == 3, 20, "three occupants")

    # Ours: sealed for both members' devices, opened by each, never in clear.
    await me.client.omemo_ready_room(room)
    sent = me.client.send_room(room, "The vault moves at dawn.", encrypt=True)
    for peer in (b, c):
        await until(lambda peer=peer: "The vault moves at dawn." in peer.bodies(alice.jid),
                    30, "a member opens our line")
        assert "vault moves" not in peer.raw()
    await until(lambda: me.store.get_message(sent.id).delivery is not DeliveryState.SENDING,
                20, "the room's reflection")
    row = me.store.get_message(sent.id)
    assert row.delivery is not DeliveryState.FAILED and row.crypto is not None \
        and row.crypto.omemo
    assert len(me.with_text("The vault moves at dawn.")) == 1  # the reflection is ours

    # Theirs, live: opened, from bob by his real JID.
    await b.send_room_encrypted(room, "Bring the blue folder.", [alice.jid, carol.jid])
    await until(lambda: _line(me, "Bring the blue folder."), 30, "bob's room line opened")
    got = _line(me, "Bring the blue folder.")
    assert got.direction is Direction.IN and got.sender.address == bob.jid
    assert got.crypto is not None and got.crypto.omemo and got.crypto.decrypted
    await until(lambda: "Bring the blue folder." in c.bodies(bob.jid), 30, "carol opens it")

    # Theirs while we are away, from the room's archive (bob gone by then, so
    # only the archive's muc#user item says it was him).
    await me.client.stop()
    me.store.close()
    await c.send_room_encrypted(room, "Gate code changed to 9182.", [alice.jid, bob.jid])
    await until(lambda: "Gate code changed to 9182." in c.bodies(carol.jid), 30,
                "the room reflects carol's line")
    await b.leave_room(room, "Bob")
    again = await connect(alice, omemo=True, data=data)
    await again.client.join_room(room, "Alice")
    await until(lambda: _line(again, "Gate code changed to 9182."), 30,
                "carol's line opened from the archive")
    late = _line(again, "Gate code changed to 9182.")
    assert late.sender.address == carol.jid and late.crypto.decrypted

    archived = await _room_archive(world, room)
    for words in ("vault moves", "blue folder", "9182"):
        assert words not in archived
    assert "eu.siacs.conversations.axolotl" in archived


@pytest.mark.parametrize("members_only,public_jids,why", [
    (False, True, "is open"), (True, False, "semi-anonymous")])
async def test_an_open_or_semi_anonymous_room_is_refused(world, connect, peers, members_only,
                                                         public_jids, why) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    b = await peers(bob).start()
    me = await connect(alice, omemo=True)
    room = f"clear{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await me.client.create_room(room, "Alice", members_only=members_only,
                                public_jids=public_jids)
    await me.client.grant_membership(room, bob.jid)
    await b.join_room(room, "Bob")
    await until(lambda: len(me.client.occupants(room)) == 2, 20, "two occupants")
    with pytest.raises(EncryptionRefused) as refused:
        await me.client.omemo_ready_room(room)
    assert room in str(refused.value) and why in str(refused.value)
    # Even past the check, the line is not sent in clear: it fails, saying why.
    sent = me.client.send_room(room, "Nobody else should read this.", encrypt=True)
    await until(lambda: me.store.get_message(sent.id).delivery is DeliveryState.FAILED, 30,
                "the line refused")
    await asyncio.sleep(0.5)
    assert "Nobody else should read" not in b.raw()


async def test_a_member_without_a_device_is_named(world, connect, peers) -> None:
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    b, d = await peers(bob).start(), await peers(dave, omemo=False).start()
    me = await connect(alice, omemo=True)
    room = f"mixed{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await me.client.create_room(room, "Alice", members_only=True, public_jids=True)
    for who in (bob, dave):
        await me.client.grant_membership(room, who.jid)
    await b.join_room(room, "Bob")
    await d.join_room(room, "Dave")
    await until(lambda: len(me.client.occupants(room)) == 3, 20, "three occupants")
    with pytest.raises(EncryptionRefused) as refused:
        await me.client.omemo_ready_room(room)
    assert dave.jid in str(refused.value) and bob.jid not in str(refused.value)
    assert refused.value.missing == [dave.jid]
    sent = me.client.send_room(room, "Only the keyed ones.", encrypt=True)
    await until(lambda: me.store.get_message(sent.id).delivery is DeliveryState.FAILED, 30,
                "the line refused")
    assert "Only the keyed ones" not in d.raw() and "Only the keyed ones" not in b.raw()


async def test_omemo_on_in_a_room_seals_replies_through_the_outbox(world, tmp_path, peers,
                                                                    running) -> None:
    """`/omemo on` in a room (the engine's `omemo_room`): refused in an open
    room, naming why; in a members-only non-anonymous one every line typed
    there goes sealed for the members, through the outbox like any line."""
    from tests.others import contacts_toml, engine_for

    start, _ = running
    alice, bob = person(world, "alice"), person(world, "bob")
    b = await peers(bob).start()
    engine = await start(engine_for(world, tmp_path, alice, contacts_toml(bob)))
    assert any(d.this_device for d in await engine.omemo_devices())
    client = engine.xmpp_client(alice.name)

    open_room = f"lobby{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await client.create_room(open_room, "Alice", members_only=False, public_jids=True)
    with pytest.raises(EncryptionRefused, match="is open"):
        await engine.omemo_room(alice.name, open_room, True)
    assert engine.omemo_preference(open_room) == ""

    room = f"board{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await client.create_room(room, "Alice", members_only=True, public_jids=True)
    await client.grant_membership(room, bob.jid)
    await b.join_room(room, "Bob")
    await until(lambda: len(client.occupants(room)) == 2, 20, "two occupants")
    await engine.omemo_room(alice.name, room, True)
    assert engine.omemo_preference(room) == "encrypt"

    await b.send_room_encrypted(room, "Is the board meeting still on?", [alice.jid])
    await until(lambda: [m for t in engine.store.list_threads(alice.name, limit=50)
                         for m in engine.store.thread_messages(t.thread_id, alice.name)
                         if m.text == "Is the board meeting still on?"], 30, "bob's line")
    (asked,) = [m for t in engine.store.list_threads(alice.name, limit=50)
                for m in engine.store.thread_messages(t.thread_id, alice.name)
                if m.text == "Is the board meeting still on?"]
    result = await engine.reply(asked.id, "Yes, at nine, room 4.", via="im")
    assert result.outbox
    await until(lambda: "Yes, at nine, room 4." in b.bodies(alice.jid), 30, "bob opens it")
    assert "at nine" not in b.raw()
    assert engine.store.outbox_get(result.outbox[0]).payload["protection"]["omemo"] is True
    assert "at nine" not in await _room_archive(world, room)


async def test_omemo_on_in_a_room_from_the_chat_input(world, tmp_path, peers) -> None:
    """In the app: `/omemo on` in a members-only non-anonymous room seals the next
    line for its members; in an open room it is refused, saying why."""
    from tests.test_app import alice_app, go_to_row, listing, pilot_until
    from tests.test_app_chat import command, status

    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    b = await peers(bob).start()
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.chat_online(alice.name), 30)
        assert any(d.this_device for d in await engine.omemo_devices())
        client = engine.xmpp_client(alice.name)
        rooms = {}
        for kind, members_only in (("board", True), ("lobby", False)):
            room = rooms[kind] = f"{kind}{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
            await client.create_room(room, "Alice", members_only=members_only)
            await client.grant_membership(room, bob.jid)
            await b.join_room(room, "Bob")
            await b.send_room_encrypted(room, f"Hello {kind}.", [alice.jid])
            assert await pilot_until(pilot, lambda kind=kind: any(
                t.snippet == f"Hello {kind}." for t in listing(app).rows), 30)

        await go_to_row(pilot, app, lambda t: t.snippet == "Hello lobby.")
        await pilot.press("enter")
        await command(pilot, app, "/omemo on")
        assert await pilot_until(pilot, lambda: "is open" in status(app)), status(app)
        assert engine.omemo_preference(rooms["lobby"]) == ""

        await pilot.press("escape")
        await go_to_row(pilot, app, lambda t: t.snippet == "Hello board.")
        await pilot.press("enter")
        await command(pilot, app, "/omemo on")
        assert await pilot_until(pilot, lambda: "for every member" in status(app)), \
            status(app)
        await command(pilot, app, "Sealed for the board.")
        assert await pilot_until(pilot, lambda: "Sealed for the board." in
                                 b.bodies(alice.jid), 30)
        assert "Sealed for the board" not in b.raw()
