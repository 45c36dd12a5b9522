"""Every plan of a search finds what the one query of before schema 15 found.

`Search.search` picks how to find its page (sort every match by date, or walk
messages newest first through `messages_by_date`, testing each against the set
of matches or asking FTS5 about it, in a window or to the end; see the comment
above `_newest` in bridge/store/search.py). Each check here runs, beside the
search, the query it replaced (FTS5 matches joined to messages, every match
sorted by date) on a generated store: common and rare words, phrases, prefixes,
every filter alone and combined, ties of date, several accounts and limits; and
with the thresholds moved so that each plan, not only the one the store's size
picks, answers every query.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.model import SEEN, Attachment, Direction, Message, Party, Transport
from bridge.store import Store, search
from bridge.store.fts import fts_query
from bridge.store.query import parse_query

COMMON = ["meeting", "budget", "draft", "review"]
WORDS = [*COMMON, "river", "garden", "kitchen", "museum", "coffee", "lunch", "offer",
         "zebra", "quartz", "umbrella", "violin"]
PEOPLE = [("Anna Müller", "anna@example.org"), ("Bruno Dubois", "bruno@example.org"),
          ("Chloé Rossi", "chloe@chat.example"), ("Dmitri Nowak", "dmitri@example.net"),
          ("Élodie Silva", "elodie@example.net"), ("Vera Haddad", "vera@example.com")]
QUERIES = [
    "budget", "meeting", "review draft", "river", "zebra", "violin umbrella",
    '"budget review"', '"kitchen offer"', "bud*", "mee* dra*", "nosuchword",
    "from:anna", "from:dubois", "from:ve", "from:nobody-at-all", "from:example",
    "to:me@example.org", "to:example", "to:vera", "to:chloé", "to:xx", "cc:rossi",
    "cc:nobody-at-all", "subject:budget", "subject:zebra", "in:INBOX", "in:Archive",
    "in:Nowhere", "is:unread", "is:read", "is:flagged", "tag:$label1", "has:attachment",
    "after:2020-12-01", "before:2020-10-01", "after:2020-10-01 before:2020-11-01",
    "budget from:anna", "budget to:example", "budget to:vera is:unread",
    "meeting in:Archive", "draft before:2020-10-01", "review after:2020-12-20",
    "budget is:flagged", "zebra to:me@example.org", "river subject:garden",
    "budget has:attachment", "meeting from:example to:example",
    "to:example after:2020-12-25", "from:bruno is:unread", "bud* cc:anna",
]
LIMITS = [1, 7, 30, 200, 10_000]
# (FEW_MATCHES, WINDOW_PER_ROW, MAX_WINDOW): the store's own choice, then each
# plan forced (a window of the whole store; no window at all).
THRESHOLDS = [(2000, 24, 10_000), (1, 1, 10**12), (1, 4, 10**12), (10**9, 24, 10_000),
              (1, 10**6, 10**12), (1, 24, 100)]


def _messages(n: int = 1500, seed: int = 3) -> Iterator[Message]:
    rng = random.Random(seed)
    me = Party("me@example.org", "Me", "to")
    start = 1_600_000_000.0
    for i in range(n):
        name, address = rng.choice(PEOPLE)
        cc_name, cc_address = rng.choice(PEOPLE)
        chat = i % 7 == 0
        # A coarse clock gives many ties of date, which the message id breaks.
        date = start + rng.randrange(2000) * 3600.0
        flags = {SEEN} if rng.random() < 0.8 else set()
        if rng.random() < 0.1:
            flags.add("\\Flagged")
        if rng.random() < 0.1:
            flags.add("$Label1")
        words = rng.choices(WORDS, [30, 20, 12, 10] + [2] * (len(WORDS) - 4), k=12)
        yield Message(
            msg_id=f"{i}@plans.example", account="work" if i % 5 else "home",
            transport=Transport.XMPP if chat else Transport.EMAIL,
            direction=Direction.IN if rng.random() < 0.8 else Direction.OUT,
            thread_id=f"t{i % 97}@plans.example", date=date,
            sender=Party(address, name),
            recipients=[me, Party(cc_address, cc_name, "cc")],
            subject="" if chat else " ".join(rng.sample(WORDS, 2)),
            text=" ".join(words),
            folder=None if chat else ("INBOX" if i % 3 else "Archive"),
            uid=None if chat else i + 1,
            message_id_header=None if chat else f"{i}@plans.example",
            stanza_id=f"s{i}" if chat else None, flags=flags,
            attachments=[Attachment("a.pdf", "application/pdf", 10, "0" * 64, "2")]
            if not chat and rng.random() < 0.05 else [])


def _before(conn: sqlite3.Connection, query: str, limit: int, account: str | None) -> list[int]:
    """The search as it was before schema 15: one query, every match sorted."""
    parsed = parse_query(query)
    match = fts_query(parsed.text)
    if match is None and not parsed.where:
        return []
    sql, args = "", list[object]()
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
    return [r[0] for r in conn.execute(
        "SELECT m.id FROM messages AS m " + sql + " ORDER BY m.date DESC, m.id DESC LIMIT ?",
        [*args, limit])]


@pytest.fixture(scope="module")
def plans_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    path = tmp_path_factory.mktemp("plans") / "store.sqlite3"
    with Store.open(path) as store:
        for account in ("work", "home"):
            store.upsert_account(account)
            for folder in ("INBOX", "Archive"):
                store.upsert_folder(account, folder)
        store.insert_messages(_messages())
        yield store, path


@pytest.mark.parametrize("few,window,max_window", THRESHOLDS)
def test_every_plan_finds_what_the_sort_of_every_match_found(
        plans_store: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch,
        few: int, window: int, max_window: int) -> None:
    store, path = plans_store
    monkeypatch.setattr(search, "FEW_MATCHES", few)
    monkeypatch.setattr(search, "WINDOW_PER_ROW", window)
    monkeypatch.setattr(search, "MAX_WINDOW", max_window)
    conn = sqlite3.connect(path)
    try:
        nonempty = 0
        for query in QUERIES:
            for limit in LIMITS:
                for account in (None, "home"):
                    want = _before(conn, query, limit, account)
                    got = [m.id for m in store.search(query, limit=limit, account=account)]
                    assert got == want, (query, limit, account)
                    nonempty += bool(want)
        assert nonempty > len(QUERIES) * len(LIMITS)  # the store is not all misses
    finally:
        conn.close()


def test_the_plans_are_each_taken(plans_store: tuple[Store, Path],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The thresholds above do reach each plan: count which runs."""
    store, _ = plans_store
    taken: list[str] = []
    for name in ("_by_matches", "_walk_window"):
        real = getattr(search, name)
        monkeypatch.setattr(search, name, lambda *a, _n=name, _r=real: (taken.append(_n),
                                                                          _r(*a))[1])
    real_ids = search._ids
    monkeypatch.setattr(search, "_ids", lambda conn, sql, args: (
        taken.append("walk to the end") if search._IN_MATCHES in sql else None,
        real_ids(conn, sql, args))[1])
    monkeypatch.setattr(search, "FEW_MATCHES", 1)
    monkeypatch.setattr(search, "WINDOW_PER_ROW", 1)
    store.search("budget", limit=30)      # common: the window holds the page
    store.search("zebra violin", limit=30)  # rarer: the window does not
    store.search("to:example", limit=30)
    store.search("to:nobody-at-all", limit=30)
    monkeypatch.setattr(search, "FEW_MATCHES", 2000)
    store.search("zebra", limit=30)
    assert {"_by_matches", "_walk_window", "walk to the end"} <= set(taken)


def test_a_search_walks_messages_by_date(plans_store: tuple[Store, Path]) -> None:
    """Schema 15's index is there, and a walk by it needs no sort."""
    _, path = plans_store
    conn = sqlite3.connect(path)
    try:
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN " + search._WALK + "m.unread = 1" + search._ORDER, (5,)))
    finally:
        conn.close()
    assert "messages_by_date" in plan and "TEMP B-TREE" not in plan
