"""The bridge end to end: a conversation moves from email to chat and back.

alice uses our engine; bob, carol and erin are independent people, read over plain
IMAP (imapclient) and plain XMPP (slixmpp, see tests/harness/plain_xmpp.py), so
what they get is what any other client would show them.
"""

from __future__ import annotations

import os
import uuid

import pytest

from bridge.events import DeliveryChanged, Event
from bridge.handoff import HISTORY_HEAD, TRANSCRIPT_HEAD
from bridge.identity import UnmappedParty
from bridge.mail.send import EmailDelivery
from bridge.model import DeliveryState, Transport
from tests.harness.plain_xmpp import fetch
from tests.harness.servers import MUC_DOMAIN, UPLOAD_DOMAIN
from tests.others import (
    attachment_bytes,
    contacts_toml,
    engine_for,
    person,
    plain,
    send_email,
    until,
    wait_inbox,
)

pytestmark = pytest.mark.servers


async def test_a_thread_moves_from_email_to_chat_and_back(world, tmp_path, running):
    start, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    erin = person(world, "erin")  # email only: no mapping to a JID
    for a, b in ((alice, bob), (alice, carol), (bob, carol)):
        world.befriend(a, b)
    engine = engine_for(world, tmp_path, alice, contacts_toml(bob, carol))
    events: list[Event] = []
    engine.events.subscribe(events.append)
    bob_x = await xmpp(plain(world, bob))
    carol_x = await xmpp(plain(world, carol))
    await start(engine)
    me = alice.name

    # 1. bob emails alice, carol and erin in Cc, with a PDF.
    pdf = b"%PDF-1.4\n" + os.urandom(3000) + b"\n%%EOF\n"
    root = send_email(world, bob, [alice.email], [carol.email, erin.email], "Budget 2027",
                      "Hi all,\nthe budget draft is attached.\n\n-- \nBob, finance",
                      ("budget.pdf", "application/pdf", pdf))
    await until(lambda: engine.store.find_by_msg_id(me, root), what="bob's email synced")
    original = engine.store.find_by_msg_id(me, root)
    assert original is not None and original.thread_id == root

    # An unmapped party is a clear error naming them, and nothing is sent.
    with pytest.raises(UnmappedParty) as refused:
        await engine.reply(original.id, "Let's chat", via="im", reply_all=True)
    assert erin.email in str(refused.value) and bob.email not in str(refused.value)
    assert engine.store.thread_messages(root, me) == [original]

    # 2. alice answers everyone by IM, with the history and the PDF; erin, who has
    # no JID, gets the same words by email in the same thread (mixed reply-all).
    result = await engine.reply(original.id, "Let's settle this in chat.", via="im",
                                reply_all=True, history=True, attachments=["budget.pdf"],
                                mixed=True)
    assert result.room is not None and result.room.endswith("@" + MUC_DOMAIN)
    for who in (bob_x, carol_x):
        await until(lambda who=who: any("budget.pdf" in " ".join(r.oob) or
                                        r.body.endswith("budget.pdf")
                                        for r in who.received if r.mtype == "groupchat"),
                    what=f"the room's messages at {who.jid}")
        room_lines = [r for r in who.received if r.mtype == "groupchat"]
        digest = next(r for r in room_lines if r.body.startswith(HISTORY_HEAD))
        assert "Budget 2027" in digest.body and "the budget draft is attached" in digest.body
        assert "Bob, finance" not in digest.body  # the signature was cut
        assert any(r.body == "Let's settle this in chat." for r in room_lines)
        # The digest comes before the new text.
        texts = [r.body for r in room_lines]
        assert texts.index(digest.body) < texts.index("Let's settle this in chat.")
        link = next(r for r in room_lines if r.oob)
        assert fetch(link.oob[0], str(world.ca_file)) == pdf
        assert {r.thread for r in room_lines} == {root}
        assert all(r.origin_id for r in room_lines)
    leg = await wait_inbox(world, erin, lambda m: m["In-Reply-To"] == f"<{root}>")
    assert "Let's settle this in chat." in leg[0].get_body(("plain",)).get_content()
    assert leg[0]["Subject"] == "Re: Budget 2027"

    # 3. bob answers in the room, from a client that does not echo <thread>.
    bob_x.send(result.room, "Numbers look fine to me.", groupchat=True)
    await until(lambda: any(m.text == "Numbers look fine to me."
                            for m in engine.timeline(me, root)), what="bob's line in the thread")
    timeline = engine.timeline(me, root)
    assert timeline[0].msg_id == root and timeline[0].transport is Transport.EMAIL
    assert {m.transport for m in timeline} == {Transport.EMAIL, Transport.XMPP}
    assert len({m.msg_id for m in timeline}) == len(timeline)
    assert [m.date for m in timeline] == sorted(m.date for m in timeline)

    # bob shares a spreadsheet in the chat.
    sheet = b"year,total\n2027,42\n" + os.urandom(500).hex().encode()
    url = await bob_x.upload(sheet, "numbers.csv", "text/csv", UPLOAD_DOMAIN)
    bob_x.send(result.room, url, groupchat=True, oob=url)
    await until(lambda: any(a.filename == "numbers.csv" for m in engine.timeline(me, root)
                            for a in m.attachments), what="bob's file in the thread")
    bobs_line = next(m for m in engine.timeline(me, root)
                     if m.text == "Numbers look fine to me.")

    # A later chat line in the thread carries no history again: the room has it.
    again = await engine.reply(bobs_line.id, "Agreed, thanks.", via="im", history=True)
    assert again.room == result.room and [m.text for m in again.chat] == ["Agreed, thanks."]
    await until(lambda: "Agreed, thanks." in carol_x.bodies(), what="the second line")
    # (Counted by message id: a client joining a room may get a line live and again
    # in the room's history replay.)
    assert len({r.origin_id for r in carol_x.received if r.body.startswith(HISTORY_HEAD)}) == 1

    # 4. alice moves the thread back to email with the transcript and bob's file.
    back = await engine.reply(bobs_line.id, "Summary for the record.", via="email",
                              reply_all=True, history=True, attachments=["numbers.csv"])
    assert back.emails and not back.unmapped
    for who in (bob, carol):
        got = await wait_inbox(world, who, lambda m: "Summary for the record." in str(
            m.get_body(("plain",)).get_content()))
        mail = got[0]
        assert root in mail["References"]
        assert mail["Subject"] == "Re: Budget 2027"
        body = mail.get_body(("plain",)).get_content()
        assert body.index("Summary for the record.") < body.index(TRANSCRIPT_HEAD)
        assert "Numbers look fine to me." in body
        files = {p.get_filename(): attachment_bytes(p) for p in mail.iter_attachments()}
        assert files == {"numbers.csv": sheet}
    # "sent" once SMTP took it, as an event and as the stored state.
    await until(lambda: any(isinstance(e, EmailDelivery) and e.state == "sent"
                            and e.msg_id == back.email_ids[0] for e in events))
    sent = engine.store.find_by_msg_id(me, back.email_ids[0])
    assert sent is not None and sent.delivery is DeliveryState.SENT
    assert sent.thread_id == root  # the email continues the same conversation
    # The chat messages alice sent were confirmed by the server.
    assert any(isinstance(e, DeliveryChanged) for e in events)


async def test_a_one_to_one_chat_goes_to_email_with_its_thread(world, tmp_path, running):
    """A thread born in chat: the email points back to the chat's thread id."""
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    engine = await start(engine_for(world, tmp_path, alice, contacts_toml(bob)))
    bob_x = await xmpp(plain(world, bob))
    bob_x.send(alice.jid, "Can you send me the minutes by mail?")
    await until(lambda: engine.search("minutes"), what="bob's chat line")
    line = engine.search("minutes")[0]
    result = await engine.reply(line.id, "Here they are.", via="email", history=True)
    got = await wait_inbox(world, bob, lambda m: "Here they are." in
                           m.get_body(("plain",)).get_content())
    assert got[0]["In-Reply-To"] == f"<{line.thread_id}>"
    assert "Can you send me the minutes by mail?" in got[0].get_body(("plain",)).get_content()
    # Back in alice's timeline, the email joins the chat's conversation.
    assert [m.transport for m in engine.timeline(alice.name, line.thread_id)] == \
        [Transport.XMPP, Transport.EMAIL]
    assert result.email_ids[0] == engine.timeline(alice.name, line.thread_id)[-1].msg_id


async def test_a_domain_rule_maps_an_email_to_a_chat(world, tmp_path, running):
    """dave's mail is at corp.test, his chat at chat.corp.test: a rule joins them."""
    start, xmpp = running
    alice = person(world, "alice")
    local = f"dave{uuid.uuid4().hex[:6]}"
    dave = world.add_account(local, email=f"{local}@corp.test", jid=f"{local}@chat.corp.test")
    world.befriend(alice, dave)
    rule = '\n[[domain_rules]]\nemail = "*@corp.test"\njid = "{local}@chat.corp.test"\n'
    engine = await start(engine_for(world, tmp_path, alice, rule))
    dave_x = await xmpp(plain(world, dave))
    root = send_email(world, dave, [alice.email], [], "Lunch?", "Shall we?")
    await until(lambda: engine.store.find_by_msg_id(alice.name, root))
    original = engine.store.find_by_msg_id(alice.name, root)
    result = await engine.reply(original.id, "Yes, at noon.", via="im")
    assert result.mapped == {dave.email: dave.jid}
    await until(lambda: "Yes, at noon." in dave_x.bodies(alice.jid), what="dave's chat")
    assert next(r for r in dave_x.received if r.body == "Yes, at noon.").thread == root
