"""The SQLite store: messages of both transports, threads, contacts, outbox, events.

One database file per data directory, in WAL mode so a reader (the screen) never
waits for a writer (a sync). The API is synchronous: the engine calls it from its
worker threads (and from the event loop for quick reads). A Store holds one
connection guarded by a lock, so it can be shared between threads; other processes
(a headless run beside the TUI) are serialised by SQLite's own locking.

Counts that list views need (a thread's messages and unread, its last date) are
kept in the `threads` table as messages come and go, so listing never scans the
messages table.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import count, islice
from pathlib import Path
from typing import Any, Self, cast

from ..model import (
    CLAIM_PREFIX,
    SEEN,
    Attachment,
    DeliveryState,
    Direction,
    EmailHeaders,
    Message,
    Party,
    Transport,
    claimed_thread_id,
)
from ..paths import ensure_private_dir
from . import owner, schema
from .blobs import BlobStore
from .fts import fts_query
from .query import parse_query
from .records import (
    TRANSPORT_BITS,
    Account,
    Contact,
    ContactAddress,
    Cursor,
    Folder,
    OutboxItem,
    OutboxLogEntry,
    StoredEvent,
    Thread,
)

BUSY_TIMEOUT_MS = 5000
# WAL checkpoint thresholds, in pages: SQLite's default, and the cap while a bulk
# header import runs (256 MiB of WAL; 100,000 headers write about 120 MiB).
_CHECKPOINT_PAGES = 1000
_BULK_CHECKPOINT_PAGES = 65536
SNIPPET_CHARS = 160
FOLDER_STATE = frozenset({"uidvalidity", "uidnext", "highestmodseq", "unread", "total"})
OUTBOX_FIELDS = frozenset({"transport", "payload", "parties", "next_attempt", "attempts"})
# States in which a row is held by the process that claimed it: on the wire, or
# taken by the server and waiting for its receipt in that process's session.
HELD = frozenset({DeliveryState.SENDING, DeliveryState.SENT})
LOOKUP_FIELDS = frozenset({"message_id_header", "stanza_id", "origin_id"})
# A lower-ranked source never takes an address from a higher-ranked one: a learned
# guess must not override what the user wrote in the config.
SOURCE_RANK = {"learned": 0, "rule": 1, "config": 2}

_MESSAGE_SELECT = """
SELECT m.id, m.account, m.msg_id, m.transport, m.direction, m.thread_id, m.date,
       m.sender_address, m.sender_name, m.subject, m.body, m.folder, m.uid,
       m.message_id_header, m.in_reply_to, m.refs, m.stanza_id, m.origin_id, m.attr_id,
       m.flags, m.delivery, m.malformed, m.raw, m.digest
FROM messages AS m
"""

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

_MESSAGE_INSERT = """
INSERT INTO messages (
    id, account, msg_id, transport, direction, thread_id, date, sender_address,
    sender_name, subject, body, search_parties, folder, uid, message_id_header,
    in_reply_to, refs, stanza_id, origin_id, attr_id, flags, unread, delivery, malformed,
    raw, digest)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# Merging a batch's figures into a thread row. In SQLite every right-hand side sees
# the row as it was before this UPDATE, so the CASEs can compare with old values.
_THREAD_UPSERT = """
INSERT INTO threads (
    account, thread_id, subject, subject_date, first_date, last_date, message_count,
    unread_count, last_sender, snippet, transports)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, thread_id) DO UPDATE SET
    message_count = message_count + excluded.message_count,
    unread_count = unread_count + excluded.unread_count,
    first_date = min(first_date, excluded.first_date),
    subject = CASE WHEN excluded.subject_date IS NOT NULL
                    AND (subject_date IS NULL OR excluded.subject_date < subject_date)
                   THEN excluded.subject ELSE subject END,
    subject_date = CASE WHEN excluded.subject_date IS NOT NULL
                         AND (subject_date IS NULL OR excluded.subject_date < subject_date)
                        THEN excluded.subject_date ELSE subject_date END,
    last_sender = CASE WHEN excluded.last_date >= last_date
                       THEN excluded.last_sender ELSE last_sender END,
    snippet = CASE WHEN excluded.last_date >= last_date
                   THEN excluded.snippet ELSE snippet END,
    last_date = max(last_date, excluded.last_date),
    transports = transports | excluded.transports
"""

_THREAD_REPLACE = """
INSERT INTO threads (
    account, thread_id, subject, subject_date, first_date, last_date, message_count,
    unread_count, last_sender, snippet, transports)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, thread_id) DO UPDATE SET
    subject = excluded.subject, subject_date = excluded.subject_date,
    first_date = excluded.first_date, last_date = excluded.last_date,
    message_count = excluded.message_count, unread_count = excluded.unread_count,
    last_sender = excluded.last_sender, snippet = excluded.snippet,
    transports = excluded.transports
"""


@dataclass(slots=True)
class _ThreadDelta:
    """What one batch adds to one thread."""

    count: int = 0
    unread: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    subject: str = ""
    subject_date: float | None = None
    last_sender: str = ""
    snippet: str = ""
    transports: int = 0

    def add(self, m: Message) -> None:
        self.add_values(m.date, int(m.unread), m.sender.name or m.sender.address, m.text,
                        m.subject, TRANSPORT_BITS[m.transport])

    def add_values(self, date: float, unread: int, sender: str, text: str, subject: str,
                   transport_bit: int) -> None:
        self.count += 1
        self.unread += unread
        if date < self.first:
            self.first = date
        if date >= self.last:
            self.last = date
            self.last_sender = sender
            self.snippet = _snippet(text) if text else ""
        if subject and (self.subject_date is None or date < self.subject_date):
            self.subject, self.subject_date = subject, date
        self.transports |= transport_bit


def _snippet(text: str) -> str:
    # Slice before splitting: bodies can be megabytes, the snippet is one line.
    return " ".join(text[: SNIPPET_CHARS * 4].split())[:SNIPPET_CHARS]


def _search_parties(m: Message) -> str:
    return _parties_text((m.sender, *m.recipients))


def _parties_text(parties: Iterable[Party]) -> str:
    """Names and addresses as one text, for the full-text index."""
    return " ".join(f"{p.name} {p.address}".strip() for p in parties)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parties_json(parties: Iterable[Party]) -> str:
    return _json([{"address": p.address, "name": p.name, "role": p.role} for p in parties])


def _parties_from_json(text: str) -> list[Party]:
    return [Party(p["address"], p.get("name", ""), p.get("role", "to")) for p in json.loads(text)]


def _thread_of(r: Sequence[Any]) -> Thread:
    """A `Thread` from a row of the threads columns that lists select, in order."""
    (row_id, account, thread_id, subject, first_date, last_date, message_count, unread_count,
     last_sender, snippet, bits) = r
    return Thread(row_id, account, thread_id, subject, first_date, last_date, message_count,
                  unread_count, last_sender, snippet,
                  frozenset(t for t, bit in TRANSPORT_BITS.items() if bits & bit))


def _before(before: float | Cursor | None, date_col: str, id_col: str) -> tuple[str, list[Any]]:
    if before is None:
        return "", []
    if isinstance(before, tuple):
        return f" AND ({date_col}, {id_col}) < (?, ?)", [float(before[0]), int(before[1])]
    return f" AND {date_col} < ?", [float(before)]


# A row's claim to its msg_id: enough to tell whether another message with that id
# is the same one.
_CLAIM_COLUMNS = "id, msg_id, transport, direction, sender_address, digest, folder"


@dataclass(slots=True)
class Claim:
    row_id: int
    msg_id: str
    transport: str
    direction: str
    sender_address: str
    digest: str | None
    folder: str | None


def distinct_msg_id(msg_id: str, transport: str, sender: str, digest: str | None,
                    n: int = 1) -> str:
    """The id of a message whose id another, different message holds already.

    From its content where the bytes are known (the same bytes come back to the
    same id, in any folder, on any device), else from its transport and sender (a
    chat line resent by the same sender comes back to the same id). The shared id
    stays in message_id_header / origin_id, where lookups find both."""
    key = digest or hashlib.sha256(f"{transport}\0{sender.strip().lower()}".encode()
                                   ).hexdigest()
    return f"{msg_id}#{key[:16]}" + (f".{n}" if n > 1 else "")


def _person_key(address: str) -> str:
    # A full JID (a room occupant without a known real JID) stays full: two
    # occupants of one room are two people.
    return address.strip().lower().removeprefix("mailto:").removeprefix("xmpp:").strip("<>")


def same_person(conn: sqlite3.Connection, a: str, b: str) -> bool:
    """Whether two sender addresses (email or JID) are one person: the same
    address, or addresses of one contact the user gave (config, a rule) or
    confirmed. A guess the app learned does not count."""
    ka, kb = _person_key(a), _person_key(b)
    if not ka or not kb:
        return False
    if ka == kb:
        return True
    rows = conn.execute(
        "SELECT address, contact_id FROM contact_addresses WHERE address IN (?, ?) "
        "AND (source <> 'learned' OR confirmed = 1)",
        (normalize_address(a), normalize_address(b))).fetchall()
    owners = {r[0]: r[1] for r in rows}
    return len(owners) == 2 and len(set(owners.values())) == 1


def _same(conn: sqlite3.Connection, m: Message, old: Claim) -> bool:
    return same_message(conn, m.transport.value, m.direction.value, m.sender.address,
                        m.digest, old)


def same_message(conn: sqlite3.Connection, transport: str, direction: str, sender: str,
                 digest: str | None, old: Claim) -> bool:
    """Whether `m` is the stored message `old`, whose msg_id it carries.

    Two emails are the same when their bytes are (the same message in two
    folders); otherwise (the same id on both transports, or bytes not known) when
    both are ours, or both came from one person. A stranger's chat line that
    reuses an email's Message-ID as its origin-id stays a message of its own."""
    if transport == old.transport == Transport.EMAIL.value and digest and old.digest:
        return digest == old.digest
    if direction == old.direction == Direction.OUT.value:
        return True
    if direction != old.direction:
        return False
    return same_person(conn, sender, old.sender_address)


def normalize_address(address: str) -> str:
    """The form contact addresses are stored and looked up in: lowercase, JIDs bare."""
    a = address.strip().lower()
    for scheme in ("mailto:", "xmpp:"):
        if a.startswith(scheme):
            a = a[len(scheme):].split("?", 1)[0]
    a = a.strip("<>")
    # A resource starts at the first "/" after the domain's "@"; an email local part
    # may itself contain "/", so only look past the last "@".
    slash = a.find("/", a.rfind("@") + 1)
    return a[:slash] if slash >= 0 else a


class Store:
    """The app's database; make one with `Store.open(path)`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self.blobs = BlobStore(path.parent / "attachments")

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (or create) the store at `path`, migrating it to the current schema.

        The directory is made owner-only (0o700) and the file 0o600 before SQLite
        writes anything into it; the -wal and -shm files inherit the file's mode.
        Raises `SchemaTooNewError` for a database written by a newer tuiclient.
        """
        path = Path(path)
        ensure_private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
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
            # Cheap, and keeps the planner's statistics fresh for the next run.
            with suppress(sqlite3.Error):
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
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE: take the write lock up front, so a check-then-insert inside the
        # transaction cannot race another process.
        with self._lock:
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
        connection; SQLite takes the pragma outside a transaction only."""
        with self._lock:
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
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    # -- accounts and folders ------------------------------------------------------

    def upsert_account(self, name: str, email: str | None = None, jid: str | None = None) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO accounts (name, email, jid, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET email = excluded.email, jid = excluded.jid",
                (name, email, jid, time.time()))

    def accounts(self) -> list[Account]:
        with self._lock:
            rows = self._conn.execute("SELECT name, email, jid FROM accounts ORDER BY name")
            return [Account(*row) for row in rows]

    def delete_account(self, name: str) -> None:
        """Forget an account with its folders, messages, threads and outbox rows."""
        with self._write() as conn:
            conn.execute("DELETE FROM accounts WHERE name = ?", (name,))

    def upsert_folder(self, account: str, name: str, role: str | None = None,
                      **state: int | None) -> Folder:
        """Create a folder or update what is given; `role=None` keeps the known role.

        `state` takes uidvalidity, uidnext, highestmodseq, unread and total, as the
        server last reported them (they may count messages not yet synced).
        """
        unknown = set(state) - FOLDER_STATE
        if unknown:
            raise TypeError(f"unknown folder state {sorted(unknown)}; "
                            f"known: {sorted(FOLDER_STATE)}")
        values: dict[str, Any] = dict(state)
        if role is not None:
            values["role"] = role
        cols = list(values)
        placeholders = ", ".join("?" for _ in range(2 + len(cols)))
        update = ", ".join(f"{c} = excluded.{c}" for c in cols)
        conflict = f"DO UPDATE SET {update}" if cols else "DO NOTHING"
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO accounts (name, created) VALUES (?, ?)",
                         (account, time.time()))
            conn.execute(
                f"INSERT INTO folders (account, name{''.join(', ' + c for c in cols)}) "
                f"VALUES ({placeholders}) ON CONFLICT (account, name) {conflict}",
                (account, name, *values.values()))
            row = conn.execute(
                "SELECT * FROM folders WHERE account = ? AND name = ?", (account, name)).fetchone()
        return Folder(**dict(row))

    def folders(self, account: str) -> list[Folder]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM folders WHERE account = ? ORDER BY name", (account,))
            return [Folder(**dict(row)) for row in rows]

    def unread_by_folder(self, account: str) -> dict[str, int]:
        """How many unread messages (incoming, not \\Seen) each folder holds here,
        counting every folder a message sits in. Follows every change the store
        sees (a mark, new mail, flags from a resync), unlike the server's STATUS
        count in `folders`; costs what is unread, not the mailbox's size."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT l.folder, count(*) FROM messages AS m INDEXED BY messages_unread "
                "JOIN mail_locations AS l ON l.message = m.id "
                "WHERE m.account = ? AND m.unread = 1 AND l.account = m.account "
                "GROUP BY l.folder", (account,)).fetchall()
        return {folder: n for folder, n in rows}

    def delete_folder(self, account: str, name: str) -> int:
        """Drop a folder and its messages (e.g. after UIDVALIDITY changed); returns
        how many messages went."""
        with self._write() as conn:
            threads = conn.execute(
                "SELECT DISTINCT thread_id FROM messages WHERE account = ? AND folder = ?",
                (account, name)).fetchall()
            gone = conn.execute(
                "DELETE FROM messages WHERE account = ? AND folder = ?", (account, name)).rowcount
            conn.execute("DELETE FROM folders WHERE account = ? AND name = ?", (account, name))
            self._recompute_threads(conn, [(account, t[0]) for t in threads])
        return gone

    def folder_uids(self, account: str, folder: str,
                    among: Iterable[int] | None = None) -> dict[int, int]:
        """uid -> row id of what the store holds of a folder, for sync to diff against;
        with `among`, of those UIDs only."""
        with self._lock:
            if among is not None:
                rows = self._conn.execute(
                    "SELECT uid, message FROM mail_locations WHERE account = ? AND folder = ? "
                    "AND uid IN (SELECT value FROM json_each(?))",
                    (account, folder, _json(list(among))))
            else:
                rows = self._conn.execute(
                    "SELECT uid, message FROM mail_locations WHERE account = ? AND folder = ?",
                    (account, folder))
            return dict(rows.fetchall())

    # -- messages: writing ---------------------------------------------------------

    def insert_messages(self, messages: Iterable[Message], batch_size: int = 1000) -> int:
        """Store new messages; return how many were new.

        A message already stored is skipped: the one at its (account, folder,
        uid), or the one with its (account, msg_id) if that is the same message
        (`same_message`: the same bytes for two emails, else ours both, or one
        person's). If the stored copy came by the other transport, its missing
        coordinates (folder/uid, Message-ID header, stanza-id, origin-id, digest)
        are filled in, so the one message is shown once but found both ways. A
        different message with a taken msg_id gets one of its own
        (`distinct_msg_id`, set on the Message) and keeps the shared one in its
        Message-ID / origin-id. Each message's `id` is set to its row id, the
        existing one for a duplicate. Accounts and folders that do not exist yet
        are created. One transaction per batch.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        inserted = 0
        it = iter(messages)
        while batch := list(islice(it, batch_size)):
            with self._write() as conn:
                inserted += self._insert_batch(conn, batch)
        return inserted

    def _insert_batch(self, conn: sqlite3.Connection, batch: Sequence[Message]) -> int:
        now = time.time()
        conn.executemany("INSERT OR IGNORE INTO accounts (name, created) VALUES (?, ?)",
                         [(a, now) for a in {m.account for m in batch}])
        conn.executemany("INSERT OR IGNORE INTO folders (account, name) VALUES (?, ?)",
                         {(m.account, m.folder) for m in batch if m.folder is not None})

        # Find the batch's duplicates with one query per account (and folder) rather
        # than one per message; the write lock makes the answer hold until COMMIT.
        ids_by_account: dict[str, list[str]] = defaultdict(list)
        uids_by_folder: dict[tuple[str, str], list[int]] = defaultdict(list)
        for m in batch:
            ids_by_account[m.account].append(m.msg_id)
            if m.folder is not None and m.uid is not None:
                uids_by_folder[(m.account, m.folder)].append(m.uid)
        known: dict[tuple[str, str], int] = {}
        known_uids: dict[tuple[str, str, int], int] = {}
        # What decides whether a message with a known id is that message (`_same`).
        claims: dict[int, Claim] = {}
        for account, ids in ids_by_account.items():
            for r in conn.execute(
                    f"SELECT {_CLAIM_COLUMNS} FROM messages WHERE account = ? "
                    "AND msg_id IN (SELECT value FROM json_each(?))", (account, _json(ids))):
                known[(account, r[1])] = r[0]
                claims[r[0]] = Claim(*r)
        for (account, folder), uids in uids_by_folder.items():
            for uid, row_id in conn.execute(
                    "SELECT uid, message FROM mail_locations WHERE account = ? "
                    "AND folder = ? AND uid IN (SELECT value FROM json_each(?))",
                    (account, folder, _json(uids))):
                known_uids[(account, folder, uid)] = row_id

        # Row ids are handed out here so parties and attachments can go in with
        # executemany too; AUTOINCREMENT's counter keeps deleted ids from coming back.
        next_id = conn.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),"
            " coalesce((SELECT max(id) FROM messages), 0)) + 1").fetchone()[0]

        rows: list[tuple[Any, ...]] = []
        parties: list[tuple[Any, ...]] = []
        attachments: list[tuple[Any, ...]] = []
        place_fills: list[tuple[Any, ...]] = []
        locations: list[tuple[Any, ...]] = []
        id_fills: list[tuple[Any, ...]] = []
        threads: dict[tuple[str, str], _ThreadDelta] = defaultdict(_ThreadDelta)
        for m in batch:
            ukey = (m.account, m.folder, m.uid) if m.folder is not None and m.uid is not None \
                else None
            # A place on the server holds one message; an id is that message only
            # if it is the same one (the same bytes, or the same sender's copy on
            # the other transport), else this one gets an id of its own.
            existing = known_uids.get(ukey) if ukey is not None else None
            if existing is None:
                existing = known.get((m.account, m.msg_id))
                if existing is not None and not _same(conn, m, claims[existing]):
                    base = m.msg_id
                    for n in count(1):
                        m.msg_id = distinct_msg_id(base, m.transport.value, m.sender.address,
                                                   m.digest, n)
                        existing = known.get((m.account, m.msg_id))
                        if existing is None:
                            row = conn.execute(f"SELECT {_CLAIM_COLUMNS} FROM messages "
                                               "WHERE account = ? AND msg_id = ?",
                                               (m.account, m.msg_id)).fetchone()
                            if row is not None:
                                existing = known[(m.account, m.msg_id)] = row[0]
                                claims[row[0]] = Claim(*row)
                        if existing is None or _same(conn, m, claims[existing]):
                            break
            if existing is not None:
                m.id = existing
                if ukey is not None:
                    locations.append((*ukey, existing))
                if ukey is not None and ukey not in known_uids:
                    place_fills.append((m.folder, m.uid, existing))
                    known_uids[ukey] = existing
                if m.message_id_header or m.stanza_id or m.origin_id or m.attr_id or m.digest:
                    id_fills.append((m.message_id_header, m.stanza_id, m.origin_id, m.attr_id,
                                     m.digest, existing, m.message_id_header, m.stanza_id,
                                     m.origin_id, m.attr_id, m.digest))
                continue
            row_id = m.id = next_id
            next_id += 1
            known[(m.account, m.msg_id)] = row_id
            claims[row_id] = Claim(row_id, m.msg_id, m.transport.value, m.direction.value,
                                   m.sender.address, m.digest, m.folder)
            if ukey is not None:
                known_uids[ukey] = row_id
                locations.append((*ukey, row_id))
            rows.append((
                row_id, m.account, m.msg_id, m.transport.value, m.direction.value, m.thread_id,
                float(m.date), m.sender.address, m.sender.name, m.subject, m.text,
                _search_parties(m), m.folder, m.uid, m.message_id_header, m.in_reply_to,
                _json(m.references), m.stanza_id, m.origin_id, m.attr_id, _json(sorted(m.flags)),
                int(m.unread), m.delivery.value if m.delivery else None, int(m.malformed),
                m.raw, m.digest))
            for pos, p in enumerate((m.sender, *m.recipients)):
                parties.append((row_id, pos, p.role, p.address, p.name))
            for pos, a in enumerate(m.attachments):
                attachments.append((row_id, pos, a.filename, a.content_type, a.size, a.sha256,
                                    a.part_id, a.url))
            threads[(m.account, m.thread_id)].add(m)

        conn.executemany(_MESSAGE_INSERT, rows)
        conn.executemany(
            "INSERT INTO message_parties (message_id, position, role, address, name) "
            "VALUES (?, ?, ?, ?, ?)", parties)
        conn.executemany(
            "INSERT INTO attachments (message_id, position, filename, content_type, size, "
            "sha256, part_id, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", attachments)
        conn.executemany(_THREAD_UPSERT, [
            (account, thread_id, d.subject, d.subject_date, d.first, d.last, d.count, d.unread,
             d.last_sender, d.snippet, d.transports)
            for (account, thread_id), d in threads.items()])
        conn.executemany(
            "UPDATE messages SET folder = ?, uid = ? WHERE id = ? AND folder IS NULL", place_fills)
        conn.executemany("INSERT OR IGNORE INTO mail_locations (account, folder, uid, message) "
                         "VALUES (?, ?, ?, ?)", locations)
        # The WHERE keeps a re-sync of known mail from rewriting every row.
        conn.executemany(
            "UPDATE messages SET message_id_header = coalesce(message_id_header, ?),"
            " stanza_id = coalesce(stanza_id, ?), origin_id = coalesce(origin_id, ?),"
            " attr_id = coalesce(attr_id, ?), digest = coalesce(digest, ?)"
            " WHERE id = ? AND ((message_id_header IS NULL AND ? IS NOT NULL)"
            " OR (stanza_id IS NULL AND ? IS NOT NULL) OR (origin_id IS NULL AND ? IS NOT NULL)"
            " OR (attr_id IS NULL AND ? IS NOT NULL) OR (digest IS NULL AND ? IS NOT NULL))",
            id_fills)
        for account in {a for a, _t in threads}:
            self._adopt_claims(conn, account, {t for a, t in threads if a == account})
        return len(rows)

    def set_flags(self, row_id: int, flags: Iterable[str]) -> bool:
        """Replace a message's flags; False if there is no such message."""
        flags = set(flags)
        with self._write() as conn:
            row = conn.execute(
                "SELECT account, thread_id, direction, unread FROM messages WHERE id = ?",
                (row_id,)).fetchone()
            if row is None:
                return False
            unread = int(row["direction"] == Direction.IN.value and SEEN not in flags)
            conn.execute("UPDATE messages SET flags = ?, unread = ? WHERE id = ?",
                         (_json(sorted(flags)), unread, row_id))
            if unread != row["unread"]:
                conn.execute(
                    "UPDATE threads SET unread_count = unread_count + ? "
                    "WHERE account = ? AND thread_id = ?",
                    (unread - row["unread"], row["account"], row["thread_id"]))
        return True

    def set_delivery(self, row_id: int, state: DeliveryState | str | None) -> bool:
        with self._write() as conn:
            cur = conn.execute("UPDATE messages SET delivery = ? WHERE id = ?",
                               (DeliveryState(state).value if state else None, row_id))
        return cur.rowcount > 0

    def delete_message(self, row_id: int) -> bool:
        """Remove a message (its parties, attachment rows and index entries go too).

        Attachment files stay: another message may share them; see `prune_blobs`.
        """
        with self._write() as conn:
            row = conn.execute("SELECT account, thread_id FROM messages WHERE id = ?",
                               (row_id,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM messages WHERE id = ?", (row_id,))
            self._recompute_threads(conn, [(row["account"], row["thread_id"])])
        return True

    def _recompute_threads(self, conn: sqlite3.Connection,
                           keys: Iterable[tuple[str, str]]) -> None:
        # After a removal min/max cannot be adjusted incrementally; a thread is small
        # and its messages sit together in messages_by_thread_date, so redo it.
        for account, thread_id in keys:
            where = "FROM messages WHERE thread_id = ? AND account = ?"
            args = (thread_id, account)
            count, unread, first, last, email, xmpp = conn.execute(
                f"SELECT count(*), total(unread), min(date), max(date), "
                f"max(transport = 'email'), max(transport = 'xmpp') {where}", args).fetchone()
            if not count:
                conn.execute("DELETE FROM threads WHERE account = ? AND thread_id = ?",
                             (account, thread_id))
                continue
            subject = conn.execute(
                f"SELECT subject, date {where} AND subject <> '' ORDER BY date, id LIMIT 1",
                args).fetchone()
            latest = conn.execute(
                f"SELECT sender_name, sender_address, substr(body, 1, ?) {where} "
                f"ORDER BY date DESC, id DESC LIMIT 1", (SNIPPET_CHARS * 4, *args)).fetchone()
            transports = (TRANSPORT_BITS[Transport.EMAIL] if email else 0) | \
                (TRANSPORT_BITS[Transport.XMPP] if xmpp else 0)
            conn.execute(_THREAD_REPLACE, (
                account, thread_id, subject[0] if subject else "",
                subject[1] if subject else None, first, last, count, int(unread),
                latest[0] or latest[1], _snippet(latest[2]), transports))

    # -- who takes part in a thread ---------------------------------------------------

    @staticmethod
    def _people(conn: sqlite3.Connection, addresses: Iterable[str]) -> set[str]:
        """The addresses, with every address of the same contact that the user
        stands behind (from the config, or confirmed)."""
        wanted = {normalize_address(a) for a in addresses if a} - {""}
        if not wanted:
            return set()
        trusted = "(source = 'config' OR confirmed)"
        rows = conn.execute(
            f"SELECT address FROM contact_addresses WHERE {trusted} AND contact_id IN "
            f"(SELECT contact_id FROM contact_addresses WHERE {trusted} AND address IN "
            "(SELECT value FROM json_each(?)))", (_json(sorted(wanted)),))
        return wanted | {r[0] for r in rows}

    @staticmethod
    def _thread_parties(conn: sqlite3.Connection, account: str, thread_id: str) -> set[str]:
        """Every sender and recipient of a thread (recipients a bulk import keeps
        aside count too), as contact addresses are written."""
        found: set[str] = set()
        for sender, pending in conn.execute(
                "SELECT sender_address, pending_parties FROM messages "
                "WHERE thread_id = ? AND account = ?", (thread_id, account)):
            found.add(normalize_address(sender))
            with suppress(ValueError, TypeError, IndexError):
                found.update(normalize_address(str(p[1])) for p in json.loads(pending or "[]"))
        found.update(normalize_address(r[0]) for r in conn.execute(
            "SELECT p.address FROM message_parties AS p JOIN messages AS m "
            "ON m.id = p.message_id WHERE m.thread_id = ? AND m.account = ?",
            (thread_id, account)))
        return found - {""}

    def _is_party(self, conn: sqlite3.Connection, account: str, thread_id: str,
                  addresses: Iterable[str]) -> bool:
        people = self._people(conn, addresses)
        return bool(people) and bool(people & self._thread_parties(conn, account, thread_id))

    def is_thread_party(self, account: str, thread_id: str, addresses: Iterable[str]) -> bool:
        """Whether any of `addresses` (or another address of the same contact) sent
        or received a message of this thread on this account."""
        with self._read() as conn:
            return self._is_party(conn, account, thread_id, addresses)

    def _adopt_claims(self, conn: sqlite3.Connection, account: str,
                      touched: Iterable[str]) -> None:
        """Move chat lines that named one of the `touched` threads while their sender
        was no party of it (see `claimed_thread_id`) into it, now that they are.

        So the grouping does not depend on whether the chat line or the email that
        makes its sender a party came first: every store ends the same.
        """
        wanted = sorted(t for t in touched if not t.startswith(CLAIM_PREFIX))
        if wanted and conn.execute("SELECT jid FROM accounts WHERE name = ?",
                                   (account,)).fetchone() is not None:
            evicted = self._evict_strangers(conn, account, wanted)
            if evicted:
                self._recompute_threads(conn, evicted)
        if not wanted or conn.execute(
                "SELECT 1 FROM threads WHERE account = ? AND thread_id GLOB ? LIMIT 1",
                (account, CLAIM_PREFIX + "*")).fetchone() is None:
            return
        rows = conn.execute(
            "SELECT DISTINCT m.thread_id, m.sender_address, j.value "
            "FROM messages AS m, json_each(m.refs) AS j WHERE m.thread_id GLOB ? "
            "AND m.account = ? AND m.direction = 'in' AND m.transport = 'xmpp' "
            "AND j.value IN (SELECT value FROM json_each(?))",
            (CLAIM_PREFIX + "*", account, _json(wanted))).fetchall()
        changed: list[tuple[str, str]] = []
        for claim, sender, thread_id in rows:
            if claimed_thread_id(normalize_address(sender), thread_id) != claim:
                continue
            if self._is_party(conn, account, thread_id, [sender]):
                conn.execute("UPDATE messages SET thread_id = ? WHERE account = ? "
                             "AND thread_id = ?", (thread_id, account, claim))
                changed += [(account, claim), (account, thread_id)]
        if changed:
            self._recompute_threads(conn, changed)

    def _evict_strangers(self, conn: sqlite3.Connection, account: str,
                         thread_ids: Sequence[str]) -> list[tuple[str, str]]:
        """Move 1:1 chat lines out of a thread that their sender started by naming
        it before anything else of it was here, once the rest of the thread shows
        they are no party of it: what a store that saw the rest first would do.
        """
        row = conn.execute("SELECT jid FROM accounts WHERE name = ?", (account,)).fetchone()
        own = normalize_address(row[0]) if row and row[0] else ""
        if not own:
            return []
        changed: list[tuple[str, str]] = []
        for thread_id in thread_ids:
            lines = conn.execute(
                "SELECT DISTINCT m.sender_address FROM messages AS m JOIN message_parties "
                "AS p ON p.message_id = m.id AND p.position = 1 WHERE m.thread_id = ? "
                "AND m.account = ? AND m.transport = 'xmpp' AND m.direction = 'in' "
                "AND lower(p.address) = ?", (thread_id, account, own)).fetchall()
            for (sender,) in lines:
                peer = normalize_address(sender)
                people = self._people(conn, [peer])
                others = self._parties_without(conn, account, thread_id, people)
                if others is None or people & others:
                    continue
                claim = claimed_thread_id(peer, thread_id)
                conn.execute(
                    "UPDATE messages SET thread_id = ?, refs = ? WHERE account = ? AND "
                    "thread_id = ? AND transport = 'xmpp' AND direction = 'in' AND "
                    "lower(sender_address) IN (SELECT value FROM json_each(?))",
                    (claim, _json([thread_id]), account, thread_id, _json(sorted(people))))
                changed += [(account, thread_id), (account, claim)]
        return changed

    def _parties_without(self, conn: sqlite3.Connection, account: str, thread_id: str,
                         people: set[str]) -> set[str] | None:
        """The parties of the thread's messages not sent by `people`; None when
        there are no such messages (nothing says who the thread belongs to)."""
        found: set[str] = set()
        any_other = False
        for row_id, sender, pending in conn.execute(
                "SELECT id, sender_address, pending_parties FROM messages "
                "WHERE thread_id = ? AND account = ?", (thread_id, account)):
            if normalize_address(sender) in people:
                continue
            any_other = True
            found.add(normalize_address(sender))
            with suppress(ValueError, TypeError, IndexError):
                found.update(normalize_address(str(p[1])) for p in json.loads(pending or "[]"))
            found.update(normalize_address(r[0]) for r in conn.execute(
                "SELECT address FROM message_parties WHERE message_id = ?", (row_id,)))
        return found if any_other else None

    # -- email sync: bulk headers and server locations ----------------------------

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
            sender.name, h.subject, _parties_text((sender, *h.recipients)),
            h.message_id_header, h.in_reply_to, _json(h.references), _json(sorted(h.flags)),
            int(h.malformed), int(h.has_attachment),
            _json([[p.role, p.address, p.name] for p in h.recipients]))

    def insert_email_headers(self, account: str, folder: str,
                             items: Sequence[EmailHeaders] | Sequence[tuple[Any, ...]],
                             *, defer_parties: bool = False) -> int:
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
        if defer_parties:
            with self._lock:
                # A bulk import leaves the WAL checkpoint to `index_backlog`, which
                # comes after it: checkpointing at every batch's commit copied the
                # same index pages into the database again and again. The WAL is
                # as safe either way; the cap keeps a huge import's WAL bounded.
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {_BULK_CHECKPOINT_PAGES:d}")
        with self._write_unchecked() as conn:
            conn.execute("INSERT OR IGNORE INTO accounts (name, created) VALUES (?, ?)",
                         (account, now))
            conn.execute("INSERT OR IGNORE INTO folders (account, name) VALUES (?, ?)",
                         (account, folder))
            known = dict(conn.execute(
                "SELECT msg_id, id FROM messages WHERE account = ? "
                "AND msg_id IN (SELECT value FROM json_each(?))",
                (account, _json([r[3] for r in rows_in]))).fetchall())
            first_id = next_id = conn.execute(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'),"
                " 0), coalesce((SELECT max(id) FROM messages), 0)) + 1").fetchone()[0]
            rows: list[tuple[Any, ...]] = []
            parties: list[tuple[Any, ...]] = []
            places: list[tuple[Any, ...]] = []
            threads: dict[str, _ThreadDelta] = defaultdict(_ThreadDelta)
            email_bit = TRANSPORT_BITS[Transport.EMAIL]
            fresh = defer_parties and not known and len({r[3] for r in rows_in}) == len(rows_in)
            for r in rows_in if not fresh else ():
                row_id = known.get(r[3])
                if row_id is None:
                    row_id = known[r[3]] = next_id
                    next_id += 1
                    if defer_parties:
                        rows.append((row_id, *r))
                    else:
                        rows.append((row_id, *r[:-1], None))
                        parties.append((row_id, r[8], r[9], r[18]))
                    threads[r[4]].add_values(r[5], r[7], r[9] or r[8], "", r[10], email_bit)
                else:
                    # Known already (sent from here, or its chat copy): now it has a place.
                    places.append((r[2], row_id))
            if fresh:
                # A bulk batch of mail new to the store, the usual case: the rows go
                # in as they came and SQLite numbers them first_id onwards, as
                # AUTOINCREMENT takes the highest id ever used + 1, as next_id did.
                for r in rows_in:
                    threads[r[4]].add_values(r[5], r[7], r[9] or r[8], "", r[10], email_bit)
                conn.executemany(_HEADER_INSERT_AUTO_ID, rows_in)
                next_id += len(rows_in)
                if conn.execute("SELECT max(id) FROM messages").fetchone()[0] != next_id - 1:
                    raise schema.StoreError("bulk import: row ids were not consecutive")
                new = len(rows_in)
            else:
                conn.executemany(_HEADER_INSERT, rows)
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
                self._backlog_add(conn, first_id, next_id - 1)
            conn.executemany(
                "INSERT INTO message_parties (message_id, position, role, address, name) "
                "SELECT ?1, 0, 'from', ?2, ?3 UNION ALL "
                "SELECT ?1, key + 1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
                "json_extract(value, '$[2]') FROM json_each(?4)",
                parties)
            conn.executemany(_THREAD_UPSERT, [
                (account, thread_id, d.subject, d.subject_date, d.first, d.last, d.count,
                 d.unread, d.last_sender, d.snippet, d.transports)
                for thread_id, d in threads.items()])
            self._adopt_claims(conn, account, threads)
        return new

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
        with self._lock:
            # Back to SQLite's default after a bulk import (`insert_email_headers`).
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES:d}")
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
                conn.execute(
                    "INSERT INTO message_parties (message_id, position, role, address, name) "
                    f"SELECT id, 0, 'from', sender_address, sender_name FROM messages {where} "
                    "AND pending_parties IS NOT NULL", span)
                conn.execute(
                    "INSERT INTO message_parties (message_id, position, role, address, name) "
                    "SELECT m.id, j.key + 1, json_extract(j.value, '$[0]'), "
                    "json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]') "
                    "FROM messages AS m, json_each(m.pending_parties) AS j "
                    "WHERE m.id BETWEEN ? AND ? AND m.indexed = 0 "
                    "AND m.pending_parties IS NOT NULL", span)
                conn.execute(
                    "INSERT INTO messages_fts (rowid, subject, body, search_parties) "
                    f"SELECT id, subject, body, search_parties FROM messages {where}", span)
                conn.execute("UPDATE messages SET indexed = 1, pending_parties = NULL "
                             f"{where}", span)
        return done

    def index_pending(self) -> int:
        """How many messages still wait for `index_backlog`."""
        with self._lock:
            return self._conn.execute(
                "SELECT coalesce(sum((SELECT count(*) FROM messages WHERE id BETWEEN "
                "b.first AND b.last AND indexed = 0)), 0) FROM index_backlog AS b").fetchone()[0]

    def remove_mail_locations(self, account: str, folder: str, uids: Iterable[int]) -> int:
        """Forget that these UIDs are in `folder` (expunged, vanished, moved away).

        An email left in no folder at all is deleted, threads recounted; one that
        is still elsewhere, or is also a chat message, stays. Returns how many
        messages were deleted.
        """
        uid_list = list(uids)
        if not uid_list:
            return 0
        with self._write() as conn:
            return self._remove_locations(
                conn, "account = ? AND folder = ? AND uid IN (SELECT value FROM json_each(?))",
                (account, folder, _json(uid_list)))

    def clear_folder(self, account: str, folder: str) -> int:
        """Drop every location of a folder (its UIDVALIDITY changed); keep its state row."""
        with self._write() as conn:
            deleted = self._remove_locations(conn, "account = ? AND folder = ?",
                                             (account, folder))
            conn.execute("UPDATE folders SET uidvalidity = NULL, uidnext = NULL, "
                         "highestmodseq = NULL WHERE account = ? AND name = ?",
                         (account, folder))
        return deleted

    def _remove_locations(self, conn: sqlite3.Connection, where: str,
                          args: Sequence[Any]) -> int:
        gone = [r[0] for r in conn.execute(f"SELECT message FROM mail_locations WHERE {where}",
                                           args)]
        conn.execute(f"DELETE FROM mail_locations WHERE {where}", args)
        if not gone:
            return 0
        orphans = conn.execute(
            "SELECT m.id, m.account, m.thread_id FROM messages AS m "
            "WHERE m.id IN (SELECT value FROM json_each(?)) AND m.origin_id IS NULL "
            "AND m.stanza_id IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM mail_locations AS l WHERE l.message = m.id)",
            (_json(gone),)).fetchall()
        if orphans:
            conn.execute("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))",
                         (_json([r[0] for r in orphans]),))
            self._recompute_threads(conn, {(r[1], r[2]) for r in orphans})
        # Messages that stay (another folder holds them) point at a place that exists.
        conn.execute(
            "UPDATE messages SET (folder, uid) = (SELECT l.folder, l.uid FROM mail_locations "
            "AS l WHERE l.message = messages.id LIMIT 1) WHERE id IN "
            "(SELECT value FROM json_each(?)) AND folder IS NOT NULL", (_json(gone),))
        return len(orphans)

    def update_flags_by_uid(self, account: str, folder: str,
                            changes: Mapping[int, Iterable[str]]) -> int:
        """Apply flags the server reported for UIDs of a folder; return rows changed.

        Unread counts of the affected threads follow in the same transaction.
        """
        if not changes:
            return 0
        with self._write() as conn:
            rows = conn.execute(
                "SELECT l.uid, m.id, m.flags, m.unread, m.direction, m.account, m.thread_id "
                "FROM mail_locations AS l JOIN messages AS m ON m.id = l.message "
                "WHERE l.account = ? AND l.folder = ? "
                "AND l.uid IN (SELECT value FROM json_each(?))",
                (account, folder, _json(list(changes)))).fetchall()
            updates: list[tuple[Any, ...]] = []
            thread_delta: dict[tuple[str, str], int] = defaultdict(int)
            for uid, row_id, old_flags, old_unread, direction, acct, thread_id in rows:
                flags = sorted(set(changes[uid]))
                flags_json = _json(flags)
                if flags_json == old_flags:
                    continue
                unread = int(direction == Direction.IN.value and SEEN not in flags)
                updates.append((flags_json, unread, row_id))
                if unread != old_unread:
                    thread_delta[(acct, thread_id)] += unread - old_unread
            conn.executemany("UPDATE messages SET flags = ?, unread = ? WHERE id = ?", updates)
            conn.executemany(
                "UPDATE threads SET unread_count = max(0, unread_count + ?) "
                "WHERE account = ? AND thread_id = ?",
                [(d, a, t) for (a, t), d in thread_delta.items() if d])
        return len(updates)

    def set_body(self, row_id: int, text: str, attachments: Sequence[Attachment] = (),
                 raw: bytes | None = None, malformed: bool = False) -> None:
        """Keep a fetched body (and its attachment list) for a header-synced email."""
        with self._write() as conn:
            conn.execute("UPDATE messages SET body = ?, raw = coalesce(?, raw), "
                         "malformed = max(malformed, ?), body_fetched = 1 WHERE id = ?",
                         (text, raw, int(malformed), row_id))
            conn.execute("DELETE FROM attachments WHERE message_id = ?", (row_id,))
            conn.executemany(
                "INSERT INTO attachments (message_id, position, filename, content_type, size, "
                "sha256, part_id, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(row_id, pos, a.filename, a.content_type, a.size, a.sha256, a.part_id, a.url)
                 for pos, a in enumerate(attachments)])

    def claims(self, account: str, msg_ids: Iterable[str]
               ) -> dict[str, tuple[Claim, list[tuple[str, int]]]]:
        """The stored messages that hold these ids, each with its places on the
        server ((folder, uid), first by folder and uid): what a sync needs to tell
        whether an email with a known Message-ID is that message."""
        out: dict[str, tuple[Claim, list[tuple[str, int]]]] = {}
        with self._read() as conn:
            for r in conn.execute(
                    f"SELECT {_CLAIM_COLUMNS} FROM messages WHERE account = ? "
                    "AND msg_id IN (SELECT value FROM json_each(?))",
                    (account, _json(list(msg_ids)))).fetchall():
                places = conn.execute("SELECT folder, uid FROM mail_locations WHERE message = ? "
                                      "ORDER BY folder, uid", (r[0],)).fetchall()
                out[r[1]] = (Claim(*r), [(f, u) for f, u in places])
        return out

    def is_same_message(self, transport: str, direction: str, sender: str,
                        digest: str | None, old: Claim) -> bool:
        """`same_message` on this store's contacts."""
        with self._read() as conn:
            return same_message(conn, transport, direction, sender, digest, old)

    def set_digests(self, digests: dict[int, str]) -> None:
        """Record the sha256 of emails' raw bytes (row id -> hex), where unknown."""
        with self._write() as conn:
            conn.executemany("UPDATE messages SET digest = ? WHERE id = ? AND digest IS NULL",
                             [(d, i) for i, d in digests.items()])

    def set_digests_by_uid(self, account: str, folder: str, digests: dict[int, str]) -> None:
        """`set_digests` for the emails at these UIDs of a folder."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE messages SET digest = ? WHERE digest IS NULL AND id = (SELECT message "
                "FROM mail_locations WHERE account = ? AND folder = ? AND uid = ?)",
                [(d, account, folder, u) for u, d in digests.items()])

    def set_attachment(self, row_id: int, position: int, attachment: Attachment) -> None:
        """Replace one attachment row of a message (its bytes fetched later)."""
        a = attachment
        with self._write() as conn:
            conn.execute("UPDATE attachments SET filename = ?, content_type = ?, size = ?, "
                         "sha256 = ?, part_id = ?, url = ? WHERE message_id = ? AND position = ?",
                         (a.filename, a.content_type, a.size, a.sha256, a.part_id, a.url,
                          row_id, position))

    def has_body(self, row_id: int) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT body_fetched OR body <> '' OR raw IS NOT NULL OR EXISTS "
                "(SELECT 1 FROM attachments WHERE message_id = ?) FROM messages WHERE id = ?",
                (row_id, row_id)).fetchone()
        return bool(row and row[0])

    # -- messages: reading ---------------------------------------------------------

    def _load(self, conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Message]:
        if not rows:
            return []
        ids = _json([r["id"] for r in rows])
        parties: dict[int, list[Party]] = defaultdict(list)
        files: dict[int, list[Attachment]] = defaultdict(list)
        for mid, role, address, name in conn.execute(
                "SELECT message_id, role, address, name FROM message_parties "
                "WHERE message_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY message_id, position", (ids,)):
            parties[mid].append(Party(address, name, role))
        for mid, *fields in conn.execute(
                "SELECT message_id, filename, content_type, size, sha256, part_id, url "
                "FROM attachments WHERE message_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY message_id, position", (ids,)):
            files[mid].append(Attachment(*fields))
        out = []
        for r in rows:
            people = parties.get(r["id"]) or [Party(r["sender_address"], r["sender_name"])]
            out.append(Message(
                msg_id=r["msg_id"], account=r["account"], transport=Transport(r["transport"]),
                direction=Direction(r["direction"]), thread_id=r["thread_id"], date=r["date"],
                sender=people[0], recipients=people[1:], subject=r["subject"], text=r["body"],
                folder=r["folder"], uid=r["uid"], message_id_header=r["message_id_header"],
                in_reply_to=r["in_reply_to"], references=json.loads(r["refs"]),
                stanza_id=r["stanza_id"], origin_id=r["origin_id"], attr_id=r["attr_id"],
                flags=set(json.loads(r["flags"])),
                delivery=DeliveryState(r["delivery"]) if r["delivery"] else None,
                attachments=files.get(r["id"], []), malformed=bool(r["malformed"]),
                raw=r["raw"], id=r["id"], digest=r["digest"]))
        return out

    def _query_messages(self, sql: str, args: Sequence[Any]) -> list[Message]:
        with self._read() as conn:
            return self._load(conn, conn.execute(_MESSAGE_SELECT + sql, args).fetchall())

    def get_message(self, row_id: int) -> Message | None:
        found = self._query_messages("WHERE m.id = ?", (row_id,))
        return found[0] if found else None

    def find_by_msg_id(self, account: str, msg_id: str) -> Message | None:
        found = self._query_messages("WHERE m.account = ? AND m.msg_id = ?", (account, msg_id))
        return found[0] if found else None

    def lookup(self, field: str, value: str, account: str | None = None) -> list[Message]:
        """Messages by a protocol id: `message_id_header`, `stanza_id` or `origin_id`."""
        if field not in LOOKUP_FIELDS:
            raise ValueError(f"cannot look messages up by {field!r}; use one of "
                             f"{sorted(LOOKUP_FIELDS)}")
        sql, args = f"WHERE m.{field} = ?", [value]
        if field == "message_id_header":
            # messages_by_header holds only the rows whose Message-ID differs from
            # their msg_id (schema v6); the others are found by msg_id, per account.
            sql, args = (
                "WHERE m.id IN (SELECT id FROM messages WHERE message_id_header = ?1 "
                "AND message_id_header <> msg_id UNION ALL SELECT id FROM messages "
                "WHERE account IN (SELECT name FROM accounts) AND msg_id = ?1 "
                "AND message_id_header = ?1)", [value])
            if account is not None:
                # Unary +: the planner must start from the ids above, not the account.
                sql, args = sql + " AND +m.account = ?", [*args, account]
        elif account is not None:
            sql, args = sql + " AND m.account = ?", [*args, account]
        return self._query_messages(sql + " ORDER BY m.date, m.id", args)

    def thread_messages(self, thread_id: str, account: str | None = None) -> list[Message]:
        """A conversation's messages of both transports, oldest first."""
        sql, args = "WHERE m.thread_id = ?", [thread_id]
        if account is not None:
            sql, args = sql + " AND m.account = ?", [thread_id, account]
        return self._query_messages(sql + " ORDER BY m.date, m.id", args)

    def folder_messages(self, account: str, folder: str, limit: int = 50,
                        before: float | Cursor | None = None) -> list[Message]:
        """A page of a folder, newest first. For the next page pass the last
        message's `(date, id)` as `before` (a bare date skips ties at the boundary)."""
        cond, extra = _before(before, "m.date", "m.id")
        return self._query_messages(
            f"WHERE m.account = ? AND m.folder = ?{cond} ORDER BY m.date DESC, m.id DESC "
            f"LIMIT ?", [account, folder, *extra, limit])

    def list_threads(self, account: str | None = None, limit: int = 50,
                     before: float | Cursor | None = None) -> list[Thread]:
        """A page of conversations, most recently active first.

        Keyset pagination: pass the last thread's `cursor` as `before` for the next
        page, which costs the same however deep the page is.
        """
        cond, extra = _before(before, "last_date", "id")
        args: list[Any] = []
        where = "WHERE 1"
        if account is not None:
            where, args = "WHERE account = ?", [account]
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id, account, thread_id, subject, first_date, last_date, message_count,"
                f" unread_count, last_sender, snippet, transports FROM threads {where}{cond}"
                f" ORDER BY last_date DESC, id DESC LIMIT ?", [*args, *extra, limit]).fetchall()
        return [_thread_of(r)
                for r in rows]

    def get_thread(self, account: str, thread_id: str) -> Thread | None:
        with self._lock:
            r = self._conn.execute(
                "SELECT id, account, thread_id, subject, first_date, last_date, message_count,"
                " unread_count, last_sender, snippet, transports FROM threads"
                " WHERE account = ? AND thread_id = ?", (account, thread_id)).fetchone()
        if r is None:
            return None
        return _thread_of(r)

    def thread_by_row(self, row_id: int) -> Thread | None:
        """A conversation by its number in the threads table (what lists show)."""
        with self._lock:
            r = self._conn.execute(
                "SELECT id, account, thread_id, subject, first_date, last_date, message_count,"
                " unread_count, last_sender, snippet, transports FROM threads WHERE id = ?",
                (row_id,)).fetchone()
        if r is None:
            return None
        return _thread_of(r)

    def messages_after(self, row_id: int, limit: int = 500) -> list[Message]:
        """Messages stored after row `row_id`, oldest first (for followers of new mail)."""
        return self._query_messages("WHERE m.id > ? ORDER BY m.id LIMIT ?", (row_id, limit))

    def last_message_row(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM messages")
                       .fetchone()[0])

    def search(self, query: str, limit: int = 50, account: str | None = None) -> list[Message]:
        """Messages matching `query`, newest first.

        Free words must all occur in the subject, text or parties (accents and case
        do not matter; `word*` matches a prefix); filters narrow the result: from:,
        to:, cc:, subject:, has:attachment, after:/before: (YYYY-MM-DD), in:FOLDER,
        is:unread|read|flagged|answered. Any text is safe to pass: words are quoted
        for FTS5 and filter values are bound parameters. A bad filter value raises
        `QueryError` with what was expected.
        """
        parsed = parse_query(query)
        match = fts_query(parsed.text)
        if match is None and not parsed.where:
            return []
        sql = ""
        args: list[object] = []
        if match is not None:
            sql = "JOIN messages_fts AS f ON f.rowid = m.id WHERE messages_fts MATCH ?"
            args.append(match)
        conditions = list(parsed.where)
        args += parsed.args
        if account is not None:
            conditions.append("m.account = ?")
            args.append(account)
        if conditions:
            sql += (" AND " if match is not None else "WHERE ") + " AND ".join(conditions)
        return self._query_messages(sql + " ORDER BY m.date DESC, m.id DESC LIMIT ?",
                                    [*args, limit])

    def count_messages(self, account: str | None = None) -> int:
        with self._lock:
            if account is None:
                return self._conn.execute("SELECT count(*) FROM messages").fetchone()[0]
            return self._conn.execute(
                "SELECT count(*) FROM messages WHERE account = ?", (account,)).fetchone()[0]

    # -- attachments ---------------------------------------------------------------

    def store_blob(self, data: bytes) -> str:
        """Keep an attachment's bytes; returns the sha256 to put in `Attachment`."""
        return self.blobs.put(data)

    def blob_path(self, sha256: str) -> Path:
        return self.blobs.path(sha256)

    def prune_blobs(self, grace_seconds: float = 3600.0) -> int:
        """Remove files no attachment row refers to; returns how many went.

        Files younger than `grace_seconds` stay, since a sync may have stored the
        bytes and not yet committed the message that refers to them.
        """
        with self._lock:
            used = {r[0] for r in self._conn.execute(
                "SELECT DISTINCT sha256 FROM attachments WHERE sha256 IS NOT NULL")}
        cutoff = time.time() - grace_seconds
        removed = 0
        for digest in self.blobs.all_digests() - used:
            path = self.blobs.path(digest)
            try:
                if path.stat().st_mtime <= cutoff:
                    self.blobs.remove(digest)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    # -- contacts ------------------------------------------------------------------

    def add_contact(self, name: str, emails: Iterable[str] = (), jids: Iterable[str] = (),
                    source: str = "config", confirmed: bool = True) -> int:
        """Add a contact, or merge into the one that already owns any of the addresses.

        Addresses are stored lowercase, JIDs bare. An address owned by a contact
        with a higher-ranked source (config > rule > learned) keeps its owner.
        Returns the contact's id.
        """
        if source not in SOURCE_RANK:
            raise ValueError(f"contact source {source!r} is not one of {sorted(SOURCE_RANK)}")
        wanted: dict[str, str] = {}
        for kind, addresses in (("email", emails), ("jid", jids)):
            for address in addresses:
                normal = normalize_address(address)
                if normal:
                    # One address can be both (a server that serves mail and chat).
                    wanted[normal] = kind if wanted.get(normal, kind) == kind else "both"
        rank = SOURCE_RANK[source]
        with self._write() as conn:
            owners = {r["address"]: r for r in conn.execute(
                "SELECT address, contact_id, source FROM contact_addresses "
                "WHERE address IN (SELECT value FROM json_each(?))", (_json(list(wanted)),))}
            contact_id = next((owners[a]["contact_id"] for a in wanted if a in owners), None)
            if contact_id is None:
                contact_id = conn.execute("INSERT INTO contacts (name, created) VALUES (?, ?)",
                                          (name, time.time())).lastrowid
            elif name:
                conn.execute("UPDATE contacts SET name = ? WHERE id = ? AND (name = '' OR ?)",
                             (name, contact_id, source == "config"))
            for address, kind in wanted.items():
                old = owners.get(address)
                if old is not None and SOURCE_RANK[old["source"]] > rank:
                    continue
                conn.execute(
                    "INSERT INTO contact_addresses (address, contact_id, kind, source, confirmed) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET "
                    "contact_id = excluded.contact_id, kind = CASE WHEN "
                    "contact_addresses.contact_id = excluded.contact_id AND "
                    "contact_addresses.kind != excluded.kind THEN 'both' "
                    "ELSE excluded.kind END, "
                    "source = excluded.source, confirmed = excluded.confirmed",
                    (address, contact_id, kind, source, int(confirmed)))
            # A contact whose last address moved away is an empty shell.
            conn.execute(
                "DELETE FROM contacts WHERE id IN (SELECT value FROM json_each(?)) AND NOT EXISTS "
                "(SELECT 1 FROM contact_addresses AS a WHERE a.contact_id = contacts.id)",
                (_json([r["contact_id"] for r in owners.values()]),))
        assert contact_id is not None
        return contact_id

    def _contacts(self, conn: sqlite3.Connection, where: str, args: Sequence[Any]) -> list[Contact]:
        rows = conn.execute(
            f"SELECT c.id, c.name, a.address, a.kind, a.source, a.confirmed FROM contacts AS c "
            f"JOIN contact_addresses AS a ON a.contact_id = c.id {where} "
            f"ORDER BY c.id, a.kind, a.address", args).fetchall()
        grouped: dict[int, tuple[str, list[ContactAddress]]] = {}
        for cid, name, address, kind, source, confirmed in rows:
            grouped.setdefault(cid, (name, []))[1].append(
                ContactAddress(address, kind, source, bool(confirmed)))
        return [Contact(cid, name, tuple(addrs)) for cid, (name, addrs) in grouped.items()]

    def contact_for(self, address: str) -> Contact | None:
        """The contact with this email address or JID (a full JID finds its bare one)."""
        with self._read() as conn:
            found = self._contacts(
                conn, "WHERE c.id = (SELECT contact_id FROM contact_addresses WHERE address = ?)",
                (normalize_address(address),))
        return found[0] if found else None

    def contacts(self) -> list[Contact]:
        with self._read() as conn:
            return self._contacts(conn, "", ())

    def remove_contact_address(self, address: str,
                               sources: Iterable[str] = ("learned",)) -> bool:
        """Forget one address of a contact, if it came from one of `sources`."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT contact_id FROM contact_addresses WHERE address = ? AND source IN "
                "(SELECT value FROM json_each(?))",
                (normalize_address(address), _json(list(sources)))).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM contact_addresses WHERE address = ?",
                         (normalize_address(address),))
            conn.execute("DELETE FROM contacts WHERE id = ? AND NOT EXISTS (SELECT 1 FROM "
                         "contact_addresses WHERE contact_id = ?)", (row[0], row[0]))
        return True

    # -- outbox --------------------------------------------------------------------

    def outbox_add(self, msg_id: str, account: str, transport: Transport | str,
                   payload: dict[str, Any] | None = None, parties: Iterable[Party] = (),
                   *, state: DeliveryState | str = DeliveryState.QUEUED,
                   next_attempt: float | None = None, message: Message | None = None) -> int:
        """Queue a send, durably, before anything goes on the wire; returns its id.

        The row, its first log entry and (if given) the outgoing `message` itself are
        written in one transaction, so after a crash either all exist or none.
        """
        with self._write() as conn:
            return self._outbox_insert(conn, msg_id, account, transport, payload, parties,
                                       state=state, next_attempt=next_attempt,
                                       message=message)

    def outbox_replace(self, old_id: int, old_state: DeliveryState,
                       rows: Sequence[dict[str, Any]],
                       only_from: Iterable[DeliveryState], *,
                       log: tuple[str, str] | None = None,
                       event: tuple[str, dict[str, Any]] | None = None) -> list[int] | None:
        """Settle row `old_id` as `old_state` and queue `rows` (each the arguments
        of `outbox_add`) in its place, in one transaction: an email that goes by
        chat instead can never go both ways, nor neither. Nothing happens (None)
        unless the old row is in one of the states `only_from`. `log` and `event`
        as in `outbox_move`; their detail may name the new rows' ids as `{ids}`."""
        with self._write() as conn:
            if not self._outbox_change(conn, old_id, DeliveryState(old_state), only_from,
                                       {"next_attempt": None}):
                return None
            ids = [self._outbox_insert(conn, **r) for r in rows]
            named = ", ".join(str(i) for i in ids)
            now = time.time()
            if log is not None:
                conn.execute("INSERT INTO outbox_log (outbox_id, at, event, detail) "
                             "VALUES (?, ?, ?, ?)",
                             (old_id, now, log[0], log[1].replace("{ids}", named)))
            if event is not None:
                payload = dict(event[1], detail=str(event[1].get("detail", "")).replace(
                    "{ids}", named))
                conn.execute("INSERT INTO events (at, kind, payload) VALUES (?, ?, ?)",
                             (now, event[0], _json(payload)))
            return ids

    def _outbox_insert(self, conn: sqlite3.Connection, msg_id: str, account: str,
                       transport: Transport | str, payload: dict[str, Any] | None = None,
                       parties: Iterable[Party] = (), *,
                       state: DeliveryState | str = DeliveryState.QUEUED,
                       next_attempt: float | None = None,
                       message: Message | None = None) -> int:
        transport, state = Transport(transport), DeliveryState(state)
        now = time.time()
        conn.execute("INSERT OR IGNORE INTO accounts (name, created) VALUES (?, ?)",
                     (account, now))
        if message is not None:
            if message.delivery is None:
                message.delivery = state
            self._insert_batch(conn, [message])
        outbox_id = conn.execute(
            "INSERT INTO outbox (msg_id, account, transport, state, payload, parties, "
            "created, updated, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (msg_id, account, transport.value, state.value, _json(payload or {}),
             _parties_json(parties), now, now, next_attempt)).lastrowid
        conn.execute("INSERT INTO outbox_log (outbox_id, at, event, detail) "
                     "VALUES (?, ?, 'created', ?)",
                     (outbox_id, now, f"{transport.value} {state.value}"))
        assert outbox_id is not None
        return outbox_id

    def outbox_update(self, outbox_id: int, state: DeliveryState | str | None = None, *,
                      only_from: Iterable[DeliveryState] | None = None,
                      **fields: Any) -> bool:
        """Change an outbox row's state and/or fields (transport, payload, parties,
        next_attempt, attempts).

        A state change is logged ("state", "old -> new") and copied to the stored
        outgoing message's delivery state, in the same transaction. With
        `only_from`, nothing changes unless the row is in one of those states: two
        senders (the mail worker, a move to chat) claim a row this way, and only
        one wins. Returns whether the row changed.
        """
        unknown = set(fields) - OUTBOX_FIELDS
        if unknown:
            raise TypeError(f"unknown outbox fields {sorted(unknown)}; known: "
                            f"{sorted(OUTBOX_FIELDS)}")
        values: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "payload":
                value = _json(value or {})
            elif key == "parties":
                value = _parties_json(value)
            elif key == "transport":
                value = Transport(value).value
            values[key] = value
        new_state = DeliveryState(state) if state is not None else None
        with self._write() as conn:
            return self._outbox_change(conn, outbox_id, new_state, only_from, values)

    @staticmethod
    def _outbox_change(conn: sqlite3.Connection, outbox_id: int,
                       new_state: DeliveryState | None,
                       only_from: Iterable[DeliveryState] | None,
                       values: dict[str, Any]) -> bool:
        """`outbox_update` inside a transaction: `values` are column values, ready."""
        now = time.time()
        row = conn.execute("SELECT state, account, msg_id FROM outbox WHERE id = ?",
                           (outbox_id,)).fetchone()
        if row is None:
            raise KeyError(f"no outbox item {outbox_id}")
        if only_from is not None and row["state"] not in {DeliveryState(s).value
                                                          for s in only_from}:
            return False
        if new_state is not None:
            values["state"] = new_state.value
            if new_state not in HELD:
                values["owner"] = None  # back in the queue, or settled: nobody holds it
        values["updated"] = now
        conn.execute(f"UPDATE outbox SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                     (*values.values(), outbox_id))
        if new_state is not None and new_state.value != row["state"]:
            conn.execute("INSERT INTO outbox_log (outbox_id, at, event, detail) "
                         "VALUES (?, ?, 'state', ?)",
                         (outbox_id, now, f"{row['state']} -> {new_state.value}"))
            conn.execute("UPDATE messages SET delivery = ? WHERE account = ? AND msg_id = ? "
                         "AND direction = 'out'", (new_state.value, row["account"],
                                                   row["msg_id"]))
        return True

    def outbox_claim(self, outbox_id: int, only_from: Iterable[DeliveryState],
                     state: DeliveryState | None = DeliveryState.SENDING, *,
                     orphan: bool = False, **fields: Any) -> OutboxItem | None:
        """Take row `outbox_id` for this process, by compare-and-set: it must be in
        one of the states `only_from` and held by nobody, by this process, or by a
        process that no longer runs (with `orphan`, only the last). The state moves
        to `state` (unless None) and, if the row is then held (sending, sent), this
        process's name goes into it, in the same transaction. Returns the row as it
        was before, or None when another process holds it or its state moved on:
        two processes on one store never both win."""
        wanted = {DeliveryState(s).value for s in only_from}
        with self._write() as conn:
            r = conn.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
            if r is None or r["state"] not in wanted:
                return None
            if orphan and (r["owner"] == owner.me() or owner.alive(r["owner"])):
                return None
            if r["owner"] not in (None, owner.me()) and owner.alive(r["owner"]):
                return None
            before = self._outbox_item(r)
            values = {k: (_json(v or {}) if k == "payload" else v) for k, v in fields.items()}
            self._outbox_change(conn, outbox_id, state, None, values)
            after = state or before.state
            conn.execute("UPDATE outbox SET owner = ? WHERE id = ?",
                         (owner.me() if after in HELD else None, outbox_id))
            return before

    def outbox_release(self, outbox_id: int) -> None:
        """Let go of a row this process holds, leaving its state as it is."""
        with self._write() as conn:
            conn.execute("UPDATE outbox SET owner = NULL WHERE id = ? AND owner = ?",
                         (outbox_id, owner.me()))

    def outbox_move(self, outbox_id: int, state: DeliveryState | None, *,
                    only_from: Iterable[DeliveryState] | None = None,
                    claim: bool = False, orphan: bool = False, attempt: bool = False,
                    log: tuple[str, str] | None = None,
                    event: tuple[str, dict[str, Any]] | None = None,
                    **fields: Any) -> OutboxItem | None:
        """One move of an outbox row (bridge.delivery's `transition`), in one
        transaction: the compare-and-set on its state (`only_from`; with `claim`,
        also on who holds it, as `outbox_claim`), the new state (None: unchanged)
        and `fields`, one more attempt if `attempt`, the move's own log line and
        the event that tells it, kept in the event log. Returns the row as it was
        before, or None when it was in none of `only_from` or a live process
        holds it."""
        unknown = set(fields) - OUTBOX_FIELDS
        if unknown:
            raise TypeError(f"unknown outbox fields {sorted(unknown)}")
        wanted = None if only_from is None else {DeliveryState(s).value for s in only_from}
        with self._write() as conn:
            r = conn.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
            if r is None or (wanted is not None and r["state"] not in wanted):
                return None
            if claim:
                if orphan and (r["owner"] == owner.me() or owner.alive(r["owner"])):
                    return None
                if r["owner"] not in (None, owner.me()) and owner.alive(r["owner"]):
                    return None
            before = self._outbox_item(r)
            values: dict[str, Any] = {}
            for key, value in fields.items():
                if key == "payload":
                    value = _json(value or {})
                elif key == "parties":
                    value = _parties_json(value)
                elif key == "transport":
                    value = Transport(value).value
                values[key] = value
            if attempt:
                values["attempts"] = before.attempts + 1
            self._outbox_change(conn, outbox_id, state, None, values)
            if claim:
                after = state or before.state
                conn.execute("UPDATE outbox SET owner = ? WHERE id = ?",
                             (owner.me() if after in HELD else None, outbox_id))
            now = time.time()
            if log is not None:
                conn.execute("INSERT INTO outbox_log (outbox_id, at, event, detail) "
                             "VALUES (?, ?, ?, ?)", (outbox_id, now, log[0], log[1]))
            if event is not None:
                conn.execute("INSERT INTO events (at, kind, payload) VALUES (?, ?, ?)",
                             (now, event[0], _json(event[1])))
            return before

    def outbox_log(self, outbox_id: int, event: str, detail: str = "") -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO outbox_log (outbox_id, at, event, detail) "
                         "VALUES (?, ?, ?, ?)", (outbox_id, time.time(), event, detail))

    def outbox_history(self, outbox_id: int) -> list[OutboxLogEntry]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT outbox_id, at, event, detail FROM outbox_log WHERE outbox_id = ? "
                "ORDER BY id", (outbox_id,))
            return [OutboxLogEntry(*r) for r in rows]

    @staticmethod
    def _outbox_item(r: sqlite3.Row) -> OutboxItem:
        return OutboxItem(
            id=r["id"], msg_id=r["msg_id"], account=r["account"],
            transport=Transport(r["transport"]), state=DeliveryState(r["state"]),
            payload=json.loads(r["payload"]), parties=_parties_from_json(r["parties"]),
            created=r["created"], updated=r["updated"], next_attempt=r["next_attempt"],
            attempts=r["attempts"], owner=r["owner"])

    def outbox_get(self, outbox_id: int) -> OutboxItem | None:
        with self._lock:
            r = self._conn.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        return self._outbox_item(r) if r else None

    def outbox_items(self, states: Iterable[DeliveryState | str] | None = None,
                     due_before: float | None = None) -> list[OutboxItem]:
        """Outbox rows, oldest first; optionally only these states, and only those
        whose next attempt is due (`next_attempt` NULL or <= `due_before`)."""
        sql = "SELECT * FROM outbox WHERE 1"
        args: list[object] = []
        if states is not None:
            sql += " AND state IN (SELECT value FROM json_each(?))"
            args.append(_json([DeliveryState(s).value for s in states]))
        if due_before is not None:
            sql += " AND (next_attempt IS NULL OR next_attempt <= ?)"
            args.append(due_before)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [self._outbox_item(r) for r in rows]

    # -- events --------------------------------------------------------------------

    def add_event(self, kind: str, payload: dict[str, Any] | None = None) -> int:
        with self._write() as conn:
            event_id = conn.execute("INSERT INTO events (at, kind, payload) VALUES (?, ?, ?)",
                                    (time.time(), kind, _json(payload or {}))).lastrowid
        assert event_id is not None
        return event_id

    def last_event(self, kind: str, match: dict[str, object]) -> dict[str, Any] | None:
        """The payload of the newest event of `kind` whose payload has these values
        at these JSON paths (`{"$.report.service": "smtp"}`), or None."""
        sql = "SELECT payload FROM events WHERE kind = ?"
        args: list[object] = [kind]
        for path, value in match.items():
            sql += " AND json_extract(payload, ?) = ?"
            args += [path, value]
        with self._lock:
            row = self._conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return json.loads(row[0]) if row else None

    def events(self, since_id: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Events after `since_id`, oldest first: pass the last id seen to follow on."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, at, kind, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (since_id, limit)).fetchall()
        return [StoredEvent(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def prune_events(self, before: float) -> int:
        """Forget events older than the timestamp `before`; returns how many."""
        with self._write() as conn:
            return conn.execute("DELETE FROM events WHERE at < ?", (before,)).rowcount
