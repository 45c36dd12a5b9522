"""Header sync's fast path: bulk rows without `Message` objects.

A cold sync of a large mailbox writes one executemany per table and, in the same
transaction, one INSERT ... SELECT each for the party rows and both full-text
indexes (`index=True`, `_index_rows`): a search finds what is committed, and the
WAL checkpoint is held off until the import ends (`end_bulk`). Without `index`
the rows wait for `index_backlog` (and, for old mail, so do their party rows):
bulk importers that index later, and stores written before the sync indexed as
it went, whose backlog the mail worker still catches up.

A header-synced message's party rows are its recipients (positions 1 on): its
sender is in its own row's sender columns, where reads take it from
(`Search._load`), so it is not written a second time. Party rows are written
as `message_people`, a person id each (`store_recipients`, schema 16), not
through the `message_parties` view that single-message writers use.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from ..model import SEEN, Direction, EmailHeaders, Transport
from . import schema
from .db import Db, to_json
from .fts import index_rows
from .messages import parties_text
from .once import twin_threads
from .records import TRANSPORT_BITS
from .threads import (
    DRAFT_JSON,
    THREAD_UPSERT,
    ThreadDelta,
    adopt_claims,
    draft_folders,
    recompute_threads,
)

# WAL checkpoint thresholds, in pages: SQLite's default, and the cap while a bulk
# header import runs (256 MiB of WAL; 100,000 headers write about 120 MiB).
_CHECKPOINT_PAGES = 1000
_BULK_CHECKPOINT_PAGES = 65536

# Header sync's row: no body yet, and `indexed = 0` until `index_backlog` runs. The
# parameters are a row id followed by an email header row (`Store.email_header_row`).
_HEADER_INSERT = """
INSERT INTO messages (
    id, account, folder, uid, msg_id, thread_id, date, direction, unread, sender_address,
    sender_name, subject, search_parties, message_id_header, in_reply_to, refs, flags,
    malformed, has_attachment, pending_parties, transport, indexed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'email', 0)
"""

# The same without the id, for a batch whose ids SQLite hands out itself.
_HEADER_INSERT_AUTO_ID = _HEADER_INSERT.replace("id, account,", "account,", 1).replace(
    "VALUES (?, ", "VALUES (", 1)

# Header sync's row as it is indexed in its own transaction (`index=True`): with
# its parties beside it (`_index_rows`), or written at once (`_HEADER_INSERT` with
# `indexed = 1`); either way the full-text rows follow from `fts.index_rows`.
_HEADER_INSERT_INDEXED = _HEADER_INSERT.replace("?, 'email', 0)", "?, 'email', 1)", 1)
_HEADER_INSERT_INDEXED_AUTO_ID = _HEADER_INSERT_AUTO_ID.replace(
    "?, 'email', 0)", "NULL, 'email', 1)", 1)


def store_recipients(conn: sqlite3.Connection, source: str, args: Sequence[Any]) -> None:
    """Store party rows given as `source`, a SELECT of (message id, position,
    role, address, name), inside the caller's transaction: each person new to
    `party_names` once (and so into `to:`'s trigram index), then the rows as
    `message_people` with the person's id (schema 16), in the source's order.

    The rows pass through a temporary table so their JSON is read once: the
    people and the rows are two statements over it (CROSS JOIN: in the
    temporary table's order, each person found through `party_names`' unique
    key). Against the text rows of
    schema 15 (the address in a NOCASE index, one entry a recipient) a cold
    sync's writer stores 350,000 integers in their index instead."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS recipients_in (message_id INTEGER, "
                 "position INTEGER, role TEXT, address TEXT, name TEXT)")
    conn.execute("INSERT INTO temp.recipients_in " + source, args)
    conn.execute("INSERT OR IGNORE INTO party_names (address, name) "
                 "SELECT DISTINCT address, name FROM temp.recipients_in")
    conn.execute("INSERT INTO message_people (message_id, position, role, person) "
                 "SELECT r.message_id, r.position, r.role, n.id FROM temp.recipients_in AS r "
                 "CROSS JOIN party_names AS n ON n.address = r.address AND n.name = r.name")
    conn.execute("DELETE FROM temp.recipients_in")


class Headers(Db):
    """Bulk header import and the index backlog it leaves."""

    @staticmethod
    def email_header_row(account: str, folder: str, h: EmailHeaders) -> tuple[Any, ...]:
        """The plain tuple `insert_email_headers` stores for one header-synced email.

        (account, folder, uid, msg_id, thread_id, date, direction, unread,
        sender_address, sender_name, subject, search_parties, message_id_header,
        in_reply_to, refs JSON, flags JSON, malformed, has_attachment, recipients
        JSON): strings, numbers and None only, so a parser in another process can
        make them and send them over cheaply. Recipients are [[role, address,
        name], ...]; flags are sorted.
        """
        sender = h.sender
        return (
            account, folder, h.uid, h.msg_id, h.thread_id, float(h.date), h.direction.value,
            int(h.direction is Direction.IN and SEEN not in h.flags), sender.address,
            sender.name, h.subject, parties_text((sender, *h.recipients)),
            h.message_id_header, h.in_reply_to, to_json(h.references), to_json(sorted(h.flags)),
            int(h.malformed), int(h.has_attachment),
            to_json([[p.role, p.address, p.name] for p in h.recipients]))

    def insert_email_headers(self, account: str, folder: str,
                             items: Sequence[EmailHeaders] | Sequence[tuple[Any, ...]],
                             *, defer_parties: bool = False, index: bool = False) -> int:
        """Store header-synced emails of one folder in one transaction; return how many
        were new messages.

        `items` are `EmailHeaders` or rows made by `email_header_row` for this
        account and folder. The fast path of a cold sync: no `Message` objects, one
        executemany per table, and the rows wait for the full-text index
        (`index_backlog`) instead of paying for it row by row. With
        `defer_parties` the recipients wait too (in the row, as JSON) and the
        message shows only its sender until the backlog has run: for a bulk import
        of old mail, not for what a user is about to open. A row whose msg_id is
        stored already is that message and only gains this folder as a location:
        the caller settles ids first (`MailSync._store_suspects`: the same bytes,
        or the same person's copy on the other transport, else an id of its own).

        With `index` nothing waits: the party rows and both full-text indexes are
        written in this same transaction, in bulk (`_index_rows`), so a search
        finds exactly the batches that were committed and a sync cut off mid-way
        leaves no backlog behind (the header sync's way). `defer_parties` then
        only marks a bulk import: the WAL checkpoint waits for `end_bulk`.
        """
        if not items:
            return 0
        rows_in: Sequence[tuple[Any, ...]]
        if isinstance(items[0], EmailHeaders):
            # All items are of one kind: the first tells which.
            rows_in = [self.email_header_row(account, folder, h)
                       for h in cast(Sequence[EmailHeaders], items)]
        else:
            rows_in = cast(Sequence[tuple[Any, ...]], items)
        now = time.time()
        bulk = defer_parties or index
        if defer_parties:
            with self._lock:
                # A bulk import leaves the WAL checkpoint to its end (`end_bulk`,
                # or `index_backlog` after it): checkpointing at every batch's
                # commit copied the same index pages into the database again and
                # again. The WAL is as safe either way; the cap keeps a huge
                # import's WAL bounded.
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {_BULK_CHECKPOINT_PAGES:d}")
        with self._write_unchecked() as conn:
            conn.execute("INSERT OR IGNORE INTO accounts (name, created) VALUES (?, ?)",
                         (account, now))
            conn.execute("INSERT OR IGNORE INTO folders (account, name) VALUES (?, ?)",
                         (account, folder))
            known = dict(conn.execute(
                "SELECT msg_id, id FROM messages WHERE account = ? "
                "AND msg_id IN (SELECT value FROM json_each(?))",
                (account, to_json([r[3] for r in rows_in]))).fetchall())
            first_id = next_id = conn.execute(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'),"
                " 0), coalesce((SELECT max(id) FROM messages), 0)) + 1").fetchone()[0]
            rows: list[tuple[Any, ...]] = []
            parties: list[tuple[Any, ...]] = []
            places: list[tuple[Any, ...]] = []
            threads: dict[str, ThreadDelta] = defaultdict(ThreadDelta)
            email_bit = TRANSPORT_BITS[Transport.EMAIL]
            # A draft (threads.DRAFT_SQL): flagged \Draft, or any email of Drafts.
            in_drafts = (account, folder) in draft_folders(conn)
            fresh = bulk and not known and len({r[3] for r in rows_in}) == len(rows_in)
            defer = defer_parties and not index
            for r in rows_in if not fresh else ():
                row_id = known.get(r[3])
                if row_id is None:
                    row_id = known[r[3]] = next_id
                    next_id += 1
                    if defer:
                        rows.append((row_id, *r))
                    else:
                        rows.append((row_id, *r[:-1], None))
                        parties.append((row_id, r[18]))
                    threads[r[4]].add_values(r[5], r[7], r[9] or r[8], "", r[10], email_bit,
                                             in_drafts or DRAFT_JSON in r[15])
                else:
                    # Known already (sent from here, or its chat copy): now it has a place.
                    places.append((r[2], row_id))
            if fresh:
                # A bulk batch of mail new to the store, the usual case: the rows go
                # in as they came and SQLite numbers them first_id onwards, as
                # AUTOINCREMENT takes the highest id ever used + 1, as next_id did.
                for r in rows_in:
                    threads[r[4]].add_values(r[5], r[7], r[9] or r[8], "", r[10], email_bit,
                                             in_drafts or DRAFT_JSON in r[15])
                if index:
                    # Without the recipients' JSON: they go to message_parties below.
                    conn.executemany(_HEADER_INSERT_INDEXED_AUTO_ID,
                                     [r[:-1] for r in rows_in])
                else:
                    conn.executemany(_HEADER_INSERT_AUTO_ID, rows_in)
                next_id += len(rows_in)
                if conn.execute("SELECT max(id) FROM messages").fetchone()[0] != next_id - 1:
                    raise schema.StoreError("bulk import: row ids were not consecutive")
                new = len(rows_in)
            else:
                conn.executemany(_HEADER_INSERT_INDEXED if index else _HEADER_INSERT, rows)
                new = len(rows)
            if places:
                conn.executemany("UPDATE messages SET folder = ?, uid = ? "
                                 "WHERE id = ? AND folder IS NULL",
                                 [(folder, uid, i) for uid, i in places])
                conn.executemany("INSERT OR IGNORE INTO mail_locations (account, folder, uid, "
                                 "message) VALUES (?, ?, ?, ?)",
                                 [(account, folder, uid, i) for uid, i in places])
            if new:
                # Straight from the rows just written: no values cross into SQLite
                # twice. Not OR IGNORE: the sync found these places free, and two
                # emails in one place must fail the batch, not hide one of them.
                conn.execute("INSERT INTO mail_locations (account, folder, uid, "
                             "message) SELECT account, folder, uid, id FROM messages "
                             "WHERE id BETWEEN ? AND ?", (first_id, next_id - 1))
                if index and fresh:
                    self._index_rows(conn, first_id, rows_in)
                elif index:
                    index_rows(conn, first_id, next_id - 1)
                else:
                    self._backlog_add(conn, first_id, next_id - 1)
            if parties:
                store_recipients(
                    conn, "SELECT r.value ->> 0, p.key + 1, p.value ->> 0, p.value ->> 1, "
                    "p.value ->> 2 FROM json_each(?) AS r, json_each(r.value, '$[1]') AS p",
                    ("[" + ",".join([f"[{i:d},{js}]" for i, js in parties]) + "]",))
            conn.executemany(THREAD_UPSERT, [d.row(account, thread_id)
                                             for thread_id, d in threads.items()])
            recount = twin_threads(rows_in)
            if recount:  # a twin of our own email: one message to the reader (once.py)
                recompute_threads(conn, recount)
            adopt_claims(conn, account, threads)
        return new

    @staticmethod
    def _index_rows(conn: sqlite3.Connection, first: int, rows: Sequence[tuple[Any, ...]]
                    ) -> None:
        """Parties and full-text rows of header rows just stored as ids `first`
        onwards, in one statement each: what `index_backlog` would write later.

        The recipients only: the sender's party row would repeat the row's own
        sender columns, which is where a read takes the sender from when there
        is no row at position 0 (`Search._load`); a cold sync wrote 100,000 of
        them (6-10% of its writer's CPU)."""
        last = first + len(rows) - 1
        # Every row's recipients as one JSON array of the rows' own JSON arrays,
        # joined as text: the row's last item is that JSON already.
        store_recipients(
            conn, "SELECT ?1 + r.key, p.key + 1, p.value ->> 0, p.value ->> 1, p.value ->> 2 "
            "FROM json_each(?2) AS r, json_each(r.value) AS p",
            (first, "[" + ",".join([r[18] for r in rows]) + "]"))
        index_rows(conn, first, last)

    @staticmethod
    def _backlog_add(conn: sqlite3.Connection, first: int, last: int) -> None:
        # Imports hand out consecutive ids, so a range usually just grows.
        if not conn.execute("UPDATE index_backlog SET last = ? WHERE last = ?",
                            (last, first - 1)).rowcount:
            conn.execute("INSERT INTO index_backlog (first, last) VALUES (?, ?)", (first, last))

    def index_backlog(self, limit: int = 20_000) -> int:
        """Catch up with up to `limit` messages of bulk imports; return how many.

        They get their party rows (if the import deferred them) and go into the
        full-text index, newest rows first. Run after a bulk import until it
        returns 0; search finds a message once it has been indexed.
        """
        done = 0
        self.end_bulk()
        with self._write() as conn:
            ranges = conn.execute(
                "SELECT rowid, first, last FROM index_backlog ORDER BY last DESC").fetchall()
            for rowid, first, last in ranges:
                if done >= limit:
                    break
                ids = [r[0] for r in conn.execute(
                    "SELECT id FROM messages WHERE id BETWEEN ? AND ? AND indexed = 0 "
                    "ORDER BY id DESC LIMIT ?", (first, last, limit - done))]
                if len(ids) < limit - done:
                    conn.execute("DELETE FROM index_backlog WHERE rowid = ?", (rowid,))
                else:
                    conn.execute("UPDATE index_backlog SET last = ? WHERE rowid = ?",
                                 (ids[-1] - 1, rowid))
                if not ids:
                    continue
                done += len(ids)
                span = (ids[-1], ids[0])
                where = "WHERE id BETWEEN ? AND ? AND indexed = 0"
                # The recipients only, as `_index_rows` writes them.
                store_recipients(
                    conn, "SELECT m.id, j.key + 1, j.value ->> 0, j.value ->> 1, "
                    "j.value ->> 2 FROM messages AS m, json_each(m.pending_parties) AS j "
                    "WHERE m.id BETWEEN ? AND ? AND m.indexed = 0 "
                    "AND m.pending_parties IS NOT NULL", span)
                conn.execute(
                    "INSERT INTO messages_fts (rowid, subject, body, search_parties) "
                    f"SELECT id, subject, body, search_parties FROM messages {where}", span)
                conn.execute(
                    "INSERT INTO senders_fts (rowid, sender_address, sender_name) "
                    f"SELECT id, sender_address, sender_name FROM messages {where}", span)
                conn.execute("UPDATE messages SET indexed = 1, pending_parties = NULL "
                             f"{where}", span)
        return done

    def end_bulk(self) -> None:
        """The WAL checkpoint back to SQLite's default after a bulk import
        (`insert_email_headers` with `defer_parties` holds it off)."""
        with self._lock:
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES:d}")

    def index_pending(self) -> int:
        """How many messages still wait for `index_backlog`."""
        with self._lock:
            return self._conn.execute(
                "SELECT coalesce(sum((SELECT count(*) FROM messages WHERE id BETWEEN "
                "b.first AND b.last AND indexed = 0)), 0) FROM index_backlog AS b").fetchone()[0]
