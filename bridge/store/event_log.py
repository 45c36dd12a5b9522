"""The event log: kept events, in order, for `watch` and other processes to follow."""

from __future__ import annotations

import json
import time
from typing import Any

from .db import Db, to_json
from .records import StoredEvent


class EventLog(Db):
    """Append, read on from an id, find the newest of a kind, a room's
    happenings (its timeline between the lines), prune."""

    def add_event(self, kind: str, payload: dict[str, Any] | None = None) -> int:
        with self._write() as conn:
            event_id = conn.execute("INSERT INTO events (at, kind, payload) VALUES (?, ?, ?)",
                                    (time.time(), kind, to_json(payload or {}))).lastrowid
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

    def newest_events(self, kind: str, limit: int = 100) -> list[StoredEvent]:
        """The newest events of `kind`, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, at, kind, payload FROM events WHERE kind = ? ORDER BY id DESC "
                "LIMIT ?", (kind, limit)).fetchall()
        return [StoredEvent(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def room_events(self, account: str, room: str, limit: int = 500) -> list[StoredEvent]:
        """A room's kept `RoomHappened` events (its timeline between the lines), the
        newest `limit` of them, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, at, kind, payload FROM events WHERE kind = 'RoomHappened' "
                "AND json_extract(payload, '$.account') = ? "
                "AND lower(json_extract(payload, '$.room')) = ? ORDER BY id DESC LIMIT ?",
                (account, room.lower(), limit)).fetchall()
        return [StoredEvent(r[0], r[1], r[2], json.loads(r[3])) for r in reversed(rows)]

    def events(self, since_id: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Events after `since_id`, oldest first: pass the last id seen to follow on."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, at, kind, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (since_id, limit)).fetchall()
        return [StoredEvent(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def last_event_id(self) -> int:
        """The newest event's id (0: none): where a follower starts."""
        with self._lock:
            return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM events")
                       .fetchone()[0])

    def prune_events(self, before: float) -> int:
        """Forget events older than the timestamp `before`; returns how many."""
        with self._write() as conn:
            return conn.execute("DELETE FROM events WHERE at < ?", (before,)).rowcount
