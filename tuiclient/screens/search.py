"""Search across mail and chat (the engine's FTS and filters)."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Header, Input, Label, OptionList
from textual.widgets.option_list import Option

from bridge.model import Message, Transport
from tuiclient.appref import client_app
from tuiclient.format import one_line, safe, short_date, transport_mark, who
from tuiclient.keys import bind
from tuiclient.widgets.footer import Footer

HELP = ("words, and filters: from: to: subject: has:attachment after:YYYY-MM-DD "
        "before: in:FOLDER is:unread")


class Query(Input):
    """The search words: every printable key is typed, Enter searches."""

    BINDINGS = [Binding("enter", "submit", "search")]


class Results(OptionList):
    BINDINGS = [bind("down", "cursor_down", show=False), bind("up", "cursor_up", show=False),
                bind("top", "first", show=False), bind("bottom", "last", show=False),
                Binding("enter", "select", "open")]


class SearchScreen(Screen[Message | None]):
    # The quit key (q) leaves the search rather than the app: here it is the key
    # just typed into the search words, and the footer does not offer it.
    BINDINGS = [Binding("escape", "cancel", "back"),
                bind("quit", "cancel", label="back", show=False)]

    def __init__(self, query: str = "", account: str | None = None) -> None:
        super().__init__()
        self.initial = query
        self.account = account
        self.results: list[Message] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="search"):
            yield Query(self.initial, placeholder="search mail and chat", id="query")
            yield Label(HELP, id="search-help", markup=False)
            yield Results(id="results")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "search"
        self.query_one("#query", Input).focus()
        if self.initial:
            self.run_search(self.initial)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.run_search(event.value)
        if self.results:
            self.query_one(Results).focus()

    def run_search(self, query: str) -> None:
        engine = client_app(self).engine
        try:
            self.results = engine.search(query, limit=200, account=self.account)
        except Exception as exc:  # a bad filter: the engine's words say which
            self.query_one("#search-help", Label).update(Text(str(exc), style="red"))
            return
        now = client_app(self).clock()
        options = []
        for m in self.results:
            head = Text(no_wrap=True, overflow="ellipsis")
            head.append(f"{short_date(m.date, now):>10} ", style="dim")
            head.append_text(transport_mark(m.transport))
            head.append(" " + who(m, client_app(self).contact_names), style="bold")
            if one_line(m.subject):
                head.append("  " + one_line(m.subject))
            elif m.transport is Transport.EMAIL:
                head.append("  (no subject)")
            words = one_line(safe(m.text))[:200]
            options.append(Option(Group(head, Text("   " + words, style="dim",
                                                   no_wrap=True, overflow="ellipsis"))
                                  if words else head, id=str(m.id)))
        results = self.query_one(Results)
        results.clear_options()
        results.add_options(options)
        n = len(self.results)
        self.query_one("#search-help", Label).update(
            Text(f"{n} result{'s' * (n != 1)} for ", style="dim") + Text(one_line(query)))
        if n:
            results.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.results[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
