"""The rows a conversation list holds: a window onto its source (#22).

A list's source knows how many rows there are and reads any of them (the store's
`ViewRows`, from `Engine.conversation_rows`; or `FixedRows`, a list held whole:
the rows under a limit). `RowWindow` keeps the rows around what is drawn, at
most `KEEP` of them, and reads more as the list moves: the rows beside the
window by keyset (a step down or up), a jump (G, g, a drag of the scrollbar)
at its position (the store reads it from the nearer end). So any position costs
one read, and memory does not grow with the list.

No Textual here: the widget (`conversation_list.py`) draws, this holds.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Protocol

from bridge.model import SortKey, ThreadOrder
from bridge.store.records import Thread

Key = tuple[str, str]  # (account, thread_id)
CHUNK = 100  # rows read at a time
KEEP = 300  # rows held at most (a few screens' worth)


def key_of(t: Thread) -> Key:
    return (t.account, t.thread_id)


class RowSource(Protocol):
    """What a list reads its rows from."""

    @property
    def order(self) -> ThreadOrder: ...

    def count(self) -> int: ...

    def at(self, offset: int, limit: int, total: int | None = None) -> list[Thread]: ...

    def after(self, t: Thread, limit: int) -> list[Thread]: ...

    def before(self, t: Thread, limit: int) -> list[Thread]: ...

    def position(self, key: Key) -> tuple[int, Thread] | None: ...

    def merge(self, threads: list[Thread]) -> None: ...

    def drop(self, keys: list[Key]) -> None: ...


class _Reversed:
    """A sort key that compares the other way round (bisect and sorted use `<`)."""

    __slots__ = ("key",)

    def __init__(self, key: SortKey) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.key == self.key

    __hash__ = None  # type: ignore[assignment]  # mutable-equal keys are not hashed


def place(order: ThreadOrder, t: Thread) -> SortKey | _Reversed:
    """Where a row goes: sorted ascending on this is `order`."""
    key = order.key(t)
    return _Reversed(key) if order.reverse else key


class FixedRows:
    """Rows held whole, in `order`: the list under a limit (a search's few
    hundred), and lists built by hand. A changed row moves to where the order
    puts it; a new one comes in; `drop` takes rows out."""

    def __init__(self, threads: list[Thread], order: ThreadOrder) -> None:
        self._order = order
        self.threads = sorted(threads, key=lambda t: place(order, t))

    @property
    def order(self) -> ThreadOrder:
        return self._order

    def count(self) -> int:
        return len(self.threads)

    def at(self, offset: int, limit: int, total: int | None = None) -> list[Thread]:
        return self.threads[max(offset, 0):max(offset + limit, 0)]

    def _index(self, key: Key) -> int | None:
        return next((i for i, t in enumerate(self.threads) if key_of(t) == key), None)

    def after(self, t: Thread, limit: int) -> list[Thread]:
        i = self._index(key_of(t))
        return [] if i is None else self.threads[i + 1:i + 1 + limit]

    def before(self, t: Thread, limit: int) -> list[Thread]:
        i = self._index(key_of(t))
        return [] if i is None else self.threads[max(0, i - limit):i]

    def position(self, key: Key) -> tuple[int, Thread] | None:
        i = self._index(key)
        return None if i is None else (i, self.threads[i])

    def merge(self, threads: list[Thread]) -> None:
        for t in threads:
            old = self._index(key_of(t))
            if old is not None:
                del self.threads[old]
            keys = [place(self._order, x) for x in self.threads]
            self.threads.insert(bisect_left(keys, place(self._order, t)), t)

    def extend(self, threads: list[Thread]) -> None:
        known = {key_of(t) for t in self.threads[-len(threads) - 1:]} if threads else set()
        self.threads += [t for t in threads if key_of(t) not in known]

    def drop(self, keys: list[Key]) -> None:
        gone = set(keys)
        self.threads[:] = [t for t in self.threads if key_of(t) not in gone]


class RowWindow:
    """The rows of a source around what a list draws: `rows` from index `start`
    of `total`."""

    def __init__(self, source: RowSource) -> None:
        self.source = source
        self.total = 0
        self.rows: list[Thread] = []
        self.start = 0

    @property
    def whole(self) -> bool:
        """The source's rows are all held (a FixedRows): the window is its list."""
        return isinstance(self.source, FixedRows)

    def reset(self, keep: Key | None = None) -> int | None:
        """Read the count again and the rows around `keep` (the conversation under
        the cursor); where `keep` is now, None when the source no longer has it."""
        source = self.source
        if isinstance(source, FixedRows):
            self.rows, self.start, self.total = source.threads, 0, len(source.threads)
            if keep is None:
                return None
            return next((i for i, t in enumerate(self.rows) if key_of(t) == keep), None)
        self.total = source.count()
        self.rows, self.start = [], 0
        found = source.position(keep) if keep is not None else None
        if self.total <= KEEP:  # a short list is held whole, as rows held whole are
            self.rows = source.at(0, self.total, self.total)
            return None if found is None else found[0]
        if found is None:
            return None
        index, thread = found
        above = source.before(thread, CHUNK // 2)
        self.rows = [*above, thread, *source.after(thread, CHUNK // 2)]
        self.start = index - len(above)
        return index

    @property
    def end(self) -> int:
        return self.start + len(self.rows)

    def get(self, index: int) -> Thread | None:
        """The row at `index`, read if it is not held."""
        if not 0 <= index < self.total:
            return None
        if not self.start <= index < self.end:
            self._load(index)
        if self.start <= index < self.end:
            return self.rows[index - self.start]
        return None

    def _load(self, index: int) -> None:
        source = self.source
        rows = self.rows
        if rows and self.end <= index < self.end + CHUNK:  # just below: a step down
            more = source.after(rows[-1], max(CHUNK, index - self.end + 1))
            rows = rows + more
            if len(rows) > KEEP:
                self.start += len(rows) - KEEP
                rows = rows[-KEEP:]
        elif rows and self.start - CHUNK <= index < self.start:  # just above
            more = source.before(rows[0], max(CHUNK, self.start - index))
            rows = more + rows
            self.start -= len(more)
            rows = rows[:KEEP]
        else:  # a jump: read at the position (a short list: all of it)
            first, n = max(0, min(index - CHUNK // 2, self.total - CHUNK)), CHUNK
            if self.total <= KEEP:
                first, n = 0, self.total
            rows = source.at(first, n, self.total)
            self.start = first
        self.rows = rows

    def index_of(self, key: Key) -> int | None:
        """Where a conversation is: in the window, else asked of the source."""
        for i, t in enumerate(self.rows):
            if key_of(t) == key:
                return self.start + i
        if self.whole:
            return None
        found = self.source.position(key)
        return None if found is None else found[0]

    def find(self, key: Key) -> Thread | None:
        index = self.index_of(key)
        return None if index is None else self.get(index)

    def span(self, low: int, high: int) -> list[Thread]:
        """The rows `low` to `high` (clipped to the list), read if needed."""
        low, high = max(0, low), min(self.total, high)
        if high <= low:
            return []
        self.get(low)
        self.get(high - 1)
        if self.start <= low and high <= self.end:
            return self.rows[low - self.start:high - self.start]
        return [t for i in range(low, high) if (t := self.get(i)) is not None]
