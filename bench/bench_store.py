"""How the store copes with a big mailbox: prints figures, asserts nothing.

    python bench/bench_store.py [--n 100000] [--threads 5000] [--keep DIR]

Synthetic but shaped like real use: about 5000 conversations, a few hundred
correspondents (some with accented names), 200-character bodies, both transports,
a few attachments. Timings of reads are the best of several runs, after a first
cold one that is printed too.

    python bench/bench_store.py --sync-writer [--n 100000] [--rounds 3]

measures the cold header sync's writer alone (issue 22 row 7), without IMAP:
the bench mailbox (bench/mailgen.py) parsed by the sync's own parser into
header rows once, then stored as the sync stores them (batches of 5,000,
indexed as they go) into a new store each round; prints CPU and wall.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.model import SEEN, Attachment, Direction, Message, Party, ThreadOrder, Transport
from bridge.store import Store
from bridge.store.fts import fts_query
from bridge.store.list_window import ListView

FIRST = ["Anna", "Bruno", "Chloé", "Dmitri", "Élodie", "Farid", "Greta", "Håkon", "Inés",
         "Jürgen", "Kenji", "Léa", "Mateus", "Nadia", "Oskar", "Priya", "Quentin", "Rosa",
         "Søren", "Tomás", "Ugo", "Vera", "Wen", "Xavier", "Yara", "Zoë"]
LAST = ["Müller", "García", "Dubois", "Rossi", "Nowak", "Kowalski", "Smith", "Ivanov",
        "Silva", "Novák", "Björk", "Öztürk", "Tanaka", "Haddad", "O'Brien", "Lefèvre"]
WORDS = [
    "meeting", "budget", "draft", "review", "release", "server", "invoice", "travel",
    "agenda", "lunch", "deadline", "report", "contract", "schedule", "update", "question",
    "answer", "proposal", "design", "backup", "network", "migration", "customer",
    "feedback", "holiday", "conference", "ticket", "offer", "payment", "team", "issue",
    "patch", "build", "deploy", "test", "plan", "photo", "garden", "weekend", "kitchen",
    "train", "flight", "hotel", "museum", "concert", "birthday", "dinner", "coffee",
    "library", "bicycle", "mountain", "river"
]
# Real text has a long tail of rare words: add made-up ones and draw with Zipf weights.
SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "ni", "pa", "xo", "bri"]
VOCAB = WORDS + [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]
WEIGHTS = [1 / (rank + 1) for rank in range(len(VOCAB))]
RARE = VOCAB[1500]


def synthetic(n: int, threads: int, seed: int = 7) -> Iterator[Message]:
    rng = random.Random(seed)
    people = [(f"{f} {last}", f"{f.lower()}.{last.lower()}{i}@example.org")
              for i, (f, last) in enumerate((rng.choice(FIRST), rng.choice(LAST))
                                            for _ in range(400))]
    me = Party("me@example.org", "Me", "to")
    start = 1_600_000_000.0
    span = 3 * 365 * 86400.0
    for i in range(n):
        t = rng.randrange(threads)
        name, address = people[(t * 7 + rng.randrange(3)) % len(people)]
        cc_name, cc_address = rng.choice(people)
        body = " ".join(rng.choices(VOCAB, WEIGHTS, k=40))[:200]
        is_chat = t % 10 < 3
        # Dates arrive in no particular order, as with a first sync of many folders.
        date = start + rng.random() * span
        flags = {SEEN} if rng.random() < 0.9 else set()
        attachments = []
        if not is_chat and rng.random() < 0.05:
            attachments = [Attachment(f"{rng.choice(WORDS)}.pdf", "application/pdf",
                                      rng.randrange(10_000, 2_000_000), "0" * 64, "2")]
        yield Message(
            msg_id=f"{i:08x}@bench.example", account="bench",
            transport=Transport.XMPP if is_chat else Transport.EMAIL,
            direction=Direction.IN if rng.random() < 0.8 else Direction.OUT,
            thread_id=f"thread{t}@bench.example", date=date,
            sender=Party(address, name),
            recipients=[me, Party(cc_address, cc_name, "cc")],
            subject="" if is_chat else f"Re: {rng.choice(WORDS)} {rng.choice(WORDS)} #{t}",
            text=body, folder=None if is_chat else "INBOX", uid=None if is_chat else i + 1,
            message_id_header=None if is_chat else f"{i:08x}@bench.example",
            stanza_id=f"st{i}" if is_chat else None, flags=flags, attachments=attachments)


def count_matches(path: Path, query: str) -> int:
    # Counted in SQL: loading every match as a Message would time the bench, not the store.
    match = fts_query(query)
    if match is None:
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?",
                            (match,)).fetchone()[0]


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, float, Any]:
    """(cold seconds, best warm seconds, last result)."""
    t0 = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - t0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
    return cold, min(runs), result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="messages to insert")
    parser.add_argument("--threads", type=int, default=5000, help="conversations")
    parser.add_argument("--batch", type=int, default=1000, help="insert batch size")
    parser.add_argument("--keep", type=Path, help="build the store here and keep it")
    parser.add_argument("--sync-writer", action="store_true",
                        help="measure the header sync's writer alone instead")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --sync-writer")
    args = parser.parse_args()
    if args.sync_writer:
        sync_writer(args.n, args.rounds)
        return

    tmp = None
    if args.keep:
        root = args.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-store-")
        root = Path(tmp.name)
    path = root / "store.sqlite3"
    store = Store.open(path)

    print(f"store bench: {args.n} messages, {args.threads} threads, batch {args.batch}")
    print(f"  python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}")

    # Making the synthetic messages costs time too; measure it alone to subtract it.
    t0 = time.perf_counter()
    for _ in synthetic(args.n, args.threads):
        pass
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    inserted = store.insert_messages(synthetic(args.n, args.threads), batch_size=args.batch)
    took = time.perf_counter() - t0 - gen
    print(f"insert          {inserted} msgs in {took:6.2f} s = {inserted / took:,.0f} msgs/s "
          f"(store only; generating them took another {gen:.2f} s)")

    t0 = time.perf_counter()
    again = store.insert_messages(synthetic(min(args.n, 10_000), args.threads))
    took = time.perf_counter() - t0
    print(f"re-insert dups  {min(args.n, 10_000)} msgs in {took:6.2f} s, {again} new")

    cold, warm, first = timed(lambda: store.list_threads(limit=50))
    print(f"threads page 1  cold {ms(cold)}   warm {ms(warm)}   ({len(first)} threads)")

    deep_at = max(0, min(len(store.list_threads(limit=args.threads)), args.threads) - 100)
    cursor = store.list_threads(limit=deep_at + 1)[-1].cursor if deep_at else None
    cold, warm, page = timed(lambda: store.list_threads(limit=50, before=cursor))
    print(f"threads deep    cold {ms(cold)}   warm {ms(warm)}   (after #{deep_at + 1}, "
          f"{len(page)} threads)")

    big = max(first, key=lambda t: t.message_count)
    cold, warm, msgs = timed(lambda: store.thread_messages(big.thread_id, account="bench"))
    median = statistics.median(t.message_count for t in first)
    print(f"thread fetch    cold {ms(cold)}   warm {ms(warm)}   ({len(msgs)} messages; "
          f"median thread on page 1: {median:.0f})")

    cold, warm, folder = timed(lambda: store.folder_messages("bench", "INBOX", limit=50))
    print(f"folder page 1   cold {ms(cold)}   warm {ms(warm)}   ({len(folder)} messages)")

    for query in ("budget", "museum review", RARE, "lefevre", "contr*", 'NEAR("x" OR ('):
        cold, warm, hits = timed(partial(store.search, query, limit=50))
        total = count_matches(path, query)
        print(f"search {query!r:15} cold {ms(cold)}   warm {ms(warm)}   "
              f"({len(hits)} shown of {total})")

    # from: is a substring of the sender's address or name: a common surname, one
    # correspondent's address, and a name nobody has (the whole index is asked).
    # to:/cc: the same over the recipients (the people index of schema 14); to:me
    # and to:example are every message (since schema 15 a search walks messages
    # newest first and stops at the page: see bridge/store/search.py). Then words
    # and filters together, and filters that are not addresses.
    for query in ("from:dubois", "from:vera", "from:nobody-at-all", "to:dubois", "cc:vera",
                  "to:nobody-at-all", "to:me@example.org", "to:example", "budget to:example",
                  f"{RARE} from:dubois", "budget is:unread", "is:unread", "in:INBOX"):
        cold, warm, hits = timed(partial(store.search, query, limit=50))
        print(f"search {query!r:19} cold {ms(cold)}   warm {ms(warm)}   ({len(hits)} shown)")

    # The conversation list's window (#22): its count, rows at a position from
    # either end, a step beside the window, where a row is; in the default order
    # (an index) and by sender (sorted on demand), and over a folder.
    for label, view in (("newest first", ListView("bench")),
                        ("by sender", ListView("bench", order=ThreadOrder("from"))),
                        ("folder INBOX", ListView("bench", "INBOX"))):
        cold, warm, total = timed(partial(store.count_threads, view))
        print(f"list {label:13} count    cold {ms(cold)}   warm {ms(warm)}   ({total} rows)")
        for where, at in (("top", 0), ("middle", total // 2), ("end", max(0, total - 100))):
            cold, warm, rows = timed(partial(store.threads_at, view, at, 100, total))
            print(f"list {label:13} {where:8} cold {ms(cold)}   warm {ms(warm)}   "
                  f"({len(rows)} rows at {at})")
        if rows:
            last = rows[0]
            cold, warm, _ = timed(partial(store.threads_before, view, last, 100))
            print(f"list {label:13} step     cold {ms(cold)}   warm {ms(warm)}   "
                  "(100 rows beside a row)")
            cold, warm, _ = timed(partial(store.thread_position,
                                           view, last.account, last.thread_id))
            print(f"list {label:13} where    cold {ms(cold)}   warm {ms(warm)}   "
                  f"(a row near the end)")

    cold, warm, count = timed(lambda: store.count_messages("bench"))
    print(f"count           cold {ms(cold)}   warm {ms(warm)}   ({count})")

    t0 = time.perf_counter()
    for m in msgs[:20]:
        store.set_flags(m.id or 0, {SEEN, "\\Flagged"})
    print(f"set_flags       {ms((time.perf_counter() - t0) / max(1, len(msgs[:20])))} each")

    store.close()
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    size = sum(f.stat().st_size for f in files if f.exists())
    print(f"db size         {size / 1e6:8.1f} MB ({size / max(1, inserted):,.0f} bytes/message)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mb = rss / 1e6 if sys.platform == "darwin" else rss / 1e3  # bytes on macOS, KiB here
    print(f"peak RSS        {rss_mb:8.1f} MB")
    if tmp is not None:
        tmp.cleanup()


def sync_writer(n: int, rounds: int, batch: int = 5000) -> None:
    """The cold header sync's writer alone: `insert_email_headers(...,
    defer_parties=True, index=True)` of the parser's rows, a fetch batch each."""
    import os

    from bench.mailgen import generate
    from bridge.mail.header_rows import header_rows

    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        generate(Path(tmp) / "Maildir", n)
        items: list[tuple[int, frozenset[str], bytes]] = []
        for uid, f in enumerate(sorted(p for p in (Path(tmp) / "Maildir").rglob("*")
                                       if p.is_file()), 1):
            head = f.read_bytes().split(b"\n\n", 1)[0]
            items.append((uid, frozenset(), head.replace(b"\n", b"\r\n") + b"\r\n\r\n"))
        rows = header_rows("alice", "INBOX", items, frozenset({"alice@example.test"}))
        print(f"sync writer: {len(rows)} header rows, batches of {batch:,}, "
              f"sqlite {sqlite3.sqlite_version}")
        for r in range(rounds):
            store = Store.open(Path(tmp) / f"writer{r}.sqlite3")
            store.upsert_account("alice")
            store.upsert_folder("alice", "INBOX")
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(0, len(rows), batch):
                store.insert_email_headers("alice", "INBOX", rows[i:i + batch],
                                           defer_parties=True, index=True)
            store.end_bulk()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            store.close()
            print(f"  round {r + 1}: CPU {cpu:.2f} s, wall {wall:.2f} s "
                  f"(load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
