"""The search box's language: free words plus field filters.

    budget from:bob to:carol subject:"q3 report" has:attachment after:2026-01-01 before:2026-02-01

Free words go to the full-text index (see `fts.py`); filters become SQL conditions
with bound parameters, so nothing a user types is ever spliced into SQL. An
unknown `name:value` is kept as words, which is what a user who typed a colon means.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from ..record import Record

FILTERS = ("from", "to", "cc", "subject", "has", "before", "after", "in", "is", "tag")


class QueryError(ValueError):
    """A filter's value cannot be used (a date that is not a date, say)."""


class SearchQuery(Record):
    __slots__ = ("args", "row_args", "row_where", "where", "words")
    words: list[str]
    where: list[str]
    args: list[object]
    # The same conditions, each written to test one row cheaply (a correlated
    # EXISTS where `where` builds the set of all matching ids): what a search
    # walking messages newest first asks of each row (see `Search.search`).
    row_where: list[str]
    row_args: list[object]

    def __init__(
        self, words: list[str] | None = None, where: list[str] | None = None,
        args: list[object] | None = None, row_where: list[str] | None = None,
        row_args: list[object] | None = None,
    ) -> None:
        self.words = [] if words is None else words
        self.where = [] if where is None else where
        self.args = [] if args is None else args
        self.row_where = [] if row_where is None else row_where
        self.row_args = [] if row_args is None else row_args

    def add(self, where: str, args: list[object], row: tuple[str, list[object]] | None = None
            ) -> None:
        self.where.append(where)
        self.args += args
        row_where, row_args = row if row is not None else (where, args)
        self.row_where.append(row_where)
        self.row_args += row_args

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _date(value: str, name: str) -> float:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise QueryError(f"{name}: expects a date like 2026-01-31, not {value!r}") from None
    return day.timestamp()


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _from(value: str) -> tuple[str, list[object]]:
    """The condition of `from:VALUE`: VALUE anywhere in the sender's address or name.

    Answered by the trigram index `senders_fts` (schema version 10): SQLite turns
    LIKE '%value%' on it into index lookups, for values of three characters or
    more. Rows a bulk import has not indexed yet are looked through by a scan of
    the backlog's id ranges, which is small once the import is caught up. Shorter
    values, and values with LIKE's own wildcards (which the index cannot take with
    an ESCAPE clause), fall back to a scan of all messages.
    """
    pattern = _like(value)
    scan = "(u.sender_address LIKE ? ESCAPE '\\' OR u.sender_name LIKE ? ESCAPE '\\')"
    if len(value) < 3 or any(ch in value for ch in "%_\\"):
        return scan.replace("u.", "m."), [pattern, pattern]
    # One MATCH of the value as a phrase of trigrams finds every row holding it in
    # either column (a superset: the trigram tokenizer folds case beyond ASCII);
    # LIKE on the row then keeps exactly what LIKE means. Two LIKEs through the
    # index, as before, cost 15-17 ms at 100k messages against 4 ms for this.
    phrase = '"' + value.replace('"', '""') + '"'
    return (
        "(m.id IN (SELECT rowid FROM senders_fts WHERE senders_fts MATCH ? "
        "UNION SELECT u.id FROM index_backlog AS b JOIN messages AS u "
        f"ON u.id BETWEEN b.first AND b.last WHERE u.indexed = 0 AND {scan}) "
        f"AND {scan.replace('u.', 'm.')})",
        [phrase, pattern, pattern, pattern, pattern],
    )


def _to(value: str, roles: tuple[str, ...]
        ) -> tuple[tuple[str, list[object]], tuple[str, list[object]]]:
    """The condition of `to:VALUE` (or `cc:`): VALUE anywhere in the address or
    name of a party of one of `roles`, as the set of matching messages and as a
    test of one message (its party rows), which a search walking messages newest
    first uses: `to:example` matches every message, and building that set cost
    140-280 ms at 100k when the page needs the newest 30.

    Answered through `party_names` (schema version 14), each distinct person
    once, and its trigram index: one MATCH finds the people whose address or
    name may hold the value (a superset, as in `_from`), LIKE keeps exactly
    what LIKE means, and their party rows come through the person index of
    `message_people` (schema 16: the rows name their person by id; the index
    holds the recipients only, and no role asked for is the sender's). A
    message whose parties a bulk import deferred has no party rows yet, so
    neither way finds it before the backlog has run. Values the trigram index
    cannot take (under three characters, LIKE's wildcards) look through every
    message's party rows.
    """
    pattern = _like(value)
    marks = ", ".join("?" for _ in roles)
    if len(value) < 3 or any(ch in value for ch in "%_\\"):
        scan = ("EXISTS (SELECT 1 FROM message_parties AS p WHERE p.message_id = m.id "
                f"AND p.role IN ({marks}) AND (p.address LIKE ? ESCAPE '\\' "
                "OR p.name LIKE ? ESCAPE '\\'))")
        scan_args: list[object] = [*roles, pattern, pattern]
        return (scan, scan_args), (scan, scan_args)
    phrase = '"' + value.replace('"', '""') + '"'
    people = ("p.person IN (SELECT n.id FROM party_names AS n WHERE n.id IN (SELECT rowid "
              "FROM party_names_fts WHERE party_names_fts MATCH ?) AND (n.address LIKE ? "
              "ESCAPE '\\' OR n.name LIKE ? ESCAPE '\\')) "
              f"AND p.position > 0 AND p.role IN ({marks})")
    args: list[object] = [phrase, pattern, pattern, *roles]
    return ((f"m.id IN (SELECT p.message_id FROM message_people AS p WHERE {people})", args),
            (f"EXISTS (SELECT 1 FROM message_people AS p WHERE p.message_id = m.id "
             f"AND {people})", args))


def parse_query(text: str) -> SearchQuery:
    try:
        tokens = shlex.split(text)
    except ValueError:  # an unbalanced quote: take the words as they are
        tokens = text.split()
    q = SearchQuery()
    for token in tokens:
        name, sep, value = token.partition(":")
        name = name.lower()
        if not sep or name not in FILTERS or not value:
            q.words.append(token)
            continue
        if name == "from":
            q.add(*_from(value))
        elif name in ("to", "cc"):
            as_set, as_row = _to(value, ("to", "cc", "bcc", "occupant") if name == "to"
                                 else ("cc",))
            q.add(*as_set, row=as_row)
        elif name == "subject":
            q.add("m.subject LIKE ? ESCAPE '\\'", [_like(value)])
        elif name == "has":
            if value.lower() not in ("attachment", "attachments"):
                raise QueryError(f"has: knows 'attachment', not {value!r}")
            q.add("(EXISTS (SELECT 1 FROM attachments AS a WHERE a.message_id = m.id)"
                  " OR m.has_attachment = 1)", [])
        elif name == "after":
            # (a walk by date tests each row's date: see search._walk_window)
            q.add("m.date >= ?", [_date(value, "after")], row=("+m.date >= ?", [
                _date(value, "after")]))
        elif name == "before":
            q.add("m.date < ?", [_date(value, "before")], row=("+m.date < ?", [
                _date(value, "before")]))
        elif name == "in":
            q.add("EXISTS (SELECT 1 FROM mail_locations AS l WHERE l.message = m.id "
                  "AND l.folder = ?)", [value])
        elif name == "tag":
            # IMAP keywords are case-insensitive (RFC 3501 2.3.2).
            q.add("EXISTS (SELECT 1 FROM json_each(m.flags) "
                  "WHERE lower(value) = lower(?))", [value])
        elif name == "is":
            flag = {"unread": None, "read": "\\Seen", "flagged": "\\Flagged",
                    "answered": "\\Answered"}.get(value.lower(), "")
            if flag == "":
                raise QueryError(f"is: knows unread, read, flagged, answered; not {value!r}")
            if flag is None:
                q.add("m.unread = 1", [])
            else:
                q.add("EXISTS (SELECT 1 FROM json_each(m.flags) WHERE value = ?)", [flag])
    return q

