"""Quitting with messages still in the outbox: said before the app closes.

aerc and mutt warn of postponed work on quit; here what waits is the outbox's
(a chat line deferred until its contact is back, an email not sent yet). Nothing
is lost by quitting (the outbox is in the store, and the next run of the app,
`tuiclient serve` or `tuiclient sync` sends it), but a user who quits believing it
went should hear otherwise. `QuitScreen` says how many wait and to whom: quit
(q, Enter, ctrl+q again), stay (Esc, s), or open the outbox (o). With nothing
waiting the quit keys quit at once, as before (`TuiClientApp.ask_quit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from bridge.model import DeliveryState
from bridge.store.records import OutboxItem
from tuiclient.format import one_line

# What still goes by itself on a next run: written and not sent yet, deferred, or
# caught mid-send (taken up again at the next start). A failed row goes no more.
PENDING = (DeliveryState.QUEUED, DeliveryState.DEFERRED, DeliveryState.SENDING)
NAMED = 4  # recipients named in the dialog; more are counted


def recipients(items: Sequence[OutboxItem], names: Mapping[str, str]) -> str:
    """Whom the waiting rows go to, each once, by name where the contact has one."""
    seen: dict[str, str] = {}
    for item in items:
        for party in item.parties:
            address = one_line(party.address)
            seen.setdefault(address.lower(), one_line(names.get(address.lower(), "")) or address)
    shown = list(seen.values())
    more = len(shown) - NAMED
    return ", ".join(shown[:NAMED]) + (f" and {more} more" if more > 0 else "")


def waiting_words(items: Sequence[OutboxItem], names: Mapping[str, str]) -> str:
    n = len(items)
    what = f"{n} message{'s' * (n != 1)} {'are' if n != 1 else 'is'}"
    return (f"{what} still waiting in the outbox (to {recipients(items, names)}): "
            f"{'they go' if n != 1 else 'it goes'} next time the app, `tuiclient serve` "
            "or `tuiclient sync` runs. Nothing is lost by quitting.")


class QuitScreen(ModalScreen[str]):
    """Quit with the outbox not empty? "quit", "stay" or "outbox"."""

    BINDINGS = [
        Binding("q", "choose('quit')", "quit"),
        Binding("o", "choose('outbox')", "open the outbox"),
        Binding("s", "choose('stay')", "stay"),
        Binding("escape", "choose('stay')", "stay", show=False),
    ]
    DEFAULT_CSS = "#quit-dialog { width: 76; }"

    def __init__(self, items: Sequence[OutboxItem], names: Mapping[str, str]) -> None:
        super().__init__(classes="prompt")
        self.items = list(items)
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="quit-dialog"):
            yield Label("Quit with messages waiting?", classes="dialog-title")
            yield Static(waiting_words(self.items, self.names), id="quit-waiting",
                         markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Quit \\[q]", id="quit", variant="primary")
                yield Button("Stay \\[esc]", id="stay")
                yield Button("Open the outbox \\[o]", id="outbox")

    def on_mount(self) -> None:
        self.query_one("#quit", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(event.button.id or "stay")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
