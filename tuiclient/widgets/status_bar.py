"""One line at the bottom: each account's servers and its sync progress.

Per server: a dot (● ok, ◐ push dead, ✖ down, login failed or failed, ◌ not heard
from yet), its name, `!` when it is on the critical list (probed more often until
it answers), then the round trip of the last probe, or what is wrong:

    alice: ● imap 3ms  ✖ smtp! down  ● xmpp 1ms   synced INBOX
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from tuiclient.server_health import OK, PUSH_DEAD, ServerHealth

PENDING = ("◌", "yellow")
DOT = {OK: ("●", "green"), PUSH_DEAD: ("◐", "yellow")}
FAILED = ("✖", "red")
CRITICAL = "!"


def server_text(service: str, h: ServerHealth | None) -> Text:
    """`● imap 3ms`, `✖ smtp! down`, `◌ xmpp`: one server, as the status bar shows it."""
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
    elif h.rtt_ms is not None:
        t.append(f" {h.rtt_ms:.0f}ms", style="dim")
    return t


@dataclass(frozen=True)
class StatusReport:
    """What the status bar shows: each account with its servers, what is known of
    each server, each account's sync progress, and how many conversations have a
    message waiting in the outbox."""

    accounts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    health: Mapping[tuple[str, str], ServerHealth] = field(default_factory=dict)
    sync: Mapping[str, str] = field(default_factory=dict)
    waiting: int = 0


def status_text(r: StatusReport) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    for name, services in r.accounts:
        t.append(name + ":", style="bold")
        for i, service in enumerate(services):
            t.append("  " if i else " ")
            t.append_text(server_text(service, r.health.get((name, service))))
        progress = r.sync.get(name)
        if progress:
            t.append(f"  {progress}", style="dim")
        t.append("   ")
    if r.waiting:
        t.append(f"outbox: {r.waiting} waiting", style="yellow")
    return t


class StatusBar(Static):
    """Attributes down: the screen sets `report`, the bar draws it."""

    report: var[StatusReport] = var(StatusReport)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def watch_report(self, report: StatusReport) -> None:
        self.update(status_text(report))
