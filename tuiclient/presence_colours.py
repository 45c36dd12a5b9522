"""Presence marks in the colours of the theme in use: the shape says it (●, ◑, ⊖,
○, ⊘, `tuiclient.format.PRESENCE_DOT`), the colour is the theme's own text colour
for success, warning and error (`$text-success`, `$text-warning`, `$text-error`:
Textual's colours made to be read on the theme's background), so a light theme
gets a dark yellow for away, not the terminal's yellow on white.

Where a theme's colour is faint on its own background, surface or panel (under
3:1), it is darkened (lightened on a dark theme) until it reads.

Without a theme (a unit test, a text export) the fixed colours of PRESENCE_DOT
stay; offline and unknown are dim in every theme.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style
from textual.color import Color, ColorParseError

from tuiclient.format import PRESENCE_DOT

MIN_CONTRAST = 3.0
THEME_VARIABLE = {"available": "text-success", "away": "text-warning",
                  "busy": "text-error", "blocked": "text-error"}


def presence_dot(availability: str,
                 variables: Mapping[str, str] | None = None) -> tuple[str, str | Style]:
    """The mark of an availability and its style, in the theme's colours
    (`variables`: the app's `theme_variables`) where one applies."""
    dot, fixed = PRESENCE_DOT.get(availability, PRESENCE_DOT["unknown"])
    name = THEME_VARIABLE.get(availability)
    if variables is None or name is None or name not in variables:
        return dot, fixed
    try:
        colour = Color.parse(variables[name])
        grounds = [Color.parse(variables[g]) for g in ("background", "surface", "panel")
                   if g in variables]
    except ColorParseError:  # an ANSI theme's "ansi_default 50%": the terminal's own
        return dot, fixed
    if colour.ansi is None and grounds:
        colour = readable(grounds[0] + colour if colour.a < 1 else colour, grounds)
    return dot, Style(color=colour.rich_color)


def contrast(a: Color, b: Color) -> float:
    """WCAG's contrast ratio of two colours (1 to 21)."""
    def luminance(c: Color) -> float:
        def channel(u: int) -> float:
            x = u / 255
            return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def readable(colour: Color, grounds: list[Color], ratio: float = MIN_CONTRAST) -> Color:
    """`colour`, darker on a light theme (lighter on a dark one) until it reads on
    each of `grounds` at `ratio` (WCAG asks 3:1 of marks and large text)."""
    dark_theme = grounds[0].brightness < 0.5
    for _ in range(20):
        if all(contrast(colour, g) >= ratio for g in grounds):
            break
        colour = colour.lighten(0.04) if dark_theme else colour.darken(0.04)
    return colour
