"""Files from disk to send along: a path input that completes as a shell does
(→ takes the completion; enter adds the file, `-NAME` takes one off), and the
list of what is attached (name, MIME type, size). The parent reads `paths`."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.suggester import Suggester
from textual.widgets import Input, Static

from tuiclient.format import one_line, size

# "attached", "attachment", "I attach", "enclosed", "see the file": the words that
# promise a file (as mutt's $abort_noattach_regex does).
PROMISE = re.compile(r"\b(attach(ed|ing|ment|ments)?|enclosed|anbei|ci-joint|adjunto)\b",
                     re.IGNORECASE)


def promises_a_file(text: str) -> bool:
    """Whether the words of `text` (quotes left out) say something is attached."""
    own = "\n".join(line for line in text.splitlines() if not line.startswith(">"))
    own = own.split("\n-- \n", 1)[0]
    return PROMISE.search(own) is not None


def describe(path: Path) -> Text:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    try:
        length = path.stat().st_size
    except OSError:
        length = 0
    return Text.assemble(("+ ", "magenta"), (one_line(path.name), "magenta"),
                         (f"  {kind}  {size(length)}", "dim"))


class PathSuggester(Suggester):
    """Completes a path: the first entry of its folder that starts with what is
    typed (folders end in /)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, stem = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
                           if p.name.startswith(stem) and
                           (stem.startswith(".") or not p.name.startswith(".")))
        except OSError:
            return None
        if not names:
            return None
        return value + names[0][len(stem):]


class LocalFiles(Vertical):
    DEFAULT_CSS = """
    LocalFiles { height: auto; }
    LocalFiles #attach-path { margin: 0; }
    LocalFiles #attached { height: auto; }
    """

    def __init__(self, paths: list[Path] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.paths: list[Path] = list(paths or [])

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Attach a file: its path, then enter (→ completes; "
                    "-NAME removes one)", suggester=PathSuggester(), id="attach-path",
                    compact=True)
        yield Static(id="attached", markup=False)

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        t = Text()
        for i, p in enumerate(self.paths):
            if i:
                t.append("\n")
            t.append_text(describe(p))
        self.query_one("#attached", Static).update(t)
        self.query_one("#attached", Static).display = bool(self.paths)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        typed = event.value.strip()
        if not typed:
            return
        if typed.startswith("-"):
            name = typed[1:]
            self.paths = [p for p in self.paths if p.name != name and str(p) != name]
        else:
            path = Path(typed).expanduser()
            if not path.is_file():
                self.notify(f"No file {typed}", severity="warning", markup=False)
                return
            path = path.resolve()
            if path not in self.paths:
                self.paths.append(path)
        event.input.value = ""
        self.show()
