"""The header sync indexes as it goes (issue 22, row 3).

A search right after a sync finds what that sync stored, with no indexing step
after it; a sync cut off mid-way leaves the store and the full-text indexes
agreeing (a search finds exactly what was committed); and indexing in the sync's
own transactions stores the same rows as the backlog did.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bridge.model import SEEN, EmailHeaders, Party
from bridge.store import Store, schema
from tests.conftest import Person
from tests.test_store_drafts import schema_16_threads

pytestmark = pytest.mark.servers


def _fill(person: Person, n: int, tag: str) -> None:
    """`n` messages, each with a word of its own (`{tag}w{i}`) in its subject."""
    client = person.imap()
    try:
        for i in range(n):
            client.append("INBOX", f"From: Sender {i % 3} <s{i % 3}@example.test>\r\n"
                          f"To: {person.account.email}, r{i % 4}@example.test\r\n"
                          + (f"Cc: cc{i % 2}@example.test\r\n" if i % 2 else "")
                          + f"Subject: {tag} {tag}w{i} message\r\n"
                          f"Message-ID: <{tag}{i}.{person.account.name}@x>\r\n"
                          "Date: Mon, 05 Jan 2026 10:00:00 +0000\r\n\r\nx\r\n")
    finally:
        client.logout()


def _small_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk path (parser process, slices of a batch) at a test's size."""
    import bridge.mail.sync as sync_mod
    monkeypatch.setattr(sync_mod, "FIRST_SCREEN", 5)
    monkeypatch.setattr(sync_mod, "BATCH", 10)
    monkeypatch.setattr(sync_mod, "WORKER_MIN", 10)
    monkeypatch.setattr(sync_mod, "WRITE_SLICE", 4)


def _fts_intact(store: Store) -> None:
    """Both full-text indexes hold exactly the rows the messages table says are
    indexed (FTS5's own check against its content table), and none waits."""
    conn = sqlite3.connect(store.path)
    try:
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        conn.execute("INSERT INTO senders_fts (senders_fts) VALUES ('integrity-check')")
        assert conn.execute("SELECT count(*) FROM messages WHERE indexed = 0 "
                            "OR pending_parties IS NOT NULL").fetchone()[0] == 0
    finally:
        conn.close()
    assert store.index_pending() == 0


def test_a_search_right_after_a_sync_finds_what_that_sync_stored(world, people, monkeypatch):
    _small_bulk(monkeypatch)
    alice = people("alice")
    _fill(alice, 30, "fresh")
    name = alice.account.name
    result = alice.sync.sync_folder("INBOX")
    assert result.new == 30
    assert alice.sync._parser_process is not None  # the backfill went through it
    # No index_backlog here: the sync's own transactions wrote the index.
    assert alice.store.index_pending() == 0
    assert len(alice.store.search("fresh", account=name, limit=100)) == 30
    for i in (0, 4, 5, 17, 29):  # the first screen and the backfill alike
        found = alice.store.search(f"freshw{i}", account=name)
        assert [m.subject for m in found] == [f"fresh freshw{i} message"]
        m = found[0]
        # Its party rows are there too: recipients, and the filters that read them.
        assert [(p.role, p.address) for p in [m.sender, *m.recipients]] == [
            ("from", f"s{i % 3}@example.test"), ("to", alice.account.email),
            ("to", f"r{i % 4}@example.test"),
            *([("cc", f"cc{i % 2}@example.test")] if i % 2 else [])]
    assert len(alice.store.search("from:s1@example.test", account=name, limit=100)) == 10
    assert len(alice.store.search("from:sender", account=name, limit=100)) == 30
    assert len(alice.store.search("to:r2@example.test", account=name, limit=100)) == 7
    assert len(alice.store.search("cc:cc1@example.test", account=name, limit=100)) == 15
    _fts_intact(alice.store)


def test_a_sync_cut_midway_leaves_search_finding_exactly_what_was_stored(
        world, people, monkeypatch):
    import bridge.mail.sync as sync_mod
    from bridge.mail.imap_fetch import FetchError
    _small_bulk(monkeypatch)
    alice = people("alice")
    _fill(alice, 40, "cut")
    real = sync_mod.stream_fetch
    calls = {"n": 0}

    def cut_on_third(client, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            # The server hangs up in the middle of a batch of the bulk path.
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
    stored_ids = set(stored.values())
    # What was committed is searchable, and nothing else is.
    hits = alice.store.search("cut", account=name, limit=100)
    assert {m.id for m in hits} == stored_ids
    words = {m.subject.split()[1] for m in hits}
    for i in range(40):
        found = alice.store.search(f"cutw{i}", account=name)
        assert len(found) == (1 if f"cutw{i}" in words else 0)
    assert {m.id for m in alice.store.search("from:sender", account=name, limit=100)} \
        == stored_ids
    _fts_intact(alice.store)

    result = alice.sync.sync_folder("INBOX")  # picks up the rest, indexed too
    assert result.new == 40 - len(stored)
    assert len(alice.store.search("cut", account=name, limit=100)) == 40
    assert sum(t.message_count for t in alice.store.list_threads(name, limit=100)) == 40
    _fts_intact(alice.store)


def _headers(n: int) -> list[EmailHeaders]:
    return [EmailHeaders(
        uid=100 - i, msg_id=f"m{i}@x", thread_id=f"m{i - i % 3}@x", date=1_700_000_000.0 + i,
        sender=Party(f"s{i % 4}@example.org", f"Sender Ñame {i % 4}"),
        recipients=[Party(f"r{j}@example.org", f"R {j}", "to" if j else "cc")
                    for j in range(i % 4)],
        subject=f"subject {i} café", message_id_header=f"m{i}@x",
        in_reply_to=f"m{i - 1}@x" if i % 3 else None,
        references=[f"m{i - i % 3}@x"] if i % 3 else [],
        flags=frozenset({SEEN}) if i % 2 else frozenset(), has_attachment=bool(i % 5 == 0))
        for i in range(n)]


_TABLES = {
    "messages": "SELECT * FROM messages ORDER BY id",
    "message_parties": "SELECT * FROM message_parties ORDER BY message_id, position",
    "mail_locations": "SELECT * FROM mail_locations ORDER BY account, folder, uid",
    "threads": "SELECT * FROM threads ORDER BY account, thread_id",
    "index_backlog": "SELECT * FROM index_backlog",
}


@pytest.mark.parametrize("defer", [False, True], ids=["first-screen", "backfill"])
def test_indexing_in_the_sync_stores_what_the_backlog_stored(tmp_path: Path,
                                                            defer: bool) -> None:
    items = _headers(23)
    rows = [Store.email_header_row("work", "INBOX", h) for h in items]
    with Store.open(tmp_path / "later.db") as later, Store.open(tmp_path / "now.db") as now:
        # An email the store had already (sent from here): it gains a place only.
        later.insert_email_headers("work", "Sent", rows[:1])
        now.insert_email_headers("work", "Sent", rows[:1], index=True)
        for start in range(0, len(rows), 7):
            later.insert_email_headers("work", "INBOX", rows[start:start + 7],
                                       defer_parties=defer)
            now.insert_email_headers("work", "INBOX", rows[start:start + 7],
                                     defer_parties=defer, index=True)
        assert now.index_pending() == 0 < later.index_pending()
        while later.index_backlog(limit=5):
            pass
        now.end_bulk()
        for name, sql in _TABLES.items():
            got = [tuple(r) for r in now._conn.execute(sql)]
            want = [tuple(r) for r in later._conn.execute(sql)]
            assert got == want, name
        for query in ("café", "subject", "from:sender", "from:s2", "to:r2@example.org",
                      "cc:r0@example.org", "name", "has:attachment"):
            assert [m.id for m in now.search(query, limit=100)] == \
                [m.id for m in later.search(query, limit=100)], query
        _fts_intact(now)


def test_every_insert_indexes_its_rows_without_triggers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema 13: no AFTER INSERT trigger writes the full-text rows; each insert
    does, and a store of schema 12 keeps the index its triggers wrote."""
    from tests.test_store import chat, email

    path = tmp_path / "store.db"
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:12])
        # The code of schema 12 kept no people index (party_names, schema 14).
        m.setattr("bridge.store.messages.index_parties", lambda *_args: None)
        schema_16_threads(m)  # no draft_count before 17
        with Store.open(path) as old:
            assert old.schema_version == 12
            old.insert_messages([email(1, subject="Budget from before")])
    with Store.open(path) as store:
        assert store.schema_version == len(schema.MIGRATIONS) >= 13
        assert store._conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
            "AND name IN ('messages_fts_insert', 'senders_fts_insert')").fetchone()[0] == 0
        assert [m.msg_id for m in store.search("budget")] == ["m1@example.org"]
        store.insert_messages([email(2, subject="Budget"), chat(3, text="budget")])
        rows = [Store.email_header_row("work", "INBOX", h) for h in _headers(5)]
        store.insert_email_headers("work", "Sent", rows[:1], index=True)
        store.insert_email_headers("work", "INBOX", rows, index=True)  # not fresh: m0 known
        store.insert_email_headers("work", "Archive",
                                   [Store.email_header_row("work", "Archive", h)
                                    for h in _headers(9)[5:]], index=True)
        assert {m.msg_id for m in store.search("budget")} == {
            "m1@example.org", "m2@example.org", "c3@example.org"}
        assert len(store.search("subject café", limit=100)) == 9
        assert [m.msg_id for m in store.search("from:sender2")] == ["m2@example.org"]
        assert len(store.search("from:s1@example", limit=100)) == 2
        _fts_intact(store)


def test_the_app_reads_while_the_sync_writes_a_slice(world, people, monkeypatch):
    """The sync writes through a connection of its own: a read through the app's
    store goes on while a slice's transaction is open (through one shared
    connection it waited for the whole slice), and sees what was committed."""
    import threading

    _small_bulk(monkeypatch)
    alice = people("alice")
    _fill(alice, 20, "apart")
    name = alice.account.name
    real = Store.insert_email_headers
    reads: list[int] = []

    def write_while_reading(self, *args, **kwargs):
        assert self is not alice.store  # the sync's own connection
        with self._write():  # a write transaction on it, held open
            reader = threading.Thread(target=lambda: reads.append(
                len(alice.store.search("apart", account=name, limit=100))))
            reader.start()
            reader.join(timeout=30)  # a liveness check: it waited forever before
            assert not reader.is_alive()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "insert_email_headers", write_while_reading)
    assert alice.sync.sync_folder("INBOX").new == 20
    # Each read saw the slices committed before it, and never waited for one.
    assert reads == sorted(reads) and reads[0] == 0 and len(reads) >= 5
    assert len(alice.store.search("apart", account=name, limit=100)) == 20


def test_a_header_synced_message_reads_its_sender_from_its_own_row(tmp_path: Path) -> None:
    """The header sync writes no party row for the sender (it is in the message's
    row already): a read gives the same sender and recipients as before, through
    every way header rows go in (indexed at once, the row-by-row path of a batch
    with a known message, the backlog)."""
    items = _headers(12)
    rows = [Store.email_header_row("work", "INBOX", h) for h in items]
    with Store.open(tmp_path / "store.db") as store:
        store.insert_email_headers("work", "Sent", rows[:1], index=True)
        store.insert_email_headers("work", "INBOX", rows[:6], index=True)  # m0 known
        store.insert_email_headers("work", "INBOX", rows[6:], defer_parties=True)
        while store.index_backlog(limit=4):
            pass
        for h in items:
            m = store.find_by_msg_id("work", h.msg_id)
            assert m is not None
            assert (m.sender, m.recipients) == (h.sender, h.recipients), h.msg_id
        assert store._conn.execute(
            "SELECT count(*) FROM message_parties WHERE position = 0").fetchone()[0] == 0
        # A message stored whole keeps its sender's row, role and all.
        from tests.test_store import email
        whole = email(500, folder="Whole")  # not at any header row's place
        store.insert_messages([whole])
        got = store.find_by_msg_id(whole.account, whole.msg_id)
        assert got is not None and (got.sender, got.recipients) == (whole.sender,
                                                                     whole.recipients)
