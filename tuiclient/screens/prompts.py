"""Small modal questions on the way of a reply: an address, away, reply options."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from bridge.identity import Resolution
from bridge.model import Attachment, ContactPresence
from tuiclient.drafts import ReplyDraft
from tuiclient.format import file_size, one_line
from tuiclient.keys import moving
from tuiclient.presence_colours import presence_dot
from tuiclient.widgets.ticks import Checklist, Tick


class DeferScreen(ModalScreen[str | None]):
    """The contact is not available: their away message, and what to do; with
    `who` (whom the chat is with), also whether to give the same answer for
    them, without asking, until they are back (for this run of the app).

    It opens while the user may still be typing their next line: keys typed
    before it was there, and keys that go on from the typing (each within
    GRACE of the one before; `typing`: when the last key, the Enter that sent
    the line, was typed into the chat input; None: no typing) are text, not answers (an "e" of
    "one more thing" sent the line by email), kept in `typed` for the caller
    to put where text goes, never joined to the line that was asked about.
    A key after a pause, or with no typing going on, answers."""

    BINDINGS = [
        Binding("s", "choose('send')", "send anyway"),
        Binding("d", "choose('defer')", "defer"),
        Binding("e", "choose('email')", "send by email"),
        Binding("a", "remember", "same answer until they are back", show=False),
        Binding("escape", "choose('')", "cancel"),
    ]

    GRACE = 0.4  # seconds: a key this soon after the last one is still typing

    def __init__(self, presences: Sequence[ContactPresence], who: str = "",
                 typing: float | None = None) -> None:
        super().__init__(classes="prompt")
        self.presences = list(presences)
        self.who = who
        self.typed = ""  # what was typed into it while it opened
        self._last_key = typing  # (monotonic, as a key's time)
        self._shown = float("inf")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="defer-dialog"):
            yield Label("Not available right now", classes="dialog-title")
            for p in self.presences:
                dot, style = presence_dot(p.availability.value, self.app.theme_variables)
                t = Text(dot + " ", style=style)
                t.append(one_line(p.jid), style="bold")
                t.append(f" is {p.availability.value}")
                if p.status:
                    t.append("\n  “")
                    t.append(one_line(p.status), style="italic")
                    t.append("”")
                yield Static(t, classes="presence", markup=False)
            yield Static("Send it anyway, keep it until they are available (retried, and "
                         "you are told of every try), or send it by email now?",
                         classes="dialog-help", markup=False)
            if self.who:
                yield Checkbox(Text(f"Don't ask again for {one_line(self.who)} until "
                                    "they're back (or a restart) [a]"), id="remember")
            yield Static("", id="typed", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Send anyway \\[s]", id="send")
                yield Button("Defer \\[d]", id="defer", variant="primary")
                yield Button("Send by email \\[e]", id="email")
                yield Button("Cancel \\[esc]", id="cancel")

    def on_mount(self) -> None:
        self._shown = time.monotonic()
        self.query_one("#typed", Static).display = False
        self.query_one("#defer", Button).focus()

    @property
    def remember(self) -> bool:
        """Whether the answer is to stand for them until they are back."""
        return bool(self.who) and self.query_one("#remember", Checkbox).value

    def action_remember(self) -> None:
        if self.who:
            box = self.query_one("#remember", Checkbox)
            box.value = not box.value

    def on_key(self, event: events.Key) -> None:
        """A key typed on from the chat input (the dialog opened under the
        user's fingers) is text; a pause, and keys answer the dialog."""
        at = getattr(event, "time", None) or time.monotonic()
        if at >= self._shown and (self._last_key is None or at - self._last_key > self.GRACE):
            return
        if event.is_printable and event.character:
            self.typed += event.character
        elif event.key == "backspace":
            self.typed = self.typed[:-1]
        elif event.key != "enter":  # (an Enter typed on presses no button)
            return
        self._last_key = at
        event.stop()
        event.prevent_default()
        shown = self.query_one("#typed", Static)
        shown.update(Text(f"Typed meanwhile, kept apart: “{one_line(self.typed)}”",
                          style="italic"))
        shown.display = bool(self.typed)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose("" if event.button.id == "cancel" else event.button.id or "")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice or None)


class AddressScreen(ModalScreen[dict[str, str] | Literal["mixed"] | None]):
    """Parties without an address on the chosen transport: ask for one, offering
    what the identity layer learned; or send their part the other way."""

    BINDINGS = [
        Binding("ctrl+s", "use", "use these"),
        Binding("ctrl+o", "mixed", "other transport for them"),
        Binding("escape", "cancel", "cancel"),
    ]

    def __init__(self, transport: str, unresolved: Sequence[Resolution]) -> None:
        super().__init__(classes="prompt")
        self.transport = transport
        self.unresolved = list(unresolved)

    def compose(self) -> ComposeResult:
        kind = "JID" if self.transport == "xmpp" else "email address"
        other = "by email" if self.transport == "xmpp" else "by chat"
        with Vertical(classes="dialog", id="address-dialog"):
            yield Label(f"Which {kind}?", classes="dialog-title")
            for i, r in enumerate(self.unresolved):
                yield Label(Text.assemble(("No " + kind + " known for ", ""),
                                          (one_line(r.query), "bold")), markup=False)
                first = r.suggestions[0].address if r.suggestions else ""
                yield Input(value=first, placeholder=f"{kind} of {one_line(r.query)}",
                            id=f"address-{i}")
                for s in r.suggestions:
                    yield Static(Text.assemble(("  suggested: ", "dim"),
                                               (one_line(s.address), ""),
                                               (f"  ({one_line(s.source)}: "
                                                f"{one_line(s.detail)})", "dim")),
                                 markup=False, classes="suggestion")
            with Horizontal(classes="buttons"):
                yield Button("Use and remember \\[ctrl+s]", id="use", variant="primary")
                yield Button(f"Their part {other} \\[ctrl+o]", id="mixed")
                yield Button("Cancel \\[esc]", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_use()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"use": self.action_use, "mixed": self.action_mixed,
         "cancel": self.action_cancel}[event.button.id or "cancel"]()

    def action_use(self) -> None:
        answers = {}
        for i, r in enumerate(self.unresolved):
            value = self.query_one(f"#address-{i}", Input).value.strip()
            if "@" not in value:
                self.notify(f"Give an address for {r.query}, or send their part the "
                            "other way.", severity="warning", markup=False)
                return
            answers[r.query] = value
        self.dismiss(answers)

    def action_mixed(self) -> None:
        self.dismiss("mixed")

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReplyOptionsScreen(ModalScreen[ReplyDraft | None]):
    """Reply to all, include history, choose attachments (a checklist of the
    thread's files)."""

    BINDINGS = [Binding("ctrl+s", "done", "done"), Binding("escape", "cancel", "cancel"),
                *moving("step(1)", "step(-1)", "step(-1000)", "step(1000)")]

    def __init__(self, draft: ReplyDraft, several: bool,
                 files: Sequence[Attachment]) -> None:
        super().__init__(classes="prompt")
        self.draft = draft
        self.several = several
        self.files = list(files)

    def compose(self) -> ComposeResult:
        how = "by email" if self.draft.via == "email" else "by IM"
        with Vertical(classes="dialog", id="options-dialog"):
            yield Label(f"Reply {how}: options", classes="dialog-title")
            yield Tick("Reply to all", self.draft.reply_all, id="reply-all",
                       disabled=not self.several)
            yield Tick("Include history", self.draft.history, id="history")
            yield Files(self.files, self.draft.attachments, id="files")
            with Horizontal(classes="buttons"):
                yield Button("Done \\[ctrl+s]", id="done", variant="primary")
                yield Button("Cancel \\[esc]", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#history", Checkbox).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        (self.action_done if event.button.id == "done" else self.action_cancel)()

    def action_step(self, by: int) -> None:
        """j/k: the next or previous choice (a box, the file list, a button); g/G
        the first or last. In the file list j/k move through the files."""
        stops = [w for w in self.query("Tick, Checklist, Button") if w.focusable]
        if not stops:
            return
        at = stops.index(self.focused) if self.focused in stops else 0
        stops[max(0, min(len(stops) - 1, at + by))].focus()

    def action_done(self) -> None:
        self.draft.reply_all = self.query_one("#reply-all", Checkbox).value
        self.draft.history = self.query_one("#history", Checkbox).value
        self.draft.attachments = self.query_one(Files).chosen
        self.dismiss(self.draft)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Files(VerticalScroll, can_focus=False):
    """The checklist of a thread's files (one entry per name)."""

    def __init__(self, files: Sequence[Attachment], chosen: Sequence[str],
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.files = list({a.filename: a for a in files if a.filename}.values())
        self.initial = set(chosen)

    def compose(self) -> ComposeResult:
        if not self.files:
            yield Label("No files in this conversation.", classes="dim")
            return
        yield Label("Attachments to send along:")
        yield Checklist(*[
            Selection(Text.assemble(one_line(a.filename), (f"  {file_size(a)}", "dim")),
                      a.filename, a.filename in self.initial) for a in self.files],
            id="file-list")

    @property
    def chosen(self) -> list[str]:
        if not self.files:
            return []
        return list(self.query_one("#file-list", SelectionList).selected)
