"""The XMPP client against the harness's real Prosody: what a user would check.

Every test makes its own accounts (names get a random suffix), so tests do not see
each other's messages, presence or rooms on the shared server.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from bridge.config import AccountConfig, Config, get_password, load_config
from bridge.events import (
    ChatStateChanged,
    DeliveryChanged,
    Event,
    EventBus,
    MessageReceived,
    PresenceChanged,
    RoomInvitation,
    SubscriptionRequest,
    XmppConnectionChanged,
)
from bridge.model import SEEN, DeliveryState, Direction, Message, Transport
from bridge.store import Store
from bridge.xmpp.availability import Availability
from bridge.xmpp.client import XmppClient, XmppError
from bridge.xmpp.session import XmppLoginError
from bridge.xmpp.state import XmppState
from bridge.xmpp.upload import TransferError
from tests.conftest import password_command
from tests.harness.servers import MUC_DOMAIN, Account, World
from tests.others import plain

pytestmark = pytest.mark.servers


@dataclass
class Running:
    client: XmppClient
    store: Store
    events: list[Event] = field(default_factory=list)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def messages(self, thread: str | None = None) -> list[Message]:
        threads = [thread] if thread else [t.thread_id for t in self.store.list_threads(
            self.client.name, limit=1000)]
        return [m for t in threads for m in self.store.thread_messages(t, self.client.name)]

    def with_text(self, text: str) -> list[Message]:
        return [m for m in self.messages() if m.text == text]


Factory = Callable[..., Awaitable[Running]]


async def until(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")

        await asyncio.sleep(0.02)


def config_for(world: World, account: Account, tmp: Path) -> Config:
    path = tmp / f"{account.name}.toml"
    path.write_text(world.client_config(account, password_command(tmp, account)))
    return load_config(path)


def person(world: World, name: str) -> Account:
    return world.add_account(f"{name}{uuid.uuid4().hex[:6]}")


@pytest.fixture
async def connect(world: World, tmp_path: Path) -> AsyncIterator[Factory]:
    running: list[Running] = []

    async def make(account: Account, *, resource: str | None = None,
                   data: Path | None = None, **options: int) -> Running:
        acct: AccountConfig = config_for(world, account, tmp_path).account(account.name)
        data = data or tmp_path / f"data-{account.name}-{resource or 'main'}"
        store = Store.open(data / "store.sqlite")
        bus = EventBus()
        client = XmppClient(acct, get_password(acct, "xmpp"), store, bus,
                            resource_name=resource, max_backoff=2.0, **options)
        r = Running(client, store)
        bus.subscribe(r.events.append)
        await client.start()
        running.append(r)
        return r

    yield make
    for r in running:
        if not r.client._stopping:
            await r.client.stop()
        r.store.close()


async def test_chat_with_receipts_and_markers_recorded_as_delivery_states(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a, b = await connect(alice), await connect(bob)

    sent = a.client.send_chat(bob.jid, "Hi Bob ✓ café")
    assert sent.id is not None and sent.origin_id == sent.msg_id
    await until(lambda: len(b.with_text("Hi Bob ✓ café")) == 1, what="bob stores it")
    got = b.with_text("Hi Bob ✓ café")[0]
    assert got.msg_id == sent.msg_id and got.origin_id == sent.msg_id
    assert got.direction is Direction.IN and got.transport is Transport.XMPP
    assert got.sender.address == alice.jid and got.unread
    assert got.stanza_id  # stamped by bob's server (XEP-0359)
    assert got.thread_id == sent.thread_id  # carried in <thread>

    await until(lambda: a.store.get_message(sent.id).delivery is DeliveryState.DELIVERED,
                what="receipt")
    b.client.mark_displayed(got.id)
    await until(lambda: a.store.get_message(sent.id).delivery is DeliveryState.READ,
                what="displayed marker")
    assert SEEN in b.store.get_message(got.id).flags
    # What the other side told the server it supports (XEP-0030/0115).
    features = await b.client.features(str(a.client.session.boundjid))
    assert {"urn:xmpp:receipts", "urn:xmpp:chat-markers:0", "jabber:x:oob"} <= features
    states = [e.state for e in a.of(DeliveryChanged) if e.msg_id == sent.msg_id]
    assert states[-2:] == ["delivered", "read"]

    # A reply with an explicit thread (a linked email conversation) keeps it.
    reply = b.client.send_chat(alice.jid, "Reply in the email thread", thread_id="root@mail.test")
    await until(lambda: a.with_text("Reply in the email thread"), what="reply")
    assert a.with_text("Reply in the email thread")[0].thread_id == "root@mail.test"
    assert reply.thread_id == "root@mail.test"
    b.client.send_chat_state(alice.jid, "composing")
    await until(lambda: [e for e in a.of(ChatStateChanged) if e.state == "composing"],
                what="typing notification")
    assert len(a.messages()) == 2  # a chat state is not a message
    # Alice answers without naming a thread: she stays in the conversation Bob chose.
    follow = a.client.send_chat(bob.jid, "Following up")
    assert follow.thread_id == "root@mail.test"
    await until(lambda: b.with_text("Following up"), what="follow-up")
    assert b.with_text("Following up")[0].thread_id == "root@mail.test"
    assert next(e for e in b.of(MessageReceived) if e.msg_id == sent.msg_id).source == "live"


async def test_displayed_marker_quotes_the_id_the_sender_gave(world, connect, running):
    """A client that sends no origin-id (plain slixmpp: an 'id' attribute only) gets
    its displayed marker (XEP-0333) for exactly the message that was read, quoting
    that attribute, not the name our store gave the line."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(plain(world, bob))
    first = bob_x.send(alice.jid, "First line", markable=True)
    second = bob_x.send(alice.jid, "Second line", markable=True)
    await until(lambda: a.with_text("First line") and a.with_text("Second line"),
                what="alice stores both")
    got = a.with_text("First line")[0]
    assert got.attr_id == first and got.origin_id is None and got.msg_id != first
    await until(lambda: len([m for m in bob_x.markers if m[0] == "received"]) == 2,
                what="received markers")
    a.client.mark_displayed(got.id)
    await until(lambda: bob_x.displayed(), what="displayed marker")
    await asyncio.sleep(0.3)  # nothing else follows
    assert bob_x.displayed() == [first]
    assert second not in bob_x.displayed()
    sender = next(f for kind, f, _ in bob_x.markers if kind == "displayed")
    assert sender.split("/")[0] == alice.jid
    assert SEEN in a.store.get_message(got.id).flags
    assert a.with_text("Second line")[0].unread


async def test_presence_changes_are_seen_by_the_other_account(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a, b = await connect(alice), await connect(bob)
    await until(lambda: a.client.availability(bob.jid).availability is Availability.AVAILABLE,
                what="bob online")

    b.client.set_presence("away", "At lunch, back at 2")
    await until(lambda: a.client.availability(bob.jid).availability is Availability.AWAY,
                timeout=1.0, what="away within a second")
    assert a.client.availability(bob.jid).status == "At lunch, back at 2"

    b.client.set_presence("dnd", "Presenting")
    await until(lambda: a.client.availability(bob.jid).availability is Availability.BUSY,
                timeout=1.0, what="dnd within a second")
    assert a.client.availability(bob.jid).status == "Presenting"

    await b.client.stop()
    await until(lambda: a.client.availability(bob.jid).availability is Availability.OFFLINE,
                timeout=1.0, what="offline within a second")
    seen = [e.availability for e in a.of(PresenceChanged) if e.jid == bob.jid]
    assert seen[-3:] == ["away", "busy", "offline"]

    # Someone with no subscription is unknown, not offline.
    stranger = person(world, "stranger")
    assert a.client.availability(stranger.jid).availability is Availability.UNKNOWN


async def test_subscription_request_approved_and_denied(world, connect):
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    a.client.subscribe(bob.jid, name="Bob")
    c.client.subscribe(bob.jid)
    await until(lambda: {e.jid for e in b.of(SubscriptionRequest)} >= {alice.jid, carol.jid},
                what="requests")
    b.client.approve(alice.jid)
    b.client.deny(carol.jid)
    await until(lambda: a.client.availability(bob.jid).availability is Availability.AVAILABLE,
                what="alice sees bob")
    items = {i.jid: i for i in a.client.roster()}
    assert items[bob.jid].subscription in ("to", "both")
    await until(lambda: not any(i.pending_out for i in c.client.roster() if i.jid == bob.jid),
                what="carol's request answered")
    assert c.client.availability(bob.jid).availability is Availability.UNKNOWN


async def test_message_sent_while_offline_comes_from_the_archive_once(world, connect, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    b = await connect(bob, data=tmp_path / "bob-data")
    await b.client.stop()
    b.store.close()

    texts = [f"while you were out {i}" for i in range(3)]
    for text in texts:
        a.client.send_chat(bob.jid, text)
    await until(lambda: all(m.delivery is DeliveryState.SENT
                            for m in a.messages() if m.text in texts) and
                len([m for m in a.messages() if m.text in texts]) == 3, what="server acks")

    b2 = await connect(bob, data=tmp_path / "bob-data")
    for text in texts:
        await until(lambda t=text: b2.with_text(t), what=text)
    await b2.client.catch_up()  # a second look finds nothing new
    for text in texts:
        assert len(b2.with_text(text)) == 1
    sources = {e.source for e in b2.of(MessageReceived)}
    assert sources <= {"live", "archive"}
    # Older history is there too, page by page, without duplicates.
    stored, _before = await b2.client.fetch_history(alice.jid)
    assert stored == 0
    # The archive copy confirmed delivery to alice, who was online.
    await until(lambda: all(m.delivery is DeliveryState.DELIVERED
                            for m in a.messages() if m.text in texts), what="receipts")


async def test_prosody_restart_mid_conversation_loses_nothing(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a, b = await connect(alice), await connect(bob)
    for i in range(3):
        a.client.send_chat(bob.jid, f"before restart {i}")
    await until(lambda: len([m for m in b.messages() if m.text.startswith("before")]) == 3,
                what="first lines")

    await asyncio.to_thread(world.restart_prosody)
    # Written while the server is down or the client still reconnects.
    for i in range(3):
        a.client.send_chat(bob.jid, f"during restart {i}")
    await until(lambda: any(e.state == "online" for e in a.of(XmppConnectionChanged)[1:]),
                timeout=20, what="alice back")
    await until(lambda: any(e.state == "online" for e in b.of(XmppConnectionChanged)[1:]),
                timeout=20, what="bob back")
    for i in range(3):
        b.client.send_chat(alice.jid, f"after restart {i}")

    def all_there() -> bool:
        texts = [m.text for m in b.messages()]
        return all(texts.count(f"{w} restart {i}") == 1 for w in ("before", "during", "after")
                   for i in range(3))
    await until(all_there, timeout=20, what="every line once at bob")
    await until(lambda: all(len(a.with_text(f"after restart {i}")) == 1 for i in range(3)),
                timeout=20, what="replies at alice")
    await b.client.catch_up()
    texts = [m.text for m in b.messages()]
    assert len(texts) == 9 and len(set(texts)) == 9
    assert len(a.messages()) == 9
    assert {e.state for e in a.of(XmppConnectionChanged)} >= {"disconnected", "online"}


async def test_file_by_http_upload_is_downloaded_with_equal_bytes(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a, b = await connect(alice), await connect(bob)
    data = os.urandom(300_000) + b"\x00end"
    sent = await a.client.send_file(bob.jid, data, "../../etc/report 2024.pdf",
                                    "application/pdf")
    assert sent.attachments[0].url.startswith("https://")
    assert sent.attachments[0].filename == "report 2024.pdf"
    assert a.store.blob_path(sent.attachments[0].sha256).read_bytes() == data

    await until(lambda: [m for m in b.messages() if m.attachments], what="link arrives")
    got = next(m for m in b.messages() if m.attachments)
    assert got.text == sent.attachments[0].url  # the body is the link, as clients expect
    files = await b.client.download(got.id)
    assert len(files) == 1 and files[0].size == len(data)
    assert b.store.blob_path(files[0].sha256).read_bytes() == data
    assert b.store.get_message(got.id).attachments[0].sha256 == files[0].sha256
    assert "/" not in files[0].filename and not files[0].filename.startswith(".")

    # A client that fetches small files by itself does so for contacts, within its limit.
    carol = person(world, "carol")
    world.befriend(alice, carol)
    c = await connect(carol, auto_download_limit=len(data))
    await a.client.send_file(carol.jid, data, "photo.jpg", "image/jpeg")
    await until(lambda: [m for m in c.messages() if m.attachments
                         and m.attachments[0].sha256], what="fetched by itself")
    fetched = next(m for m in c.messages() if m.attachments).attachments[0]
    assert c.store.blob_path(fetched.sha256).read_bytes() == data

    # Over the size limit: refused, and the attachment stays not downloaded.
    b.store.set_body(got.id, got.text, [replace(x, sha256=None) for x in got.attachments])
    with pytest.raises(TransferError, match="limit"):
        await b.client.download(got.id, limit=1000)
    assert b.store.get_message(got.id).attachments[0].sha256 is None


async def test_room_with_three_accounts_join_invite_messages_history(world, connect):
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    room = f"team{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await a.client.create_room(room, "Alice")
    a.client.invite(room, bob.jid, "standup")
    a.client.invite(room, carol.jid, "standup", direct=True)
    await until(lambda: b.of(RoomInvitation) and c.of(RoomInvitation), what="invitations")
    inv_b, inv_c = b.of(RoomInvitation)[0], c.of(RoomInvitation)[0]
    assert (inv_b.room, inv_b.inviter, inv_b.reason, inv_b.direct) == \
        (room, alice.jid, "standup", False)
    assert (inv_c.room, inv_c.inviter, inv_c.direct) == (room, alice.jid, True)
    await b.client.join_room(inv_b.room, "Bob")
    await c.client.join_room(inv_c.room, "Carol")
    await until(lambda: len(a.client.occupants(room)) == 3, what="three occupants")
    real = {o.nick: o.jid for o in a.client.occupants(room)}
    assert real == {"Alice": alice.jid, "Bob": bob.jid, "Carol": carol.jid}

    first = a.client.send_room(room, "Good morning, team")
    await until(lambda: b.with_text("Good morning, team") and c.with_text("Good morning, team"),
                what="room line")
    line = c.with_text("Good morning, team")[0]
    assert line.sender.address == alice.jid and line.sender.name == "Alice"
    assert line.recipients[0].address == room and line.msg_id == first.msg_id
    await until(lambda: a.with_text("Good morning, team")[0].stanza_id, what="reflection")
    assert len(a.with_text("Good morning, team")) == 1

    await c.client.leave_room(room)
    a.client.send_room(room, "Carol missed this")
    b.client.send_room(room, "And this")
    await until(lambda: len(a.with_text("And this")) == 1, what="lines while carol is away")
    assert not c.with_text("Carol missed this")
    await c.client.join_room(room, "Carol")
    for text in ("Good morning, team", "Carol missed this", "And this"):
        assert len(c.with_text(text)) == 1, text
    assert c.with_text("And this")[0].sender.name == "Bob"

    # A private line to an occupant stays between the two of them.
    b.client.send_chat(f"{room}/Alice", "psst, Alice")
    await until(lambda: a.with_text("psst, Alice"), what="private line")
    pm = a.with_text("psst, Alice")[0]
    assert pm.sender.name == "Bob" and pm.thread_id != line.thread_id
    assert pm.recipients[0].address == alice.jid

    # A file shared in the room reaches everyone, bytes intact.
    data = os.urandom(5000)
    await a.client.send_file(room, data, "plan.txt", "text/plain")
    await until(lambda: [m for m in c.messages() if m.attachments], what="room file")
    shared = next(m for m in c.messages() if m.attachments)
    files = await c.client.download(shared.id)
    assert c.store.blob_path(files[0].sha256).read_bytes() == data
    assert not c.with_text("psst, Alice")


async def test_carbons_bring_lines_sent_from_another_resource(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    desk = await connect(alice, resource="desk")
    phone = await connect(alice, resource="phone")
    b = await connect(bob)
    sent = phone.client.send_chat(bob.jid, "Sent from my phone")
    await until(lambda: desk.with_text("Sent from my phone"), what="carbon")
    copy = desk.with_text("Sent from my phone")[0]
    assert copy.direction is Direction.OUT and copy.msg_id == sent.msg_id
    assert copy.recipients[0].address == bob.jid
    assert [e.source for e in desk.of(MessageReceived) if e.msg_id == sent.msg_id] == ["carbon"]
    b.client.send_chat(alice.jid, "Seen on both")
    await until(lambda: desk.with_text("Seen on both") and phone.with_text("Seen on both"),
                what="received on both resources")
    assert len(desk.with_text("Seen on both")) == 1 and len(phone.with_text("Seen on both")) == 1


async def test_blocked_contact_refusal_is_reported(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a, b = await connect(alice), await connect(bob)
    await b.client.block(alice.jid)
    assert alice.jid in await b.client.refresh_blocklist()
    assert b.client.availability(alice.jid).availability is Availability.BLOCKED

    refused = a.client.send_chat(bob.jid, "Can you hear me?")
    await until(lambda: a.store.get_message(refused.id).delivery is DeliveryState.FAILED,
                what="refusal")
    report = [e for e in a.of(DeliveryChanged) if e.msg_id == refused.msg_id][-1]
    assert report.state == "failed" and "blocked or unreachable" in report.detail
    assert a.client.availability(bob.jid).availability is Availability.BLOCKED
    assert not b.with_text("Can you hear me?")

    # Our own block is reported too, by our server.
    mine = b.client.send_chat(alice.jid, "You are blocked")
    await until(lambda: b.store.get_message(mine.id).delivery is DeliveryState.FAILED,
                what="own block")
    await b.client.unblock(alice.jid)
    assert alice.jid not in await b.client.refresh_blocklist()


async def test_vcard_email_is_a_mapping_hint(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a, b = await connect(alice), await connect(bob)
    await a.client.publish_vcard("Alice Liddell", ["alice.liddell@mail.example.test"])
    assert await b.client.vcard_emails(alice.jid) == ["alice.liddell@mail.example.test"]
    await b.client.learn_contact_from_vcard(alice.jid)
    contact = b.store.contact_for(alice.jid)
    assert contact is not None
    assert {x.address for x in contact.addresses} >= {"alice.liddell@mail.example.test"}


async def test_hostile_stanzas_do_not_crash_the_client(world, connect):
    mallory, bob = person(world, "mallory"), person(world, "bob")
    world.befriend(mallory, bob)
    m, b = await connect(mallory), await connect(bob)
    to = bob.jid
    raw = [
        # Unknown elements and namespaces everywhere.
        f"<message to='{to}' type='chat' id='u1'><body>odd</body><zzz xmlns='urn:x'>"
        "<deep><deeper/></deep></zzz><origin-id xmlns='urn:xmpp:sid:0'/></message>",
        # C1 controls, bidi overrides and DEL are legal XML but dangerous on a terminal.
        f"<message to='{to}' type='chat' id='u2'><body>\u009b31mred\u202e\u007f"
        "</body></message>",
        # A forged carbon (not from our own server) and a forged archive result.
        f"<message to='{to}' id='u3'><sent xmlns='urn:xmpp:carbons:2'><forwarded "
        "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='"
        f"{to}/x' to='victim@example.test' type='chat'><body>forged carbon</body></message>"
        "</forwarded></sent></message>",
        f"<message to='{to}' id='u4'><result xmlns='urn:xmpp:mam:2' queryid='q' id='1'>"
        "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
        f"from='{to}' to='x@example.test'><body>forged archive</body></message>"
        "</forwarded></result></message>",
        # Receipts and markers for messages that do not exist, or with no id.
        f"<message to='{to}'><received xmlns='urn:xmpp:receipts' id='nope'/></message>",
        f"<message to='{to}'><displayed xmlns='urn:xmpp:chat-markers:0'/></message>",
        # Bad delay stamp, empty body, absurd thread, a self-claimed stanza-id.
        f"<message to='{to}' type='chat' id='u5'><body/><delay xmlns='urn:xmpp:delay' "
        f"stamp='yesterday'/><thread>{'t' * 5000}</thread><stanza-id xmlns='urn:xmpp:sid:0' "
        f"by='{to}' id='spoofed'/></message>",
        f"<message to='{to}' type='groupchat' id='u6'><body>not a room</body></message>",
        f"<message to='{to}' type='error' id='u7'><error type='cancel'/></message>",
        f"<presence to='{to}'><priority>lots</priority><show>sleeping</show></presence>",
        f"<message to='{to}' type='chat'><x xmlns='jabber:x:oob'><url>file:///etc/passwd"
        "</url></x><x xmlns='jabber:x:conference'/></message>",
    ]
    for stanza in raw:
        m.client.session.send_raw(stanza)
    huge = "A" * 200_000 + "\u009b2J"
    m.client.send_chat(bob.jid, huge)
    # Nicknames: control characters are refused (by us, and by the server when sent
    # raw); markup and emoji are legal and arrive as they are.
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await b.client.create_room(room, "bob")
    with pytest.raises(XmppError):
        await m.client.join_room(room, "evil\u202e\u009b\u0085nick")
    m.client.session.send_raw(f"<presence to='{room}/evil\u0085\u009bx'><x "
                              "xmlns='http://jabber.org/protocol/muc'/></presence>")
    nasty = "[b red]evil[/] ☠ \\e[31m"
    await m.client.join_room(room, nasty)
    m.client.send_room(room, "hi from a nasty nick")
    m.client.send_chat(bob.jid, "still alive?")

    await until(lambda: b.with_text("still alive?"), what="a normal line after the junk")
    await until(lambda: b.with_text("hi from a nasty nick"), what="room line")
    assert b.client.connected
    assert b.with_text("hi from a nasty nick")[0].sender.name == nasty
    assert nasty in {o.nick for o in b.client.occupants(room)}
    assert len(b.with_text(huge)) == 1
    assert b.with_text("odd") and b.with_text("\u009b31mred\u202e\u007f")
    assert not b.with_text("forged carbon") and not b.with_text("forged archive")
    assert not b.with_text("not a room")
    assert not b.store.lookup("stanza_id", "spoofed", b.client.name)  # empty: not stored
    assert b.client.availability(mallory.jid).availability is Availability.AVAILABLE
    # The client still works both ways.
    b.client.send_chat(mallory.jid, "yes")
    await until(lambda: m.with_text("yes"), what="reply")


async def test_dropped_connection_is_resumed_without_loss(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a, b = await connect(alice), await connect(bob)
    a.client.session.abort()  # the network goes away under the client
    b.client.send_chat(alice.jid, "while your line was down")
    a.client.send_chat(bob.jid, "typed while offline")
    await until(lambda: any(e.state == "resumed" for e in a.of(XmppConnectionChanged)),
                timeout=15, what="stream resumed (XEP-0198)")
    await until(lambda: a.with_text("while your line was down") and
                b.with_text("typed while offline"), what="both lines")
    await a.client.catch_up()
    assert len(a.with_text("while your line was down")) == 1
    assert len(b.with_text("typed while offline")) == 1
    sent = a.with_text("typed while offline")[0]
    await until(lambda: a.store.get_message(sent.id).delivery is DeliveryState.DELIVERED,
                what="receipt after resumption")


async def test_catch_up_from_the_archive_gets_what_another_client_received(
        world, connect, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    desk_data = tmp_path / "desk"
    desk = await connect(alice, resource="desk", data=desk_data)
    phone = await connect(alice, resource="phone")
    b = await connect(bob)
    b.client.send_chat(alice.jid, "seen by both")
    await until(lambda: desk.with_text("seen by both"), what="first line")
    await desk.client.stop()
    desk.store.close()

    texts = [f"only the phone was on {i}" for i in range(130)]  # more than one MAM page
    for text in texts:
        b.client.send_chat(alice.jid, text)
    await until(lambda: all(phone.with_text(t) for t in texts), timeout=20, what="phone")

    desk2 = await connect(alice, resource="desk", data=desk_data)
    for text in texts:
        assert len(desk2.with_text(text)) == 1, text
    assert len(desk2.with_text("seen by both")) == 1
    assert {e.source for e in desk2.of(MessageReceived)} == {"archive"}
    assert not [m for m in desk2.messages() if m.delivery is DeliveryState.FAILED]


async def test_wrong_password_fails_once_and_does_not_retry(world, tmp_path):
    alice = person(world, "alice")
    acct = config_for(world, alice, tmp_path).account(alice.name)
    store = Store.open(tmp_path / "s" / "store.sqlite")
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    client = XmppClient(acct, "not the password", store, bus, max_backoff=0.5)
    with pytest.raises(XmppLoginError, match="login refused"):
        await client.start(timeout=10)
    await asyncio.sleep(1.5)  # long enough for a retry, were there one
    assert not client.connected
    assert not [e for e in events if isinstance(e, XmppConnectionChanged)
                and e.state == "reconnecting"]
    await client.stop()
    store.close()


async def test_a_resend_with_the_same_id_is_stored_once(world, connect):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a, b = await connect(alice), await connect(bob)
    msg_id = f"{uuid.uuid4().hex}@example.test"
    first = a.client.send_chat(bob.jid, "exactly once", msg_id=msg_id)
    again = a.client.send_chat(bob.jid, "exactly once", msg_id=msg_id)  # the outbox retrying
    assert first.id == again.id
    a.client.send_chat(bob.jid, "barrier")  # same stream: arrives after both copies
    await until(lambda: b.with_text("barrier"), what="barrier")
    assert len(b.with_text("exactly once")) == 1 and len(a.with_text("exactly once")) == 1
    assert b.with_text("exactly once")[0].msg_id == msg_id


async def test_lines_said_before_a_conversation_moved_stay_where_they_were_said(
        world, connect, running, tmp_path):
    """This device moved the chat with bob into another conversation (a handoff
    binds it), and only then reads from the archive what was said before: those
    lines, which carried no thread, stay in the chat they were said in; what comes
    after the move goes to the new conversation."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    bob_x.send(alice.jid, "Coffee at 3?")
    bob_x.send(alice.jid, "Or 4?")
    await asyncio.sleep(1.5)  # archive stamps are whole seconds
    data = tmp_path / "fresh"
    state = XmppState.load(data / "xmpp" / f"{alice.name}.json")
    state.set_thread(bob.jid, "launch@mail.test", time.time())

    a = await connect(alice, data=data)  # everything so far comes from the archive
    await until(lambda: a.with_text("Or 4?"), what="the catch-up")
    where = {m.text: m.thread_id for m in a.messages()}
    assert where["Coffee at 3?"] == where["Or 4?"] != "launch@mail.test"
    # The conversation goes on where it moved to, both ways.
    bob_x.send(alice.jid, "QA signs off tomorrow")
    await until(lambda: a.with_text("QA signs off tomorrow"), what="a live line")
    assert a.with_text("QA signs off tomorrow")[0].thread_id == "launch@mail.test"
    assert a.client.send_chat(bob.jid, "Great").thread_id == "launch@mail.test"
