"""Outbox rows: durable sends, their log, and claims on them between processes.

A row is written before anything goes on the wire, with its first log entry and
(if given) the outgoing message, in one transaction. A sender takes a row by
compare-and-set on its state (`outbox_claim`, `outbox_update(only_from=...)`);
while a row is held (sending, or sent and waiting for its receipt) it names the
process that holds it, so two processes on one store never both send it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..model import DeliveryState, Message, Party, Transport
from . import owner
from .db import Db, to_json
from .messages import insert_batch
from .records import OutboxItem, OutboxLogEntry

OUTBOX_FIELDS = frozenset({"transport", "payload", "parties", "next_attempt", "attempts"})
# States in which a row is held by the process that claimed it: on the wire, or
# taken by the server and waiting for its receipt in that process's session.
HELD = frozenset({DeliveryState.SENDING, DeliveryState.SENT})


def _parties_json(parties: Iterable[Party]) -> str:
    return to_json([{"address": p.address, "name": p.name, "role": p.role} for p in parties])


def _parties_from_json(text: str) -> list[Party]:
    return [Party(p["address"], p.get("name", ""), p.get("role", "to")) for p in json.loads(text)]


class Outbox(Db):
    """Queue, replace, update, claim, release and read outbox rows."""

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
                             (now, event[0], to_json(payload)))
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
            insert_batch(conn, [message], index_sealed=self.index_sealed)
        outbox_id = conn.execute(
            "INSERT INTO outbox (msg_id, account, transport, state, payload, parties, "
            "created, updated, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (msg_id, account, transport.value, state.value, to_json(payload or {}),
             _parties_json(parties), now, now, next_attempt)).lastrowid
        conn.execute("INSERT INTO outbox_log (outbox_id, at, event, detail) "
                     "VALUES (?, ?, 'created', ?)",
                     (outbox_id, now, f"{transport.value} {state.value}"))
        assert outbox_id is not None
        return outbox_id

    def outbox_update(self, outbox_id: int, state: DeliveryState | str | None = None, *,
                      only_from: Iterable[DeliveryState] | None = None,
                      payload_set: dict[str, Any] | None = None,
                      **fields: Any) -> bool:
        """Change an outbox row's state and/or fields (transport, payload, parties,
        next_attempt, attempts).

        A state change is logged ("state", "old -> new") and copied to the stored
        outgoing message's delivery state, in the same transaction. With
        `only_from`, nothing changes unless the row is in one of those states: two
        senders (the mail worker, a move to chat) claim a row this way, and only
        one wins. `payload_set`: keys set in the payload as the row holds it in
        this transaction (see `outbox_move`). Returns whether the row changed.
        """
        unknown = set(fields) - OUTBOX_FIELDS
        if unknown:
            raise TypeError(f"unknown outbox fields {sorted(unknown)}; known: "
                            f"{sorted(OUTBOX_FIELDS)}")
        values: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "payload":
                value = to_json(value or {})
            elif key == "parties":
                value = _parties_json(value)
            elif key == "transport":
                value = Transport(value).value
            values[key] = value
        new_state = DeliveryState(state) if state is not None else None
        with self._write() as conn:
            if payload_set:
                row = conn.execute("SELECT payload FROM outbox WHERE id = ?",
                                   (outbox_id,)).fetchone()
                if row is None:
                    raise KeyError(f"no outbox item {outbox_id}")
                values["payload"] = _payload_with(json.loads(row[0] or "{}"), payload_set,
                                                  fields)
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
            values = {k: (to_json(v or {}) if k == "payload" else v) for k, v in fields.items()}
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
                    payload_set: dict[str, Any] | None = None,
                    **fields: Any) -> OutboxItem | None:
        """One move of an outbox row (bridge.delivery's `transition`), in one
        transaction: the compare-and-set on its state (`only_from`; with `claim`,
        also on who holds it, as `outbox_claim`), the new state (None: unchanged)
        and `fields`, one more attempt if `attempt`, the move's own log line and
        the event that tells it, kept in the event log. Returns the row as it was
        before, or None when it was in none of `only_from` or a live process
        holds it.

        `payload_set` sets those keys in the payload as the row holds it inside
        this transaction, the other keys kept: a caller that read the row before
        an await (an IMAP or SMTP round trip) and wrote `dict(item.payload, k=v)`
        after it undid whatever another task wrote meanwhile (a retry's count)."""
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
                    value = to_json(value or {})
                elif key == "parties":
                    value = _parties_json(value)
                elif key == "transport":
                    value = Transport(value).value
                values[key] = value
            if payload_set:  # the row was read above, in this transaction
                values["payload"] = _payload_with(before.payload, payload_set, fields)
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
                             (now, event[0], to_json(event[1])))
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
            args.append(to_json([DeliveryState(s).value for s in states]))
        if due_before is not None:
            sql += " AND (next_attempt IS NULL OR next_attempt <= ?)"
            args.append(due_before)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [self._outbox_item(r) for r in rows]


def _payload_with(payload: dict[str, Any], keys: dict[str, Any],
                  fields: dict[str, Any]) -> str:
    """`payload` (as the row holds it in the write's transaction) with `keys` set:
    the column value."""
    if "payload" in fields:
        raise TypeError("payload and payload_set together: one or the other")
    return to_json({**payload, **keys})
