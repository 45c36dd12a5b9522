"""`from:` answers from the trigram index what a scan of every sender would answer.

The index (schema version 10) is a second copy of the senders: each way a message
enters or leaves the store must keep it true, and the rows a bulk import has not
indexed yet must still be found. Each check compares the search with the plain
substring rule the user reads in the help ("from:X: X in the sender's address or
name"), computed here in Python over every message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.model import Direction, EmailHeaders, Message, Party, Transport
from bridge.store import Store

SENDERS = [
    ("bob@example.org", "Bob Stone"),
    ("Bobby.Tables@School.example", "Robert'); DROP TABLE--"),
    ("alice@chat.example.org", "Alice"),
    ("zoë@exämple.org", "Zoë Åström"),
    ("percent%sign@example.net", "100% Sure"),
    ("under_score@example.net", "Un_der"),
    ("carol@example.com", ""),
]
VALUES = ["bob", "BOB", "Bob S", "example", "ob@ex", "al", "b", "zoë", "Åström", "%", "100%",
          "_", "under_", "drop table", "'); DROP", "nobody-at-all", "chat.example", "carol@"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store.sqlite3")
    yield s
    s.close()


def _email(n: int, address: str, name: str) -> Message:
    return Message(
        msg_id=f"m{n}@example.org", account="work", transport=Transport.EMAIL,
        direction=Direction.IN, thread_id=f"t{n % 3}@example.org", date=1_700_000_000.0 + n,
        sender=Party(address, name), recipients=[Party("me@example.org", "Me", "to")],
        subject=f"subject {n}", text=f"body {n}", folder="INBOX", uid=n,
        message_id_header=f"m{n}@example.org")


def _header(n: int, address: str, name: str) -> EmailHeaders:
    return EmailHeaders(
        uid=n, msg_id=f"h{n}@example.org", thread_id=f"h{n}@example.org",
        date=1_600_000_000.0 + n, sender=Party(address, name),
        recipients=[Party("me@example.org", "Me", "to")], subject=f"old {n}",
        message_id_header=f"h{n}@example.org", in_reply_to=None, references=[],
        flags=frozenset())


def _expected(store: Store, value: str) -> set[str]:
    """The help's rule, in Python: the value in the address or the name, any case."""
    everyone = store.search("after:1970-01-01", limit=10_000)
    needle = value.casefold()
    return {m.msg_id for m in everyone
            if needle in m.sender.address.casefold() or needle in m.sender.name.casefold()}


def _check(store: Store) -> None:
    for value in VALUES:
        found = {m.msg_id for m in store.search(f'from:"{value}"', limit=10_000)}
        assert found == _expected(store, value), value


def test_from_finds_every_sender_that_contains_the_value(store: Store) -> None:
    store.upsert_account("work")
    store.upsert_folder("work", "INBOX")
    store.insert_messages([_email(n, *SENDERS[n % len(SENDERS)]) for n in range(40)])
    # A bulk import: its rows wait for the backlog, and from: still finds them.
    store.insert_email_headers("work", "INBOX", [
        _header(1000 + n, *SENDERS[(n + 3) % len(SENDERS)]) for n in range(25)],
        defer_parties=True)
    assert store.index_pending() == 25
    _check(store)
    assert len(store.search("from:bob", limit=10_000)) > 0
    # Caught up: the same answers, now all from the index.
    while store.index_backlog(limit=10):
        pass
    assert store.index_pending() == 0
    _check(store)
    # Messages that leave the store leave the index.
    gone = store.search("from:alice", limit=10_000)
    assert gone
    for m in gone:
        assert m.id is not None and store.delete_message(m.id)
    assert store.search("from:alice", limit=10_000) == []
    _check(store)


def test_from_is_answered_by_the_index_not_a_scan(tmp_path: Path) -> None:
    """The point of the index: the planner must use it for a three-letter value."""
    from bridge.store.query import parse_query

    s = Store.open(tmp_path / "store.sqlite3")
    s.close()
    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    q = parse_query("from:stone")
    plan = " ".join(row[-1] for row in conn.execute(
        "EXPLAIN QUERY PLAN SELECT m.id FROM messages AS m WHERE " + " AND ".join(q.where),
        q.args))
    conn.close()
    assert "senders_fts VIRTUAL TABLE INDEX" in plan, plan
    assert "SCAN m" not in plan, plan
