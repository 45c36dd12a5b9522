"""Replies (XEP-0461 with XEP-0428's fallback) and Client State Indication
(XEP-0352) against the real Prosody, the other side a plain slixmpp client that
reads and writes its stanzas by hand (tests/harness/plain_xmpp.py).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bridge.model import Availability
from tests import test_xmpp_client
from tests.harness.profanity import Profanity
from tests.harness.servers import MUC_DOMAIN
from tests.others import plain
from tests.test_xmpp_chat import line, only, own_room
from tests.test_xmpp_client import person, until

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect  # the fixture: our engine's XmppClient on an account

NS_REPLY = "urn:xmpp:reply:0"
NS_FALLBACK = "urn:xmpp:fallback:0"
NS_SID = "urn:xmpp:sid:0"
CSI_SETTLE = 6.0


def reply_of(stanza):
    return stanza.find(f"{{{NS_REPLY}}}reply")


def fallback_of(stanza):
    for fallback in stanza.findall(f"{{{NS_FALLBACK}}}fallback"):
        if fallback.get("for") == NS_REPLY:
            return fallback.find(f"{{{NS_FALLBACK}}}body")
    return None


async def test_a_reply_quotes_its_line_both_ways(world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    first, stanza = line(alice.jid, "Lunch at noon?")
    bob_x.send_xml(stanza)
    await until(lambda: a.with_text("Lunch at noon?"), what="bob's line")
    asked = only(a, "Lunch at noon?")

    # Ours: the reply names bob's line by its id and bob as its author, with the
    # quote for clients without replies marked as a fallback.
    answer = a.client.send_reply(asked.id, "Yes, at the usual place")
    assert answer.text == "Yes, at the usual place" and answer.in_reply_to == asked.msg_id
    await until(lambda: [m for m in bob_x.stanzas if reply_of(m) is not None],
                what="the reply")
    got = next(m for m in bob_x.stanzas if reply_of(m) is not None)
    assert reply_of(got).get("id") == first
    assert reply_of(got).get("to").split("/")[0] == bob.jid
    body = got.findtext("{jabber:client}body")
    assert body == "> Lunch at noon?\nYes, at the usual place"
    fallback = fallback_of(got)
    assert fallback is not None
    start, end = int(fallback.get("start")), int(fallback.get("end"))
    assert body[start:end] == "> Lunch at noon?\n"
    assert a.store.get_message(answer.id).in_reply_to == asked.msg_id

    # Theirs: bob answers our line; we keep his words, and which line he answered.
    ours_id = answer.attr_id or answer.origin_id or answer.msg_id
    quote = "> Yes, at the usual place\n"
    bob_x.send_xml(line(alice.jid, quote + "Great, see you", (
        f"<reply xmlns='{NS_REPLY}' to='{alice.jid}' id='{ours_id}'/>"
        f"<fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'>"
        f"<body start='0' end='{len(quote)}'/></fallback>"))[1])
    await until(lambda: a.with_text("Great, see you"), what="bob's reply")
    theirs = only(a, "Great, see you")
    assert theirs.in_reply_to == answer.msg_id

    # A reply to a line we never had keeps its quote: it is all there is to show.
    odd = "> something else\n"
    bob_x.send_xml(line(alice.jid, odd + "and this", (
        f"<reply xmlns='{NS_REPLY}' to='{bob.jid}' id='{uuid.uuid4().hex}'/>"
        f"<fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'>"
        f"<body start='0' end='{len(odd)}'/></fallback>"))[1])
    await until(lambda: a.with_text(odd + "and this"), what="the reply to nothing here")
    assert only(a, odd + "and this").in_reply_to is None
    # A range outside the body is nonsense: the body stays whole.
    bad = line(alice.jid, "short", (
        f"<reply xmlns='{NS_REPLY}' to='{alice.jid}' id='{ours_id}'/>"
        f"<fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'>"
        f"<body start='0' end='500'/></fallback>"))[1]
    bob_x.send_xml(bad)
    await until(lambda: a.with_text("short"), what="the odd reply")
    assert only(a, "short").in_reply_to == answer.msg_id


async def test_a_reply_in_a_room_names_the_line_by_the_rooms_id(world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    room = f"re{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    a = await connect(alice)
    await a.client.join_room(room, "Ally")
    bob_x.send(room, "Who brings the cake?", groupchat=True)
    await until(lambda: a.with_text("Who brings the cake?"), what="bob's room line")
    asked = only(a, "Who brings the cake?")
    assert asked.stanza_id
    a.client.send_reply(asked.id, "I do")
    await until(lambda: [m for m in bob_x.stanzas if reply_of(m) is not None
                         and m.get("type") == "groupchat"], what="the reply in the room")
    got = next(m for m in bob_x.stanzas if reply_of(m) is not None)
    assert reply_of(got).get("to") == f"{room}/bob"
    # The room's stanza-id of bob's line, as bob's own echo of it carries.
    echo = next(m for m in bob_x.stanzas
                if m.findtext("{jabber:client}body") == "Who brings the cake?")
    room_ids = [s.get("id") for s in echo.findall(f"{{{NS_SID}}}stanza-id")
                if s.get("by") == room]
    assert reply_of(got).get("id") == asked.stanza_id and asked.stanza_id in room_ids
    assert got.findtext("{jabber:client}body") == "> bob:\n> Who brings the cake?\nI do"


async def test_profanity_without_replies_shows_our_quote(world, connect, tmp_path):
    """Profanity 0.13 knows no XEP-0461: the fallback quote is what its user reads."""
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    p = Profanity(world, bob, tmp_path / "prof").start()
    try:
        await p.started()
        await asyncio.sleep(0.5)
        p.type(f"/msg {alice.jid} Lunch at noon?")
        await until(lambda: a.with_text("Lunch at noon?"), what="profanity's line")
        a.client.send_reply(only(a, "Lunch at noon?").id, "Noon is fine")
        screen = await p.shows("Noon is fine")
        assert "> Lunch at noon?" in screen
    finally:
        p.stop()


async def test_the_server_hears_when_nobody_looks(world, connect, running):
    """Client State Indication (XEP-0352): inactive, Prosody's csi_simple holds
    back a contact's presence; active again, it comes at once."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    await until(lambda: a.client.availability(bob.jid).availability is Availability.AVAILABLE,
                what="bob online")
    assert a.client.client_state_offered
    a.client.set_client_state(False)
    # csi_simple passes everything for a few seconds after any traffic of ours
    # (csi_resume_inactive_delay, 5 s): the quiet has to set in first.
    await asyncio.sleep(CSI_SETTLE)
    bob_x.set_presence("away", "out for lunch")
    await asyncio.sleep(1.5)
    assert a.client.availability(bob.jid).availability is Availability.AVAILABLE, \
        "the server held nothing back: it was not told we are inactive"
    a.client.set_client_state(True)
    await until(lambda: a.client.availability(bob.jid).status == "out for lunch",
                what="the held presence, once active")
    # A line of text is never held back.
    a.client.set_client_state(False)
    await asyncio.sleep(CSI_SETTLE)
    bob_x.send(alice.jid, "Are you there?")
    await until(lambda: a.with_text("Are you there?"), timeout=2, what="a line while inactive")
