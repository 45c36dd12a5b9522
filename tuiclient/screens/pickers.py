"""Small modal questions of the mail keys: which folder (m, C), which tags (T),
to whom (f, b), and what to do with an unsent message (Esc in compose)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tuiclient.format import one_line
from tuiclient.widgets.addresses import split_addresses
from tuiclient.widgets.moving import Choices


class FolderPicker(ModalScreen[str | None]):
    """The account's folders, filtered as the user types; Enter takes the
    highlighted one (or the name typed, when none matches)."""

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    def __init__(self, title: str, folders: Sequence[str]) -> None:
        super().__init__(classes="prompt")
        self.title_text = title
        self.folders = list(folders)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="folder-dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Input(placeholder="type to filter", id="folder-filter")
            yield Choices(*self._options(""), id="folder-list")
            yield Static("↑↓ choose (tab: the list, j/k/g/G there) · enter take · esc cancel",
                         classes="dialog-help")

    def _options(self, typed: str) -> list[Option]:
        typed = typed.lower()
        return [Option(one_line(f), id=f) for f in self.folders if typed in f.lower()]

    def on_mount(self) -> None:
        self.query_one("#folder-list", OptionList).highlighted = 0 if self.folders else None
        self.query_one("#folder-filter", Input).focus()

    @on(Input.Changed, "#folder-filter")
    def filter(self, event: Input.Changed) -> None:
        listing = self.query_one("#folder-list", OptionList)
        listing.clear_options()
        listing.add_options(self._options(event.value))
        listing.highlighted = 0 if listing.option_count else None

    def action_move(self, by: int) -> None:
        listing = self.query_one("#folder-list", OptionList)
        if listing.option_count:
            now = listing.highlighted if listing.highlighted is not None else -by
            listing.highlighted = max(0, min(listing.option_count - 1, now + by))

    @on(Input.Submitted, "#folder-filter")
    def take(self, event: Input.Submitted) -> None:
        event.stop()
        listing = self.query_one("#folder-list", OptionList)
        if listing.highlighted is not None and listing.option_count:
            self.dismiss(listing.get_option_at_index(listing.highlighted).id)
        elif event.value.strip():
            self.dismiss(event.value.strip())

    @on(OptionList.OptionSelected, "#folder-list")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_tags(typed: str) -> tuple[list[str], list[str]]:
    """`+work -old urgent` as (add, remove): a bare word is added."""
    add: list[str] = []
    remove: list[str] = []
    for word in typed.replace(",", " ").split():
        if word.startswith("-"):
            if word[1:]:
                remove.append(word[1:])
        else:
            name = word.removeprefix("+")
            if name:
                add.append(name)
    return add, remove


class TagPrompt(ModalScreen[tuple[list[str], list[str]] | None]):
    """Tags to add and remove (IMAP keywords): `+work -old`."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, what: str, current: Sequence[str]) -> None:
        super().__init__(classes="prompt")
        self.what = what
        self.current = sorted(current)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="tag-dialog"):
            yield Label(f"Tags of {self.what}", classes="dialog-title", markup=False)
            now = " ".join(f"+{one_line(t)}" for t in self.current) or "none"
            yield Static(Text.assemble(("now: ", "dim"), (now, "cyan")), markup=False)
            yield Input(placeholder="+add -remove (a bare word adds)", id="tags")
            yield Static("enter apply · esc cancel", classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one("#tags", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        add, remove = parse_tags(event.value)
        if add or remove:
            self.dismiss((add, remove))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ToPrompt(ModalScreen[list[str] | None]):
    """To whom a forward or a bounce goes."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, help_text: str = "",
                 suggester: Suggester | None = None) -> None:
        super().__init__(classes="prompt")
        self.title_text = title
        self.help_text = help_text
        self.suggester = suggester

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="to-dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Input(placeholder="To: addresses, comma-separated (→ completes a contact)",
                        suggester=self.suggester, id="to")
            if self.help_text:
                yield Static(self.help_text, classes="dialog-help", markup=False)

    def on_mount(self) -> None:
        self.query_one("#to", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        to = split_addresses(event.value)
        if not to or not all("@" in a for a in to):
            self.notify("Give one or more email addresses.", severity="warning")
            return
        self.dismiss(to)

    def action_cancel(self) -> None:
        self.dismiss(None)


class UnsentPrompt(ModalScreen[str]):
    """Leaving a message that was not sent: save it as a draft (a chat message:
    keep it for later, where it fits a chat line), discard it, or keep writing.
    Nothing typed is lost without the user saying so.

    Discard is D, the capital: Esc then `dd` is a vim reflex, and d alone threw
    the text away with no way back (mutt asks "Abort unmodified message?" and
    aerc's :abort is a command typed out: neither is one reflex key away, and
    neither has an undo to count on). d says so, and discards nothing; nor
    does Alt+d (Esc and d read as one key)."""

    BINDINGS = [
        Binding("s", "choose('save')", "save draft"),
        Binding("D", "choose('discard')", "discard"),
        Binding("d", "not_discarded", show=False),
        Binding("escape,k", "choose('keep')", "keep editing"),
    ]

    def __init__(self, can_save: bool = True, chat: bool = False) -> None:
        super().__init__(classes="prompt")
        self.can_save = can_save
        self.chat = chat

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="unsent-dialog"):
            yield Label("This message is not sent", classes="dialog-title")
            if self.chat:
                help_text = ("Keep it for later (as your unsent line in the chat, or "
                             "with the drafts P lists), throw it away, or go back to it?")
            elif self.can_save:
                help_text = ("Save it in Drafts (P lists them later), throw it away, or "
                             "go back to it?")
            else:
                help_text = "Throw it away, or go back to it?"
            yield Static(help_text, classes="dialog-help")
            with Horizontal(classes="buttons"):
                if self.can_save:
                    yield Button("Keep for later \\[s]" if self.chat else
                                 "Save draft \\[s]", id="save", variant="primary")
                yield Button("Discard \\[shift+d]", id="discard", variant="error")
                yield Button("Keep editing \\[esc]", id="keep")

    def on_mount(self) -> None:
        self.query_one("#save" if self.can_save else "#keep", Button).focus()

    def action_not_discarded(self) -> None:
        self.notify("Not discarded: shift+D discards (d alone does not, so that a "
                    "reflex dd throws nothing away).", severity="warning", timeout=4)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(event.button.id or "keep")

    def action_choose(self, choice: str) -> None:
        if choice == "save" and not self.can_save:
            return
        self.dismiss(choice)


class Confirm(ModalScreen[bool]):
    """A yes/no question: y or enter says yes, n or esc no."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, title: str, question: str, yes: str = "Yes") -> None:
        super().__init__(classes="prompt")
        self.title_text = title
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.question, classes="dialog-help", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} \\[y]", id="yes", variant="warning")
                yield Button("No \\[n]", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
