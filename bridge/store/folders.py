"""Accounts, folders, and where each email sits on the server.

`mail_locations` maps (account, folder, uid) to one message row: one email can sit
in several folders, and every writer of a place goes through here. A message left
in no folder (and not a chat message too) goes with its last place.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..model import DRAFT, SEEN, Direction
from .db import Db, to_json
from .records import Account, Folder
from .threads import DRAFT_JSON, draft_folders, recompute_threads, recount_drafts_of

FOLDER_STATE = frozenset({"uidvalidity", "uidnext", "highestmodseq", "unread", "total"})


class Folders(Db):
    """Accounts, folders and mail locations."""

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
            was_drafts = (account, name) in draft_folders(conn)
            conn.execute(
                f"INSERT INTO folders (account, name{''.join(', ' + c for c in cols)}) "
                f"VALUES ({placeholders}) ON CONFLICT (account, name) {conflict}",
                (account, name, *values.values()))
            if role is not None and was_drafts != (role == "drafts"):
                # Its emails became drafts, or stopped being ones (threads.DRAFT_SQL).
                recount_drafts_of(conn, [r[0] for r in conn.execute(
                    "SELECT message FROM mail_locations WHERE account = ? AND folder = ?",
                    (account, name))])
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
            recompute_threads(conn, [(account, t[0]) for t in threads])
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
                    (account, folder, to_json(list(among))))
            else:
                rows = self._conn.execute(
                    "SELECT uid, message FROM mail_locations WHERE account = ? AND folder = ?",
                    (account, folder))
            return dict(rows.fetchall())

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
                conn, account, folder, "AND uid IN (SELECT value FROM json_each(?))",
                (to_json(uid_list),))

    def clear_folder(self, account: str, folder: str) -> int:
        """Drop every location of a folder (its UIDVALIDITY changed); keep its state row."""
        with self._write() as conn:
            deleted = self._remove_locations(conn, account, folder, "", ())
            conn.execute("UPDATE folders SET uidvalidity = NULL, uidnext = NULL, "
                         "highestmodseq = NULL WHERE account = ? AND name = ?",
                         (account, folder))
        return deleted

    def _remove_locations(self, conn: sqlite3.Connection, account: str, folder: str,
                          more: str, more_args: Sequence[Any]) -> int:
        where = f"account = ? AND folder = ? {more}"
        args = (account, folder, *more_args)
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
            (to_json(gone),)).fetchall()
        if orphans:
            conn.execute("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))",
                         (to_json([r[0] for r in orphans]),))
            recompute_threads(conn, {(r[1], r[2]) for r in orphans})
        # Messages that stay (another folder holds them) point at a place that exists.
        moved = conn.execute(
            "UPDATE messages SET (folder, uid) = (SELECT l.folder, l.uid FROM mail_locations "
            "AS l WHERE l.message = messages.id LIMIT 1) WHERE id IN "
            "(SELECT value FROM json_each(?)) AND folder IS NOT NULL RETURNING id, folder",
            (to_json(gone),)).fetchall()
        drafts = draft_folders(conn)
        if moved and ((account, folder) in drafts
                      or any((account, r[1]) in drafts for r in moved)):
            # Out of Drafts, or into it: drafts no more, or drafts now (DRAFT_SQL).
            recount_drafts_of(conn, [r[0] for r in moved])
        return len(orphans)

    def move_mail_locations(self, account: str,
                            moves: Iterable[tuple[str, int, str, int]]) -> int:
        """Re-point places of messages: each (folder, uid, target, new_uid) says the
        message at `uid` of `folder` is now at `new_uid` of `target` (a triage move,
        its undo, or the server's answer to our own placeholder UID). The message
        row stays, with its body and files; a message whose primary place was the
        old one points at the new one. Returns how many places moved."""
        moved = 0
        redrafted: list[int] = []
        with self._write() as conn:
            drafts = draft_folders(conn)
            for folder, uid, target, new_uid in moves:
                conn.execute("INSERT OR IGNORE INTO folders (account, name) VALUES (?, ?)",
                             (account, target))
                row = conn.execute(
                    "SELECT message FROM mail_locations WHERE account = ? AND folder = ? "
                    "AND uid = ?", (account, folder, uid)).fetchone()
                if row is None:
                    continue
                conn.execute("DELETE FROM mail_locations WHERE account = ? AND folder = ? "
                             "AND uid = ?", (account, target, new_uid))
                conn.execute("UPDATE mail_locations SET folder = ?, uid = ? WHERE account = ? "
                             "AND folder = ? AND uid = ?", (target, new_uid, account, folder, uid))
                primary = conn.execute(
                    "UPDATE messages SET folder = ?, uid = ? WHERE id = ? AND folder = ? "
                    "AND uid = ?", (target, new_uid, row[0], folder, uid)).rowcount
                if primary and ((account, folder) in drafts) != ((account, target) in drafts):
                    redrafted.append(row[0])  # into Drafts or out of it (DRAFT_SQL)
                moved += 1
            if redrafted:
                recount_drafts_of(conn, redrafted)
        return moved

    def add_mail_location(self, account: str, folder: str, uid: int, row_id: int) -> None:
        """A copy of a stored message is at `uid` of `folder` too (a triage copy)."""
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO folders (account, name) VALUES (?, ?)",
                         (account, folder))
            conn.execute("INSERT OR REPLACE INTO mail_locations (account, folder, uid, message) "
                         "VALUES (?, ?, ?, ?)", (account, folder, uid, row_id))

    def place_appended(self, account: str, msg_id: str, folder: str, uid: int,
                       uidvalidity: int | None = None) -> bool:
        """Our message `msg_id`, just APPENDed, is at `uid` of `folder` (the
        server's APPENDUID): its place, written at once rather than at the
        folder's next sync, which then finds the message there (one message,
        as mutt and aerc show a sent copy in Sent at once). Not when the
        folder's stored UIDVALIDITY is another (its next sync renumbers it
        anyway) or the place holds another message. Whether it has it now."""
        with self._write() as conn:
            row = conn.execute("SELECT id FROM messages WHERE account = ? AND msg_id = ?",
                               (account, msg_id)).fetchone()
            if row is None:
                return False
            known = conn.execute("SELECT uidvalidity FROM folders WHERE account = ? "
                                 "AND name = ?", (account, folder)).fetchone()
            if known is not None and known[0] not in (None, uidvalidity):
                return False
            conn.execute("INSERT OR IGNORE INTO folders (account, name) VALUES (?, ?)",
                         (account, folder))
            conn.execute("INSERT OR IGNORE INTO mail_locations (account, folder, uid, message) "
                         "VALUES (?, ?, ?, ?)", (account, folder, uid, row[0]))
            owner = conn.execute("SELECT message FROM mail_locations WHERE account = ? "
                                 "AND folder = ? AND uid = ?", (account, folder, uid)).fetchone()
            if owner[0] != row[0]:
                return False
            if conn.execute("UPDATE messages SET folder = ?, uid = ? WHERE id = ? "
                            "AND folder IS NULL", (folder, uid, row[0])).rowcount \
                    and (account, folder) in draft_folders(conn):
                recount_drafts_of(conn, [row[0]])  # an email of Drafts is a draft
        return True

    def has_place(self, account: str, msg_id: str, folder: str) -> bool:
        """Whether the message `msg_id` is known to be in `folder`."""
        with self._read() as conn:
            return conn.execute(
                "SELECT 1 FROM messages AS m JOIN mail_locations AS l ON l.message = m.id "
                "WHERE m.account = ? AND m.msg_id = ? AND l.account = m.account "
                "AND l.folder = ?", (account, msg_id, folder)).fetchone() is not None

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
                (account, folder, to_json(list(changes)))).fetchall()
            updates: list[tuple[Any, ...]] = []
            thread_delta: dict[tuple[str, str], int] = defaultdict(int)
            redrafted: list[int] = []
            for uid, row_id, old_flags, old_unread, direction, acct, thread_id in rows:
                flags = sorted(set(changes[uid]))
                flags_json = to_json(flags)
                if flags_json == old_flags:
                    continue
                if (DRAFT_JSON in old_flags) != (DRAFT in flags):
                    redrafted.append(row_id)
                unread = int(direction == Direction.IN.value and SEEN not in flags)
                updates.append((flags_json, unread, row_id))
                if unread != old_unread:
                    thread_delta[(acct, thread_id)] += unread - old_unread
            conn.executemany("UPDATE messages SET flags = ?, unread = ? WHERE id = ?", updates)
            conn.executemany(
                "UPDATE threads SET unread_count = max(0, unread_count + ?) "
                "WHERE account = ? AND thread_id = ?",
                [(d, a, t) for (a, t), d in thread_delta.items() if d])
            if redrafted:  # \Draft set or taken off: their threads counted again
                recount_drafts_of(conn, redrafted)
        return len(updates)
