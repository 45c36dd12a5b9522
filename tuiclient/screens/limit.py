"""The list's limit (mutt's `l`), its order (S, `:sort`), the jump to the next
unread conversation (J), and to the Nth (Alt+1..9, Profanity's window keys) or
the next and previous (Alt+→/←).

A limit is a search in the search box's language (`from:bob is:unread`): the
list shows only the conversations with a message it finds, until an empty limit
clears it, and its title says that a limit is on. While one is on, what the
engine tells runs it again: a new message that matches comes in, nothing else
does; a row that stops matching (read under `is:unread`) stays until the limit
is given again, as in mutt.

The order (newest first, by sender, unread first; reversed or not) is the
store's: the list is loaded again in it, under the limit if one is on, and its
title says it when it is not the default.

A part of `MainScreen`, as `Triage` and `MailKeys` are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from bridge.engine import Engine
from bridge.model import Thread, ThreadOrder
from tuiclient.format import one_line
from tuiclient.widgets.conversation_list import PAGE, ConversationList, Key, key_of
from tuiclient.widgets.reply_bar import ChatReply

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen

TITLE = "Conversations"
# How many pages of the list J looks through for an unread conversation before it
# starts again at the top.
UNREAD_PAGES = 25


class LimitPrompt(ModalScreen[str | None]):
    """The limit to put on the list: a search; empty clears it."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, current: str) -> None:
        super().__init__(classes="prompt")
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="limit-dialog"):
            yield Label("Limit the list to conversations matching…", classes="dialog-title")
            yield Input(self.current, placeholder="from:bob is:unread  (empty: all again)",
                        id="limit")
            yield Static("words, from: to: cc: subject: tag: in: has:attachment "
                         "is:unread|flagged|answered after:/before:YYYY-MM-DD\n"
                         "enter apply · empty enter: no limit · esc cancel",
                         classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one("#limit", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class SortPrompt(ModalScreen[ThreadOrder | None]):
    """mutt's `o` prompt: one key says the order; `r` turns the current one around."""

    BINDINGS = [
        Binding("d", "sort('date')", "date"),
        Binding("f", "sort('from')", "sender"),
        Binding("u", "sort('unread')", "unread first"),
        Binding("r", "reverse", "reverse"),
        Binding("escape", "cancel", "cancel"),
    ]

    def __init__(self, current: ThreadOrder) -> None:
        super().__init__(classes="prompt")
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="sort-dialog"):
            yield Label("Sort the list by…", classes="dialog-title")
            now = self.current.label or "date, newest first"
            yield Static(f"d date (newest first) · f sender · u unread first\n"
                         f"r reverse the order · esc cancel\nnow: {now}",
                         classes="dialog-help", markup=False)

    def action_sort(self, by: str) -> None:
        self.dismiss(ThreadOrder(by, self.current.reverse if by == self.current.by
                                 else False))

    def action_reverse(self) -> None:
        self.dismiss(ThreadOrder(self.current.by, not self.current.reverse))

    def action_cancel(self) -> None:
        self.dismiss(None)


class Limit:
    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self.query: str | None = None  # the limit on the list, None: none

    @property
    def engine(self) -> Engine:
        return self.screen.engine

    @property
    def listing(self) -> ConversationList:
        return self.screen.query_one(ConversationList)

    # -- the limit ---------------------------------------------------------------------

    def prompt(self) -> None:
        def chosen(query: str | None) -> None:
            if query is not None:
                self.apply(query)
        self.screen.app.push_screen(LimitPrompt(self.query or ""), chosen)

    def apply(self, query: str) -> None:
        """Show only what `query` finds; an empty one shows everything again."""
        query = query.strip()
        if not query:
            if self.query is not None:
                self.query = None
                self._title()
                self.screen.overview.reload()
                self.screen.notify("No limit: every conversation again.", timeout=3)
            return
        try:
            threads = self.engine.conversations_matching(query, self.screen.overview.account,
                                                         order=self.listing.order)
        except ValueError as exc:  # a filter's value the search cannot use
            self.screen.notify(f"Limit not changed: {exc}", severity="error", markup=False)
            return
        self.query = query
        self._title()
        self.listing.set_rows(threads, exhausted=True)
        n = len(threads)
        if n:
            self.screen.notify(f"{n} conversation{'s' * (n != 1)} match; "
                               "l and an empty line show all again.", timeout=4)
        else:
            self.screen.notify("Nothing matches this limit; l and an empty line show "
                               "all again.", severity="warning", markup=False)

    def _title(self) -> None:
        if self.query is None:
            self.listing.border_title = self.screen.overview.title()
            return
        order = self.listing.order.label
        self.listing.border_title = f"{TITLE} · limit: {escape(one_line(self.query))}" + \
            (f" · {order}" if order else "")

    # -- the order ---------------------------------------------------------------------

    def sort_prompt(self) -> None:
        def chosen(order: ThreadOrder | None) -> None:
            if order is not None:
                self.sort(order)
        self.screen.app.push_screen(SortPrompt(self.listing.order), chosen)

    def sort_command(self, words: list[str]) -> None:
        """`:sort date|from|unread [reverse]`; `:sort` alone asks, `:sort reverse`
        turns the current order around."""
        if not words:
            self.sort_prompt()
            return
        by = self.listing.order.by
        reverse = False
        for word in (w.lower() for w in words):
            if word in ThreadOrder.BY:
                by = word
            elif word in ("sender", "date", "unread"):
                by = {"sender": "from"}.get(word, word)
            elif word in ("reverse", "-r", "rev"):
                reverse = True
            else:
                self.screen.notify(f"sort by date, from or unread (and reverse), not "
                                   f"{word!r}", severity="warning", markup=False)
                return
        if words == ["reverse"] or words == ["-r"]:
            reverse = not self.listing.order.reverse
        self.sort(ThreadOrder(by, reverse))

    def sort(self, order: ThreadOrder) -> None:
        """The list again in `order`, from the top (under the limit, if one is on)."""
        if order == self.listing.order:
            return
        self.listing.order = order
        self.reload()
        self._title()
        self.screen.notify(f"Sorted: {order.label or 'by date, newest first'}.", timeout=3)

    def reload(self) -> None:
        """The list from the start (another account chosen), under the limit if any."""
        if self.query is None:
            self.screen.overview.reload()
        else:
            self.apply(self.query)

    def merge(self, keys: Sequence[Key] = (), top: int = 0) -> None:
        """What changed (conversations `keys`; the `top` newest ones), into the list:
        every change without a limit; under one, the rows it shows and the
        conversations that match it."""
        overview = self.screen.overview
        if self.query is None:
            for key in keys:
                overview.merge_thread(*key)
            if top:
                overview.merge_top(top)
            return
        shown = {key_of(t): t for t in self.listing.rows}
        changed = [t for k in keys if k in shown and (t := self.engine.thread(*k)) is not None]
        try:
            matching = self.engine.conversations_matching(self.query, overview.account,
                                                          order=self.listing.order)
        except ValueError:  # it was taken when given; a changed store cannot break it
            matching = []
        new = [t for t in matching if (old := shown.get(key_of(t))) is None or
               (old.last_date, old.unread_count, old.message_count, old.draft_count) !=
               (t.last_date, t.unread_count, t.message_count, t.draft_count)]
        if changed or new:
            self.listing.merge([*changed, *new])

    # -- the next unread ---------------------------------------------------------------

    def next_unread(self) -> None:
        """The cursor to the next conversation with something unread (looking
        `UNREAD_PAGES` pages further down, then again from the top); opened, when
        a conversation is being read."""
        listing = self.listing
        unread: Callable[[Thread], bool] = lambda t: bool(t.unread_count)  # noqa: E731
        found = listing.first_after(listing.cursor, unread, UNREAD_PAGES * PAGE)
        if found is None:
            found = listing.first_after(-1, unread, listing.cursor + 1)
        if found is None:
            self.screen.notify("No unread conversations.", timeout=3)
            return
        reading = not listing.has_focus
        listing.cursor = found
        if reading:
            listing.action_select()

    # -- windows (Profanity's Alt+1..9, Alt+←/→) --------------------------------------

    def window(self, n: int, by: int = 0) -> None:
        """Alt+N, Profanity's window N: the Nth conversation of the list (`by`:
        the one `by` rows from the cursor's, Alt+←/→), opened. From the chat input,
        typing goes on in the conversation opened (the line half-typed stays with
        its own); from elsewhere it opens as Enter on its row does."""
        screen, listing = self.screen, self.listing
        at = listing.cursor + by if by else n - 1
        if not 0 <= at < listing.total:
            if not by:
                screen.notify(f"The list has no conversation {n}.", timeout=3)
            return
        chat_input = screen.query_one(ChatReply)
        typing = chat_input.has_focus
        listing.cursor = at
        thread = listing.current
        if thread is None:
            return
        screen.open_thread(thread)
        screen.show_pane("message" if screen.narrow and screen.opened.current_is_email()
                         and not typing else "chat")
        if typing:
            chat_input.focus()
