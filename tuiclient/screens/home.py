"""The first screen: the accounts and their servers, while the mail and chat views grow."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, ListItem, ListView, Static

from bridge.config import Config
from bridge.events import HealthChanged
from tuiclient.widgets.server_status import ServerStatus


class HomeScreen(Screen):
    BINDINGS = [("r", "probe", "Reconnect")]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="sidebar"):
                yield Label("Accounts", classes="title")
                yield ListView(*[
                    ListItem(Label(a.display_name or a.name, markup=False),
                             Label(a.email or a.jid or "", classes="address", markup=False))
                    for a in self.config.accounts], id="accounts")
                yield Label("Contacts", classes="title")
                yield ListView(*[
                    ListItem(Label(c.name, markup=False),
                             *[Label(f"mail {e}", classes="address", markup=False)
                               for e in c.emails],
                             *[Label(f"xmpp {j}", classes="address", markup=False)
                               for j in c.jids])
                    for c in self.config.contacts], id="contacts")
            with Vertical(id="main"):
                yield Static(
                    f"Config: {self.config.path}\n"
                    "Mail and chat conversations appear here once sync lands.",
                    id="welcome", markup=False)
                yield ServerStatus(id="servers")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "tuiclient"
        self.sub_title = "email and XMPP side by side"
        self._expect_rows()

    def _expect_rows(self) -> None:
        table = self.query_one(ServerStatus)
        table.clear()
        for a in self.config.accounts:
            for service, server in (("imap", a.imap), ("smtp", a.smtp), ("xmpp", a.xmpp)):
                if server is not None:
                    table.expect(a.name, service, f"{server.host}:{server.port}")

    def show_health(self, event: HealthChanged) -> None:
        self.query_one(ServerStatus).show(event)

    def action_probe(self) -> None:
        self._expect_rows()
        self.app.probe()
