"""The servers of each account and what they answered."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from bridge.events import HealthChanged

STATE = {None: ("…", "checking"), True: ("●", "ok"), False: ("✖", "failed")}


def state_of(table: DataTable, account: str, service: str) -> str:
    """The text of a row's state cell (what a user reads there)."""
    return str(table.get_cell(f"{account}/{service}", "detail"))


class ServerStatus(DataTable):
    """One row per account and server; rows change as probe results arrive."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_column("", key="dot", width=2)
        self.add_column("account", key="account")
        self.add_column("server", key="service")
        self.add_column("state", key="detail")

    def expect(self, account: str, service: str, where: str) -> None:
        dot, _ = STATE[None]
        self.add_row(Text(dot, style="yellow"), Text(account), Text(service),
                     Text(f"connecting to {where}…", style="dim"),
                     key=f"{account}/{service}")

    def show(self, event: HealthChanged) -> None:
        key = f"{event.account}/{event.service}"
        dot, _ = STATE[event.ok]
        # Remote text is shown as plain Text: markup in it stays inert.
        self.update_cell(key, "dot", Text(dot, style="green" if event.ok else "red"))
        self.update_cell(key, "detail", Text(event.detail, style="" if event.ok else "red"),
                         update_width=True)
