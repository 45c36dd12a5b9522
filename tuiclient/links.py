"""Web and mail links in a message's words as OSC 8 hyperlinks.

A long URL wraps over several lines of a pane, and a terminal's own URL
detection then finds only its first line. Styled with Rich's `link`, the words
of the URL carry the whole of it: Textual writes them as OSC 8 hyperlinks, which
the terminals that support them (kitty, iTerm2, foot, WezTerm, GNOME's VTE,
Windows Terminal...) open whole on a click, and the others ignore (the URL is
still there in full, as text). Nothing is shortened: a terminal without OSC 8
must still show the address.

Where the terminal is not known to take OSC 8 (`tuiclient.terminal`, or
`[notify] hyperlinks = "off"`), `linked` leaves the text as it is: the app sets
`HYPERLINKS` once at start and on a config reload.

The text comes inert (bridge.safe) and a link's target is limited to printable
characters without spaces or quotes, so a link cannot carry an escape of its
own into the terminal.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

URL = re.compile(r"\b(?:https?://|mailto:|xmpp:)[^\s<>\"'`\\\x00-\x1f\x7f-\x9f]+",
                 re.IGNORECASE)
TRAILING = ".,;:!?)]}'\""  # closing a sentence or a bracket, not the URL


class _Switch:
    on = True  # OSC 8 written (the app sets it from the terminal and the config)


HYPERLINKS = _Switch()


def set_hyperlinks(on: bool) -> None:
    HYPERLINKS.on = on


def urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of every link in `text`, without the punctuation after it
    (an unbalanced closing bracket included)."""
    found = []
    for m in URL.finditer(text):
        url = m.group(0)
        while url and url[-1] in TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break  # https://en.wikipedia.org/wiki/Foo_(bar)
            url = url[:-1]
        if len(url) > len(url.split(":", 1)[0]) + 3:
            found.append((m.start(), m.start() + len(url), url))
    return found


def linked(text: Text) -> Text:
    """`text` with each link's characters styled as a hyperlink to it (in place,
    and returned for chaining); as it was where hyperlinks are off."""
    if not HYPERLINKS.on:
        return text
    for start, end, url in urls(text.plain):
        text.stylize(Style(link=url), start, end)
    return text
