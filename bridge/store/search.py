"""Reading messages back: by row, by id, by protocol id, by thread or folder, by search.

A read that takes several queries (a message and its parties and attachments)
runs in one snapshot. Search parses the user's query (`query.parse_query`) into
an FTS5 MATCH of quoted words and filters with bound parameters, and finds its
page by the plan `_newest` picks (walk newest first and stop at the page, or
sort every match: the comment above `FEW_MATCHES`).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..crypto.status import from_json
from ..model import Attachment, DeliveryState, Direction, Message, Party, Transport
from .db import Db, keyset_before, to_json
from .fts import fts_query
from .query import SearchQuery, parse_query
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
        with self._read() as conn:
            ids = _newest(conn, parsed, match, limit, account)
            if not ids:
                return []
            return self._load(conn, conn.execute(
                _MESSAGE_SELECT + "WHERE m.id IN (SELECT value FROM json_each(?)) "
                "ORDER BY m.date DESC, m.id DESC", (to_json(ids),)).fetchall())

    def count_messages(self, account: str | None = None) -> int:
        with self._lock:
            if account is None:
                return self._conn.execute("SELECT count(*) FROM messages").fetchone()[0]
            return self._conn.execute(
                "SELECT count(*) FROM messages WHERE account = ?", (account,)).fetchone()[0]


# How a search finds its page. Sorting every match by date costs what all the
# matches cost (a common word at 100k messages: 20-50 ms for 30 of them); walking
# messages newest first through `messages_by_date` (schema 15) and testing each
# costs what the page costs when matches are common, but everything when they
# are rare. So the plan depends on how many messages the words match, counted
# by FTS5 only up to a bound (well under a millisecond):
# - fewer than FEW_MATCHES: sort them all (the plan of before schema 15);
# - fewer than `many`: walk by date, testing each message against the set of
#   matches, built once (about 0.1 us a match);
# - more: walk the newest messages asking FTS5 about each one that passes the
#   filters (15-25 us each, so worth it only when the walk is short: with a
#   share f of the store matching it asks about limit / f of them; `many` is
#   where the two cost the same, PROBE_COST set entries a question) and stop at
#   the page; if the newest WINDOW_PER_ROW * limit messages did not fill it
#   (the matches are old), walk by date against the set. A prefix (`word*`) is
#   always matched as a set: each question would expand the prefix again.
# With filters as well (or an account), how many messages pass them all is not
# known: only where FTS5 would be asked is the window walked (the filters
# asked first), and otherwise, or if it holds no page, it is the query of
# before schema 15, where SQLite's planner may start from the filters' sets.
# Filters alone walk the newest window the same way, each message tested by the
# filters' one-row forms (`SearchQuery.row_where`), and otherwise sort all their
# matches. A window over MAX_WINDOW messages (a page of hundreds, as
# `conversations_matching` asks) is not walked: a miss would cost more than the
# sort. Every plan gives the same messages in the same order.
FEW_MATCHES = 2000
WINDOW_PER_ROW = 24
MAX_WINDOW = 10_000
PROBE_COST = 150

_ORDER = " ORDER BY m.date DESC, m.id DESC LIMIT ?"
_WALK = "SELECT m.id FROM messages AS m INDEXED BY messages_by_date WHERE "
_IN_MATCHES = "+m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
_IS_MATCH = ("EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? "
             "AND messages_fts.rowid = m.id)")


def _newest(conn: sqlite3.Connection, parsed: SearchQuery, match: str | None, limit: int,
            account: str | None) -> list[int]:
    """The ids of the `limit` newest messages `parsed` (with FTS5 `match`) finds."""
    where, args = list(parsed.where), list(parsed.args)
    row_where, row_args = list(parsed.row_where), list(parsed.row_args)
    if account is not None:
        where, args = [*where, "m.account = ?"], [*args, account]
        row_where, row_args = ["m.account = ?", *row_where], [account, *row_args]
    if limit < 1:  # no page to stop at (SQLite takes a negative LIMIT as none)
        return _by_matches(conn, match, where, args, limit)
    if match is not None:
        total = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        many = max(FEW_MATCHES, math.isqrt(PROBE_COST * limit * total))
        found = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? "
            "LIMIT ?)", (match, FEW_MATCHES if '"*' in match else many)).fetchone()[0]
        if found < FEW_MATCHES:
            return _by_matches(conn, match, where, args, limit)
        ask = found >= many and '"*' not in match
        if row_where:
            # Filters too: how many messages pass them all is not known, so only
            # the window is walked, and otherwise the planner has the one query.
            ids = _walk_window(conn, [*row_where, _IS_MATCH], [*row_args, match],
                               limit) if ask else None
            return ids if ids is not None else _by_matches(conn, match, where, args, limit)
        if ask:
            ids = _walk_window(conn, [_IS_MATCH], [match], limit)
            if ids is not None:
                return ids
        return _ids(conn, _WALK + _IN_MATCHES + _ORDER, [match, limit])
    ids = _walk_window(conn, row_where, row_args, limit)
    return ids if ids is not None else _by_matches(conn, None, where, args, limit)


def _ids(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[int]:
    return [r[0] for r in conn.execute(sql, args)]


def _by_matches(conn: sqlite3.Connection, match: str | None, where: list[str],
                args: list[object], limit: int) -> list[int]:
    """Every match, sorted by date: the plan for few matches."""
    sql, params = "SELECT m.id FROM messages AS m ", list[object]()
    if match is not None:
        sql += "JOIN messages_fts AS f ON f.rowid = m.id WHERE messages_fts MATCH ?"
        params.append(match)
    if where:
        sql += (" AND " if match is not None else "WHERE ") + " AND ".join(where)
    return _ids(conn, sql + _ORDER, [*params, *args, limit])


def _walk_window(conn: sqlite3.Connection, row_where: list[str], row_args: list[object],
                 limit: int) -> list[int] | None:
    """The page from walking the newest WINDOW_PER_ROW * limit messages, or None
    when they hold fewer matches than the page (older ones might belong to it)
    or the window is over MAX_WINDOW.

    The window is the LIMIT of the walk, not a range of dates: a range on an
    index of `messages` marks its statistics as used, and `PRAGMA optimize` at
    close then runs ANALYZE on `messages` (70 ms at 100k) in every process that
    searched, because the empty partial indexes never get a statistics row. The
    conditions are nested CASEs so that each is asked only of the messages that
    passed the ones before it, as a WHERE would (the FTS5 question comes last).
    """
    window = WINDOW_PER_ROW * limit
    if window > MAX_WINDOW:
        return None
    ok = "1"
    for cond in reversed(row_where):
        ok = f"CASE WHEN {cond} THEN {ok} END"
    ids = _ids(conn, f"SELECT id FROM (SELECT m.id AS id, {ok} AS ok FROM messages AS m "
                     "INDEXED BY messages_by_date ORDER BY m.date DESC, m.id DESC LIMIT ?) "
                     "WHERE ok LIMIT ?", [*row_args, window, limit])
    if len(ids) == limit:
        return ids
    walked = conn.execute("SELECT count(*) FROM (SELECT 1 FROM messages "
                          "INDEXED BY messages_by_date LIMIT ?)", (window,)).fetchone()[0]
    return ids if walked < window else None  # a window short of its size held them all
