"""Sending email through the outbox against the real SMTP server and Dovecot."""

from __future__ import annotations

import time
import uuid
from email import message_from_bytes, policy

import pytest

from bridge.mail.compose import build_email, reply_headers
from bridge.mail.mime import parse_message
from bridge.mail.send import MailSender
from bridge.model import DeliveryState, Party

pytestmark = pytest.mark.servers


def inbox_raw(person, subject: str, timeout: float = 10.0) -> bytes:
    client = person.imap()
    try:
        client.select_folder("INBOX", readonly=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            uids = client.search(["SUBJECT", subject])
            if uids:
                return client.fetch(uids[-1:], [b"BODY.PEEK[]"])[uids[-1]][b"BODY[]"]
            time.sleep(0.05)
            client.noop()
    finally:
        client.logout()
    raise AssertionError(f"{subject!r} never arrived for {person.account.email}")


def sender_for(person) -> MailSender:
    return MailSender(person.config, lambda: person.account.password, person.store,
                      append_sent=lambda raw: person.sync.append("Sent", raw))


def test_reply_all_lands_threaded_with_attachment_bytes_and_sent_copy(world, people):
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    first_id = f"{uuid.uuid4().hex}@example.test"
    first = build_email(Party(bob.account.email, "Bob"),
                        [Party(alice.account.email, "Alice", "to")],
                        [Party(carol.account.email, "Carol", "cc")],
                        "Budget 2027", "Numbers attached soon.\n", msg_id=first_id)
    bob_out = sender_for(bob)
    bob_out.queue(first, first_id)
    assert [r.state for r in bob_out.flush()] == ["sent"]
    original = parse_message(inbox_raw(alice, "Budget 2027"))

    r = reply_headers(original, alice.account.email, reply_all=True)
    assert [p.address for p in r.to] == [bob.account.email]
    assert [p.address for p in r.cc] == [carol.account.email]
    data = bytes(range(256)) * 64
    reply_id = f"{uuid.uuid4().hex}@example.test"
    reply = build_email(Party(alice.account.email, "Alice"), r.to, r.cc, r.subject,
                        "Here they are.\n", msg_id=reply_id, in_reply_to=r.in_reply_to,
                        references=r.references,
                        attachments=[("budget.xlsx", "application/octet-stream", data)])
    out = sender_for(alice)
    outbox_id = out.queue(reply, reply_id)
    assert out.store.outbox_get(outbox_id).state is DeliveryState.QUEUED
    [result] = out.flush()
    assert result.state == "sent"

    for person in (bob, carol):
        got = message_from_bytes(inbox_raw(person, "Re: Budget 2027"), policy=policy.default)
        assert got["Message-ID"] == f"<{reply_id}>"
        assert got["In-Reply-To"] == f"<{first_id}>"
        assert f"<{first_id}>" in got["References"]
        [att] = list(got.iter_attachments())
        assert att.get_filename() == "budget.xlsx" and att.get_content() == data
    # Alice's own copy is in her Sent folder, and the store knows it was sent.
    alice.sync.sync_folder("Sent")
    sent = alice.store.folder_messages(alice.account.name, "Sent")
    assert [m.msg_id for m in sent] == [reply_id]
    stored = alice.store.find_by_msg_id(alice.account.name, reply_id)
    assert stored.delivery is DeliveryState.SENT
    events = [e.event for e in alice.store.outbox_history(outbox_id)]
    assert "sent" in events and "filed" in events


def test_email_waits_in_the_outbox_while_smtp_is_down_and_goes_once_back(world, people):
    alice, bob = people("alice"), people("bob")
    msg_id = f"{uuid.uuid4().hex}@example.test"
    mail = build_email(Party(alice.account.email, "Alice"),
                       [Party(bob.account.email, "Bob", "to")], [], "While you were down",
                       "Queued.\n", msg_id=msg_id)
    out = sender_for(alice)
    world.stop_smtp()
    try:
        outbox_id = out.queue(mail, msg_id)
        [result] = out.flush()
        assert result.state == "queued" and "unreachable" in result.detail
        item = out.store.outbox_get(outbox_id)
        assert item.state is DeliveryState.QUEUED and item.next_attempt > time.time()
        assert out.flush() == []  # not due yet: no hammering of a dead server
    finally:
        world.start_smtp()
    [result] = out.flush(now=time.time() + 3600)
    assert result.state == "sent"
    assert out.flush(now=time.time() + 7200) == []  # sent once, not again
    got = message_from_bytes(inbox_raw(bob, "While you were down"), policy=policy.default)
    assert got["Message-ID"] == f"<{msg_id}>"
    log = [e.event for e in out.store.outbox_history(outbox_id)]
    assert log.count("sent") == 1 and "retry later" in log


def test_refused_recipient_fails_with_the_servers_words(world, people):
    alice = people("alice")
    msg_id = f"{uuid.uuid4().hex}@example.test"
    mail = build_email(Party(alice.account.email, "Alice"),
                       [Party("nobody@example.test", "", "to")], [], "Hello?", "x\n",
                       msg_id=msg_id)
    out = sender_for(alice)
    outbox_id = out.queue(mail, msg_id)
    [result] = out.flush()
    assert result.state == "failed"
    assert "nobody@example.test" in result.detail and "550" in result.detail
    assert out.store.outbox_get(outbox_id).state is DeliveryState.FAILED


def test_an_email_taken_by_the_chat_fallback_is_not_sent_too(world, people):
    """The mail worker lists a due row, then the move to chat claims it: the
    worker's claim fails and nothing goes to SMTP (the race the claim closes)."""
    alice, bob = people("alice"), people("bob")
    msg_id = f"{uuid.uuid4().hex}@example.test"
    mail = build_email(Party(alice.account.email, "Alice"),
                       [Party(bob.account.email, "Bob", "to")], [], "Raced",
                       "Which way?\n", msg_id=msg_id)
    out = sender_for(alice)
    outbox_id = out.queue(mail, msg_id)
    item = out.store.outbox_get(outbox_id)
    out.store.outbox_update(outbox_id, DeliveryState.FELL_BACK_TO_IM)
    result = out._send(item.id, item.msg_id, item.payload, item.attempts)
    assert result.state == "fell-back-to-im"
    assert out.flush() == []
    assert out.store.outbox_get(outbox_id).attempts == 0
    assert [e.event for e in out.store.outbox_history(outbox_id)] == ["created", "state"]
