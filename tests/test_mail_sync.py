"""IMAP sync against the real Dovecot: first sync, resync, flags, vanished, bodies."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from bridge.mail.compose import build_email
from bridge.mail.connect import open_smtp
from bridge.mail.sync import FolderChanged, MailSync, SyncProgress
from bridge.model import Party
from tests.conftest import Person

pytestmark = pytest.mark.servers
CORPUS = Path(__file__).parent / "corpus"


def send(sender: Person, to: list[Person], subject: str, text: str = "hello\n", *,
         attachments=(), in_reply_to=None, references=()) -> str:
    """Send an email over the harness's SMTP server, as `sender`'s client would."""
    msg_id = f"{uuid.uuid4().hex}@example.test"
    me = sender.account
    mail = build_email(Party(me.email, me.display_name),
                       [Party(p.account.email, p.account.display_name, "to") for p in to], [],
                       subject, text, msg_id=msg_id, in_reply_to=in_reply_to,
                       references=references, attachments=attachments)
    smtp = open_smtp(sender.config.smtp, me.email, me.password)
    try:
        smtp.send_message(mail)
    finally:
        smtp.quit()
    return msg_id


def wait_inbox(person: Person, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    client = person.imap()
    try:
        while time.monotonic() < deadline:
            if client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] >= count:
                return
            time.sleep(0.05)
    finally:
        client.logout()
    raise AssertionError(f"INBOX of {person.account.email} never reached {count}")


def test_first_sync_then_resync_sees_new_flags_and_vanished(world, people):
    alice, bob = people("alice"), people("bob")
    root = send(bob, [alice], "Plans for Friday")
    send(bob, [alice], "Re: Plans for Friday",
         in_reply_to=root, references=[root])
    send(bob, [alice], "Unrelated")
    wait_inbox(alice, 3)

    folders = alice.sync.sync_folders()
    assert {"INBOX", "Sent", "Drafts", "Trash"} <= set(folders)
    roles = {f.name: f.role for f in alice.store.folders(alice.account.name)}
    assert roles["INBOX"] == "inbox" and roles["Sent"] == "sent" and roles["Trash"] == "trash"
    inbox = {f.name: f for f in alice.store.folders(alice.account.name)}["INBOX"]
    assert (inbox.total, inbox.unread) == (3, 3)
    # Those counts came from one LIST ... RETURN (STATUS) round trip (RFC 5819).
    listing, counts = MailSync._list_status(alice.sync.connect())
    assert counts["INBOX"] == {b"MESSAGES": 3, b"UNSEEN": 3}
    assert {name for _f, _s, name in listing} >= {"INBOX", "Sent"}

    result = alice.sync.sync_folder("INBOX")
    assert result.full and result.new == 3
    threads = alice.store.list_threads(alice.account.name)
    assert sorted(t.message_count for t in threads) == [1, 2]
    friday = next(t for t in threads if t.message_count == 2)
    assert friday.subject == "Plans for Friday" and friday.unread_count == 2
    assert any(isinstance(e, SyncProgress) and e.phase == "done" for e in alice.events)

    # Another client reads one message and deletes another.
    other = alice.imap()
    try:
        other.select_folder("INBOX")
        uids = sorted(other.search(["ALL"]))
        other.add_flags([uids[0]], [b"\\Seen", b"\\Flagged"])
        other.delete_messages([uids[2]])
        other.expunge()
    finally:
        other.logout()
    send(bob, [alice], "One more")
    wait_inbox(alice, 3)

    again = alice.sync.sync_folder("INBOX")
    assert not again.full
    assert (again.new, again.flags_changed, again.vanished) == (1, 1, 1)
    subjects = sorted(m.subject for m in alice.store.folder_messages(
        alice.account.name, "INBOX", limit=10))
    assert subjects == ["One more", "Plans for Friday", "Re: Plans for Friday"]
    read = alice.store.folder_messages(alice.account.name, "INBOX", limit=10)
    seen = [m for m in read if "\\Seen" in m.flags]
    assert len(seen) == 1 and "\\Flagged" in seen[0].flags
    friday = next(t for t in alice.store.list_threads(alice.account.name)
                  if t.message_count == 2)
    assert friday.unread_count == 1
    assert any(isinstance(e, FolderChanged) and e.new == 1 for e in alice.events)

    # Nothing changed: nothing to do.
    quiet = alice.sync.sync_folder("INBOX")
    assert (quiet.new, quiet.flags_changed, quiet.vanished) == (0, 0, 0)


def _append(client, folder: str, subject: str, tag: str) -> None:
    client.append(folder, f"From: b@example.test\r\nSubject: {subject}\r\n"
                  f"Message-ID: <{tag}@x>\r\n\r\nx\r\n".encode())


def test_resync_of_the_folder_kept_open_sees_what_another_client_did(world, people):
    alice = people("alice")
    me = alice.account.name
    other = alice.imap()
    try:
        for i in range(4):
            _append(other, "INBOX", f"m{i}", f"open{i}.{me}")
        assert alice.sync.sync_folder("INBOX").new == 4
        # The worker's state after a pass: INBOX stays open on the sync connection.
        assert alice.sync.is_selected("INBOX")

        other.select_folder("INBOX")
        uids = sorted(other.search(["ALL"]))
        other.add_flags([uids[0]], [b"\\Seen"])
        other.add_flags([uids[1]], [b"$Important"])
        other.delete_messages([uids[3]])
        other.expunge()  # reported to us as VANISHED
        _append(other, "INBOX", "m4", f"open4.{me}")
        again = alice.sync.sync_folder("INBOX")
        assert not again.full
        assert (again.new, again.flags_changed, again.vanished) == (1, 2, 1)
        flags = {m.subject: m.flags for m in alice.store.folder_messages(me, "INBOX")}
        assert sorted(flags) == ["m0", "m1", "m2", "m4"]
        assert "\\Seen" in flags["m0"] and "$Important" in flags["m1"]
        assert sum(t.unread_count for t in alice.store.list_threads(me)) == 3
        quiet = alice.sync.sync_folder("INBOX")
        assert (quiet.new, quiet.flags_changed, quiet.vanished) == (0, 0, 0)

        # IDLE on the open folder hears of changes and swallows what the server
        # said; the resync after it still sees all of them.
        got: list[bool] = []
        waiter = threading.Thread(target=lambda: got.append(alice.sync.idle_once(timeout=10)))
        waiter.start()
        time.sleep(0.3)
        other.remove_flags([uids[0]], [b"\\Seen"])
        other.delete_messages([uids[2]])
        other.expunge()
        waiter.join(15)
        assert got == [True]
        assert alice.sync.is_selected("INBOX")
        after_idle = alice.sync.sync_folder("INBOX")
        assert (after_idle.new, after_idle.flags_changed, after_idle.vanished) == (0, 1, 1)
        flags = {m.subject: m.flags for m in alice.store.folder_messages(me, "INBOX")}
        assert sorted(flags) == ["m0", "m1", "m4"] and "\\Seen" not in flags["m0"]
        quiet = alice.sync.sync_folder("INBOX")
        assert (quiet.new, quiet.flags_changed, quiet.vanished) == (0, 0, 0)

        # Something else selects another folder on the same connection (as the
        # outbox does): INBOX is opened again, and nothing is missed or doubled.
        alice.sync.connect().select_folder("Sent")
        assert not alice.sync.is_selected("INBOX")
        _append(other, "INBOX", "m5", f"open5.{me}")
        other.add_flags([uids[1]], [b"\\Flagged"])
        reopened = alice.sync.sync_folder("INBOX")
        assert (reopened.new, reopened.flags_changed, reopened.vanished) == (1, 1, 0)
        assert sorted(m.subject for m in alice.store.folder_messages(me, "INBOX")) == [
            "m0", "m1", "m4", "m5"]
    finally:
        other.logout()
    assert alice.store.count_messages(me) == 4


def test_uidvalidity_change_refetches_cleanly(world, people):
    alice = people("alice")
    client = alice.imap()
    try:
        client.create_folder("Projects")
        for i in range(3):
            client.append("Projects", f"From: b@example.test\r\nSubject: p{i}\r\n"
                          f"Message-ID: <p{i}.{alice.account.name}@x>\r\n\r\nx\r\n".encode())
    finally:
        client.logout()
    assert alice.sync.sync_folder("Projects").new == 3
    before = alice.store.folders(alice.account.name)

    client = alice.imap()
    try:
        client.delete_folder("Projects")
        client.create_folder("Projects")
        client.append("Projects", f"From: b@example.test\r\nSubject: p9\r\n"
                      f"Message-ID: <p9.{alice.account.name}@x>\r\n\r\nx\r\n".encode())
    finally:
        client.logout()
    result = alice.sync.sync_folder("Projects")
    assert result.full
    after = {f.name: f for f in alice.store.folders(alice.account.name)}["Projects"]
    old = {f.name: f for f in before}["Projects"]
    assert after.uidvalidity != old.uidvalidity
    subjects = [m.subject for m in alice.store.folder_messages(alice.account.name, "Projects")]
    assert subjects == ["p9"]


def test_body_fetched_on_demand_keeps_attachment_bytes_and_unread(world, people):
    alice, bob = people("alice"), people("bob")
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 20
    send(bob, [alice], "Report", "See attached.\n",
         attachments=[("report.pdf", "application/pdf", pdf)])
    wait_inbox(alice, 1)
    alice.sync.sync_folder("INBOX")
    [msg] = alice.store.folder_messages(alice.account.name, "INBOX")
    assert msg.text == ""
    alice.sync.fetch_body(msg.id)
    full = alice.store.get_message(msg.id)
    assert "See attached." in full.text
    [att] = full.attachments
    assert att.filename == "report.pdf"
    assert alice.store.blob_path(att.sha256).read_bytes() == pdf
    downloads = Path(alice.store.path).parent / "downloads"
    first = alice.sync.save_attachment(msg.id, 0, downloads)
    second = alice.sync.save_attachment(msg.id, 0, downloads)
    assert first.name == "report.pdf" and second.name == "report (1).pdf"
    assert first.read_bytes() == pdf == second.read_bytes()
    # BODY.PEEK: reading the body here does not mark it read on the server.
    client = alice.imap()
    try:
        client.select_folder("INBOX", readonly=True)
        assert all(b"\\Seen" not in f for f in client.get_flags(client.search()).values())
    finally:
        client.logout()


def test_idle_reports_new_mail(world, people):
    alice, bob = people("alice"), people("bob")
    alice.sync.sync_folder("INBOX")
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(alice.sync.idle_once(timeout=10)))
    waiter.start()
    time.sleep(0.3)
    send(bob, [alice], "Ping")
    waiter.join(15)
    assert got == [True]
    assert alice.sync.sync_folder("INBOX").new == 1


def test_hostile_corpus_is_stored_without_stopping_the_sync(world, people):
    alice = people("alice")
    files = sorted(CORPUS.glob("*.eml"))
    assert len(files) >= 12
    client = alice.imap()
    try:
        client.create_folder("Hostile")
        for f in files:
            data = f.read_bytes() or b"\r\n"
            client.append("Hostile", data)
        client.append("Hostile", b"Subject: after the hostile ones\r\n\r\nfine\r\n")
    finally:
        client.logout()
    result = alice.sync.sync_folder("Hostile")
    stored = alice.store.folder_messages(alice.account.name, "Hostile", limit=100)
    assert len(alice.store.folder_uids(alice.account.name, "Hostile")) == len(files) + 1
    assert result.new >= 1
    assert any(m.subject == "after the hostile ones" for m in stored)
    for m in stored:
        assert "\x1b" not in m.subject and "\x1b" not in m.sender.name
        alice.sync.fetch_body(m.id)  # full parse of each never raises


def append(person: Person, folder: str, sender: str, to: str, subject: str, date: str,
           body: str = "hello", attachment: bool = False) -> None:
    msg_id = f"<{uuid.uuid4().hex}@example.test>"
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: {msg_id}\r\nMIME-Version: 1.0\r\n")
    if attachment:
        raw = (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
               f"Content-Type: text/plain\r\n\r\n{body}\r\n--b\r\nContent-Type: "
               'application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n'
               "\r\n%PDF\r\n--b--\r\n")
    else:
        raw = head + f"Content-Type: text/plain\r\n\r\n{body}\r\n"
    client = person.imap()
    try:
        client.append(folder, raw.encode())
    finally:
        client.logout()


def test_search_words_and_field_filters(world, people):
    from bridge.store import QueryError
    alice = people("alice")
    a = alice.account.name
    append(alice, "INBOX", "Bob Stone <bob@example.test>", "alice@example.test",
           "Budget for the offsite", "Mon, 05 Jan 2026 10:00:00 +0000", attachment=True)
    append(alice, "INBOX", "Carol <carol@corp.test>", "alice@example.test, dave@corp.test",
           "Offsite venue", "Tue, 10 Feb 2026 10:00:00 +0000")
    append(alice, "INBOX", "Mallory <m@evil.test>", "alice@example.test",
           "\x1b]52;c;ZXZpbA==\x07 budget NEAR(\"x\" OR (", "Wed, 11 Mar 2026 10:00:00 +0000")
    alice.sync.sync_folder("INBOX")
    while alice.store.index_backlog():
        pass

    def subjects(q: str) -> list[str]:
        return [m.subject for m in alice.store.search(q, account=a)]

    assert subjects("offsite") == ["Offsite venue", "Budget for the offsite"]
    assert subjects("offsite from:bob") == ["Budget for the offsite"]
    assert subjects("from:Stone") == ["Budget for the offsite"]
    assert subjects("to:dave@corp.test") == ["Offsite venue"]
    assert subjects('subject:"offsite venue"') == ["Offsite venue"]
    assert subjects("has:attachment") == ["Budget for the offsite"]
    assert subjects("offsite after:2026-02-01") == ["Offsite venue"]
    assert subjects("before:2026-02-01") == ["Budget for the offsite"]
    assert subjects("in:INBOX is:unread budget") and subjects("in:Sent") == []
    # Hostile text is only ever words, never FTS or SQL syntax.
    assert len(subjects('NEAR("x" OR (')) == 1
    assert subjects("from:%") == [] and subjects("subject:_") == []
    with pytest.raises(QueryError, match="2026-01-31"):
        alice.store.search("after:yesterday")


def test_connection_cut_mid_sync_resumes_and_store_stays_consistent(world, people,
                                                                     monkeypatch):
    import bridge.mail.sync as sync_mod
    from bridge.mail.imap_fetch import FetchError
    alice = people("alice")
    client = alice.imap()
    try:
        for i in range(40):
            client.append("INBOX", f"From: b@example.test\r\nSubject: m{i}\r\n"
                          f"Message-ID: <cut{i}.{alice.account.name}@x>\r\n\r\nx\r\n".encode())
    finally:
        client.logout()
    monkeypatch.setattr(sync_mod, "FIRST_SCREEN", 5)
    monkeypatch.setattr(sync_mod, "BATCH", 10)
    real = sync_mod.stream_fetch
    calls = {"n": 0}

    def cut_on_third(client, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            # The server hangs up in the middle of a batch: the socket dies under us.
            gen = real(client, *args, **kwargs)
            yield next(gen)
            client._imap.sock.shutdown(2)
            yield from gen
            return
        yield from real(client, *args, **kwargs)
    monkeypatch.setattr(sync_mod, "stream_fetch", cut_on_third)
    with pytest.raises((FetchError, OSError)):
        alice.sync.sync_folder("INBOX")
    stored = alice.store.folder_uids(alice.account.name, "INBOX")
    assert 5 <= len(stored) < 40  # what came before the cut is kept
    folder = {f.name: f for f in alice.store.folders(alice.account.name)}["INBOX"]
    assert folder.uidnext is None  # the pass did not finish, so it is not marked done

    result = alice.sync.sync_folder("INBOX")  # logs in afresh and picks up the rest
    assert result.new == 40 - len(stored)
    subjects = sorted(m.subject for m in alice.store.folder_messages(
        alice.account.name, "INBOX", limit=100))
    assert subjects == sorted(f"m{i}" for i in range(40))
    threads = alice.store.list_threads(alice.account.name, limit=100)
    assert sum(t.message_count for t in threads) == 40


def _wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("use_idle", [True, False], ids=["idle", "polling"])
def test_worker_keeps_the_inbox_current(world, people, use_idle):
    from bridge.events import EventBus
    from bridge.mail.worker import MailWorker
    alice, bob = people("alice"), people("bob")
    events: list = []
    bus = EventBus()
    bus.subscribe(events.append)
    worker = MailWorker(alice.config, lambda service: alice.account.password, alice.store,
                        bus, poll=0.5, use_idle=use_idle)
    worker.start()
    try:
        assert _wait(lambda: worker.passes >= 1)
        send(bob, [alice], "Pushed to you")
        assert _wait(lambda: any(m.subject == "Pushed to you" for m in
                                 alice.store.folder_messages(alice.account.name, "INBOX")))
        # The event follows the store write, from the worker's thread.
        assert _wait(lambda: any(isinstance(e, FolderChanged) and e.new == 1
                                 for e in list(events)))
    finally:
        worker.stop()
    assert not worker.is_alive()


def test_header_row_is_what_the_header_objects_store():
    from bridge.mail.imap_fetch import FetchedHeader
    from bridge.mail.sync import header_row, headers_from_fetch
    from bridge.store import Store
    own = frozenset({"alice@example.test"})
    raws = [f.read_bytes() for f in sorted(CORPUS.glob("*.eml"))] + [
        b'From: Alice <alice@example.test>\r\nTo: "Doe, J" <j@x.test>, k@x.test\r\n'
        b'Date: Mon, 05 Jan 2026 10:00:00 +0000\r\nReferences: <a"b@x> <c@x>\r\n\r\n']
    for raw in raws:
        for flags in (frozenset(), frozenset({"\\Seen", "$Junk"})):
            mine = header_row("a", "INBOX", 7, flags, raw, own)
            theirs = Store.email_header_row(
                "a", "INBOX", headers_from_fetch(FetchedHeader(7, flags, 0, 0, raw), own))
            # A message without a readable Date is placed at the time it was read.
            assert mine[:5] + mine[6:] == theirs[:5] + theirs[6:]
            assert abs(mine[5] - theirs[5]) < 60



def test_the_line_split_reads_headers_as_the_field_regex_does():
    # Headers without folded lines take a line split; one folded field (never
    # read) sends the same header through the field regex instead.
    from bridge.mail.mime import parse_headers
    raws = [
        b'From: Alice <alice@example.test>\r\nTo: "Doe, J" <j@x.test>, k@x.test\r\n'
        b"Date: Mon, 05 Jan 2026 10:00:00 +0000\r\nMessage-ID: <m1@x>\r\n\r\n",
        b"Subject : spaced\r\nFROM\t: a@b.test\r\nsubject: second\r\nX_Bad: 1\r\n\r\n",
        b"From: a@b.test\nTo: c@d.test\nSubject: bare LF\nDate: 5 Jan 2026 10:00 +0100\n\n",
        b" Subject: leading space\r\nSubject\r\nFrom: a@b.test\rTo: c@d.test\r\n\r\n",
        "\u212aey: kelvin\r\nFrom: a@b.test\r\nMessage-Id: <m2@x>\r\n\r\n".encode(),
    ]
    for raw in raws:
        block = raw[: raw.index(b"\n\r\n" if b"\n\r\n" in raw else b"\n\n") + 1]
        folded = block + b"X-Folded: one\r\n two\r\n\r\n"
        assert parse_headers(raw) == parse_headers(folded), raw


def _fill(person: Person, n: int, tag: str) -> None:
    client = person.imap()
    try:
        for i in range(n):
            client.append("INBOX", f"From: b{i % 3}@example.test\r\nTo: {person.account.email}, "
                          f"c{i % 4}@example.test\r\nSubject: {tag} m{i}\r\n"
                          f"Message-ID: <{tag}{i}.{person.account.name}@x>\r\n"
                          + (f"References: <{tag}0.{person.account.name}@x>\r\n" if i else "")
                          + "\r\nx\r\n")
    finally:
        client.logout()


def test_bulk_sync_through_the_parser_process_stores_the_same(world, people, monkeypatch):
    import bridge.mail.sync as sync_mod
    alice = people("alice")
    _fill(alice, 30, "bulk")
    monkeypatch.setattr(sync_mod, "FIRST_SCREEN", 5)
    monkeypatch.setattr(sync_mod, "BATCH", 7)
    monkeypatch.setattr(sync_mod, "WORKER_MIN", 10)
    result = alice.sync.sync_folder("INBOX")
    assert result.new == 30
    assert alice.sync._parser_process is not None  # the backfill went through it
    name = alice.account.name
    while alice.store.index_backlog():
        pass
    messages = alice.store.folder_messages(name, "INBOX", limit=100)
    assert sorted(m.subject for m in messages) == sorted(f"bulk m{i}" for i in range(30))
    for m in messages:
        assert [p.address for p in m.recipients] == [alice.account.email,
                                                     f"c{int(m.subject[6:]) % 4}@example.test"]
    threads = alice.store.list_threads(name, limit=10)
    assert [t.message_count for t in threads] == [30]
    assert len(alice.store.search("bulk", account=name, limit=100)) == 30
    alice.sync.close()
    assert alice.sync._parser_process is None


def test_cut_during_a_bulk_sync_through_the_parser_process_resumes(world, people,
                                                                  monkeypatch):
    import bridge.mail.sync as sync_mod
    from bridge.mail.imap_fetch import FetchError
    alice = people("alice")
    _fill(alice, 40, "cut")
    monkeypatch.setattr(sync_mod, "FIRST_SCREEN", 5)
    monkeypatch.setattr(sync_mod, "BATCH", 10)
    monkeypatch.setattr(sync_mod, "WORKER_MIN", 10)
    real = sync_mod.stream_fetch
    calls = {"n": 0}

    def cut_on_third(client, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            gen = real(client, *args, **kwargs)
            yield next(gen)
            client._imap.sock.shutdown(2)
            yield from gen
            return
        yield from real(client, *args, **kwargs)
    monkeypatch.setattr(sync_mod, "stream_fetch", cut_on_third)
    with pytest.raises((FetchError, OSError)):
        alice.sync.sync_folder("INBOX")
    name = alice.account.name
    stored = alice.store.folder_uids(name, "INBOX")
    assert 5 <= len(stored) < 40
    result = alice.sync.sync_folder("INBOX")
    assert result.new == 40 - len(stored)
    assert sorted(m.subject for m in alice.store.folder_messages(name, "INBOX", limit=100)) \
        == sorted(f"cut m{i}" for i in range(40))
    assert sum(t.message_count for t in alice.store.list_threads(name, limit=100)) == 40


def test_a_change_told_inside_another_answer_sends_the_worker_back_to_resync() -> None:
    """Dovecot may tell a flag change, an expunge or new mail inside the answer to
    a SEARCH or FETCH the pass made; the session counts it as told and IDLE will
    not tell it again. Such a line must leave a sign that the worker checks before
    it goes back into IDLE."""
    from types import SimpleNamespace

    from bridge.mail.imap_fetch import note_push
    from bridge.mail.worker import _changed_meanwhile

    def client_after(*lines: bytes) -> SimpleNamespace:
        im = SimpleNamespace(untagged_responses={"READ-ONLY": [b""]})
        for line in lines:
            note_push(im, line)
        return SimpleNamespace(_imap=im)

    assert not _changed_meanwhile(client_after(b"* ESEARCH (TAG \"a1\") UID ALL 1:3\r\n",
                                               b"* OK [HIGHESTMODSEQ 9] Highest\r\n"))
    for told in (b"* 3 FETCH (FLAGS (\\Seen) MODSEQ (9))\r\n", b"* 4 EXISTS\r\n",
                 b"* 2 EXPUNGE\r\n", b"* VANISHED 7\r\n"):
        assert _changed_meanwhile(client_after(told)), told
    # What an EXAMINE answered is the folder's state, not news.
    examined = SimpleNamespace(_imap=SimpleNamespace(untagged_responses={
        "EXISTS": [b"3"], "UIDVALIDITY": [b"17"], "READ-ONLY": [b""]}))
    assert not _changed_meanwhile(examined)


def test_inbox_is_synced_first_whatever_the_server_lists_before_it(world, people):
    """A big Archive the server lists ahead of INBOX must not keep the user's INBOX
    waiting: a pass over every folder does INBOX first (issue 22's first row)."""
    alice = people("alice")
    client = alice.imap()
    try:
        client.create_folder("Aardvark")  # listed before INBOX by name
        client.append("Aardvark", f"From: b@example.test\r\nSubject: old\r\n"
                      f"Message-ID: <old.{alice.account.name}@x>\r\n\r\nx\r\n".encode())
        client.append("INBOX", f"From: b@example.test\r\nSubject: new\r\n"
                      f"Message-ID: <new.{alice.account.name}@x>\r\n\r\nx\r\n".encode())
    finally:
        client.logout()
    listed = alice.sync.sync_folders()
    assert listed.index("Aardvark") < listed.index("INBOX")  # else this proves nothing
    done = [r.folder for r in alice.sync.sync_all()]
    assert done[0] == "INBOX" and set(done) == set(listed)


def test_inbox_is_stored_before_the_folders_are_listed(world, people, monkeypatch):
    """The listing asks the server for every folder's counts, which a server that
    has not indexed a big Archive yet takes long to answer (Dovecot: 0.36 s at
    100,000 messages): INBOX's newest mail is stored before it (issue 22, row 1)."""
    alice = people("alice")
    client = alice.imap()
    try:
        client.create_folder("Aardvark")
        client.append("INBOX", f"From: b@example.test\r\nSubject: first\r\n"
                      f"Message-ID: <first.{alice.account.name}@x>\r\n\r\nx\r\n".encode())
    finally:
        client.logout()
    sync = alice.sync
    seen: list[int] = []
    listing = sync.sync_folders

    def sync_folders() -> list[str]:
        seen.append(len(sync.store.folder_uids(alice.account.name, "INBOX")))
        return listing()

    monkeypatch.setattr(sync, "sync_folders", sync_folders)
    done = [r.folder for r in sync.sync_all()]
    assert seen == [1]
    assert done[0] == "INBOX" and "Aardvark" in done and done.count("INBOX") == 1
    assert {f.name: f.role for f in sync.store.folders(alice.account.name)}["INBOX"] == "inbox"


def test_a_flush_from_another_thread_files_the_sent_copy_off_the_workers_connection(
        world, people):
    """A flush run by another thread (a daemon about to stop: `flush_outbox`)
    files its sent copy on a connection of its own: on the worker's, which sat
    in IDLE, two threads wrote one IMAP stream, the worker's next pass failed
    ("a response that violates the IMAP protocol", a broken TLS record) and a
    reader waited out the 30 s timeout (test_exactly_once's two daemons)."""
    import uuid

    from bridge.events import EventBus, HealthChanged, PushRestarted
    from bridge.mail.compose import build_email
    from bridge.mail.worker import MailWorker
    from bridge.model import Party
    alice, bob = people("alice"), people("bob")
    events: list = []
    bus = EventBus()
    bus.subscribe(events.append)
    worker = MailWorker(alice.config, lambda service: alice.account.password, alice.store,
                        bus, use_idle=True)
    worker.start()
    try:
        assert _wait(lambda: worker.idling)
        for n in range(3):
            msg_id = f"{uuid.uuid4().hex}@example.test"
            mail = build_email(Party(alice.account.email, "Alice"),
                               [Party(bob.account.email, "Bob", "to")], [],
                               f"From the caller's thread {n}", "x\n", msg_id=msg_id)
            assert worker.sender is not None
            worker.sender.queue(mail, msg_id)
            worker.kick()  # the worker leaves IDLE for a pass of its own meanwhile
            worker.flush_outbox()
        assert _wait(lambda: worker.idling and worker.passes >= 2)
    finally:
        worker.stop()
    failed = [e for e in events if isinstance(e, (HealthChanged, PushRestarted))
              and not getattr(e, "ok", False)]
    assert not failed, failed
    client = alice.imap()
    try:
        client.select_folder("Sent", readonly=True)
        subjects = [bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().strip()
                    for v in client.fetch(client.search(["ALL"]),
                                          [b"BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]).values()]
    finally:
        client.logout()
    assert sorted(subjects) == [f"Subject: From the caller's thread {n}" for n in range(3)]
