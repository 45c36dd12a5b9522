"""The list's order (S, :sort), the email view's folds (z), a message's links (L),
Esc clearing the marks, and a chat archived, deleted and muted on this machine
(d, a, M), driven with Pilot against the real Dovecot, SMTP server and Prosody."""

from __future__ import annotations

import os
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate

import pytest
from rich.text import Text
from textual.widgets import Input, Static

from bridge.handoff import HISTORY_HEAD
from tests.others import person, plain, send_email
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until
from tests.test_app_mail import row
from tuiclient.command_line import CommandLine
from tuiclient.screens.limit import SortPrompt
from tuiclient.screens.links import LinksScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import Confirm
from tuiclient.widgets.email_view import EmailView, folded_text
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers

BODY = ("Carol here. The agenda is at https://example.org/agenda.\n\n"
        "On Monday you wrote:\n> first quoted line\n> second quoted line\n"
        "> third quoted line\n\nSee you.\n")


def send_html(world, sender, to: str, subject: str) -> None:
    """A text part (with a quote) and an HTML part with a link only it has."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender.email, to, subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content(BODY)
    msg.add_alternative('<p>The agenda is <a href="https://example.org/agenda">here</a>.'
                        '</p><p><a href="https://tickets.example.org/t?id=7">Tickets</a>'
                        '</p>', subtype="html")
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with smtplib.SMTP("127.0.0.1", world.ports.submission, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(sender.email, sender.password)
        smtp.send_message(msg)


def body_of(app) -> str:
    rendered = app.screen.query_one("#email-body", Static).render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


async def command(pilot, app, line: str) -> None:
    await pilot.press("colon")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, CommandLine))
    app.screen.query_one(Input).value = line
    await pilot.press("enter")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
    await pilot.pause()


async def test_sort_fold_links_and_esc_clears_marks(world, tmp_path, monkeypatch):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    send_email(world, carol, [alice.email], [], "Ord one", "From carol.")
    send_email(world, bob, [alice.email], [], "Ord two", "From bob.")
    send_html(world, carol, alice.email, "Ord three")
    subjects = ["Ord three", "Ord two", "Ord one"]
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: all(row(app, s) for s in subjects), 30)
        ours = lambda: [t.subject for t in listing(app).rows  # noqa: E731
                        if t.subject.startswith("Ord")]
        assert ours() == subjects
        listing(app).focus()

        # S f: by sender (bob's before carol's); the title says so.
        await pilot.press("S")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, SortPrompt))
        await pilot.press("f")
        assert await pilot_until(pilot, lambda: listing(app).order.by == "from")
        assert ours()[0] == "Ord two"
        assert "sorted: sender" in str(listing(app).border_title)
        # S r: the same order, turned around.
        await pilot.press("S")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, SortPrompt))
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: listing(app).order.reverse)
        assert ours()[-1] == "Ord two"
        assert "(reversed)" in str(listing(app).border_title)
        # :sort, as aerc has it; unread first puts the read one last.
        two = row(app, "Ord two")
        m = app.engine.timeline(two.account, two.thread_id)[0]
        await app.engine.mark_read([m.id])
        await command(pilot, app, "sort unread")
        assert listing(app).order.by == "unread" and not listing(app).order.reverse
        assert await pilot_until(pilot, lambda: ours()[-1] == "Ord two")
        # A new message goes where the order puts it: unread, above the read one.
        send_email(world, bob, [alice.email], [], "Ord four", "Later.")
        assert await pilot_until(pilot, lambda: "Ord four" in ours(), 30)
        assert ours()[-1] == "Ord two"
        await command(pilot, app, "sort date")
        assert listing(app).order.default
        assert ours() == ["Ord four", *subjects]
        assert listing(app).border_title == "Conversations"

        # Esc: the marks go (and nothing else happens).
        await go_to_row(pilot, app, lambda t: t.subject == "Ord one")
        await pilot.press("space")
        assert main(app).triage.marked and listing(app).marked
        await pilot.press("escape")
        assert not main(app).triage.marked and not listing(app).marked
        assert any("mark cleared" in n for n in notes(app)), notes(app)

        # z in the list: the conversation's messages under its row, indented; z folds.
        await go_to_row(pilot, app, lambda t: t.subject == "Ord two")
        two = row(app, "Ord two")
        lines = listing(app).virtual_size.height
        await pilot.press("z")
        assert await pilot_until(pilot, lambda: (two.account, two.thread_id)
                                 in listing(app).expanded)
        assert listing(app).virtual_size.height == lines + 1
        at = listing(app).line_of(listing(app).cursor) + 1 - int(listing(app).scroll_y)
        drawn = "".join(seg.text for seg in listing(app).render_line(at))
        assert "└─" in drawn and "Ord two" in drawn, drawn
        await pilot.press("j", "k")  # the cursor moves by conversations
        assert listing(app).current.subject == "Ord two"
        await pilot.press("z")
        assert await pilot_until(pilot, lambda: not listing(app).expanded)
        assert listing(app).virtual_size.height == lines

        # z reading an email: the quoted lines folded to one line; z again shows them.
        await go_to_row(pilot, app, lambda t: t.subject == "Ord three")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "first quoted line" in body_of(app), 20)
        await pilot.press("z")
        assert await pilot_until(pilot, lambda: "▸ 3 quoted lines" in body_of(app))
        assert "second quoted line" not in body_of(app) and "See you." in body_of(app)
        await pilot.press("z")
        assert await pilot_until(pilot, lambda: "second quoted line" in body_of(app))
        assert not app.screen.query_one(EmailView).folded

        # L: the links of the text and HTML parts; y copies one (OSC 52).
        app.screen.query_one(Timeline).focus()
        await pilot.press("L")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, LinksScreen), 20)
        assert [x.url for x in app.screen.links] == ["https://example.org/agenda",
                                                     "https://tickets.example.org/t?id=7"]
        await pilot.press("2", "y")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.clipboard == "https://tickets.example.org/t?id=7"
        # Enter opens it with the desktop's opener (a stand-in that records it).
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        seen = tmp_path / "opened.txt"
        opener = bin_dir / "xdg-open"
        opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {seen}\n')
        opener.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        monkeypatch.setenv("DISPLAY", ":99")
        await pilot.press("ctrl+b")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, LinksScreen), 20)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: seen.exists() and seen.read_text(), 20)
        assert seen.read_text() == "https://example.org/agenda"


def main(app) -> MainScreen:
    screen = app.main_screen()
    assert screen is not None
    return screen


async def test_a_chat_archived_deleted_and_muted_here(world, tmp_path, running):
    _, xmpp = running
    alice, dave = person(world, "alice"), person(world, "dave")
    world.befriend(alice, dave)
    dave_x = await xmpp(plain(world, dave))
    app = alice_app(world, tmp_path, alice, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app._started)
        dave_x.send(alice.jid, "first words")
        chat = lambda: next((t for t in listing(app).rows  # noqa: E731
                             if t.snippet in ("first words", "again")), None)
        assert await pilot_until(pilot, lambda: chat() is not None, 30)
        key = (chat().account, chat().thread_id)
        await go_to_row(pilot, app, lambda t: (t.account, t.thread_id) == key)

        # a: archived here, out of the list; u brings it back.
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: chat() is None)
        assert app.engine.conversation_hidden(*key)
        assert any("Archived 1 chat" in n for n in notes(app)), notes(app)
        await pilot.press("u")
        assert await pilot_until(pilot, lambda: chat() is not None)
        # Archived again, the next line brings it back by itself.
        await go_to_row(pilot, app, lambda t: (t.account, t.thread_id) == key)
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: chat() is None)
        dave_x.send(alice.jid, "again")
        assert await pilot_until(pilot, lambda: chat() is not None, 30)

        # M: muted, in the store (where `tuiclient conversation` sees it too).
        await go_to_row(pilot, app, lambda t: (t.account, t.thread_id) == key)
        await pilot.press("M")
        assert app.engine.muted_conversations() == {key}
        assert key in app.notifier.muted
        await pilot.press("M")
        assert app.engine.muted_conversations() == set() and not app.notifier.muted

        # d: asked first; no keeps it, yes removes its lines from this store.
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("n")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert chat() is not None
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        assert await pilot_until(pilot, lambda: chat() is None)
        assert app.engine.thread(*key) is None
        assert any("Deleted 1 chat" in n for n in notes(app)), notes(app)


def test_folded_text_folds_quotes_of_two_lines_or_more_and_the_history():
    text = Text(f"Hi\n> one quote\nmiddle\n> a\n> b\n\n{HISTORY_HEAD}\nbob: x\nbob: y")
    folded = folded_text(text).plain
    assert "> one quote" in folded and "▸ 2 quoted lines: a" in folded
    assert "> b" not in folded and "bob: y" not in folded
    assert "▸ earlier messages, 2 lines: bob: x" in folded


def test_marking_reads_the_timeline_through_public_api_only():
    """The lines in view come from OptionList's public line API, not its private
    `_lines` (which a Textual release may rename)."""
    import ast
    from pathlib import Path

    import tuiclient.screens.marking as marking
    tree = ast.parse(Path(marking.__file__).read_text())
    private = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
               and n.attr.startswith("_") and not n.attr.startswith("__")
               and not (isinstance(n.value, ast.Name) and n.value.id == "self")]
    assert private == [], private


def test_the_list_pages_in_its_order_and_merges_rows_where_the_order_puts_them():
    from bridge.model import ThreadOrder, Transport
    from bridge.store.records import Thread
    from tuiclient.widgets.conversation_list import ConversationList

    def t(n: int, sender: str, unread: int = 0) -> Thread:
        return Thread(n, "a", f"t{n}", f"s{n}", 0.0, 100.0 + n, 1, unread, sender, "",
                      frozenset({Transport.EMAIL}))
    listing = ConversationList()
    listing.order = ThreadOrder("from", reverse=True)
    listing.post_message = lambda message: True  # type: ignore[method-assign]  # not mounted
    listing.rows = sorted([t(1, "amy"), t(2, "bob"), t(3, "cy")], key=listing._key)
    listing._order = [listing._key(x) for x in listing.rows]
    assert [x.last_sender for x in listing.rows] == ["cy", "bob", "amy"]
    listing.exhausted = True
    listing.merge([t(4, "bo")])
    assert [x.last_sender for x in listing.rows] == ["cy", "bob", "bo", "amy"]
    assert listing.order.page_after(listing.rows[-1]) == ("amy", -101.0, -1)


def test_an_unfolded_conversation_takes_a_line_per_message_under_its_row():
    from bridge.model import Direction, Message, Party, Transport
    from bridge.store.records import Thread
    from tuiclient.widgets.conversation_list import ConversationList

    def t(n: int) -> Thread:
        return Thread(n, "a", f"t{n}", f"s{n}", 0.0, 100.0 - n, 2, 0, "x", "",
                      frozenset({Transport.XMPP}))
    m = Message(msg_id="m@x", account="a", transport=Transport.XMPP, direction=Direction.IN,
                thread_id="t2", date=1.0, sender=Party("x@y"), text="hi")
    listing = ConversationList()
    listing.rows = [t(1), t(2), t(3)]
    listing.set_reactive(ConversationList.expanded, {("a", "t2"): (m, m)})
    listing._layout()
    assert [listing.line_of(i) for i in range(3)] == [0, 1, 4]
    assert [listing.at_line(y) for y in range(5)] == [(0, -1), (1, -1), (1, 0), (1, 1),
                                                      (2, -1)]
