"""The Textual app. It talks only to the engine; transports run off the UI loop."""

from __future__ import annotations

from textual.app import App

from bridge.config import Config
from bridge.engine import Engine
from bridge.events import Event, HealthChanged
from tuiclient.screens.home import HomeScreen


class TuiClientApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "tuiclient"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, config: Config, *, probe_on_start: bool = True) -> None:
        super().__init__()
        self.config = config
        self.engine = Engine(config)
        self.probe_on_start = probe_on_start
        self.engine.events.subscribe(self._on_engine_event)

    def on_mount(self) -> None:
        self.push_screen(HomeScreen(self.config))
        if self.probe_on_start:
            self.probe()

    def on_unmount(self) -> None:
        self.engine.close()

    def probe(self) -> None:
        self.run_worker(self.engine.probe_all(), name="probe", group="probe",
                        exclusive=True)

    def _on_engine_event(self, event: Event) -> None:
        # Engine events may come from worker threads or from this loop.
        try:
            self.call_from_thread(self._show_event, event)
        except RuntimeError:
            self._show_event(event)

    def _show_event(self, event: Event) -> None:
        if isinstance(event, HealthChanged) and isinstance(self.screen, HomeScreen):
            self.screen.show_health(event)
