"""Write a large, realistic mailbox straight into a Maildir.

Threads of 1-12 messages, 1-4 recipients, some Cc, some RFC 2047 subjects, some
attachments. Files are written the way Maildir delivery writes them (with the
size in the name, so Dovecot need not stat each one), which takes seconds where
delivering 100,000 messages over LMTP would take minutes.
"""

from __future__ import annotations

import base64
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kai", "Lena", "Mateo", "Nora", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tomás"]
LAST = ["Almeida", "Berg", "Costa", "Dubois", "Engel", "Fischer", "García", "Hansen",
        "Ivanova", "Jensen", "Kowalski", "Lefèvre", "Moreau", "Nakamura", "Olsen"]
TOPICS = ["budget review", "museum trip", "release notes", "quarterly figures", "team offsite",
          "server migration", "contract renewal", "design feedback", "hiring plan",
          "conference talk", "invoice 2231", "summer party", "security audit", "roadmap"]
WORDS = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "they", "you", "were", "her", "she", "there", "been", "one", "all", "we", "their",
    "report", "meeting", "draft", "numbers", "please", "attached", "thanks", "regards",
    "schedule", "review",
]


def _person(rng: random.Random, domain: str) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}@{domain}".encode(
        "ascii", "ignore").decode()


def _addr(name: str, email: str) -> str:
    if name.isascii():
        return f'"{name}" <{email}>'
    return f"{Header(name, 'utf-8').encode()} <{email}>"


def generate(maildir: Path, count: int, owner: str = "alice@example.test",
             seed: int = 7, start: float | None = None) -> int:
    """Write `count` messages into `maildir`/cur; return the bytes written."""
    rng = random.Random(seed)
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    cur = maildir / "cur"
    now = start or time.time()
    t = now - count * 60.0
    written = 0
    pid = os.getpid()
    thread_left = 0
    thread_refs: list[str] = []
    subject = ""
    people = [_person(rng, rng.choice(["example.test", "corp.test", "mail.test"]))
              for _ in range(400)]
    encoded = {p: _addr(*p) for p in people}
    me = _addr("Alice", owner)
    # One long text to cut bodies from: drawing every word anew dominated the run.
    corpus = " ".join(rng.choice(WORDS) for _ in range(20000))
    pool = ThreadPoolExecutor(max_workers=8)  # file creation waits on the disk, not the GIL
    writes = []
    for n in range(count):
        t += rng.uniform(10, 110)
        if thread_left == 0:
            thread_left = rng.randint(1, 12)
            thread_refs = []
            topic = rng.choice(TOPICS)
            subject = f"{topic.capitalize()} #{n}"
            if rng.random() < 0.1:
                subject = f"Résumé: {subject} — à voir"
        sender = rng.choice(people)
        rcpts = rng.sample(people, rng.randint(1, 4))
        msgid = f"bench.{n}.{seed}@example.test"
        headers = [
            f"Return-Path: <{sender[1]}>",
            f"Delivered-To: {owner}",
            f"Received: from mail.example.test by mx.example.test; "
            f"{format_datetime(datetime.fromtimestamp(t, UTC))}",
            f"From: {encoded[sender]}",
            f"To: {me}, " + ", ".join(encoded[r] for r in rcpts[:2]),
        ]
        if len(rcpts) > 2:
            headers.append("Cc: " + ", ".join(encoded[r] for r in rcpts[2:]))
        subj = subject if not thread_refs else f"Re: {subject}"
        headers.append("Subject: " + (subj if subj.isascii() else Header(subj, "utf-8").encode()))
        headers.append(f"Date: {format_datetime(datetime.fromtimestamp(t, UTC))}")
        headers.append(f"Message-ID: <{msgid}>")
        if thread_refs:
            headers.append(f"In-Reply-To: <{thread_refs[-1]}>")
            # As mail clients do: keep the root, then the most recent ones.
            refs = thread_refs[:1] + thread_refs[1:][-9:]
            headers.append("References: " + " ".join(f"<{r}>" for r in refs))
        headers.append("MIME-Version: 1.0")
        start = rng.randrange(0, len(corpus) - 900)
        text = corpus[start:start + rng.randint(180, 800)].strip() + "\n"
        if rng.random() < 0.08:
            boundary = f"=_b{n}"
            headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
            blob = base64.encodebytes(rng.randbytes(rng.randint(200, 3000))).decode()
            body = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
                    f"--{boundary}\nContent-Type: application/pdf\n"
                    f'Content-Disposition: attachment; filename="doc{n}.pdf"\n'
                    f"Content-Transfer-Encoding: base64\n\n{blob}\n--{boundary}--\n")
        else:
            headers.append("Content-Type: text/plain; charset=utf-8")
            body = text
        data = ("\n".join(headers) + "\n\n" + body).encode()
        flags = "S" if rng.random() < 0.8 else ""
        if rng.random() < 0.03:
            flags = "F" + flags
        name = f"{int(t)}.M{n}P{pid}.bench,S={len(data)}:2,{flags}"
        writes.append(pool.submit(_write, cur / name, data, t))
        if len(writes) >= 2000:
            # Bounded: holding every message until the end took ~250 MB, which the
            # benchmark's peak RSS then reported as the client's.
            for w in writes:
                w.result()
            writes.clear()
        written += len(data)
        thread_refs.append(msgid)
        thread_left -= 1
    for w in writes:
        w.result()
    pool.shutdown()
    return written


def _write(path: Path, data: bytes, mtime: float) -> None:
    with open(path, "wb") as f:
        f.write(data)
    # Dovecot takes a Maildir message's INTERNALDATE from the file's mtime.
    os.utime(path, (mtime, mtime))
