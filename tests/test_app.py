"""The app, driven with Textual's Pilot against the real servers.

alice uses the app; bob and carol use other clients (plain slixmpp, the standard
library's smtplib and imapclient), so what they get is what anyone would see.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from pathlib import Path

import imapclient
import pytest
from textual.css.query import NoMatches
from textual.widgets import Input, Static
from textual.widgets.option_list import OptionDoesNotExist

from bridge.config import load_config
from bridge.handoff import HISTORY_HEAD
from tests.conftest import password_command
from tests.harness.plain_xmpp import fetch
from tests.harness.servers import Account, World
from tests.others import contacts_toml, person, plain, send_email, wait_inbox
from tuiclient.app import TuiClientApp
from tuiclient.screens.compose import ComposeScreen
from tuiclient.screens.health import HealthScreen
from tuiclient.screens.outbox import OutboxScreen, item_text
from tuiclient.screens.pickers import Confirm
from tuiclient.screens.prompts import AddressScreen, DeferScreen, ReplyOptionsScreen
from tuiclient.screens.search import SearchScreen
from tuiclient.widgets.conversation import ChatReply, ResponseCard, Timeline
from tuiclient.widgets.conversation_list import ConversationList
from tuiclient.widgets.server_status import ServerStatus, state_of
from tuiclient.widgets.sidebar import Sidebar

pytestmark = pytest.mark.servers

AWAY = "In meetings until 3pm"


async def wait_until(predicate, timeout: float = 20.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def pilot_until(pilot, predicate, timeout: float = 20.0) -> bool:
    """Let the app run (pilot.pause) until `predicate()` holds, at most `timeout` s.
    A predicate that queries a widget not mounted yet (NoMatches) counts as False."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            if predicate():
                return True
        except NoMatches:
            pass
        if loop.time() >= deadline:
            return False
        await pilot.pause(0.05)


async def open_health(pilot, app: TuiClientApp) -> ServerStatus:
    """Press H and wait for the health screen's table to be there, rows and all:
    the screen mounts after the key, so querying it at once may find nothing."""
    await pilot.press("H")

    def ready() -> bool:
        return isinstance(app.screen, HealthScreen) and \
            app.screen.query_one(ServerStatus).row_count > 0
    assert await pilot_until(pilot, ready), f"no health screen: {app.screen!r}"
    return app.screen.query_one(ServerStatus)


def write_config(world: World, tmp: Path, name: str, pwcmd: str | None = None,
                 extra: str = "") -> Path:
    account = world.add_account(name)
    path = tmp / "config.toml"
    path.write_text(world.client_config(account, pwcmd or password_command(tmp, account))
                    + extra)
    return path


async def test_app_connects_to_every_server_of_the_account(world, tmp_path):
    config = load_config(write_config(world, tmp_path, "uma"))
    app = TuiClientApp(config)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_health(pilot, app)
        done = await pilot_until(pilot, lambda: all(
            not state_of(table, "uma", s).startswith("connecting")
            for s in ("imap", "smtp", "xmpp")))
        assert done, [state_of(table, "uma", s) for s in ("imap", "smtp", "xmpp")]
        assert "INBOX 0 messages" in state_of(table, "uma", "imap")
        assert state_of(table, "uma", "smtp") == "login ok"
        assert state_of(table, "uma", "xmpp").startswith("online as uma@example.test")
        await pilot.press("escape", "q")
    assert app.return_code == 0


async def test_app_shows_a_server_that_refuses_the_login(world, tmp_path):
    path = write_config(world, tmp_path, "vic", pwcmd="echo wrong-password")
    app = TuiClientApp(load_config(path))
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_health(pilot, app)
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "imap"))
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "smtp"))
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "xmpp"))


def alice_app(world: World, tmp: Path, alice: Account, *contacts: Account) -> TuiClientApp:
    """The app for alice, knowing `contacts`; health probes only when asked for."""
    path = tmp / "config.toml"
    path.write_text(world.client_config(alice, password_command(tmp, alice))
                    + contacts_toml(*contacts))
    return TuiClientApp(load_config(path), probe_on_start=False)


# -- helpers for driving the main screen ------------------------------------------------


def notes(app: TuiClientApp) -> list[str]:
    return [n.message for n in app._notifications]


def listing(app: TuiClientApp) -> ConversationList:
    return app.screen.query_one(ConversationList)


def text_of(app: TuiClientApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def go_to_row(pilot, app: TuiClientApp, predicate) -> None:
    """Move the list cursor with j/k (as a user would) to the row `predicate` likes."""
    rows = listing(app).rows
    target = next(i for i, t in enumerate(rows) if predicate(t))
    listing(app).focus()
    await pilot.pause()
    while listing(app).cursor != target:
        await pilot.press("j" if listing(app).cursor < target else "k")


async def go_to_message(pilot, app: TuiClientApp, predicate) -> None:
    timeline = app.screen.query_one(Timeline)
    target = next(i for i, m in enumerate(timeline.messages) if predicate(m))
    timeline.focus()
    await pilot.pause()
    while timeline.highlighted != target:
        await pilot.press("j" if (timeline.highlighted or 0) < target else "k")


async def test_reply_flows_both_ways_against_the_servers(world, tmp_path, running):
    """The list mixes an email thread and a chat; email -> IM with history and a
    file; the response cards; IM -> email; the defer prompt; the outbox; search."""
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    for other in (bob, carol):
        world.befriend(alice, other)
    bob_x = await xmpp(plain(world, bob))
    carol_x = await xmpp(plain(world, carol))
    carol_x.set_presence("away", AWAY)
    pdf = b"%PDF-1.4\n% budget\n" + b"0123456789" * 50 + b"\n%%EOF\n"
    root = send_email(world, bob, [alice.email], [carol.email], "Budget 2027",
                      "Hi both,\nthe budget draft is attached.\n\nBob",
                      ("budget.pdf", "application/pdf", pdf))
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await wait_until(lambda: any(t.subject == "Budget 2027"
                                            for t in listing(app).rows))
        # bob writes by chat while the app is open: the list gains a chat row.
        bob_x.send(alice.jid, "Coffee at 3?")
        assert await wait_until(lambda: any(t.snippet == "Coffee at 3?"
                                            for t in listing(app).rows))
        kinds = {frozenset(t.transports) for t in listing(app).rows}
        assert len(kinds) == 2  # an email thread and a chat

        # Open the email: its body is fetched and shown.
        await go_to_row(pilot, app, lambda t: t.subject == "Budget 2027")
        await pilot.press("enter")
        assert await wait_until(lambda: "budget draft is attached" in
                                text_of(app, "#email-body"))
        assert "budget.pdf" in text_of(app, "#email-head")

        # Reply by IM with the history and the PDF: i, ctrl+o, options, text, enter.
        await pilot.press("i")
        assert app.screen.query_one(ChatReply).has_focus
        await pilot.press("ctrl+o")
        assert await wait_until(lambda: isinstance(app.screen, ReplyOptionsScreen))
        await pilot.pause()
        await pilot.press("space", "tab", "space", "ctrl+s")  # history, first file
        assert await wait_until(lambda: not isinstance(app.screen, ReplyOptionsScreen))
        await pilot.press(*"Let's talk here", "enter")
        assert await wait_until(lambda: any(r.oob for r in bob_x.received), 20), \
            (notes(app), bob_x.bodies())
        bodies = bob_x.bodies()
        digest = next(b for b in bodies if b.startswith(HISTORY_HEAD))
        assert "budget draft is attached" in digest
        assert "Let's talk here" in bodies
        assert bodies.index(digest) < bodies.index("Let's talk here")
        link = next(r for r in bob_x.received if r.oob)
        assert fetch(link.oob[0], str(world.ca_file)) == pdf
        assert all(r.thread == root for r in bob_x.received if r.body != "Coffee at 3?")

        # The email now has responses: the chat lines, as cards beside it.
        await go_to_message(pilot, app, lambda m: m.msg_id == root)
        assert await wait_until(lambda: any(c.message.text == "Let's talk here"
                                            for c in app.screen.query(ResponseCard)))
        # From a card, one key replies by email to that person.
        card = next(c for c in app.screen.query(ResponseCard)
                    if c.message.text == "Let's talk here")
        card.focus()
        await pilot.press("r")
        assert await wait_until(lambda: isinstance(app.screen, ComposeScreen))
        await pilot.press("escape")
        assert await wait_until(lambda: not isinstance(app.screen, ComposeScreen))

        # IM -> email: bob's chat line answered by email, with the transcript.
        await go_to_row(pilot, app, lambda t: t.snippet == "Coffee at 3?" or
                        "Coffee at 3?" in t.snippet)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("r")
        assert await wait_until(lambda: isinstance(app.screen, ComposeScreen))
        await pilot.pause()
        await pilot.press(*"Yes, 3pm works.", "ctrl+s")
        got = await wait_inbox(world, bob, lambda m: "Yes, 3pm works." in str(
            m.get_body(("plain",)).get_content()))
        assert got[0]["From"].addresses[0].addr_spec == alice.email

        # The defer prompt: carol is away; her away message is shown; defer it.
        # Three times, for the three outbox actions: retry now, by email, cancel.
        await go_to_row(pilot, app, lambda t: t.subject == "Budget 2027")
        await pilot.press("enter")
        await pilot.pause()
        await go_to_message(pilot, app, lambda m: m.msg_id == root)
        for n, words in enumerate(("Carol, your view?", "Carol, by email then.",
                                   "Never mind.")):
            await pilot.press("I")  # to all: bob and carol, by IM
            await pilot.press(*words, "enter")
            assert await wait_until(lambda: isinstance(app.screen, DeferScreen), 20)
            assert AWAY in str(app.screen.query_one(".presence", Static).render())
            await pilot.pause(0.5)  # (a key right after the Enter is still typing)
            await pilot.press("d")
            assert await wait_until(lambda n=n: len(app.engine.store.outbox_items(
                ["deferred"])) == n + 1)
            await pilot.press("escape")
            await go_to_message(pilot, app, lambda m: m.msg_id == root)

        # The outbox: each deferred message with its retry log, newest first.
        await pilot.press("O")
        assert await wait_until(lambda: isinstance(app.screen, OutboxScreen))
        outbox = app.screen
        assert [item_text(i) for i in outbox.items][:3] == [
            "Never mind.", "Carol, by email then.", "Carol, your view?"]
        assert "deferred" in text_of(app, "#outbox-log")
        await pilot.press("x")  # cancel "Never mind.": it asks first
        assert await wait_until(lambda: isinstance(app.screen, Confirm))
        assert "Never mind." in str(app.screen.query_one(".dialog-help", Static).render())
        await pilot.press("y")
        assert await wait_until(lambda: len(outbox.items) == 2)
        await pilot.press("e")  # "Carol, by email then." goes by email
        got = await wait_inbox(world, carol, lambda m: "Carol, by email then." in str(
            m.get_body(("plain",)).get_content()))
        assert got
        assert await wait_until(lambda: len(outbox.items) == 1)
        await pilot.press("t")  # retry now: "Carol, your view?" goes whatever her presence
        assert await wait_until(lambda: "Carol, your view?" in carol_x.bodies())
        assert "Never mind." not in carol_x.bodies()
        assert "Carol, by email then." not in carol_x.bodies()
        await pilot.press("escape")

        # Search across mail and chat; Enter opens the conversation at the message.
        await pilot.press("slash")
        assert await wait_until(lambda: isinstance(app.screen, SearchScreen))
        await pilot.press(*"coffee", "enter")
        assert await wait_until(lambda: app.screen.results)
        await pilot.press("enter")
        assert await wait_until(lambda: not isinstance(app.screen, SearchScreen))
        current = app.screen.query_one(Timeline).current
        assert current is not None and "Coffee" in current.text


async def test_narrow_terminal_shows_one_pane_at_a_time(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    send_email(world, bob, [alice.email], [], "Narrow", "One pane at a time.")
    app = alice_app(world, tmp_path, alice)
    async with app.run_test(size=(80, 30)) as pilot:
        assert await wait_until(lambda: listing(app).rows)
        screen = app.screen
        shown = lambda: [w for w in ("#sidebar", "#conversations", "#email-view",  # noqa: E731
                                     "#chat-view") if screen.query_one(w).display
                         and screen.query_one(w).region.width]
        await pilot.pause()
        assert shown() == ["#conversations"]
        assert screen.query_one("#conversations").region.width >= 78
        await pilot.press("enter")
        await pilot.pause()
        assert shown() == ["#email-view"]
        assert await wait_until(lambda: "One pane at a time." in text_of(app, "#email-body"))
        await pilot.press("tab")
        await pilot.pause()
        assert shown() == ["#chat-view"]
        await pilot.press("escape")
        await pilot.pause()
        assert shown() == ["#conversations"]
        # Wide again: everything side by side.
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        assert shown() == ["#sidebar", "#conversations", "#email-view", "#chat-view"]


def server_flags(world: World, who, msg_id: str) -> set[bytes]:
    """The flags of one message in someone's INBOX, asked with plain imapclient."""
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.select_folder("INBOX", readonly=True)
        uids = c.search(["HEADER", "Message-ID", f"<{msg_id}>"])
        assert len(uids) == 1, uids
        return set(c.get_flags(uids)[uids[0]])


async def test_opening_a_conversation_marks_it_read_on_the_servers(world, tmp_path, running):
    """An email opened in the app is \\Seen on the IMAP server; a chat opened sends
    its sender a displayed marker (XEP-0333); the unread dots and counts clear."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    root = send_email(world, bob, [alice.email], [], "Read me", "Open me, please.")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        row = lambda pred: next((t for t in listing(app).rows if pred(t)), None)  # noqa: E731
        mail = lambda: row(lambda t: t.subject == "Read me")  # noqa: E731
        assert await wait_until(lambda: mail() is not None and mail().unread_count == 1)
        # bob's client (plain slixmpp) sends no origin-id: only its 'id' attribute.
        asked = bob_x.send(alice.jid, "Are you there?", markable=True)
        chat = lambda: row(lambda t: t.snippet == "Are you there?")  # noqa: E731
        assert await wait_until(lambda: chat() is not None and chat().unread_count == 1)
        assert b"\\Seen" not in server_flags(world, alice, root)  # the sync only peeked

        inbox_label = lambda: str(app.screen.query_one(Sidebar).get_option(  # noqa: E731
            f"folder:{alice.name}:INBOX").prompt)
        assert await wait_until(lambda: inbox_label().split() == ["INBOX", "1"])
        await go_to_row(pilot, app, lambda t: t.subject == "Read me")
        await pilot.press("enter")
        assert await wait_until(lambda: mail().unread_count == 0)
        assert b"\\Seen" in server_flags(world, alice, root)
        assert inbox_label().split() == ["INBOX"]  # no unread count left
        assert not app.screen.query_one(Timeline).current.unread
        assert chat().unread_count == 1  # only what was opened

        await go_to_row(pilot, app, lambda t: t.snippet == "Are you there?")
        await pilot.press("enter")
        assert await wait_until(lambda: chat().unread_count == 0)
        assert await wait_until(lambda: bob_x.displayed()), "no displayed marker reached bob"
        line = app.screen.query_one(Timeline).current
        assert line.text == "Are you there?" and not line.unread
        # The marker quotes the id bob's client gave the message, not one of ours.
        assert bob_x.displayed() == [asked], (bob_x.markers, line.msg_id)
        assert ("received", alice.jid, asked) in [(k, f.split("/")[0], i)
                                                  for k, f, i in bob_x.markers]

        # N makes the email unread again, on the server too.
        await go_to_row(pilot, app, lambda t: t.subject == "Read me")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        app.screen.query_one(Timeline).focus()
        await pilot.press("N")
        assert await wait_until(lambda: mail().unread_count == 1)
        assert b"\\Seen" not in server_flags(world, alice, root)
        assert inbox_label().split() == ["INBOX", "1"]
        await pilot.press("F")
        assert await wait_until(lambda: b"\\Flagged" in server_flags(world, alice, root), 10)


async def test_opening_a_chat_sends_one_displayed_marker_for_its_newest_line(
        world, tmp_path, running):
    """Three unread lines from bob: opening the chat reads all three, and bob gets
    one displayed marker (XEP-0333), for the third: it says the earlier ones were
    seen too. One per line would be noise on the wire and in bob's client."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await wait_until(lambda: alice.name in app.engine.xmpp and
                                app.engine.xmpp[alice.name].connected)
        sent = []
        for text in ("One", "Two", "Three"):
            sent.append(bob_x.send(alice.jid, f"Line {text}", markable=True))
            await asyncio.sleep(0.05)  # distinct, ordered arrival times
        chat = lambda: next((t for t in listing(app).rows  # noqa: E731
                             if t.snippet == "Line Three"), None)
        assert await wait_until(lambda: chat() is not None and chat().unread_count == 3)
        assert await wait_until(lambda: len([m for m in bob_x.markers
                                             if m[0] == "received"]) == 3)
        assert bob_x.displayed() == []

        await go_to_row(pilot, app, lambda t: t.snippet == "Line Three")
        await pilot.press("enter")
        assert await wait_until(lambda: chat().unread_count == 0)
        assert await wait_until(lambda: bob_x.displayed()), "no displayed marker reached bob"
        await asyncio.sleep(0.5)  # nothing else follows
        assert bob_x.displayed() == [sent[2]], bob_x.markers
        lines = [m for m in app.engine.timeline(alice.name, chat().thread_id)
                 if m.text.startswith("Line ")]
        assert [m.text for m in lines] == ["Line One", "Line Two", "Line Three"]
        assert not any(m.unread for m in lines)  # all three read in alice's store
        assert not any(app.engine.message(m.id).unread for m in lines)


def set_server_flag(world: World, who, msg_id: str, flag: bytes, on: bool = True) -> None:
    """Another mail client of the same person (plain imapclient) changes a flag."""
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.select_folder("INBOX")
        uids = c.search(["HEADER", "Message-ID", f"<{msg_id}>"])
        assert len(uids) == 1, uids
        (c.add_flags if on else c.remove_flags)(uids, [flag])


async def test_folder_unread_counts_follow_reading_new_mail_and_other_clients(
        world, tmp_path, running):
    """The sidebar's unread count of INBOX follows the store, without a restart or a
    full sync: it drops when an email is opened, rises when new mail comes in (IMAP
    IDLE), and drops when another client reads one."""
    alice, bob = person(world, "alice"), person(world, "bob")
    send_email(world, bob, [alice.email], [], "Count one", "The first.")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        def inbox() -> list[str]:
            # The folder rows come with the first folder list, which may land after
            # the first conversations: until then there is no INBOX row to read.
            try:
                return str(app.screen.query_one(Sidebar).get_option(
                    f"folder:{alice.name}:INBOX").prompt).split()
            except OptionDoesNotExist:
                return []
        assert await wait_until(lambda: any(t.subject == "Count one"
                                            for t in listing(app).rows))
        assert await wait_until(lambda: inbox() == ["INBOX", "1"]), inbox()

        await go_to_row(pilot, app, lambda t: t.subject == "Count one")
        await pilot.press("enter")
        assert await wait_until(lambda: inbox() == ["INBOX"]), inbox()  # read: no count

        send_email(world, bob, [alice.email], [], "Count two", "The second.")
        assert await wait_until(lambda: inbox() == ["INBOX", "1"], 30), inbox()
        third = send_email(world, bob, [alice.email], [], "Count three", "The third.")
        assert await wait_until(lambda: inbox() == ["INBOX", "2"], 30), inbox()
        assert any(t.subject == "Count three" for t in listing(app).rows)

        # alice reads one on her phone: the app's resync of INBOX brings the flag.
        set_server_flag(world, alice, third, b"\\Seen")
        assert await wait_until(lambda: inbox() == ["INBOX", "1"], 30), inbox()
        # ... and marks it unread again there.
        set_server_flag(world, alice, third, b"\\Seen", on=False)
        assert await wait_until(lambda: inbox() == ["INBOX", "2"], 30), inbox()


async def test_address_prompt_asks_for_a_jid_and_remembers_it(world, tmp_path, running):
    """Reply to all by IM where two people have no known JID: one is typed in,
    the other's suggestion taken; the reply reaches both, and the engine keeps
    the mappings (a second reply asks nothing). Their JIDs are on the chat
    server's other domain, so no address is their email address."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    tag = uuid.uuid4().hex[:6]
    erin = world.add_account(f"erin{tag}", jid=f"erin{tag}@chat.corp.test")
    frank = world.add_account(f"frank{tag}", jid=f"frank.{tag}@chat.corp.test")
    for other in (bob, erin, frank):
        world.befriend(alice, other)
    clients = {p.jid: await xmpp(plain(world, p)) for p in (bob, erin, frank)}
    send_email(world, bob, [alice.email], [erin.email, frank.email], "Offsite",
               "Where shall we meet?")
    app = alice_app(world, tmp_path, alice, bob)  # bob is known; erin and frank are not
    # Learned earlier, never confirmed: offered, not used on its own.
    app.engine.identity.suggest(frank.email, frank.jid)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await wait_until(lambda: any(t.subject == "Offsite" for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.subject == "Offsite")
        await pilot.press("enter", "I", *"The lobby at 9", "enter")
        assert await wait_until(lambda: isinstance(app.screen, AddressScreen), 20), notes(app)
        dialog = app.screen
        asked = [r.query for r in dialog.unresolved]
        assert sorted(asked) == sorted([erin.email, frank.email])
        fields = {q: dialog.query_one(f"#address-{i}", Input) for i, q in enumerate(asked)}
        assert fields[frank.email].value == frank.jid  # the suggestion, taken as it is
        offered = " ".join(str(x.render()) for x in dialog.query(".suggestion"))
        assert frank.jid in offered
        # For erin only a guess (her email address, as a JID on a server with both);
        # wrong: her JID is typed over it.
        assert fields[erin.email].value == erin.email
        fields[erin.email].focus()
        await pilot.press("end", "ctrl+u", *erin.jid)
        await pilot.press("ctrl+s")
        assert await wait_until(lambda: not isinstance(app.screen, AddressScreen)), (
            notes(app), {q: f.value for q, f in fields.items()}, app.focused)
        for p in (bob, erin, frank):
            assert await wait_until(lambda p=p: "The lobby at 9" in clients[p.jid].bodies(),
                                    20), (p.name, notes(app))
        for p in (erin, frank):
            r = app.engine.identity.jid_for(p.email)
            assert r.address == p.jid and r.mapped, r

        # Remembered: the next reply to all goes without a question.
        app.screen.query_one(Timeline).focus()
        await go_to_message(pilot, app, lambda m: m.subject == "Offsite")
        await pilot.press("I", *"Coffee first?", "enter")
        for p in (erin, frank):
            assert await wait_until(lambda p=p: "Coffee first?" in clients[p.jid].bodies(),
                                    20), (p.name, notes(app))
        assert not isinstance(app.screen, AddressScreen)


async def test_outbox_sends_a_waiting_email_by_chat(world, tmp_path, running):
    """The mail server is down: in the outbox, `m` sends alice's waiting email to
    bob by chat instead; the row shows it, and bob gets the line, subject on top."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    world.stop_smtp()
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            assert await pilot_until(pilot, lambda: app.engine.xmpp.get(alice.name)
                                     is not None and app.engine.xmpp[alice.name].connected)
            result = await app.engine.send_message(alice.name, [bob.email], "Room 4 today.",
                                                   via="email", subject="Standup")
            (email_id,) = result.emails
            assert await pilot_until(pilot, lambda: any(
                h.event == "retry later" for h in app.engine.store.outbox_history(email_id)))
            await pilot.press("O")
            assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
            outbox = app.screen
            assert f"email to {bob.email}" in text_of(app, "#outbox-log")
            await pilot.press("m")
            assert await pilot_until(pilot, lambda: "Standup\n\nRoom 4 today." in
                                     bob_x.bodies(alice.jid))
            assert await pilot_until(pilot, lambda: "Sent by chat instead." in notes(app))
            assert await pilot_until(pilot, lambda: all(i.id != email_id for i in outbox.items))
            await pilot.press("a")  # settled rows too: the email, sent by chat
            assert await pilot_until(pilot, lambda: any(i.id == email_id
                                                        for i in outbox.items))
            table = outbox.query_one("#outbox-table")
            assert "❝ sent by chat" in str(table.get_row(str(email_id))[1])
            # The chat row's log names the email it replaced by whom it was to (issue
            # 21: no row numbers in what a user reads).
            assert f"instead of your email to {bob.email}" in text_of(app, "#outbox-log")
    finally:
        world.start_smtp()


async def test_choosing_a_contact_opens_the_chat_with_them_online_or_not(
        world, tmp_path, running):
    """Enter on a contact in the sidebar opened a new message by the engine's one
    "auto" rule (IM when online, email when not). Now, as Profanity does, the
    chat with them, online or not (contact12), empty and ready to write in: a
    line to someone offline asks when it goes, and can go by email."""
    _, xmpp = running
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    world.befriend(alice, bob)
    world.befriend(alice, carol)
    await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await wait_until(
            lambda: engine.availability(alice.name, bob.jid).availability.value == "available")
        main = app.screen

        async def chat_with(who: Account) -> None:
            main.query_one(Sidebar).post_message(Sidebar.Chosen("contact", (who.jid,)))
            assert await pilot_until(pilot, lambda: f"Chat with {who.display_name}" in str(
                main.query_one("#chat-title").render()))
            assert main.query_one(ChatReply).has_focus
            assert main.query_one(Timeline).messages == []

        await chat_with(bob)
        await chat_with(carol)
        await pilot.press(*"Call me when you can", "enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen), 20)
        await pilot.pause(0.5)  # (a key right after the Enter is still typing)
        await pilot.press("e")
        await wait_inbox(world, carol, lambda m: "Call me when you can" in
                         m.get_body(("plain",)).get_content())
