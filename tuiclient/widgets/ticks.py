"""Check boxes and radio buttons whose state reads without colour.

Textual draws a ticked and an unticked box with the same glyph ('X', or '●' for
a radio button) and tells them apart by colour alone, which is lost in a
monochrome terminal and faint in light themes. These draw '[x]' / '[ ]' and
'(•)' / '( )' instead, keeping Textual's colours on top.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widgets import Checkbox, RadioButton, SelectionList
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist

from tuiclient.keys import moving


def box(on: bool) -> str:
    return "[x]" if on else "[ ]"


def dot(on: bool) -> str:
    return "(•)" if on else "( )"


def _mark(button: ToggleButton, glyphs: str) -> Content:
    """The three cells of a box, its mark in the button's colour (not its
    background, which would fill an empty box)."""
    left, inner, right = glyphs[0], glyphs[1:-1], glyphs[-1]
    colour = button.get_visual_style("toggle--button").foreground
    return Content.assemble(left, (inner, VisualStyle(foreground=colour, bold=True)), right)


class Tick(Checkbox):
    """A check box drawn as [x] or [ ]."""

    @property
    def _button(self) -> Content:
        return _mark(self, box(self.value))


class Choice(RadioButton):
    """A radio button drawn as (•) or ( )."""

    @property
    def _button(self) -> Content:
        return _mark(self, dot(self.value))


class Checklist(SelectionList[str]):
    """A selection list whose boxes are drawn as [x] or [ ]; j/k/g/G move in it."""

    BINDINGS = moving("cursor_down", "cursor_up", "first", "last")

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        segments = list(line)
        if len(segments) < 4 or segments[0].text != ToggleButton.BUTTON_LEFT:
            return line
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return line
        left, inner, _right, gap = segments[:4]
        # The sides carry the option's index, for a click on them.
        side = (gap.style or Style()) + Style.from_meta(left.style.meta if left.style else {})
        mark = box(selection.value in self._selected)
        colour = Style(color=inner.style.color if inner.style else None, bold=True)
        return Strip([Segment(mark[0], side), Segment(mark[1], side + colour),
                      Segment(mark[2], side), *segments[3:]], line.cell_length)
