"""One line at the bottom: each account's servers and its sync progress."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from bridge.events import HealthChanged

DOT = {None: ("◌", "yellow"), True: ("●", "green"), False: ("✖", "red")}


class StatusBar(Static):
    """Attributes down: the screen hands it the health and sync state it keeps."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def show(self, accounts: list[tuple[str, list[str]]],
             health: dict[tuple[str, str], HealthChanged],
             sync: dict[str, str], outbox: int) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        for name, services in accounts:
            t.append(name + ":", style="bold")
            for service in services:
                h = health.get((name, service))
                dot, style = DOT[None if h is None else h.ok]
                t.append(f" {dot} ", style=style)
                t.append(service, style="" if h is None or h.ok else "red")
            progress = sync.get(name)
            if progress:
                t.append(f"  {progress}", style="dim")
            t.append("   ")
        if outbox:
            t.append(f"outbox: {outbox} waiting", style="yellow")
        self.update(t)
