"""Reading messages back: by row, by id, by protocol id, by thread or folder, by search.

A read that takes several queries (a message and its parties and attachments)
runs in one snapshot. Search parses the user's query (`query.parse_query`) into
an FTS5 MATCH of quoted words and filters with bound parameters.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..crypto.status import from_json
from ..model import Attachment, DeliveryState, Direction, Message, Party, Transport
from .db import Db, keyset_before, to_json
from .fts import fts_query
from .query import parse_query
from .records import Cursor

LOOKUP_FIELDS = frozenset({"message_id_header", "stanza_id", "origin_id"})

_MESSAGE_SELECT = """
SELECT m.id, m.account, m.msg_id, m.transport, m.direction, m.thread_id, m.date,
       m.sender_address, m.sender_name, m.subject, m.body, m.folder, m.uid,
       m.message_id_header, m.in_reply_to, m.refs, m.stanza_id, m.origin_id, m.attr_id,
       m.flags, m.delivery, m.malformed, m.raw, m.digest, m.edited, m.retracted, m.crypto
FROM messages AS m
"""


class Search(Db):
    """Every read of messages."""

    def _load(self, conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Message]:
        if not rows:
            return []
        ids = to_json([r["id"] for r in rows])
        parties: dict[int, list[Party]] = defaultdict(list)
        files: dict[int, list[Attachment]] = defaultdict(list)
        senders: dict[int, Party] = {}
        for mid, position, role, address, name in conn.execute(
                "SELECT message_id, position, role, address, name FROM message_parties "
                "WHERE message_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY message_id, position", (ids,)):
            if position == 0:
                senders[mid] = Party(address, name, role)
            else:
                parties[mid].append(Party(address, name, role))
        for mid, *fields in conn.execute(
                "SELECT message_id, filename, content_type, size, sha256, part_id, url "
                "FROM attachments WHERE message_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY message_id, position", (ids,)):
            files[mid].append(Attachment(*fields))
        out = []
        for r in rows:
            # A header sync stores no party row for the sender (its row's
            # sender columns say it): then the sender comes from those.
            sender = senders.get(r["id"]) or Party(r["sender_address"], r["sender_name"])
            out.append(Message(
                msg_id=r["msg_id"], account=r["account"], transport=Transport(r["transport"]),
                direction=Direction(r["direction"]), thread_id=r["thread_id"], date=r["date"],
                sender=sender, recipients=parties.get(r["id"], []), subject=r["subject"],
                text=r["body"],
                folder=r["folder"], uid=r["uid"], message_id_header=r["message_id_header"],
                in_reply_to=r["in_reply_to"], references=json.loads(r["refs"]),
                stanza_id=r["stanza_id"], origin_id=r["origin_id"], attr_id=r["attr_id"],
                flags=set(json.loads(r["flags"])),
                delivery=DeliveryState(r["delivery"]) if r["delivery"] else None,
                attachments=files.get(r["id"], []), malformed=bool(r["malformed"]),
                raw=r["raw"], id=r["id"], digest=r["digest"], edited=r["edited"],
                retracted=r["retracted"], crypto=from_json(r["crypto"])))
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
        cond, extra = keyset_before(before, "m.date", "m.id")
        return self._query_messages(
            f"WHERE m.account = ? AND m.folder = ?{cond} ORDER BY m.date DESC, m.id DESC "
            f"LIMIT ?", [account, folder, *extra, limit])

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
        is:unread|read|flagged|answered, tag:NAME (an IMAP keyword). Any text is
        safe to pass: words are quoted for FTS5 and filter values are bound
        parameters. A bad filter value raises `QueryError` with what was expected.
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
