"""The Textual app. It talks only to the engine; transports run off the UI loop.

The engine's events arrive here as `EngineEvents` messages (posted from worker
threads or this loop, a burst in one message: `tuiclient.engine_events`), update
the little state the screens share (server health, sync progress), become
toasts, and go on to every screen (`on_engine_events`).

Server health: the app probes every server once the engine is up (then the
engine's health monitor does, every [health] interval, and more often for a
server that failed); `health` holds what is known of each server
(`tuiclient.server_health`), drawn by the main screen's status bar and the
health screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App, SystemCommand
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.screen import Screen
from textual.timer import Timer

from bridge.config import Config, ConfigError, load_config
from bridge.engine import Engine, EngineError
from bridge.events import (
    DeferralRetry,
    DeliveryChanged,
    EmailDelivery,
    Event,
    FolderChanged,
    MessageReceived,
    OutboxChanged,
    SyncProgress,
)
from bridge.paths import data_dir
from bridge.safe import inert_text
from tuiclient.closing import kept_now, to_drafts
from tuiclient.command_line import commands
from tuiclient.engine_events import EngineEvents, EventFeed
from tuiclient.hangup import CHECK_EVERY, GRACE, HangupDriver, end_after, terminal_gone
from tuiclient.idle import AutoAway
from tuiclient.keys import bind, clashes, keymap, read_alt_digits, shown
from tuiclient.links import set_hyperlinks
from tuiclient.notify import Notifier
from tuiclient.screens.main import MainScreen
from tuiclient.server_health import ServerHealth, fold, key_of
from tuiclient.terminal import hyperlinks
from tuiclient.widgets.room_lines import mentions
from tuiclient.widgets.sidebar import Sidebar
from tuiclient.widgets.thread_pane import ChatView
from tuiclient.wording import plain, times_tried, tries

if TYPE_CHECKING:
    from tuiclient.closing import Pending

log = logging.getLogger(__name__)

# Outbox moves worth a toast, in the words a user reads them in. Not "deferred":
# a row is deferred only when written, by the user's own send, whose answer
# ("Deferred: it goes when they are available") is the toast already.
OUTBOX_WORDS = {
    "failed": "Could not be sent",
    "fell-back-to-email": "Sent by email instead",
    "fell-back-to-im": "Sent by chat instead",
    "cancelled": "Not sent: cancelled",
}
# Seconds after the app's mount by which the first-frame calls and the engine's
# start have run, whatever screen is on top (`TuiClientApp._drawn_at_latest`).
DRAWN_AT_LATEST = 1.0
DELIVERY_WORDS = {"sent": "sent", "delivered": "delivered", "read": "read",
                  "failed": "could not be sent"}


class TuiClientApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere too
    # Defaults that a screen's own DEFAULT_CSS may override (see app.tcss, dialogs).
    DEFAULT_CSS = ".dialog { width: 72; }"
    TITLE = "tuiclient"
    BINDINGS = [bind("quit", "quit", label="quit")]

    def __init__(self, config: Config, *, probe_on_start: bool = True,
                 start_engine: bool = True, engine: Engine | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        read_alt_digits()  # Alt+1..9 switch conversations (keys.window_bindings)
        self.config = config
        self.engine = engine or Engine(config)
        self.probe_on_start = probe_on_start
        self.start_engine = start_engine
        self.clock = clock
        self.health: dict[tuple[str, str], ServerHealth] = {}
        self.sync_state: dict[str, str] = {}
        self.contact_names: dict[str, str] = {}  # address -> name, for chat senders
        # Outbox rows a screen acted on and tells the outcome of itself (one toast
        # for one action: not the screen's and the event's too).
        self.told_outbox: set[int] = set()
        # Conversations whose chat message went by email instead, told so: that
        # email's SMTP answer needs no toast of its own.
        self._fell_back: set[tuple[str, str]] = set()
        self._started = False
        self._start_begun = False  # the engine's start was asked for (`_start_worker`)
        self._hung_up = False  # the terminal went away (`terminal_hung_up`)
        self._leaving = False  # quitting, a draft being saved first (`leave`)
        self.feed = EventFeed(self)
        self.notifier = Notifier(self, config.notify, write=self._write_terminal,
                                 muted_file=data_dir() / "muted.json")
        self._title_timer: Timer | None = None
        self.auto_away = AutoAway(self.engine, config.chat, self._auto_away_send)
        self._idle_timer: Timer | None = None
        # Called once the first frame is on the terminal (`python -m tuiclient`
        # holds the garbage collector off until then).
        self.when_drawn: list[Callable[[], None]] = []
        # OSC 8 links where the terminal takes them, or as [notify] hyperlinks says.
        set_hyperlinks(hyperlinks(config.notify.hyperlinks, self.notifier.terminal))
        self.engine.events.subscribe(self.feed)
        if config.keys:
            self.set_keymap(keymap(config.keys))

    def _write_terminal(self, text: str) -> None:
        """Escapes for the terminal itself (title, desktop notification)."""
        if not self.is_headless and self._driver is not None:
            self._driver.write(text)

    def on_mount(self) -> None:
        self.push_screen(MainScreen())
        self.call_after_refresh(self._drawn)
        self.call_after_refresh(self.show_bound_keys)
        self.tell_clashes()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # SIGHUP: the terminal hung up, or a reload (not on every platform).
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hangup)
        if not self.is_headless and not terminal_gone():
            # Only a terminal that was there can go (not a stream a web or test
            # driver draws on, which is no terminal from the start).
            self.set_interval(CHECK_EVERY, self._look_at_terminal, name="terminal there")
        self.count_unread_soon()
        self._auto_away_timer()
        if self.start_engine:
            # After the first frame: the engine's start imports the protocol stacks
            # (imapclient, slixmpp) on this loop, which would hold that frame back.
            self.call_after_refresh(self._start_worker)
        elif self.probe_on_start:
            self.probe()
        # Textual keeps an after-refresh callback on the screen current when it
        # was posted, until that screen is idle: a screen pushed before (a key
        # pressed at once, the health screen's H) held the engine's start and the
        # first-frame calls until the main screen came back. At the latest then.
        self.set_timer(DRAWN_AT_LATEST, self._drawn_at_latest, name="start at the latest")

    def _drawn_at_latest(self) -> None:
        self._drawn()
        if self.start_engine:
            self._start_worker()

    def _drawn(self) -> None:
        for call in self.when_drawn:
            call()
        self.when_drawn.clear()

    def _start_worker(self) -> None:
        if self._start_begun:
            return
        self._start_begun = True
        self.run_worker(self._start(), name="engine", group="engine")

    async def _start(self) -> None:
        try:
            await self.engine.start()
        finally:
            self._started = True
        if self.probe_on_start:
            # After the start, so that the XMPP probe checks our own stream rather
            # than finding it half connected.
            self.probe()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown,
                              events.MouseScrollUp)):
            self.auto_away.touched()  # not idle: back from auto-away
        await super().on_event(event)

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        # Textual's Linux driver, not one the environment names (TEXTUAL_DRIVER).
        return HangupDriver if driver is LinuxDriver else driver

    def _hangup(self) -> None:
        """SIGHUP means two things. With the terminal gone (tmux killed, an ssh
        session dropped), the app ends (`terminal_hung_up`); with the terminal
        still there, the user asks to read the config again, as daemons do. The
        terminal is looked at again a moment later: the signal can come before
        the terminal is seen gone, or stand for a reload and a hang-up at once."""
        if not self.is_headless and terminal_gone():
            self.terminal_hung_up()
            return
        self.call_later(self.reload_config)
        if not self.is_headless:
            self.set_timer(0.5, self._look_at_terminal)

    def _look_at_terminal(self) -> None:
        if not self.is_headless and terminal_gone():
            self.terminal_hung_up()

    def terminal_hung_up(self) -> None:
        """The terminal is gone (see `tuiclient.hangup`): what is being written is
        kept on disk now (the compose screens' text, the chat lines typed), as on
        ctrl+q, and the app ends; a close that hangs (a server that does not
        answer the logout) ends the process after `GRACE` seconds."""
        if self._hung_up:
            return
        self._hung_up = True
        log.warning("the terminal hung up: closing")
        from tuiclient.widgets.reply_bar import ChatReply

        pending: Pending = []
        try:
            pending = kept_now(self.screen_stack)
            for screen in self.screen_stack:
                for line in screen.query(ChatReply):
                    line.keep_now()
        except Exception:  # what could not be kept now the unmounts try again
            log.exception("keeping the typed text at the hang-up")
        end_after(GRACE)
        if not pending:
            self.exit(return_code=1)
            return

        async def then_exit() -> None:
            try:
                await to_drafts(pending)
            finally:
                self.exit(return_code=1)
        self.run_worker(then_exit(), name="close", group="close")

    def leave(self) -> None:
        """Exit now that quitting is decided: a compose screen's text is kept on
        this machine, and a message carrying files or a forward's emails saved
        in Drafts with them first (`tuiclient.closing`); asked again while that
        runs, it waits for it."""
        if self._leaving:
            return
        pending = kept_now(self.screen_stack)
        if not pending:
            self.exit()
            return
        self._leaving = True
        self.notify("Saving what you were writing in Drafts, with its files…",
                    title="Closing")

        async def then_exit() -> None:
            try:
                await to_drafts(pending)
            finally:
                self.exit()
        self.run_worker(then_exit(), name="close", group="close")

    async def action_quit(self) -> None:
        """q on the list, ctrl+q, `:quit` and the palette's Quit: `ask_quit`."""
        self.ask_quit()

    def ask_quit(self) -> None:
        """Quit; with messages still waiting in the outbox, say so first and let
        the user stay or look at them (`tuiclient.screens.quitting`). Asked
        again on that dialog (q, ctrl+q), the answer is yes."""
        from tuiclient.screens.quitting import PENDING, QuitScreen

        if isinstance(self.screen, QuitScreen):
            self.leave()
            return
        try:
            waiting = self.engine.outbox_items(PENDING)
        except Exception:  # a store that cannot be read must not keep the user in
            log.exception("reading the outbox before quitting")
            waiting = []
        if not waiting:
            self.leave()
            return
        self.push_screen(QuitScreen(waiting, self.contact_names), self._quit_answer)

    def _quit_answer(self, choice: str | None) -> None:
        if choice == "quit":
            self.leave()
        elif choice == "outbox":
            from tuiclient.screens.outbox import OutboxScreen

            main = self.main_screen()
            if main is not None and not isinstance(self.screen, OutboxScreen):
                main.action_outbox()

    def _auto_away_send(self, job: Awaitable[object]) -> None:
        self.run_worker(job, name="auto-away", group="auto-away")

    def _auto_away_timer(self) -> None:
        """The idle check, as often as [chat] auto_away/auto_xa need (none: off)."""
        if self._idle_timer is not None:
            self._idle_timer.stop()
            self._idle_timer = None
        if self.config.chat.auto_away or self.config.chat.auto_xa:
            self._idle_timer = self.set_interval(self.auto_away.interval,
                                                 self.auto_away.check, name="auto-away")

    def on_app_blur(self) -> None:
        """The terminal lost focus: the chat servers may hold back what is not
        urgent (XEP-0352) until it is back."""
        self.engine.client_state(False)

    def on_app_focus(self) -> None:
        self.engine.client_state(True)

    def tell_clashes(self) -> None:
        """Keys of [keys] bound to two actions in one place, each with its file:line."""
        for clash in clashes(self.config.keys):
            text = clash.describe(self.config.key_origins)
            log.warning("%s", text)
            self.notify(text, title="Key bindings", severity="warning", markup=False,
                        timeout=15)

    def show_bound_keys(self) -> None:
        """Hints that name a key say the key as bound (the config's [keys]); the
        footers follow the keymap by themselves."""
        key = shown('reply_im', self.config.keys)
        for screen in self.screen_stack:
            for view in screen.query(ChatView):
                view.reply_key = key

    def reload_config(self) -> None:
        """Read the config file again (`:reload`, the palette, SIGHUP). The keys
        and the notifications change at once; a changed account or server waits
        for a restart, and the toast says so. A config that does not load is
        shown (file:line: what is wrong) and the app goes on with the one it had."""
        try:
            config = load_config(self.config.path)
        except (ConfigError, OSError) as exc:
            self.notify(f"{exc}. The config in use is unchanged: fix the file and "
                        "reload again.", title="Config not reloaded", severity="error",
                        markup=False, timeout=20)
            return
        restart = config.accounts != self.config.accounts
        self.config = config
        self.set_keymap(keymap(config.keys))
        self.notifier.policy = config.notify
        self.auto_away.policy = config.chat
        self._auto_away_timer()
        set_hyperlinks(hyperlinks(config.notify.hyperlinks, self.notifier.terminal))
        self.show_bound_keys()
        self.tell_clashes()
        self.notify("Keys and notifications apply now" + (
            "; the changed accounts and servers after a restart." if restart else "."),
            title="Config reloaded", markup=False)

    async def on_unmount(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self.start_engine:
            await self.engine.stop()
        self.engine.close()

    def _fatal_error(self) -> None:
        """Exit after an unhandled exception: Textual's own, but without locals.

        Textual prints the traceback with every frame's local variables
        (`show_locals=True`), and ours hold what must not reach a terminal, a
        scrollback or a pasted bug report: passwords (a password_command's output,
        the logins of IMAP, SMTP and XMPP) and other people's messages. The rest is
        as Textual does it (textual 8.2, App._fatal_error).
        """
        import rich
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        traceback = Traceback(show_locals=False, width=None, suppress=[rich])
        self._exit_renderables.append(
            Segments(self.console.render(traceback, self.console.options)))
        self._close_messages_no_wait()

    def probe(self) -> None:
        """Probe every server now, in a worker; the reports come back as events."""
        # The method, not a coroutine: a probe cancelled by the next before it began
        # leaves no coroutine never awaited.
        probe: Callable[[], Coroutine[Any, Any, Any]] = self._probe
        self.run_worker(probe, name="probe", group="probe", exclusive=True)

    async def _probe(self) -> None:
        try:
            await self.engine.health.probe()
        except Exception:  # a probe that breaks must not take the app down
            log.exception("health probe failed")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        if main is None:
            return
        yield SystemCommand("Outbox", "Deferred and waiting messages", main.action_outbox)
        yield SystemCommand("Search", "Search mail and chat", main.action_search)
        yield SystemCommand("Servers", "Server health and sync", main.action_health)
        yield SystemCommand("Help: keys", "Every key binding", main.action_help)
        yield SystemCommand("New message", "Write by email or IM", main.action_compose)
        yield SystemCommand("Sync now", "Check every account now", main.action_refresh)
        # And every command of the `:` line, so the palette lists every action.
        line = commands(main)
        for c in line.values():
            yield SystemCommand(f":{c.name}", c.description, partial(c.run, []))
        # What the sidebar offers, by name: presence, each folder, each contact.
        if "status" in line:
            for show, words in (("online", "available"), ("away", "away"),
                                ("dnd", "busy (do not disturb)")):
                yield SystemCommand(f"Presence: {words}", f"Set your chat presence ({show})",
                                    partial(line["status"].run, [show]))
        for row in main.overview.account_rows:
            for folder in row.folders:
                yield SystemCommand(f"Folder: {folder.name} ({row.name})",
                                    "Open the folder as a list to read and triage in",
                                    partial(main.show_folder, row.name, folder.name))
        for contact in main.overview.contacts:
            yield SystemCommand(f"Contact: {contact.name or contact.address}",
                                f"The conversation with {contact.address}",
                                partial(main.post_message,
                                        Sidebar.Chosen("contact", (contact.address,))))
        for account in self.engine.accounts:
            for room in self.engine.joined_rooms(account.name) if account.jid else ():
                yield SystemCommand(f"Room: {room}", "The group chat you are in",
                                    partial(self._open_room, main, account.name, room))

    def _open_room(self, main: MainScreen, account: str, room: str) -> None:
        if main.chatting.open_room(account, room):
            main.show_pane("chat")

    # -- events -------------------------------------------------------------------------

    def on_engine_events(self, message: EngineEvents) -> None:
        for event in self.feed.take(message):
            self.note(event)
        self.count_unread_soon()
        for screen in self.screen_stack:
            screen.post_message(message.forward())

    def note(self, event: Event) -> None:
        """What the app keeps of an event (server health, sync progress), and its toast."""
        key = key_of(event)
        if key is not None:
            before = self.health.get(key)
            after = fold(before, event)
            if after is not None:
                self.health[key] = after
                self.toast_health(before, after)
        elif isinstance(event, SyncProgress):
            # A full pass ends with a "done" event; a resync (new mail told by IDLE)
            # ends when it stored all it had, and tells nothing more.
            done = event.phase == "done" or (event.phase == "resync"
                                             and event.done >= event.total)
            self.sync_state[event.account] = (
                f"synced {event.folder}" if done else
                f"sync {event.folder} {event.done}/{event.total}")
        self.toast(event)

    def toast(self, event: Event) -> None:
        """New messages (gathered, see `tuiclient.notify`), every deferral retry,
        deliveries and failures, in plain words."""
        if isinstance(event, MessageReceived):
            if event.direction == "in" and event.source == "live":
                key = (event.account, event.thread_id)
                if self.reading(key):
                    return
                try:
                    text = self.engine.message(event.row_id).text
                except EngineError:
                    text = ""
                address, _, nick = event.sender.partition("/")
                room = self.engine.room_conversations(event.account).get(key)
                if room is not None:  # a room's line: told as the room's, by its speaker
                    sender = self.contact_names.get(address.lower()) or nick or \
                        address.partition("@")[0]
                    ours = self.engine.room_nick(event.account, room[0])
                    self.notifier.chat_line(key, sender, text, room=room[1],
                                            mention=bool(ours) and nick != ours
                                            and mentions(text, ours))
                    return
                sender = self.contact_names.get(address.lower(), address)
                self.notifier.chat_line(key, sender, text)
        elif isinstance(event, FolderChanged):
            if event.new and event.folder.upper() == "INBOX" and self._started:
                self.notifier.new_mail(event.account, event.new)
        elif isinstance(event, DeferralRetry):
            # Counted as the outbox's table and log count (tuiclient.wording).
            item = self.engine.outbox_item(event.outbox_id)
            count = times_tried(item) if item is not None else event.attempt
            to = ", ".join(p.address for p in item.parties) if item is not None else ""
            self.notify(f"{'To ' + to + ': ' if to else ''}{inert_text(event.outcome)}; "
                        f"{tries(count, event.next_in)}.", title="Deferred message",
                        markup=False)
        elif isinstance(event, OutboxChanged):
            words = OUTBOX_WORDS.get(event.state)
            if event.state == "fell-back-to-email" and any(self._thread_of(event)):
                self._fell_back.add(self._thread_of(event))
            if words is not None and event.outbox_id not in self.told_outbox:
                detail = f": {plain(inert_text(event.detail))}" if event.detail else ""
                self.notify(f"{words}{detail}", title="Outbox", markup=False,
                            severity="error" if event.state == "failed" else "information")
        elif isinstance(event, DeliveryChanged):
            # Delivered and read are the line's ticks (✓✓) in its timeline and the
            # outbox: a toast for each line sent would be noise (Profanity, Gajim and
            # Dino show none). A failure is told.
            if event.state == "failed":
                detail = f": {plain(inert_text(event.detail))}" if event.detail else ""
                self.notify(f"Chat message {DELIVERY_WORDS[event.state]}{detail}",
                            title="Delivery", markup=False, severity="error")
        elif isinstance(event, EmailDelivery) and event.state in ("sent", "failed"):
            key = self._thread_of(event) if event.state == "sent" else ("", "")
            if key in self._fell_back:  # "Sent by email instead" said it already
                self._fell_back.discard(key)
                return
            detail = f": {plain(inert_text(event.detail))}" if event.detail else ""
            self.notify(f"Email {DELIVERY_WORDS[event.state]}{detail}", title="Delivery",
                        markup=False,
                        severity="error" if event.state == "failed" else "information")

    def _thread_of(self, event: OutboxChanged | EmailDelivery) -> tuple[str, str]:
        """The conversation of an outbox row's message ("" when it is gone)."""
        item = self.engine.outbox_item(event.outbox_id) if event.outbox_id else None
        m = self.engine.outbox_message(item) if item is not None else None
        return (m.account, m.thread_id) if m is not None else ("", "")

    def reading(self, key: tuple[str, str]) -> bool:
        """Whether the conversation is on the screen now (its lines need no toast)."""
        main = self.main_screen()
        return main is not None and self.screen is main and main.open_key == key \
            and main.opened.on_screen()

    def main_screen(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def action_toggle_mute(self, key: tuple[str, str], name: str) -> None:
        muted = self.notifier.toggle_mute(key)
        self.notify(f"{'Muted' if muted else 'Unmuted'}: {inert_text(name)}",
                    title="Notifications", markup=False, timeout=3)

    def _count_unread(self) -> None:
        """The terminal title's count: conversations with something unread."""
        self._title_timer = None
        try:
            rows = self.engine.conversations(None, limit=1000)
        except Exception:  # the store closing under us at exit
            return
        self.notifier.title(sum(1 for t in rows if t.unread_count))

    def count_unread_soon(self) -> None:
        if self._title_timer is None:
            self._title_timer = self.set_timer(0.5, self._count_unread)

    def toast_health(self, before: ServerHealth | None, after: ServerHealth) -> None:
        """A server that fails, once (not on every retry or probe), and its return."""
        name = f"{after.account} {after.service}"
        if not after.ok and (before is None or before.ok):
            self.notify(f"{name}: {inert_text(after.detail)}", title="Server",
                        severity="error", markup=False)
        elif after.ok and before is not None and not before.ok:
            self.notify(f"{name}: back", title="Server", markup=False)
