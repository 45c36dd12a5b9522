"""Every key binding, as the config has made them."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Header, Static

from tuiclient.appref import client_app
from tuiclient.chat_commands import help_lines
from tuiclient.command_line import commands
from tuiclient.keys import DEFAULTS, moving, shown
from tuiclient.widgets.footer import Footer

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen

MIN_WHAT = 30  # columns a description needs beside the action's name, else it goes under

EXTRA = [
    ("on a response card", "r / e", "reply to that person by email"),
    ("on a response card", "i", "reply to that person by IM"),
    ("on a chat line", "enter", "reply to it: into the chat input (as i)"),
    ("inline IM reply", "enter", "send the line"),
    ("inline IM reply", "ctrl+o", "reply options: to all, history, files"),
    ("inline IM reply", "esc", "leave the reply"),
    ("inline IM reply", "tab", "complete: nick, command, /correct's line; else stays"),
    ("search", "enter", "open the conversation of a result"),
    ("defer prompt", "s / d / e", "send anyway / defer / send by email"),
    ("compose", "ctrl+s / ctrl+e", "send / write the body in $EDITOR"),
    ("compose", "esc", "leave: save a draft (s) / discard (D) / keep editing"),
    ("compose", "path, enter", "attach a file (→ completes, -NAME removes)"),
    ("compose", "ctrl+b", "new message: show or hide Cc and Bcc"),
    ("compose", "ctrl+t", "new message: by email or by IM"),
    ("compose", "ctrl+g", "sign / encrypt with OpenPGP"),
    ("compose", "→", "take the address completion offered"),
    ("nothing-attached prompt", "y / n", "send it anyway / back to attach a file"),
    ("bounce prompt (b)", "addresses, enter", "redirect the email as it is (Resent-*)"),
    ("folder picker (m, C)", "type, enter", "filter the folders, take one"),
    ("folder picker (m, C)", "tab, j/k/g/G", "into the list, move in it"),
    ("tags prompt (T)", "+a -b", "add tag a, remove tag b"),
    ("files of an email (s)", "s / enter / o", "save all / save this one / open it"),
    ("files of an email (s)", "v", "view a text file here (read-only)"),
    ("drafts (P)", "enter", "resume the draft in compose"),
    ("drafts (P)", "d", "discard the draft (asked; it leaves the server's Drafts)"),
    ("reply options", "j/k, space", "next / previous choice, tick it"),
    ("outbox (O)", "tab, j/k", "into the retry log, scroll it"),
    ("outbox, no key (e)", "k / c / w / d", "fix: keys / in clear (asked) / wait / discard"),
    ("keys (K)", "v / i", "verify the chosen key or device / import keys from a file"),
    ("links (L)", "enter / y / 1-9", "open the link / copy it (OSC 52) / go to link N"),
    ("sort prompt (S)", "d / f / u / r", "by date / sender / unread first / reverse"),
    ("the list, marks on", "esc", "clear the marks"),
    ("the list, marks on", "f", "forward the marked as one email, each attached"),
    ("a chat (d, a)", "d / a", "delete it from this machine (asked) / archive it here"),
    ("room invitation", "a / d / esc", "join the room / decline / answer later"),
    ("contact request", "a / d / esc", "let them see your presence / deny / answer later"),
    ("roster (/roster)", "a / d / x", "approve / deny their request / remove (asked)"),
    ("roster (/roster)", "b / u", "block or unblock / stop asking for their presence"),
    ("roster (/roster)", "v / enter / esc", "open their avatar / write to them / back"),
    ("anywhere", "ctrl+p", "command palette (screens, theme)"),
    ("anywhere", "ctrl+q", "quit (typed text is kept; a waiting outbox is told first)"),
    ("quit, outbox not empty", "q / o / s", "quit / open the outbox / stay"),
    ("command line", "tab / enter / esc", "complete the command / run it / leave"),
]


class HelpBody(VerticalScroll):
    BINDINGS = moving("scroll_down", "scroll_up", "scroll_home", "scroll_end")


def row(t: Text, key: str, key_w: int, what: str, what_w: int, note: str = "") -> None:
    """One row of the help: the key, what it does (wrapped in its own column, so
    that a narrow terminal keeps the columns), and a dim note after it."""
    lines = textwrap.wrap(what, max(what_w - 2, 12), break_on_hyphens=False) or [""]
    for i, line in enumerate(lines):
        t.append(f"  {key if i == 0 else '':<{key_w}}", style="bold")
        if i == 0 and note:
            t.append(f"{line:<{what_w}}")
            t.append(note, style="dim")
        else:
            t.append(line)
        t.append("\n")


def name_column(names: list[str], width: int, least: int) -> int:
    """The column of the commands' names: as wide as the longest takes, at most a
    third of `width` (at least `least`, the keys' column), so the descriptions
    keep two thirds of it; a longer name takes a line of its own above its
    description (`help_text`)."""
    return min(2 + max(len(n) for n in names), max(least, width // 3))


def help_text(overrides: dict[str, tuple[str, ...]], main: MainScreen | None,
              width: int) -> Text:
    """Every key, command and chat command, laid out for `width` columns: the
    descriptions wrap in their column; the key's action name (what [keys]
    rebinds) sits beside it when there is room for both, else under it."""
    t = Text()
    group = None
    # Columns as wide as their longest entry (rebound keys can be long).
    keys_w = 2 + max([len(shown(k.action, overrides)) for k in DEFAULTS.values()]
                     + [len(keys) for _, keys, _ in EXTRA])
    note_w = max([len(f"[keys] {k.action}") for k in DEFAULTS.values()]
                 + [len(where) for where, _, _ in EXTRA])
    longest = 2 + max([len(k.description) for k in DEFAULTS.values()]
                      + [len(what) for _, _, what in EXTRA])
    room = width - 2 - keys_w  # 2: the rows' indent
    beside = room - longest >= note_w or room - note_w >= MIN_WHAT
    what_w = min(longest, room - note_w) if beside else room
    # By group, in the order the groups first come (later keys join theirs).
    order = list(dict.fromkeys(k.where for k in DEFAULTS.values()))
    for key in sorted(DEFAULTS.values(), key=lambda k: order.index(k.where)):
        if key.where != group:
            group = key.where
            t.append(f"\n{group.capitalize()}\n", style="bold underline")
        note = f"[keys] {key.action}"
        row(t, shown(key.action, overrides), keys_w, key.description, what_w,
            note if beside else "")
        if not beside:
            t.append(f"  {'':<{keys_w}}{note}\n", style="dim")
    t.append("\nElsewhere\n", style="bold underline")
    for where, keys, what in EXTRA:
        row(t, keys, keys_w, what, what_w, where if beside else "")
        if not beside:
            t.append(f"  {'':<{keys_w}}{where}\n", style="dim")
    if main is not None:
        t.append("\nCommands (type : then the name; Tab completes)\n",
                 style="bold underline")
        lines = [((":" + c.name + " " + c.takes).rstrip(), c.description)
                 for c in commands(main).values()]
        name_w = name_column([name for name, _ in lines], width, keys_w)
        for name, what in lines:
            if len(name) >= name_w:  # a long one on a line of its own
                t.append(f"  {name}\n", style="bold")
                name = ""
            row(t, name, name_w, what, width - 2 - name_w)
    # -- the chat input's / commands (tuiclient.chat_commands) --
    t.append("\nChat commands (typed in the IM reply line; tab completes)\n",
             style="bold underline")
    usage_w = name_column([usage for usage, _ in help_lines()], width, keys_w)
    for usage, what in help_lines():
        if len(usage) >= usage_w:
            t.append(f"  {usage}\n", style="bold")
            usage = ""
        row(t, usage, usage_w, what, width - 2 - usage_w)
    for note in ("↑ in an empty reply line: correct your last line; //text sends a "
                 "line that starts with /",
                 "↑ past a chat's first line: older lines from the server's archive",
                 "a slip is asked about before it goes (enter again sends it as typed): "
                 "a /command after a stray letter, the reply key typed first as the "
                 "keys came to the line (Alt+N, back from a screen)"):
        for i, line in enumerate(textwrap.wrap(note, max(width - 6, 20))):
            t.append(("  " if i == 0 else "    ") + line + "\n", style="dim")
    t.append("\nRebind any action in the config file, e.g.\n  [keys]\n"
             '  reply_im = "m"\n  down = ["j", "ctrl+n"]\n', style="dim")
    return t


class HelpScreen(Screen):
    """Every key binding, the : commands and the chat commands, as wide as the
    terminal: at 80 columns (mutt's classic) no row wraps out of its columns."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "back")]

    def compose(self) -> ComposeResult:
        yield Header()
        with HelpBody(id="help"):
            yield Static(markup=False)
        yield Footer()

    def fill(self, width: int) -> None:
        """The help laid out for a screen `width` columns wide, less the body's
        padding and scrollbar."""
        body = self.query_one(HelpBody)
        inner = width - body.styles.gutter.width - body.styles.scrollbar_size_vertical
        app = client_app(self)
        body.query_one(Static).update(help_text(app.config.keys, app.main_screen(), inner))

    def on_mount(self) -> None:
        self.sub_title = "keys"
        self.fill(self.app.size.width)
        self.query_one(HelpBody).focus()

    def on_resize(self, event: Resize) -> None:
        self.fill(event.size.width)
