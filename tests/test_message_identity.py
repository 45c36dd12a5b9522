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
    found = await run(config, "search", "numbers", as_json=False)
    assert "(no subject) — Just the numbers" in found and "(chat)" not in found


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


# -- 1. a message is a message --------------------------------------------------------


async def threads_by_id(config: Path) -> dict[str, dict]:
    listed = await run(config, "list", "--limit", "200")
    assert isinstance(listed, list)
    return {t["thread_id"]: t for t in listed}


async def shown(config: Path, thread: dict) -> list[dict]:
    out = await run(config, "show", str(thread["id"]))
    assert isinstance(out, dict)
    return out["messages"]


@servers
async def test_emails_sharing_a_message_id_or_lacking_one_stay_apart_same_bytes_merge(
        world, tmp_path):
    alice, bob, carol, dave = (person(world, n) for n in ("alice", "bob", "carol", "dave"))
    config = write_config(world, tmp_path, alice)
    shared = f"dup-{uuid.uuid4().hex}@reused.test"
    date = formatdate()
    # The same Message-ID: another sender, and the same sender with another body.
    # One by swaks over LMTP, two appended as they are.
    swaks(world, bob, alice.email,
          raw_mail(bob.email, alice.email, "Minutes", "Bob's minutes: apples.", shared),
          tmp_path)
    await wait_delivered(world, alice, 1)
    append_raw(world, alice, raw_mail(carol.email, alice.email, "Invoice",
                                      "Carol's invoice: pears.", shared))
    append_raw(world, alice, raw_mail(bob.email, alice.email, "Minutes",
                                      "Bob's minutes: plums.", shared, date))
    # No Message-ID, twice with the very same header, bodies of the same length.
    for body in ("Reading AAAA", "Reading BBBB"):
        append_raw(world, alice, raw_mail(dave.email, alice.email, "Meter", body, None, date))
    # The very same bytes in INBOX and in Archive: one message, with and without id.
    kept = f"kept-{uuid.uuid4().hex}@bob.test"
    copy = raw_mail(bob.email, alice.email, "Keep this", "Filed twice.", kept, date)
    bare = raw_mail(dave.email, alice.email, "Bare copy", "No id, filed twice.", None, date)
    for folder in ("INBOX", "Archive"):
        append_raw(world, alice, copy, folder)
        append_raw(world, alice, bare, folder)
    # A reply to the shared id threads with it.
    reply = raw_mail(dave.email, alice.email, "Re: Minutes", "About those minutes.",
                     f"re-{uuid.uuid4().hex}@dave.test").replace(
        b"MIME-Version", f"In-Reply-To: <{shared}>\r\nReferences: <{shared}>\r\n"
        "MIME-Version".encode())
    append_raw(world, alice, reply)

    await run(config, "sync")
    threads = await threads_by_id(config)

    # Three emails with one Message-ID: three messages, one thread (the id's), plus
    # the reply that names it.
    t = threads[shared]
    assert t["message_count"] == 4
    messages = await shown(config, t)
    texts = sorted(m["text"].strip() for m in messages)
    assert texts == ["About those minutes.", "Bob's minutes: apples.",
                     "Bob's minutes: plums.", "Carol's invoice: pears."]
    assert len({m["msg_id"] for m in messages}) == 4
    assert {m["sender"]["address"] for m in messages} == {bob.email, carol.email, dave.email}
    assert sum(m["msg_id"] == shared for m in messages) == 1  # one keeps the bare id

    # Two headerless emails with the same header: two messages, each its own.
    meters = [t for t in threads.values() if t["subject"] == "Meter"]
    assert len(meters) == 2 and all(t["message_count"] == 1 for t in meters)
    bodies = sorted([(await shown(config, t))[0]["text"].strip() for t in meters])
    assert bodies == ["Reading AAAA", "Reading BBBB"]

    # The same bytes in two folders: one message each, found in both folders.
    for subject in ("Keep this", "Bare copy"):
        same = [t for t in threads.values() if t["subject"] == subject]
        assert len(same) == 1 and same[0]["message_count"] == 1, same
    store = store_of(tmp_path)
    try:
        rows = store._conn.execute(
            "SELECT m.subject, count(DISTINCT m.id), group_concat(l.folder) FROM messages AS m "
            "JOIN mail_locations AS l ON l.message = m.id WHERE m.subject IN "
            "('Keep this', 'Bare copy', 'Meter', 'Minutes', 'Invoice') "
            "GROUP BY m.subject ORDER BY m.subject").fetchall()
        got = {r[0]: (r[1], sorted(r[2].split(","))) for r in rows}
        assert got == {"Bare copy": (1, ["Archive", "INBOX"]),
                       "Invoice": (1, ["INBOX"]), "Keep this": (1, ["Archive", "INBOX"]),
                       "Meter": (2, ["INBOX", "INBOX"]), "Minutes": (2, ["INBOX", "INBOX"])}
        assert len(store.lookup("message_id_header", shared)) == 3
        before = store.count_messages()
    finally:
        store.close()

    # A second sync (and a second device's worth of checks) changes nothing.
    again = await run(config, "sync")
    assert again["new"] == 0
    assert {k: v["message_count"] for k, v in (await threads_by_id(config)).items()} == \
        {k: v["message_count"] for k, v in threads.items()}
    store = store_of(tmp_path)
    try:
        assert store.count_messages() == before
    finally:
        store.close()


@servers
async def test_a_chat_origin_id_equal_to_someones_message_id_hides_neither(
        world, tmp_path, running):
    import xml.etree.ElementTree as ET

    from tests.others import plain

    _start, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))

    def chat(body: str, origin: str) -> None:
        msg = bob_x.xmpp.make_message(mto=alice.jid, mbody=body, mtype="chat")
        ET.SubElement(msg.xml, "{urn:xmpp:sid:0}origin-id", {"id": origin})
        msg.send()

    # Email first, then a chat line from someone else with its Message-ID.
    first = f"{uuid.uuid4().hex}@carol.test"
    append_raw(world, alice, raw_mail(carol.email, alice.email, "Carol's plan",
                                      "Carol writes by email.", first))
    await run(config, "sync")
    chat("Bob chats with the same id.", first)
    # The chat line first, then an email from someone else with its origin-id.
    second = f"{uuid.uuid4().hex}@bob.test"
    chat("Bob chats first.", second)
    await asyncio.sleep(1.0)  # into alice's offline store and archive
    await run(config, "sync")
    append_raw(world, alice, raw_mail(carol.email, alice.email, "Carol again",
                                      "Carol's email came second.", second))
    # One person's id on both transports is one message (bob's address is his JID).
    third = f"{uuid.uuid4().hex}@bob.test"
    append_raw(world, alice, raw_mail(bob.email, alice.email, "Bob both ways",
                                      "Bob sends it both ways.", third))
    chat("Bob sends it both ways.", third)
    await asyncio.sleep(1.0)
    await run(config, "sync")

    found: dict[str, list[tuple[str, str]]] = {}
    for t in (await threads_by_id(config)).values():
        for m in await shown(config, t):
            found.setdefault(m["text"].strip(), []).append((m["transport"], m["msg_id"]))
    assert found["Carol writes by email."] == [("email", first)]
    assert [tr for tr, _ in found["Bob chats with the same id."]] == ["xmpp"]
    assert found["Bob chats first."] == [("xmpp", second)]
    assert [tr for tr, _ in found["Carol's email came second."]] == ["email"]
    assert found["Carol's email came second."][0][1] != second
    assert len(found["Bob sends it both ways."]) == 1  # merged: shown once

    hits = search_ids(await run(config, "search", "carol"))
    assert first in hits and len(hits) == 2


# -- 3. a message over the body limit: fetched once, partly, shown with its text --------


@servers
async def test_a_message_over_the_body_limit_is_fetched_once_and_shown_with_its_text(
        world, tmp_path):
    from email.message import EmailMessage

    from bridge.config import get_password, load_config
    from bridge.headless.output import message_block
    from bridge.mail.sync import MailSync
    from tests.harness.faultproxy import FaultProxy
    from tests.harness.servers import CLIENT_CONF

    alice, bob = person(world, "alice"), person(world, "bob")
    # bob's mail client: the stdlib, a short text and a 3 MB file.
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = bob.email, alice.email, "Raw footage"
    mail["Date"], mail["Message-ID"] = formatdate(), f"<{uuid.uuid4().hex}@bob.test>"
    mail.set_content("Here is the footage from Tuesday.\n" + "More notes. " * 2000)
    mail.add_attachment(bytes(range(256)) * 12288, maintype="video", subtype="mp4",
                        filename="tuesday.mp4")
    raw = mail.as_bytes()
    assert len(raw) > 4_000_000
    append_raw(world, alice, raw)
    # A file that is the whole message (single part), over the limit too.
    lone = EmailMessage()
    lone["From"], lone["To"], lone["Subject"] = bob.email, alice.email, "Just a file"
    lone.set_content(b"%PDF-1.7 " * 60000, maintype="application", subtype="pdf",
                     filename="scan.pdf")
    append_raw(world, alice, lone.as_bytes())
    # And one with nothing to show at all: fetched once too.
    append_raw(world, alice, raw_mail(bob.email, alice.email, "Empty", "", None))

    proxy = FaultProxy(world.ports.imaps).start()
    try:
        path = tmp_path / "alice.toml"
        path.write_text(CLIENT_CONF.format(
            name=alice.name, email=alice.email, jid=alice.jid, display=alice.display_name,
            ca=world.ca_file, pwcmd=password_command(tmp_path, alice), imaps=proxy.port,
            submission=world.ports.submission, c2s=world.ports.c2s))
        config = load_config(path).account(alice.name)
        store = Store.open(tmp_path / "store.db")
        sync = MailSync(config, lambda: get_password(config, "imap"), store)
        sync.body_limit = 256 * 1024
        try:
            sync.sync_all()
            row = next(m for m in store.folder_messages(alice.name, "INBOX")
                       if m.subject == "Raw footage")
            assert row.id is not None and not store.has_body(row.id)

            opened: list[int] = []
            for _ in range(3):  # opened three times
                before = proxy.bytes
                sync.fetch_body(row.id)
                opened.append(proxy.bytes - before)
            # The first open took the start of the text (its 24 KB), not the 4 MB;
            # the others nothing at all.
            print(f"\nbytes on the wire per open: {opened} (message {len(raw):,} bytes)")
            assert 0 < opened[0] < 200_000, opened
            assert opened[1:] == [0, 0], opened

            shown = store.get_message(row.id)
            assert shown is not None
            assert shown.text.startswith("Here is the footage from Tuesday.")
            assert "over the body limit" in shown.text
            assert [(a.filename, a.content_type) for a in shown.attachments] == \
                [("tuesday.mp4", "video/mp4")]
            assert abs(shown.attachments[0].size - 256 * 12288) < 256 * 12288 * 0.03
            assert "Here is the footage from Tuesday." in message_block(shown)
            assert "(body not fetched)" not in message_block(shown)
            # Its file comes when it is saved: that part alone, decoded, whole.
            before = proxy.bytes
            saved = sync.save_attachment(row.id, 0, tmp_path / "saved")
            assert saved.name == "tuesday.mp4"
            assert saved.read_bytes() == bytes(range(256)) * 12288
            assert proxy.bytes > before
            assert store.get_message(row.id).attachments[0].sha256 is not None
            before = proxy.bytes
            sync.save_attachment(row.id, 0, tmp_path / "again")  # from the blob store
            assert proxy.bytes == before

            scan = next(m for m in store.folder_messages(alice.name, "INBOX")
                        if m.subject == "Just a file")
            assert scan.id is not None
            sync.fetch_body(scan.id)
            assert [a.filename for a in store.get_message(scan.id).attachments] == ["scan.pdf"]
            saved = sync.save_attachment(scan.id, 0, tmp_path / "saved")
            assert saved.read_bytes() == b"%PDF-1.7 " * 60000

            empty = next(m for m in store.folder_messages(alice.name, "INBOX")
                         if m.subject == "Empty")
            assert empty.id is not None
            sync.fetch_body(empty.id)
            before = proxy.bytes
            sync.fetch_body(empty.id)
            assert proxy.bytes == before
            # Searchable by what it says (once the index caught up, as Engine.search does).
            while store.index_backlog():
                pass
            assert [m.id for m in store.search("footage tuesday")] == [row.id]
        finally:
            sync.close()
            store.close()
    finally:
        proxy.stop()


# -- 1, in the store and the TUI: the rule itself -------------------------------------


def _email(n: int, msg_id: str, sender: str, digest: str, folder: str = "INBOX",
           uid: int | None = None, account: str = "me"):
    from bridge.model import Direction, Message, Party, Transport
    return Message(msg_id=msg_id, account=account, transport=Transport.EMAIL,
                   direction=Direction.IN, thread_id=msg_id, date=1_760_000_000.0 + n,
                   sender=Party(sender, "", "from"), subject=f"Mail {n}", text=f"text {n}",
                   folder=folder, uid=uid or n, message_id_header=msg_id, digest=digest)


def _chat(n: int, origin: str, sender: str):
    from bridge.model import Direction, Message, Party, Transport
    return Message(msg_id=origin, account="me", transport=Transport.XMPP,
                   direction=Direction.IN, thread_id="chat", date=1_760_000_100.0 + n,
                   sender=Party(sender, "", "from"), text=f"line {n}", origin_id=origin,
                   stanza_id=f"s{n}")


def test_the_store_keeps_messages_that_share_an_id_apart_and_merges_only_the_same(tmp_path):
    store = Store.open(tmp_path / "s.db")
    try:
        a = _email(1, "m@x.test", "bob@x.test", "a" * 64)
        b = _email(2, "m@x.test", "carol@y.test", "b" * 64)
        c = _email(3, "m@x.test", "bob@x.test", "c" * 64)  # bob again, other bytes
        assert store.insert_messages([a, b]) == 2 and store.insert_messages([c]) == 1
        assert a.msg_id == "m@x.test" and len({a.id, b.id, c.id}) == 3
        assert b.msg_id != a.msg_id and c.msg_id != a.msg_id
        # The same bytes in another folder: the same message, with one more place.
        copy = _email(1, "m@x.test", "bob@x.test", "a" * 64, folder="Archive", uid=7)
        assert store.insert_messages([copy]) == 0 and copy.id == a.id
        again = _email(2, "m@x.test", "carol@y.test", "b" * 64, folder="Archive", uid=8)
        assert store.insert_messages([again]) == 0 and again.id == b.id
        assert store.folder_uids("me", "Archive") == {7: a.id, 8: b.id}
        assert len(store.lookup("message_id_header", "m@x.test")) == 3
        thread = store.thread_messages("m@x.test", "me")
        assert [m.text for m in thread] == ["text 1", "text 2", "text 3"]

        # A stranger's chat line with that id is a message of its own, and its
        # resend (same sender, same id) is that line again.
        line = _chat(1, "m@x.test", "mallory@evil.test")
        assert store.insert_messages([line]) == 1 and line.id not in (a.id, b.id, c.id)
        resend = _chat(2, "m@x.test", "mallory@evil.test")
        assert store.insert_messages([resend]) == 0 and resend.id == line.id
        # bob's own chat copy of his email (his JID is a contact of his address).
        store.add_contact("Bob", emails=["bob@x.test"], jids=["bob@chat.x.test"])
        bobs = _chat(3, "m@x.test", "bob@chat.x.test")
        assert store.insert_messages([bobs]) == 0 and bobs.id == a.id
        assert store.count_messages() == 4
    finally:
        store.close()


async def test_the_tui_shows_both_emails_that_share_a_message_id(tmp_path):
    from tests.test_app_snapshots import make_app
    from tuiclient.widgets.conversation import Timeline
    from tuiclient.widgets.conversation_list import ConversationList

    app = make_app(tmp_path)
    app.engine.store.insert_messages([
        _email(1, "same@x.test", "bob@example.test", "a" * 64, uid=901, account="alice"),
        _email(2, "same@x.test", "carol@example.test", "b" * 64, uid=902, account="alice")])
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        row = next(i for i, t in enumerate(listing.rows) if t.thread_id == "same@x.test")
        assert listing.rows[row].message_count == 2
        listing.focus()
        while listing.cursor != row:
            await pilot.press("j" if listing.cursor < row else "k")
        await pilot.press("enter")
        await pilot.pause()
        shown = app.screen.query_one(Timeline).messages
        assert sorted(m.text for m in shown) == ["text 1", "text 2"]


@servers
def test_the_bulk_sync_through_the_parser_process_tells_messages_apart_too(
        world, people, monkeypatch):
    import bridge.mail.sync as sync_mod
    alice, bob = people("alice"), person(world, "bob")
    shared = f"bulk-{uuid.uuid4().hex}@reused.test"
    date = formatdate()
    for i in range(20):
        alike = i % 2 and i % 5  # headerless, with one and the same header
        append_raw(world, alice.account, raw_mail(
            bob.email, alice.account.email, "bulk" if alike else f"bulk {i}",
            f"plain {i:02d}", None if i % 5 else shared, date))
    # Batches of 7: the shared id comes in several batches; the headerless ones
    # with the same header (odd i: one Date) come in several too.
    monkeypatch.setattr(sync_mod, "FIRST_SCREEN", 3)
    monkeypatch.setattr(sync_mod, "BATCH", 7)
    monkeypatch.setattr(sync_mod, "WORKER_MIN", 5)
    assert alice.sync.sync_folder("INBOX").new == 20
    assert alice.sync._parser_process is not None
    store, name = alice.store, alice.account.name
    messages = store.folder_messages(name, "INBOX", limit=100)
    assert len(messages) == 20 and len({m.msg_id for m in messages}) == 20
    assert len(store.lookup("message_id_header", shared)) == 4
    assert store.get_thread(name, shared).message_count == 4
    # Each headerless one is known by its bytes, on its own thread.
    bare = [m for m in messages if m.message_id_header is None]
    assert len(bare) == 16 and all(m.msg_id.endswith("@synthetic.invalid") and
                                   m.thread_id == m.msg_id and m.digest for m in bare)
    assert alice.sync.sync_folder("INBOX").new == 0


def test_threading_keeps_both_holders_of_a_message_id_and_picks_one_for_replies():
    from bridge.mail.threader import flatten, thread
    from bridge.model import Direction, Message, Party, Transport

    def mail(msg_id: str, date: float, header: str, refs: list[str] | None = None):
        return Message(msg_id=msg_id, account="me", transport=Transport.EMAIL,
                       direction=Direction.IN, thread_id="M@x.test", date=date,
                       sender=Party("a@x.test"), message_id_header=header,
                       in_reply_to=refs[-1] if refs else None, references=refs or [])

    first_stored = mail("M@x.test", 20.0, "M@x.test")  # this store saw it first
    earlier = mail("M@x.test#0123456789abcdef", 10.0, "M@x.test")  # but it is older
    reply = mail("R@x.test", 30.0, "R@x.test", ["M@x.test"])
    shapes = []
    for order in ([first_stored, earlier, reply], [reply, earlier, first_stored]):
        t = thread(order)
        flat = [(depth, node.id) for depth, node in flatten(t.roots)]
        shapes.append(flat)
        assert len(flat) == 3  # nobody dropped
    assert shapes[0] == shapes[1]
    # The older one holds the id and the reply; the other is its own root.
    assert shapes[0] == [(0, "M@x.test"), (1, "R@x.test"), (0, "M@x.test#2")]
    t = thread([reply, first_stored, earlier])
    assert t.roots[0].date == 10.0 and t.roots[1].date == 20.0
