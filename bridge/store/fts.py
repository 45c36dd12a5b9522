"""Turning what a user typed into a safe FTS5 query."""

from __future__ import annotations

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
