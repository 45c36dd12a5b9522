"""The footer of every screen, fitted to the terminal: under NARROW columns (an
80x24 terminal, the classic size of mutt's users) it drops its padding and the
palette's hint (ctrl+p still works), so that the keys it offers fit."""

from __future__ import annotations

from textual.events import Resize
from textual.widget import Widget
from textual.widgets import Footer as TextualFooter

NARROW = 100  # columns: under this, one pane at a time (tuiclient.screens.main)


class Footer(TextualFooter):
    def on_mount(self) -> None:
        """Fitted from its first frame (the width of the screen it is at the
        foot of), not only once a Resize has come: its keys are laid out once,
        to the width they are shown at."""
        parent = self.parent
        if isinstance(parent, Widget) and parent.size.width:
            self.fit(parent.size.width)

    def on_resize(self, event: Resize) -> None:
        self.fit(event.size.width)

    def fit(self, width: int) -> None:
        narrow = width < NARROW
        self.compact = narrow
        self.show_command_palette = not narrow
