"""What the mail port loads before INBOX's first page is stored (issue 22, row 1).

The port's module is imported right before its worker logs in and fetches
INBOX's newest page, in the same interpreter as the app: what only a later job
needs (the SMTP sender with smtplib, triage, the Deferred folder, the probes)
is imported by that job. Against the harness's real Dovecot, in a fresh
interpreter (this one has every module loaded already); the modules are read at
the moment the worker tells of INBOX's first page, in its own thread.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Imported by the job that needs them, never before INBOX's first page.
LATER = ("bridge.mail.send", "smtplib", "bridge.mail.triage", "bridge.mail.deferred",
         "bridge.mail.probe")


def test_inbox_first_page_loads_no_sender_triage_deferred_nor_probe(people, tmp_path: Path):
    firstpage = people("firstpage")  # with IMAP and SMTP, as a user's account
    client = firstpage.imap()
    try:
        client.append("INBOX", f"From: b@example.test\r\nSubject: newest\r\n"
                      f"Message-ID: <newest.{firstpage.account.name}@x>\r\n\r\nx\r\n".encode())
    finally:
        client.logout()
    config = tmp_path / f"{firstpage.account.name}.toml"
    code = f"""
import asyncio, sys, threading
from bridge.config import load_config
from bridge.events import EventBus, SyncProgress
from bridge.mail.port import MailTransport
from bridge.store import Store

config = load_config({str(config)!r})
assert config.accounts[0].smtp is not None and config.accounts[0].imap is not None
events = EventBus()
seen, stored = [], threading.Event()

def heard(event):
    if isinstance(event, SyncProgress) and event.folder == "INBOX" \\
            and event.phase == "first-screen" and not stored.is_set():
        seen.extend(n for n in {LATER!r} if n in sys.modules)
        stored.set()

events.subscribe(heard)
port = MailTransport(config.accounts[0], Store.open({str(tmp_path / "store.db")!r}), events)

async def main():
    await port.start()
    await asyncio.to_thread(stored.wait, 60)
    await port.stop()

asyncio.run(main())
assert stored.is_set()
print(seen)
sys.exit(1 if seen else 0)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
