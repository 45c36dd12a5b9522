"""A message's links, urlscan's way (`L` or ctrl+b on the open message): numbered,
each once, with the words around it; Enter opens the highlighted one with the
system's handler, `y` copies it (OSC 52, the terminal's clipboard), a digit
jumps to that link.

The links come from the engine (bridge.mail.body_text: the text and HTML parts),
and nothing is fetched to list them: a link is only ever followed by the opener,
when the user asks. The opener is the one the files of an email use: `xdg-open`
where there is a desktop, else `$BROWSER` (a terminal browser gets the terminal),
else `xdg-open` in the terminal. A URL is passed as one argument, never through
a shell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from bridge.mail.body_text import Link
from bridge.safe import inert_text
from tuiclient.format import one_line
from tuiclient.widgets.moving import Choices


class LinksScreen(ModalScreen[tuple[str, str] | None]):
    """Answers ("open", url) or ("copy", url), or None."""

    BINDINGS = [
        Binding("y", "copy", "copy"),
        Binding("escape,q", "cancel", "cancel"),
        *[Binding(str(n), f"jump({n})", show=False) for n in range(1, 10)],
    ]
    DEFAULT_CSS = """
    #link-list { height: auto; max-height: 20; }
    """

    def __init__(self, links: list[Link], title: str) -> None:
        super().__init__(classes="prompt")
        self.links = links
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="links-dialog"):
            yield Label(f"Links of “{self.title_text}”", classes="dialog-title",
                        markup=False)
            options = []
            for n, link in enumerate(self.links, 1):
                row = Text.assemble((f"{n:>2} ", "bold"), (inert_text(link.url), "underline"))
                if link.context:
                    row.append(f"\n   {one_line(link.context)}", style="dim")
                options.append(Option(row, id=str(n - 1)))
            yield Choices(*options, id="link-list")
            yield Static("enter open · y copy · 1-9 go to · esc leave   (nothing is "
                         "fetched until you open one)", classes="dialog-help", markup=False)

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        listing.highlighted = 0
        listing.focus()

    def current(self) -> Link | None:
        h = self.query_one(OptionList).highlighted
        return self.links[h] if h is not None and 0 <= h < len(self.links) else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(("open", self.links[int(event.option.id or 0)].url))

    def action_copy(self) -> None:
        link = self.current()
        if link is not None:
            self.dismiss(("copy", link.url))

    def action_jump(self, n: int) -> None:
        if n <= len(self.links):
            self.query_one(OptionList).highlighted = n - 1

    def action_cancel(self) -> None:
        self.dismiss(None)


def url_opener() -> tuple[list[str], bool] | None:
    """The command that opens a URL, and whether it needs the terminal: xdg-open
    with a desktop; else $BROWSER (the first of its list, a terminal program);
    else xdg-open in the terminal. None: nothing here can open it."""
    desktop = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if desktop and shutil.which("xdg-open"):
        return ["xdg-open"], False
    browser = os.environ.get("BROWSER", "").split(":")[0].strip()
    if browser:
        try:
            words = shlex.split(browser)
        except ValueError:
            words = []
        if words and shutil.which(words[0]):
            return [w for w in words if w != "%s"], True
    if shutil.which("xdg-open"):
        return ["xdg-open"], True
    return None


def open_url(command: list[str], url: str) -> None:
    """Start a desktop opener on `url`, apart from the terminal."""
    subprocess.Popen([*command, url], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
