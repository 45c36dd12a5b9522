"""An email's files (`s` on the open email): save all (s), the highlighted one
(enter), or open it with the system's handler (o)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from bridge.model import Message
from tuiclient.format import one_line, size
from tuiclient.widgets.moving import Choices


class AttachmentsScreen(ModalScreen[tuple[str, list[int] | None] | None]):
    """Answers ("save", None) for all, ("save", [i]) or ("open", [i]) for one."""

    BINDINGS = [
        Binding("s", "save_all", "save all"),
        Binding("o", "open", "open"),
        Binding("escape", "cancel", "cancel"),
    ]
    DEFAULT_CSS = """
    #attachment-list { height: auto; max-height: 12; }
    """

    def __init__(self, message: Message, downloads: Path) -> None:
        super().__init__(classes="prompt")
        self.message = message
        self.downloads = downloads

    def compose(self) -> ComposeResult:
        m = self.message
        with Vertical(classes="dialog", id="attachments-dialog"):
            yield Label(f"Files of “{one_line(m.subject) or '(no subject)'}”",
                        classes="dialog-title", markup=False)
            yield Choices(*[
                Option(Text.assemble((one_line(a.filename) or f"(file {i + 1})", "bold"),
                                     (f"  {one_line(a.content_type)}  {size(a.size)}",
                                      "dim")), id=str(i))
                for i, a in enumerate(m.attachments)], id="attachment-list")
            yield Static(f"s save all · enter save this one · o open it · esc cancel\n"
                         f"saved into {self.downloads}", classes="dialog-help", markup=False)

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        listing.highlighted = 0
        listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(("save", [int(event.option.id or 0)]))

    def action_save_all(self) -> None:
        self.dismiss(("save", None))

    def action_open(self) -> None:
        highlighted = self.query_one(OptionList).highlighted
        if highlighted is not None:
            self.dismiss(("open", [highlighted]))

    def action_cancel(self) -> None:
        self.dismiss(None)


def handler() -> list[str] | None:
    """The system's opener for a file: xdg-open when there is a desktop (it runs
    apart from the terminal), else run-mailcap (the mailcap entries, which may be
    terminal programs: the caller hands the terminal over). None: neither."""
    if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and \
            shutil.which("xdg-open"):
        return ["xdg-open"]
    if shutil.which("run-mailcap"):
        return ["run-mailcap", "--action=view"]
    if shutil.which("xdg-open"):
        return ["xdg-open"]
    return None


def needs_terminal(command: list[str]) -> bool:
    return command[0] == "run-mailcap"


def open_detached(command: list[str], path: Path) -> None:
    """Start a desktop opener and leave it running on its own."""
    subprocess.Popen([*command, str(path)], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
