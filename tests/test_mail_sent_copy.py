"""A sent email's copy in the Sent folder, known at once: after SMTP took it and
the copy is APPENDed, the store has it in Sent at the UID the server gave it
(UIDPLUS's APPENDUID; without UIDPLUS, by a sync of Sent right then), a view of
Sent shows it without being left and entered again (as mutt and aerc show it),
and a later sync of Sent keeps one message, shown once.

Against the real Dovecot and SMTP server, the copy checked as another IMAP
client (plain imapclient) sees it; the app driven with Pilot, the headless
commands run as a user runs them (`list --folder`, the sidebar's folder)."""

from __future__ import annotations

import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate

import pytest
from textual.widgets import Input, TextArea

from bridge.events import FolderChanged
from bridge.headless.cli import EXIT_OK, EXIT_USAGE
from bridge.mail import triage
from bridge.mail.compose import build_email
from bridge.mail.send import MailSender
from bridge.model import Party
from tests.others import person, wait_inbox
from tests.screen import drawn_text
from tests.test_app import alice_app, listing, pilot_until
from tests.test_app_mail import imap
from tests.test_headless import cli, write_config
from tests.test_mail_triage_bare import bare  # noqa: F401  (a fixture)
from tuiclient.screens.compose import NewMessageScreen
from tuiclient.screens.main import MainScreen
from tuiclient.widgets.sidebar import Sidebar

pytestmark = pytest.mark.servers


def server_uid(client, folder: str, msg_id: str) -> list[int]:
    """The UIDs of `folder` holding Message-ID `msg_id`, as any client finds them."""
    client.select_folder(folder, readonly=True)
    return client.search(["HEADER", "Message-ID", f"<{msg_id}>"])


def sender_filing(p) -> MailSender:
    """`p`'s sender, filing its copies as the worker does (`triage.file_sent`)."""
    return MailSender(p.config, lambda: p.account.password, p.store, p.sync.events,
                      append_sent=lambda raw: triage.file_sent(p.sync, raw))


def one_mail(p, to, subject: str) -> tuple[EmailMessage, str]:
    msg_id = f"{uuid.uuid4().hex}@example.test"
    return build_email(Party(p.account.email, "Me"), [Party(to.account.email, "You", "to")],
                       [], subject, "Sent just now.\n", msg_id=msg_id), msg_id


def copies(p, msg_id: str) -> list:
    """The store's messages with this Message-ID (one message is one row)."""
    return [m for m in p.store.lookup("message_id_header", msg_id, account=p.account.name)]


def test_the_sent_copy_is_in_sent_at_the_servers_uid_and_a_sync_keeps_one(world, people):
    alice, bob = people("alice"), people("bob")
    alice.sync.sync_all()  # Sent known, synced, before the send (the usual case)
    mail, msg_id = one_mail(alice, bob, "Filed at once")
    out = sender_filing(alice)
    out.queue(mail, msg_id)
    del alice.events[:]
    [result] = out.flush()
    assert result.state == "sent"
    with alice.imap() as c:
        [uid] = server_uid(c, "Sent", msg_id)
    [m] = copies(alice, msg_id)
    assert (m.folder, m.uid) == ("Sent", uid)
    assert [m.msg_id for m in alice.store.folder_messages(alice.account.name, "Sent")] \
        == [msg_id]
    told = [e for e in alice.events if isinstance(e, FolderChanged) and e.folder == "Sent"]
    assert told and told[0].new == 1, alice.events

    # A sync of Sent (its resync) and a full one after it: still one message.
    alice.sync.sync_folder("Sent")
    alice.sync.sync_all()
    [again] = copies(alice, msg_id)
    assert (again.id, again.folder, again.uid) == (m.id, "Sent", uid)
    assert alice.store.folder_uids(alice.account.name, "Sent") == {uid: m.id}


def test_a_sent_folder_never_synced_gets_its_place_and_a_first_sync_keeps_one(world, people):
    alice, bob = people("alice"), people("bob")
    mail, msg_id = one_mail(alice, bob, "Before any sync")
    out = sender_filing(alice)
    out.queue(mail, msg_id)
    [result] = out.flush()
    assert result.state == "sent"
    with alice.imap() as c:
        [uid] = server_uid(c, "Sent", msg_id)
    [m] = copies(alice, msg_id)
    assert (m.folder, m.uid) == ("Sent", uid)
    alice.sync.sync_all()  # the folder's first (full) sync
    [again] = copies(alice, msg_id)
    assert (again.id, again.uid) == (m.id, uid)
    assert alice.store.folder_uids(alice.account.name, "Sent") == {uid: m.id}


def test_without_uidplus_the_copy_is_learned_by_a_sync_of_sent(world, bare):  # noqa: F811
    """The bare Dovecot names no new UID (no UIDPLUS): Sent is synced right after
    the APPEND, and the copy is the outbox's message there, once."""
    alice, bob = bare("alice"), bare("bob")
    told: list = []
    alice.sync.events.subscribe(told.append)
    alice.sync.sync_all()
    mail, msg_id = one_mail(alice, bob, "No APPENDUID")
    out = sender_filing(alice)
    out.queue(mail, msg_id)
    del told[:]
    [result] = out.flush()
    assert result.state == "sent"
    with alice.imap() as c:
        [uid] = server_uid(c, "Sent", msg_id)
    [m] = copies(alice, msg_id)
    assert (m.folder, m.uid) == ("Sent", uid)
    assert any(isinstance(e, FolderChanged) and e.folder == "Sent" and e.new
               for e in told), told
    alice.sync.sync_all()
    assert [x.id for x in copies(alice, msg_id)] == [m.id]


def append_sent(world, who, subject: str, to: str) -> None:
    """An email of `who`'s in their Sent folder, put there by another client."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = who.email, to, subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content(f"About {subject}.\n")
    with imap(world, who) as c:
        c.append("Sent", msg.as_bytes(), flags=[b"\\Seen"])


async def test_the_sent_view_shows_a_mail_sent_from_it_without_leaving(world, tmp_path):
    """Sent opened from the sidebar lists 3 conversations; a new email sent from
    there shows in it within seconds (the tester waited 30 s for nothing), the
    store has the server's UID for it, and a full sync after keeps one row."""
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    for n, to in enumerate((bob, carol, bob)):
        append_sent(world, alice, f"Earlier {n}", to.email)
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        main = app.screen
        assert isinstance(main, MainScreen)
        sidebar = main.query_one(Sidebar)
        folder = f"folder:{alice.name}:Sent"
        assert await pilot_until(pilot, lambda: any(
            o.id == folder for o in sidebar.options), 30)
        earlier = {"Earlier 0", "Earlier 1", "Earlier 2"}
        assert await pilot_until(pilot, lambda: earlier <= {
            t.subject for t in app.engine.conversations(alice.name)}, 30)
        sidebar.focus()
        sidebar.highlighted = sidebar.get_option_index(folder)
        await pilot.press("enter")

        def subjects() -> set[str]:
            return {t.subject for t in listing(app).rows}
        assert await pilot_until(pilot, lambda: subjects() == earlier)
        assert "Folder Sent" in str(listing(app).border_title)

        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        await pilot.press(*bob.email, "tab")
        app.screen.query_one("#subject", Input).value = "Sent from the Sent view"
        app.screen.query_one("#body", TextArea).text = "It should be listed here."
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: app.screen is main, 20)
        await wait_inbox(world, bob, lambda m: m["Subject"] == "Sent from the Sent view", 30)
        sent_at = time.monotonic()
        assert await pilot_until(pilot, lambda: "Sent from the Sent view" in subjects(), 10), \
            subjects()
        assert time.monotonic() - sent_at < 5
        assert "Folder Sent" in str(listing(app).border_title)  # never left
        assert len(listing(app).rows) == 4
        await pilot.pause(0.2)
        drawn = drawn_text(app.export_screenshot())
        assert "Folder Sent" in drawn and "Sent from the Sent view" in drawn, drawn

        [thread] = [t for t in listing(app).rows if t.subject == "Sent from the Sent view"]
        [m] = [m for m in app.engine.timeline(alice.name, thread.thread_id)
               if m.subject == "Sent from the Sent view"]
        with imap(world, alice) as c:
            assert server_uid(c, "Sent", m.message_id_header) == [m.uid]
        assert m.folder == "Sent"

        # A full sync after it: the same one message, one row in the view.
        await app.engine.sync(alice.name, here=True)
        await pilot.pause(0.5)
        rows = [t for t in listing(app).rows if t.subject == "Sent from the Sent view"]
        assert len(rows) == 1 and len(listing(app).rows) == 4
        same = [x for x in app.engine.timeline(alice.name, thread.thread_id)
                if x.subject == "Sent from the Sent view"]
        assert [(x.id, x.uid) for x in same] == [(m.id, m.uid)]


async def test_list_folder_sent_right_after_send_shows_it(world, tmp_path):
    """`list --folder Sent` (the sidebar's folder) right after `send`: the mail
    just sent is there, as `list --match in:Sent` finds it; one row after a sync."""
    alice, bob = person(world, "alice"), person(world, "bob")
    config = write_config(world, tmp_path, alice)
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, out, err = await cli(config, "send", "--via", "email", "--to", bob.email,
                               "--subject", "Headless and filed", "Right away.")
    assert code == EXIT_OK, (out, err)

    async def sent(*argv: str) -> list[str]:
        code, rows, err = await cli(config, "list", *argv)
        assert code == EXIT_OK, err
        return [r["subject"] for r in rows]
    assert await sent("--match", "in:Sent") == ["Headless and filed"]
    assert await sent("--folder", "Sent") == ["Headless and filed"]
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    assert await sent("--folder", "Sent") == ["Headless and filed"]
    code, hits, _ = await cli(config, "search", "subject:\"Headless and filed\"")
    assert len(hits) == 1, hits

    code, out, _ = await cli(config, "list", "--folder", "Nowhere")
    assert code == EXIT_USAGE and "Sent" in out["error"]
    code, out, _ = await cli(config, "list", "--folder", "Sent", "--match", "x")
    assert code == EXIT_USAGE
