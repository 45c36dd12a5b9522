"""The one connection and its transactions, shared by every part of the store.

`Db` owns the SQLite connection (WAL, foreign keys on, one per process and data
directory) and the lock that serialises this process's threads on it. Every
aggregate of the store (messages, threads, folders, contacts, outbox, events)
is a subclass of it that opens its transactions only through `_write`, `_read`
and `_write_unchecked`; work that spans aggregates inside one transaction goes
through the aggregates' module functions, which take the open connection.

`batch()` makes many writes one transaction (a page of the chat archive: one
commit, not one per line): inside it each `_write` is a savepoint, so a write that
fails is undone alone, as it would be on its own, and work a write leaves for the
end of its transaction (`_batch_ending`) runs once for the whole batch.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Self

from ..paths import ensure_private_dir
from . import schema
from .blobs import BlobStore
from .records import Cursor

BUSY_TIMEOUT_MS = 5000
ANALYSIS_LIMIT = 400  # rows ANALYZE samples an index at close (SQLite advises 100-1000)


def to_json(value: Any) -> str:
    """Compact JSON, as the store writes it into columns and json_each() arguments."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def keyset_before(before: float | Cursor | None, date_col: str,
                  id_col: str) -> tuple[str, list[Any]]:
    """The condition (and its arguments) for the page that ends before `before`:
    a `(date, row id)` cursor, or a bare date."""
    if before is None:
        return "", []
    if isinstance(before, tuple):
        return f" AND ({date_col}, {id_col}) < (?, ?)", [float(before[0]), int(before[1])]
    return f" AND {date_col} < ?", [float(before)]


class Db:
    """The store's connection: open, close, and the three kinds of transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self._batch_depth = 0  # > 0 while `batch()` holds a transaction open
        self.path = path
        self.blobs = BlobStore(path.parent / "attachments")
        # Whether encrypted chat lines' words go into the search index ([crypto]
        # index_decrypted, set from the config; see messages.insert_batch).
        self.index_sealed = False

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> Self:
        """Open (or create) the store at `path`, migrating it to the current schema.

        The directory is made owner-only (0o700) and the file 0o600 before SQLite
        writes anything into it; the -wal and -shm files inherit the file's mode.
        Raises `SchemaTooNewError` for a database written by a newer tuiclient.
        """
        path = Path(path)
        ensure_private_dir(path.parent)
        # Created here only when it is not there yet: closing any descriptor of
        # the file drops every POSIX lock this process holds on it, so opening
        # and closing it beside a live connection (a second Store in this
        # process, as the header sync's own) would drop that connection's
        # shared lock; another process closing its connection then takes the
        # file as unused, and this one stops seeing other processes' writes.
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(path, 0o600)
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Header sync inserts into several indexes keyed by random ids (Message-IDs,
            # thread ids); with SQLite's default 2 MB page cache a 100,000-message
            # import spends its time re-reading index pages. 32 MB keeps most hot.
            conn.execute("PRAGMA cache_size = -32768")
            conn.execute("PRAGMA temp_store = MEMORY")
            # Check the version before anything (even the journal mode) changes the file.
            schema.migrate(conn)
            conn.execute("PRAGMA journal_mode = WAL")
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            # Keeps the planner's statistics fresh for the next run. Capped, as
            # SQLite's documentation advises: an index a query used whose table
            # has no statistics (an empty partial index never gets any) made
            # every closing process ANALYZE the whole table, ~70 ms at 100k
            # messages; with the limit ANALYZE samples (~1 ms).
            with suppress(sqlite3.Error):
                self._conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
                self._conn.execute("PRAGMA optimize")
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return schema.schema_version(self._conn)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for the writes made inside it (by this thread: the lock
        is held throughout), committed at its end, all undone if it raises. Each
        write inside is a savepoint of it (`_write`), and what a write defers to
        the end of its transaction (`_batch_ending`: claims adoption) runs once,
        at the end of the batch. A batch inside a batch is part of the outer one."""
        with self._lock:
            if self._batch_depth:
                self._batch_depth += 1
                try:
                    yield
                finally:
                    self._batch_depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._batch_depth = 1
            self._batch_started(self._conn)
            try:
                yield
                self._batch_ending(self._conn)
            except BaseException:
                self._batch_depth = 0
                self._batch_dropped(self._conn)
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._batch_depth = 0
            self._conn.execute("COMMIT")

    # Hooks for the aggregates (`Threads` defers claims adoption to the batch's end).
    def _batch_started(self, conn: sqlite3.Connection) -> None:
        """A batch opened its transaction."""

    def _batch_ending(self, conn: sqlite3.Connection) -> None:
        """A batch is about to commit: the work its writes deferred."""

    def _batch_dropped(self, conn: sqlite3.Connection) -> None:
        """A batch is rolled back: forget what its writes deferred."""

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE: take the write lock up front, so a check-then-insert inside the
        # transaction cannot race another process.
        with self._lock:
            if self._batch_depth:
                # Inside a batch: a savepoint, undone alone if this write fails.
                self._conn.execute("SAVEPOINT write")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK TO write")
                    self._conn.execute("RELEASE write")
                    raise
                self._conn.execute("RELEASE write")
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _write_unchecked(self) -> Iterator[sqlite3.Connection]:
        """`_write` without per-row foreign key checks, for a bulk import whose
        transaction writes every parent row (account, folder) itself first and
        deletes or rekeys none: the checks cost a parent lookup per key and row.
        The lock keeps the switch from reaching any other statement on this
        connection; SQLite takes the pragma outside a transaction only (inside a
        `batch()` the checks stay on)."""
        with self._lock:
            if self._batch_depth:
                with self._write() as conn:
                    yield conn
                return
            self._conn.execute("PRAGMA foreign_keys = OFF")
            try:
                with self._write() as conn:
                    yield conn
            finally:
                self._conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One snapshot for reads that take several queries (a message and its parties).
        with self._lock:
            if self._batch_depth:
                yield self._conn  # the batch's transaction is that snapshot
                return
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")
