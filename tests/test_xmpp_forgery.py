"""slixmpp's plugins raise their events for any message that carries their
element; the trust rules still decide. Against a real server: a receipt or a
marker settles a line only from the contact it went to and only at the top of a
plain message (not inside an error, not inside a copy someone else wraps), and a
chat state only from a plain message."""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree as ET

from bridge.events import ChatStateChanged, DeliveryChanged
from bridge.model import DeliveryState
from tests.harness.plain_xmpp import PlainXmpp
from tests.others import person, plain, until
from tests.test_xmpp_client import connect  # noqa: F401 (a fixture)


async def test_acks_and_chat_states_count_only_plain_and_from_the_recipient(
        world, connect, running):  # noqa: F811
    _start, xmpp = running
    alice, bob, mallory = person(world, "alice"), person(world, "bob"), person(world, "mallory")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file), receipts=False))
    mallory_x = await xmpp(plain(world, mallory))

    def raw(who: PlainXmpp, stanza: str) -> None:
        who.xmpp.send_xml(ET.fromstring(
            stanza.replace("<message ", "<message xmlns='jabber:client' ", 1)))

    sent = a.client.send_chat(bob.jid, "Settle me")
    await until(lambda: bob_x.bodies() == ["Settle me"], what="bob got it")
    await until(lambda: a.store.get_message(sent.id).delivery is DeliveryState.SENT,
                what="server ack")
    me = a.client.session.boundjid
    receipt = f"<received xmlns='urn:xmpp:receipts' id='{sent.msg_id}'/>"
    marker = f"<displayed xmlns='urn:xmpp:chat-markers:0' id='{sent.msg_id}'/>"
    typing = "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
    # mallory is not who the line went to.
    raw(mallory_x, f"<message to='{me}' type='chat'>{receipt}{marker}</message>")
    # bob is, but these are not his word: an error, and a carbon he wraps himself.
    raw(bob_x, f"<message to='{me}' type='error'>{receipt}{marker}{typing}"
               "<error type='cancel'><service-unavailable "
               "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    raw(bob_x, f"<message to='{me}'><sent xmlns='urn:xmpp:carbons:2'><forwarded "
               f"xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='{bob.jid}' "
               f"from='{alice.jid}/x' type='chat'>{receipt}{marker}</message></forwarded>"
               f"</sent>{receipt}{typing}</message>")
    raw(mallory_x, f"<message to='{me}' type='chat'><body>still here</body></message>")
    await until(lambda: a.with_text("still here"), what="mallory's line, after the rest")
    await asyncio.sleep(0.5)
    assert a.store.get_message(sent.id).delivery is DeliveryState.SENT
    assert not [e for e in a.of(DeliveryChanged) if e.msg_id == sent.msg_id
                and e.state in ("delivered", "read", "failed")]
    assert not a.of(ChatStateChanged)

    # bob's own plain receipt and marker do settle it, and his typing shows.
    raw(bob_x, f"<message to='{me}' type='chat'>{typing}</message>")
    raw(bob_x, f"<message to='{me}'>{receipt}</message>")
    await until(lambda: a.store.get_message(sent.id).delivery is DeliveryState.DELIVERED,
                what="bob's receipt")
    raw(bob_x, f"<message to='{me}' type='chat'>{marker}</message>")
    await until(lambda: a.store.get_message(sent.id).delivery is DeliveryState.READ,
                what="bob's marker")
    assert [e.state for e in a.of(ChatStateChanged)] == ["composing"]
