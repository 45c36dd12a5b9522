"""The conversation list: email threads and chats in one list, virtualised.

Only the visible lines are rendered (Textual's line API), rows are loaded a page
at a time as the cursor nears the end (`NeedMore`, keyset cursors), and a new
message moves one row instead of reloading the list (`merge`). The rows come in
the screen's `order` (newest first, by sender, unread first, reversed): the store
sorts the pages, and a changed row goes where `order.key` puts it.

A conversation can be unfolded in place (z, aerc's fold and mutt's collapsed
threads, the other way round): its messages, passed down by the screen in
`expanded`, are drawn indented under its row, one line each. The cursor stays
on rows; with nothing unfolded a row is a line, as before.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

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
from bridge.store.records import Cursor, Thread
from tuiclient.format import CHAT, DELIVERY_MARK, MAIL, Clock, one_line, short_date
from tuiclient.keys import bind

Key = tuple[str, str]  # (account, thread_id)
PAGE = 200
FLAG = "⚑"  # a row with a flagged message (as the email's head says "⚑ flagged")


@dataclass(frozen=True)
class RowLabel:
    """What a row shows besides its counts: its tags, and where it went when
    that is not where mail lives (`Trash`, `Archive`); the screen passes these down."""

    tags: tuple[str, ...] = ()
    where: str = ""
    flagged: bool = False  # one of its messages is (the star, F)


def key_of(t: Thread) -> Key:
    return (t.account, t.thread_id)


class _Reversed:
    """A sort key that compares the other way round (bisect and sorted use `<`)."""

    __slots__ = ("key",)

    def __init__(self, key: SortKey) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.key == self.key

    __hash__ = None  # type: ignore[assignment]  # mutable-equal keys are not hashed


def _place(order: ThreadOrder, t: Thread) -> SortKey | _Reversed:
    """Where a row goes: sorted ascending on this is `order`."""
    key = order.key(t)
    return _Reversed(key) if order.reverse else key


class ConversationList(ScrollView, can_focus=True):
    """Rows of `Thread`; the parent feeds pages in and listens for messages."""

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

    class RowsChanged(Message):
        """Rows came, moved or scrolled into view: the screen may pass down their
        labels again."""

    class Highlighted(Message):
        def __init__(self, thread: Thread) -> None:
            super().__init__()
            self.thread = thread

    class Selected(Message):
        def __init__(self, thread: Thread) -> None:
            super().__init__()
            self.thread = thread

    class NeedPeers(Message):
        """Rows on screen whose last word is ours: who is the other party?"""

        def __init__(self, keys: list[Key]) -> None:
            super().__init__()
            self.keys = keys

    class NeedMore(Message):
        """The cursor is near the last loaded row: load the page after `before` (a
        cursor in the default order, else the order's key of the last row)."""

        def __init__(self, before: Cursor | SortKey) -> None:
            super().__init__()
            self.before = before

    def __init__(self, *, clock: Clock = time.time, me: tuple[str, ...] = (),
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.me = {m.lower() for m in me if m}  # our own names and addresses
        self.rows: list[Thread] = []
        self._order: list[SortKey | _Reversed] = []
        self.order = ThreadOrder()  # the screen's; set before the rows of that order
        self.exhausted = False
        self._asked: Cursor | SortKey | None = None
        self.clock = clock
        self._wanted: set[Key] = set()  # asked for in NeedPeers, not answered yet
        # The first line of each row when some are unfolded; None: row i is line i.
        self._starts: list[int] | None = None
        self._lines = 0

    # -- data in -----------------------------------------------------------------

    def set_rows(self, threads: list[Thread], exhausted: bool) -> None:
        keep = self.current
        self.rows = sorted(threads, key=self._key)
        self._order = [self._key(t) for t in self.rows]
        self.exhausted = exhausted
        self._asked = None
        self._resized()
        # The highlighted conversation keeps the cursor; gone from the new rows (another
        # account chosen in the sidebar), the cursor goes to the top.
        index = self._index_of(key_of(keep)) if keep else None
        self.cursor = index if index is not None else 0
        self.post_message(self.RowsChanged())

    def extend(self, threads: list[Thread], exhausted: bool) -> None:
        """A further page (older rows) arrived."""
        known = {key_of(t) for t in self.rows[-len(threads) - 1:]} if threads else set()
        for t in threads:
            if key_of(t) not in known:
                self.rows.append(t)
                self._order.append(self._key(t))
        self.exhausted = exhausted
        self._asked = None
        self._resized()
        self.post_message(self.RowsChanged())

    def merge(self, threads: list[Thread]) -> None:
        """New or changed conversations: each row moves to where its date puts it."""
        keep = self.current
        for t in threads:
            old = self._index_of(key_of(t))
            if old is not None:
                del self.rows[old]
                del self._order[old]
            o = self._key(t)
            at = bisect_left(self._order, o)
            if at == len(self.rows) and not self.exhausted and self.rows:
                continue  # older than anything loaded: its page will bring it
            self.rows.insert(at, t)
            self._order.insert(at, o)
        self._resized()
        if keep is not None:
            index = self._index_of(key_of(keep))
            if index is not None and index != self.cursor:
                self.set_reactive(ConversationList.cursor, index)
                self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.RowsChanged())

    def drop(self, keys: list[Key]) -> None:
        """Conversations that are no more (deleted for good): their rows go."""
        keep = self.current
        gone = set(keys)
        kept = [(t, o) for t, o in zip(self.rows, self._order, strict=True)
                if key_of(t) not in gone]
        self.rows = [t for t, _ in kept]
        self._order = [o for _, o in kept]
        self._resized()
        index = self._index_of(key_of(keep)) if keep else None
        self.cursor = index if index is not None else self.cursor
        self.post_message(self.RowsChanged())

    def _key(self, t: Thread) -> SortKey | _Reversed:
        return _place(self.order, t)

    def watch_names(self) -> None:
        self.refresh()

    def watch_outbox(self) -> None:
        self.refresh()

    def watch_peers(self) -> None:
        self._wanted.clear()
        self.refresh()

    def watch_muted(self) -> None:
        self.refresh()

    def party_of(self, t: Thread) -> str:
        """Whom the row names: the last sender, or the other party when that was us
        ("…" until the screen says who, after a NeedPeers)."""
        sender = one_line(t.last_sender).split("/", 1)[0]
        if sender.lower() in self.me:
            peer = self.peers.get(key_of(t))
            if peer is None:
                if not self._wanted:
                    self.call_after_refresh(self._ask_peers)
                self._wanted.add(key_of(t))
                return "…"
            return "to " + self.names.get(peer.lower(), peer) if peer else "(me)"
        return self.names.get(sender.lower(), sender)

    def _ask_peers(self) -> None:
        if self._wanted:
            self.post_message(self.NeedPeers(sorted(self._wanted)))

    def watch_marked(self) -> None:
        self.refresh()

    def watch_labels(self) -> None:
        self.refresh()

    def _index_of(self, key: Key) -> int | None:
        for i, t in enumerate(self.rows):
            if key_of(t) == key:
                return i
        return None

    def _resized(self) -> None:
        self._layout()
        self.virtual_size = Size(self.size.width, self._lines)
        self.refresh()

    def _layout(self) -> None:
        unfolded = self.expanded
        if not unfolded:
            self._starts, self._lines = None, len(self.rows)
            return
        starts, line = [], 0
        for t in self.rows:
            starts.append(line)
            line += 1 + len(unfolded.get(key_of(t), ()))
        self._starts, self._lines = starts, line

    def line_of(self, row: int) -> int:
        """The line a row is drawn on."""
        if self._starts is None or not 0 <= row < len(self._starts):
            return row
        return self._starts[row]

    def at_line(self, line: int) -> tuple[int, int]:
        """(row, message) drawn on a line: message -1 for the row itself."""
        if self._starts is None:
            return line, -1
        row = max(0, bisect_right(self._starts, line) - 1)
        return row, line - self._starts[row] - 1 if row < len(self._starts) else -1

    def watch_expanded(self) -> None:
        self._resized()
        self._scroll_to_cursor()

    @property
    def current(self) -> Thread | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    def select_key(self, key: Key) -> bool:
        index = self._index_of(key)
        if index is None:
            return False
        self.cursor = index
        return True

    # -- cursor --------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_line(self.line_of(old) - self.scroll_offset.y)
        self.refresh_line(self.line_of(new) - self.scroll_offset.y)
        self._scroll_to_cursor()
        thread = self.current
        if thread is not None:
            self.post_message(self.Highlighted(thread))
        self._maybe_more()

    def _scroll_to_cursor(self) -> None:
        self.scroll_to_region(Region(0, self.line_of(self.cursor), 1, 1), animate=False,
                              force=True)

    def _maybe_more(self) -> None:
        if self.exhausted or not self.rows:
            return
        visible = max(self.size.height, 10)
        if self.cursor + 2 * visible >= len(self.rows) or \
                self.scroll_offset.y + 2 * visible >= self._lines:
            before = self.order.page_after(self.rows[-1])
            if before != self._asked:
                self._asked = before
                self.post_message(self.NeedMore(before))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._maybe_more()
        if int(old) != int(new):
            self.post_message(self.RowsChanged())  # other rows in view: their labels

    def keys_near_view(self, margin: int = 50) -> list[Key]:
        """The conversations on screen and `margin` rows either side: the ones whose
        labels are worth reading now."""
        top = self.at_line(int(self.scroll_offset.y))[0]
        low = max(0, top - margin)
        return [key_of(t) for t in self.rows[low:top + max(self.size.height, 10) + margin]]

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.rows) - 1

    def action_page_down(self) -> None:
        self.cursor += max(1, self.size.height - 1)

    def action_page_up(self) -> None:
        self.cursor -= max(1, self.size.height - 1)

    def action_select(self) -> None:
        thread = self.current
        if thread is not None:
            self.post_message(self.Selected(thread))

    def on_click(self, event: Click) -> None:
        row = self.at_line(event.y + self.scroll_offset.y)[0]
        if 0 <= row < len(self.rows):
            self.cursor = row
            if event.chain > 1:
                self.action_select()

    def on_resize(self) -> None:
        self._resized()

    # -- rendering -------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index, sub = self.at_line(y + self.scroll_offset.y)
        width = self.scrollable_content_region.width
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        thread = self.rows[index]
        if sub >= 0:
            messages = self.expanded.get(key_of(thread), ())
            if sub >= len(messages):
                return Strip.blank(width, self.rich_style)
            line = self.message_text(messages[sub], sub == len(messages) - 1, width)
            return Strip(list(line.render(self.app.console))).crop_extend(
                0, width, None).apply_style(self.rich_style)
        text = self.row_text(thread, width)
        base = self.rich_style
        label = self.labels.get(key_of(thread))
        if index == self.cursor:
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
            if label.where:
                tail.append(one_line(label.where)[:16],
                            style="red" if "Trash" in label.where else "yellow")
                tail.append(" ")
        if state is not None:
            word, style = DELIVERY_MARK[state]
            tail.append(word, style=style)
            tail.append(" ")
        if key_of(t) in self.muted:
            tail.append("muted ", style=dim)
        if key_of(t) in self.expanded:
            tail.append(f"▾{t.message_count:>2} ", style=dim)
        elif t.message_count > 1:
            tail.append(f"{t.message_count:>3} ", style=dim)
        tail.append(f"{date:>10}", style=dim)
        sender_width = max(8, min(20, width // 6))
        sender = self.party_of(t)
        text.append(f"{sender[:sender_width]:<{sender_width}}  ")
        subject = one_line(t.subject)
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
            text.append(f"* {self.names.get(who.lower(), who)} {snippet[4:]}", style="italic")
        else:
            text.append(snippet or "(chat)")
        room = width - tail.cell_len - 1
        text.truncate(max(room, 0), overflow="ellipsis", pad=True)
        text.append(" ")
        text.append_text(tail)
        return text
