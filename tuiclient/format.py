"""How engine data reads on screen: safe text, transport and delivery marks, dates.

Remote text (names, subjects, bodies, status messages) is hostile: it goes
through `bridge.safe.inert_text` and into `rich.text.Text`, never into markup.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping

from rich.text import Text

from bridge.model import (
    DRAFT,
    FLAGGED,
    Attachment,
    DeliveryState,
    Direction,
    Message,
    Transport,
)
from bridge.safe import inert_text

Clock = Callable[[], float]

# One cell each, in every terminal font we tried (no emoji presentation).
MAIL, CHAT = "✉", "❝"
TRANSPORT_MARK = {Transport.EMAIL: MAIL, Transport.XMPP: CHAT}
TRANSPORT_STYLE = {Transport.EMAIL: "bold blue", Transport.XMPP: "bold green"}

DELIVERY_MARK: dict[DeliveryState, tuple[str, str]] = {
    DeliveryState.QUEUED: ("◷ queued", "yellow"),
    DeliveryState.DEFERRED: ("◔ deferred", "yellow"),
    DeliveryState.SENDING: ("… sending", "yellow"),
    DeliveryState.SENT: ("✓ sent", "dim"),
    DeliveryState.DELIVERED: ("✓✓ delivered", "green"),
    DeliveryState.READ: ("✓✓ read", "bold green"),
    DeliveryState.FAILED: ("✖ failed", "bold red"),
    DeliveryState.CANCELLED: ("⊘ cancelled", "dim"),
    DeliveryState.FELL_BACK_TO_EMAIL: ("✉ sent by email", "blue"),
    DeliveryState.FELL_BACK_TO_IM: ("❝ sent by chat", "green"),
}

# Presence by shape as well as colour (a colour-blind user, a monochrome theme):
# full for available, half for away, barred for busy, empty for offline or unknown
# (the sidebar says "offline" in words), crossed for blocked.
PRESENCE_DOT = {"available": ("●", "green"), "away": ("◑", "yellow"),
                "busy": ("⊖", "red"), "offline": ("○", "dim"), "unknown": ("○", "dim"),
                "blocked": ("⊘", "red")}


def safe(s: str | None) -> str:
    """Remote text, made inert for the terminal (markup is escaped by using Text)."""
    return inert_text(s or "")


def one_line(s: str | None) -> str:
    return " ".join(safe(s).split())


def transport_mark(transport: Transport) -> Text:
    return Text(TRANSPORT_MARK[transport], style=TRANSPORT_STYLE[transport])


def delivery_mark(m: Message) -> Text:
    if m.direction is not Direction.OUT or m.delivery is None:
        return Text("")
    word, style = DELIVERY_MARK[m.delivery]
    return Text(word, style=style)


def flag_mark(m: Message) -> Text:
    """The flag the user set (F), beside the message."""
    if FLAGGED in m.flags:
        return Text("⚑ flagged", style="bold red")
    return Text("")


def is_draft(m: Message, drafts: Collection[str] = ()) -> bool:
    """A message postponed, not sent: flagged \\Draft (as mutt, aerc and this app
    save one), or in a Drafts folder (`drafts`: the account's, by name)."""
    return m.transport is Transport.EMAIL and (
        DRAFT in m.flags or (m.folder is not None and m.folder in drafts))


def draft_mark(m: Message, drafts: Collection[str] = ()) -> Text:
    """A draft's mark beside it, where a sent message has its delivery."""
    return Text("✎ draft", style="bold yellow") if is_draft(m, drafts) else Text("")


def short_date(ts: float, now: float) -> str:
    """'14:05' today, 'Tue 14:05' this week, '12 Mar' this year, else '2023-03-12'."""
    t, n = time.localtime(ts), time.localtime(now)
    if t[:3] == n[:3]:
        return time.strftime("%H:%M", t)
    if 0 <= now - ts < 6 * 86400:
        return time.strftime("%a %H:%M", t)
    if t.tm_year == n.tm_year:
        return time.strftime("%d %b", t)
    return time.strftime("%Y-%m-%d", t)


def long_date(ts: float) -> str:
    return time.strftime("%a %d %b %Y %H:%M", time.localtime(ts))


def who(m: Message, names: Mapping[str, str] | None = None) -> str:
    """The sender as a person reads it: the name they gave, else the contact's name
    (`names`: address -> name), else the address (bare JID)."""
    name = one_line(m.sender.name)
    if name:
        return name
    address = one_line(m.sender.address)
    if m.transport is Transport.XMPP:
        address = address.split("/", 1)[0]
    return one_line((names or {}).get(address.lower())) or address


def size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def file_size(a: Attachment) -> str:
    """A file's size as shown: a chat line's linked file not fetched yet, whose
    size its sender did not tell (a bare out-of-band link), is "size unknown",
    never "0 B"."""
    if a.size <= 0 and a.url and a.sha256 is None:
        return "size unknown"
    return size(a.size)


# -- hard-wrapped plain text ------------------------------------------------------------

# A list item: "- x", "* x", "+ x", "• x", "1. x", "2) x", "a) x".
_LIST_ITEM = re.compile(r"^(?:[-*+•·]\s|\(?[0-9]{1,3}[.)]\s|\(?[a-zA-Z][.)]\s)")
_SENTENCE_END = (".", "!", "?", ":", ";", ",", ")")
# Senders wrap at 66 to 80 columns; the longest line says where, within reason.
WRAP_MIN, WRAP_MAX = 40, 100


def _prose(line: str) -> bool:
    """A line that may belong to a wrapped paragraph: not a quote, a list item,
    indented code, a table row or a rule."""
    return bool(line.strip()) and not line.startswith((">", " ", "\t")) \
        and not _LIST_ITEM.match(line) and "\t" not in line \
        and not set(line.strip()) <= set("-=_*~#")


def reflow(text: str) -> str:
    """Plain text that the sender hard-wrapped (at ~72 columns), with the lines of
    each wrapped paragraph joined again, so that the pane wraps it to its width.

    Conservative: two lines are joined only when both look like prose and the
    first ended because the next word would not have fit at the sender's wrap
    width (the longest prose line); a line much shorter than that which ends a
    sentence (a greeting, a sign-off, a last line) stays, and so do blank lines,
    quotes ('>'), list items, indented lines and everything after the signature
    separator ('-- '). format=flowed text is already joined by the MIME layer.
    """
    lines = text.split("\n")
    sig = next((i for i, ln in enumerate(lines) if ln.rstrip() in ("--", "-- ")), len(lines))
    body, tail = lines[:sig], lines[sig:]
    prose = [len(ln.rstrip()) for ln in body if _prose(ln)]
    if len(prose) < 2:
        return text
    width = max(prose)
    if not WRAP_MIN <= width <= WRAP_MAX:
        return text  # not hard-wrapped (long lines), or nothing long enough to tell
    # One line alone at the longest says little of a wrap width: then a line that
    # ends a sentence is taken to end its line on purpose.
    sure = sum(n >= width - 8 for n in prose) >= 2
    out: list[str] = []
    prev = ""  # the sender's previous line, when the next one may continue it
    joined = False  # whether out[-1] is already several of the sender's lines
    for i, line in enumerate(body):
        line = line.rstrip() if _prose(line) else line
        words = line.split()
        last = i + 1 == len(body) or not _prose(body[i + 1])
        if prev and _prose(line) and len(prev) + 1 + len(words[0]) > width and (
                joined or not last or len(line) >= width // 3):
            # (A short last line after one long one is as likely a sign-off
            # ("Cheers") as the end of the sentence: joined only in a longer run.)
            out[-1] = f"{out[-1]} {line}"
            joined = True
        else:
            out.append(line)
            joined = False
        prev = line if _prose(line) and _may_go_on(line, width, sure) else ""
    return "\n".join(out + tail)


def _may_go_on(line: str, width: int, sure: bool) -> bool:
    """Whether the next line may continue this one: it is long enough for a wrap,
    and not a line that ends a sentence while much shorter than the width (or at
    all, when the width is a guess)."""
    n = len(line)
    ends = line.endswith(_SENTENCE_END)
    return n >= width // 2 and not (ends and (n < width * 4 // 5 or not sure))
