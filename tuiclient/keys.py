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
    Key("outbox", "O", "the outbox", "screens"),
    Key("health", "H", "servers and sync", "screens"),
    Key("help", "question_mark", "this help", "screens"),
    Key("refresh", "ctrl+r", "sync now", "screens"),
    Key("quit", "q", "quit", "screens"),
    Key("outbox_retry", "t", "retry now", "outbox"),
    Key("outbox_email", "e", "send by email instead", "outbox"),
    Key("outbox_im", "m", "send an email by chat instead", "outbox"),
    Key("outbox_cancel", "x", "cancel", "outbox"),
    Key("revisions", "E", "earlier texts of a corrected chat line", "chat"),
    Key("command", "colon", "chat command line: /join, /status, /roster…", "chat"),
)}

assert tuple(DEFAULTS) == KEY_ACTIONS, "tuiclient/keys.py and bridge/config.KEY_ACTIONS differ"


def bind(action: str, method: str | None = None, *, show: bool = True,
         label: str | None = None, priority: bool = False) -> Binding:
    """The Binding of one configurable action, calling `action_<method>`."""
    key = DEFAULTS[action]
    return Binding(key.keys, method or action, label or key.description, show=show,
                   id=f"tc.{action}", priority=priority)


def keymap(overrides: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """The Textual keymap of the config's [keys] table."""
    return {f"tc.{action}": ",".join(keys) for action, keys in overrides.items()}


def shown(action: str, overrides: dict[str, tuple[str, ...]]) -> str:
    """The keys of an action as a user types them: 'j, down'."""
    names = overrides.get(action) or tuple(DEFAULTS[action].keys.split(","))
    pretty = {"slash": "/", "question_mark": "?", "escape": "esc", "colon": ":"}
    return ", ".join(pretty.get(n, n) for n in names)
