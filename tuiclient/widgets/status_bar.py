"""One line at the bottom: each account's own presence, its servers and its
sync progress.

Our presence (when the account chats) by shape and word, as the sidebar draws a
contact's (● online, ◑ away, ⊖ busy, ○ offline), with our status message. Per
server: a dot (● ok, ◐ push dead, ✖ down, login failed or failed, ◌ not heard
from yet), its name, `!` when it is on the critical list (probed more often until
it answers), then the round trip of the last probe, or what is wrong:

    alice: ◑ away “lunch”  ● imap 3ms  ✖ smtp! down  ● xmpp 1ms   synced INBOX
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from tuiclient.format import one_line
from tuiclient.presence_colours import presence_dot
from tuiclient.server_health import OK, PUSH_DEAD, ServerHealth

PENDING = ("◌", "yellow")
DOT = {OK: ("●", "green"), PUSH_DEAD: ("◐", "yellow")}
FAILED = ("✖", "red")
CRITICAL = "!"
PRESENCE_WORD = {"available": "online", "away": "away", "busy": "busy",
                 "offline": "offline", "unknown": "offline", "blocked": "offline"}


def presence_text(availability: str, status: str = "",
                  colours: Mapping[str, str] | None = None) -> Text:
    """`◑ away “lunch”`: our own presence on one account (in the theme's colours)."""
    dot, style = presence_dot(availability, colours)
    t = Text()
    t.append(f"{dot} ", style=style)
    t.append(PRESENCE_WORD.get(availability, availability), style=style)
    if status.strip():
        t.append(f" “{one_line(status)[:40]}”", style="italic")
    return t


def server_text(service: str, h: ServerHealth | None, rtt: bool = True) -> Text:
    """`● imap 3ms`, `✖ smtp! down`, `◌ xmpp`: one server, as the status bar shows it
    (without its round trip when not `rtt`)."""
    t = Text()
    if h is None:
        dot, style = PENDING
        t.append(f"{dot} ", style=style)
        t.append(service)
        return t
    state = h.state
    dot, style = DOT.get(state, FAILED)
    t.append(f"{dot} ", style=style)
    t.append(service, style="" if state == OK else style)
    if h.critical:
        t.append(CRITICAL, style="bold red")
    if state != OK:
        t.append(f" {state}", style=style)
    elif rtt and h.rtt_ms is not None:
        t.append(f" {h.rtt_ms:.0f}ms", style="dim")
    return t


@dataclass(frozen=True)
class StatusReport:
    """What the status bar shows: each account with its servers, what is known of
    each server, each account's sync progress, how many conversations have a
    message waiting in the outbox, and each chat account's own presence
    (availability, status message)."""

    accounts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    health: Mapping[tuple[str, str], ServerHealth] = field(default_factory=dict)
    sync: Mapping[str, str] = field(default_factory=dict)
    waiting: int = 0
    presence: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def status_text(r: StatusReport, colours: Mapping[str, str] | None = None,
                width: int | None = None) -> Text:
    """The whole line; at `width` columns, what matters least gives way first
    (the sync's progress, then the round trips, then our status message), so the
    servers' dots and the outbox's count stay whole at 80 columns."""
    t = Text()
    for level in range(4):
        t = _status_text(r, colours, level)
        if width is None or t.cell_len <= width:
            break
    return t


def _status_text(r: StatusReport, colours: Mapping[str, str] | None, level: int) -> Text:
    """The line, with what `level` leaves out: 1 the sync's progress, 2 the round
    trips too, 3 our status message too."""
    t = Text(no_wrap=True, overflow="ellipsis")
    for name, services in r.accounts:
        t.append(name + ":", style="bold")
        own = r.presence.get(name)
        if own is not None:
            t.append(" ")
            availability, status = own
            t.append_text(presence_text(availability, "" if level >= 3 else status,
                                        colours=colours))
            t.append(" ")
        for i, service in enumerate(services):
            t.append("  " if i else " ")
            t.append_text(server_text(service, r.health.get((name, service)),
                                      rtt=level < 2))
        progress = r.sync.get(name)
        if progress and level < 1:
            t.append(f"  {progress}", style="dim")
        t.append("   " if level < 1 else "  ")
    if r.waiting:
        t.append(f"outbox: {r.waiting} waiting", style="yellow")
    return t


class StatusBar(Static):
    """Attributes down: the screen sets `report`, the bar draws it."""

    report: var[StatusReport] = var(StatusReport)
    colours: var[dict[str, str]] = var(dict)  # the theme's variables, set by the screen

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def watch_report(self, report: StatusReport) -> None:
        self.update(status_text(report, self.colours or None,
                                self.size.width or None))

    def on_resize(self) -> None:
        self.watch_report(self.report)

    def watch_colours(self) -> None:
        self.watch_report(self.report)
