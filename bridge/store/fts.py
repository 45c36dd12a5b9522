"""The full-text indexes: putting stored rows in, and turning what a user typed
into a safe FTS5 query."""

from __future__ import annotations

import sqlite3


def index_rows(conn: sqlite3.Connection, first: int, last: int) -> None:
    """Put messages `first`..`last` that are `indexed` into both full-text
    indexes (messages_fts for words, senders_fts for `from:`), inside the
    caller's transaction. Every insert into messages calls this for the rows it
    wrote: since schema 13 no trigger does it row by row."""
    conn.execute(
        "INSERT INTO messages_fts (rowid, subject, body, search_parties) "
        "SELECT id, subject, body, search_parties FROM messages "
        "WHERE id BETWEEN ? AND ? AND indexed = 1", (first, last))
    conn.execute(
        "INSERT INTO senders_fts (rowid, sender_address, sender_name) "
        "SELECT id, sender_address, sender_name FROM messages "
        "WHERE id BETWEEN ? AND ? AND indexed = 1", (first, last))


def index_parties(conn: sqlite3.Connection, first: int, last: int) -> None:
    """Keep the people of messages `first`..`last`'s party rows in `party_names`
    (and so in its trigram index, for `to:` and `cc:`), inside the caller's
    transaction: every insert into message_parties calls this for its rows."""
    conn.execute(
        "INSERT OR IGNORE INTO party_names (address, name) SELECT DISTINCT address, name "
        "FROM message_parties WHERE message_id BETWEEN ? AND ?", (first, last))


# A pasted essay should not become a query with thousands of terms.
MAX_TERMS = 32


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for `text`: every word must occur, in any column.

    Each word becomes a quoted string (with its quotes doubled), so FTS5 operators
    and syntax in hostile or pasted text (`NEAR(`, `"`, `col:`, `AND`, parens) are
    only ever words. A trailing `*` on a word is kept as a prefix search, the one
    operator worth offering. Returns None when nothing searchable is left.
    """
    terms: list[str] = []
    for word in text.split():
        prefix = word.endswith("*")
        word = word.rstrip("*")
        # Punctuation alone tokenizes to nothing; leaving it out avoids empty phrases.
        if not any(ch.isalnum() for ch in word):
            continue
        quoted = '"' + word.replace('"', '""') + '"'
        terms.append(quoted + "*" if prefix else quoted)
        if len(terms) == MAX_TERMS:
            break
    return " ".join(terms) if terms else None
