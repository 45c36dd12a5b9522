"""Message styling (XEP-0393) as the timeline shows it: *strong*, _emphasis_,
~strike~ and `pre` spans, ``` preformatted blocks, and > quotes, with the
directives kept (dimmed), as the XEP asks, so that nothing typed is hidden.

Hand-written: slixmpp has no XEP-0393 (it is a display rule, not a stanza), and
the rules are few. A span opens at the start of a line or after whitespace (or
another opening directive), with a non-space after it; it closes at the first
same directive on that line with a non-space before it; it holds at least one
character. Inside a `pre` span or a preformatted block nothing else is styled.
"""

from __future__ import annotations

from rich.text import Text

SPANS = {"*": "bold", "_": "italic", "~": "strike", "`": "reverse"}


def styled(body: str) -> Text:
    """A chat line's words (already inert) with their styling."""
    out = Text()
    pre = False
    for line in body.split("\n"):
        if line.startswith("```"):
            out.append(line + "\n", style="dim")
            pre = not pre
            continue
        if pre:
            out.append(line + "\n", style="cyan")
        elif line.startswith(">"):
            out.append(line + "\n", style="dim")
        else:
            out.append_text(styled_line(line))
            out.append("\n")
    if not pre or not body.endswith("```"):
        out.rstrip()
    return out


def styled_line(line: str) -> Text:
    out = Text(line)
    _spans(out, line, 0, len(line), "")
    return out


def _spans(out: Text, line: str, start: int, end: int, outer: str) -> None:
    """Style the spans of line[start:end] (inside the spans `outer`)."""
    i = start
    while i < end:
        mark = line[i]
        if mark in SPANS and mark not in outer and _may_open(line, i, start) \
                and i + 1 < end and not line[i + 1].isspace():
            close = _closing(line, i + 1, end, mark)
            if close is not None:
                out.stylize("dim", i, i + 1)
                out.stylize("dim", close, close + 1)
                out.stylize(SPANS[mark], i + 1, close)
                if mark != "`":
                    _spans(out, line, i + 1, close, outer + mark)
                i = close + 1
                continue
        i += 1


def _may_open(line: str, i: int, start: int) -> bool:
    return i == start or line[i - 1].isspace() or line[i - 1] in SPANS


def _closing(line: str, i: int, end: int, mark: str) -> int | None:
    j = line.find(mark, i + 1, end)  # at least one character inside
    while j != -1:
        if not line[j - 1].isspace():
            return j
        j = line.find(mark, j + 1, end)
    return None
