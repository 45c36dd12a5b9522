"""What happened in a room between its lines, as its timeline shows it (as
Profanity and Poezio do, in the room's window, in order with the lines): dim
lines for a kick or ban (by whom, why), a nick change, a topic change (by
whom), and people coming and going. Comings and goings can be many (a busy
room, a netsplit): a burst of them with nothing else between is one line,
"→ erin, frank joined · ← gina left", as Poezio folds them, rather than a line
each or a setting to hide them: they stay seen, and cost a line.

And a mention of our nick in a room's line (`mentions`): the nick as a word,
any case, as Profanity and Poezio highlight it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.text import Text

from bridge.events import RoomHappened
from tuiclient.format import Clock, one_line, short_date

EVENT_STYLE = "dim italic"
COMINGS = ("joined", "left")
MOST_NAMED = 6  # a burst names this many, then says how many more


def mention_pattern(nick: str) -> re.Pattern[str] | None:
    """Our nick as a word of a line (not inside another word), any case."""
    nick = nick.strip()
    if not nick:
        return None
    return re.compile(rf"(?<!\w){re.escape(nick)}(?!\w)", re.IGNORECASE)


def mentions(text: str, nick: str) -> bool:
    """Whether a room's line names us: "carol: ally: are you there?" names ally."""
    pattern = mention_pattern(nick)
    return pattern is not None and pattern.search(text) is not None


def _nick(nick: str) -> str:
    return one_line(nick)[:60] or "someone"


def event_words(e: RoomHappened) -> str:
    """One happening in words: "carol was kicked by dave: spam"."""
    who = "you" if e.ours else _nick(e.nick)
    by = f" by {_nick(e.by)}" if e.by else ""
    why = f": {one_line(e.reason)[:200]}" if e.reason else ""
    if e.what in ("kicked", "banned"):
        return f"{who} {'were' if e.ours else 'was'} {e.what}{by}{why}"
    if e.what == "nick":
        are = "are" if e.ours else "is"
        return f"{who} {are} now known as {_nick(e.new)}"
    if e.what == "topic":
        topic = one_line(e.new)[:300]
        return f"{who} changed the topic to: {topic}" if topic else f"{who} cleared the topic"
    if e.what == "joined":
        return f"{who} joined"
    return f"{who} left" + (f" ({one_line(e.reason)[:120]})" if e.reason else "")


def _names(nicks: list[str]) -> str:
    shown = list(dict.fromkeys(_nick(n) for n in nicks))
    more = len(shown) - MOST_NAMED
    return ", ".join(shown[:MOST_NAMED]) + (f" and {more} more" if more > 0 else "")


def _burst(events: list[RoomHappened]) -> str:
    """Comings and goings with nothing else between, on one line."""
    came = [e.nick for e in events if e.what == "joined"]
    went = [e.nick for e in events if e.what == "left"]
    parts = []
    if came:
        parts.append(f"→ {_names(came)} joined")
    if went:
        parts.append(f"← {_names(went)} left")
    return " · ".join(parts)


def event_lines(events: Sequence[RoomHappened], clock: Clock) -> list[Text]:
    """Dim lines, oldest first, a burst of comings and goings folded into one."""
    out: list[Text] = []
    burst: list[RoomHappened] = []

    def line(at: float, words: str, style: str = EVENT_STYLE) -> None:
        text = Text(no_wrap=False)
        text.append(f"{short_date(at, clock())} ", style="dim")
        text.append(words, style=style)
        out.append(text)

    def flush() -> None:
        if len(burst) == 1:
            line(burst[0].at, ("→ " if burst[0].what == "joined" else "← ")
                 + event_words(burst[0]))
        elif burst:
            line(burst[0].at, _burst(burst))
        burst.clear()

    for e in events:
        if e.what in COMINGS:
            burst.append(e)
            continue
        flush()
        severe = e.what in ("kicked", "banned")
        line(e.at, ("✖ " if severe else "─ ") + event_words(e),
             "dim bold" if severe and e.ours else EVENT_STYLE)
    flush()
    return out
