"""The app, driven with Textual's Pilot against the real servers.

alice uses the app; bob and carol use other clients (plain slixmpp, the standard
library's smtplib and imapclient), so what they get is what anyone would see.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Static

from bridge.config import load_config
from bridge.handoff import HISTORY_HEAD
from tests.conftest import password_command
from tests.harness.plain_xmpp import fetch
from tests.harness.servers import World
from tests.others import contacts_toml, person, plain, send_email, wait_inbox
from tuiclient.app import TuiClientApp
from tuiclient.screens.compose import ComposeScreen
from tuiclient.screens.health import HealthScreen
from tuiclient.screens.outbox import OutboxScreen, item_text
from tuiclient.screens.prompts import DeferScreen, ReplyOptionsScreen
from tuiclient.screens.search import SearchScreen
from tuiclient.widgets.conversation import ChatReply, ResponseCard, Timeline
from tuiclient.widgets.conversation_list import ConversationList
from tuiclient.widgets.server_status import ServerStatus, state_of

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


def write_config(world: World, tmp: Path, name: str, pwcmd: str | None = None) -> Path:
    account = world.add_account(name)
    path = tmp / "config.toml"
    path.write_text(world.client_config(account, pwcmd or password_command(tmp, account)))
    return path


async def test_app_connects_to_every_server_of_the_account(world, tmp_path):
    config = load_config(write_config(world, tmp_path, "uma"))
    app = TuiClientApp(config)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("H")
        assert isinstance(app.screen, HealthScreen)
        table = app.screen.query_one(ServerStatus)
        done = await wait_until(lambda: all(
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
        await pilot.press("H")
        table = app.screen.query_one(ServerStatus)
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "imap"))
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "smtp"))
        assert await wait_until(lambda: "login refused" in state_of(table, "vic", "xmpp"))


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
    path = tmp_path / "config.toml"
    path.write_text(world.client_config(alice, password_command(tmp_path, alice))
                    + contacts_toml(bob, carol))
    app = TuiClientApp(load_config(path), probe_on_start=False)
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
        await pilot.press("x")  # cancel "Never mind."
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
    path = tmp_path / "config.toml"
    path.write_text(world.client_config(alice, password_command(tmp_path, alice)))
    app = TuiClientApp(load_config(path), probe_on_start=False)
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
