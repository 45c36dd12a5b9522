"""Who is in the open group chat: a pane beside the timeline listing each
occupant's nick, role and presence, moderators first (as Profanity's and
Poezio's occupant lists do). The screen hands the list down; empty hides it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from tuiclient.format import PRESENCE_DOT, one_line

ROLES = ("moderator", "participant", "visitor")
SHOW = {"": "available", "chat": "available", "away": "away", "xa": "away", "dnd": "busy"}

if TYPE_CHECKING:
    from bridge.xmpp.core import Occupant


def occupants_text(occupants: Sequence[Occupant], room: str) -> Text:
    t = Text(f"{len(occupants)} in {one_line(room).split('@', 1)[0]}\n", style="bold")
    order = sorted(occupants, key=lambda o: (
        ROLES.index(o.role) if o.role in ROLES else len(ROLES), o.nick.lower()))
    role = None
    for o in order:
        if o.role != role:
            role = o.role
            t.append(f"{role or 'none'}s\n", style="dim underline")
        dot, style = PRESENCE_DOT.get(SHOW.get(o.show, "available"), PRESENCE_DOT["unknown"])
        t.append(dot + " ", style=style)
        t.append(one_line(o.nick))
        if o.show:
            t.append(f" {o.show}", style="dim")
        t.append("\n")
    t.rstrip()
    return t


class Occupants(Static):
    """The occupants of `room`; hidden when there are none to show."""

    DEFAULT_CSS = """
    Occupants { width: 24; height: 1fr; padding: 0 1; border-left: solid $panel-lighten-2;
                display: none; }
    """

    room: var[str] = var("")
    occupants: var[tuple[Occupant, ...]] = var(())

    def watch_occupants(self) -> None:
        self.display = bool(self.occupants)
        self.update(occupants_text(self.occupants, self.room) if self.occupants else "")
