"""The open conversation: the email view, the response cards, the chat view.

The chat view is the one timeline of the thread (both transports, each line
marked by transport and delivery state) with the inline chat reply under it;
the email view shows the message chosen there in full; the cards beside it are
the responses that message already got, newest last.
"""

from __future__ import annotations

import time

from rich.console import Group
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.message import Message as TMessage
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from bridge.handoff import HISTORY_HEAD, TRANSCRIPT_HEAD
from bridge.model import Direction, Message, Party, Transport
from tuiclient.format import (
    Clock,
    delivery_mark,
    flag_mark,
    long_date,
    one_line,
    reflow,
    safe,
    short_date,
    size,
    transport_mark,
    who,
)
from tuiclient.keys import bind


class Chosen(TMessage):
    """The user moved to a message of the open conversation."""

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message


class ReplyTo(TMessage):
    """Reply to this message: via "email" or "im", to all or to its sender."""

    def __init__(self, message: Message, via: str, reply_all: bool = False) -> None:
        super().__init__()
        self.message = message
        self.via = via
        self.reply_all = reply_all


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


def names(widget: Widget) -> dict[str, str]:
    """The contacts' names by address (the app keeps them from the sidebar)."""
    return getattr(widget.app, "contact_names", {})


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
        head.append(who(m, names(self)), style="bold" if m.unread else "")
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


class ChatReply(Input):
    """The inline chat reply: Enter sends, Escape leaves."""

    BINDINGS = [Binding("escape", "leave", "leave", show=False),
                Binding("ctrl+o", "options", "reply options")]

    class Send(TMessage):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Leave(TMessage):
        pass

    class Options(TMessage):
        pass

    async def action_submit(self) -> None:
        if self.value.strip():
            self.post_message(self.Send(self.value))

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def action_options(self) -> None:
        self.post_message(self.Options())


class ChatView(Vertical):
    """The timeline and, under it, the inline reply line."""

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield Label("Conversation", id="chat-title", markup=False)
        yield Timeline(clock=self.clock, id="timeline")
        yield Label("", id="reply-target", markup=False)
        yield ChatReply(placeholder="press i to reply by IM", id="chat-input")

    def set_title(self, text: str) -> None:
        self.query_one("#chat-title", Label).update(Text(text, style="bold"))

    def set_target(self, text: Text | str) -> None:
        label = self.query_one("#reply-target", Label)
        label.update(text)
        label.display = bool(text)


class EmailView(VerticalScroll):
    """One message in full: headers, body, files."""

    shown: Message | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="email-head", markup=False)
        yield Static(id="email-body", markup=False)

    def show(self, m: Message | None, note: str = "") -> None:
        head = self.query_one("#email-head", Static)
        body = self.query_one("#email-body", Static)
        self.shown = m
        if m is None:
            head.update(Text("No conversation open", style="dim"))
            body.update(Text("Choose one in the list and press Enter.", style="dim"))
            return
        self.show_head(m)
        if note:
            body.update(Text(note, style="dim italic"))
        elif m.malformed:
            body.update(Text("(malformed message, shown raw)\n\n", style="red")
                        + message_text(m))
        else:
            body.update(message_text(m) if m.text else Text("(no text)", style="dim"))
        self.scroll_home(animate=False)

    def show_head(self, m: Message) -> None:
        """The headers and marks alone (after F or N), the body as it is."""
        if self.shown is not None and self.shown.id != m.id:
            return
        t = Text()
        t.append_text(transport_mark(m.transport))
        t.append(" " + ("email" if m.transport is Transport.EMAIL else "chat"), style="dim")
        if m.unread:
            t.append("  ● unread", style="bold")
        for mark in (delivery_mark(m), flag_mark(m)):
            if mark:
                t.append("  ")
                t.append_text(mark)
        t.append("\nFrom: ", style="bold")
        t.append(who(m, names(self)))
        if m.sender.name:
            t.append(f" <{one_line(m.sender.address)}>", style="dim")
        to = [p for p in m.recipients if p.role in ("to", "occupant")]
        cc = [p for p in m.recipients if p.role == "cc"]
        for label, parties in (("To", to), ("Cc", cc)):
            if parties:
                t.append(f"\n{label}: ", style="bold")
                t.append(", ".join(dict.fromkeys(self.party(m, p) for p in parties)))
        if one_line(m.subject) or m.transport is Transport.EMAIL:
            t.append("\nSubject: ", style="bold")
            t.append(one_line(m.subject) or "(no subject)")
        t.append("\nDate: ", style="bold")
        t.append(long_date(m.date))
        for a in m.attachments:
            t.append("\n+ ", style="magenta")
            t.append(one_line(a.filename), style="magenta")
            t.append(f"  {size(a.size)}", style="dim")
        self.query_one("#email-head", Static).update(t)


    def party(self, m: Message, p: Party) -> str:
        """A recipient as the user knows them: a name, "you" (the account's name),
        or for a group chat's room (a JID like thread-…@conference) its people."""
        address = one_line(p.address).split("/", 1)[0].lower()
        engine = getattr(self.app, "engine", None)
        accounts = engine.accounts if engine is not None else ()
        mine = next((a for a in accounts if address in {
            (x or "").lower() for x in (a.email, a.jid)}), None)
        if mine is not None:
            return one_line(p.name) or one_line(mine.display_name) or "you"
        if m.transport is Transport.XMPP and address in self.rooms(m):
            people = self.room_people(m, address, accounts)
            if people:
                return f"the group chat with {', '.join(people)}"
            # Nobody else there yet (invited, not joined): a room made for a thread
            # carries its subject as its name.
            subject = next((one_line(x.subject) for x in getattr(self.screen, "messages", [])
                            if x.thread_id == m.thread_id and one_line(x.subject)), "")
            return f"the group chat “{subject}”" if subject else "the group chat"
        return one_line(p.name) or one_line(names(self).get(address)) or one_line(p.address)

    def rooms(self, m: Message) -> set[str]:
        """The group chats (rooms) among a chat line's addresses: those the account
        is in, and those its thread's incoming lines were sent to (a line to us
        comes to our own JID; one through a room names the room)."""
        engine = getattr(self.app, "engine", None)
        client = getattr(engine, "xmpp", {}).get(m.account) if engine is not None else None
        rooms: set[str] = set()
        if client is not None:
            rooms.update(r.lower() for r in (*client.rooms(), *client.state.rooms))
        mine = {(x or "").lower() for a in (engine.accounts if engine is not None else ())
                for x in (a.email, a.jid)}
        for x in [m, *getattr(self.screen, "messages", [])]:
            if x.transport is Transport.XMPP and x.direction is Direction.IN \
                    and x.thread_id == m.thread_id:
                rooms.update(a for p in x.recipients if p.role in ("to", "occupant")
                             and (a := one_line(p.address).split("/", 1)[0].lower())
                             not in mine)
        return rooms

    def room_people(self, m: Message, room: str, accounts) -> list[str]:
        """Who is in a group chat, by name, but the user: its occupants (when
        online) and whoever wrote in it in this thread."""
        mine = {(x or "").lower() for a in accounts for x in (a.email, a.jid)}
        known = names(self)
        people: list[str] = []
        engine = getattr(self.app, "engine", None)
        client = getattr(engine, "xmpp", {}).get(m.account) if engine is not None else None
        found: list[tuple[str, str]] = []  # (bare JID or "", nick or name)
        if client is not None:
            found += [((o.jid or "").split("/", 1)[0].lower(), o.nick)
                      for o in client.occupants(room)]
        for x in [*getattr(self.screen, "messages", []), m]:
            if x.transport is Transport.XMPP and x.direction is Direction.IN \
                    and x.thread_id == m.thread_id and any(
                    one_line(p.address).split("/", 1)[0].lower() == room
                    for p in x.recipients):
                address = one_line(x.sender.address).split("/", 1)[0].lower()
                found.append(("" if address == room else address, x.sender.name or ""))
        for address, nick in found:
            if address in mine:
                continue
            name = one_line(known.get(address)) or one_line(nick) or address
            if name and name not in people:
                people.append(name)
        return people


class ResponseCard(Static, can_focus=True):
    """One response to the open email: author, transport, time, words."""

    BINDINGS = [
        bind("reply_email", "reply('email')", label="reply by email"),
        bind("reply_im", "reply('im')", label="reply by IM"),
        Binding("e", "reply('email')", "email them", show=False),
    ]

    def __init__(self, message: Message, clock: Clock) -> None:
        super().__init__(markup=False, classes="card")
        self.message = message
        self.clock = clock

    def on_mount(self) -> None:
        m = self.message
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append_text(transport_mark(m.transport))
        head.append(" ")
        head.append(who(m, names(self)), style="bold")
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

    def action_reply(self, via: str) -> None:
        self.post_message(ReplyTo(self.message, via))


class ResponseCards(VerticalScroll, can_focus=False):
    """The responses a message got: later messages of its thread, newest last."""

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock

    def show(self, responses: list[Message]) -> None:
        self.remove_children()
        if responses:
            n = len(responses)
            self.mount(Label(f"{n} response{'s' * (n != 1)}", classes="cards-title"))
            self.mount_all([ResponseCard(m, self.clock) for m in responses])
        self.display = bool(responses)


class ConversationPane(Widget):
    """Email view and cards on the left, chat view on the right."""

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock

    def compose(self) -> ComposeResult:
        with Container(id="message-pane"):
            yield EmailView(id="email-view")
            yield ResponseCards(clock=self.clock, id="cards")
        yield ChatView(clock=self.clock, id="chat-view")
