"""One line at the bottom: each account's servers and its sync progress.

Per server: a dot (● ok, ◐ push dead, ✖ down, login failed or failed, ◌ not heard
from yet), its name, `!` when it is on the critical list (probed more often until
it answers), then the round trip of the last probe, or what is wrong:

    alice: ● imap 3ms  ✖ smtp! down  ● xmpp 1ms   synced INBOX
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
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


class StatusBar(Static):
    """Attributes down: the screen hands it the health and sync state it keeps."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def show(self, accounts: list[tuple[str, list[str]]],
             health: Mapping[tuple[str, str], ServerHealth],
             sync: dict[str, str], outbox: int) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        for name, services in accounts:
            t.append(name + ":", style="bold")
            for i, service in enumerate(services):
                t.append("  " if i else " ")
                t.append_text(server_text(service, health.get((name, service))))
            progress = sync.get(name)
            if progress:
                t.append(f"  {progress}", style="dim")
            t.append("   ")
        if outbox:
            t.append(f"outbox: {outbox} waiting", style="yellow")
        self.update(t)
