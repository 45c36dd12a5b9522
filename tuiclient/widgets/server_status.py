"""The servers of each account and the whole of what they answered.

One row per server: state, whether it is on the critical list (and so probed
every `critical_interval`), the probe's round trip, the server's clock against
ours, whether the push channel (IDLE, the XMPP stream) is alive, when it was last
checked, and the detail text (remote text, shown inert).
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from bridge.safe import inert_text
from tuiclient.server_health import OK, PUSH_DEAD, ServerHealth
from tuiclient.widgets.moving import Table

COLUMNS = (("", "dot", 2), ("account", "account", None), ("server", "service", None),
           ("state", "state", None), ("critical", "critical", None), ("rtt", "rtt", None),
           ("clock", "skew", None), ("push", "push", None), ("checked", "checked", None),
           ("detail", "detail", None))
DOT = {OK: ("●", "green"), PUSH_DEAD: ("◐", "yellow")}


def state_of(table: DataTable, account: str, service: str, column: str = "detail") -> str:
    """The text of a row's cell (what a user reads there); the detail by default."""
    return str(table.get_cell(f"{account}/{service}", column))


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


class ServerStatus(Table):
    """One row per account and server; rows change as health events arrive."""

    def __init__(self, *, critical_interval: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # DataTable's own options, id= and classes= among them
        self.critical_interval = critical_interval

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for label, key, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def expect(self, account: str, service: str, where: str) -> None:
        self.add_row(Text("…", style="yellow"), Text(account), Text(service),
                     Text("checking", style="yellow"), *(Text("") for _ in range(5)),
                     Text(f"connecting to {where}…", style="dim"),
                     key=f"{account}/{service}")

    def show(self, h: ServerHealth) -> None:
        key = f"{h.account}/{h.service}"
        state = h.state
        dot, style = DOT.get(state, ("✖", "red"))
        cells: dict[str, Text] = {
            "dot": Text(dot, style=style),
            "state": Text(state, style="" if state == OK else style),
            "critical": (Text("yes, every " + _duration(self.critical_interval), style="bold red")
                         if h.critical and self.critical_interval else
                         Text("yes", style="bold red") if h.critical else
                         Text("no", style="dim")),
        }
        r = h.report
        if r is not None:
            stale = "" if h.fresh else "dim"
            cells["rtt"] = Text("—" if r.rtt_ms is None else f"{r.rtt_ms:.0f} ms", style=stale)
            # SMTP has no clock to read; IMAP's is known once the server stamped
            # an APPEND of ours (a sent copy), else it says unknown.
            cells["skew"] = Text(f"{r.clock_skew_s:+.1f} s" if r.clock_skew_s is not None else
                                 "unknown" if r.ok and r.service != "smtp" else "—",
                                 style=stale)
            cells["push"] = (Text("—", style=stale) if r.push_alive is None else
                             Text("alive", style=stale or "green") if r.push_alive else
                             Text("dead", style="red"))
            cells["checked"] = Text(time.strftime("%H:%M:%S", time.localtime(r.checked_at)),
                                    style=stale)
        # Remote text is shown as plain Text: markup and escapes in it stay inert.
        cells["detail"] = Text(inert_text(h.detail), style="" if h.ok else "red")
        for column, value in cells.items():
            self.update_cell(key, column, value, update_width=True)
