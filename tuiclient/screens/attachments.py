"""An email's files, or a chat line's (`s` on the open email or the chosen
line; a chat line's are fetched from their links as they are saved): save
all (s), the highlighted one (enter), view a text file here (v), or open it
with the system's handler (o):
the mailcap entry for its type first (as mutt), else xdg-open. An opened file
is a private copy (a folder of our own, 0700), removed once a mailcap command
returns, else when the app exits."""

from __future__ import annotations

import atexit
import contextlib
import mimetypes
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from bridge.model import Attachment, Message, Transport
from bridge.safe import inert_text
from tuiclient.format import file_size, one_line, who
from tuiclient.widgets.footer import Footer
from tuiclient.widgets.moving import Choices


class AttachmentsScreen(ModalScreen[tuple[str, list[int] | None] | None]):
    """Answers ("save", None) for all, ("save", [i]), ("view", [i]) or ("open", [i])
    for one."""

    BINDINGS = [
        Binding("s", "save_all", "save all"),
        Binding("v", "view", "view"),
        Binding("o", "open", "open"),
        Binding("escape", "cancel", "cancel"),
    ]
    DEFAULT_CSS = """
    #attachment-list { height: auto; max-height: 12; }
    """

    def __init__(self, message: Message, downloads: Path,
                 names: Mapping[str, str] | None = None) -> None:
        super().__init__(classes="prompt")
        self.message = message
        self.downloads = downloads
        self.names = names  # address (lower) -> contact name, for a chat line's title

    def compose(self) -> ComposeResult:
        m = self.message
        with Vertical(classes="dialog", id="attachments-dialog"):
            title = f"Files of “{one_line(m.subject) or '(no subject)'}”" \
                if m.transport is Transport.EMAIL else \
                f"Files of {who(m, self.names)}'s chat line"
            yield Label(title, classes="dialog-title", markup=False)
            yield Choices(*[
                Option(Text.assemble((one_line(a.filename) or f"(file {i + 1})", "bold"),
                                     (f"  {one_line(kind_of(a))}  {file_size(a)}",
                                      "dim")), id=str(i))
                for i, a in enumerate(m.attachments)], id="attachment-list")
            yield Static(f"s save all · enter save this one · v view a text file here · "
                         f"o open it · esc cancel\n"
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

    def action_view(self) -> None:
        highlighted = self.query_one(OptionList).highlighted
        if highlighted is None:
            return
        if not is_text(self.message.attachments[highlighted]):
            self.notify("Only a text file is shown here: o opens this one.",
                        severity="warning")
            return
        self.dismiss(("view", [highlighted]))

    def action_cancel(self) -> None:
        self.dismiss(None)


def kind_of(a: Attachment) -> str:
    """A file's type: as its message said, else (a chat line's link says none)
    as its name suggests."""
    if a.content_type and a.content_type != "application/octet-stream":
        return a.content_type
    return mimetypes.guess_type(a.filename)[0] or a.content_type


def is_text(a: Attachment) -> bool:
    return kind_of(a).split(";", 1)[0].strip().lower().startswith("text/")


def shown_text(data: bytes, content_type: str) -> str:
    """A text file's words, decoded by its charset (else UTF-8, bad bytes
    replaced) and made inert: nothing in it reaches the terminal as a control."""
    charset = "utf-8"
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"'):
            charset = value.strip().strip('"')
    try:
        text = data.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        text = data.decode("utf-8", "replace")
    return inert_text(text)


class TextFileScreen(ModalScreen[None]):
    """A text attachment shown here, read-only and scrollable (the text inert)."""

    BINDINGS = [Binding("escape", "close", "close"), Binding("q", "close", show=False)]
    DEFAULT_CSS = """
    TextFileScreen #text-file { height: 1fr; }
    TextFileScreen #text-file-title { text-style: bold; }
    """

    def __init__(self, name: str, text: str) -> None:
        super().__init__(classes="prompt")
        self.file_name = name
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="text-file-dialog"):
            yield Label(one_line(self.file_name), id="text-file-title", markup=False)
            yield TextArea(self.text, read_only=True, soft_wrap=True, id="text-file")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_close(self) -> None:
        self.dismiss(None)


# -- opening with the system's handler ------------------------------------------------

_private: list[Path] = []


def private_folder() -> Path:
    """A new folder of our own (0700) for a copy to open; removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="tuiclient-open-"))
    _private.append(folder)
    return folder


def remove_private(folder: Path | None = None) -> None:
    """Remove one private folder (after its mailcap command returned), or all of
    them (the app exits: viewers started apart from us had their time)."""
    for f in [folder] if folder is not None else list(_private):
        shutil.rmtree(f, ignore_errors=True)
        with contextlib.suppress(ValueError):
            _private.remove(f)


atexit.register(remove_private)


@dataclass(frozen=True)
class Opener:
    """How a file is opened: `command` (argv); `waits`: run in the foreground with
    the terminal handed over (a mailcap entry, which may be a terminal program;
    mutt waits for it too), else started apart (xdg-open)."""

    command: list[str]
    waits: bool
    via: str  # "mailcap" | "xdg-open", for the user's message


def mailcap_entry(path: Path, content_type: str) -> list[str] | None:
    """The mailcap "view" command for `path` of `content_type` (RFC 1524, the
    stdlib's mailcap lookup; run by the shell, as mailcap commands are written for
    it); without that module (Python 3.13), run-mailcap's own lookup."""
    kind = content_type.split(";", 1)[0].strip().lower() or "application/octet-stream"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import mailcap
    except ImportError:
        if shutil.which("run-mailcap") is None:
            return None
        found = subprocess.run(["run-mailcap", "--action=view", "--norun",
                                f"{kind}:{path}"], capture_output=True, text=True,
                               check=False)
        line = found.stdout.strip()
        return ["sh", "-c", line] if found.returncode == 0 and line else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unsafe name is refused, not warned about
        command, _entry = mailcap.findmatch(mailcap.getcaps(), kind, "view", str(path))
    return ["sh", "-c", command] if command else None


def opener_for(path: Path, content_type: str) -> Opener | None:
    """The opener of a file: the mailcap entry for its type first, else xdg-open.
    None: neither is there."""
    entry = mailcap_entry(path, content_type)
    if entry is not None:
        return Opener(entry, True, "mailcap")
    if shutil.which("xdg-open"):
        return Opener(["xdg-open"], False, "xdg-open")
    return None


def handler() -> list[str] | None:
    """A file's opener when its type is not known (an avatar): xdg-open when
    there is a desktop (it runs apart from the terminal), else run-mailcap (the
    mailcap entries, which may be terminal programs: the caller hands the terminal
    over). None: neither."""
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
