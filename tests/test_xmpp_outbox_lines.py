"""Replies (XEP-0461) and private lines to a room's occupant (XEP-0045 §7.5) go
through the one outbox like every chat line: asked about, deferred and retried
while the other side is away, sent when they are back, or sent by email instead
(a reply then quotes the line it answers). Against the real Prosody and Dovecot;
bob is a plain slixmpp client (tests/harness/plain_xmpp.py) and a plain mailbox.
"""

from __future__ import annotations

import uuid

import pytest

from bridge.headless.outcome import EXIT_FAILED, EXIT_OK
from bridge.model import DeliveryState
from bridge.outbox import ContactAway
from bridge.xmpp.availability import Availability
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import MUC_DOMAIN
from tests.others import contacts_toml, person, plain, until, wait_inbox
from tests.test_deferral import FAST, config_path, new_engine
from tests.test_headless import cli, write_config
from tests.test_xmpp_chat import own_room
from tests.test_xmpp_replies import reply_of

pytestmark = pytest.mark.servers

AWAY = "At the dentist"


async def test_a_reply_to_an_away_contact_is_deferred_then_sent_or_emailed_with_its_quote(
        world, tmp_path, running):
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file)))
    engine = await start(new_engine(config_path(world, tmp_path, alice,
                                                contacts_toml(bob) + FAST), tmp_path))
    asked = bob_x.send(alice.jid, "Lunch at noon?")
    await until(lambda: any(m.text == "Lunch at noon?" for m in engine.search("noon")),
                what="bob's line")
    line = next(m for m in engine.search("noon") if m.text == "Lunch at noon?")
    bob_x.set_presence("away", AWAY)
    await until(lambda: engine.availability(alice.name, bob.jid).availability
                is Availability.AWAY, what="bob away")

    # Asked first, as every chat line to someone away is; nothing is written.
    with pytest.raises(ContactAway) as away:
        await engine.reply_to_line(line.id, "Noon is fine", when_away="ask")
    assert AWAY in str(away.value)
    assert engine.store.outbox_items() == []

    # Deferred: an outbox row, retried on the schedule; the line is shown as a
    # reply at once (its in_reply_to), and nothing reaches bob yet.
    result = await engine.reply_to_line(line.id, "Noon is fine", when_away="defer")
    assert result.deferred and len(result.outbox) == 1 and result.chat
    assert result.chat[0].in_reply_to == line.msg_id
    first = engine.store.outbox_get(result.outbox[0])
    assert first.state is DeliveryState.DEFERRED
    await until(lambda: any(h.event == "retry"
                            for h in engine.store.outbox_history(first.id)),
                what="a retry while bob is away")
    assert not [m for m in bob_x.stanzas if reply_of(m) is not None]

    # A second one goes by email instead: the quoted line goes with it.
    second = await engine.reply_to_line(line.id, "Or one o'clock?", when_away="defer")
    email_id = await engine.outbox_email(second.outbox[0])
    [mail] = await wait_inbox(world, bob, lambda m: m["Message-ID"] == f"<{email_id}>")
    body = mail.get_body(("plain",)).get_content()
    assert "> Lunch at noon?" in body and "Or one o'clock?" in body
    assert body.index("> Lunch at noon?") < body.index("Or one o'clock?")
    assert engine.store.outbox_get(second.outbox[0]).state \
        is DeliveryState.FELL_BACK_TO_EMAIL

    # bob is back: the first goes at once, a reply on the wire (XEP-0461), and
    # his receipt settles it.
    bob_x.set_presence()
    await until(lambda: engine.store.outbox_get(first.id).state is DeliveryState.DELIVERED,
                what="the deferred reply delivered")
    got = [m for m in bob_x.stanzas if reply_of(m) is not None]
    assert len(got) == 1 and reply_of(got[0]).get("id") == asked
    assert got[0].findtext("{jabber:client}body") == "> Lunch at noon?\nNoon is fine"
    assert "Or one o'clock?" not in bob_x.bodies()

    # "email" straight away: no chat row at all, the quote in the email.
    bob_x.set_presence("xa", AWAY)
    await until(lambda: engine.availability(alice.name, bob.jid).availability
                is Availability.AWAY, what="bob away again")
    third = await engine.reply_to_line(line.id, "See you then", when_away="email")
    assert third.via == "email" and not third.outbox and len(third.email_ids) == 1
    [mail] = await wait_inbox(world, bob,
                              lambda m: m["Message-ID"] == f"<{third.email_ids[0]}>")
    assert "> Lunch at noon?" in mail.get_body(("plain",)).get_content()


async def test_a_private_line_waits_for_the_occupant_to_be_back(world, tmp_path, running):
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = f"pv{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    engine = await start(new_engine(config_path(world, tmp_path, alice, FAST), tmp_path))
    await engine.join_room(alice.name, room, nick="Ally")
    occupant = f"{room}/bob"
    bob_x.xmpp.send_presence(pto=occupant, pshow="away", pstatus=AWAY)
    await until(lambda: engine.xmpp[alice.name].availability(occupant).availability
                is Availability.AWAY, what="bob away in the room")

    with pytest.raises(ContactAway):
        await engine.send_private(alice.name, room, "bob", "psst", when_away="ask")
    result = await engine.send_private(alice.name, room, "bob", "psst", when_away="defer")
    assert result.deferred
    row = engine.store.outbox_get(result.outbox[0])
    assert row.state is DeliveryState.DEFERRED and row.parties[0].address == occupant
    await until(lambda: any(h.event == "retry" for h in engine.store.outbox_history(row.id)),
                what="a retry while bob is away")
    assert "psst" not in bob_x.bodies()

    # Back in the room: the deferred line goes, privately (type chat, from our
    # nick in the room), and the room sees nothing of it.
    bob_x.xmpp.send_presence(pto=occupant)
    await until(lambda: [r for r in bob_x.received if r.body == "psst"],
                what="the private line")
    [got] = [r for r in bob_x.received if r.body == "psst"]
    assert got.mtype == "chat" and got.sender == f"{room}/Ally"
    await until(lambda: engine.store.outbox_get(row.id).state in (
        DeliveryState.SENT, DeliveryState.DELIVERED), what="the row settled")
    assert not [r for r in bob_x.received if r.body == "psst" and r.mtype == "groupchat"]


async def test_msg_writes_to_an_occupant_from_the_command_line(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = f"cl{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    config = write_config(world, tmp_path, alice)
    code, _joined, err = await cli(config, "join", room, "--nick", "Ally")
    assert code == EXIT_OK, err
    # A later process is back in the room (remembered) and writes to bob alone.
    code, sent, err = await cli(config, "msg", room, "bob", "psst", "--when-away", "send")
    assert code == EXIT_OK, err
    [row] = sent["outbox"]
    assert row["parties"][0]["address"] == f"{room}/bob"
    assert row["state"] in ("sent", "delivered")
    await until(lambda: [r for r in bob_x.received if r.body == "psst"], what="the line")
    [got] = [r for r in bob_x.received if r.body == "psst"]
    assert got.mtype == "chat" and got.sender == f"{room}/Ally"
    code, _nobody, _ = await cli(config, "msg", room, "nobody", "hello")
    assert code == EXIT_FAILED


async def test_a_reply_in_a_private_conversation_stays_private(world, tmp_path, running):
    """The conversation a private line opened (ours by /msg, or theirs from the
    room) is with the occupant alone: a reply in it goes `type=chat` to room/nick,
    never into the room (a Profanity user found the second line of a private
    talk said to the whole room), and never to the room's bare JID (the reply to
    their private line failed with service-unavailable)."""
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = f"pr{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    engine = await start(new_engine(config_path(world, tmp_path, alice, FAST), tmp_path))
    await engine.join_room(alice.name, room, nick="Ally")

    first = await engine.send_private(alice.name, room, "bob", "just between us",
                                      when_away="send")
    await until(lambda: [r for r in bob_x.received if r.body == "just between us"],
                what="the private line")
    ours = [m for m in engine.timeline(alice.name, first.thread_id)
            if m.text == "just between us"]
    assert ours and ours[0].id is not None
    await engine.reply(ours[0].id, "second line, still private", via="im",
                       when_away="send")
    await until(lambda: [r for r in bob_x.received if r.body == "second line, still private"],
                what="the reply in the private conversation")
    [got] = [r for r in bob_x.received if r.body == "second line, still private"]
    assert got.mtype == "chat" and got.sender == f"{room}/Ally"

    # Bob writes privately from the room; the reply to his line goes to him there.
    bob_x.send(f"{room}/Ally", "and from me, privately")
    theirs: list = []

    def stored() -> bool:
        theirs[:] = [m for m in engine.timeline(alice.name, first.thread_id)
                     if m.text == "and from me, privately"]
        return bool(theirs)

    await until(stored, what="bob's private line stored in the same conversation")
    await engine.reply(theirs[0].id, "got it", via="im", when_away="send")
    await until(lambda: [r for r in bob_x.received if r.body == "got it"],
                what="the reply to bob's private line")
    [back] = [r for r in bob_x.received if r.body == "got it"]
    assert back.mtype == "chat" and back.sender == f"{room}/Ally"
    assert not [r for r in bob_x.received if r.mtype == "groupchat" and r.body in (
        "just between us", "second line, still private", "got it")]
