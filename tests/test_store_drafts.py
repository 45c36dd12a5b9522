"""A draft in a conversation leaves its row as it was: the list's order, its last
sender and its words come from the mail (as mutt and aerc keep postponed mail in
Drafts without touching the inbox's order), and the row counts the draft
(`Thread.draft_count`) so the list can mark it. A conversation of drafts only
(a new message being written) still has a row, at its draft's date. Every way
a draft comes, goes or stops being one keeps the row so: stored whole, by a
header sync of Drafts, a flag, a move, a deletion, a folder's role, and a store
of schema 16 migrated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.model import DRAFT, SEEN, Direction, EmailHeaders, Message, Party, Thread
from bridge.store import Store, schema
from bridge.store.list_window import ListView
from bridge.store.threads import ThreadDelta
from tests.test_store import email

T0 = 1_700_000_000.0
ME = Party("me@example.org", "Me")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "store.sqlite3")
    s.upsert_account("work")
    s.upsert_folder("work", "INBOX", role="inbox")
    s.upsert_folder("work", "Drafts", role="drafts")
    yield s
    s.close()


def draft(n: int, *, thread: str = "root@example.org", folder: str = "Drafts",
          **kw: object) -> Message:
    """Our reply being written, later than the mail it answers."""
    fields: dict[str, object] = dict(
        thread=thread, folder=folder, direction=Direction.OUT, sender=ME,
        recipients=[Party("dave@example.org", "Dave", "to")], text="Half an answer",
        flags=frozenset({DRAFT, SEEN}), date=T0 + 1000 + n)
    fields.update(kw)
    return email(n, **fields)  # type: ignore[arg-type]  # (a dict of mixed values as keywords)


def order(store: Store) -> list[str]:
    return [t.thread_id for t in store.list_threads("work")]


def row(store: Store, thread: str = "root@example.org") -> Thread:
    t = store.get_thread("work", thread)
    assert t is not None
    return t


def test_a_draft_leaves_its_conversation_where_it_was_and_is_counted(store: Store) -> None:
    store.insert_messages([email(1), email(2, thread="other@example.org")])
    assert order(store) == ["other@example.org", "root@example.org"]
    store.insert_messages([draft(3)])
    assert order(store) == ["other@example.org", "root@example.org"]
    t = row(store)
    assert (t.message_count, t.draft_count, t.unread_count) == (2, 1, 1)
    assert (t.last_date, t.last_sender, t.snippet) == (T0 + 1, "Sender 1",
                                                       "body of message 1")
    # The same in the window the app's list reads, and the other row has no draft.
    rows = store.threads_at(ListView("work"), 0, 10)
    assert [(r.thread_id, r.draft_count) for r in rows] == [
        ("other@example.org", 0), ("root@example.org", 1)]
    # New mail still moves it up, the draft still counted.
    store.insert_messages([email(4)])
    assert order(store) == ["root@example.org", "other@example.org"]
    assert (row(store).last_sender, row(store).draft_count) == ("Sender 4", 1)


def test_a_draft_in_one_batch_with_its_mail_and_a_conversation_of_drafts_only(
        store: Store) -> None:
    store.insert_messages([draft(5), email(1), email(2, thread="other@example.org")])
    assert order(store) == ["other@example.org", "root@example.org"]
    assert (row(store).last_date, row(store).draft_count) == (T0 + 1, 1)
    # A new message being written: its row, at the draft's date, saying whose.
    store.insert_messages([draft(6, thread="new@example.org")])
    assert order(store)[0] == "new@example.org"
    t = row(store, "new@example.org")
    assert (t.message_count, t.draft_count, t.last_sender, t.snippet) == (
        1, 1, "Me", "Half an answer")
    # Mail into it, older than the draft: the row takes the mail's date.
    store.insert_messages([email(7, thread="new@example.org", date=T0 - 50)])
    t = row(store, "new@example.org")
    assert (t.last_date, t.last_sender, t.draft_count) == (T0 - 50, "Sender 7", 1)
    assert order(store)[-1] == "new@example.org"


def test_a_header_synced_drafts_folder_and_a_flag_make_drafts(store: Store) -> None:
    store.insert_messages([email(1)])
    # Another client's draft, in Drafts without \Draft (the folder says it).
    h = EmailHeaders(uid=9, msg_id="d9@example.org", thread_id="root@example.org",
                     date=T0 + 900, sender=ME, recipients=[Party("dave@example.org")],
                     subject="Re: Subject 1", message_id_header="d9@example.org",
                     in_reply_to="m1@example.org", references=["m1@example.org"],
                     flags=frozenset({SEEN}), direction=Direction.OUT)
    store.insert_email_headers("work", "Drafts", [h], index=True)
    assert (row(store).last_date, row(store).draft_count) == (T0 + 1, 1)
    # Flagged \Draft in the INBOX (a header sync too): a draft all the same.
    flagged = EmailHeaders(uid=10, msg_id="d10@example.org", thread_id="root@example.org",
                           date=T0 + 950, sender=ME, recipients=[], subject="x",
                           message_id_header="d10@example.org", in_reply_to=None,
                           references=[], flags=frozenset({SEEN, DRAFT}),
                           direction=Direction.OUT)
    store.insert_email_headers("work", "INBOX", [flagged])
    t = row(store)
    assert (t.last_date, t.message_count, t.draft_count) == (T0 + 1, 3, 2)


def test_a_draft_that_goes_or_stops_being_one_is_counted_again(store: Store) -> None:
    store.insert_messages([email(1), email(2, thread="other@example.org"),
                           draft(3, folder="INBOX")])
    d = store.find_by_msg_id("work", "m3@example.org")
    assert d is not None and d.id is not None
    assert (row(store).last_date, row(store).draft_count) == (T0 + 1, 1)
    # \Draft taken off (by another client, through a resync): now it is mail.
    store.update_flags_by_uid("work", "INBOX", {3: [SEEN]})
    assert (row(store).last_date, row(store).draft_count) == (T0 + 1003, 0)
    assert row(store).last_sender == "Me"
    store.set_flags(d.id, {SEEN, DRAFT})
    assert (row(store).last_date, row(store).draft_count) == (T0 + 1, 1)
    # Moved out of the INBOX into Drafts, flag off: still a draft (the folder).
    store.set_flags(d.id, {SEEN})
    store.move_mail_locations("work", [("INBOX", 3, "Drafts", 30)])
    assert (row(store).last_date, row(store).draft_count) == (T0 + 1, 1)
    store.move_mail_locations("work", [("Drafts", 30, "INBOX", 31)])
    assert row(store).draft_count == 0
    store.move_mail_locations("work", [("INBOX", 31, "Drafts", 32)])
    # Drafts' role known late (a folder list read after the mail): counted then.
    store.upsert_folder("work", "Drafts", role="")
    assert row(store).draft_count == 0
    store.upsert_folder("work", "Drafts", role="drafts")
    assert row(store).draft_count == 1
    # Sent (expunged from Drafts): gone, the row as before it.
    store.remove_mail_locations("work", "Drafts", [32])
    t = row(store)
    assert (t.message_count, t.draft_count, t.last_date) == (1, 0, T0 + 1)
    assert order(store) == ["other@example.org", "root@example.org"]


def test_a_draft_sent_leaves_a_row_made_of_mail_in_no_folder_yet(store: Store) -> None:
    """A resumed draft sent: the email in the outbox is in no folder yet (Sent is
    not synced) when the draft is expunged; the row is made of that email (its
    draft test is NULL in SQL, once read as neither draft nor mail: a crash)."""
    store.insert_messages([draft(40, thread="t40@example.org"),
                           email(41, thread="t40@example.org", folder=None, uid=None,
                                 direction=Direction.OUT, sender=ME)])
    store.remove_mail_locations("work", "Drafts", [40])
    t = row(store, "t40@example.org")
    assert (t.message_count, t.draft_count, t.last_sender) == (1, 0, "Me")


# Schema 16's thread row upsert: the newest message, draft or not, made the row.
V16_THREAD_UPSERT = """
INSERT INTO threads (
    account, thread_id, subject, subject_date, first_date, last_date, message_count,
    unread_count, last_sender, snippet, transports)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, thread_id) DO UPDATE SET
    message_count = message_count + excluded.message_count,
    unread_count = unread_count + excluded.unread_count,
    first_date = min(first_date, excluded.first_date),
    subject = CASE WHEN excluded.subject_date IS NOT NULL
                    AND (subject_date IS NULL OR excluded.subject_date < subject_date)
                   THEN excluded.subject ELSE subject END,
    subject_date = CASE WHEN excluded.subject_date IS NOT NULL
                         AND (subject_date IS NULL OR excluded.subject_date < subject_date)
                        THEN excluded.subject_date ELSE subject_date END,
    last_sender = CASE WHEN excluded.last_date >= last_date
                       THEN excluded.last_sender ELSE last_sender END,
    snippet = CASE WHEN excluded.last_date >= last_date
                   THEN excluded.snippet ELSE snippet END,
    last_date = max(last_date, excluded.last_date),
    transports = transports | excluded.transports
"""


def schema_16_threads(m: pytest.MonkeyPatch) -> None:
    """The writers store thread rows as schema 16's did (no draft_count), for a
    test that writes a store of an older schema with them. One message a batch
    then gives exactly schema 16's rows."""
    m.setattr("bridge.store.messages.THREAD_UPSERT", V16_THREAD_UPSERT)
    m.setattr("bridge.store.headers.THREAD_UPSERT", V16_THREAD_UPSERT)
    m.setattr(ThreadDelta, "row", lambda d, account, thread_id: (
        account, thread_id, d.subject, d.subject_date, d.first, d.last, d.count, d.unread,
        d.last_sender, d.snippet, d.transports))


def test_a_store_of_schema_16_counts_its_drafts(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:16])
        schema_16_threads(m)
        with Store.open(path) as old:
            assert old.schema_version == 16
            old.upsert_folder("work", "INBOX", role="inbox")
            old.upsert_folder("work", "Drafts", role="drafts")
            for msg in [email(1), email(2, thread="other@example.org"), draft(3),
                        draft(4, thread="new@example.org")]:
                old.insert_messages([msg])
            # What the list showed then: the draft's date, sender and words.
            assert tuple(old._conn.execute(
                "SELECT last_date, last_sender, snippet FROM threads WHERE thread_id = ?",
                ("root@example.org",)).fetchone()) == (T0 + 1003, "Me", "Half an answer")
    with Store.open(path) as store:
        assert store.schema_version == len(schema.MIGRATIONS) >= 17
        assert order(store) == ["new@example.org", "other@example.org", "root@example.org"]
        t = row(store)
        assert (t.message_count, t.draft_count, t.last_date, t.last_sender, t.snippet) == (
            2, 1, T0 + 1, "Sender 1", "body of message 1")
        t = row(store, "new@example.org")
        assert (t.draft_count, t.last_date, t.last_sender) == (1, T0 + 1004, "Me")
        assert row(store, "other@example.org").draft_count == 0
        # From now on the writers keep it.
        store.insert_messages([draft(5, thread="other@example.org")])
        t = row(store, "other@example.org")
        assert (t.draft_count, t.last_date) == (1, T0 + 2)
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
