"""Telling the user of new mail and chat: toasts in the app, and outside it.

New messages are gathered while they keep coming (until `DELAY` passes without
one, at most `MAX_WAIT`) and told once per conversation:
a burst of sixty chat lines from Bob is one toast, "60 new lines from Bob", not
sixty. A conversation being read tells nothing (its lines are on the screen), and
a muted one never does, except a room's line that mentions our nick: that is
what a muted room still tells (Profanity's "notify on mention" for a room), and
a mention's toast stands out (its own title, "bob mentioned you in Den", and a
warning's colour), the line that names us its words.

Outside the app, each flush (not each message) may:
- ring the terminal bell (`[notify] bell`, on by default);
- show a desktop notification: the freedesktop notification service over D-Bus
  through `notify-send` (libnotify's own client; when a session bus is there),
  or the terminal's own escape, OSC 777 (foot, kitty, WezTerm, urxvt) or OSC 9
  (iTerm2, Windows Terminal), as `[notify] desktop` says ("auto": D-Bus where
  there is a session bus, else the escape the terminal is known to take,
  `tuiclient.terminal`);
- run `[notify] notify_command` with three arguments: the kind ("chat" or
  "mail"), the sender and the summary. Never through a shell: remote text is an
  argument and nothing more.
The terminal's title carries the unread count (OSC 2), as mutt's and aerc's do.

Every remote word that leaves here goes through `inert_text` first, and the
escapes get none of the characters that end or split their payload.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.app import App
from textual.timer import Timer

from bridge.config import NotifyPolicy
from bridge.paths import ensure_private_dir
from bridge.safe import inert_text
from tuiclient.terminal import Terminal, desktop_escape, detect

log = logging.getLogger(__name__)

DELAY = 0.5  # a burst is told once it has been quiet this long (seconds) ...
# ... or this long after its first message, whichever comes first: the cap is for
# a stream that never goes quiet, never the end of a burst. (It was 3 s: sixty
# lines sent at once take longer than that to come in on a busy machine, and
# were told as two toasts.)
MAX_WAIT = 10.0
COMMAND_TIMEOUT = 10.0
Key = tuple[str, str]  # (account, thread_id)

_UNSAFE_IN_ESCAPE = re.compile(r"[\x00-\x1f\x7f-\x9f;]")


def escape_text(text: str, limit: int = 200) -> str:
    """Remote text made fit for a terminal escape's payload: inert, one line,
    without `;` (OSC 777's field separator) or any control character."""
    return _UNSAFE_IN_ESCAPE.sub(" ", inert_text(text))[:limit].strip()


def markup_escape(text: str) -> str:
    """The body of a freedesktop notification may be markup (`<b>`, `<a href>`)
    where the server says so: remote text is escaped to stay text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Pending:
    """What gathered for one conversation (or one account's inbox) since the last flush."""

    kind: str  # chat | mail
    sender: str
    count: int = 0
    last: str = ""  # the newest line's words, shown when it is one line
    room: str = ""  # a group chat's line: the room's name (`sender` the speaker)
    mention: str = ""  # the newest line that mentions us, its words
    mentioner: str = ""  # and who said it

    def summary(self) -> str:
        if self.kind == "mail":
            return f"{self.count} new email{'s' * (self.count != 1)} in {self.sender}"
        if self.mention:
            if self.count == 1:
                return self.mention
            return f"{self.count} new lines in {self.room}; you were named: {self.mention}"
        if self.count == 1:
            return self.last or "(no text)"
        if self.room:
            return f"{self.count} new lines in {self.room}"
        return f"{self.count} new lines from {self.sender}"

    def title(self) -> str:
        if self.kind == "mail":
            return "Mail"
        if self.mention:
            return f"{self.mentioner} mentioned you in {self.room}"
        return f"{self.sender} in {self.room}" if self.room else f"Chat from {self.sender}"


@dataclass
class Notifier:
    host: App[Any]  # toasts, the bell, timers and workers
    policy: NotifyPolicy = field(default_factory=NotifyPolicy)
    write: Callable[[str], None] | None = None  # to the terminal (None: headless)
    muted: set[Key] = field(default_factory=set)
    pending: dict[Key, Pending] = field(default_factory=dict)
    told: list[tuple[str, str, str]] = field(default_factory=list)  # kind, sender, summary
    clock: Callable[[], float] = time.monotonic
    muted_file: Path | None = None  # where the mutes are kept across runs (data dir)
    terminal: Terminal = field(default_factory=detect)  # what its escapes reach
    _timer: Timer | None = None
    _first: float = 0.0  # when the burst being gathered began
    _title: str = ""

    def __post_init__(self) -> None:
        if self.muted_file is not None:
            try:
                rows = json.loads(self.muted_file.read_text())
                self.muted |= {(str(a), str(t)) for a, t in rows}
            except (OSError, ValueError, TypeError):
                pass  # none yet, or unreadable: nothing muted

    # -- in ---------------------------------------------------------------------

    def toggle_mute(self, key: Key) -> bool:
        """Mute the conversation, or unmute it; True when it is muted now. Kept in
        `muted_file` (this machine's choice, like a window's size: not synced)."""
        now = key not in self.muted
        if now:
            self.muted.add(key)
            self.pending.pop(key, None)
        else:
            self.muted.discard(key)
        if self.muted_file is not None:
            try:
                ensure_private_dir(self.muted_file.parent)
                self.muted_file.write_text(json.dumps(sorted(self.muted)))
            except OSError as exc:
                log.warning("notify: cannot keep the mutes in %s: %s", self.muted_file, exc)
        return now

    def chat_line(self, key: Key, sender: str, text: str, room: str = "",
                  mention: bool = False) -> None:
        """A line came in conversation `key`: from `sender`, or in a group chat
        (`room`, its name) by `sender`, the newest speaker; `mention`: the line
        names our nick there (told even when the room is muted)."""
        if key in self.muted and not mention:
            return
        p = self.pending.setdefault(key, Pending("chat", inert_text(sender),
                                                 room=inert_text(room)))
        p.sender = inert_text(sender)
        p.count += 1
        p.last = " ".join(inert_text(text).split())[:120]
        if mention:
            p.mention, p.mentioner = p.last, p.sender
        self._soon()

    def new_mail(self, account: str, count: int) -> None:
        p = self.pending.setdefault(("", "mail:" + account), Pending("mail", inert_text(account)))
        p.count += count
        self._soon()

    def forget(self, key: Key) -> None:
        """The conversation came into view: what gathered for it is seen."""
        self.pending.pop(key, None)

    def _soon(self) -> None:
        now = self.clock()
        if self._timer is None:
            self._first = now
        else:
            self._timer.stop()
        wait = min(DELAY, self._first + MAX_WAIT - now)
        if wait <= 0:
            # Past the cap: told now. (Not a timer of 0 s: Textual's timer divides
            # by its interval, and a dead timer here silenced every toast after.)
            self.flush()
            return
        self._timer = self.host.set_timer(wait, self.flush)

    # -- out --------------------------------------------------------------------

    def flush(self) -> None:
        self._timer = None
        pending, self.pending = self.pending, {}
        if not pending:
            return
        for p in pending.values():
            self.host.notify(p.summary(), title=p.title(), markup=False,
                             severity="warning" if p.mention else "information")
            self.told.append((p.kind, p.sender, p.summary()))
        if self.policy.bell:
            self.host.bell()
        newest = next((p for p in reversed(pending.values()) if p.mention),
                      list(pending.values())[-1])
        self.desktop(newest)
        if self.policy.command:
            for p in pending.values():
                self.host.run_worker(self._run_command(p), group="notify-command")

    def desktop(self, p: Pending) -> None:
        how = desktop_escape(self.policy.desktop, self.terminal,
                             self.policy.desktop == "auto" and dbus_available())
        title, body = escape_text(p.title(), 80), escape_text(p.summary())
        if how == "dbus":
            self.host.run_worker(self._notify_send(title, body), group="notify-desktop")
        elif how == "osc777" and self.write is not None:
            self.write(f"\x1b]777;notify;{title};{body}\x07")
        elif how == "osc9" and self.write is not None:
            self.write(f"\x1b]9;{title}: {body}\x07")

    async def _notify_send(self, title: str, body: str) -> None:
        await run_quietly(["notify-send", "--app-name=tuiclient", "--", title,
                           markup_escape(body)])

    async def _run_command(self, p: Pending) -> None:
        await run_quietly([*self.policy.command, p.kind, p.sender, p.summary()])

    def title(self, unread: int) -> None:
        """The terminal's title: the app's name and how many conversations are unread."""
        text = f"tuiclient ({unread} unread)" if unread else "tuiclient"
        if text != self._title and self.write is not None:
            self._title = text
            self.write(f"\x1b]2;{text}\x07")


def dbus_available() -> bool:
    """A session bus to reach the notification service on, and libnotify's client."""
    return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")) and \
        shutil.which("notify-send") is not None


async def run_quietly(argv: list[str]) -> None:
    """Run `argv` (no shell), its output dropped, killed after COMMAND_TIMEOUT;
    a command that fails is logged, never raised into the app."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
    except OSError as exc:
        log.warning("notify: cannot run %s: %s", argv[0], exc)
        return
    try:
        await asyncio.wait_for(proc.wait(), COMMAND_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("notify: %s took longer than %ss", argv[0], COMMAND_TIMEOUT)
