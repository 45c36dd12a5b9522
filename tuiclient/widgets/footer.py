"""The footer of every screen, fitted to the terminal: under NARROW columns (an
80x24 terminal, the classic size of mutt's users) it drops its padding and the
palette's hint (ctrl+p still works), so that the keys it offers fit.

It also rebuilds its keys only when what it shows changed. Textual's footer
recomposes (a widget per key, each styled: ~15-50 ms) once for every
`bindings_updated_signal`, and a screen sends several for one change: a focus
sends one at once and one more after the next refresh, the screen's resume
another. The main screen's start sent four after its first frame, all with the
same keys; their recomposes held the app's loop (and the GIL) while the engine
imported the mail stack and stored INBOX's first page (issue 22, rows 1 and 6).
Here signals that come while a recompose waits share it, and a recompose with
the keys already shown is skipped.
"""

from __future__ import annotations

from typing import Any

from textual.events import Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer as TextualFooter

NARROW = 100  # columns: under this, one pane at a time (tuiclient.screens.main)


class Footer(TextualFooter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recompose_due = False  # a recompose waits for the next refresh
        self._shown: tuple[object, ...] | None = None  # what the keys show now

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

    def bindings_changed(self, screen: Screen) -> None:
        # Textual's, with one recompose at a time and none for the same keys. The
        # signal is the footer's own screen's (Textual's footer subscribes to it
        # at mount), and it hands that screen down: the keys are read from it.
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and not self._recompose_due:
            self._recompose_due = True
            self.call_after_refresh(self._recompose_if_changed, screen)

    async def _recompose_if_changed(self, screen: Screen) -> None:
        self._recompose_due = False
        if not self.is_attached:
            return
        shown = keys_shown(screen, self.show_command_palette)
        if shown == self._shown:
            return
        self._shown = shown
        await self.recompose()


def keys_shown(screen: Screen, palette: bool) -> tuple[object, ...]:
    """Everything of `screen`'s bindings that the footer's compose reads."""
    app = screen.app
    return (palette, app.ENABLE_COMMAND_PALETTE, app.COMMAND_PALETTE_BINDING,
            tuple((key, b.key, app.get_key_display(b), b.action, b.description, b.show,
                   b.group, enabled, tooltip, b.tooltip)
                  for key, (_, b, enabled, tooltip) in screen.active_bindings.items()))
