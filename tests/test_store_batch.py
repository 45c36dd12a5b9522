"""The store's batches (a page of the chat archive as one transaction) and the
work storing chat lines costs: counted in SQL statements (sqlite3's trace
callback), never timed, so the check that keeps strangers out of a thread
(`bridge.store.threads._evict_strangers`) stays linear in the lines stored."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bridge.model import Direction, Message, Party, claimed_thread_id
from bridge.store import Store, schema
from tests.test_store import chat, email

OWN = "me@chat.example.org"
PEER = Party("bob@chat.example.org", "")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store.db")
    s.upsert_account("work", "me@example.org", OWN)
    yield s
    s.close()


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    """The SQL statements run on the store's connection meanwhile."""
    seen: list[str] = []
    store._conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        store._conn.set_trace_callback(None)


def line(n: int, thread: str = "bob-chat") -> Message:
    """A chat line of a 1:1 chat with bob: his, or (one in five) ours to him."""
    if n % 5 == 4:
        return chat(n, thread=thread, sender=Party(OWN, "Me"), direction=Direction.OUT,
                    recipients=[Party(PEER.address, "", "to")])
    return chat(n, thread=thread, sender=PEER, recipients=[Party(OWN, "", "to")])


def store_archive(store: Store, first: int, count: int, page: int) -> None:
    """As `Archive._ingest_results` does: a page per batch, a line per insert."""
    for start in range(first, first + count, page):
        with store.batch():
            for n in range(start, min(start + page, first + count)):
                store.insert_messages([line(n)])


def test_archive_lines_cost_statements_in_proportion_to_their_number(store: Store) -> None:
    with counted(store) as small:
        store_archive(store, 0, 100, 50)
    with counted(store) as large:
        store_archive(store, 100, 200, 50)  # twice as many, onto a longer chat
    assert store.get_thread("work", "bob-chat").message_count == 300
    assert len(large) <= 2.2 * len(small), (len(small), len(large))
    # One commit a page, not one a line.
    assert sum(s == "COMMIT" for s in large) == 4


def test_live_lines_cost_the_same_whatever_the_chat_s_length(store: Store) -> None:
    store_archive(store, 0, 300, 100)
    with counted(store) as short:
        store.insert_messages([line(300)])
    store_archive(store, 301, 600, 100)
    with counted(store) as long:
        store.insert_messages([line(901)])
    assert store.get_thread("work", "bob-chat").message_count == 902
    assert len(long) == len(short), (short, long)


def test_a_batch_is_one_transaction_and_a_failed_write_is_undone_alone(
        store: Store) -> None:
    with counted(store) as seen, store.batch():
        store.insert_messages([line(1)])
        with pytest.raises(RuntimeError), store._write() as conn:
            conn.execute("DELETE FROM messages")
            raise RuntimeError("this write fails")
        with store.batch():  # a batch inside a batch is part of it
            store.insert_messages([line(2)])
        assert store.get_thread("work", "bob-chat").message_count == 2
    assert sum(s == "COMMIT" for s in seen) == 1
    assert [m.msg_id for m in store.thread_messages("bob-chat", "work")] == \
        ["c1@example.org", "c2@example.org"]
    # A batch that fails leaves nothing.
    with pytest.raises(RuntimeError), store.batch():
        store.insert_messages([line(3)])
        raise RuntimeError("the page fails")
    assert store.get_thread("work", "bob-chat").message_count == 2
    store.insert_messages([line(3)])
    assert store.get_thread("work", "bob-chat").message_count == 3


@pytest.mark.parametrize("together", [True, False])
def test_a_stranger_s_line_leaves_the_thread_at_the_batch_s_end(store: Store,
                                                                 together: bool) -> None:
    """mallory names a thread that is new here; the email that shows whose it is
    comes in the same batch, or the next one: either way she ends in a thread of
    her own, as a store that saw the email first would have put her."""
    root = "root@example.org"
    mail = email(1, thread=root, sender=Party("bob@example.org", "Bob"))
    stranger = chat(2, thread=root, sender=Party("mallory@example.org", ""),
                    recipients=[Party(OWN, "", "to")])
    with store.batch():
        store.insert_messages([stranger])
        if together:
            store.insert_messages([mail])
        # Inside the batch nothing moved yet.
        assert store.get_thread("work", root).message_count == 1 + together
    if not together:
        with store.batch():
            store.insert_messages([mail])
    claim = claimed_thread_id("mallory@example.org", root)
    assert {m.msg_id: m.thread_id for m in store.thread_messages(root, "work")} == \
        {mail.msg_id: root}
    assert [m.msg_id for m in store.thread_messages(claim, "work")] == [stranger.msg_id]
    assert store.get_thread("work", root).message_count == 1
    assert store.get_thread("work", claim).message_count == 1
    # And her claim is adopted once the thread's people say she is one of them.
    cc = dataclasses.replace(email(3, thread=root, sender=Party("bob@example.org", "Bob")),
                             recipients=[Party("mallory@example.org", "", "cc")])
    with store.batch():
        store.insert_messages([cc])
    assert store.get_thread("work", claim) is None
    assert store.get_thread("work", root).message_count == 3


def test_a_new_store_migrates_in_one_transaction(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        assert schema.migrate(conn) == len(schema.MIGRATIONS)
        assert sum(s == "COMMIT" for s in seen) == 1
        assert sum(s.startswith("PRAGMA user_version =") for s in seen) == \
            len(schema.MIGRATIONS)
        seen.clear()
        assert schema.migrate(conn) == len(schema.MIGRATIONS)  # nothing to do
        assert not any(s.startswith(("BEGIN", "COMMIT")) for s in seen)
    finally:
        conn.close()


def test_a_sender_named_in_another_form_stays(store: Store) -> None:
    """The quick look for someone else naming the sender goes by the address as
    written; one written otherwise (case, a resource) is found by the whole pass."""
    root = "plan@example.org"
    bob = chat(1, thread=root, sender=PEER, recipients=[Party(OWN, "", "to")])
    ours = chat(2, thread=root, sender=Party(OWN, "Me"), direction=Direction.OUT,
                recipients=[Party("Bob@Chat.Example.org/phone", "", "to")])
    stranger = chat(3, thread=root, sender=Party("mallory@example.org", ""),
                    recipients=[Party(OWN, "", "to")])
    with store.batch():
        for m in (bob, ours, stranger):
            store.insert_messages([m])
    grouping = {m.msg_id: m.thread_id for t in store.list_threads("work")
                for m in store.thread_messages(t.thread_id, "work")}
    assert grouping[bob.msg_id] == root and grouping[ours.msg_id] == root
    assert grouping[stranger.msg_id] == claimed_thread_id("mallory@example.org", root)
