"""The sidebar: accounts with their folders, then contacts with presence."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.reactive import var
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from bridge.store.records import Folder
from tuiclient.format import one_line
from tuiclient.keys import bind
from tuiclient.presence_colours import presence_dot


@dataclass(frozen=True)
class ContactRow:
    name: str
    address: str  # the JID, else the email address
    availability: str  # available | away | busy | offline | unknown | blocked
    status: str = ""


@dataclass(frozen=True)
class AccountRow:
    name: str
    address: str
    folders: tuple[Folder, ...] = ()


def contact_label(c: ContactRow, colours: Mapping[str, str] | None = None) -> Text:
    """A contact's row: presence by shape and colour (the theme's, `colours`), the
    name, and under it the availability in a word (never the colour alone) with
    the status message."""
    dot, style = presence_dot(c.availability, colours)
    t = Text(dot, style=style)
    t.append(" " + one_line(c.name))
    word = "" if c.availability in ("available", "unknown") else c.availability
    if c.status:
        t.append("\n  " + (f"{word}: " if word else ""), style="dim")
        t.append(one_line(c.status), style="italic dim")
    elif word:
        t.append("\n  " + word, style="dim")
    return t


class Sidebar(OptionList):
    """One list; option ids say what a row is: `account:NAME`, `folder:ACCOUNT:NAME`,
    `contact:ADDRESS`. Choosing one posts `Sidebar.Chosen`."""

    BINDINGS = [
        bind("down", "cursor_down", show=False),
        bind("up", "cursor_up", show=False),
        bind("top", "first", show=False),
        bind("bottom", "last", show=False),
    ]

    # The theme's variables (the screen sets them, and again on a theme change):
    # presence marks are drawn in its colours (tuiclient.presence_colours).
    colours: var[dict[str, str]] = var(dict)

    class Chosen(Message):
        def __init__(self, kind: str, value: tuple[str, ...]) -> None:
            super().__init__()
            self.kind = kind
            self.value = value

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.accounts: list[AccountRow] = []
        self.contacts: list[ContactRow] = []

    def watch_colours(self) -> None:
        self.show(self.accounts, self.contacts)  # presence in the new theme's colours

    def show(self, accounts: list[AccountRow], contacts: list[ContactRow]) -> None:
        self.accounts, self.contacts = accounts, contacts
        keep = self.highlighted
        # The highlight stays on its folder or contact (by id), wherever a folder
        # found or a contact added moved it: Enter then opens what the user chose.
        kept_id = self.get_option_at_index(keep).id if keep is not None and \
            keep < self.option_count else None
        self.clear_options()
        options: list[Option | None] = [Option(Text("All conversations", style="bold"),
                                               id="all:")]
        for a in accounts:
            t = Text(one_line(a.name), style="bold")
            if a.address:
                t.append("\n" + one_line(a.address), style="dim")
            options.append(Option(t, id=f"account:{a.name}"))
            for f in a.folders:
                label = Text("  " + one_line(f.name))
                if f.unread:
                    label.append(f" {f.unread}", style="bold")
                options.append(Option(label, id=f"folder:{a.name}:{f.name}"))
        options.append(None)
        options.append(Option(Text("Contacts", style="bold"), id="heading:contacts",
                              disabled=True))
        for c in contacts:
            options.append(Option(contact_label(c, self.colours or None),
                                  id=f"contact:{c.address}"))
        self.add_options(options)
        at = None
        if kept_id is not None:
            with contextlib.suppress(OptionDoesNotExist):
                at = self.get_option_index(kept_id)
        if at is not None:
            self.highlighted = at
        elif keep is not None and keep < self.option_count:
            self.highlighted = keep

    def on_focus(self) -> None:
        """Coming in (Tab, shift+Tab, a click) with nothing highlighted yet: the
        first row is, so that j, k and Enter have somewhere to start, and the user
        sees where they are."""
        if self.highlighted is None and self.option_count:
            self.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        kind, _, rest = (event.option.id or "").partition(":")
        if kind == "folder":
            account, _, folder = rest.partition(":")
            self.post_message(self.Chosen("folder", (account, folder)))
        elif kind in ("account", "contact", "all"):
            self.post_message(self.Chosen(kind, (rest,)))
