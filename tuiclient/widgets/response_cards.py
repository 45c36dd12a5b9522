"""The response cards beside the email view: what the message shown there got
after it (email replies, chat lines), newest last, each answerable."""

from __future__ import annotations

import time

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message as TMessage
from textual.reactive import var
from textual.widgets import Static

from bridge.handoff import HISTORY_HEAD, TRANSCRIPT_HEAD
from bridge.model import Message, Transport
from tuiclient.format import Clock, delivery_mark, one_line, safe, short_date, transport_mark, who
from tuiclient.keys import bind, moving
from tuiclient.people import Directory


class ReplyTo(TMessage):
    """Reply to this message: via "email" or "im", to all or to its sender."""

    def __init__(self, message: Message, via: str, reply_all: bool = False) -> None:
        super().__init__()
        self.message = message
        self.via = via
        self.reply_all = reply_all


def responses_to(m: Message, thread: list[Message]) -> list[Message]:
    """What a message got after it in its thread: replies by email, chat lines."""
    if m.transport is not Transport.EMAIL:
        return []
    return [x for x in thread if (x.date, x.id or 0) > (m.date, m.id or 0)]


class ResponseCard(Static, can_focus=True):
    """One response to the open email: author, transport, time, words."""

    BINDINGS = [
        bind("reply_email", "reply('email')", label="reply by email"),
        bind("reply_im", "reply('im')", label="reply by IM"),
        Binding("e", "reply('email')", "email them", show=False),
        *moving("step(1)", "step(-1)", "step(-1000)", "step(1000)"),
    ]

    def __init__(self, message: Message, clock: Clock,
                 directory: Directory | None = None) -> None:
        super().__init__(markup=False, classes="card")
        self.message = message
        self.clock = clock
        self.directory = directory or Directory()

    def on_mount(self) -> None:
        m = self.message
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append_text(transport_mark(m.transport))
        head.append(" ")
        head.append(who(m, self.directory.names), style="bold")
        head.append(f"  {short_date(m.date, self.clock())}", style="dim")
        mark = delivery_mark(m)
        if mark:
            head.append("  ")
            head.append_text(mark)
        words = safe(m.text).strip()
        if words.startswith((HISTORY_HEAD, TRANSCRIPT_HEAD)):
            # Carried-over history repeats what is on the left: its heading says enough.
            self.update(Group(head, Text(one_line(words.split("\n", 1)[0]).strip("─ "),
                                         style="dim italic")))
            return
        if m.transport is Transport.EMAIL:
            words = words.split("\n\n>", 1)[0] or one_line(m.subject)
        lines = [ln for ln in words.split("\n") if ln.strip() and not ln.startswith(">")]
        body = Text("\n".join(lines[:4]) + (" …" if len(lines) > 4 else ""))
        self.update(Group(head, body))

    def action_step(self, by: int) -> None:
        """j/k/g/G: the next, previous, first or last card."""
        cards = list(self.parent.query(ResponseCard)) if self.parent else [self]
        at = max(0, min(cards.index(self) + by, len(cards) - 1))
        cards[at].focus()
        cards[at].scroll_visible()

    def action_reply(self, via: str) -> None:
        self.post_message(ReplyTo(self.message, via))


class ResponseCards(VerticalScroll, can_focus=False):
    """The responses a message got: later messages of its thread, newest last."""

    directory: var[Directory] = var(Directory)

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock

    def show(self, responses: list[Message]) -> None:
        self.remove_children()
        if responses:
            n = len(responses)
            self.border_title = f"{n} response{'s' * (n != 1)}"
            self.mount_all([ResponseCard(m, self.clock, self.directory) for m in responses])
        self.display = bool(responses)
