"""What the terminal the app runs in understands beyond the usual: OSC 8
hyperlinks, OSC 777 and OSC 9 desktop notifications; read from the environment
the terminal sets, as notify-send-less tools (and neovim, fish, ls) do.

There is no query a terminal reliably answers for these (an unknown OSC is
silently dropped, so it cannot be probed), so the environment decides:
`TERM_PROGRAM` (iTerm2, WezTerm, vscode, ghostty, tmux and its version),
`TERM` (kitty, foot, alacritty, rxvt-unicode, ghostty), `VTE_VERSION` (GNOME's
VTE: OSC 8 since 0.50), `KITTY_WINDOW_ID`, `WT_SESSION` (Windows Terminal),
`KONSOLE_VERSION`, `ConEmuANSI`. The config can force each on or off
(`[notify] hyperlinks`, `[notify] desktop`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Terminal:
    osc8: bool = False  # hyperlinks
    osc777: bool = False  # notify;title;body
    osc9: bool = False  # a message the terminal shows as a notification


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for word in text.split("."):
        digits = "".join(c for c in word if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def detect(env: Mapping[str, str] | None = None) -> Terminal:
    """The features of the terminal `env` (the process's environment) tells of."""
    env = os.environ if env is None else env
    program = env.get("TERM_PROGRAM", "")
    term = env.get("TERM", "")
    kitty = bool(env.get("KITTY_WINDOW_ID")) or term == "xterm-kitty"
    foot = term.startswith("foot")
    wezterm = program == "WezTerm"
    iterm = program == "iTerm.app"
    ghostty = program == "ghostty" or term == "xterm-ghostty"
    windows = bool(env.get("WT_SESSION"))
    urxvt = term.startswith("rxvt-unicode")
    vte = _version(env.get("VTE_VERSION", "0"))[:1] >= (5000,)
    konsole = bool(env.get("KONSOLE_VERSION"))
    alacritty = term == "alacritty" or bool(env.get("ALACRITTY_WINDOW_ID"))
    # tmux passes OSC 8 on since 3.4 (its hyperlinks feature); other escapes not.
    tmux = program == "tmux" and _version(env.get("TERM_PROGRAM_VERSION", "0")) >= (3, 4)
    return Terminal(
        osc8=any((kitty, foot, wezterm, iterm, ghostty, windows, vte, konsole, alacritty,
                  tmux, program == "vscode")),
        osc777=any((foot, kitty, wezterm, urxvt, ghostty)),
        osc9=any((iterm, windows, wezterm, ghostty, env.get("ConEmuANSI") == "ON")),
    )


def hyperlinks(setting: str, terminal: Terminal) -> bool:
    """`[notify] hyperlinks`: "on", "off", or "auto" (as the terminal is)."""
    return terminal.osc8 if setting == "auto" else setting == "on"


def desktop_escape(setting: str, terminal: Terminal, dbus: bool) -> str:
    """How a desktop notification goes (`[notify] desktop`): the freedesktop service
    when there is one, else the terminal's own escape where it has one ("auto");
    or what the config forces. Answers dbus, osc777, osc9 or off."""
    if setting != "auto":
        return setting
    if dbus:
        return "dbus"
    if terminal.osc777:
        return "osc777"
    if terminal.osc9:
        return "osc9"
    return "off"
