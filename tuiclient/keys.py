"""Every key binding of the app, in one place: mutt/aerc-like defaults, rebindable.

Each action has a binding id (`tc.<action>`); the config's `[keys]` table maps
actions to other keys through Textual's keymap, so a rebinding reaches every
screen and widget that offers the action.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from bridge.config import KEY_ACTIONS


@dataclass(frozen=True)
class Key:
    action: str  # the config name, under [keys]
    keys: str  # Textual key names, comma-separated
    description: str
    where: str  # what the help screen groups it under


DEFAULTS: dict[str, Key] = {k.action: k for k in (
    Key("down", "j,down", "next line", "moving"),
    Key("up", "k,up", "previous line", "moving"),
    Key("top", "g,home", "first line", "moving"),
    Key("bottom", "G,end", "last line", "moving"),
    Key("open", "enter", "open the conversation", "moving"),
    Key("back", "escape", "back (to the list)", "moving"),
    Key("next_pane", "tab", "next pane", "moving"),
    Key("search", "slash", "search mail and chat", "finding"),
    Key("reply_email", "r", "reply by email", "replying"),
    Key("reply_all_email", "R", "reply to all by email", "replying"),
    Key("reply_im", "i", "reply by IM (typed inline)", "replying"),
    Key("reply_all_im", "I", "reply to all by IM", "replying"),
    Key("reply_options", "o", "reply options: history, files", "replying"),
    Key("compose", "c", "new message", "replying"),
    Key("flag", "F", "flag or unflag the message", "marking"),
    Key("unread", "N", "mark unread, or read again", "marking"),
    Key("mark", "space,t", "mark the conversation (reading: next page)", "marking"),
    Key("delete", "d", "delete (to Trash)", "triage"),
    Key("archive", "a", "archive", "triage"),
    Key("move", "m", "move to a folder", "triage"),
    Key("copy", "C", "copy to a folder", "triage"),
    Key("tags", "T", "tags: +add -remove", "triage"),
    Key("undo", "u", "undo the last triage action", "triage"),
    Key("save", "s", "the files of the email or chat line: save, open", "email"),
    Key("forward", "f", "forward the email", "email"),
    Key("bounce", "b", "bounce (redirect) the email", "email"),
    Key("drafts", "P", "postponed drafts: resume one", "email"),
    Key("outbox", "O", "the outbox", "screens"),
    Key("health", "H", "servers and sync", "screens"),
    Key("help", "question_mark", "this help", "screens"),
    Key("refresh", "ctrl+r", "sync now", "screens"),
    Key("quit", "q", "quit; reading a conversation: back to the list", "screens"),
    Key("outbox_retry", "t", "retry now", "outbox"),
    Key("outbox_email", "e", "send by email instead", "outbox"),
    Key("outbox_im", "m", "send an email by chat instead", "outbox"),
    Key("outbox_cancel", "x", "cancel", "outbox"),
    Key("mute", "M", "mute or unmute the conversation's notifications", "marking"),
    Key("command_line", "colon", "command line (:help lists the commands)", "finding"),
    Key("prev_pane", "shift+tab", "previous pane", "moving"),
    Key("revisions", "E", "earlier texts of a corrected chat line", "chat"),
    Key("limit", "l", "limit the list to a search (empty: all again)", "finding"),
    Key("next_unread", "J", "next unread conversation", "moving"),
    # mutt sorts with o (here: reply options) and reverses with O (the outbox): S
    # asks the order as mutt's o does; :sort takes it as aerc's does.
    Key("sort", "S", "sort the list: date, sender, unread first, reversed", "finding"),
    # aerc folds with z (zc/zo, vim's), mutt collapses threads with Esc v and hides
    # quotes with T (here: tags): z unfolds a conversation in the list, and folds the
    # quoted text of the email being read.
    Key("fold", "z", "unfold the conversation in the list / fold the email's quotes",
        "email"),
    # urlscan, as mutt users bind it (^B) and L for links beside l for limit.
    Key("links", "L,ctrl+b", "the message's links: open or copy one", "email"),
    Key("quote_reply", "Q", "reply to the chosen chat line, quoting it", "chat"),
    # mutt has no screen for keys (its ^K extracts them); K is free on the main screen.
    Key("keys", "K", "OpenPGP keys: yours and your contacts', verify one", "screens"),
    # Profanity's and Poezio's window keys: here a window is a row of the list.
    *(Key(f"window_{n}", f"alt+{n}", f"conversation {n} of the list, opened (typing "
          "goes on there)", "windows") for n in range(1, 10)),
    Key("window_prev", "alt+left", "the conversation above in the list, opened", "windows"),
    Key("window_next", "alt+right", "the conversation below in the list, opened", "windows"),
)}

assert tuple(DEFAULTS) == KEY_ACTIONS, "tuiclient/keys.py and bridge/config.KEY_ACTIONS differ"


def bind(action: str, method: str | None = None, *, show: bool = True,
         label: str | None = None, priority: bool = False) -> Binding:
    """The Binding of one configurable action, calling `action_<method>`."""
    key = DEFAULTS[action]
    return Binding(key.keys, method or action, label or key.description, show=show,
                   id=f"tc.{action}", priority=priority)


def window_bindings() -> list[Binding]:
    """Alt+1..9 and Alt+←/→ (as rebound), read before the focused widget (the chat
    input would type the digit), as Profanity's window keys are from its input."""
    return [*(bind(f"window_{n}", f"window({n})", show=False, priority=True)
              for n in range(1, 10)),
            bind("window_prev", "window(0, -1)", show=False, priority=True),
            bind("window_next", "window(0, 1)", show=False, priority=True)]


# What a terminal sends for Alt+1..9 (ESC, then the digit), which Textual reads as
# the characters macOS's Option+digit types (WezTerm sends ESC+digit for those).
MAC_OPTION_DIGITS = dict(zip("123456789", "¡™£¢∞§¶•ª", strict=True))


def read_alt_digits() -> bool:
    """ESC+digit read as alt+1..9 again, as xterm means it and Textual reads ESC+letter
    (a Mac's Option+digit that types ¡ sends the character itself and still types
    it): whether it is so now. Textual keeps the mapping in a private table: an
    entry is taken out only where it is exactly this one; without the table
    (another Textual) nothing changes, and Alt+digit is read as Textual reads it."""
    try:
        from textual import _ansi_sequences
    except ImportError:
        return False
    table = getattr(_ansi_sequences, "ANSI_SEQUENCES_KEYS", None)
    if not isinstance(table, dict):
        return False
    for digit, char in MAC_OPTION_DIGITS.items():
        if table.get("\x1b" + digit) == char:
            del table["\x1b" + digit]
    return not any("\x1b" + digit in table for digit in MAC_OPTION_DIGITS)


def moving(down: str = "cursor_down", up: str = "cursor_up", top: str = "first",
           bottom: str = "last") -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    """j/k/g/G (as rebound) for a list or a scrollable pane, calling its own actions;
    PageUp/PageDown are Textual's own in every one of them."""
    return [bind("down", down, show=False), bind("up", up, show=False),
            bind("top", top, show=False), bind("bottom", bottom, show=False)]


def keymap(overrides: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """The Textual keymap of the config's [keys] table."""
    return {f"tc.{action}": ",".join(keys) for action, keys in overrides.items()}


# Where the actions of each group of DEFAULTS are live at the same time: one key
# for two actions of one scope is a clash (one of them is lost).
SCOPES = {
    "the main screen": ("moving", "finding", "replying", "marking", "triage", "email",
                        "chat", "screens", "windows"),
    "the outbox": ("moving", "outbox"),
}


@dataclass(frozen=True)
class Clash:
    key: str
    actions: tuple[str, str]
    scope: str

    def describe(self, origins: dict[str, str]) -> str:
        """`FILE:LINE: [keys] reply_im = "j" is also down's key (the main screen)`."""
        a, b = self.actions
        where = origins.get(a) or origins.get(b) or "[keys]"
        mine, other = (a, b) if a in origins else (b, a)
        return (f"{where}: [keys] {mine} takes {self.key!r}, already {other}'s key "
                f"in {self.scope}; one of them does nothing")


def clashes(overrides: dict[str, tuple[str, ...]]) -> list[Clash]:
    """Keys bound to two actions in one scope, once the config's [keys] applied."""
    found: list[Clash] = []
    for scope, groups in SCOPES.items():
        owner: dict[str, str] = {}
        for k in DEFAULTS.values():
            if k.where not in groups:
                continue
            for name in overrides.get(k.action) or k.keys.split(","):
                first = owner.setdefault(name, k.action)
                if first != k.action and (first in overrides or k.action in overrides):
                    found.append(Clash(name, (first, k.action), scope))
    return found


def shown(action: str, overrides: dict[str, tuple[str, ...]]) -> str:
    """The keys of an action as a user types them: 'j, down'."""
    names = overrides.get(action) or tuple(DEFAULTS[action].keys.split(","))
    pretty = {"slash": "/", "question_mark": "?", "escape": "esc", "colon": ":"}
    return ", ".join(pretty.get(n, n) for n in names)
