"""Writing an email: a reply (with its options) or a new message; $EDITOR on demand."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    TextArea,
)

from bridge.model import Attachment, Direction, Transport
from tuiclient.appref import client_app
from tuiclient.drafts import NewMessage, ReplyDraft
from tuiclient.format import one_line, who
from tuiclient.screens.prompts import Files
from tuiclient.widgets.ticks import Choice, Tick


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi; split as a shell would (`code --wait`)."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def edit_text(text: str, command: Sequence[str] | None = None) -> str | None:
    """Run the editor on `text` in a private temporary file (0600) and read it back;
    None when the editor exits non-zero (`:cq` in vi: the user gave up)."""
    with tempfile.NamedTemporaryFile("w", prefix="tuiclient-", suffix=".txt",
                                     delete=False) as f:
        f.write(text)
        path = Path(f.name)
    try:
        done = subprocess.run([*(command or editor_command()), str(path)], check=False)
        if done.returncode != 0:
            return None
        return path.read_text()
    finally:
        path.unlink(missing_ok=True)


class ComposeBase(Screen):
    BINDINGS = [
        Binding("ctrl+s", "send", "send", priority=True),
        Binding("ctrl+e", "editor", "edit in $EDITOR", priority=True),
        Binding("escape", "cancel", "cancel"),
    ]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"send": self.action_send, "editor": self.action_editor,
         "cancel": self.action_cancel}[event.button.id or "cancel"]()

    def buttons(self) -> ComposeResult:
        with Horizontal(classes="buttons"):
            yield Button("Send \\[ctrl+s]", id="send", variant="primary")
            yield Button("Edit in $EDITOR \\[ctrl+e]", id="editor")
            yield Button("Cancel \\[esc]", id="cancel")

    def action_editor(self) -> None:
        """Write the body in the user's editor. The app hands the terminal over
        (App.suspend) and waits for the editor to close: this blocks the UI loop on
        purpose, as nothing is drawn meanwhile; workers and servers carry on."""
        area = self.query_one("#body", TextArea)
        try:
            with self.app.suspend():
                text = edit_text(area.text)
        except SuspendNotSupported:
            self.notify("$EDITOR needs the terminal, and this one cannot be handed over "
                        "(no tty?).", severity="error")
            return
        except OSError as exc:  # no such editor
            self.notify(f"$EDITOR failed: {exc}", severity="error", markup=False)
            return
        if text is None:
            self.notify("The editor gave up (non-zero exit): the text is as it was.",
                        severity="warning")
        else:
            area.text = text.rstrip("\n")
        area.focus()

    def action_send(self) -> None:
        """Check the text and hand the result back: each kind of compose screen its own."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)


class ComposeScreen(ComposeBase):
    """Reply by email: to the sender or all, with history and files if wanted."""

    def __init__(self, draft: ReplyDraft, several: bool, files: Sequence[Attachment],
                 me: Sequence[str] = ()) -> None:
        super().__init__()
        self.draft = draft
        self.several = several
        self.files = list(files)
        self.me = {a.lower() for a in me}

    def recipients(self, reply_all: bool) -> str:
        m = self.draft.message
        named = client_app(self).contact_names
        first = who(m, named) if m.direction is Direction.IN else ", ".join(
            one_line(p.name) or one_line(p.address) for p in m.recipients[:1])
        if not reply_all:
            return first
        others = [one_line(p.name) or one_line(p.address) for p in m.recipients
                  if p.address.lower() not in self.me and p.role != "occupant"]
        return ", ".join(dict.fromkeys([first, *others]))

    def compose(self) -> ComposeResult:
        m = self.draft.message
        yield Header()
        with Vertical(id="compose"):
            came = "email" if m.transport is Transport.EMAIL else "chat line"
            title = Text.assemble(("Reply by email", "bold"), " to ",
                                  (who(m, client_app(self).contact_names), "bold"),
                                  f", on their {came}")
            if m.subject:
                title.append(f" “{one_line(m.subject)}”")
            yield Label(title, id="compose-title", markup=False)
            yield Label(Text.assemble(("To: ", "bold"), self.recipients(self.draft.reply_all)),
                        id="compose-to", markup=False)
            with Horizontal(id="compose-options"):
                yield Tick("Reply to all", self.draft.reply_all, id="reply-all",
                           disabled=not self.several)
                yield Tick("Include history", self.draft.history, id="history")
            yield Files(self.files, self.draft.attachments, id="files")
            yield TextArea(self.draft.text, id="body")
            yield from self.buttons()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "compose"
        self.query_one("#body", TextArea).focus()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "reply-all":
            self.query_one("#compose-to", Label).update(
                Text.assemble(("To: ", "bold"), self.recipients(event.value)))

    def action_send(self) -> None:
        text = self.query_one("#body", TextArea).text
        if not text.strip():
            self.notify("The reply is empty.", severity="warning")
            return
        self.draft.text = text
        self.draft.reply_all = self.query_one("#reply-all", Checkbox).value
        self.draft.history = self.query_one("#history", Checkbox).value
        self.draft.attachments = self.query_one(Files).chosen
        self.dismiss(self.draft)


class NewMessageScreen(ComposeBase):
    """A new conversation, by email or by IM."""

    def __init__(self, accounts: Sequence[str], to: str = "", via: str = "email") -> None:
        super().__init__()
        self.accounts = list(accounts)
        self.to = to
        self.via = via

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="compose"):
            yield Label(Text("New message", style="bold"), id="compose-title")
            with RadioSet(id="via"):
                yield Choice("by email", self.via == "email", id="via-email")
                yield Choice("by IM", self.via == "im", id="via-im")
            yield Input(self.to, placeholder="To: addresses or JIDs, comma-separated",
                        id="to")
            yield Input(placeholder="Subject (email only)", id="subject")
            yield TextArea(id="body")
            yield from self.buttons()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "new message"
        self.query_one("#to" if not self.to else "#body").focus()

    def action_send(self) -> None:
        to = [a.strip() for a in self.query_one("#to", Input).value.split(",") if a.strip()]
        text = self.query_one("#body", TextArea).text
        if not to or not text.strip():
            self.notify("Say to whom, and what.", severity="warning")
            return
        via = "im" if self.query_one("#via-im", RadioButton).value else "email"
        self.dismiss(NewMessage(self.accounts[0], to, via,
                                self.query_one("#subject", Input).value, text))
