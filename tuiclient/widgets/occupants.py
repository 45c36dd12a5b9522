"""Who is in the open group chat: a pane beside the timeline listing each
occupant's nick, role and presence, moderators first (as Profanity's and
Poezio's occupant lists do). The screen hands the list down; empty hides it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from tuiclient.format import one_line
from tuiclient.presence_colours import presence_dot

ROLES = ("moderator", "participant", "visitor")
SHOW = {"": "available", "chat": "available", "away": "away", "xa": "away", "dnd": "busy"}

if TYPE_CHECKING:
    from bridge.xmpp.core import Occupant


def occupants_text(occupants: Sequence[Occupant], room: str,
                   colours: Mapping[str, str] | None = None) -> Text:
    """The list's text; presence marks in the theme's colours (`colours`: the
    theme's variables) where given."""
    t = Text(f"{len(occupants)} in {one_line(room).split('@', 1)[0]}\n", style="bold")
    order = sorted(occupants, key=lambda o: (
        ROLES.index(o.role) if o.role in ROLES else len(ROLES), o.nick.lower()))
    role = None
    for o in order:
        if o.role != role:
            role = o.role
            t.append(f"{role or 'none'}s\n", style="dim underline")
        dot, style = presence_dot(SHOW.get(o.show, "available"), colours)
        t.append(dot + " ", style=style)
        t.append(one_line(o.nick))
        if o.show:
            t.append(f" {o.show}", style="dim")
        t.append("\n")
    t.rstrip()
    return t


class Occupants(Static):
    """The occupants of `room`; hidden when there are none to show. As wide as its
    longest line (a nick, a role's heading), at most 30% of the pane: a narrow chat
    pane keeps its timeline readable."""

    DEFAULT_CSS = """
    Occupants { width: auto; max-width: 30%; height: 1fr; padding: 0 1;
                border-left: solid $panel-lighten-2; display: none; }
    """

    room: var[str] = var("")
    occupants: var[tuple[Occupant, ...]] = var(())
    # The theme's variables (the screen sets them, and again on a theme change), as
    # the sidebar's: presence marks in its colours (tuiclient.presence_colours).
    colours: var[dict[str, str]] = var(dict)

    def watch_occupants(self) -> None:
        self.display = bool(self.occupants)
        self.update(occupants_text(self.occupants, self.room, self.colours)
                    if self.occupants else "")

    def watch_colours(self) -> None:
        if self.occupants:
            self.watch_occupants()
