"""The `:` command line, as aerc and mutt have it: a line at the bottom of the
screen, Tab completes a command's name (and cycles through the ones that fit),
Enter runs it, Esc leaves.

Every command runs the same action as its key (the screen's `action_*`), so
the two never drift apart; `:help` opens the key help, which lists them too.
The chat input's `/` commands are here too, by the same names (`:join`,
`:status away`), run by the chat input's code; their answers come in a toast, as
every `:` command's (typed in the chat input, under the timeline).

The line is see-through (the screen under it shows); it draws the toasts itself,
where that screen has them, and hides that screen's while it is open.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label

from tuiclient.appref import client_app
from tuiclient.chat_commands import COMMANDS as CHAT_COMMANDS
from tuiclient.chat_commands import NotACommand
from tuiclient.chat_commands import parse as parse_chat

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    run: Callable[[list[str]], object]  # the words after the name
    takes: str = ""  # what the words are, for the help line ("[words]")


def window(screen: MainScreen, words: list[str]) -> None:
    """`:win 3`, `:win prev`, `:win next` (none: next): the window keys' action."""
    word = words[0].lower() if words else "next"
    if word.isdigit():
        screen.action_window(int(word))
    else:
        screen.action_window(0, -1 if word.startswith("prev") else 1)


def commands(screen: MainScreen) -> dict[str, Command]:
    """The commands of the main screen, by name."""
    s = screen
    cmds = [
        Command("search", "search mail and chat", lambda a: s.action_search(" ".join(a)),
                "[query]"),
        Command("compose", "new message", lambda a: s.action_compose(" ".join(a)), "[to]"),
        Command("reply", "reply by email", lambda a: s.action_reply("email", False)),
        Command("reply-all", "reply to all by email", lambda a: s.action_reply("email", True)),
        Command("reply-im", "reply by IM", lambda a: s.action_reply("im", False)),
        Command("reply-all-im", "reply to all by IM", lambda a: s.action_reply("im", True)),
        Command("flag", "flag or unflag the message", lambda a: s.action_toggle_flag()),
        Command("unread", "mark unread, or read again", lambda a: s.action_toggle_unread()),
        Command("mute", "mute or unmute the conversation", lambda a: s.action_mute()),
        Command("mark", "mark the conversation (the triage commands act on all marked)",
                lambda a: s.action_mark()),
        Command("delete", "delete (to Trash)", lambda a: s.action_triage("delete")),
        Command("archive", "archive", lambda a: s.action_triage("archive")),
        Command("move", "move to a folder", lambda a: s.action_triage("move")),
        Command("copy", "copy to a folder", lambda a: s.action_triage("copy")),
        Command("tags", "tags: +add -remove", lambda a: s.action_triage("tags")),
        Command("undo", "undo the last triage action", lambda a: s.action_triage("undo")),
        Command("save", "save the email's files", lambda a: s.action_mail("save")),
        Command("forward", "forward the email", lambda a: s.action_mail("forward")),
        Command("bounce", "bounce (redirect) the email", lambda a: s.action_mail("bounce")),
        Command("drafts", "the Drafts folder: resume one", lambda a: s.action_mail("drafts")),
        Command("limit", "show only the conversations that match", lambda a: s.action_limit()),
        Command("next-unread", "the next unread conversation",
                lambda a: s.action_next_unread()),
        Command("win", "open conversation N of the list (alt+N), or the next or previous "
                "one (alt+→/←; none: the next), as Profanity's /win", lambda a: window(s, a),
                "[N|next|prev]"),
        Command("sort", "sort the list (none: ask)", lambda a: s.action_sort(*a),
                "[date|from|unread] [reverse]"),
        Command("fold", "fold or unfold the conversation in the list, or the email's quotes",
                lambda a: s.action_fold()),
        Command("unfold", "unfold the conversation in the list, or the email's quotes",
                lambda a: s.action_fold(False)),
        Command("links", "the message's links: open or copy one",
                lambda a: s.action_mail("links")),
        Command("keys", "OpenPGP keys: yours and your contacts', verify one",
                lambda a: s.action_keys()),
        Command("outbox", "the outbox", lambda a: s.action_outbox()),
        Command("servers", "servers and sync", lambda a: s.action_health()),
        Command("sync", "sync now", lambda a: s.action_refresh()),
        Command("account", "show one account's conversations (none: all)",
                lambda a: s.show_account(a[0] if a else ""), "[name]"),
        Command("folder", "one folder's conversations (of the account shown, or the first)",
                lambda a: _folder(s, " ".join(a)), "name"),
        Command("reload", "read the config file again (keys, notifications)",
                lambda a: client_app(s).reload_config()),
        Command("help", "every key and command", lambda a: s.action_help()),
        Command("quit", "quit (told first of messages still in the outbox)",
                lambda a: client_app(s).ask_quit()),
    ]
    found = {c.name: c for c in cmds}
    # The chat input's / commands, here by the same names (`:join room@...`), run
    # by the same code as when typed in the chat input.
    for chat in CHAT_COMMANDS.values():
        if chat.name not in found:
            found[chat.name] = Command(chat.name, chat.help,
                                       functools.partial(_chat, s, chat.name), chat.usage)
    return found


def _folder(screen: MainScreen, name: str) -> None:
    if not name:
        screen.notify("which folder? (:folder INBOX)", severity="warning")
        return
    account = screen.overview.account or screen.engine.accounts[0].name
    screen.show_folder(account, name)


def _chat(screen: MainScreen, name: str, words: list[str]) -> None:
    """A chat command from the `:` line, answered as every `:` command is, in a
    toast (typed in the chat input, it answers under the timeline)."""
    try:
        typed = parse_chat("/" + " ".join([name, *words]))
    except NotACommand as exc:
        _answer(screen, str(exc).replace(f"/{name}", f":{name}", 1), True)
        return
    if typed.name == "me":  # no command: a line of its own, as the chat input sends it
        _me(screen, " ".join(typed.args))
        return
    screen.chatting.run(typed, functools.partial(_answer, screen))


def _me(screen: MainScreen, text: str) -> None:
    """`:me waves`: the action line, in the open chat, as `/me waves` typed in its
    input goes. Words typed there and not sent stay: the user sends them first."""
    from tuiclient.widgets.reply_bar import ChatReply

    if screen.query_one(ChatReply).value.strip():
        _answer(screen, ":me: the reply line holds words not sent yet: send or clear "
                "them first", True)
        return
    screen.replying.send_line(f"/me {text}")


def _answer(screen: MainScreen, text: str, error: bool) -> None:
    screen.notify(text, title="Chat", severity="error" if error else "information",
                  timeout=5, markup=False)


def complete(text: str, names: list[str], turn: int = 0) -> str:
    """The command name `text` starts, the `turn`-th that fits (Tab again: the
    next); `text` itself when none fits or words follow the name."""
    if " " in text.strip():
        return text
    fits = [n for n in names if n.startswith(text.strip())]
    return fits[turn % len(fits)] + " " if fits else text


class CommandLine(ModalScreen[None]):
    """`:` and a command, at the bottom of the screen."""

    BINDINGS = [Binding("escape", "dismiss", "leave", show=False),
                Binding("tab", "complete", "complete", show=False, priority=True)]
    DEFAULT_CSS = """
    CommandLine { align: left bottom; background: $background 0%; }
    CommandLine > Vertical { height: auto; background: $panel; }
    CommandLine Horizontal { height: 1; }
    CommandLine #colon { width: 2; padding: 0 0 0 1; text-style: bold; }
    CommandLine Input#command { border: none; height: 1; padding: 0; width: 1fr;
                                background: $panel; }
    CommandLine #command-help { color: $text-muted; padding: 0 1; }
    """

    def __init__(self, available: dict[str, Command], under: Screen | None = None) -> None:
        # The line is see-through: the screen under it (`under`) shows, its toasts
        # too. The line draws them itself (a toast told while it is open shows at
        # once) and hides that screen's, else each is seen twice; in the same place,
        # by that screen's layout classes (app.tcss, toasts).
        kept = [c for c in (under.classes if under is not None else ())
                if c == "narrow" or c.startswith("pane-")]
        super().__init__(classes=" ".join(kept))
        self.under = under
        self.available = available
        self._stem: str | None = None  # what Tab completes from, while Tab is pressed
        self._turn = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._help(""), id="command-help", markup=False)
            with Horizontal():
                yield Label(":", id="colon")
                yield Input(placeholder="command (Tab completes, Esc leaves)", id="command",
                            suggester=SuggestFromList(list(self.available),
                                                      case_sensitive=True))

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._toasts_under(False)

    def on_unmount(self) -> None:
        self._toasts_under(True)  # Textual's own refresh of them follows, on its resume

    def _toasts_under(self, shown: bool) -> None:
        if self.under is not None:
            for rack in self.under.query("#textual-toastrack"):  # Textual's toast rack
                rack.display = shown

    def _help(self, text: str) -> str:
        word = text.strip().split(" ", 1)[0]
        fits = [c for n, c in self.available.items() if n.startswith(word)] or \
            list(self.available.values())
        if len(fits) == 1 or word in self.available:
            c = self.available.get(word) or fits[0]
            return f":{c.name} {c.takes}".rstrip() + f"  — {c.description}"
        return "  ".join(c.name for c in fits)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#command-help", Label).update(self._help(event.value))
        if self._stem is not None and not any(
                event.value == complete(self._stem, list(self.available), t)
                for t in range(len(self.available))):
            self._stem = None

    def action_complete(self) -> None:
        field = self.query_one(Input)
        if self._stem is None:
            self._stem, self._turn = field.value, 0
        else:
            self._turn += 1
        field.value = complete(self._stem, list(self.available), self._turn)
        field.cursor_position = len(field.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            words = shlex.split(event.value)
        except ValueError:
            words = event.value.split()
        if not words:
            self.dismiss()
            return
        name, args = words[0].lstrip(":"), words[1:]
        fits = [n for n in self.available if n.startswith(name)]
        command = self.available.get(name) or (self.available[fits[0]] if len(fits) == 1
                                                else None)
        if command is None:
            self.query_one("#command-help", Label).update(
                f"no command {name!r}" + (f"; did you mean {', '.join(fits)}?" if fits else
                                          "; Tab lists them"))
            return
        self.dismiss()
        self.app.call_later(command.run, args)  # once this screen is gone
