"""The open conversation's timeline: every message of the thread, both
transports, oldest first, each marked by transport and delivery state."""

from __future__ import annotations

import time

from rich.console import Group
from rich.padding import Padding
from rich.text import Text
from textual.message import Message as TMessage
from textual.reactive import var
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from bridge.handoff import HISTORY_HEAD, TRANSCRIPT_HEAD
from bridge.model import Direction, Message, Transport
from tuiclient.format import (
    Clock,
    delivery_mark,
    flag_mark,
    one_line,
    reflow,
    safe,
    short_date,
    transport_mark,
    who,
)
from tuiclient.keys import bind
from tuiclient.people import Directory


class Chosen(TMessage):
    """The user moved to a message of the open conversation."""

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message


def opening(text: str, enough: int = 40) -> str:
    """An email's first words on one line: its first paragraph, and the next ones
    while that is only a greeting ("Bob,")."""
    out = ""
    for para in safe(text).split("\n\n"):
        line = one_line(para)
        if not line or line.startswith(">"):
            continue
        out = f"{out} {line}" if out else line
        if len(out) >= enough:
            break
    return out[:160]


def message_text(m: Message) -> Text:
    """A message's words, with carried-over history set apart from new text. An
    email's hard-wrapped paragraphs are joined again (`reflow`), for the pane to
    wrap to its width; the store keeps the text as it came."""
    body = safe(m.text).rstrip()
    out = Text()
    if body.startswith((HISTORY_HEAD, TRANSCRIPT_HEAD)):
        out.append(body, style="dim italic")
        return out
    email = m.transport is Transport.EMAIL and not m.malformed  # raw stays raw
    for marker in (f"\n{TRANSCRIPT_HEAD}", f"\n{HISTORY_HEAD}"):
        at = body.find(marker)
        if at >= 0:
            words = body[:at].rstrip()
            out.append(reflow(words) if email else words)
            out.append("\n\n")
            out.append(body[at + 1:], style="dim italic")
            return out
    if email:
        body = reflow(body)
    for line in body.split("\n"):
        out.append(line + "\n", style="dim" if line.startswith(">") else "")
    out.rstrip()
    return out


class Timeline(OptionList):
    """Every message of the thread, oldest first, one option each."""

    BINDINGS = [
        bind("down", "cursor_down", show=False),
        bind("up", "cursor_up", show=False),
        bind("top", "first", show=False),
        bind("bottom", "last", show=False),
    ]

    # Names for senders without one; read as lines are drawn (no redraw of its own).
    directory: var[Directory] = var(Directory)

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.messages: list[Message] = []

    def show(self, messages: list[Message], select: int | None) -> None:
        self.messages = messages
        self.clear_options()
        self.add_options([Option(self.line(m), id=str(m.id)) for m in messages])
        if messages:
            self.highlighted = select if select is not None else len(messages) - 1

    def update_message(self, m: Message) -> None:
        for i, old in enumerate(self.messages):
            if old.id == m.id:
                self.messages[i] = m
                self.replace_option_prompt_at_index(i, self.line(m))
                return

    def line(self, m: Message) -> Group:
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f"{short_date(m.date, self.clock())} ", style="dim")
        head.append_text(transport_mark(m.transport))
        head.append(" ")
        head.append(who(m, self.directory.names), style="bold" if m.unread else "")
        if m.direction is Direction.OUT:
            head.append(" (you)", style="dim")
        for mark in (delivery_mark(m), flag_mark(m)):
            if mark:
                head.append("  ")
                head.append_text(mark)
        if m.attachments:
            head.append(f"  +{len(m.attachments)} file{'s' * (len(m.attachments) > 1)}",
                        style="magenta")
        if m.transport is Transport.EMAIL:
            body = Text(one_line(m.subject) or "(no subject)", style="italic")
            first = opening(m.text)
            if first:
                body.append("\n" + first, style="dim")
        else:
            body = message_text(m)
        # Indented as a block, so that wrapped lines stay under the first one.
        return Group(head, Padding(body, (0, 0, 0, 2)), Text(""))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        index = event.option_index
        if 0 <= index < len(self.messages):
            self.post_message(Chosen(self.messages[index]))

    @property
    def current(self) -> Message | None:
        h = self.highlighted
        if h is not None and 0 <= h < len(self.messages):
            return self.messages[h]
        return None
