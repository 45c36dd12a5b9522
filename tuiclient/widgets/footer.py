"""The footer of every screen, fitted to the terminal: under NARROW columns (an
80x24 terminal, the classic size of mutt's users) it drops its padding and the
palette's hint (ctrl+p still works), so that the keys it offers fit."""

from __future__ import annotations

from textual.events import Resize
from textual.widgets import Footer as TextualFooter

NARROW = 100  # columns: under this, one pane at a time (tuiclient.screens.main)


class Footer(TextualFooter):
    def on_resize(self, event: Resize) -> None:
        narrow = event.size.width < NARROW
        self.compact = narrow
        self.show_command_palette = not narrow
