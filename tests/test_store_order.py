"""The list in another order (by sender, unread first, reversed), sorted and paged
by the store; conversations archived, deleted or muted on this machine (schema 11)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.model import Party
from bridge.store import Store
from bridge.store.records import ThreadOrder
from tests.test_store import chat, email


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "store.sqlite3")
    yield s
    s.close()


def every_page(store: Store, order: ThreadOrder, size: int = 7) -> list[str]:
    seen: list[str] = []
    before = None
    while page := store.list_threads(limit=size, before=before, order=order):
        seen += [t.thread_id for t in page]
        before = order.page_after(page[-1])
    return seen


def test_each_order_pages_as_python_sorts_it(store: Store) -> None:
    names = ["bob", "Alice", "carol", "alice", "Bob", "dave"]
    msgs = [email(i, thread=f"t{i}@x", date=1000.0 + (i * 13) % 9,
                  sender=Party(f"{names[i % 6]}@x", names[i % 6].capitalize()
                               if i % 4 else names[i % 6]),
                  flags=set() if i % 3 == 0 else {"\\Seen"}) for i in range(40)]
    store.insert_messages(msgs)
    threads = store.list_threads(limit=100)
    assert len(threads) == 40
    for by in ThreadOrder.BY:
        for reverse in (False, True):
            order = ThreadOrder(by, reverse)
            expected = sorted(threads, key=order.key, reverse=reverse)
            assert every_page(store, order) == [t.thread_id for t in expected], order
    # By sender: A to Z whatever the case, newest first among one sender's.
    by_from = store.list_threads(limit=100, order=ThreadOrder("from"))
    senders = [t.last_sender.lower() for t in by_from]
    assert senders == sorted(senders)
    # Unread first, newest first within each half.
    unread = store.list_threads(limit=100, order=ThreadOrder("unread"))
    flags = [t.unread_count > 0 for t in unread]
    assert flags == sorted(flags, reverse=True) and any(flags) and not all(flags)
    assert ThreadOrder().label == "" and "sender" in ThreadOrder("from").label
    with pytest.raises(ValueError):
        ThreadOrder("subject")


def test_threads_in_order_sorts_a_set_of_conversations(store: Store) -> None:
    store.insert_messages([email(i, thread=f"t{i}@x", flags=set() if i == 2 else {"\\Seen"})
                           for i in range(1, 6)])
    keys = [("work", "t1@x"), ("work", "t2@x"), ("work", "t4@x"), ("work", "nope@x")]
    assert [t.thread_id for t in store.threads_in_order(keys)] == ["t4@x", "t2@x", "t1@x"]
    assert [t.thread_id for t in store.threads_in_order(keys, ThreadOrder("unread"))] == \
        ["t2@x", "t4@x", "t1@x"]
    assert [t.thread_id for t in store.threads_in_order(keys, ThreadOrder(reverse=True),
                                                        limit=2)] == ["t1@x", "t2@x"]


def test_an_archived_chat_comes_back_with_a_new_line(store: Store) -> None:
    store.insert_messages([chat(1), chat(2), email(3, thread="mail@x")])
    assert store.hide_conversation("work", "chat@example.org")
    assert not store.hide_conversation("work", "none@x")
    assert [t.thread_id for t in store.list_threads()] == ["mail@x"]
    assert store.is_hidden("work", "chat@example.org")
    assert store.threads_in_order([("work", "chat@example.org")]) == []
    store.insert_messages([chat(9)])  # a new line: the chat is in the list again
    assert store.list_threads()[0].thread_id == "chat@example.org"
    assert not store.is_hidden("work", "chat@example.org")
    store.hide_conversation("work", "chat@example.org")
    store.unhide_conversation("work", "chat@example.org")
    assert len(store.list_threads()) == 2


def test_a_deleted_chat_is_gone_and_old_lines_do_not_bring_it_back(store: Store) -> None:
    store.insert_messages([chat(1), chat(2), email(3, thread="mail@x")])
    assert store.delete_conversation("work", "chat@example.org") == 2
    assert store.get_thread("work", "chat@example.org") is None
    assert store.search("chat line") == []
    store.insert_messages([chat(1)])  # the archive hands an old line over again
    assert [t.thread_id for t in store.list_threads()] == ["mail@x"]
    store.insert_messages([chat(7)])  # a new one does
    assert "chat@example.org" in {t.thread_id for t in store.list_threads()}
    assert store.delete_conversation("work", "none@x") == 0


def test_mutes_are_kept(store: Store) -> None:
    store.insert_messages([chat(1)])
    store.set_muted("work", "chat@example.org", True)
    assert store.muted_conversations() == {("work", "chat@example.org")}
    store.hide_conversation("work", "chat@example.org")  # one row holds both
    assert store.muted_conversations() == {("work", "chat@example.org")}
    store.set_muted("work", "chat@example.org", False)
    assert store.muted_conversations() == set()
