"""Messages of both transports: storing them once, and changing what is stored.

A message already stored is recognised by its place on the server or by its id
when it is the same message (`claims`); the other transport's coordinates are
filled into the one row, so the message is shown once but found both ways. Row
ids are handed out here so parties and attachments go in with executemany too.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import count, islice
from typing import Any

from ..crypto.status import CryptoStatus, from_json
from ..crypto.status import to_json as crypto_json
from ..model import DRAFT, SEEN, Attachment, DeliveryState, Direction, Message, Party, Transport
from .claims import CLAIM_COLUMNS, Claim, distinct_msg_id, same_as_claim
from .db import Db, to_json
from .fts import index_parties, index_rows
from .once import carried_history, twin
from .threads import (
    DRAFT_JSON,
    THREAD_UPSERT,
    ThreadDelta,
    adopt_claims,
    draft_folders,
    is_draft,
    recompute_threads,
    recount_drafts_of,
)

_MESSAGE_INSERT = """
INSERT INTO messages (
    id, account, msg_id, transport, direction, thread_id, date, sender_address,
    sender_name, subject, body, search_parties, folder, uid, message_id_header,
    in_reply_to, refs, stanza_id, origin_id, attr_id, flags, unread, delivery, malformed,
    raw, digest, crypto, indexed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def search_parties(m: Message) -> str:
    return parties_text((m.sender, *m.recipients))


def parties_text(parties: Iterable[Party]) -> str:
    """Names and addresses as one text, for the full-text index."""
    return " ".join(f"{p.name} {p.address}".strip() for p in parties)


def insert_batch(conn: sqlite3.Connection, batch: Sequence[Message], *,
                 index_sealed: bool = False) -> int:
    """`Messages.insert_messages` for one batch, inside the caller's transaction
    (an outbox row goes in with its message this way); returns how many were new.

    A chat line that came or went end-to-end encrypted (OMEMO: its text is kept in
    the store, since it cannot be opened twice) goes into neither full-text index
    unless `index_sealed` ([crypto] index_decrypted): it is stored `indexed = 0`
    outside any backlog range, so no index write, update or delete trigger ever
    touches it, and search does not find its words (nor its sender by `from:`)."""
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
                f"SELECT {CLAIM_COLUMNS} FROM messages WHERE account = ? "
                "AND msg_id IN (SELECT value FROM json_each(?))", (account, to_json(ids))):
            known[(account, r[1])] = r[0]
            claims[r[0]] = Claim(*r)
    for (account, folder), uids in uids_by_folder.items():
        for uid, row_id in conn.execute(
                "SELECT uid, message FROM mail_locations WHERE account = ? "
                "AND folder = ? AND uid IN (SELECT value FROM json_each(?))",
                (account, folder, to_json(uids))):
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
    threads: dict[tuple[str, str], ThreadDelta] = defaultdict(ThreadDelta)
    recount: set[tuple[str, str]] = set()  # where a twin of our own email came in
    drafts = draft_folders(conn)
    for m in batch:
        ukey = (m.account, m.folder, m.uid) if m.folder is not None and m.uid is not None \
            else None
        # A place on the server holds one message; an id is that message only
        # if it is the same one (the same bytes, or the same sender's copy on
        # the other transport), else this one gets an id of its own.
        existing = known_uids.get(ukey) if ukey is not None else None
        if existing is None:
            existing = known.get((m.account, m.msg_id))
            if existing is not None and not same_as_claim(conn, m, claims[existing]):
                base = m.msg_id
                for n in count(1):
                    m.msg_id = distinct_msg_id(base, m.transport.value, m.sender.address,
                                               m.digest, n)
                    existing = known.get((m.account, m.msg_id))
                    if existing is None:
                        row = conn.execute(f"SELECT {CLAIM_COLUMNS} FROM messages "
                                           "WHERE account = ? AND msg_id = ?",
                                           (m.account, m.msg_id)).fetchone()
                        if row is not None:
                            existing = known[(m.account, m.msg_id)] = row[0]
                            claims[row[0]] = Claim(*row)
                    if existing is None or same_as_claim(conn, m, claims[existing]):
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
            search_parties(m), m.folder, m.uid, m.message_id_header, m.in_reply_to,
            to_json(m.references), m.stanza_id, m.origin_id, m.attr_id, to_json(sorted(m.flags)),
            int(m.unread), m.delivery.value if m.delivery else None, int(m.malformed),
            m.raw, m.digest, crypto := _chat_crypto(m),
            int(index_sealed or crypto is None or not m.crypto or not m.crypto.encrypted)))
        for pos, p in enumerate((m.sender, *m.recipients)):
            parties.append((row_id, pos, p.role, p.address, p.name))
        for pos, a in enumerate(m.attachments):
            attachments.append((row_id, pos, a.filename, a.content_type, a.size, a.sha256,
                                a.part_id, a.url))
        if twin(m):
            recount.add((m.account, m.thread_id))
        if not carried_history(m):  # not the reader's (once.py): no count, no snippet
            threads[(m.account, m.thread_id)].add(m, is_draft(m, drafts))

    conn.executemany(_MESSAGE_INSERT, rows)
    if rows:
        # The new rows' ids are consecutive (handed out above).
        index_rows(conn, rows[0][0], rows[-1][0])
    conn.executemany(
        "INSERT INTO message_parties (message_id, position, role, address, name) "
        "VALUES (?, ?, ?, ?, ?)", parties)
    if parties:
        index_parties(conn, parties[0][0], parties[-1][0])
    conn.executemany(
        "INSERT INTO attachments (message_id, position, filename, content_type, size, "
        "sha256, part_id, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", attachments)
    conn.executemany(THREAD_UPSERT, [d.row(account, thread_id)
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
    if recount:
        recompute_threads(conn, recount)
    for account in {a for a, _t in threads}:
        adopt_claims(conn, account, {t for a, t in threads if a == account})
    return len(rows)


class Messages(Db):
    """Insert messages; change their flags, delivery, body, digests and attachments."""

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
                inserted += insert_batch(conn, batch, index_sealed=self.index_sealed)
        return inserted

    def set_flags(self, row_id: int, flags: Iterable[str]) -> bool:
        """Replace a message's flags; False if there is no such message."""
        flags = set(flags)
        with self._write() as conn:
            row = conn.execute(
                "SELECT account, thread_id, direction, unread, flags FROM messages WHERE id = ?",
                (row_id,)).fetchone()
            if row is None:
                return False
            unread = int(row["direction"] == Direction.IN.value and SEEN not in flags)
            conn.execute("UPDATE messages SET flags = ?, unread = ? WHERE id = ?",
                         (to_json(sorted(flags)), unread, row_id))
            if (DRAFT_JSON in row["flags"]) != (DRAFT in flags):
                recount_drafts_of(conn, [row_id])  # recounts unread too
                return True
            if unread != row["unread"]:
                conn.execute(
                    "UPDATE threads SET unread_count = unread_count + ? "
                    "WHERE account = ? AND thread_id = ?",
                    (unread - row["unread"], row["account"], row["thread_id"]))
        return True

    def last_chat_crypto(self, account: str, thread_id: str) -> CryptoStatus | None:
        """How the conversation's last chat line was protected (None: in clear,
        or no chat line)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT crypto FROM messages WHERE thread_id = ? AND account = ? "
                "AND transport = 'xmpp' ORDER BY date DESC, id DESC LIMIT 1",
                (thread_id, account)).fetchone()
        return from_json(row[0]) if row is not None else None

    def set_crypto(self, row_id: int, status: CryptoStatus | None) -> bool:
        """How a chat line was protected (OMEMO): kept with it, since it cannot be
        opened again later (an email's is found each time it is opened)."""
        with self._write() as conn:
            cur = conn.execute("UPDATE messages SET crypto = ? WHERE id = ?",
                               (crypto_json(status), row_id))
            if status is not None and status.encrypted and not self.index_sealed:
                # Our own line, stored (and indexed) before it was sealed: its
                # words leave both indexes, as a sealed line's never enter them
                # (insert_batch). The 'delete' rows must be the indexed values.
                conn.execute(
                    "INSERT INTO messages_fts (messages_fts, rowid, subject, body, "
                    "search_parties) SELECT 'delete', id, subject, body, search_parties "
                    "FROM messages WHERE id = ? AND indexed = 1", (row_id,))
                conn.execute(
                    "INSERT INTO senders_fts (senders_fts, rowid, sender_address, "
                    "sender_name) SELECT 'delete', id, sender_address, sender_name "
                    "FROM messages WHERE id = ? AND indexed = 1", (row_id,))
                conn.execute("UPDATE messages SET indexed = 0 WHERE id = ?", (row_id,))
        return cur.rowcount > 0

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
            recompute_threads(conn, [(row["account"], row["thread_id"])])
        return True

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


def _chat_crypto(m: Message) -> str | None:
    return crypto_json(m.crypto) if m.transport is Transport.XMPP else None
