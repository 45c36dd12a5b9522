"""Chat lines that change after they arrive: corrections (XEP-0308), retractions
(XEP-0424) and reactions (XEP-0444), kept on the line they refer to (schema v9).

The store only records; who may change a line is the XMPP layer's rule
(`bridge.xmpp.edits`): only the line's own sender corrects or retracts it, and
a reaction is one person's whole set, replacing their earlier one.
"""

from __future__ import annotations

import json

from ..record import FrozenRecord, setfield
from .db import Db, to_json
from .threads import recompute_threads


class Revision(FrozenRecord):
    """A text a line had before a correction replaced it."""

    __slots__ = ("body", "by_id", "replaced")

    body: str
    replaced: float
    by_id: str | None  # the id of the correction that replaced it

    def __init__(self, body: str, replaced: float, by_id: str | None) -> None:
        setfield(self, "body", body)
        setfield(self, "replaced", replaced)
        setfield(self, "by_id", by_id)


class Reaction(FrozenRecord):
    """One person's reactions to one line."""

    __slots__ = ("date", "emojis", "reactor")

    reactor: str
    emojis: tuple[str, ...]
    date: float

    def __init__(self, reactor: str, emojis: tuple[str, ...], date: float) -> None:
        setfield(self, "reactor", reactor)
        setfield(self, "emojis", emojis)
        setfield(self, "date", date)


class Edits(Db):
    """Corrections, retractions and reactions of stored lines."""

    def referenced_rows(self, account: str, ref: str) -> list[int]:
        """The row ids of the lines of an account a correction, reaction or retraction may mean by
        `ref`: its 'id' attribute, origin-id, stanza-id or our own id for it, or the
        id of a correction it already had (a client that quotes the last one).
        Who may change which is for the caller to check."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id FROM messages WHERE attr_id = ?1 AND account = ?2 "
                "UNION SELECT id FROM messages WHERE origin_id = ?1 AND account = ?2 "
                "UNION SELECT id FROM messages WHERE stanza_id = ?1 AND account = ?2 "
                "UNION SELECT id FROM messages WHERE msg_id = ?1 AND account = ?2 "
                "UNION SELECT r.message FROM message_revisions AS r JOIN messages AS m "
                "ON m.id = r.message WHERE r.by_id = ?1 AND m.account = ?2 "
                "ORDER BY 1", (ref, account)).fetchall()
        return [row[0] for row in rows]

    def correct_message(self, row_id: int, text: str, when: float,
                        by_id: str | None = None) -> bool:
        """Replace a line's text, keeping the old one as a revision; False if there
        is no such line, it is retracted, or this correction (`by_id`) was applied."""
        with self._write() as conn:
            row = conn.execute("SELECT account, thread_id, body, retracted FROM messages "
                               "WHERE id = ?", (row_id,)).fetchone()
            if row is None or row["retracted"] is not None:
                return False
            if by_id is not None and conn.execute(
                    "SELECT 1 FROM message_revisions WHERE message = ? AND by_id = ?",
                    (row_id, by_id)).fetchone():
                return False
            position = conn.execute(
                "SELECT coalesce(max(position), -1) + 1 FROM message_revisions "
                "WHERE message = ?", (row_id,)).fetchone()[0]
            conn.execute("INSERT INTO message_revisions (message, position, body, replaced, "
                         "by_id) VALUES (?, ?, ?, ?, ?)",
                         (row_id, position, row["body"], when, by_id))
            conn.execute("UPDATE messages SET body = ?, edited = ? WHERE id = ?",
                         (text, when, row_id))
            recompute_threads(conn, [(row["account"], row["thread_id"])])
        return True

    def revisions(self, row_id: int) -> list[Revision]:
        """The texts a line had before its corrections, oldest first."""
        with self._read() as conn:
            return [Revision(r["body"], r["replaced"], r["by_id"]) for r in conn.execute(
                "SELECT body, replaced, by_id FROM message_revisions WHERE message = ? "
                "ORDER BY position", (row_id,))]

    def retract_message(self, row_id: int, when: float) -> bool:
        """The sender took a line back: its text, earlier texts and raw bytes go
        (the search index follows the body); the row stays, saying when. False if
        there is no such line or it was retracted already."""
        with self._write() as conn:
            row = conn.execute("SELECT account, thread_id, retracted FROM messages "
                               "WHERE id = ?", (row_id,)).fetchone()
            if row is None or row["retracted"] is not None:
                return False
            conn.execute("UPDATE messages SET body = '', raw = NULL, retracted = ? "
                         "WHERE id = ?", (when, row_id))
            conn.execute("DELETE FROM message_revisions WHERE message = ?", (row_id,))
            conn.execute("DELETE FROM attachments WHERE message_id = ?", (row_id,))
            recompute_threads(conn, [(row["account"], row["thread_id"])])
        return True

    def set_reactions(self, row_id: int, reactor: str, emojis: list[str],
                      when: float) -> bool:
        """`reactor`'s reactions to a line, replacing their earlier set (none: all
        taken back); False if there is no such line or nothing changed."""
        emojis = list(dict.fromkeys(emojis))
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM messages WHERE id = ?", (row_id,)).fetchone() \
                    is None:
                return False
            old = conn.execute("SELECT emojis FROM reactions WHERE message = ? AND reactor = ?",
                               (row_id, reactor)).fetchone()
            if (json.loads(old[0]) if old else []) == emojis:
                return False
            if emojis:
                conn.execute("INSERT INTO reactions (message, reactor, emojis, date) "
                             "VALUES (?, ?, ?, ?) ON CONFLICT (message, reactor) DO UPDATE "
                             "SET emojis = excluded.emojis, date = excluded.date",
                             (row_id, reactor, to_json(emojis), when))
            else:
                conn.execute("DELETE FROM reactions WHERE message = ? AND reactor = ?",
                             (row_id, reactor))
        return True

    def reactions(self, row_ids: list[int]) -> dict[int, list[Reaction]]:
        """The reactions to these lines, per line, by the time they came."""
        out: dict[int, list[Reaction]] = {}
        with self._read() as conn:
            for r in conn.execute(
                    "SELECT message, reactor, emojis, date FROM reactions WHERE message IN "
                    "(SELECT value FROM json_each(?)) ORDER BY message, date, reactor",
                    (to_json(row_ids),)):
                out.setdefault(r["message"], []).append(
                    Reaction(r["reactor"], tuple(json.loads(r["emojis"])), r["date"]))
        return out

    def last_sent_row(self, account: str, thread_id: str) -> int | None:
        """Our own last line in a chat thread: the one a correction may replace."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT id FROM messages WHERE thread_id = ? AND account = ? "
                "AND direction = 'out' AND transport = 'xmpp' AND retracted IS NULL "
                "ORDER BY date DESC, id DESC LIMIT 1", (thread_id, account)).fetchone()
        return int(row[0]) if row else None
