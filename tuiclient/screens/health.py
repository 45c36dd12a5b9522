"""The servers of each account, what they answered, and sync progress."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label

from bridge.events import HealthChanged
from tuiclient.widgets.server_status import ServerStatus


class HealthScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "back"),
                Binding("p", "probe", "check again")]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="health"):
            yield Label("Servers", classes="title")
            yield ServerStatus(id="servers")
            yield Label("", id="sync-state", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "servers"
        self.fill()

    def fill(self) -> None:
        app = self.app
        table = self.query_one(ServerStatus)
        table.clear()
        for a in app.config.accounts:  # type: ignore[attr-defined]
            for service in ("imap", "smtp", "xmpp"):
                server = a.server(service)
                if server is not None:
                    table.expect(a.name, service, f"{server.host}:{server.port}")
                    known = app.health.get((a.name, service))  # type: ignore[attr-defined]
                    if known is not None:
                        table.show(known)
        sync = app.sync_state  # type: ignore[attr-defined]
        self.query_one("#sync-state", Label).update(
            "\n".join(f"{name}: {state}" for name, state in sync.items()) or "")

    def show_health(self, event: HealthChanged) -> None:
        table = self.query_one(ServerStatus)
        try:
            table.show(event)
        except Exception:
            self.fill()

    def engine_event(self, event) -> None:  # type: ignore[no-untyped-def]
        if isinstance(event, HealthChanged):
            self.show_health(event)
        else:
            sync = self.app.sync_state  # type: ignore[attr-defined]
            self.query_one("#sync-state", Label).update(
                "\n".join(f"{name}: {state}" for name, state in sync.items()))

    def action_probe(self) -> None:
        self.fill()
        self.app.probe()  # type: ignore[attr-defined]
