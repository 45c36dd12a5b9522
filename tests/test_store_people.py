"""Schema 16: party rows name their person by id (`message_people`, people in
`party_names`), and `message_parties` is a view of them with the address and
name. A store of schema 15 with data migrates without losing a message, a
party row or a search answer; every way party rows go in afterwards (a
message stored whole through the view, a header sync's bulk rows, the row by
row path of a batch with a known message, the backlog) gives the same rows.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bridge.model import EmailHeaders, Party
from bridge.store import Store, schema
from tests.test_store_drafts import schema_16_threads
from tests.test_store_to import PEOPLE, ROLES, VALUES, _before, _email

WORDS = ["old", "subject", "from:sender", "from:bob", "from:Åström", "person", "has:attachment"]


def _header(n: int, prefix: str) -> EmailHeaders:
    recipients = [Party(a, nm, "cc" if (n + i) % 3 == 0 else "to")
                  for i, (a, nm) in enumerate(PEOPLE[n % 4:n % 4 + 3])]
    return EmailHeaders(
        uid=n, msg_id=f"{prefix}{n}@example.org", thread_id=f"{prefix}{n % 5}@example.org",
        date=1_600_000_000.0 + n, sender=Party(f"sender{n % 3}@example.org", f"Sender {n}"),
        recipients=recipients, subject=f"old subject {n}",
        message_id_header=f"{prefix}{n}@example.org", in_reply_to=None, references=[],
        flags=frozenset())


def _rows(folder: str, items: list[EmailHeaders]) -> list[tuple[Any, ...]]:
    return [Store.email_header_row("work", folder, h) for h in items]


def _v15_store_recipients(conn: sqlite3.Connection, source: str, args: Any) -> None:
    """What schema 15's writers stored: text party rows, then their people."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS v15_in (message_id INTEGER, "
                 "position INTEGER, role TEXT, address TEXT, name TEXT)")
    conn.execute("INSERT INTO temp.v15_in " + source, args)
    conn.execute("INSERT INTO message_parties SELECT * FROM temp.v15_in")
    conn.execute("INSERT OR IGNORE INTO party_names (address, name) "
                 "SELECT DISTINCT address, name FROM temp.v15_in")
    conn.execute("DELETE FROM temp.v15_in")


def _state(store: Store) -> dict[str, Any]:
    conn = store._conn
    messages = {}
    for (msg_id,) in conn.execute("SELECT msg_id FROM messages ORDER BY id"):
        m = store.find_by_msg_id("work", msg_id)
        assert m is not None
        messages[msg_id] = (m.sender, m.recipients, m.subject, m.folder, m.uid)
    return {
        "messages": messages,
        "parties": [tuple(r) for r in conn.execute(
            "SELECT * FROM message_parties ORDER BY message_id, position")],
        "people": {tuple(r) for r in conn.execute("SELECT address, name FROM party_names")},
        "to": {(name, v): _before(store, name, v) for name in ROLES for v in VALUES},
        "words": {q: [m.msg_id for m in store.search(q, limit=1000)] for q in WORDS},
    }


def test_a_store_of_schema_15_keeps_every_message_party_and_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:15])
        m.setattr("bridge.store.headers.store_recipients", _v15_store_recipients)
        schema_16_threads(m)  # no draft_count before 17
        with Store.open(path) as old:
            assert old.schema_version == 15
            old.upsert_account("work")
            old.upsert_folder("work", "INBOX")
            old.insert_messages([_email(n) for n in range(30)])  # senders' rows too
            old.insert_email_headers("work", "INBOX", _rows("INBOX", [
                _header(1000 + n, "h") for n in range(40)]), defer_parties=True, index=True)
            old.upsert_folder("work", "Archive")  # one known: the row by row path
            old.insert_email_headers("work", "Archive", _rows("Archive", [
                _header(1000, "h"), *(_header(2000 + n, "k") for n in range(10))]), index=True)
            # Old mail whose parties wait for the backlog, half of it caught up.
            old.insert_email_headers("work", "INBOX", _rows("INBOX", [
                _header(3000 + n, "d") for n in range(20)]), defer_parties=True)
            old.index_backlog(limit=10)
            before = _state(old)
            assert old.index_pending() == 10
    assert len(before["parties"]) > 150 and any(before["to"].values())

    with Store.open(path) as store:
        assert store.schema_version == len(schema.MIGRATIONS) >= 16
        conn = store._conn
        assert conn.execute("SELECT type FROM sqlite_master WHERE name = 'message_parties'"
                            ).fetchone()[0] == "view"
        after = _state(store)
        assert after == before
        # The people index answers what the scan answers.
        for (name, value), want in after["to"].items():
            got = [m.msg_id for m in store.search(f'{name}:"{value}"', limit=1000)]
            assert sorted(got) == sorted(want), (name, value)
        # The backlog left from before the migration writes person ids too.
        while store.index_backlog(limit=4):
            pass
        assert store.index_pending() == 0
        assert store.search('to:"bob@example.org"', limit=1000)
        final = _state(store)
        for (name, value), want in final["to"].items():
            got = [m.msg_id for m in store.search(f'{name}:"{value}"', limit=1000)]
            assert sorted(got) == sorted(want), (name, value)
        # A person is stored once, however many rows name them.
        assert conn.execute("SELECT count(*) FROM party_names").fetchone()[0] == len(
            final["people"])
        assert conn.execute("SELECT count(*) FROM message_people").fetchone()[0] == len(
            final["parties"])
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_party_rows_by_every_writer_read_back_and_leave_with_their_message(
        tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.sqlite3") as store:
        store.upsert_account("work")
        store.upsert_folder("work", "INBOX")
        whole = [_email(n) for n in range(6)]
        store.insert_messages(whole)  # through the view's trigger
        items = [_header(100 + n, "h") for n in range(12)]
        store.insert_email_headers("work", "INBOX", _rows("INBOX", items[:8]),
                                   defer_parties=True, index=True)
        store.upsert_folder("work", "Archive")
        store.insert_email_headers("work", "Archive", _rows("Archive", [
            items[0], *items[8:]]), index=True)
        for m in whole:
            got = store.find_by_msg_id("work", m.msg_id)
            assert got is not None and (got.sender, got.recipients) == (m.sender, m.recipients)
        for h in items:
            got = store.find_by_msg_id("work", h.msg_id)
            assert got is not None and (got.sender, got.recipients) == (h.sender, h.recipients)
        conn = store._conn
        people = conn.execute("SELECT count(*) FROM party_names").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM message_people").fetchone()[0]
        gone = store.find_by_msg_id("work", items[3].msg_id)
        assert gone is not None and gone.id is not None and store.delete_message(gone.id)
        assert conn.execute("SELECT count(*) FROM message_people").fetchone()[0] == rows - len(
            items[3].recipients)
        # Its people stay (they match nothing of it any more).
        assert conn.execute("SELECT count(*) FROM party_names").fetchone()[0] == people
        assert items[3].msg_id not in {
            m.msg_id for m in store.search(f'to:"{items[3].recipients[0].address}"',
                                           limit=1000)}
        # The view takes the outer statement's conflict clause as the table
        # did, and a person keeps their id under it.
        person = conn.execute("SELECT person FROM message_people WHERE message_id = 1 "
                              "AND position = 1").fetchone()[0]
        with store._write() as c:
            row = c.execute("SELECT * FROM message_parties WHERE message_id = 1 "
                            "AND position = 1").fetchone()
            c.execute("INSERT OR REPLACE INTO message_parties VALUES (?, ?, ?, ?, ?)",
                      tuple(row))
            c.execute("INSERT OR IGNORE INTO message_parties VALUES (?, ?, ?, ?, ?)",
                      tuple(row))
        assert conn.execute("SELECT person FROM message_people WHERE message_id = 1 "
                            "AND position = 1").fetchone()[0] == person
        assert conn.execute("SELECT count(*) FROM party_names").fetchone()[0] == people
        # A duplicate place in the view fails as the table's key did.
        with pytest.raises(sqlite3.IntegrityError), store._write() as c:
            c.execute("INSERT INTO message_parties (message_id, position, role, address, "
                      "name) VALUES (1, 0, 'from', 'x@example.org', 'X')")
