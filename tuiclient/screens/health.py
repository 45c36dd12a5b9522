"""The servers of each account, the whole of their last health report, and sync
progress. `p` probes every server again (in a worker: the screen never waits)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Header, Label

from tuiclient.appref import client_app
from tuiclient.engine_events import EngineEvents
from tuiclient.server_health import key_of
from tuiclient.widgets.footer import Footer
from tuiclient.widgets.server_status import ServerStatus, _duration


class HealthScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "back"),
                Binding("p", "probe", "check again")]

    def compose(self) -> ComposeResult:
        monitor = client_app(self).engine.health
        yield Header()
        with Vertical(id="health"):
            yield Label("Servers", classes="title")
            yield ServerStatus(id="servers", critical_interval=monitor.critical_interval)
            yield Label(
                f"Every server is probed every {_duration(monitor.interval)}; one on the "
                f"critical list (it failed) every {_duration(monitor.critical_interval)} "
                f"until it answers. rtt: the probe's round trip; clock: the server's clock "
                f"minus ours.", id="health-help", markup=False)
            yield Label("", id="sync-state", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "servers"
        self.fill()

    def fill(self) -> None:
        app = client_app(self)
        table = self.query_one(ServerStatus)
        table.clear()
        for a in app.config.accounts:
            for service in ("imap", "smtp", "xmpp"):
                server = a.server(service)
                if server is not None:
                    table.expect(a.name, service, f"{server.host}:{server.port}")
                    known = app.health.get((a.name, service))
                    if known is not None:
                        table.show(known)
        self.show_sync()

    def show_sync(self) -> None:
        sync = client_app(self).sync_state
        self.query_one("#sync-state", Label).update(
            "\n".join(f"{name}: {state}" for name, state in sync.items()))

    def on_engine_events(self, message: EngineEvents) -> None:
        if not self.is_mounted:
            return  # on_mount fills the table from the app's state
        keys = dict.fromkeys(k for e in message.events if (k := key_of(e)) is not None)
        if len(keys) < len(message.events):
            self.show_sync()  # not every event was a server's: sync progress, perhaps
        health = client_app(self).health
        table = self.query_one(ServerStatus)
        for key in keys:
            known = health.get(key)
            if known is None:
                continue
            try:
                table.show(known)
            except Exception:  # a row that is not there (yet): draw them all again
                self.fill()
                return

    def action_probe(self) -> None:
        self.fill()
        client_app(self).probe()
