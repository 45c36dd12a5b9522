"""`to:` and `cc:` answer from the people index what a look through every
message's party rows answered.

The index (schema version 14: `party_names` and its trigram index) is a second
copy of the people in message_parties: each way party rows enter the store
(a message stored whole, a header sync's bulk rows, indexed at once or by the
backlog, a known message gaining a place) must keep it true. Each check
compares the search with the query it replaced (an EXISTS over the message's
party rows with LIKE), run here beside it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.model import Direction, EmailHeaders, Message, Party, Transport
from bridge.store import Store
from bridge.store.query import _like, parse_query
from tests.test_store_drafts import schema_16_threads

PEOPLE = [
    ("bob@example.org", "Bob Stone"),
    ("Bobby.Tables@School.example", "Robert'); DROP TABLE--"),
    ("alice@chat.example.org", "Alice"),
    ("zoë@exämple.org", "Zoë Åström"),
    ("percent%sign@example.net", "100% Sure"),
    ("under_score@example.net", "Un_der"),
    ("carol@example.com", ""),
    ("CAROL@EXAMPLE.COM", "Carol Upper"),
]
VALUES = ["bob", "BOB", "Bob S", "example", "ob@ex", "al", "b", "zoë", "Åström", "åström",
          "%", "100%", "_", "under_", "drop table", "'); DROP", "nobody-at-all",
          "chat.example", "carol@", "CAROL@example", "me@example.org", "Me", "person",
          "Person H", "h.person", "k.person@k", "Person D", "whole.example"]
ROLES = {"to": ("to", "cc", "bcc", "occupant"), "cc": ("cc",)}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store.sqlite3")
    yield s
    s.close()


def _recipients(n: int, path: str) -> list[Party]:
    """Everyone's people, and one of the path's own (so each path must index it)."""
    to = PEOPLE[n % len(PEOPLE)]
    cc = PEOPLE[(n * 3 + 1) % len(PEOPLE)]
    own = Party(f"{path}.person@{path}.example", f"Person {path.upper()}",
                ("to", "cc")[n % 2])
    out = [Party("me@example.org", "Me", "to"), Party(*to, "to"), own]
    if n % 2:
        out.append(Party(*cc, "cc"))
    if n % 5 == 0:
        out.append(Party(*PEOPLE[(n + 2) % len(PEOPLE)], "bcc"))
    return out


def _email(n: int) -> Message:
    return Message(
        msg_id=f"m{n}@example.org", account="work", transport=Transport.EMAIL,
        direction=Direction.IN, thread_id=f"t{n % 3}@example.org", date=1_700_000_000.0 + n,
        sender=Party("sender@example.org", "Sender"), recipients=_recipients(n, "whole"),
        subject=f"subject {n}", text=f"body {n}", folder="INBOX", uid=n,
        message_id_header=f"m{n}@example.org")


def _header(n: int, prefix: str = "h") -> EmailHeaders:
    return EmailHeaders(
        uid=n, msg_id=f"{prefix}{n}@example.org", thread_id=f"{prefix}{n}@example.org",
        date=1_600_000_000.0 + n, sender=Party("sender@example.org", "Sender"),
        recipients=_recipients(n + 1, prefix), subject=f"old {n}",
        message_id_header=f"{prefix}{n}@example.org", in_reply_to=None, references=[],
        flags=frozenset())


def _before(store: Store, name: str, value: str) -> set[str]:
    """The query `to:`/`cc:` ran before the index: every message's party rows."""
    roles = ROLES[name]
    sql = ("SELECT m.msg_id FROM messages AS m WHERE EXISTS (SELECT 1 FROM message_parties "
           f"AS p WHERE p.message_id = m.id AND p.role IN ({', '.join('?' for _ in roles)}) "
           "AND (p.address LIKE ? ESCAPE '\\' OR p.name LIKE ? ESCAPE '\\'))")
    with store._read() as conn:
        return {r[0] for r in conn.execute(sql, [*roles, _like(value), _like(value)])}


def _check(store: Store) -> int:
    hits = 0
    for name in ROLES:
        for value in VALUES:
            found = [m.msg_id for m in store.search(f'{name}:"{value}"', limit=10_000)]
            assert len(found) == len(set(found)), (name, value)
            assert set(found) == _before(store, name, value), (name, value)
            hits += len(found)
    return hits


def test_to_and_cc_find_what_the_scan_found(store: Store) -> None:
    store.upsert_account("work")
    store.upsert_folder("work", "INBOX")
    store.insert_messages([_email(n) for n in range(40)])
    assert _check(store) > 0
    # A header sync's slices, indexed as they go (the bulk path).
    store.insert_email_headers("work", "INBOX", [_header(1000 + n) for n in range(30)],
                               defer_parties=True, index=True)
    _check(store)
    # Not all new (one is known already): the row-by-row path of the same insert.
    store.upsert_folder("work", "Archive")
    store.insert_email_headers("work", "Archive", [_header(1000), *(
        _header(2000 + n, "k") for n in range(12))], index=True)
    _check(store)
    # A bulk import that leaves its parties to the backlog: found once it ran.
    store.insert_email_headers("work", "INBOX", [_header(3000 + n, "d") for n in range(25)],
                               defer_parties=True)
    _check(store)
    while store.index_backlog(limit=10):
        pass
    assert store.index_pending() == 0
    _check(store)
    # Messages that leave the store leave the answers (their people may stay).
    gone = store.search("to:bob", limit=10_000)
    assert gone
    for m in gone:
        assert m.id is not None and store.delete_message(m.id)
    assert store.search("to:bob", limit=10_000) == []
    _check(store)


def test_a_store_from_before_the_index_gets_its_people(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrating to version 14 takes the people of the party rows already there."""
    from bridge.store import schema

    path = tmp_path / "store.sqlite3"
    # A store of version 13: party rows (a table then) without their people.
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:13])
        m.setattr("bridge.store.messages.index_parties", lambda *_args: None)
        schema_16_threads(m)  # no draft_count before 17
        with Store.open(path) as s:
            assert s.schema_version == 13
            s.upsert_account("work")
            s.upsert_folder("work", "INBOX")
            s.insert_messages([_email(n) for n in range(20)])
    with Store.open(path) as s:
        assert s.schema_version == len(schema.MIGRATIONS) >= 16
        assert _check(s) > 0


def test_to_is_answered_by_the_index_not_a_scan(tmp_path: Path) -> None:
    s = Store.open(tmp_path / "store.sqlite3")
    s.close()
    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    for text in ("to:stone", "cc:stone"):
        q = parse_query(text)
        plan = " ".join(row[-1] for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT m.id FROM messages AS m WHERE " + " AND ".join(q.where),
            q.args))
        assert "party_names_fts VIRTUAL TABLE INDEX" in plan, plan
        # Schema 16: the party rows by person id (was message_parties_by_address).
        assert "message_people_by_person" in plan, plan
        assert "SCAN m" not in plan, plan
    conn.close()
