"""The conversation list as a window onto the store (#22, `bridge/store/list_window.py`):
the count of a view, its rows at any position from either end, the rows beside a
row, where a row is, and the rows a view keeps (pinned) or leaves out (hidden)."""

from __future__ import annotations

import pytest

from bridge.model import Direction, Message, Party, ThreadOrder, Transport
from bridge.store import Store
from bridge.store.list_window import ListView, ViewRows

N = 60


def mail(i: int, account: str = "a", folder: str = "INBOX", unread: bool = False) -> Message:
    return Message(msg_id=f"m{i}@x", account=account, transport=Transport.EMAIL,
                   direction=Direction.IN, thread_id=f"t{i}@x", date=1000.0 + i,
                   sender=Party(f"p{i % 7}@x", f"P{i % 7}"), subject=f"S{i}",
                   folder=folder, uid=i + 1, message_id_header=f"<m{i}@x>",
                   flags=set() if unread else {"\\Seen"})


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "s.db")
    s.insert_messages([mail(i, folder="INBOX" if i % 2 else "Archive", unread=i % 5 == 0)
                       for i in range(N)])
    yield s
    s.close()


ORDERS = [ThreadOrder(), ThreadOrder("date", True), ThreadOrder("from"),
          ThreadOrder("from", True), ThreadOrder("unread"), ThreadOrder("unread", True)]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: f"{o.by}{'-r' if o.reverse else ''}")
def test_every_position_reads_the_rows_the_whole_list_has_there(store, order):
    rows = ViewRows(store, ListView("a", order=order))
    whole = store.list_threads("a", limit=N, order=order)
    assert rows.count() == N == len(whole)
    for offset in (0, 1, 7, N // 2, N - 10, N - 3):
        assert rows.at(offset, 10, N) == whole[offset:offset + 10], offset
    assert rows.at(N - 1, 10, N) == whole[-1:]
    assert rows.after(whole[20], 5) == whole[21:26]
    assert rows.before(whole[20], 5) == whole[15:20]
    assert rows.before(whole[2], 5) == whole[:2]
    for i in (0, 13, N - 1):
        found = rows.position(("a", whole[i].thread_id))
        assert found is not None and found[0] == i and found[1] == whole[i]


def test_a_folder_view_a_hidden_conversation_and_a_pinned_one(store):
    inbox = ViewRows(store, ListView("a", "INBOX"))
    assert inbox.count() == N // 2
    assert all(int(t.thread_id[1:-2]) % 2 for t in inbox.at(0, N, N // 2))
    # An archived one (here, schema 11) is out, as in list_threads.
    store.hide_conversation("a", "t59@x")
    assert inbox.count() == N // 2 - 1 and inbox.position(("a", "t59@x")) is None
    # A conversation merged into the view though not in its folder stays in it.
    other = store.get_thread("a", "t58@x")
    assert other is not None
    inbox.merge([other])
    assert inbox.count() == N // 2 and inbox.position(("a", "t58@x")) == (0, other)
    inbox.drop([("a", "t58@x")])
    assert inbox.count() == N // 2 - 1


def test_the_view_of_every_account_and_of_one(store):
    store.insert_messages([mail(1000, account="b")])
    assert ViewRows(store, ListView()).count() == N + 1
    assert ViewRows(store, ListView("b")).count() == 1
    assert ViewRows(store, ListView("b")).at(0, 5) == store.list_threads("b")


@pytest.mark.parametrize("order", [ThreadOrder(), ThreadOrder("date", True)],
                         ids=["newest-first", "oldest-first"])
def test_a_conversation_the_store_has_no_row_for_is_listed_where_the_order_puts_it(
        store, order):
    """A room just joined, nobody spoke yet: listed (as the engine's
    room_conversation makes it) until its first line stores it."""
    from bridge.store.records import Thread

    rows = ViewRows(store, ListView("a", order=order))
    room = Thread(0, "a", "room@x", "", 1030.5, 1030.5, 0, 0, "room@x", "joined",
                  frozenset({Transport.XMPP}))
    rows.merge([room])
    assert rows.count() == N + 1
    whole = sorted([*store.list_threads("a", limit=N), room],
                   key=lambda t: (t.last_date, t.id), reverse=not order.reverse)
    for offset in (0, 20, 25, 29, 30, 31, 40, N - 5):
        assert rows.at(offset, 10, N + 1) == whole[offset:offset + 10], offset
    at = whole.index(room)
    assert rows.position(("a", "room@x")) == (at, room)
    assert rows.position(("a", whole[at + 1].thread_id)) == (at + 1, whole[at + 1])
    assert rows.after(whole[at - 2], 4) == whole[at - 1:at + 3]
    assert rows.before(whole[at + 2], 4) == whole[at - 2:at + 2]
    assert rows.after(room, 2) == whole[at + 1:at + 3]
    # Its first line stores it: the store's row is the one listed.
    store.insert_messages([Message(msg_id="r1@x", account="a", transport=Transport.XMPP,
                                   direction=Direction.IN, thread_id="room@x", date=2000.0,
                                   sender=Party("room@x/bob"), text="hi")])
    assert rows.count() == N + 1 and not rows.unstored
