"""The outbox: every message that waits (deferred, queued, sending, failed) with
its retry log, and what to do about it: retry now, send by email, cancel. When
"by email" is refused because someone has no key (the row must be encrypted),
`RefusedScreen` offers the ways on: fix it (the keys screen, `i` imports a key),
send it in clear (asked once more), keep it waiting, or discard it; nothing goes
in clear without that choice."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Header, Label, Static

from bridge.engine import Engine
from bridge.errors import EncryptionRefused
from bridge.events import DeferralRetry, DeliveryChanged, EmailDelivery, OutboxChanged
from bridge.model import Transport
from bridge.store.records import OutboxItem
from tuiclient.appref import client_app
from tuiclient.engine_events import EngineEvents
from tuiclient.format import DELIVERY_MARK, long_date, one_line, short_date, transport_mark
from tuiclient.keys import bind
from tuiclient.screens.overview import WAITING
from tuiclient.widgets.footer import NARROW, Footer
from tuiclient.widgets.moving import Scroller, Table
from tuiclient.wording import item_tries, log_words, sentence, short_tries


def item_text(item: OutboxItem) -> str:
    return one_line(Engine.outbox_text(item))


def carried_along(item: OutboxItem) -> str:
    """What a chat message takes with it besides its words: the history, files, a
    group chat (they go when it goes, so the log says so while it waits)."""
    plan = item.payload.get("plan") if item.transport is Transport.XMPP else None
    if not isinstance(plan, dict):
        return ""
    parts = []
    if plan.get("room"):
        parts.append("in a group chat")
    if plan.get("history"):
        parts.append("with the history")
    files = [one_line(str(f.get("name", ""))) for f in plan.get("files") or []
             if isinstance(f, dict)]
    if files:
        parts.append("files: " + ", ".join(files))
    return "; ".join(parts)


class RefusedScreen(ModalScreen[str]):
    """"By email instead" was refused: the message must be encrypted and someone
    has no usable key. The ways on, one key each: k fix it (the keys screen:
    import their key, or check the one you have), c send it in clear (asked once
    more), w or Esc keep it waiting, d discard it (asked)."""

    BINDINGS = [
        Binding("k", "choose('keys')", "fix: import or choose a key"),
        Binding("c", "choose('clear')", "send in clear"),
        Binding("w", "choose('wait')", "keep waiting"),
        Binding("escape", "choose('wait')", show=False),
        Binding("d", "choose('discard')", "discard"),
    ]

    def __init__(self, reason: str, missing: list[str]) -> None:
        super().__init__(classes="prompt")
        self.reason = reason
        self.missing = missing

    def compose(self) -> ComposeResult:
        who = ", ".join(self.missing) or "a recipient"
        with Vertical(classes="dialog", id="refused-dialog"):
            yield Label(f"Not sent: no key for {who}", classes="dialog-title",
                        markup=False)
            yield Static(sentence(self.reason.removeprefix("not sent: ")) + ".",
                         classes="dialog-help", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Fix: keys \\[k]", id="keys", variant="primary")
                yield Button("Send in clear \\[c]", id="clear", variant="warning")
                yield Button("Keep waiting \\[w]", id="wait")
                yield Button("Discard \\[d]", id="discard", variant="error")

    def on_mount(self) -> None:
        self.query_one("#keys", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(event.button.id or "wait")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class OutboxTable(Table):  # j/k/g/G: tuiclient/widgets/moving.py
    pass


HEADINGS = (("via", ""), ("state", "state"), ("to", "to"), ("what", "message"),
            ("tries", "tries"), ("when", "written"))


def cut(text: str, width: int) -> str:
    """`text` in `width` columns, an ellipsis where it is cut."""
    return text if cell_len(text) <= width else set_cell_size(text, max(width - 1, 0)) + "…"


def fitted(width: int, rows: list[tuple[str | Text, ...]]) -> tuple[int, int]:
    """The columns "to" and "message" may have in `width` columns (each cell has a
    column of padding on both sides, the scroll bar two): what the state, tries
    and date leave, up to half of it to the addresses; so at 80 columns the table
    needs no sideways scrolling and its tries and dates show whole."""
    def shown(cell: str | Text) -> int:
        return cell_len(cell.plain if isinstance(cell, Text) else cell)

    def widest(i: int) -> int:
        return max([cell_len(HEADINGS[i][1]), *(shown(r[i]) for r in rows)])
    fixed = sum(widest(i) for i in (0, 1, 4, 5)) + 2 * len(HEADINGS) + 2
    left = max(width - fixed, 20)
    to_width = min(widest(2), max(10, left // 2))
    return to_width, max(10, left - to_width)


class OutboxScreen(Screen):
    BINDINGS = [
        bind("outbox_retry", "act('retry')", label="retry now"),
        bind("outbox_email", "act('email')", label="send by email"),
        bind("outbox_im", "act('im')", label="send by chat"),
        bind("outbox_cancel", "act('cancel')", label="cancel"),
        Binding("a", "toggle_all", "show settled"),
        Binding("escape", "app.pop_screen", "back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False
        self.items: list[OutboxItem] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="outbox"):
            yield Label("", id="outbox-title", markup=False)
            yield OutboxTable(id="outbox-table", cursor_type="row", zebra_stripes=True)
            yield Label("Retry log", classes="title")
            with Scroller(id="outbox-log-pane"):  # long logs scroll: Tab, then j/k/g/G
                yield Static(id="outbox-log", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "outbox"
        table = self.query_one(OutboxTable)
        for key, label in HEADINGS:
            table.add_column(label, key=key)
        self.fill()
        table.focus()
        # "next try in 40 s" counts down: read again while the screen is shown.
        self.set_interval(5, self.fill)

    def on_resize(self) -> None:
        self.fill()  # the columns fitted to the new width

    @property
    def engine(self) -> Engine:
        return client_app(self).engine

    def fill(self) -> None:
        engine = self.engine
        self.items = engine.outbox_items(None if self.show_all else WAITING)
        self.items.reverse()  # newest first
        table = self.query_one(OutboxTable)
        keep = self.current
        table.clear()
        now = client_app(self).clock()
        width = table.size.width or self.app.size.width - 4
        counted = short_tries if width < NARROW else item_tries
        rows = []
        for item in self.items:
            word, style = DELIVERY_MARK[item.state]
            what = item_text(item)
            if not what:
                m = engine.outbox_message(item)
                what = one_line(m.subject or m.text) if m is not None else "(no text)"
            rows.append((item, transport_mark(item.transport), Text(word, style=style),
                         ", ".join(one_line(p.address) for p in item.parties), what[:60],
                         counted(item, now), short_date(item.created, now)))
        to_width, what_width = fitted(width, [r[1:] for r in rows])
        for item, via, state, to, what, tried, written in rows:
            table.add_row(via, state, Text(cut(to, to_width)), Text(cut(what, what_width)),
                          Text(tried), written, key=str(item.id))
        n = len(self.items)
        if n:
            title = f"{n} message{'s' * (n != 1)} " + ("in the outbox" if self.show_all
                                                         else "waiting")
        else:
            title = "The outbox is empty" if self.show_all else "Nothing waiting"
        self.query_one("#outbox-title", Label).update(Text(title, style="bold"))
        if keep is not None:
            for row, item in enumerate(self.items):
                if item.id == keep.id:
                    table.move_cursor(row=row)
        self.show_log()

    @property
    def current(self) -> OutboxItem | None:
        table = self.query_one(OutboxTable)
        if not self.items or table.cursor_row is None:
            return None
        if 0 <= table.cursor_row < len(self.items):
            return self.items[table.cursor_row]
        return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_log()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers "send by email" for a chat row, "send by chat" for an
        email row: the move that row can make."""
        if action == "act" and parameters and parameters[0] in ("email", "im"):
            item = self.current
            if item is not None:
                wanted = Transport.XMPP if parameters[0] == "email" else Transport.EMAIL
                return item.transport is wanted
        return True

    def show_log(self) -> None:
        item = self.current
        log = self.query_one("#outbox-log", Static)
        if item is None:
            log.update(Text("Nothing waits: every message went out.", style="dim"))
            return
        t = Text()
        via = "chat" if item.transport is Transport.XMPP else "email"
        t.append(f"{via} to {', '.join(one_line(p.address) for p in item.parties)}",
                 style="bold")
        t.append(f"  written {long_date(item.created)}\n", style="dim")
        what = item_text(item)
        if what:
            t.append(f"“{what}”\n", style="italic")
        carried = carried_along(item)
        if carried:
            t.append(carried + "\n", style="dim")
        t.append(item_tries(item, client_app(self).clock()) + "\n", style="bold")
        for entry, what, detail in log_words(self.engine.outbox_log(item.id)):
            t.append(f"{long_date(entry.at)}  ", style="dim")
            t.append(one_line(what), style="bold")
            if detail:
                t.append("  " + one_line(detail))
            t.append("\n")
        log.update(t)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.fill()

    def action_act(self, what: str) -> None:
        item = self.current
        if item is None:
            return
        if item.state not in WAITING:  # a settled row (a): nothing left to act on
            state = DELIVERY_MARK[item.state][0].split(" ", 1)[-1]  # "sent", "cancelled"
            word = "cancel" if what == "cancel" else "send"
            self.notify(f"Already {state}: nothing to {word}.", severity="warning",
                        markup=False)
            return
        if what == "email" and item.transport is not Transport.XMPP:
            self.notify("It is an email already.", severity="warning")
            return
        if what == "im" and item.transport is not Transport.EMAIL:
            self.notify("It is a chat message already.", severity="warning")
            return
        if what == "cancel":
            self.ask_cancel(item)
            return
        self.act(item.id, what)

    def ask_cancel(self, item: OutboxItem) -> None:
        """Cancelling cannot be undone (the words are not sent, and the Deferred
        folder's copy goes): y cancels, n or Esc keeps it."""
        from tuiclient.screens.pickers import Confirm

        via = "chat message" if item.transport is Transport.XMPP else "email"
        to = ", ".join(one_line(p.address) for p in item.parties) or "nobody"
        what = item_text(item)
        question = f"Your {via} to {to}" + (f", “{what[:60]}”," if what else "") + \
            " will not be sent. This cannot be undone."

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(item.id, "cancel")
        self.app.push_screen(Confirm("Cancel this message?", question, "Cancel it"),
                             answered)

    @work(group="outbox")
    async def act(self, outbox_id: int, what: str) -> None:
        """One action on a row, told in one toast: this one, not the engine's event
        of the same move too (the app leaves the rows in `told_outbox` to us). A
        retry only starts a try: what comes of it is the events' to tell."""
        engine = self.engine
        told = client_app(self).told_outbox
        if what != "retry":
            told.add(outbox_id)
        try:
            if what == "retry":
                await engine.outbox_retry(outbox_id)
                self.notify("Trying again now.", title="Outbox")
            elif what in ("email", "clear"):
                await engine.outbox_email(outbox_id, clear=what == "clear")
                self.notify("Sent by email instead" + (", in clear" if what == "clear" else "")
                            + self.where_to(outbox_id) + ".", title="Outbox", markup=False)
            elif what == "im":
                await engine.outbox_im(outbox_id)
                self.notify("Sent by chat instead.", title="Outbox")
            else:
                await engine.outbox_cancel(outbox_id)
                self.notify("Cancelled.", title="Outbox")
        except EncryptionRefused as exc:
            told.discard(outbox_id)
            self.fill()
            refusal = exc  # (`exc` is gone after this block; the answer comes later)
            # Its reason alone: the screen's keys are what to do (not the command
            # line's words for it, which str(exc) ends with).
            self.app.push_screen(RefusedScreen(exc.reason, list(exc.missing)),
                                 lambda choice: self.refused(outbox_id, refusal, choice))
            return
        except Exception as exc:
            told.discard(outbox_id)
            self.notify(sentence(str(exc)), title="Outbox", severity="error", timeout=10,
                        markup=False)
        self.fill()

    def where_to(self, outbox_id: int) -> str:
        """Where a row went, as its log says ("to the email address of carol@…"),
        after a comma; nothing when the log does not say."""
        for entry in reversed(self.engine.outbox_log(outbox_id)):
            if entry.event == "sent by email" and entry.detail:
                return f", {one_line(entry.detail)}"
        return ""

    def refused(self, outbox_id: int, exc: EncryptionRefused, choice: str | None) -> None:
        """The user's way on after a refusal (RefusedScreen)."""
        item = next((i for i in self.items if i.id == outbox_id), None)
        if choice == "keys":
            from tuiclient.screens.keys import KeysScreen

            self.app.push_screen(KeysScreen())
            self.notify("Import their key (i), or verify the one you have (v); then "
                        "e sends it encrypted.", title="Outbox", markup=False)
        elif choice == "clear":
            from tuiclient.screens.pickers import Confirm

            who = ", ".join(exc.missing) or "them"

            def answered(yes: bool | None) -> None:
                if yes:
                    self.act(outbox_id, "clear")
            self.app.push_screen(Confirm(
                "Send it in clear?", f"It was to be encrypted, and there is no key for "
                f"{who}. In clear, anyone on its way (mail servers, their admins) can "
                "read it, and its copy in Sent is in clear too.", "Send in clear"),
                answered)
        elif choice == "discard" and item is not None:
            self.ask_cancel(item)
        else:
            self.notify("It stays in the outbox, waiting.", title="Outbox")

    def on_engine_events(self, message: EngineEvents) -> None:
        if message.of(OutboxChanged, DeferralRetry, EmailDelivery, DeliveryChanged):
            self.fill()  # once for the whole burst
