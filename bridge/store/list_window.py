"""The conversation list as a window onto the store (#22): how many rows a view
holds, the rows at any position, the rows beside a row, and where a row is.

A view (`ListView`) is what a list shows: every account's conversations or
one account's, or those with an email in one folder; in an order
(`ThreadOrder`); plus conversations the list keeps though they no longer match
(`pinned`: a row moved out of the folder on screen stays in sight with where
it went, a conversation opened from a search stays in the list). Conversations
archived or deleted here are left out, as in `list_threads`.

Every read is O(rows returned) where an index allows it: the default order
(newest first) pages on `threads_by_last` / `threads_by_account_last` in either
direction, so the first rows and the last rows cost the same; a position in
the middle is an OFFSET from the nearer end. Rows beside a row are keyset
pages (`after`, `before`), which is how a list scrolls. The other orders (by
sender, unread first) sort the view's rows in SQLite (no index: they are
sorted on demand, as `list_threads` did).
"""

from __future__ import annotations

from typing import Any

from ..record import FrozenRecord, setfield
from .db import Db, to_json
from .records import Thread, ThreadOrder
from .threads import NOT_HIDDEN, THREAD_COLUMNS, thread_of

Key = tuple[str, str]  # (account, thread_id)

# A thread with an email in the folder, asked per thread row (a page stops early).
# CROSS JOIN keeps SQLite on the thread's messages first: without ANALYZE's figures
# (a new store) it would start from the folder's locations, every one per row.
_IN_FOLDER = ("EXISTS (SELECT 1 FROM messages AS m CROSS JOIN mail_locations AS l"
              " ON l.message = m.id WHERE m.thread_id = threads.thread_id"
              " AND m.account = threads.account AND l.account = ? AND l.folder = ?)")
# The same as one list of the folder's threads, for what reads every row (a count).
_FOLDER_THREADS = ("thread_id IN (SELECT m.thread_id FROM mail_locations AS l"
                   " JOIN messages AS m ON m.id = l.message"
                   " WHERE l.account = ? AND l.folder = ?)")
_PINNED = ("(account, thread_id) IN (SELECT json_extract(value, '$[0]'),"
           " json_extract(value, '$[1]') FROM json_each(?))")


class ListView(FrozenRecord):
    """Which conversations a list shows, and in which order."""

    __slots__ = ("account", "folder", "order", "pinned")

    account: str | None
    folder: str | None  # with `account`
    order: ThreadOrder
    pinned: frozenset[Key]

    def __init__(
        self, account: str | None = None, folder: str | None = None,
        order: ThreadOrder | None = None, pinned: frozenset[Key] = frozenset(),
    ) -> None:
        setfield(self, "account", account)
        setfield(self, "folder", folder)
        setfield(self, "order", ThreadOrder() if order is None else order)
        setfield(self, "pinned", pinned)

    def where(self, every: bool = False) -> tuple[str, list[Any]]:
        """The view's condition over `threads` and its arguments; `every`: for a
        read of every row (a count), not a page."""
        cond = NOT_HIDDEN
        args: list[Any] = []
        if self.account is not None:
            cond += " AND account = ?"
            args.append(self.account)
        if self.folder is not None:
            cond += " AND " + (_FOLDER_THREADS if every else _IN_FOLDER)
            args += [self.account, self.folder]
        if self.pinned:
            cond = f"(({cond}) OR {_PINNED})"
            args.append(to_json(sorted(self.pinned)))
        return cond, args

    def sort(self, backwards: bool = False) -> tuple[tuple[str, ...], bool]:
        """The columns a keyset compares and whether the list goes down them
        (DESC): the plain columns of the index in the default order."""
        order = self.order
        if order.by == "date":
            return ("last_date", "id"), not order.reverse ^ backwards
        return order.sql, order.reverse ^ backwards

    def key(self, t: Thread) -> tuple[Any, ...]:
        """A row's values of the `sort` columns."""
        if self.order.by == "date":
            return (t.last_date, t.id)
        return tuple(self.order.key(t))


class ListWindow(Db):
    """The reads of a virtual conversation list (`ListView`)."""

    def count_threads(self, view: ListView) -> int:
        where, args = view.where(every=True)
        with self._lock:
            return int(self._conn.execute(
                f"SELECT count(*) FROM threads WHERE {where}", args).fetchone()[0])

    def _page(self, view: ListView, backwards: bool, limit: int, offset: int = 0,
              beyond: Thread | None = None) -> list[Thread]:
        where, args = view.where()
        cols, desc = view.sort(backwards)
        if beyond is not None:
            marks = ", ".join("?" for _ in cols)
            where += f" AND ({', '.join(cols)}) {'<' if desc else '>'} ({marks})"
            args += list(view.key(beyond))
        sort = ", ".join(f"{c} {'DESC' if desc else 'ASC'}" for c in cols)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM threads WHERE {where} ORDER BY {sort}"
                " LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        found = [thread_of(r) for r in rows]
        return found[::-1] if backwards else found

    def threads_at(self, view: ListView, offset: int, limit: int,
                   total: int | None = None) -> list[Thread]:
        """The rows `offset` to `offset + limit` of the view, in its order; read
        from the nearer end (`total`, the view's count, tells which)."""
        if limit <= 0 or offset < 0:
            return []
        total = self.count_threads(view) if total is None else total
        if offset <= total - offset - limit:
            return self._page(view, False, limit, offset)
        from_end = total - offset - limit
        if from_end < 0:
            limit, from_end = limit + from_end, 0
        return self._page(view, True, max(limit, 0), from_end) if limit > 0 else []

    def threads_after(self, view: ListView, t: Thread, limit: int) -> list[Thread]:
        """The `limit` rows after `t` in the view's order."""
        return self._page(view, False, limit, beyond=t)

    def threads_before(self, view: ListView, t: Thread, limit: int) -> list[Thread]:
        """The `limit` rows before `t`, in the view's order (the nearest last)."""
        return self._page(view, True, limit, beyond=t)

    def thread_position(self, view: ListView, account: str, thread_id: str
                        ) -> tuple[int, Thread] | None:
        """Where a conversation is in the view now, and its row; None when the
        view does not hold it."""
        where, args = view.where()
        with self._lock:
            r = self._conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM threads WHERE account = ? AND thread_id = ?"
                f" AND {where}", [account, thread_id, *args]).fetchone()
        if r is None:
            return None
        t = thread_of(r)
        return self.threads_ahead(view, t), t

    def threads_ahead(self, view: ListView, t: Thread) -> int:
        """How many of the view's rows come before `t` (stored or not)."""
        where, args = view.where(every=True)
        cols, desc = view.sort()
        marks = ", ".join("?" for _ in cols)
        with self._lock:
            return int(self._conn.execute(
                f"SELECT count(*) FROM threads WHERE {where} AND"
                f" ({', '.join(cols)}) {'>' if desc else '<'} ({marks})",
                [*args, *view.key(t)]).fetchone()[0])

    def has_thread(self, account: str, thread_id: str) -> bool:
        with self._lock:
            return self._conn.execute(
                "SELECT 1 FROM threads WHERE account = ? AND thread_id = ?",
                (account, thread_id)).fetchone() is not None

    def in_view(self, view: ListView, account: str, thread_id: str) -> bool:
        where, args = view.where()
        with self._lock:
            return self._conn.execute(
                f"SELECT 1 FROM threads WHERE account = ? AND thread_id = ? AND {where}",
                [account, thread_id, *args]).fetchone() is not None


class ViewRows:
    """One view's rows, read from the store when asked: what a virtual list is
    given (`Engine.conversation_rows`). The list asks for the rows it draws and
    holds only those. `merge` keeps a changed conversation in the view though it
    stopped matching (pinned), and lists a conversation the store has no row for
    yet (a room just joined, where nobody spoke) among the stored ones, where the
    order puts it, until its first message stores it; `drop` lets either go."""

    def __init__(self, store: ListWindow, view: ListView) -> None:
        self.store = store
        self.view = view
        self.unstored: dict[Key, Thread] = {}
        self._placed: list[tuple[int, Thread]] = []  # (position, row) of the unstored

    @property
    def order(self) -> ThreadOrder:
        return self.view.order

    def _sort_key(self, t: Thread) -> Any:
        return _Desc(self.order.key(t)) if self.order.reverse else self.order.key(t)

    def count(self) -> int:
        total = self.store.count_threads(self.view)
        if self.unstored:
            self.unstored = {k: t for k, t in self.unstored.items()
                             if not self.store.has_thread(*k)}
            rows = sorted(self.unstored.values(), key=self._sort_key)
            self._placed = [(self.store.threads_ahead(self.view, t) + i, t)
                            for i, t in enumerate(rows)]
        else:
            self._placed = []
        return total + len(self._placed)

    def at(self, offset: int, limit: int, total: int | None = None) -> list[Thread]:
        if not self._placed:
            return self.store.threads_at(self.view, offset, limit, total)
        ahead = sum(1 for p, _ in self._placed if p < offset)
        inside = {p: t for p, t in self._placed if offset <= p < offset + limit}
        base = iter(self.store.threads_at(
            self.view, offset - ahead, limit - len(inside),
            None if total is None else total - len(self._placed)))
        found = []
        for at in range(offset, offset + limit):
            t = inside.get(at) or next(base, None)
            if t is None:
                break
            found.append(t)
        return found

    def _with_unstored(self, rows: list[Thread], t: Thread, limit: int,
                       later: bool) -> list[Thread]:
        if not self._placed:
            return rows
        mark = self._sort_key(t)
        extra = [u for _, u in self._placed if u is not t and
                 ((mark < self._sort_key(u)) if later else (self._sort_key(u) < mark))]
        merged = sorted([*rows, *extra], key=self._sort_key)
        return merged[:limit] if later else merged[-limit:]

    def after(self, t: Thread, limit: int) -> list[Thread]:
        return self._with_unstored(self.store.threads_after(self.view, t, limit), t,
                                   limit, True)

    def before(self, t: Thread, limit: int) -> list[Thread]:
        return self._with_unstored(self.store.threads_before(self.view, t, limit), t,
                                   limit, False)

    def position(self, key: Key) -> tuple[int, Thread] | None:
        for p, t in self._placed:
            if (t.account, t.thread_id) == key:
                return p, t
        found = self.store.thread_position(self.view, *key)
        if found is None or not self._placed:
            return found
        index, t = found
        mark = self._sort_key(t)
        return index + sum(1 for _, u in self._placed if self._sort_key(u) < mark), t

    def merge(self, threads: list[Thread]) -> None:
        """These conversations changed and belong in the list: the ones the view
        no longer holds (moved out of its folder, opened from a search) are kept,
        the ones the store has no row for are listed as they are."""
        stray = {(t.account, t.thread_id): t for t in threads}
        for key in self.view.pinned:
            stray.pop(key, None)
        stray = {k: t for k, t in stray.items() if not self.store.in_view(self.view, *k)}
        for key, t in list(stray.items()):
            if not self.store.has_thread(*key):
                self.unstored[key] = t
                del stray[key]
        if stray:
            self.view = self.view.replace(pinned=self.view.pinned | set(stray))

    def drop(self, keys: list[Key]) -> None:
        for key in keys:
            self.unstored.pop(key, None)
        if self.view.pinned & set(keys):
            self.view = self.view.replace(pinned=self.view.pinned - set(keys))


class _Desc:
    """A key that sorts the other way round (a reversed order)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.key < self.key)
