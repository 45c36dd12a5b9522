"""A message is a message: identity, search and labels of email, end to end.

Mail goes into Dovecot the way other software puts it there: raw bytes appended
over IMAP with plain imapclient, or sent through the harness's SMTP server by
swaks. Our side is the command line (`tuiclient ... --json` in a subprocess) and
the store it leaves behind.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import uuid
from email.utils import formatdate
from pathlib import Path

import imapclient
import pytest

from bridge.store import Store
from tests.conftest import password_command
from tests.harness.servers import REPO_ROOT, Account, World
from tests.others import person

servers = pytest.mark.servers


# -- the other side: bytes into Dovecot, by software we did not write -------------


def imap_client(world: World, who: Account) -> imapclient.IMAPClient:
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    c = imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True, ssl_context=ctx)
    c.login(who.email, who.password)
    return c


def append_raw(world: World, who: Account, raw: bytes, folder: str = "INBOX") -> None:
    """Put these exact bytes into a folder (made if missing), unread."""
    with imap_client(world, who) as c:
        if not c.folder_exists(folder):
            c.create_folder(folder)
        c.append(folder, raw, flags=(), msg_time=None)


def swaks(world: World, sender: Account, to: str, raw: bytes, tmp: Path) -> None:
    """Hand raw bytes to Dovecot with swaks over LMTP, as the harness's SMTP server
    does (this swaks has no TLS, which the submission port needs for AUTH)."""
    data = tmp / f"swaks-{uuid.uuid4().hex}.eml"
    data.write_bytes(raw)
    done = subprocess.run(
        ["swaks", "--protocol", "LMTP", "--server", "127.0.0.1", "--port",
         str(world.ports.lmtp), "--from", sender.email, "--to", to,
         "--data", f"@{data}", "--silent", "2"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def raw_mail(sender: str, to: str, subject: str | None, body: str,
             message_id: str | None, date: str | None = None) -> bytes:
    lines = [f"From: {sender}", f"To: {to}"]
    if subject is not None:
        lines.append(f"Subject: {subject}")
    lines.append(f"Date: {date or formatdate()}")
    if message_id is not None:
        lines.append(f"Message-ID: <{message_id}>")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


def inbox_count(world: World, who: Account, folder: str = "INBOX") -> int:
    with imap_client(world, who) as c:
        return len(c.select_folder(folder, readonly=True) and c.search())


async def wait_delivered(world: World, who: Account, n: int, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while inbox_count(world, who) < n:
        if loop.time() > deadline:
            raise AssertionError(f"{n} mails never reached {who.email}")
        await asyncio.sleep(0.1)


# -- our side: the command line ----------------------------------------------------


def write_config(world: World, tmp: Path, me: Account, extra: str = "") -> Path:
    path = tmp / "config.toml"
    path.write_text(world.client_config(me, password_command(tmp, me)) + extra)
    return path


async def run(config: Path, *argv: str, as_json: bool = True) -> object:
    """`tuiclient --config CONFIG ARGV [--json]`: its JSON, or its text."""
    def go() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tuiclient", "--config", str(config), *argv,
             *(["--json"] if as_json else [])],
            capture_output=True, text=True, timeout=90, cwd=REPO_ROOT)
    done = await asyncio.to_thread(go)
    assert done.returncode == 0, f"{argv}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout) if as_json else done.stdout


def store_of(tmp: Path) -> Store:
    """The store the command line used (XDG_DATA_HOME is private to the test)."""
    import os
    return Store.open(Path(os.environ["XDG_DATA_HOME"]) / "tuiclient" / "store.db")


def search_ids(hits: object) -> list[str]:
    assert isinstance(hits, list)
    return [h["msg_id"] for h in hits]


# -- 2. search finds a message before and after it was opened ----------------------


@servers
async def test_search_finds_a_message_by_subject_and_body_before_and_after_show(
        world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    config = write_config(world, tmp_path, alice)
    mid = f"{uuid.uuid4().hex}@bob.test"
    append_raw(world, alice, raw_mail(bob.email, alice.email, "Pelican migration",
                                      "The flamingos left early this year.", mid))
    await run(config, "sync")

    assert search_ids(await run(config, "search", "pelican")) == [mid]
    threads = await run(config, "list")
    thread = next(t for t in threads if t["thread_id"] == mid)
    shown = await run(config, "show", str(thread["id"]))
    assert "flamingos left early" in shown["messages"][0]["text"]  # the body was fetched

    assert search_ids(await run(config, "search", "pelican")) == [mid]
    assert search_ids(await run(config, "search", "flamingos")) == [mid]
    assert search_ids(await run(config, "search", "pelican", "flamingos")) == [mid]
    # Opened again (nothing to fetch): still found both ways.
    await run(config, "show", str(thread["id"]))
    assert search_ids(await run(config, "search", "subject:pelican")) == [mid]
    assert search_ids(await run(config, "search", "flamingos")) == [mid]


# -- 4. an email without a subject is "(no subject)", never "(chat)" ---------------


@servers
async def test_an_email_without_subject_is_labelled_no_subject_in_list_and_show(
        world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    config = write_config(world, tmp_path, alice)
    mid = f"{uuid.uuid4().hex}@bob.test"
    swaks(world, bob, alice.email,
          raw_mail(bob.email, alice.email, None, "Just the numbers: 4, 8, 15.", mid), tmp_path)
    await wait_delivered(world, alice, 1)
    await run(config, "sync")

    listing = await run(config, "list", as_json=False)
    line = next(ln for ln in listing.splitlines() if bob.email[:20] in ln or "(no" in ln)
    assert "(no subject)" in line and "(chat)" not in listing
    threads = await run(config, "list")
    thread = next(t for t in threads if t["thread_id"] == mid)
    assert thread["subject"] == ""

    shown = await run(config, "show", str(thread["id"]), as_json=False)
    assert shown.splitlines()[0].startswith("(no subject)")
    assert "  subject: (no subject)" in shown and "(chat)" not in shown
    assert "Just the numbers" in shown


async def test_an_email_without_subject_is_labelled_no_subject_in_the_tui(tmp_path):
    from textual.widgets import Static

    from bridge.model import Direction, Message, Party, Transport
    from tests.test_app_snapshots import ME, NOW, make_app
    from tuiclient.widgets.conversation_list import ConversationList

    app = make_app(tmp_path)
    app.engine.store.insert_messages([Message(
        msg_id="nosubject@example.test", account=ME, transport=Transport.EMAIL,
        direction=Direction.IN, thread_id="nosubject@example.test", date=NOW - 60,
        sender=Party("bob@example.test", "Bob", "from"),
        recipients=[Party("alice@example.test", "", "to")], subject="", text="",
        folder="INBOX", uid=99, message_id_header="nosubject@example.test")])
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        row = next(i for i, t in enumerate(listing.rows)
                   if t.thread_id == "nosubject@example.test")
        text = listing.row_text(listing.rows[row], 120).plain
        assert "(no subject)" in text and "(chat)" not in text
        listing.focus()
        while listing.cursor != row:
            await pilot.press("j" if listing.cursor < row else "k")
        await pilot.press("enter")
        await pilot.pause()
        head = str(app.screen.query_one("#email-head", Static).render())
        assert "Subject: (no subject)" in head
        assert "Chat with" not in app.screen.subject
        assert app.screen.subject == "(no subject)"
