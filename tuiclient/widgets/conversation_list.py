"""The conversation list: email threads and chats in one list, virtualised (#22).

Only the visible lines are rendered (Textual's line API), and only the rows
around them are held (`RowWindow`): the list's source (passed down by the
screen: the store's `ViewRows` for a view, or `FixedRows` under a limit) says
how many rows there are and reads the ones drawn, so any position (G, g, a page,
a drag of the scrollbar) is one read and memory does not grow with the list.
A change (`merge`, `drop`) reads the count again and keeps the cursor on its
conversation, wherever the change moved it. The rows come in the screen's
`order` (newest first, by sender, unread first, reversed): the source sorts.

A conversation can be unfolded in place (z, aerc's fold and mutt's collapsed
threads, the other way round): its messages, passed down by the screen in
`expanded`, are drawn indented under its row, one line each. The cursor moves
onto them too (`message`, the unfolded message under the cursor, -1 on the row
itself): j and k go through them as through rows, Enter opens the conversation at
that message, and the keys that act on a message (r, i) answer it. With nothing
unfolded a row is a line, as before.

Whom a row names is `row_names.RowNames`'s: a group chat's row names its room
(the screen passes the rooms' conversations down in `rooms`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive, var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from bridge.model import DeliveryState, Direction, SortKey, ThreadOrder, Transport
from bridge.model import Message as Msg
from bridge.store.records import Thread
from tuiclient.format import CHAT, DELIVERY_MARK, MAIL, Clock, one_line, short_date
from tuiclient.keys import bind
from tuiclient.widgets.row_names import RowNames
from tuiclient.widgets.row_window import (
    CHUNK,
    FixedRows,
    Key,
    RowSource,
    RowWindow,
    _Reversed,
    key_of,
    place,
)

__all__ = ["FLAG", "PAGE", "ConversationList", "FixedRows", "Key", "RowLabel", "RowSource",
           "key_of"]

PAGE = 200
FLAG = "⚑"  # a row with a flagged message (as the email's head says "⚑ flagged")


@dataclass(frozen=True)
class RowLabel:
    """What a row shows besides its counts: its tags, and where it went when
    that is not where mail lives (`Trash`, `Archive`); the screen passes these down."""

    tags: tuple[str, ...] = ()
    where: str = ""
    flagged: bool = False  # one of its messages is (the star, F)


class ConversationList(RowNames, ScrollView, can_focus=True):
    """Rows of `Thread` from a source the parent passes down (`show`); it posts
    messages up."""

    BINDINGS = [
        bind("down", "cursor_down", show=False),
        bind("up", "cursor_up", show=False),
        bind("top", "first", show=False),
        bind("bottom", "last", show=False),
        bind("open", "select", label="open"),
        Binding("pagedown", "page_down", show=False),
        Binding("pageup", "page_up", show=False),
    ]
    COMPONENT_CLASSES = {"conversation-list--cursor", "conversation-list--unread",
                         "conversation-list--dim", "conversation-list--outbox"}
    DEFAULT_CSS = """
    ConversationList { background: $surface; }
    ConversationList > .conversation-list--cursor { background: $boost; }
    ConversationList:focus > .conversation-list--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    ConversationList > .conversation-list--unread { text-style: bold; }
    ConversationList > .conversation-list--dim { color: $text-muted; }
    ConversationList > .conversation-list--outbox { color: $warning; }
    """

    cursor: reactive[int] = reactive(0, always_update=True)
    # Which unfolded message of the cursor's row the cursor is on (-1: the row).
    message: reactive[int] = reactive(-1)
    # Attributes down, from the screen: contacts' names (address -> name), and per
    # conversation the outbox state worth showing (deferred, failed...).
    names: var[dict[str, str]] = var(dict)
    outbox: var[dict[Key, DeliveryState]] = var(dict)
    # The other party of conversations we wrote last in (asked for with NeedPeers),
    # and the conversations whose notifications are muted.
    peers: var[dict[Key, str]] = var(dict)
    muted: var[frozenset[Key]] = var(frozenset)
    # Marked conversations (space / t: the triage keys then act on all of them), and
    # each row's tags and folder label.
    marked: var[frozenset[Key]] = var(frozenset)
    labels: var[dict[Key, RowLabel]] = var(dict)
    # Unfolded conversations (z) and their messages, oldest first.
    expanded: var[dict[Key, Sequence[Msg]]] = var(dict)
    # Conversations also under another of the user's accounts (an email to both of
    # their addresses: two rows alike) -> the account's name, which the row says.
    shared: var[dict[Key, str]] = var(dict)
    # The real Subject of encrypted conversations opened in this run (their stored
    # one is the outer "..."; tuiclient.screens.open_thread reveals it).
    revealed: var[dict[Key, str]] = var(dict)
    # The conversations that are a group chat's -> (room JID, its name): their
    # row names the room, and its last line's speaker beside the words.
    rooms: var[dict[Key, tuple[str, str]]] = var(dict)

    class RowsChanged(Message):
        """Rows came, moved or scrolled into view: the screen may pass down their
        labels again."""

    class Highlighted(Message):
        def __init__(self, thread: Thread) -> None:
            super().__init__()
            self.thread = thread

    class Selected(Message):
        """Enter on a row, or on one of its unfolded messages (`message`)."""

        def __init__(self, thread: Thread, message: Msg | None = None) -> None:
            super().__init__()
            self.thread = thread
            self.message = message

    class NeedPeers(Message):
        """Rows on screen whose last word is ours: who is the other party?"""

        def __init__(self, keys: list[Key]) -> None:
            super().__init__()
            self.keys = keys

    def __init__(self, *, clock: Clock = time.time, me: tuple[str, ...] = (),
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.me = {m.lower() for m in me if m}  # our own names and addresses
        self.order = ThreadOrder()  # the screen's; set before the rows of that order
        self.window = RowWindow(FixedRows([], self.order))
        self.exhausted = True  # kept for callers of set_rows/extend; the source knows
        self.clock = clock
        self._wanted: set[Key] = set()  # asked for in NeedPeers, not answered yet
        # A change not read yet (`merge`): the conversation the cursor was on then.
        self._stale: tuple[Key | None] | None = None
        # Unfolded rows: (row, lines under it), by row; and the lines in all.
        self._folds: list[tuple[int, int]] = []
        self._lines = 0
        # Whether the cursor was ever put somewhere (a key, a click, a conversation
        # chosen): until then it stays on the newest row as rows come in above
        # (at the start, the first page is followed by the rest of the sync).
        self.placed = False

    # -- data in -----------------------------------------------------------------

    def show(self, source: RowSource) -> None:
        """A new source (another account, folder, order, or a limit): its rows from
        the top, or from the highlighted conversation when it has it."""
        keep = self.current
        self._stale = None
        self.window = RowWindow(source)
        index = self.window.reset(key_of(keep) if keep else None)
        self._resized()
        # The highlighted conversation keeps the cursor; gone from the new rows (another
        # account chosen in the sidebar), the cursor goes to the top.
        self.cursor = index if index is not None else 0
        self.post_message(self.RowsChanged())

    @property
    def source(self) -> RowSource:
        return self.window.source

    def set_rows(self, threads: list[Thread], exhausted: bool = True) -> None:
        """Rows held whole (the list under a limit)."""
        self.exhausted = exhausted
        self.show(FixedRows(list(threads), self.order))

    @property
    def rows(self) -> list[Thread]:
        """The rows held now (around what is drawn; all of them for rows held
        whole), from row `first_row`."""
        self._settle()
        return self.window.rows

    @rows.setter
    def rows(self, threads: list[Thread]) -> None:
        self.window = RowWindow(FixedRows(list(threads), self.order))
        self.window.reset()

    @property
    def first_row(self) -> int:
        self._settle()
        return self.window.start

    @property
    def total(self) -> int:
        """How many rows the list has."""
        self._settle()
        return self.window.total

    def extend(self, threads: list[Thread], exhausted: bool) -> None:
        """Further rows at the end of rows held whole."""
        if isinstance(self.source, FixedRows):
            self.source.extend(threads)
        self.exhausted = exhausted
        self._changed()

    def merge(self, threads: list[Thread]) -> None:
        """New or changed conversations: each row goes where the order puts it
        (read again when next drawn or asked for; a burst of changes is one read)."""
        self.source.merge(threads)
        self._changed()

    def drop(self, keys: list[Key]) -> None:
        """Conversations that are no more (deleted for good): their rows go."""
        self.source.drop(keys)
        self._changed()
        self._settle(gone_stays=True)

    def _changed(self) -> None:
        if self._stale is None:
            current = self.window.get(self.cursor)
            self._stale = (key_of(current) if current is not None else None,)
        self.refresh()

    def _settle(self, gone_stays: bool = False) -> None:
        """A change waiting: read the count and the rows again, the cursor on its
        conversation wherever it went."""
        if self._stale is None:
            return
        (keep,), self._stale = self._stale, None
        old = self.cursor
        index = self.window.reset(keep)
        if not self.placed and old == 0 and self.message < 0:
            index = 0  # nothing chosen yet: the newest conversation stays under it
        self._resized()
        if index is None:
            index = min(old, max(self.window.total - 1, 0))
            if gone_stays:
                self.cursor = index
            elif index != old:
                self.set_reactive(ConversationList.cursor, index)
        elif index != old:
            self.set_reactive(ConversationList.cursor, index)
            self._scroll_to_cursor()
        self.post_message(self.RowsChanged())

    def _key(self, t: Thread) -> SortKey | _Reversed:
        return place(self.order, t)

    def watch_names(self) -> None:
        self.refresh()

    def watch_outbox(self) -> None:
        self.refresh()

    def watch_peers(self) -> None:
        self._wanted.clear()
        self.refresh()

    def watch_muted(self) -> None:
        self.refresh()

    def watch_shared(self) -> None:
        self.refresh()

    def watch_revealed(self) -> None:
        self.refresh()

    def watch_rooms(self) -> None:
        self.refresh()

    def _ask_peers(self) -> None:
        if self._wanted:
            self.post_message(self.NeedPeers(sorted(self._wanted)))

    def watch_marked(self) -> None:
        self.refresh()

    def watch_labels(self) -> None:
        self.refresh()

    def _index_of(self, key: Key) -> int | None:
        self._settle()
        return self.window.index_of(key)

    def find(self, key: Key) -> Thread | None:
        """A conversation's row as the list has it now; None if it has none."""
        self._settle()
        return self.window.find(key)

    def _resized(self) -> None:
        self._layout()
        self.virtual_size = Size(self.size.width, self._lines)
        self.refresh()

    def _layout(self) -> None:
        """Where the unfolded rows are (asked of the source when not held)."""
        folds = []
        for key, messages in self.expanded.items():
            index = self.window.index_of(key)
            if index is not None and messages:
                folds.append((index, len(messages)))
        self._folds = sorted(folds)
        self._lines = self.window.total + sum(n for _, n in self._folds)

    def line_of(self, row: int) -> int:
        """The line a row is drawn on."""
        return row + sum(n for r, n in self._folds if r < row)

    def at_line(self, line: int) -> tuple[int, int]:
        """(row, message) drawn on a line: message -1 for the row itself."""
        shift = 0
        for row, n in self._folds:
            first = row + shift
            if line <= first:
                break
            if line <= first + n:
                return row, line - first - 1
            shift += n
        return line - shift, -1

    def watch_expanded(self) -> None:
        self._resized()
        if self.message >= len(self._unfolded(self.cursor)):
            self.message = -1  # its row folded again, or fewer messages: the row
        self._scroll_to_cursor()

    @property
    def current(self) -> Thread | None:
        self._settle()
        return self.window.get(self.cursor)

    @property
    def current_message(self) -> Msg | None:
        """The unfolded message the cursor is on (None: on a row)."""
        messages = self._unfolded(self.cursor)
        return messages[self.message] if 0 <= self.message < len(messages) else None

    def _unfolded(self, row: int) -> Sequence[Msg]:
        """The messages drawn under `row` (none when it is folded)."""
        thread = self.window.get(row)
        return self.expanded.get(key_of(thread), ()) if thread is not None else ()

    def select_key(self, key: Key) -> bool:
        index = self._index_of(key)
        if index is None:
            return False
        self.placed = True
        self.cursor = index
        return True

    def first_after(self, index: int, wanted: Callable[[Thread], bool],
                    limit: int) -> int | None:
        """The first row after `index` (within `limit` rows) that is `wanted`."""
        self._settle()
        here = self.window.get(index) if index >= 0 else None
        at, stop = index + 1, min(self.window.total, index + 1 + limit)
        while at < stop:
            rows = self.source.after(here, CHUNK) if here is not None else \
                self.source.at(at, CHUNK, self.window.total)
            for t in rows[:stop - at]:
                if wanted(t):
                    return at
                at += 1
            if not rows:
                return None
            here = rows[-1]
        return None

    # -- cursor --------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        total = self.window.total
        return max(0, min(value, total - 1)) if total else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_line(self.line_of(old) - self.scroll_offset.y)
        self.refresh_line(self.line_of(new) - self.scroll_offset.y)
        if self.message != -1:  # moved to another row: onto the row itself
            self.refresh()
            self.set_reactive(ConversationList.message, -1)
        self._scroll_to_cursor()
        thread = self.current
        if thread is not None:
            self.post_message(self.Highlighted(thread))

    def watch_message(self) -> None:
        self.refresh()
        self._scroll_to_cursor()

    def _cursor_line(self) -> int:
        """The line the cursor is on: its row's, or one of its unfolded messages'."""
        return self.line_of(self.cursor) + 1 + self.message

    def _scroll_to_cursor(self) -> None:
        if self.is_mounted:
            self.scroll_to_region(Region(0, self._cursor_line(), 1, 1),
                                  animate=False, force=True)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if int(old) != int(new):
            self.post_message(self.RowsChanged())  # other rows in view: their labels

    def keys_near_view(self, margin: int = 50) -> list[Key]:
        """The conversations on screen and `margin` rows either side: the ones whose
        labels are worth reading now."""
        self._settle()
        top = self.at_line(int(self.scroll_offset.y))[0]
        rows = self.window.span(top - margin, top + max(self.size.height, 10) + margin)
        return [key_of(t) for t in rows]

    def action_cursor_down(self) -> None:
        """To the next line: an unfolded message of this row, or the next row."""
        self.placed = True
        self._settle()
        if self.message + 1 < len(self._unfolded(self.cursor)):
            self.message += 1
        elif self.cursor + 1 < self.window.total:
            self.cursor += 1

    def action_cursor_up(self) -> None:
        """To the line above: this row from its first message, the previous
        message, or the previous row's last unfolded message (or the row)."""
        self.placed = True
        self._settle()
        if self.message >= 0:
            self.message -= 1
            return
        if self.cursor == 0:
            return
        self.cursor -= 1
        self.message = len(self._unfolded(self.cursor)) - 1

    def action_first(self) -> None:
        self.placed = True
        self._settle()
        self.cursor = 0

    def action_last(self) -> None:
        self.placed = True
        self._settle()
        self.cursor = self.window.total - 1

    def action_page_down(self) -> None:
        self.placed = True
        self._settle()
        self.cursor += max(1, self.size.height - 1)

    def action_page_up(self) -> None:
        self.placed = True
        self._settle()
        self.cursor -= max(1, self.size.height - 1)

    def action_select(self) -> None:
        thread = self.current
        if thread is not None:
            self.post_message(self.Selected(thread, self.current_message))

    def on_click(self, event: Click) -> None:
        self.placed = True
        self._settle()
        row, sub = self.at_line(event.y + self.scroll_offset.y)
        if 0 <= row < self.window.total:
            self.cursor = row
            self.message = sub
            if event.chain > 1:
                self.action_select()

    def on_resize(self) -> None:
        self._resized()

    # -- rendering -------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        self._settle()
        index, sub = self.at_line(y + self.scroll_offset.y)
        width = self.scrollable_content_region.width
        thread = self.window.get(index)
        if thread is None:
            if y == 0 and index == 0 and not self.window.total:  # as aerc's "(no messages)"
                return Strip([Segment("(no conversations)", self.rich_style + self.
                                      get_component_rich_style("conversation-list--dim"))]
                             ).crop_extend(0, width, self.rich_style)
            return Strip.blank(width, self.rich_style)
        if sub >= 0:
            messages = self.expanded.get(key_of(thread), ())
            if sub >= len(messages):
                return Strip.blank(width, self.rich_style)
            line = self.message_text(messages[sub], sub == len(messages) - 1, width)
            base = self.rich_style
            if index == self.cursor and sub == self.message:
                base = base + self.get_component_rich_style("conversation-list--cursor")
            return Strip(list(line.render(self.app.console))).crop_extend(
                0, width, None).apply_style(base)
        text = self.row_text(thread, width)
        base = self.rich_style
        label = self.labels.get(key_of(thread))
        if index == self.cursor and self.message < 0:
            base = base + self.get_component_rich_style("conversation-list--cursor")
        elif label is not None and label.where == "Trash":  # deleted, as mutt's D rows
            base = base + self.get_component_rich_style("conversation-list--dim")
        elif thread.unread_count:
            base = base + self.get_component_rich_style("conversation-list--unread")
        segments = list(text.render(self.app.console))
        return Strip(segments).crop_extend(0, width, None).apply_style(base)

    def message_text(self, m: Msg, last: bool, width: int) -> Text:
        """One message of an unfolded conversation, under its row: indented, its
        date, who wrote it and its first words."""
        dim = self.get_component_rich_style("conversation-list--dim", partial=True)
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append("      " + ("└─ " if last else "├─ "), style=dim)
        text.append("●" if m.unread else " ", style="bold")
        text.append(MAIL if m.transport is Transport.EMAIL else CHAT,
                    style="blue" if m.transport is Transport.EMAIL else "green")
        text.append(f" {short_date(m.date, self.clock()):>10}  ", style=dim)
        sender = "me" if m.direction is Direction.OUT else \
            self.names.get(m.sender.address.lower(), m.sender.name or m.sender.address)
        text.append(f"{one_line(sender)[:20]:<20}  ")
        # An email's words when its body is here, else its subject (bodies come
        # on demand); a chat line's words.
        snippet = one_line(m.text)[:200]
        subject = one_line(m.subject) if m.transport is Transport.EMAIL else ""
        text.append(snippet or subject or "(no text)")
        text.truncate(max(width, 0), overflow="ellipsis", pad=True)
        return text

    def row_text(self, t: Thread, width: int) -> Text:
        dim = self.get_component_rich_style("conversation-list--dim", partial=True)
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append("●" if t.unread_count else " ", style="bold")
        marked = key_of(t) in self.marked
        text.append("*" if marked else " ", style="bold reverse" if marked else "")
        text.append(MAIL if Transport.EMAIL in t.transports else " ", style="blue")
        text.append(CHAT if Transport.XMPP in t.transports else " ", style="green")
        label = self.labels.get(key_of(t))
        # The star in the cell after the kinds, which is blank otherwise: the row
        # keeps its width and its columns whether flagged or not.
        if label is not None and label.flagged:
            text.append(FLAG, style="bold red")
        else:
            text.append(" ")
        date = short_date(t.last_date, self.clock())
        state = self.outbox.get(key_of(t))
        tail = Text(no_wrap=True, end="")
        if label is not None:
            for tag in label.tags[:3]:
                tail.append(f"+{one_line(tag)[:16]}", style="cyan")
                tail.append(" ")
            # A conversation of drafts says so once, by its draft mark below.
            if label.where and not (t.draft_count and label.where == "Draft"):
                tail.append(one_line(label.where)[:16],
                            style="red" if "Trash" in label.where else "yellow")
                tail.append(" ")
        if state is not None:
            word, style = DELIVERY_MARK[state]
            tail.append(word, style=style)
            tail.append(" ")
        account = self.shared.get(key_of(t))
        if account:  # in the tail: the subject gives way, the columns stay
            tail.append(f"@{one_line(account)[:12]}", style="magenta")
            tail.append(" ")
        if key_of(t) in self.muted:
            tail.append("muted ", style=dim)
        if t.draft_count:  # a reply postponed in Drafts (its own date does not count)
            tail.append("✎ draft ", style="yellow")
        if key_of(t) in self.expanded:
            tail.append(f"▾{t.message_count:>2} ", style=dim)
        elif t.message_count > 1:
            tail.append(f"{t.message_count:>3} ", style=dim)
        tail.append(f"{date:>10}", style=dim)
        sender_width = max(8, min(20, width // 6))
        sender = self.party_of(t)
        text.append(f"{sender[:sender_width]:<{sender_width}}  ")
        subject = one_line(self.revealed.get(key_of(t), t.subject))
        snippet = one_line(t.snippet)
        if subject:
            text.append(subject)
            if snippet and snippet != subject:
                text.append(" — ")
                text.append(snippet, style=dim)
        elif Transport.EMAIL in t.transports:
            # An email without a subject is not a chat line.
            text.append("(no subject)")
            if snippet:
                text.append(" — ")
                text.append(snippet, style=dim)
        elif snippet.startswith("/me "):  # an action (XEP-0245), as the timeline says it
            who = one_line(t.last_sender).split("/", 1)[0]
            who = self.speaker(t) if self.room_of(t) else self.names.get(who.lower(), who)
            text.append(f"* {who} {snippet[4:]}", style="italic")
        elif self.room_of(t) and t.message_count:  # who said it: the row names the room
            text.append(f"{self.speaker(t)}: ", style="bold")
            text.append(snippet or "(chat)")
        else:
            text.append(snippet or "(chat)")
        room = width - tail.cell_len - 1
        text.truncate(max(room, 0), overflow="ellipsis", pad=True)
        text.append(" ")
        text.append_text(tail)
        return text
