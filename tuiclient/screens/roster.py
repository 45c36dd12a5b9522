"""The roster (`/roster`): every contact of each chat account with their
presence, whether they have an avatar (▣), and what each side sees of the other
(RFC 6121 subscriptions), and what to do about one: approve, deny, remove,
block or unblock (XEP-0191), stop asking for their presence (unsubscribe),
write to them, look at their avatar (v: the system's image viewer, as
Profanity's `/avatar open`; a terminal draws no pictures in general)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Header, Label

from bridge.engine import Engine, EngineError
from bridge.events import PresenceChanged, RosterChanged
from tuiclient.appref import client_app
from tuiclient.engine_events import EngineEvents
from tuiclient.format import one_line
from tuiclient.presence_colours import presence_dot
from tuiclient.screens.attachments import handler, needs_terminal, open_detached
from tuiclient.screens.chat_prompts import AskScreen
from tuiclient.widgets.footer import Footer
from tuiclient.widgets.moving import Table

AVATAR_MARK = "▣"  # the contact has an avatar (v opens it)


async def open_avatar(screen: Screen, engine: Engine, account: str, jid: str) -> str:
    """Open a contact's avatar (fetched into the cache if needed) with the
    system's image viewer, the way a file of a message is opened; returns what
    to tell the user. EngineError when there is none to open."""
    path = await engine.avatar_get(account, jid)
    if path is None:
        raise EngineError(f"{jid} has no avatar you may see")
    command = handler()
    if command is None:
        return f"no xdg-open nor run-mailcap here; the avatar is {path}"
    try:
        if needs_terminal(command):
            with screen.app.suspend():
                subprocess.run([*command, str(path)], check=False)
        else:
            open_detached(command, Path(path))
    except OSError as exc:
        raise EngineError(f"could not open {path}: {exc}") from None
    return f"opened {one_line(jid)}'s avatar with {command[0]}"

if TYPE_CHECKING:
    from bridge.model import ContactPresence
    from bridge.xmpp.client import RosterItem

SEES = {"both": "both see each other", "to": "you see them", "from": "they see you",
        "none": "neither sees the other"}


COLUMNS = ("", "", "name", "address", "presence", "subscription", "groups")
# Rows put in the table before its first frame (a screenful and more); the others
# follow in batches right after it, so a roster of 1,000 draws as fast as one of 100.
FIRST_ROWS = 100
LATER_ROWS = 250


# The name the app keeps the roster screen under (`show_roster`).
KEPT = "roster"


def _row_key(account: str, jid: str) -> str:
    return f"{account}\n{jid}"


def show_roster(app: App[object], done: Callable[[str | None], None] | None = None) -> None:
    """Open the roster: the one screen the app keeps (installed under KEPT), made at
    the first `:roster`. Opened again it is resumed, not built again: no compose, no
    1,000 rows added, the table's widths and caches still there; only the rows whose
    contact changed meanwhile are drawn again (`RosterScreen.on_screen_resume`), so
    it is back within a frame or so (issue 22, row 10)."""
    if not app.is_screen_installed(KEPT):
        app.install_screen(RosterScreen(), KEPT)
    elif app.get_screen(KEPT) in app.screen_stack:
        return  # open already, under another screen (a screen is in the stack once)
    app.push_screen(KEPT, done)


class Cell:
    """A roster table cell: plain text (never markup: a name is the contact's own
    text) in a style, cut with an ellipsis at its column's width; equal to its text,
    as the str cell it replaces was.

    It has no `__rich_measure__` on purpose: DataTable measures every cell of a new
    row for its auto-width columns (a Console.options built per cell, ~20 µs: 0.15 s
    of a 1,000-contact roster before its first draw), and the roster's columns get
    fixed widths from the texts themselves (`column_widths`), so there is nothing
    left to measure."""

    __slots__ = ("style", "text")

    def __init__(self, text: str, style: str | Style = "") -> None:
        self.text, self.style = text, style

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cell({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Cell):
            return (self.text, self.style) == (other.text, other.style)
        if isinstance(other, str):
            return self.text == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.text, style=self.style, no_wrap=True, overflow="ellipsis", end="")


def column_widths(rows: Iterable[list[Cell]]) -> list[int]:
    """Each column as wide as its widest text or label: the width DataTable's auto
    width would measure, from the strings (a dict-cached cell_len each)."""
    widths = [cell_len(label) for label in COLUMNS]
    for cells in rows:
        widths = [max(w, cell_len(c.text)) for w, c in zip(widths, cells, strict=True)]
    return widths


def widen(table: DataTable, rows: Iterable[list[Cell]]) -> set[int]:
    """Widen the columns these rows would overflow (a longer presence status than
    any before), so that they stay as wide as their widest text; which ones."""
    widened = set()
    for n, (column, width) in enumerate(zip(table.ordered_columns, column_widths(rows),
                                                        strict=True)):
        if width > column.width:
            column.width = width
            widened.add(n)
    return widened


class RosterTable(Table):  # j/k/g/G: tuiclient/widgets/moving.py
    """The roster's table. It keeps its rendered cells across a style update that
    changes nothing it draws with: the kept roster screen (`show_roster`), shown
    again, has its styles applied anew, and DataTable would throw away every cell
    it rendered (Rich renders each cell: 336 of them for a screenful, most of the
    cost of drawing it again). A theme, or anything else that changes the table's
    own or its components' styles, still clears them all."""

    _looks: tuple[object, ...] | None = None

    def notify_style_update(self) -> None:
        super(DataTable, self).notify_style_update()  # the widget's own style caches
        looks = None
        # Textual's private cache of component styles: without it (another
        # Textual), every style update redraws all cells, as DataTable does.
        styled = getattr(self, "_component_styles", None)
        if isinstance(styled, dict) and styled.keys() >= self.COMPONENT_CLASSES:
            looks = (self.rich_style, self.background_colors,
                     *(self.get_component_rich_style(name, partial=True)
                       for name in sorted(self.COMPONENT_CLASSES)))
        if looks is not None and looks == self._looks:
            self.refresh()
            return
        self._looks = looks
        super().notify_style_update()  # DataTable's: every rendered cell and line again


class RosterScreen(Screen[str | None]):
    """Dismissed with a JID to write to (enter), or None."""

    BINDINGS = [
        Binding("a", "act('approve')", "approve"),
        Binding("d", "act('deny')", "deny"),
        Binding("x", "act('remove')", "remove"),
        Binding("b", "act('block')", "block/unblock"),
        Binding("u", "act('unsubscribe')", "unsubscribe"),
        Binding("v", "avatar", "avatar"),
        Binding("escape", "dismiss_none", "back"),
    ]

    def __init__(self) -> None:
        super().__init__(id="roster")
        self.rows: list[tuple[str, str]] = []  # (account, JID) per row
        # The rows of `rows` not in the table yet, in order (see FIRST_ROWS).
        self._later: dict[tuple[str, str], list[Cell]] = {}
        # Each availability's mark and style in the theme's colours, worked out once
        # per theme (not per row: a roster of 1,000 draws in one go).
        self._dots: dict[str, tuple[str, str | Style]] = {}
        # Each contact's cells as drawn (or as they go in, for those of `_later`):
        # what a resumed screen compares the roster with (`on_screen_resume`).
        self._drawn: dict[tuple[str, str], list[Cell]] = {}
        self._shown = 0  # times the screen was shown (the first: its mount draws it)

    @property
    def engine(self) -> Engine:
        return client_app(self).engine

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="roster-title", markup=False)
        yield RosterTable(id="roster-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "roster"
        table = self.query_one(RosterTable)
        self.reload()
        table.focus()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.follow_theme())

    def reload(self, changed: Iterable[tuple[str, str]] | None = None) -> None:
        """Draw the roster. With `changed` (account, JID) contacts whose presence or
        subscription changed, only their rows are drawn again (a burst of presences
        costs its rows, not the whole table); a contact that joined or left the
        roster redraws it all. Presences come in one engine read per account."""
        table = self.query_one(RosterTable)
        if changed is not None and self.rows and self._update_rows(table, set(changed)):
            return
        self._draw(table, self._read())

    def _read(self) -> list[tuple[tuple[str, str], list[Cell]]]:
        """Every contact of every chat account with its cells, in the roster's order
        (the presences in one engine read per account)."""
        drawn: list[tuple[tuple[str, str], list[Cell]]] = []
        engine = self.engine
        for account in [a.name for a in engine.accounts if a.jid]:
            try:
                items = engine.roster(account)
            except EngineError:
                continue
            presences = engine.availabilities(account, [i.jid for i in items])
            drawn += [((account, item.jid),
                       self._cells(account, item, presences[item.jid], engine))
                      for item in items]
        return drawn

    def _draw(self, table: DataTable, drawn: list[tuple[tuple[str, str], list[Cell]]]) -> None:
        """The whole table from these rows, the cursor kept on its row number."""
        at = table.cursor_row
        self._drawn = dict(drawn)
        # Fixed widths, from the texts: DataTable measures nothing (see Cell).
        table.clear(columns=True)
        for label, width in zip(COLUMNS, column_widths(cells for _, cells in drawn),
                                strict=True):
            table.add_column(label, width=width)
        self.rows = [contact for contact, _ in drawn]
        first = max(FIRST_ROWS, at + FIRST_ROWS)  # the cursor's row drawn at once
        for (account, jid), cells in drawn[:first]:
            table.add_row(*cells, key=_row_key(account, jid))
        self._later = dict(drawn[first:])
        if self._later:
            self.call_after_refresh(self._add_later)
        n = len(self.rows)
        self.query_one("#roster-title", Label).update(
            f"{n} contact{'s' * (n != 1)} · a: approve · d: deny · x: remove · "
            f"v: avatar ({AVATAR_MARK}) · enter: write")
        if self.rows:
            table.move_cursor(row=min(at, n - 1))

    def _update_rows(self, table: DataTable, changed: set[tuple[str, str]]) -> bool:
        """Draw again the rows of these contacts; False when the roster itself
        changed (a contact came or went) and the whole table must be drawn."""
        shown = set(self.rows)
        by_account: dict[str, list[str]] = {}
        for account, jid in changed:
            by_account.setdefault(account, []).append(jid)
        updates: list[tuple[tuple[str, str], list[Cell]]] = []
        for account, jids in by_account.items():
            try:
                items = {i.jid: i for i in self.engine.roster(account)}
            except EngineError:
                items = {}
            if any((jid in items) != ((account, jid) in shown) for jid in jids):
                return False
            wanted = [jid for jid in jids if jid in items]
            presences = self.engine.availabilities(account, wanted)
            updates += [((account, jid), self._cells(account, items[jid], presences[jid],
                                                     self.engine))
                        for jid in wanted]
        self._redraw(table, updates)
        return True

    def _redraw(self, table: DataTable,
                updates: list[tuple[tuple[str, str], list[Cell]]]) -> None:
        """These contacts' rows with their new cells (widening a column they overflow)."""
        # A widened column: one update with update_width, so the table's size follows
        # (each such update has DataTable measure the column's every cell).
        resize = widen(table, [cells for _, cells in updates])
        for contact, cells in updates:
            self._drawn[contact] = cells
            if contact in self._later:  # not in the table yet: it goes in as it is now
                self._later[contact] = cells
                continue
            row = table.get_row_index(_row_key(*contact))
            for column, value in enumerate(cells):
                table.update_cell_at(Coordinate(row, column), value,
                                     update_width=column in resize)
                resize.discard(column)

    def on_screen_resume(self) -> None:
        """Shown again (the kept screen of `show_roster`): what changed while it was
        away (it hears no events then), drawn as a change of those rows; a contact
        who came or went draws the table again."""
        self._shown += 1
        if self._shown == 1 or not self.is_mounted:
            return
        table = self.query_one(RosterTable)
        drawn = self._read()
        if [contact for contact, _ in drawn] != self.rows:
            self._draw(table, drawn)
            return
        changed = [(contact, cells) for contact, cells in drawn
                   if self._drawn.get(contact) != cells]
        if changed:
            self._redraw(table, changed)

    def _add_later(self) -> None:
        """The next batch of rows not in the table yet; again after the next frame
        while some are left."""
        if not self._later or not self.is_mounted:
            return
        table = self.query_one(RosterTable)
        for contact in list(islice(self._later, LATER_ROWS)):
            table.add_row(*self._later.pop(contact), key=_row_key(*contact))
        if self._later:
            self.call_after_refresh(self._add_later)

    def _dot(self, availability: str) -> tuple[str, str | Style]:
        """An availability's mark, in the theme's colours as the sidebar draws it."""
        found = self._dots.get(availability)
        if found is None:
            found = self._dots[availability] = presence_dot(
                availability, self.app.theme_variables)
        return found

    def follow_theme(self) -> None:
        """Another theme: the marks again in its colours."""
        self._dots.clear()
        self.reload()

    def _cells(self, account: str, item: RosterItem, presence: ContactPresence,
               engine: Engine) -> list[Cell]:
        """A contact's row: presence dot, avatar mark, name, address, presence,
        subscription, groups (as `COLUMNS`)."""
        avatar = engine.avatar_path(account, item.jid) is not None
        dot, style = self._dot(presence.availability.value)
        sees = SEES.get(item.subscription, item.subscription)
        if item.pending_out:
            sees += "; you asked to see them"
        return [Cell(dot, style), Cell(AVATAR_MARK if avatar else " ", "cyan"),
                Cell(one_line(item.name)), Cell(one_line(item.jid)),
                Cell(presence.availability.value
                     + (f": {one_line(presence.status)}" if presence.status else "")),
                Cell(sees), Cell(", ".join(one_line(g) for g in item.groups))]

    def current(self) -> tuple[str, str] | None:
        row = self.query_one(RosterTable).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a contact: write to them."""
        event.stop()
        chosen = self.current()
        if chosen is not None:
            self.dismiss(chosen[1])

    @work(group="roster")
    async def action_act(self, what: str) -> None:
        chosen = self.current()
        if chosen is None:
            return
        account, jid = chosen
        if what == "remove":
            sure = await self.app.push_screen_wait(AskScreen(
                "Remove a contact", Text(f"Remove {one_line(jid)} from your roster? "
                                         "Neither of you will see the other's presence."),
                [("y", "Remove", "yes")]))
            if sure != "yes":
                return
        if what == "block" and jid in self.engine.blocking(account):
            what = "unblock"
        acts = {"approve": self.engine.roster_approve, "deny": self.engine.roster_deny,
                "remove": self.engine.roster_remove, "block": self.engine.block,
                "unblock": self.engine.unblock, "unsubscribe": self.engine.roster_cancel}
        try:
            await acts[what](account, jid)
        except EngineError as exc:
            self.notify(str(exc), title="Roster", severity="error", markup=False)
            return
        self.notify(f"{what}: {one_line(jid)}", title="Roster", markup=False)

    @work(group="roster")
    async def action_avatar(self) -> None:
        chosen = self.current()
        if chosen is None:
            return
        try:
            said = await open_avatar(self, self.engine, *chosen)
        except EngineError as exc:
            self.notify(str(exc), title="Avatar", severity="warning", markup=False)
            return
        self.notify(said, title="Avatar", markup=False)

    def on_engine_events(self, message: EngineEvents) -> None:
        changed = [(e.account, e.jid) for e in message.of(RosterChanged)] + \
            [(e.account, e.jid) for e in message.of(PresenceChanged)]
        if changed:
            self.reload(changed)
