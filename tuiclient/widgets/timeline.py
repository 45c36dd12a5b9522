"""The open conversation's timeline: every message of the thread, both
transports, oldest first, each marked by transport and delivery state.

Chat lines show what happened to them after they came: a correction's text in
place, marked "edited" (XEP-0308); "message retracted" where the sender took
it back (XEP-0424); the reactions under the line, each emoji with who sent it
(XEP-0444); a reply with the line it answers quoted above it (XEP-0461); a
`/me` line as an action, "* bob waves" (XEP-0245); and
message styling (XEP-0393, `tuiclient.styling`).

In a room, what happened between its lines (joins, leaves, kicks, nick and topic
changes: `room_lines`) is drawn dim with the line it came before (after the
last line, under it), so every option is still one message; our own lines are
named by our nick there, and a line that mentions our nick stands out.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping, Sequence

from rich.console import Group
from rich.padding import Padding
from rich.style import Style
from rich.text import Text
from textual.message import Message as TMessage
from textual.reactive import var
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from bridge.events import RoomHappened
from bridge.handoff import HISTORY_HEAD, TRANSCRIPT_HEAD
from bridge.model import Direction, Message, Transport
from bridge.store import Reaction
from tuiclient.format import (
    Clock,
    delivery_mark,
    draft_mark,
    flag_mark,
    one_line,
    reflow,
    safe,
    short_date,
    transport_mark,
    who,
)
from tuiclient.keys import bind
from tuiclient.links import linked
from tuiclient.people import Directory, bare
from tuiclient.styling import styled
from tuiclient.widgets.room_lines import event_lines, mention_pattern


class Chosen(TMessage):
    """The user moved to a message of the open conversation."""

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message


def opening(text: str, enough: int = 40) -> str:
    """An email's first words on one line: its first paragraph, and the next ones
    while that is only a greeting ("Bob,"). Quoted lines are not its words, nor the
    line introducing them ("On Fri, … Carol wrote:"), in the paragraph or before it."""
    out = ""
    paras = safe(text).split("\n\n")
    for n, para in enumerate(paras):
        lines = para.split("\n")
        after = [*lines[1:], *(paras[n + 1].lstrip().split("\n", 1)[:1]
                               if n + 1 < len(paras) else [""])]
        line = one_line("\n".join(
            x for x, following in zip(lines, after, strict=True)
            if not x.lstrip().startswith(">")
            and not (x.rstrip().endswith(":") and following.lstrip().startswith(">"))))
        if not line:
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
    if not email and m.transport is Transport.XMPP:
        return styled(body)  # XEP-0393
    if email:
        body = reflow(body)
    for line in body.split("\n"):
        out.append(line + "\n", style="dim" if line.startswith(">") else "")
    out.rstrip()
    return out


ME_PREFIX = "/me "  # XEP-0245


def action_text(m: Message, names: Mapping[str, str]) -> Text | None:
    """A `/me` chat line as the action it is ("* bob waves"); None for others."""
    if m.transport is not Transport.XMPP or not m.text.startswith(ME_PREFIX):
        return None
    return Text(f"* {who(m, names)} {safe(m.text[len(ME_PREFIX):]).strip()}",
                style="italic")


def quote_text(m: Message, answered: Message | None, names: Mapping[str, str]) -> Text | None:
    """The line a chat reply answers (XEP-0461), as one dim line above its text
    ("┃ bob: Lunch at noon?"); None for a line that answers none."""
    if m.transport is not Transport.XMPP or not m.in_reply_to:
        return None
    if answered is None:
        return Text("┃ (an earlier line)", style="dim italic")
    words = "message retracted" if answered.retracted is not None else \
        one_line(safe(answered.text))
    quote = Text("┃ ", style="dim")
    quote.append(f"{who(answered, names)}: ", style="dim bold")
    quote.append(words[:120] + ("…" if len(words) > 120 else ""), style="dim italic")
    quote.no_wrap, quote.overflow = True, "ellipsis"
    return quote


def reactor_name(reactor: str, d: Directory) -> str:
    """Who reacted, as the user knows them: "you", a contact's name, a room nick."""
    address = bare(reactor)
    if address in d.own:
        return "you"
    if "/" in reactor and address not in d.names:
        return one_line(reactor.split("/", 1)[1]) or address  # an occupant: room/nick
    return one_line(d.names.get(address)) or one_line(address)


def reactions_text(reactions: Sequence[Reaction], d: Directory) -> Text | None:
    """The reactions to one line: each emoji once, with who sent it ("👍 bob, you")
    or, past three people, how many ("👍 5")."""
    people: dict[str, list[str]] = {}
    for r in sorted(reactions, key=lambda r: r.date):
        for emoji in r.emojis:
            people.setdefault(safe(emoji), []).append(reactor_name(r.reactor, d))
    if not people:
        return None
    out = Text()
    for emoji, names in people.items():
        if out:
            out.append("   ")
        out.append(emoji + " ")
        out.append(", ".join(names) if len(names) <= 3 else str(len(names)), style="dim")
    return out


class Timeline(OptionList):
    """Every message of the thread, oldest first, one option each."""

    BINDINGS = [
        bind("down", "cursor_down", show=False),
        bind("up", "cursor_up", show=False),
        bind("top", "first", show=False),
        bind("bottom", "last", show=False),
        bind("revisions", "revisions", show=False),
        bind("quote_reply", "quote_reply", show=False),
    ]

    class NeedOlder(TMessage):
        """Up past the first line: the conversation's older history is wanted."""

    class Revisions(TMessage):
        """The user asks for the earlier texts of a corrected line."""

        def __init__(self, message: Message) -> None:
            super().__init__()
            self.message = message

    class QuoteReply(TMessage):
        """The user starts a reply to a chat line, quoting it (XEP-0461)."""

        def __init__(self, message: Message) -> None:
            super().__init__()
            self.message = message

    # Names for senders without one; read as lines are drawn (no redraw of its own).
    directory: var[Directory] = var(Directory)

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.messages: list[Message] = []
        # Who reacted to which line (row id), set by the screen before `show` and
        # `update_message`, which draw them.
        self.reactions: Mapping[int, Sequence[Reaction]] = {}
        # The open room's happenings (oldest first) and our nick there; set by
        # the screen (`set_room`) before `show` ("" and none: not a room).
        self.room_events: Sequence[RoomHappened] = ()
        self._event_ats: list[float] = []  # their times, to find where each goes
        self.own_nick = ""

    def show(self, messages: list[Message], select: int | None) -> None:
        self.messages = messages
        self.clear_options()
        self.add_options([Option(self.line(m, i), id=str(m.id))
                          for i, m in enumerate(messages)])
        if messages:
            self.highlighted = select if select is not None else len(messages) - 1
        elif self.room_events:
            # A room where nobody spoke yet: what happened there, on its own
            # (an option that is no message: never chosen, never read).
            self.add_option(Option(Group(*self.happenings(list(self.room_events))),
                                   disabled=True))

    def update_message(self, m: Message) -> None:
        for i, old in enumerate(self.messages):
            if old.id == m.id:
                self.messages[i] = m
                self.replace_option_prompt_at_index(i, self.line(m, i))
                return

    def set_room(self, events: Sequence[RoomHappened], own_nick: str, *,
                 redraw: bool = True) -> None:
        """The open room's happenings or our nick there changed: the lines they
        touch are drawn again (`redraw`), and a timeline at its end stays there
        (what just happened, under the newest line, in view)."""
        before = [self.attached(i) for i in range(len(self.messages))] if redraw else []
        renamed = own_nick != self.own_nick
        self.room_events, self.own_nick = events, own_nick
        self._event_ats = [e.at for e in events]
        if not redraw:
            return
        if not self.messages:
            self.show([], None)
            return
        for i, m in enumerate(self.messages):
            if renamed or self.attached(i) != before[i]:
                self.replace_option_prompt_at_index(i, self.line(m, i))
        if self.messages and self.highlighted == len(self.messages) - 1:
            self.call_after_refresh(self.scroll_end, animate=False)

    def on_resize(self) -> None:
        """A change of height (the title above wrapping to a second line, the
        status line under it shown) keeps the chosen line in view: the newest,
        when chosen, to its end (Textual scrolls to the chosen line when it is
        chosen, with the height the timeline had then)."""
        self.call_after_refresh(self.keep_in_view)

    def keep_in_view(self) -> None:
        if not self.messages or self.highlighted is None:
            return
        if self.highlighted == len(self.messages) - 1:
            self.scroll_end(animate=False)
        else:
            self.scroll_to_highlight()

    def attached(self, index: int) -> tuple[list[RoomHappened], list[RoomHappened]]:
        """The room's happenings drawn with the line at `index`: those since the
        line before it, and (the last line) those since it."""
        events = self.room_events
        if not events or not 0 <= index < len(self.messages):
            return [], []
        ats = self._event_ats
        start = 0 if index == 0 else bisect.bisect_right(ats, self.messages[index - 1].date)
        end = bisect.bisect_right(ats, self.messages[index].date)
        after = list(events[end:]) if index == len(self.messages) - 1 else []
        return list(events[start:end]), after

    def line(self, m: Message, index: int | None = None) -> Group:
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f"{short_date(m.date, self.clock())} ", style="dim")
        head.append_text(transport_mark(m.transport))
        head.append(" ")
        ours_here = bool(self.own_nick) and m.direction is Direction.OUT \
            and m.transport is Transport.XMPP
        name = one_line(self.own_nick) if ours_here else who(m, self.directory.names)
        head.append(name, style="bold" if m.unread else "")
        if m.direction is Direction.OUT:
            head.append(" (you)", style="dim")
        mention = mention_pattern(self.own_nick) \
            if self.own_nick and m.direction is Direction.IN \
            and m.transport is Transport.XMPP and m.retracted is None else None
        if mention is not None and not mention.search(m.text):
            mention = None
        if mention is not None:
            head.append("  ")
            head.append("@ mentions you", style="bold reverse yellow")
        drafts = self.directory.drafts.get(m.account, frozenset())
        for mark in (draft_mark(m, drafts), delivery_mark(m), flag_mark(m), lock_mark(m)):
            if mark:
                head.append("  ")
                head.append_text(mark)
        if m.retracted is None and m.edited is not None:
            head.append("  edited", style="dim italic")
        if m.attachments and m.retracted is None:
            head.append(f"  +{len(m.attachments)} file{'s' * (len(m.attachments) > 1)}",
                        style="magenta")
        if m.transport is Transport.EMAIL:
            body = Text(one_line(m.subject) or "(no subject)", style="italic")
            first = opening(m.text)
            if first:
                body.append("\n" + first, style="dim")
        elif m.retracted is not None:
            body = Text("message retracted", style="dim italic")
        else:
            body = action_text(m, self.directory.names) or linked(message_text(m))
            if mention is not None:
                body.highlight_regex(mention, style="bold yellow")
        before, after = self.attached(index) if index is not None else ([], [])
        # Indented as a block, so that wrapped lines stay under the first one.
        parts: list[Text | Padding] = [*self.happenings(before), head]
        quoted = quote_text(m, self.answered(m), self.directory.names)
        if quoted is not None and m.retracted is None:
            parts.append(Padding(quoted, (0, 0, 0, 2)))
        parts.append(Padding(body, (0, 0, 0, 2)))
        reacted = reactions_text(self.reactions.get(m.id, ()), self.directory) \
            if m.id is not None and m.retracted is None else None
        if reacted is not None:
            parts.append(Padding(reacted, (0, 0, 0, 2)))
        parts.append(Text(""))
        if after:
            parts += [*self.happenings(after), Text("")]
        return Group(*parts)

    def happenings(self, events: list[RoomHappened]) -> list[Text | Padding]:
        """A room's happenings drawn with a line, on the timeline's own ground:
        the line's highlight, when it is chosen, is the line's alone."""
        lines = event_lines(events, self.clock)
        if not lines or not self.is_mounted:
            return list(lines)
        plain = self.get_visual_style("option-list--option").rich_style.bgcolor
        ground = Style(bgcolor=plain or self.background_colors[1].rich_color)
        return [Padding(x, 0, style=ground, expand=True) for x in lines]

    # The ground of the happenings' lines follows the focus, and the theme (the
    # screen calls redraw_happenings when the theme changes).

    def on_focus(self) -> None:
        self.call_after_refresh(self.redraw_happenings)

    def on_blur(self) -> None:
        self.call_after_refresh(self.redraw_happenings)

    def redraw_happenings(self) -> None:
        if not self.messages and self.room_events:
            self.show([], None)
        for i, m in enumerate(self.messages):
            if any(self.attached(i)):
                self.replace_option_prompt_at_index(i, self.line(m, i))

    def answered(self, m: Message) -> Message | None:
        """The line of this conversation a chat reply answers, if shown here."""
        if m.transport is not Transport.XMPP or not m.in_reply_to:
            return None
        return next((x for x in self.messages if x.msg_id == m.in_reply_to), None)

    def action_cursor_up(self) -> None:
        if self.highlighted == 0 or not self.messages:
            self.post_message(self.NeedOlder())
            return
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        # On the newest line, down stays there: OptionList wraps to the oldest, and
        # a reader who pressed j once too often lost her place (as mutt's pager
        # stays on the last entry).
        if self.highlighted is not None and self.highlighted >= self.option_count - 1:
            return
        super().action_cursor_down()

    def action_page_up(self) -> None:
        # At the first line a page further up is the older history (as ↑ there).
        if self.highlighted == 0 or not self.messages:
            self.post_message(self.NeedOlder())
            return
        super().action_page_up()

    def action_revisions(self) -> None:
        m = self.current
        if m is not None and m.edited is not None and m.retracted is None:
            self.post_message(self.Revisions(m))

    def action_quote_reply(self) -> None:
        m = self.current
        if m is not None and m.transport is Transport.XMPP and m.retracted is None \
                and m.id is not None:
            self.post_message(self.QuoteReply(m))

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


def lock_mark(m: Message) -> Text:
    """A chat line's end-to-end protection (OMEMO), beside it: a lock when it came
    or went encrypted, in red when it comes from a device nobody verified (a new
    device of a contact the user verified) or could not be opened."""
    status = m.crypto
    if m.transport is not Transport.XMPP or status is None or not status.omemo:
        return Text("")
    if not status.decrypted:
        return Text("🔒 cannot read", style="bold red")
    if status.untrusted_device:
        return Text(f"🔒 {status.trust} device {status.device_id}", style="bold red")
    return Text("🔒", style="green")
