"""j/k/g/G (as the config's [keys] rebinds them) and PageUp/PageDown in every list
and every scrollable pane: one binding set per kind of widget, and the screens
use these widgets instead of Textual's plain ones.

- `Choices`, an OptionList: the sidebar's kind of list (links, drafts, files,
  folders, the search results…).
- `Table`, a DataTable with a row cursor (the outbox, the servers, the roster).
- `Scroller`, a VerticalScroll for text longer than its pane (the outbox's log).

PageUp/PageDown are Textual's own bindings in each of them.
"""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import DataTable, OptionList

from tuiclient.keys import moving

__all__ = ["Choices", "Scroller", "Table"]


class Choices(OptionList):
    BINDINGS = moving("cursor_down", "cursor_up", "first", "last")


class Table(DataTable):
    BINDINGS = moving(top="scroll_top", bottom="scroll_bottom")


class Scroller(VerticalScroll):
    BINDINGS = moving("scroll_down", "scroll_up", "scroll_home", "scroll_end")
