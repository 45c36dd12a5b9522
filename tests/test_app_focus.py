"""The app's interaction model, with Pilot against the real servers: focus and
keys, truthful status, notifications (issue 21).

alice uses the app; bob uses a plain slixmpp client and the standard library's
smtplib, so what the app shows is what anyone's client would cause.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from textual.color import Color
from textual.widgets import DataTable, Static
from textual.widgets._toast import Toast

from bridge.config import load_config
from bridge.events import SyncProgress
from tests.conftest import password_command
from tests.harness.servers import Account, World
from tests.others import contacts_toml, person, plain, send_email
from tests.test_app import alice_app, listing, notes, pilot_until, wait_until
from tuiclient.app import TuiClientApp
from tuiclient.command_line import CommandLine, complete
from tuiclient.keys import clashes
from tuiclient.notify import escape_text, markup_escape
from tuiclient.screens.help import HelpBody, HelpScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.outbox import OutboxScreen
from tuiclient.widgets.conversation import ResponseCard, Timeline
from tuiclient.widgets.email_view import EmailView
from tuiclient.widgets.sidebar import Sidebar

pytestmark = pytest.mark.servers


def app_with(world: World, tmp: Path, alice: Account, *contacts: Account,
             extra: str = "") -> TuiClientApp:
    path = tmp / "config.toml"
    path.write_text(world.client_config(alice, password_command(tmp, alice)) + extra
                    + contacts_toml(*contacts))
    return TuiClientApp(load_config(path), probe_on_start=False)


def main_of(app: TuiClientApp) -> MainScreen:
    main = app.main_screen()
    assert main is not None
    return main


def chat_toasts(app: TuiClientApp) -> list[str]:
    """Every chat toast so far (the toasts themselves go after a few seconds)."""
    return [summary for kind, _, summary in app.notifier.told if kind == "chat"]


# -- focus and keys ------------------------------------------------------------------


async def test_tab_cycles_every_pane_and_the_focused_one_is_framed(world, tmp_path):
    """Tab: sidebar, list, message, response cards, timeline, reply line; there
    Tab completes (and with nothing to, stays), Shift+Tab goes round the other
    way; the focused pane's frame has the accent colour, the others not."""
    alice, bob = person(world, "alice"), person(world, "bob")
    root = send_email(world, bob, [alice.email], [], "Plans", "What are the plans?")
    send_email(world, bob, [alice.email], [], "Re: Plans", "Anyone?", in_reply_to=root)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(150, 44)) as pilot:
        assert await wait_until(lambda: any(t.subject == "Plans" for t in listing(app).rows))
        main = main_of(app)
        listing(app).focus()
        await pilot.press("enter")
        timeline = main.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.has_focus and len(timeline.messages) == 2)
        await pilot.press("g")  # the first email, which got a response
        assert await pilot_until(pilot, lambda: bool(main.query(ResponseCard)))

        def where() -> str:
            f = app.focused
            for name, sel in (("sidebar", "#sidebar"), ("list", "#conversations"),
                              ("timeline", "#timeline"), ("message", "#email-view"),
                              ("reply", "#chat-input")):
                w = main.query_one(sel)
                if f is w or (f is not None and w in f.ancestors):
                    return name
            return "cards" if isinstance(f, ResponseCard) else repr(f)

        await pilot.press("tab")
        assert where() == "reply"
        # In the reply line Tab completes, as in Profanity and Poezio, and with
        # nothing to complete the keys stay there; Shift+Tab moves on.
        await pilot.press("tab")
        assert where() == "reply"
        back = []
        for _ in range(6):
            await pilot.press("shift+tab")
            back.append(where())
        assert back == ["timeline", "cards", "message", "list", "sidebar", "reply"]
        for _ in range(5):
            await pilot.press("shift+tab")
        assert where() == "sidebar"
        seen = []
        for _ in range(5):
            await pilot.press("tab")
            seen.append(where())
        assert seen == ["list", "message", "cards", "timeline", "reply"]
        # Tabbed through, the sidebar shows where its cursor is (it showed none).
        assert main.query_one(Sidebar).highlighted is not None
        await pilot.press("shift+tab")  # the timeline, as before

        # The frame: accent on the focused pane only.
        accent = Color.parse(app.current_theme.accent or "")

        def framed(widget) -> bool:
            c = widget.styles.border_top[1]
            return abs(c.r - accent.r) + abs(c.g - accent.g) + abs(c.b - accent.b) < 8

        await pilot.press("shift+tab", "shift+tab")  # the message
        await pilot.pause()
        view, cards = main.query_one(EmailView), main.query_one("#cards")
        assert framed(view)
        assert not framed(cards) and not framed(timeline)

        # j/k in the cards move between them; in the email body they scroll.
        await pilot.press("tab")
        assert isinstance(app.focused, ResponseCard)
        await pilot.press("j", "k")
        assert isinstance(app.focused, ResponseCard)


async def test_j_k_g_G_scroll_the_help_and_the_email_body(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    long_text = "\n\n".join(f"Paragraph {i}: words words words." for i in range(80))
    send_email(world, bob, [alice.email], [], "Long one", long_text)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("question_mark")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        body = app.screen.query_one(HelpBody)
        await pilot.pause()
        await pilot.press("j", "j", "j")
        assert await pilot_until(pilot, lambda: body.scroll_y >= 3)
        await pilot.press("G")
        assert await pilot_until(pilot, lambda: body.scroll_y == body.max_scroll_y > 3)
        await pilot.press("g")
        assert await pilot_until(pilot, lambda: body.scroll_y == 0)
        await pilot.press("escape")

        assert await wait_until(lambda: any(t.subject == "Long one" for t in listing(app).rows))
        listing(app).focus()
        await pilot.press("enter")
        view = main_of(app).query_one(EmailView)
        assert await pilot_until(pilot, lambda: "Paragraph 79" in str(
            view.query_one("#email-body", Static).render()))
        view.focus()
        await pilot.press("j", "j")
        assert await pilot_until(pilot, lambda: view.scroll_y >= 2)
        await pilot.press("G")
        assert await pilot_until(pilot, lambda: view.scroll_y == view.max_scroll_y > 2)
        await pilot.press("pageup")
        assert await pilot_until(pilot, lambda: view.scroll_y < view.max_scroll_y)


async def test_enter_on_a_contact_opens_the_conversation_with_them(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        bob_x.send(alice.jid, "Lunch today?")
        assert await wait_until(lambda: any(t.snippet == "Lunch today?"
                                            for t in listing(app).rows))
        sidebar = main_of(app).query_one(Sidebar)
        sidebar.focus()
        index = sidebar.get_option_index(f"contact:{bob.jid}")
        sidebar.highlighted = index
        await pilot.press("enter")
        timeline = main_of(app).query_one(Timeline)
        assert await pilot_until(pilot, lambda: [m.text for m in timeline.messages]
                                 == ["Lunch today?"])
        assert timeline.has_focus


async def test_command_line_completes_and_runs_the_same_actions(world, tmp_path, running):
    assert complete("ou", ["outbox", "servers"]) == "outbox "
    assert complete("re", ["reply", "reply-all"], 1) == "reply-all "
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    bob_x.set_presence("away", "Out")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 30)) as pilot:
        # Three lines kept for bob, who is away: three rows in the outbox.
        assert await pilot_until(pilot, lambda: app.engine.availability(
            alice.name, bob.jid).availability.value == "away")
        for words in ("one", "two", "three"):
            await app.engine.send_message(alice.name, [bob.jid], words, via="im",
                                          when_away="defer")
        await pilot.press("colon")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, CommandLine))
        await pilot.press("o", "u", "tab", "enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        # j/k/g/G in the outbox table too (no error with no rows), with rows: the
        # cursor moves.
        table = app.screen.query_one("#outbox-table", DataTable)
        assert await pilot_until(pilot, lambda: table.row_count == 3)
        assert table.cursor_row == 0
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("k")
        assert table.cursor_row == 0
        await pilot.press("G")
        assert table.cursor_row == 2
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("j", "k", "g", "G", "escape")
        await pilot.press("colon", *"nonsense", "enter")
        assert await pilot_until(pilot, lambda: "no command" in str(
            app.screen.query_one("#command-help", Static).render()))
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_a_keys_clash_is_reported_with_file_and_line(world, tmp_path):
    assert not clashes({})
    alice = person(world, "alice")
    app = app_with(world, tmp_path, alice, extra='\n[keys]\nreply_im = "j"\n')
    path = tmp_path / "config.toml"
    line = path.read_text().split("\n").index('reply_im = "j"') + 1
    async with app.run_test(size=(120, 30)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            f"{path}:{line}: [keys] reply_im takes 'j', already down's key" in n
            for n in notes(app))), notes(app)


async def test_the_narrow_footer_keeps_q_quit(world, tmp_path):
    alice = person(world, "alice")
    app = alice_app(world, tmp_path, alice)
    async with app.run_test(size=(80, 24)) as pilot:
        # The main screen's footer with its keys laid out (not a fixed pause: under
        # load the first frames come late).
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen)
                                 and bool(app.screen.query("Footer FooterKey")))
        await pilot.pause()
        text = re.sub(r"<[^>]+>", "", app.export_screenshot()).replace("&#160;", " ")
        assert "quit" in text


# -- truthful status -----------------------------------------------------------------


async def test_rows_and_titles_name_the_other_party_never_you(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app._started)
        await app.engine.send_message(alice.name, [bob.jid], "Are you in today?", via="im")
        assert await wait_until(lambda: bob_x.bodies() == ["Are you in today?"])
        main_of(app).overview.reload()  # as the reply line does after a send
        assert await wait_until(lambda: any(t.snippet == "Are you in today?"
                                            for t in listing(app).rows)), listing(app).rows
        row = next(t for t in listing(app).rows if t.snippet == "Are you in today?")
        assert await pilot_until(pilot, lambda: listing(app).party_of(row)
                                 == f"to {bob.display_name}")
        listing(app).select_key((row.account, row.thread_id))
        listing(app).focus()
        await pilot.press("enter")
        title = main_of(app).query_one("#chat-title", Static)
        assert await pilot_until(pilot, lambda: f"Chat with {bob.display_name}" in str(
            title.render())), str(title.render())


async def test_the_status_bar_turns_red_on_the_first_failed_send(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 30)) as pilot:
        assert await pilot_until(pilot, lambda: app._started)
        bar = lambda: str(main_of(app).query_one("#status", Static).render())  # noqa: E731
        assert "✖ smtp" not in bar()
        world.stop_smtp()
        try:
            await app.engine.send_message(alice.name, [bob.email], "hello", via="email",
                                          subject="hi")
            assert await pilot_until(pilot, lambda: "✖ smtp" in bar()), bar()
            assert "✖ imap" not in bar()
        finally:
            world.start_smtp()
        # Sync progress that reached its end reads "synced", whatever its phase.
        app.note(SyncProgress(alice.name, "INBOX", 1, 1, "resync"))
        assert app.sync_state[alice.name] == "synced INBOX"


# -- notifications -------------------------------------------------------------------


HOOK = """#!{python}
import json, sys
with open({out!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


async def test_a_burst_of_chat_lines_is_one_toast_and_the_hook_gets_it_inert(
        world, tmp_path, running):
    """60 lines from bob: one toast, f"60 new lines from {bob.display_name}"; the notify_command
    runs once with them as plain arguments (never through a shell); none for the
    conversation being read; none at all once it is muted; the title counts."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    out, hook = tmp_path / "hook.out", tmp_path / "hook.py"
    hook.write_text(HOOK.format(python=sys.executable, out=str(out)))
    hook.chmod(0o700)
    pwned = tmp_path / "pwned"
    extra = f'\n[notify]\nnotify_command = ["{hook}"]\nbell = true\ndesktop = "off"\n'
    app = app_with(world, tmp_path, alice, bob, extra=extra)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        assert await pilot_until(pilot, lambda: app._started)
        for i in range(60):
            bob_x.send(alice.jid, f"line {i}")
        burst = f"60 new lines from {bob.display_name}"
        assert await pilot_until(pilot, lambda: burst in chat_toasts(app), 30), chat_toasts(app)
        assert burst in notes(app)  # on the screen
        # Never over the chat or its reply line (Textual's own place, bottom right).
        await pilot.pause()
        toasts = list(app.screen.query(Toast))
        chat = [main_of(app).query_one(sel).region for sel in ("#timeline", "#chat-input")]
        assert toasts and not any(t.region.overlaps(c) for t in toasts for c in chat)
        await pilot.pause(1.0)
        assert chat_toasts(app) == [burst]
        assert await pilot_until(pilot, lambda: out.exists() and out.read_text().strip())
        assert [json.loads(x) for x in out.read_text().splitlines()] == [
            ["chat", bob.display_name, f"60 new lines from {bob.display_name}"]]
        assert await pilot_until(pilot, lambda: app.notifier._title == "tuiclient (1 unread)"), \
            (app.notifier._title, app._title_timer)

        # One line: its words, as they came (a shell would have run them).
        nasty = f"<b>bold</b>\u202e $(touch {pwned}); `touch {pwned}`"
        bob_x.send(alice.jid, nasty)
        assert await pilot_until(pilot, lambda: len(out.read_text().splitlines()) == 2)
        args = json.loads(out.read_text().splitlines()[1])
        assert args[0:2] == ["chat", bob.display_name]
        assert args[2].startswith(f"<b>bold</b> $(touch {pwned})"), args
        assert not pwned.exists()

        # Muted (M on its row): nothing tells of it any more.
        row = next(t for t in listing(app).rows if t.snippet.startswith("<b>bold"))
        listing(app).select_key((row.account, row.thread_id))
        listing(app).focus()
        await pilot.press("M")
        assert (row.account, row.thread_id) in app.notifier.muted
        assert "Muted" in notes(app)[-1]
        before, lines_before = len(chat_toasts(app)), len(out.read_text().splitlines())
        bob_x.send(alice.jid, "muted line")
        assert await wait_until(lambda: any(t.snippet == "muted line"
                                            for t in listing(app).rows))
        await pilot.pause(1.5)
        assert len(chat_toasts(app)) == before
        assert len(out.read_text().splitlines()) == lines_before
        await pilot.press("M")  # unmuted again
        assert not app.notifier.muted

        # Reading the conversation: no toast for its lines.
        await pilot.press("enter")
        bob_x.send(alice.jid, "you are reading this")
        assert await pilot_until(pilot, lambda: any(
            m.text == "you are reading this" for m in main_of(app).query_one(Timeline).messages))
        await pilot.pause(1.5)
        assert len(chat_toasts(app)) == before


def test_remote_text_in_a_terminal_escape_is_inert():
    text = "Bob\x1b]2;owned\x07; rm -rf\n\u202eevil\x9c"
    out = escape_text(text)
    assert not any(c in out for c in "\x1b\x07;\n\u202e\x9c"), repr(out)
    assert markup_escape("<a href='x'>&</a>") == "&lt;a href='x'&gt;&amp;&lt;/a&gt;"


class FakeHost:
    """Stands in for the app in the notifier's unit tests: records what it is asked."""

    def __init__(self) -> None:
        self.toasts: list[tuple[str, str]] = []
        self.bells = 0
        self.timers: list = []
        self.workers: list = []

    def notify(self, message: str, *, title: str = "", **_: object) -> None:
        self.toasts.append((title, message))

    def bell(self) -> None:
        self.bells += 1

    def set_timer(self, delay: float, callback):
        class T:
            def stop(self) -> None:
                pass
        self.timers.append((delay, callback))
        return T()

    def run_worker(self, work, **_: object) -> None:
        self.workers.append(work)
        work.close()  # a coroutine not run here


def test_the_notifier_gathers_rings_and_writes_the_terminal_escapes(monkeypatch, tmp_path):
    from bridge.config import NotifyPolicy
    from tuiclient.notify import Notifier
    from tuiclient.terminal import Terminal

    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    host, written = FakeHost(), []
    n = Notifier(host, NotifyPolicy(bell=True, desktop="osc777"),
                 write=written.append)
    for i in range(5):
        n.chat_line(("a", "t1"), "Bob", f"line {i}")
    n.chat_line(("a", "t2"), "Carol;\x1b]0;x\x07", "hello")
    n.new_mail("work", 2)
    n.flush()
    assert host.toasts == [("Chat from Bob", "5 new lines from Bob"),
                           ("Chat from Carol;", "hello"), ("Mail", "2 new emails in work")]
    assert host.bells == 1
    assert written == ["\x1b]777;notify;Mail;2 new emails in work\x07"]
    n.toggle_mute(("a", "t1"))
    n.chat_line(("a", "t1"), "Bob", "quiet")
    n.flush()
    assert len(host.toasts) == 3 and host.bells == 1
    n.title(3)
    assert written[-1] == "\x1b]2;tuiclient (3 unread)\x07"
    n.title(3)  # the same title is not written again
    assert len(written) == 2
    # auto without a session bus, in a terminal with no escape of its own (as
    # tuiclient.terminal finds TERM=xterm): no desktop notification at all.
    quiet = Notifier(host, NotifyPolicy(bell=False, desktop="auto"),
                     write=written.append, terminal=Terminal())
    quiet.chat_line(("a", "t3"), "Dan", "hi")
    quiet.flush()
    assert len(written) == 2 and not host.workers and host.bells == 1

    # Mutes are kept across runs in their file.
    kept = tmp_path / "muted.json"
    first = Notifier(host, NotifyPolicy(), muted_file=kept)
    assert first.toggle_mute(("a", "t9"))
    assert Notifier(host, NotifyPolicy(), muted_file=kept).muted == {("a", "t9")}
    assert not first.toggle_mute(("a", "t9"))
    assert Notifier(host, NotifyPolicy(), muted_file=kept).muted == set()


def test_notify_config_is_checked_with_file_and_line(tmp_path):
    from bridge.config import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[notify]\nnotify_command = ["~/bin/n.sh", "--x"]\ndesktop = "osc9"\n')
    path.chmod(0o600)
    notify = load_config(path).notify
    assert notify.command == (str(Path.home() / "bin/n.sh"), "--x")
    assert notify.desktop == "osc9" and notify.bell
    path.write_text('[notify]\nbell = true\ndesktop = "dbuss"\n')
    with pytest.raises(ConfigError, match=r":3.*did you mean 'dbus'"):
        load_config(path)


class NotificationService:
    """A freedesktop notification service on a private session bus (dbus-daemon),
    written with jeepney: it records each Notify call as notify-send made it."""

    def __init__(self) -> None:
        import subprocess
        import threading

        self.proc = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        self.calls: list[tuple] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "no notification service"

    def _serve(self) -> None:
        from jeepney import HeaderFields, MessageType, new_method_return
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        conn = open_dbus_connection(bus=self.address)
        conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"))
        self.ready.set()
        answers = {"GetCapabilities": ("as", (["body"],)),
                   "GetServerInformation": ("ssss", ("test", "tuiclient", "1", "1.2"))}
        while True:
            try:
                msg = conn.receive()
            except Exception:  # the bus went away: the test is over
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            if member == "Notify":
                self.calls.append(msg.body)
                conn.send_message(new_method_return(msg, "u", (len(self.calls),)))
            elif member in answers:
                conn.send_message(new_method_return(msg, *answers[member]))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


async def test_a_desktop_notification_reaches_the_dbus_notification_service(
        world, tmp_path, running, monkeypatch):
    """desktop = "auto" with a session bus: notify-send carries the toast's words to
    org.freedesktop.Notifications, its markup escaped."""
    _, xmpp = running
    service = NotificationService()
    try:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
        alice, bob = person(world, "alice"), person(world, "bob")
        world.befriend(alice, bob)
        bob_x = await xmpp(plain(world, bob))
        app = app_with(world, tmp_path, alice, bob, extra='\n[notify]\nbell = false\n')
        async with app.run_test(size=(120, 30)) as pilot:
            assert await pilot_until(pilot, lambda: app._started)
            bob_x.send(alice.jid, "<b>Lunch</b> & more?")
            assert await pilot_until(pilot, lambda: service.calls, 20)
            app_name, _, _, summary, body, *_ = service.calls[0]
            assert (app_name, summary) == ("tuiclient", f"Chat from {bob.display_name}")
            assert body == "&lt;b&gt;Lunch&lt;/b&gt; &amp; more?"
    finally:
        service.stop()


def test_every_key_of_the_main_screen_has_a_command_of_the_same_action():
    """The ':' line runs what the keys run: each binding's action (with its
    arguments) is what some command calls, so neither can drift from the other.
    Moving between panes and opening the line itself are keys only."""
    from textual.actions import parse

    from tuiclient.command_line import commands

    called: list[tuple[str, tuple]] = []

    class Screen:  # records the screen actions the commands call
        def __getattr__(self, name: str) -> Any:
            if name.startswith("action_"):
                return lambda *args: called.append((name.removeprefix("action_"), args))
            return Screen()

        def __call__(self, *args: object, **kwargs: object) -> None:
            return None

    for command in commands(cast(MainScreen, Screen())).values():
        command.run([])
    for words in (*(str(n) for n in range(1, 10)), "prev"):  # :win N, Alt+N's
        commands(cast(MainScreen, Screen()))["win"].run([words])
    keys_only = {"next_pane", "back", "close", "command_line", "reply_options"}
    missing = []
    for binding in MainScreen.BINDINGS:
        _, action, args = parse(binding.action)
        # A command that takes words calls its action with "" when given none.
        if action not in keys_only and (action, args) not in called \
                and not (args == () and (action, ("",)) in called):
            missing.append(binding.action)
    assert not missing, missing


def test_a_burst_longer_than_the_cap_is_told_then_and_never_by_a_timer_of_0_s():
    """A burst that keeps coming past `MAX_WAIT` is told at once, with no timer of
    0 s (Textual's timer divides by its interval: that timer died, and with it
    every toast after); the next burst is gathered and told as before."""
    from bridge.config import NotifyPolicy
    from tuiclient import notify

    host, now = FakeHost(), [0.0]
    n = notify.Notifier(host, NotifyPolicy(bell=False, desktop="off"), clock=lambda: now[0])
    for i in range(60):
        now[0] = i * (notify.MAX_WAIT + 1) / 60  # sixty lines, slower than the cap
        n.chat_line(("a", "t1"), "Bob", f"line {i}")
    assert all(delay > 0 for delay, _ in host.timers), host.timers
    assert host.toasts and host.toasts[0][1].endswith("new lines from Bob"), host.toasts
    _, last = host.timers[-1]
    last()  # the rest of the burst, once it is quiet
    told = sum(int(m.split()[0]) for _, m in host.toasts)
    assert told == 60, host.toasts
    # The next burst: gathered again from its own start.
    now[0] += 100
    n.chat_line(("a", "t1"), "Bob", "again")
    delay, flush = host.timers[-1]
    assert delay == notify.DELAY
    flush()
    assert host.toasts[-1] == ("Chat from Bob", "again")
