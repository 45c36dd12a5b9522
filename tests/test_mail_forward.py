"""Forward, bounce and drafts against the real SMTP server and Dovecot, checked
as the recipient's own client reads its INBOX (imapclient and the stdlib)."""

from __future__ import annotations

import email
import email.policy
import uuid

import pytest

from bridge.config import get_password
from bridge.mail import drafts
from bridge.mail.compose import bounce_bytes, build_email, forward_email
from bridge.mail.connect import open_smtp
from bridge.mail.sync import MailSync
from bridge.model import Party
from bridge.store import Store
from tests.conftest import Person
from tests.swaks import swaks
from tests.test_mail_sync import send, wait_inbox

pytestmark = pytest.mark.servers
PDF = b"%PDF-1.4 minutes of the meeting\n"


def _inbox_mail(person, count: int) -> list[email.message.EmailMessage]:
    wait_inbox(person, count)
    client = person.imap()
    try:
        client.select_folder("INBOX", readonly=True)
        data = client.fetch(client.search(["ALL"]), [b"BODY.PEEK[]"])
        return [email.message_from_bytes(d[b"BODY[]"], policy=email.policy.default)
                for _uid, d in sorted(data.items())]
    finally:
        client.logout()


def _synced_row(person: Person, subject: str) -> int:
    person.sync.sync_folders()
    person.sync.sync_folder("INBOX")
    rows = person.store.folder_messages(person.account.name, "INBOX", limit=50)
    return next(m.id for m in rows if m.subject == subject)


def _submit(person: Person, raw: bytes, to: list[str]) -> None:
    me = person.account
    smtp = open_smtp(person.config.smtp, me.email, me.password)
    try:
        smtp.sendmail(me.email, to, raw)
    finally:
        smtp.quit()


def test_forward_inline_and_as_attachment_keep_the_files(people):
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    send(bob, [alice], "Minutes", "See the minutes.\n",
         attachments=[("minutes.pdf", "application/pdf", PDF)])
    wait_inbox(alice, 1)
    raw, _place = drafts.fetch_raw(alice.sync, _synced_row(alice, "Minutes"))
    me = Party(alice.account.email, "Alice")
    inline = forward_email(raw, me, [carol.account.email], "FYI, Carol.",
                           msg_id=f"{uuid.uuid4().hex}@example.test")
    attached = forward_email(raw, me, [carol.account.email], "Whole thing.",
                             msg_id=f"{uuid.uuid4().hex}@example.test", as_attachment=True)
    for mail in (inline, attached):
        _submit(alice, mail.as_bytes(), [carol.account.email])

    first, second = _inbox_mail(carol, 2)
    assert first["Subject"] == "Fwd: Minutes"
    text = first.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("FYI, Carol.") and "See the minutes." in text
    assert f"From: {bob.account.display_name}" in text or bob.account.email in text
    files = {p.get_filename(): p.get_payload(decode=True) for p in first.iter_attachments()}
    assert files == {"minutes.pdf": PDF}

    assert second["Subject"] == "Fwd: Minutes"
    inner = [p for p in second.iter_attachments() if p.get_content_type() == "message/rfc822"]
    assert len(inner) == 1
    original = inner[0].get_content()
    assert original["Subject"] == "Minutes"
    assert {p.get_filename(): p.get_payload(decode=True)
            for p in original.iter_attachments()} == {"minutes.pdf": PDF}


def test_bounce_keeps_the_original_under_resent_fields(world, people):
    alice, carol = people("alice"), people("carol")
    outsider = world.add_account(f"dave-{uuid.uuid4().hex[:6]}")
    original_id = swaks(world, outsider, alice.account.email, subject="Invoice 7",
                        body="Pay by Friday.")
    wait_inbox(alice, 1)
    raw, _place = drafts.fetch_raw(alice.sync, _synced_row(alice, "Invoice 7"))
    resent_id = f"{uuid.uuid4().hex}@example.test"
    bounced = bounce_bytes(raw, Party(alice.account.email, "Alice"), [carol.account.email],
                           msg_id=resent_id)
    assert bounced.endswith(raw)
    _submit(alice, bounced, [carol.account.email])

    (got,) = _inbox_mail(carol, 1)
    assert got["Message-ID"] == f"<{original_id}>"
    assert outsider.email in got["From"] and got["Subject"] == "Invoice 7"
    assert alice.account.email in got["Resent-From"]
    assert carol.account.email in got["Resent-To"]
    assert got["Resent-Message-ID"] == f"<{resent_id}>" and got["Resent-Date"]
    assert "Pay by Friday." in got.get_body(preferencelist=("plain",)).get_content()


def test_a_draft_saved_here_is_resumed_from_another_machine(people, tmp_path):
    alice = people("alice")
    me = alice.account
    draft = build_email(Party(me.email, "Alice"), ["bob@example.test"], [], "Half done",
                        "Dear Bob, I was going to say", msg_id=f"{uuid.uuid4().hex}@example.test")
    saved = drafts.save(alice.sync, draft)
    assert saved.folder == "Drafts" and saved.subject == "Half done"

    client = alice.imap()
    try:
        client.select_folder("Drafts", readonly=True)
        (uid,) = client.search(["ALL"])
        assert b"\\Draft" in client.get_flags([uid])[uid]
    finally:
        client.logout()

    # Another machine: a fresh store and connection of the same account.
    store = Store.open(tmp_path / "other.db")
    other = MailSync(alice.config, lambda: get_password(alice.config, "imap"), store)
    try:
        (listed,) = drafts.listing(other)
        assert listed.subject == "Half done"
        resumed, place = drafts.load(other, listed.id)
        assert "I was going to say" in resumed.get_body().get_content()
        # Saved again with more text, the old draft goes: one draft, the new one.
        resumed.set_content("Dear Bob, I was going to say yes.\n")
        again = drafts.save(other, resumed, replaces=place)
        assert [m.id for m in drafts.listing(other)] == [again.id]
    finally:
        other.close()
        store.close()
