"""Modern chat against the real Prosody, the other side a plain slixmpp client
writing its stanzas by hand (tests/harness/plain_xmpp.py): corrections
(XEP-0308), reactions (XEP-0444), retractions (XEP-0424), who gets receipts and
chat states, what our presence and disco say, what an unknown request is
answered, rooms joined by invitation, and the roster.
"""

from __future__ import annotations

import asyncio
import uuid
from xml.etree import ElementTree as ET

import pytest

from bridge.events import MessageChanged, RoomInvitation, SubscriptionRequest
from bridge.model import Direction
from bridge.xmpp.client import XmppError
from tests import test_xmpp_client
from tests.harness.servers import MUC_DOMAIN
from tests.others import plain
from tests.test_xmpp_client import Running, person, until

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect  # the fixture: our engine's XmppClient on an account

NS_CORRECT = "urn:xmpp:message-correct:0"
NS_REACTIONS = "urn:xmpp:reactions:0"
NS_RETRACT = "urn:xmpp:message-retract:1"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_CHAT_STATES = "http://jabber.org/protocol/chatstates"


def line(to: str, body: str, extra: str = "", mid: str | None = None) -> tuple[str, str]:
    mid = mid or uuid.uuid4().hex
    body_el = f"<body>{body}</body>" if body else ""
    return mid, f"<message to='{to}' type='chat' id='{mid}'>{body_el}{extra}</message>"


def only(r: Running, text: str):
    found = r.with_text(text)
    assert len(found) == 1, [m.text for m in r.messages()]
    return found[0]


async def test_a_correction_replaces_the_line_only_from_its_sender(world, connect, running):
    _, xmpp = running
    alice, bob, mallory = person(world, "alice"), person(world, "bob"), person(world, "mal")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    mal_x = await xmpp(plain(world, mallory))

    first, stanza = line(alice.jid, "Lunch at non?")
    bob_x.send_xml(stanza)
    await until(lambda: a.with_text("Lunch at non?"), what="the line")
    original = only(a, "Lunch at non?")
    # Someone else naming bob's line changes nothing.
    mal_x.send_xml(line(alice.jid, "Lunch cancelled",
                        f"<replace xmlns='{NS_CORRECT}' id='{first}'/>")[1])
    fix_id, stanza = line(alice.jid, "Lunch at noon?",
                          f"<replace xmlns='{NS_CORRECT}' id='{first}'/>")
    bob_x.send_xml(stanza)
    await until(lambda: a.store.get_message(original.id).text == "Lunch at noon?",
                what="the correction")
    fixed = a.store.get_message(original.id)
    assert fixed.edited is not None and fixed.msg_id == original.msg_id
    assert [r.body for r in a.store.revisions(original.id)] == ["Lunch at non?"]
    assert [r.by_id for r in a.store.revisions(original.id)] == [fix_id]
    # Never a second line: not the correction, not mallory's try.
    await asyncio.sleep(0.3)
    texts = [m.text for m in a.messages()]
    assert "Lunch at noon?" in texts and "Lunch at non?" not in texts
    assert "Lunch cancelled" in texts  # mallory's own line, not a change to bob's
    assert a.store.get_message(original.id).text == "Lunch at noon?"
    assert [e.change for e in a.of(MessageChanged)] == ["corrected"]
    # The same correction again (a duplicate) is applied once.
    bob_x.send_xml(stanza)
    await asyncio.sleep(0.3)
    assert len(a.store.revisions(original.id)) == 1
    # The search index follows: the corrected word is found, the old one not.
    assert [m.id for m in a.store.search("noon")] == [original.id]
    assert a.store.search("non") == []


async def test_we_correct_our_last_line_and_the_other_client_sees_a_replace(
        world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    older = a.client.send_chat(bob.jid, "First thing")
    sent = a.client.send_chat(bob.jid, "Meet at the statoin")
    await until(lambda: len(bob_x.bodies()) == 2, what="bob gets both")
    with pytest.raises(XmppError, match="last line"):
        a.client.correct(older.id, "First things")
    fixed = a.client.correct(sent.id, "Meet at the station")
    assert fixed.text == "Meet at the station" and fixed.edited is not None
    await until(lambda: bob_x.with_child(NS_CORRECT, "replace"), what="the correction")
    correction = bob_x.with_child(NS_CORRECT, "replace")[0]
    original_id = next(m.get("id") for m in bob_x.stanzas
                       if (m.findtext("{jabber:client}body") or "") == "Meet at the statoin")
    assert correction.find(f"{{{NS_CORRECT}}}replace").get("id") == original_id
    assert correction.findtext("{jabber:client}body") == "Meet at the station"
    # Their lines are not ours to correct.
    _, stanza = line(alice.jid, "Sure")
    bob_x.send_xml(stanza)
    await until(lambda: a.with_text("Sure"), what="bob's line")
    with pytest.raises(XmppError, match="own"):
        a.client.correct(only(a, "Sure").id, "Sure!")
    assert len(a.messages()) == 3


async def test_reactions_are_one_set_per_person_replaced_whole(world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    sent = a.client.send_chat(bob.jid, "Cake in the kitchen")
    await until(lambda: bob_x.bodies(), what="bob gets it")
    quoted = next(m.get("id") for m in bob_x.stanzas
                  if m.findtext("{jabber:client}body") == "Cake in the kitchen")

    def react(*emojis: str) -> None:
        inner = "".join(f"<reaction>{e}</reaction>" for e in emojis)
        bob_x.send_xml(line(alice.jid, "", f"<reactions xmlns='{NS_REACTIONS}' "
                            f"id='{quoted}'>{inner}</reactions>"
                            "<store xmlns='urn:xmpp:hints'/>")[1])

    react("👍", "🎂")
    await until(lambda: a.store.reactions([sent.id]), what="the reactions")
    [got] = a.store.reactions([sent.id])[sent.id]
    assert got.reactor == bob.jid and got.emojis == ("👍", "🎂")
    react("🎉")  # replaces both
    await until(lambda: a.store.reactions([sent.id])[sent.id][0].emojis == ("🎉",),
                what="the new set")
    react()  # takes all back
    await until(lambda: not a.store.reactions([sent.id]), what="reactions taken back")
    assert len(a.messages()) == 1  # reactions are never lines

    # We react to bob's line: his client gets our set, naming his id.
    mid, stanza = line(alice.jid, "Thanks!")
    bob_x.send_xml(stanza)
    await until(lambda: a.with_text("Thanks!"), what="bob's line")
    assert a.client.react(only(a, "Thanks!").id, ["❤️"]) == ["❤️"]
    await until(lambda: bob_x.with_child(NS_REACTIONS, "reactions"), what="our reaction")
    el = bob_x.with_child(NS_REACTIONS, "reactions")[0].find(f"{{{NS_REACTIONS}}}reactions")
    assert el.get("id") == mid
    assert [r.text for r in el.findall(f"{{{NS_REACTIONS}}}reaction")] == ["❤️"]
    mine = a.store.reactions([only(a, "Thanks!").id])[only(a, "Thanks!").id]
    assert [(r.reactor, r.emojis) for r in mine] == [(alice.jid, ("❤️",))]


async def test_a_retraction_empties_the_line_only_from_its_sender(world, connect, running):
    _, xmpp = running
    alice, bob, mallory = person(world, "alice"), person(world, "bob"), person(world, "mal")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    mal_x = await xmpp(plain(world, mallory))
    mid, stanza = line(alice.jid, "my password is hunter2")
    bob_x.send_xml(stanza)
    await until(lambda: a.with_text("my password is hunter2"), what="the line")
    got = only(a, "my password is hunter2")
    fallback = ("<body>This person attempted to retract a previous message</body>"
                "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>")
    mal_x.send_xml(f"<message to='{alice.jid}' type='chat' id='x1'>{fallback}"
                   f"<retract xmlns='{NS_RETRACT}' id='{mid}'/></message>")
    await asyncio.sleep(0.5)
    assert a.store.get_message(got.id).retracted is None
    bob_x.send_xml(f"<message to='{alice.jid}' type='chat' id='x2'>{fallback}"
                   f"<retract xmlns='{NS_RETRACT}' id='{mid}'/></message>")
    await until(lambda: a.store.get_message(got.id).retracted is not None,
                what="the retraction")
    gone = a.store.get_message(got.id)
    assert gone.text == "" and gone.direction is Direction.IN
    assert a.store.search("hunter2") == []
    # The fallback body is no line of its own (neither bob's nor mallory's).
    assert not [m for m in a.messages() if "attempted to retract" in m.text]

    # Ours: bob's client is asked to retract the line, by the id it saw.
    sent = a.client.send_chat(bob.jid, "wrong chat, sorry")
    await until(lambda: "wrong chat, sorry" in bob_x.bodies(), what="bob gets it")
    a.client.retract(sent.id)
    assert a.store.get_message(sent.id).retracted is not None
    assert a.store.get_message(sent.id).text == ""
    await until(lambda: bob_x.with_child(NS_RETRACT, "retract"), what="the retraction")
    seen = next(m.get("id") for m in bob_x.stanzas
                if m.findtext("{jabber:client}body") == "wrong chat, sorry")
    retract = bob_x.with_child(NS_RETRACT, "retract")[0].find(f"{{{NS_RETRACT}}}retract")
    assert retract.get("id") == seen


async def test_receipts_go_only_to_contacts_who_see_our_presence(world, connect, running):
    _, xmpp = running
    alice, bob, stranger = person(world, "alice"), person(world, "bob"), person(world, "str")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    str_x = await xmpp(plain(world, stranger))
    ask = (f"<request xmlns='{NS_RECEIPTS}'/>"
           "<markable xmlns='urn:xmpp:chat-markers:0'/>")
    friend_id, stanza = line(alice.jid, "from a friend", ask)
    bob_x.send_xml(stanza)
    _, stanza = line(alice.jid, "from a stranger", ask)
    str_x.send_xml(stanza)
    await until(lambda: a.with_text("from a friend") and a.with_text("from a stranger"),
                what="both lines")
    await until(lambda: bob_x.with_child(NS_RECEIPTS, "received"), what="the friend's receipt")
    receipt = bob_x.with_child(NS_RECEIPTS, "received")[0]
    assert receipt.find(f"{{{NS_RECEIPTS}}}received").get("id") == friend_id
    a.client.mark_displayed(only(a, "from a stranger").id)
    await asyncio.sleep(0.5)
    assert str_x.with_child(NS_RECEIPTS, "received") == []
    assert str_x.markers == []


async def test_presence_carries_caps_disco_says_console_client_unknown_iq_refused(
        world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    a = await connect(alice)
    full = str(a.client.session.boundjid)

    def caps() -> list[ET.Element]:
        return [c for p in bob_x.presences if (p.get("from") or "") == full
                for c in p.findall(f"{{{NS_CAPS}}}c")]
    await until(caps, what="alice's presence with caps")
    c = caps()[0]
    assert c.get("hash") == "sha-1" and c.get("ver") and c.get("node")
    info = await bob_x.xmpp.plugin["xep_0030"].get_info(jid=full, timeout=10)
    identities = {(i[0], i[1]) for i in info["disco_info"]["identities"]}
    assert identities == {("client", "console")}
    features = set(info["disco_info"]["features"])
    assert {NS_CORRECT, NS_REACTIONS, NS_RETRACT, NS_RECEIPTS} <= features
    # The hash is the one of what disco says (XEP-0115 §5.1).
    caps_plugin = a.client.session.plugin["xep_0115"]
    assert caps_plugin.generate_verstring(info["disco_info"], "sha-1") == c.get("ver")
    # A request in a namespace nobody here knows: service-unavailable (RFC 6120 §8.4).
    iq = bob_x.xmpp.make_iq_get(ito=full)
    ET.SubElement(iq.xml, "{urn:example:unknown}query")
    with pytest.raises(Exception) as failed:
        await iq.send(timeout=10)
    assert failed.value.iq["error"]["condition"] == "service-unavailable"


async def own_room(x, room: str, nick: str, **config: str) -> None:
    """bob's client makes a room the way most clients do: join, then submit the
    configuration form (with the fields given; none makes it an instant room)."""
    muc = x.xmpp.plugin["xep_0045"]
    await muc.join_muc_wait(room, nick, maxstanzas=0)
    form = x.xmpp.plugin["xep_0004"].make_form(ftype="submit") if "xep_0004" in x.xmpp.plugin \
        else None
    if form is None:
        x.xmpp.register_plugin("xep_0004")
        form = x.xmpp.plugin["xep_0004"].make_form(ftype="submit")
    form.add_field(var="FORM_TYPE", value="http://jabber.org/protocol/muc#roomconfig")
    for var, value in config.items():
        form.add_field(var=var, value=value)
    await muc.set_room_config(room, form, timeout=10)


async def test_invited_to_a_room_we_join_with_nick_and_password_and_leave(
        world, connect, running):
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    a, c = await connect(alice), await connect(carol)
    bob_x = await xmpp(plain(world, bob))
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob", **{
        "muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "s3cret"})
    bob_x.xmpp.plugin["xep_0045"].invite(room, alice.jid, "come in")
    bob_x.xmpp.plugin["xep_0045"].invite(room, carol.jid, "you too")
    await until(lambda: a.of(RoomInvitation) and c.of(RoomInvitation), what="invitations")
    invitation = a.of(RoomInvitation)[0]
    # The room hides real JIDs: the inviter is named by nick.
    assert (invitation.room, invitation.inviter) == (room, f"{room}/bob")
    assert invitation.password == "s3cret" and not invitation.direct

    with pytest.raises(XmppError, match="not-authorized"):
        await a.client.join_room(room, "Ally", password="wrong")
    occupants = await a.client.join_room(room, "Ally", password=invitation.password)
    roles = {o.nick: (o.role, o.affiliation) for o in occupants}
    assert roles["bob"] == ("moderator", "owner")
    assert roles["Ally"][0] == "participant"
    assert room in a.client.rooms()

    # carol says no: the room tells bob.
    c.client.decline_invitation(room, c.of(RoomInvitation)[0].inviter, "busy")
    await until(lambda: [m for m in bob_x.stanzas if m.find(
        f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}decline") is not None], what="the decline")
    decline = next(m for m in bob_x.stanzas if m.find(
        f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}decline") is not None)
    assert decline.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}decline").get(
        "from", "").split("/")[0] == carol.jid
    assert c.client.rooms() == []

    await a.client.leave_room(room)
    await until(lambda: [p for p in bob_x.presences if p.get("from") == f"{room}/Ally"
                         and p.get("type") == "unavailable"], what="alice leaves")
    assert a.client.rooms() == []


async def test_roster_add_remove_and_subscriptions_answered_only_by_the_user(
        world, connect, running):
    _, xmpp = running
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    dave_x = await xmpp(plain(world, dave))
    item = await a.client.add_contact(bob.jid, "Bobby", ["Work", "Friends"])
    assert (item.jid, item.name, item.groups) == (bob.jid, "Bobby", ("Friends", "Work"))
    await until(lambda: [p for p in bob_x.presences if p.get("type") == "subscribe"],
                what="bob is asked")
    # bob's client approves and asks back; alice's does not answer by itself.
    bob_x.xmpp.send_presence(pto=alice.jid, ptype="subscribed")
    bob_x.xmpp.send_presence(pto=alice.jid, ptype="subscribe")
    await until(lambda: [e for e in a.of(SubscriptionRequest) if e.jid == bob.jid],
                what="the request shows")
    await until(lambda: next(i for i in a.client.roster() if i.jid == bob.jid)
                .subscription == "to", what="alice sees bob")
    await asyncio.sleep(0.5)
    assert not [p for p in bob_x.presences if p.get("type") == "subscribed"]
    a.client.approve(bob.jid)
    await until(lambda: [p for p in bob_x.presences if p.get("type") == "subscribed"],
                what="the approval")
    await until(lambda: next(i for i in a.client.roster() if i.jid == bob.jid)
                .subscription == "both", what="both ways")

    dave_x.xmpp.send_presence(pto=alice.jid, ptype="subscribe")
    await until(lambda: [e for e in a.of(SubscriptionRequest) if e.jid == dave.jid],
                what="dave's request")
    a.client.deny(dave.jid)
    await until(lambda: [p for p in dave_x.presences if p.get("type") == "unsubscribed"],
                what="the refusal")

    await a.client.remove_contact(bob.jid)
    await until(lambda: bob.jid not in {i.jid for i in a.client.roster()}, what="removed")
    with pytest.raises(XmppError, match="not in the roster"):
        await a.client.remove_contact(bob.jid)


async def test_chat_states_go_only_to_clients_that_take_them(world, connect, running):
    _, xmpp = running
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    world.befriend(alice, dave)
    a = await connect(alice)
    bob_x = plain(world, bob)  # announces no chat states
    dave_x = plain(world, dave)
    dave_x.xmpp.register_plugin("xep_0085")  # announces them (XEP-0085 §5.1)
    await xmpp(bob_x)
    await xmpp(dave_x)
    await until(lambda: a.client.availability(bob.jid).availability.value == "available"
                and a.client.availability(dave.jid).availability.value == "available",
                what="both online")
    a.client.send_chat_state(bob.jid, "composing")
    a.client.send_chat_state(dave.jid, "composing")
    await until(lambda: dave_x.with_child(NS_CHAT_STATES, "composing"), what="dave sees it")
    await asyncio.sleep(0.5)
    assert bob_x.with_child(NS_CHAT_STATES, "composing") == []
    # bob's client sends one: now it is known to take them.
    bob_x.send_xml(f"<message to='{alice.jid}' type='chat'>"
                   f"<active xmlns='{NS_CHAT_STATES}'/></message>")
    await asyncio.sleep(0.3)
    a.client.send_chat_state(bob.jid, "paused")
    await until(lambda: bob_x.with_child(NS_CHAT_STATES, "paused"), what="bob sees it")


async def test_chat_states_turned_off_are_never_sent_not_even_active(world, connect, running):
    """[chat] chat_states = false (XEP-0085 section 7: the user can turn them off):
    a peer whose client takes chat states gets neither "typing" nor the <active/>
    that otherwise rides on every line; the line itself still goes."""
    _, xmpp = running
    alice, dave = person(world, "alice"), person(world, "dave")
    world.befriend(alice, dave)
    a = await connect(alice)
    a.client.chat_states = False  # what the engine passes from [chat] chat_states
    dave_x = plain(world, dave)
    dave_x.xmpp.register_plugin("xep_0085")
    await xmpp(dave_x)
    await until(lambda: a.client.availability(dave.jid).availability.value == "available",
                what="dave online")
    a.client.send_chat_state(dave.jid, "composing")
    a.client.send_chat(dave.jid, "no typing dots from me")
    await until(lambda: "no typing dots from me" in dave_x.bodies(), what="the line")
    await asyncio.sleep(0.5)
    assert dave_x.with_child(NS_CHAT_STATES, "composing") == []
    assert dave_x.with_child(NS_CHAT_STATES, "active") == []
    # Turned on again, the same peer hears it.
    a.client.chat_states = True
    a.client.send_chat_state(dave.jid, "composing")
    await until(lambda: dave_x.with_child(NS_CHAT_STATES, "composing"), what="dave sees it")


async def test_our_presence_is_kept_for_the_next_session(world, connect, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    a = await connect(alice)
    a.client.set_presence("away", "at lunch")

    def shown() -> list[tuple[str, str]]:
        return [(p.findtext("{jabber:client}show") or "", p.findtext("{jabber:client}status")
                 or "") for p in bob_x.presences
                if (p.get("from") or "").startswith(alice.jid) and p.get("type") is None]
    await until(lambda: ("away", "at lunch") in shown(), what="away")
    await a.client.stop()
    bob_x.presences.clear()
    await a.client.start()
    await until(shown, what="alice back")
    assert shown()[0] == ("away", "at lunch")
