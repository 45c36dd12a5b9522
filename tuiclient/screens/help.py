"""Every key binding, as the config has made them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tuiclient.appref import client_app
from tuiclient.chat_commands import help_lines
from tuiclient.command_line import commands
from tuiclient.keys import DEFAULTS, moving, shown

EXTRA = [
    ("on a response card", "r / e", "reply to that person by email"),
    ("on a response card", "i", "reply to that person by IM"),
    ("on a chat line", "enter", "reply to it: into the chat input (as i)"),
    ("inline IM reply", "enter", "send the line"),
    ("inline IM reply", "ctrl+o", "reply options: to all, history, files"),
    ("inline IM reply", "esc", "leave the reply"),
    ("search", "enter", "open the conversation of a result"),
    ("defer prompt", "s / d / e", "send anyway / defer / send by email"),
    ("compose", "ctrl+s / ctrl+e", "send / write the body in $EDITOR"),
    ("compose", "esc", "leave: save a draft / discard / keep editing"),
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
    ("command line", "tab / enter / esc", "complete the command / run it / leave"),
]


class HelpBody(VerticalScroll):
    BINDINGS = moving("scroll_down", "scroll_up", "scroll_home", "scroll_end")


class HelpScreen(Screen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "back")]

    def compose(self) -> ComposeResult:
        overrides = client_app(self).config.keys
        t = Text()
        group = None
        # Columns as wide as their longest entry (rebound keys can be long).
        keys_w = 2 + max([len(shown(k.action, overrides)) for k in DEFAULTS.values()]
                         + [len(keys) for _, keys, _ in EXTRA])
        what_w = 2 + max([len(k.description) for k in DEFAULTS.values()]
                         + [len(what) for _, _, what in EXTRA])
        # By group, in the order the groups first come (later keys join theirs).
        order = list(dict.fromkeys(k.where for k in DEFAULTS.values()))
        for key in sorted(DEFAULTS.values(), key=lambda k: order.index(k.where)):
            if key.where != group:
                group = key.where
                t.append(f"\n{group.capitalize()}\n", style="bold underline")
            t.append(f"  {shown(key.action, overrides):<{keys_w}}", style="bold")
            t.append(f"{key.description:<{what_w}}")
            t.append(f"[keys] {key.action}\n", style="dim")
        t.append("\nElsewhere\n", style="bold underline")
        for where, keys, what in EXTRA:
            t.append(f"  {keys:<{keys_w}}", style="bold")
            t.append(f"{what:<{what_w}}")
            t.append(f"{where}\n", style="dim")
        main = client_app(self).main_screen()
        if main is not None:
            t.append("\nCommands (type : then the name; Tab completes)\n",
                     style="bold underline")
            for c in commands(main).values():
                t.append(f"  {(':' + c.name + ' ' + c.takes).rstrip():<{keys_w + what_w}}",
                         style="bold")
                t.append(f"{c.description}\n")
        # -- the chat input's / commands (tuiclient.chat_commands) --
        t.append("\nChat commands (typed in the IM reply line; tab completes)\n",
                 style="bold underline")
        usage_w = 2 + max(len(usage) for usage, _ in help_lines())
        for usage, what in help_lines():
            t.append(f"  {usage:<{usage_w}}", style="bold")
            t.append(f"{what}\n")
        t.append("  ↑ in an empty reply line: correct your last line; "
                 "//text sends a line that starts with /\n"
                 "  ↑ past a chat's first line: older lines from the server's archive\n",
                 style="dim")
        t.append("\nRebind any action in the config file, e.g.\n  [keys]\n"
                 '  reply_im = "m"\n  down = ["j", "ctrl+n"]\n', style="dim")
        yield Header()
        with HelpBody(id="help"):
            yield Static(t, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "keys"
        self.query_one(HelpBody).focus()
