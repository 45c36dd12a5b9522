"""How engine data reads on screen: safe text, transport and delivery marks, dates.

Remote text (names, subjects, bodies, status messages) is hostile: it goes
through `bridge.safe.inert_text` and into `rich.text.Text`, never into markup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from rich.text import Text

from bridge.model import FLAGGED, DeliveryState, Direction, Message, Transport
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
}

PRESENCE_DOT = {"available": ("●", "green"), "away": ("●", "yellow"),
                "busy": ("●", "red"), "offline": ("○", "dim"), "unknown": ("○", "dim"),
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


def size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
