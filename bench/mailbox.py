"""The side-by-side bench's mailboxes, written straight into the harness's Dovecot.

- alice: INBOX of N messages (bench/mailgen.py), plus one "Oldest inbox marker"
  dated before all of them (the oldest conversation, for the scroll row);
- bob: an Archive of the same N messages (hard links of alice's files) and a small
  INBOX plus one "Newest inbox marker" dated after everything.

And the bench's Dovecot made fit for them (`raise_dovecot_memory`).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from bench.mailgen import generate
from tests.harness.servers import Account, World

NEWEST = "Newest inbox marker"
OLDEST = "Oldest inbox marker"


def write_marker(maildir: Path, subject: str, when: float, tag: str) -> None:
    """One unread message with `subject`, dated `when`, into `maildir`/cur."""
    date = format_datetime(datetime.fromtimestamp(when, UTC))
    data = (f"From: \"Marker Sender\" <marker@example.test>\nTo: me@example.test\n"
            f"Subject: {subject}\nDate: {date}\nMessage-ID: <marker.{tag}@example.test>\n"
            f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            f"the {tag} message of the bench\n").encode()
    path = maildir / "cur" / f"{int(when)}.Mmarker{tag}P{os.getpid()}.bench,S={len(data)}:2,"
    path.write_bytes(data)
    os.utime(path, (when, when))


def link_folder(source_cur: Path, maildir: Path) -> None:
    """A Maildir++ folder holding hard links of `source_cur`'s files."""
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "maildirfolder").touch()
    for f in os.scandir(source_cur):
        os.link(f.path, maildir / "cur" / f.name)


# Dovecot's default `vsz_limit` (256 MiB an imap process) is too small for a large
# mailbox: at 300,000 messages the mailbox's dovecot.index.cache is ~200 MiB, so its
# mmap fails ("Cannot allocate memory": every client is then served without the
# cache) and a LIST ... RETURN (STATUS) that opens INBOX dies "Out of memory"
# (the client sees EOF). The harness's servers are the tests' and stay as they are;
# the bench raises the limit of its own Dovecot, at every size, before any client.
DOVECOT_VSZ_LIMIT = "2G"


def raise_dovecot_memory(world: World) -> str:
    """Set `default_vsz_limit` in the World's dovecot.conf and reload Dovecot; the
    limit Dovecot then reports."""
    conf = world.dovecot_dir / "dovecot.conf"
    with conf.open("a") as f:
        f.write(f"# bench/bench_side_by_side.py: a large mailbox's index cache\n"
                f"default_vsz_limit = {DOVECOT_VSZ_LIMIT}\n")
    subprocess.run(["doveadm", "-c", str(conf), "reload"], check=True)
    log = world.dovecot_dir / "dovecot.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "reloading configuration" not in (
            log.read_text(errors="replace") if log.exists() else ""):
        time.sleep(0.05)
    return subprocess.run(["doveconf", "-c", str(conf), "-h", "default_vsz_limit"],
                          capture_output=True, text=True, check=True).stdout.strip()


@dataclass
class Mail:
    n: int
    inbox_small: int
    alice: Account
    bob: Account
    built_in: float


def build_mail(world: World, n: int, inbox_small: int) -> Mail:
    t0 = time.monotonic()
    now = time.time()
    alice, bob = world.add_account("alice"), world.add_account("bob")
    inbox = world.maildir(alice)
    generate(inbox, n, owner=alice.email, seed=7, start=now - 3600)
    write_marker(inbox, OLDEST, now - n * 60 - 30 * 86400, "oldest")
    bob_inbox = world.maildir(bob)
    generate(bob_inbox, inbox_small, owner=bob.email, seed=9, start=now - 3600)
    write_marker(bob_inbox, NEWEST, now, "newest")
    link_folder(inbox / "cur", bob_inbox / ".Archive")
    world.hand_mail_to_dovecot(alice)
    world.hand_mail_to_dovecot(bob)
    return Mail(n, inbox_small, alice, bob, time.monotonic() - t0)
