"""Conversations: their rows in `threads`, kept up to date, and who takes part in them.

Counts that list views need (a thread's messages, unread and drafts, its last
date) are kept in the `threads` table as messages come and go (`ThreadDelta` for
a batch, `recompute_threads` after a removal, or after a twin of our own email
came in: once.py says what a reader counts), so listing never scans the
messages table. A draft (`DRAFT_SQL`: postponed mail, not sent) is counted in
`draft_count` and does not make its conversation's last date, sender or snippet,
as mutt and aerc keep postponed mail out of the inbox's order: those come from
the other messages, and from the drafts only in a conversation that holds
nothing else (a new message being written).

A `<thread>` from a chat joins an existing thread only when its sender is a party
of it; a line that named a thread before its sender was one waits under a claim
(`claimed_thread_id`) and is adopted once it is (`adopt_claims`), so grouping does
not depend on the order a store saw the messages in.

Inside a `Db.batch()` (a page of the chat archive) `adopt_claims` waits for the
batch's end and runs once for every thread the batch touched, and who takes part
in a thread is read in two queries however long it is (`_thread_messages`): the
check costs one pass over a thread per batch, not one per stored line.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any

from ..model import CLAIM_PREFIX, DRAFT, FLAGGED, Message, Transport, claimed_thread_id
from ..record import Record
from .contacts import normalize_address
from .db import Db, keyset_before, to_json
from .once import CARRIED_SQL, READER_KEY_SQL
from .records import TRANSPORT_BITS, Cursor, SortKey, Thread, ThreadOrder

SNIPPET_CHARS = 160
THREAD_COLUMNS = ("id, account, thread_id, subject, first_date, last_date, message_count,"
                  " unread_count, last_sender, snippet, transports, draft_count")
# A draft, as the store tells one (what tuiclient.format.is_draft says of a
# Message): an email flagged \Draft (as this app, mutt and aerc save one), or
# in the account's drafts folder (its RFC 6154 role). The flag as it stands in a
# message's flags JSON, quotes included: no other flag holds it.
DRAFT_JSON = to_json(DRAFT)
DRAFT_SQL = (f"(messages.transport = 'email' AND (instr(messages.flags, '{DRAFT_JSON}') > 0"
             " OR messages.folder IN (SELECT f.name FROM folders AS f"
             " WHERE f.account = messages.account AND f.role = 'drafts')))")
# A conversation archived or deleted here (conversation_state, schema 11) is out of
# the lists until something newer than what it held comes in.
NOT_HIDDEN = ("NOT EXISTS (SELECT 1 FROM conversation_state AS s WHERE"
              " s.account = threads.account AND s.thread_id = threads.thread_id"
              " AND s.hidden_through >= threads.last_date)")
# Whether a batch's last message (date, sender, snippet) takes the row's place.
# Mail beats drafts whatever their dates (a row of drafts only takes the first
# mail's figures; a batch of drafts only leaves a row with mail as it was);
# between equals the later date wins.
_LATER = ("(CASE WHEN (excluded.message_count > excluded.draft_count)"
          " <> (message_count > draft_count)"
          " THEN excluded.message_count > excluded.draft_count"
          " ELSE excluded.last_date >= last_date END)")
# Merging a batch's figures into a thread row. In SQLite every right-hand side sees
# the row as it was before this UPDATE, so the CASEs can compare with old values.
THREAD_UPSERT = f"""
INSERT INTO threads (
    account, thread_id, subject, subject_date, first_date, last_date, message_count,
    unread_count, last_sender, snippet, transports, draft_count)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, thread_id) DO UPDATE SET
    message_count = message_count + excluded.message_count,
    draft_count = draft_count + excluded.draft_count,
    unread_count = unread_count + excluded.unread_count,
    first_date = min(first_date, excluded.first_date),
    subject = CASE WHEN excluded.subject_date IS NOT NULL
                    AND (subject_date IS NULL OR excluded.subject_date < subject_date)
                   THEN excluded.subject ELSE subject END,
    subject_date = CASE WHEN excluded.subject_date IS NOT NULL
                         AND (subject_date IS NULL OR excluded.subject_date < subject_date)
                        THEN excluded.subject_date ELSE subject_date END,
    last_sender = CASE WHEN {_LATER} THEN excluded.last_sender ELSE last_sender END,
    snippet = CASE WHEN {_LATER} THEN excluded.snippet ELSE snippet END,
    last_date = CASE WHEN {_LATER} THEN excluded.last_date ELSE last_date END,
    transports = transports | excluded.transports
"""

THREAD_REPLACE = """
INSERT INTO threads (
    account, thread_id, subject, subject_date, first_date, last_date, message_count,
    unread_count, last_sender, snippet, transports, draft_count)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, thread_id) DO UPDATE SET
    subject = excluded.subject, subject_date = excluded.subject_date,
    first_date = excluded.first_date, last_date = excluded.last_date,
    message_count = excluded.message_count, unread_count = excluded.unread_count,
    last_sender = excluded.last_sender, snippet = excluded.snippet,
    transports = excluded.transports, draft_count = excluded.draft_count
"""


def draft_folders(conn: sqlite3.Connection) -> frozenset[tuple[str, str]]:
    """(account, folder) of every drafts folder (a handful of rows)."""
    return frozenset((a, n) for a, n in conn.execute(
        "SELECT account, name FROM folders WHERE role = 'drafts'"))


def is_draft(m: Message, folders: frozenset[tuple[str, str]]) -> bool:
    """`DRAFT_SQL` of a Message about to be stored (`folders`: `draft_folders`)."""
    return m.transport is Transport.EMAIL and (
        DRAFT in m.flags or (m.account, m.folder) in folders)


class ThreadDelta(Record):
    """What one batch adds to one thread."""

    __slots__ = (
        "count",
        "drafts",
        "first",
        "last",
        "last_sender",
        "snippet",
        "subject",
        "subject_date",
        "transports",
        "unread",
    )

    count: int
    unread: int
    first: float
    last: float
    subject: str
    subject_date: float | None
    last_sender: str
    snippet: str
    transports: int
    drafts: int

    def __init__(
        self, count: int = 0, unread: int = 0, first: float = float("inf"),
        last: float = float("-inf"), subject: str = "", subject_date: float | None = None,
        last_sender: str = "", snippet: str = "", transports: int = 0, drafts: int = 0,
    ) -> None:
        self.count = count
        self.drafts = drafts
        self.unread = unread
        self.first = first
        self.last = last
        self.subject = subject
        self.subject_date = subject_date
        self.last_sender = last_sender
        self.snippet = snippet
        self.transports = transports

    def add(self, m: Message, draft: bool = False) -> None:
        self.add_values(m.date, int(m.unread), m.sender.name or m.sender.address, m.text,
                        m.subject, TRANSPORT_BITS[m.transport], draft)

    def add_values(self, date: float, unread: int, sender: str, text: str, subject: str,
                   transport_bit: int, draft: bool = False) -> None:
        """One message more; a `draft` makes the last date, sender and snippet
        only while the batch has no other message (`_LATER` merges them so)."""
        had_mail = self.count > self.drafts
        self.count += 1
        self.drafts += int(draft)
        self.unread += unread
        if date < self.first:
            self.first = date
        # Mail takes the place of drafts whatever their dates; among equals the
        # later one wins.
        if (not had_mail and date >= self.last) if draft else \
                (not had_mail or date >= self.last):
            self.last = date
            self.last_sender = sender
            self.snippet = snippet(text) if text else ""
        if subject and (self.subject_date is None or date < self.subject_date):
            self.subject, self.subject_date = subject, date
        self.transports |= transport_bit

    def row(self, account: str, thread_id: str) -> tuple[Any, ...]:
        """The parameters of THREAD_UPSERT."""
        return (account, thread_id, self.subject, self.subject_date, self.first, self.last,
                self.count, self.unread, self.last_sender, self.snippet, self.transports,
                self.drafts)


def snippet(text: str) -> str:
    # Slice before splitting: bodies can be megabytes, the snippet is one line.
    return " ".join(text[: SNIPPET_CHARS * 4].split())[:SNIPPET_CHARS]


def thread_of(r: Sequence[Any]) -> Thread:
    """A `Thread` from a row of the threads columns that lists select, in order."""
    (row_id, account, thread_id, subject, first_date, last_date, message_count, unread_count,
     last_sender, snippet, bits, drafts) = r
    return Thread(row_id, account, thread_id, subject, first_date, last_date, message_count,
                  unread_count, last_sender, snippet,
                  frozenset(t for t, bit in TRANSPORT_BITS.items() if bits & bit), drafts)


def recompute_threads(conn: sqlite3.Connection,
                       keys: Iterable[tuple[str, str]]) -> None:
    """Count these threads' rows again from their messages (after a removal, or
    a message that became or stopped being a draft)."""
    # After a removal min/max cannot be adjusted incrementally; a thread is small
    # and its messages sit together in messages_by_thread_date, so redo it.
    # Each message once (once.py): our own twins in two folders count as one,
    # and our digests sent ahead of a handoff not at all.
    for account, thread_id in keys:
        where = f"FROM messages WHERE thread_id = ? AND account = ? AND NOT {CARRIED_SQL}"
        args = (thread_id, account)
        count, unread, first, email, xmpp, drafts = conn.execute(
            f"SELECT count(DISTINCT {READER_KEY_SQL}), total(unread), min(date), "
            f"max(transport = 'email'), max(transport = 'xmpp'), total({DRAFT_SQL}) {where}",
            args).fetchone()
        if not count:
            conn.execute("DELETE FROM threads WHERE account = ? AND thread_id = ?",
                         (account, thread_id))
            continue
        subject = conn.execute(
            f"SELECT subject, date {where} AND subject <> '' ORDER BY date, id LIMIT 1",
            args).fetchone()
        # The newest message that is no draft (the index backwards, to the first
        # such), else the newest draft: a conversation of drafts only. An email in
        # no folder yet (sent, Sent not synced) makes DRAFT_SQL NULL: no draft, as
        # total() above counts it.
        newest = f"SELECT date, sender_name, sender_address, substr(body, 1, ?) {where}"
        latest = conn.execute(
            f"{newest} AND NOT coalesce({DRAFT_SQL}, 0) ORDER BY date DESC, id DESC LIMIT 1"
            if count > drafts else f"{newest} ORDER BY date DESC, id DESC LIMIT 1",
            (SNIPPET_CHARS * 4, *args)).fetchone()
        transports = (TRANSPORT_BITS[Transport.EMAIL] if email else 0) | \
            (TRANSPORT_BITS[Transport.XMPP] if xmpp else 0)
        conn.execute(THREAD_REPLACE, (
            account, thread_id, subject[0] if subject else "",
            subject[1] if subject else None, first, latest[0], count, int(unread),
            latest[1] or latest[2], snippet(latest[3]), transports, int(drafts)))


def recount_drafts_of(conn: sqlite3.Connection, row_ids: Iterable[int]) -> None:
    """These messages may have become drafts or stopped being ones (a \\Draft
    flag set or taken off, a move into or out of a drafts folder, a folder's
    role): their threads are counted again. Rare, so no cheaper way is kept."""
    keys = conn.execute(
        "SELECT DISTINCT account, thread_id FROM messages "
        "WHERE id IN (SELECT value FROM json_each(?))", (to_json(sorted(set(row_ids))),))
    recompute_threads(conn, [(a, t) for a, t in keys.fetchall()])


def trusted_people(conn: sqlite3.Connection, addresses: Iterable[str]) -> set[str]:
    """The addresses, with every address of the same contact that the user
    stands behind (from the config, or confirmed)."""
    wanted = {normalize_address(a) for a in addresses if a} - {""}
    if not wanted:
        return set()
    trusted = "(source = 'config' OR confirmed)"
    rows = conn.execute(
        f"SELECT address FROM contact_addresses WHERE {trusted} AND contact_id IN "
        f"(SELECT contact_id FROM contact_addresses WHERE {trusted} AND address IN "
        "(SELECT value FROM json_each(?)))", (to_json(sorted(wanted)),))
    return wanted | {r[0] for r in rows}


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


def is_party(conn: sqlite3.Connection, account: str, thread_id: str,
              addresses: Iterable[str]) -> bool:
    people = trusted_people(conn, addresses)
    return bool(people) and bool(people & _thread_parties(conn, account, thread_id))


# The threads each open batch's writes touched, per account, by connection
# (`Threads._batch_started`); `adopt_claims` on such a connection waits for the
# batch's end. Only used under the store's lock.
_DEFERRED: dict[int, dict[str, set[str]]] = {}


def adopt_claims(conn: sqlite3.Connection, account: str,
                  touched: Iterable[str]) -> None:
    """Move chat lines that named one of the `touched` threads while their sender
    was no party of it (see `claimed_thread_id`) into it, now that they are.

    So the grouping does not depend on whether the chat line or the email that
    makes its sender a party came first: every store ends the same. Inside a
    batch, done once at its end (`Threads._batch_ending`) for all it touched.
    """
    deferred = _DEFERRED.get(id(conn))
    if deferred is not None:
        deferred.setdefault(account, set()).update(touched)
        return
    wanted = sorted(t for t in touched if not t.startswith(CLAIM_PREFIX))
    if wanted and conn.execute("SELECT jid FROM accounts WHERE name = ?",
                               (account,)).fetchone() is not None:
        evicted = _evict_strangers(conn, account, wanted)
        if evicted:
            recompute_threads(conn, evicted)
    if not wanted or conn.execute(
            "SELECT 1 FROM threads WHERE account = ? AND thread_id GLOB ? LIMIT 1",
            (account, CLAIM_PREFIX + "*")).fetchone() is None:
        return
    rows = conn.execute(
        "SELECT DISTINCT m.thread_id, m.sender_address, j.value "
        "FROM messages AS m, json_each(m.refs) AS j WHERE m.thread_id GLOB ? "
        "AND m.account = ? AND m.direction = 'in' AND m.transport = 'xmpp' "
        "AND j.value IN (SELECT value FROM json_each(?))",
        (CLAIM_PREFIX + "*", account, to_json(wanted))).fetchall()
    changed: list[tuple[str, str]] = []
    for claim, sender, thread_id in rows:
        if claimed_thread_id(normalize_address(sender), thread_id) != claim:
            continue
        if is_party(conn, account, thread_id, [sender]):
            conn.execute("UPDATE messages SET thread_id = ? WHERE account = ? "
                         "AND thread_id = ?", (thread_id, account, claim))
            changed += [(account, claim), (account, thread_id)]
    if changed:
        recompute_threads(conn, changed)


def _evict_strangers(conn: sqlite3.Connection, account: str,
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
        messages: list[tuple[str, set[str]]] | None = None
        for (sender,) in lines:
            peer = normalize_address(sender)
            people = trusted_people(conn, [peer])
            if _named_by_another(conn, account, thread_id, people):
                continue  # what the whole pass below would find, without it
            if messages is None:
                messages = _thread_messages(conn, account, thread_id)
            others = _parties_without(messages, people)
            if others is None or people & others:
                continue
            claim = claimed_thread_id(peer, thread_id)
            conn.execute(
                "UPDATE messages SET thread_id = ?, refs = ? WHERE account = ? AND "
                "thread_id = ? AND transport = 'xmpp' AND direction = 'in' AND "
                "lower(sender_address) IN (SELECT value FROM json_each(?))",
                (claim, to_json([thread_id]), account, thread_id, to_json(sorted(people))))
            changed += [(account, thread_id), (account, claim)]
            messages = None  # some lines left it: read it again if asked
    return changed


def _named_by_another(conn: sqlite3.Connection, account: str, thread_id: str,
                      people: set[str]) -> bool:
    """Whether a message of the thread not sent by `people` names one of them as
    a recipient: then they are a party of the others' messages, and stay. Found
    through the party index by address (its first match, usually the first row
    looked at), not a pass over the thread; False only means "not found this
    way" (an address stored in another form, recipients kept aside), and the
    caller then looks at the whole thread."""
    for address in sorted(people):
        # INDEXED BY and CROSS JOIN (SQLite keeps its order): from the people
        # of the address to their party rows (schema 16: by person id), not the
        # thread's (which can be long).
        for sender, named in conn.execute(
                "SELECT m.sender_address, n.address FROM party_names AS n "
                "INDEXED BY party_names_by_address CROSS JOIN message_people AS p "
                "INDEXED BY message_people_by_person ON p.person = n.id "
                "CROSS JOIN messages AS m ON m.id = p.message_id "
                "WHERE n.address = ? COLLATE NOCASE AND p.position > 0 "
                "AND m.thread_id = ? AND m.account = ?",
                (address, thread_id, account)):
            if normalize_address(sender) not in people and \
                    normalize_address(named) in people:
                return True
    return False


def _thread_messages(conn: sqlite3.Connection, account: str,
                     thread_id: str) -> list[tuple[str, set[str]]]:
    """Each message of a thread as (its sender, its parties: the sender, the party
    rows, the recipients a bulk import keeps aside), as contact addresses are
    written. Two queries whatever the thread's length (not one per message)."""
    normal: dict[str, str] = {}

    def norm(address: str) -> str:
        found = normal.get(address)
        if found is None:
            found = normal[address] = normalize_address(address)
        return found

    parties: dict[int, set[str]] = {}
    for message_id, address in conn.execute(
            "SELECT p.message_id, p.address FROM message_parties AS p JOIN messages AS m "
            "ON m.id = p.message_id WHERE m.thread_id = ? AND m.account = ?",
            (thread_id, account)):
        parties.setdefault(message_id, set()).add(norm(address))
    messages: list[tuple[str, set[str]]] = []
    for row_id, sender, pending in conn.execute(
            "SELECT id, sender_address, pending_parties FROM messages "
            "WHERE thread_id = ? AND account = ?", (thread_id, account)):
        found = parties.pop(row_id, set())
        found.add(norm(sender))
        with suppress(ValueError, TypeError, IndexError):
            found.update(norm(str(p[1])) for p in json.loads(pending or "[]"))
        messages.append((norm(sender), found))
    return messages


def _parties_without(messages: Iterable[tuple[str, set[str]]],
                     people: set[str]) -> set[str] | None:
    """The parties of the thread's messages (`_thread_messages`) not sent by
    `people`; None when there are no such messages (nothing says who the thread
    belongs to)."""
    found: set[str] = set()
    any_other = False
    for sender, parties in messages:
        if sender in people:
            continue
        any_other = True
        found |= parties
    return found if any_other else None


def _ordered(order: ThreadOrder, after: float | Cursor | SortKey | None
             ) -> tuple[str, list[Any], str]:
    """The keyset condition (the rows after the one whose key is `after`), its
    arguments, and the ORDER BY of `order`: its expressions, all ascending, or
    all descending when reversed, so one row-value comparison pages it."""
    exprs = order.sql
    direction, beyond = ("DESC", "<") if order.reverse else ("ASC", ">")
    sort = ", ".join(f"{e} {direction}" for e in exprs)
    if after is None or not isinstance(after, tuple) or len(after) != len(exprs):
        return "", [], sort
    marks = ", ".join("?" for _ in exprs)
    return f" AND ({', '.join(exprs)}) {beyond} ({marks})", list(after), sort


class Threads(Db):
    """Reading conversations, and asking who takes part in one."""

    def _batch_started(self, conn: sqlite3.Connection) -> None:
        super()._batch_started(conn)
        _DEFERRED[id(conn)] = {}

    def _batch_ending(self, conn: sqlite3.Connection) -> None:
        super()._batch_ending(conn)
        for account, touched in _DEFERRED.pop(id(conn), {}).items():
            adopt_claims(conn, account, touched)

    def _batch_dropped(self, conn: sqlite3.Connection) -> None:
        super()._batch_dropped(conn)
        _DEFERRED.pop(id(conn), None)

    def is_thread_party(self, account: str, thread_id: str, addresses: Iterable[str]) -> bool:
        """Whether any of `addresses` (or another address of the same contact) sent
        or received a message of this thread on this account."""
        with self._read() as conn:
            return is_party(conn, account, thread_id, addresses)

    def others_in(self, account: str, thread_id: str, people: Iterable[str]) -> set[str]:
        """The parties of a thread who are none of `people` (nor another address
        of the same contact): empty for a conversation between them alone."""
        with self._read() as conn:
            return _thread_parties(conn, account, thread_id) - trusted_people(conn, people)

    def list_threads(self, account: str | None = None, limit: int = 50,
                     before: float | Cursor | SortKey | None = None,
                     folder: str | None = None,
                     order: ThreadOrder | None = None) -> list[Thread]:
        """A page of conversations, most recently active first (or in `order`);
        with `folder`, only those with an email in that folder of `account`
        (mail_locations says where). Conversations archived or deleted here
        (`hide_conversation`) are left out until something newer comes in.

        Keyset pagination: pass the last thread's `cursor` as `before` for the next
        page (in another `order`: `order.page_after(last)`), which costs the same
        however deep the page is.
        """
        args: list[Any] = []
        where = f"WHERE {NOT_HIDDEN}"
        if account is not None:
            where += " AND account = ?"
            args.append(account)
        if folder is not None:
            where += (" AND thread_id IN (SELECT m.thread_id FROM mail_locations AS l"
                      " JOIN messages AS m ON m.id = l.message"
                      " WHERE l.account = ? AND l.folder = ?)")
            args += [account, folder]
        if order is None or order.default:
            cursor = (float(before[0]), int(before[1])) if isinstance(before, tuple) \
                else before
            cond, extra = keyset_before(cursor, "last_date", "id")
            sort = "last_date DESC, id DESC"
        else:
            cond, extra, sort = _ordered(order, before)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM threads {where}{cond}"
                f" ORDER BY {sort} LIMIT ?", [*args, *extra, limit]).fetchall()
        return [thread_of(r) for r in rows]

    def threads_in_order(self, keys: Iterable[tuple[str, str]],
                         order: ThreadOrder | None = None,
                         limit: int = 500) -> list[Thread]:
        """These conversations (account, thread id), sorted by the store in `order`
        (newest first by default), hidden ones left out: the list under a limit."""
        order = order or ThreadOrder()
        wanted = to_json(sorted(set(keys)))
        _, _, sort = _ordered(order, None)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM threads WHERE {NOT_HIDDEN} AND"
                " (account, thread_id) IN (SELECT json_extract(value, '$[0]'),"
                " json_extract(value, '$[1]') FROM json_each(?))"
                f" ORDER BY {sort} LIMIT ?", (wanted, limit)).fetchall()
        return [thread_of(r) for r in rows]

    def get_thread(self, account: str, thread_id: str) -> Thread | None:
        with self._lock:
            r = self._conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM threads"
                " WHERE account = ? AND thread_id = ?", (account, thread_id)).fetchone()
        if r is None:
            return None
        return thread_of(r)

    def thread_by_row(self, row_id: int) -> Thread | None:
        """A conversation by its number in the threads table (what lists show)."""
        with self._lock:
            r = self._conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM threads WHERE id = ?", (row_id,)).fetchone()
        if r is None:
            return None
        return thread_of(r)

    def thread_labels(self, keys: Iterable[tuple[str, str]]
                      ) -> dict[tuple[str, str], tuple[frozenset[str], frozenset[str], bool]]:
        """What a list row shows besides its counts, per conversation: the tags
        (IMAP keywords) on its messages, and \\Flagged when one is flagged (the
        star); the folders its emails are in, and whether it has chat lines.
        Grouped in SQL (a page of rows is a few thousand messages); keywords are
        the flags that do not start with a backslash."""
        wanted = set(keys)
        ids = sorted({t for _, t in wanted})
        found: dict[tuple[str, str], tuple[set[str], set[str], list[bool]]] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join("?" for _ in chunk)
                for account, thread_id, folder, chat in self._conn.execute(
                        "SELECT account, thread_id, folder, max(transport <> 'email') "
                        f"FROM messages WHERE thread_id IN ({marks}) "
                        "GROUP BY account, thread_id, folder", chunk):
                    if (account, thread_id) in wanted:
                        _, folders, has_chat = found.setdefault(
                            (account, thread_id), (set(), set(), [False]))
                        if folder:
                            folders.add(folder)
                        has_chat[0] = has_chat[0] or bool(chat)
                for account, thread_id, tag in self._conn.execute(
                        "SELECT DISTINCT m.account, m.thread_id, j.value "
                        "FROM messages AS m, json_each(m.flags) AS j "
                        f"WHERE m.thread_id IN ({marks}) AND m.flags <> '[]' "
                        "AND (substr(j.value, 1, 1) <> char(92) OR j.value = ?)",
                        [*chunk, FLAGGED]):
                    if (account, thread_id) in wanted and isinstance(tag, str):
                        found.setdefault((account, thread_id),
                                         (set(), set(), [False]))[0].add(tag)
        return {k: (frozenset(t), frozenset(f), c[0]) for k, (t, f, c) in found.items()}
