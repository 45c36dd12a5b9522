"""Every message shown once in the conversation, against the real servers.

- A conversation handed off from email to chat (`tuiclient handoff --history`):
  bob, on a plain XMPP client (slixmpp, nothing of ours), gets the digest of the
  earlier messages and then the new line; alice's own conversation shows her
  email once, the digest being bob's (it repeats what she sees already), and
  what her list row counts is what her conversation shows.
- A note to self (an email to one's own address, from another mail client: the
  standard library's smtplib, its copy APPENDed to Sent as Thunderbird files
  one) sits in INBOX and in Sent with other bytes (the delivery adds its trace
  headers): one message to the reader, in the conversation and in the list's
  counts; both copies stay, and deleting the one in INBOX leaves the one in Sent.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate

import pytest

from bridge.config import load_config
from bridge.handoff import HISTORY_HEAD
from tests.others import contacts_toml, person, plain, until, wait_inbox
from tests.screen import drawn_text
from tests.test_app import pilot_until
from tests.test_app_mail import imap
from tests.test_headless import cli, write_config
from tuiclient.app import TuiClientApp
from tuiclient.widgets.conversation_list import ConversationList
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers


async def test_a_handoff_to_chat_shows_our_email_once_and_bob_gets_the_digest(
        world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    code, _, err = await cli(config, "send", "--to", bob.email, "--via", "email",
                             "--subject", "Plans", "Shall we meet on Friday?")
    assert code == 0, err
    mail = (await wait_inbox(world, bob, lambda m: m["Subject"] == "Plans"))[0]
    thread_id = mail["Message-ID"].strip("<>")

    code, _, err = await cli(config, "handoff", thread_id, "--to", "im", "--history",
                             "Let's chat instead.")
    assert code == 0, err
    await until(lambda: "Let's chat instead." in bob_x.bodies(alice.jid), what="the line")
    # bob, who moves from email to chat, gets the earlier messages first.
    said = bob_x.bodies(alice.jid)
    digest = next(b for b in said if b.startswith(HISTORY_HEAD))
    assert "Shall we meet on Friday?" in digest
    assert said.index(digest) < said.index("Let's chat instead.")

    # alice's conversation: her email once, then her line; no repeat of the email.
    code, shown, err = await cli(config, "show", thread_id)
    assert code == 0, err
    texts = [m["text"].strip() for m in shown["messages"]]
    assert texts == ["Shall we meet on Friday?", "Let's chat instead."], texts
    assert shown["thread"]["message_count"] == 2
    code, rows, err = await cli(config, "list")
    assert code == 0, err
    row = next(r for r in rows if r["thread_id"] == thread_id)
    assert row["message_count"] == 2 and row["snippet"] == "Let's chat instead.", row

    # And on her screen: the timeline and the list row say the same.
    app = TuiClientApp(load_config(config), probe_on_start=False, start_engine=False)
    async with app.run_test(size=(160, 45)) as pilot:
        listing = app.screen.query_one(ConversationList)
        assert await pilot_until(pilot, lambda: listing.rows)
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: len(timeline.messages) >= 2)
        await pilot.pause(0.2)
        drawn = drawn_text(app.export_screenshot())
        assert [m.text.strip() for m in timeline.messages] == texts
    assert "Earlier in this conversation" not in drawn, drawn
    assert "Plans · 2 messages" in drawn, drawn


def note_to_self(world, who, subject: str, text: str) -> str:
    """Another mail client's note to self: sent to one's own address (smtplib), and
    its copy APPENDed to Sent, \\Seen, as Thunderbird files one."""
    msg = EmailMessage()
    msg["From"] = f"{who.display_name} <{who.email}>"
    msg["To"] = who.email
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg_id = f"{uuid.uuid4().hex}@{who.email.partition('@')[2]}"
    msg["Message-ID"] = f"<{msg_id}>"
    msg.set_content(text)
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with smtplib.SMTP("127.0.0.1", world.ports.submission, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(who.email, who.password)
        smtp.send_message(msg)
    with imap(world, who) as c:
        c.append("Sent", msg.as_bytes(), flags=[b"\\Seen"], msg_time=None)
    return msg_id


def on_server(world, who, folder: str, msg_id: str) -> list[int]:
    with imap(world, who) as c:
        c.select_folder(folder, readonly=True)
        return c.search(["HEADER", "Message-ID", f"<{msg_id}>"])


async def test_a_note_to_self_is_one_message_in_inbox_and_sent(world, tmp_path):
    alice = person(world, "alice")
    msg_id = note_to_self(world, alice, "Note", "Buy milk and bread.")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Note")
    me = alice.name
    app = TuiClientApp(load_config(write_config(world, tmp_path, alice)), probe_on_start=False)
    async with app.run_test(size=(160, 45)) as pilot:
        engine = app.engine
        listing = app.screen.query_one(ConversationList)
        assert await pilot_until(pilot, lambda: any(t.subject == "Note" for t in listing.rows))

        def copies() -> list:
            return engine.store.lookup("message_id_header", msg_id, account=me)
        await engine.sync(me)
        assert await pilot_until(
            pilot, lambda: {m.folder for m in copies()} >= {"INBOX", "Sent"}), \
            [(m.folder, m.uid) for m in copies()]
        thread_id = copies()[0].thread_id
        # One message to the reader: the conversation, its count, its unread.
        shown = engine.timeline(me, thread_id)
        assert len(shown) == 1, [(m.folder, m.msg_id) for m in shown]
        row = engine.thread(me, thread_id)
        assert row is not None and (row.message_count, row.unread_count) == (1, 0), row
        # Both copies stay, each a place for triage.
        assert {m.folder for m in engine.timeline(me, thread_id, copies=True)} == \
            {"INBOX", "Sent"}

        # INBOX's list: the note's row counts one; opened, it is there once.
        app.screen.show_folder(me, "INBOX")
        assert await pilot_until(pilot, lambda: [t.subject for t in listing.rows] == ["Note"])
        await pilot.pause(0.2)
        assert listing.rows[0].message_count == 1
        listing.focus()
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.messages)
        await pilot.pause(0.3)
        assert len(timeline.messages) == 1
        drawn = drawn_text(app.export_screenshot())
        assert "Note · 1 message" in drawn, drawn
        assert drawn.count("Buy milk and bread.") <= 2, drawn  # the email pane, the timeline
        # d on the message in INBOX's list deletes its copy there, not the one in Sent.
        timeline.focus()
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: not on_server(world, alice, "INBOX", msg_id))
        assert on_server(world, alice, "Sent", msg_id)
        await engine.sync(me)
        assert await pilot_until(pilot, lambda: {m.folder for m in engine.timeline(
            me, thread_id, copies=True)} == {"Sent", "Trash"}), \
            [m.folder for m in engine.timeline(me, thread_id, copies=True)]
        assert len(engine.timeline(me, thread_id)) == 1
        assert engine.thread(me, thread_id).message_count == 1

        # In the whole list, d on the message deletes its copies out of the Trash:
        # the one in Sent goes there too; the one deleted before is not expunged.
        app.screen.show_account("")
        await pilot.pause(0.3)
        await pilot_until(pilot, lambda: any(t.subject == "Note" for t in listing.rows))
        while listing.current is None or listing.current.subject != "Note":
            await pilot.press("j")
        listing.focus()
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: len(timeline.messages) == 1)
        timeline.focus()
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: not on_server(world, alice, "Sent", msg_id))
        assert len(on_server(world, alice, "Trash", msg_id)) == 2
