"""What the user did to a conversation on this machine, not on a server: archived
or deleted here (out of the lists until something newer comes in) and muted (no
notifications). Schema version 11's `conversation_state`.

A chat has no server folder to archive it to: archiving hides it from the lists
while its last line is the one it had then (`hidden_through`), so the next line
brings it back, as aerc's and Profanity's users expect of a closed chat. Deleting
removes its messages from the store and hides it the same way, so that a line
the server's archive (MAM) hands over again does not bring it back.
"""

from __future__ import annotations

from .db import Db
from .threads import recompute_threads

Key = tuple[str, str]  # (account, thread_id)


class ConversationState(Db):
    """Archive, delete and mute conversations locally; read which are."""

    def hide_conversation(self, account: str, thread_id: str) -> bool:
        """Out of the lists until a newer message comes; False if there is no
        such conversation."""
        with self._write() as conn:
            row = conn.execute("SELECT last_date FROM threads WHERE account = ? AND "
                               "thread_id = ?", (account, thread_id)).fetchone()
            if row is None:
                return False
            conn.execute(
                "INSERT INTO conversation_state (account, thread_id, hidden_through) "
                "VALUES (?, ?, ?) ON CONFLICT (account, thread_id) DO UPDATE SET "
                "hidden_through = excluded.hidden_through", (account, thread_id, row[0]))
        return True

    def unhide_conversation(self, account: str, thread_id: str) -> None:
        """In the lists again (an archive undone)."""
        with self._write() as conn:
            conn.execute("UPDATE conversation_state SET hidden_through = NULL "
                         "WHERE account = ? AND thread_id = ?", (account, thread_id))

    def is_hidden(self, account: str, thread_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM conversation_state AS s JOIN threads AS t USING "
                "(account, thread_id) WHERE s.account = ? AND s.thread_id = ? AND "
                "s.hidden_through >= t.last_date", (account, thread_id)).fetchone()
        return row is not None

    def delete_conversation(self, account: str, thread_id: str) -> int:
        """Remove a conversation's messages from this store (the servers keep
        theirs) and keep it out of the lists; how many messages went."""
        with self._write() as conn:
            row = conn.execute("SELECT last_date FROM threads WHERE account = ? AND "
                               "thread_id = ?", (account, thread_id)).fetchone()
            if row is None:
                return 0
            gone = conn.execute("DELETE FROM messages WHERE account = ? AND thread_id = ?",
                                (account, thread_id)).rowcount
            conn.execute(
                "INSERT INTO conversation_state (account, thread_id, hidden_through) "
                "VALUES (?, ?, ?) ON CONFLICT (account, thread_id) DO UPDATE SET "
                "hidden_through = max(coalesce(hidden_through, 0), excluded.hidden_through)",
                (account, thread_id, row[0]))
            recompute_threads(conn, [(account, thread_id)])
        return gone

    def set_muted(self, account: str, thread_id: str, muted: bool) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO conversation_state (account, thread_id, muted) VALUES (?, ?, ?) "
                "ON CONFLICT (account, thread_id) DO UPDATE SET muted = excluded.muted",
                (account, thread_id, int(muted)))

    def muted_conversations(self) -> set[Key]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT account, thread_id FROM conversation_state WHERE muted").fetchall()
        return {(r[0], r[1]) for r in rows}
