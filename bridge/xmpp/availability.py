"""Presence of a contact's resources, boiled down to one answer the deferral logic asks.

Kept free of slixmpp so the rules can be read (and unit tested) on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Availability(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    BUSY = "busy"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # no presence subscription: we cannot know
    BLOCKED = "blocked"  # we block them, or a send to them was refused


# show values of RFC 6121 (and "" for plain available) mapped to what a user decides on.
SHOW_AVAILABILITY = {
    "": Availability.AVAILABLE,
    "chat": Availability.AVAILABLE,
    "away": Availability.AWAY,
    "xa": Availability.AWAY,
    "dnd": Availability.BUSY,
}

# When two resources disagree at equal priority, the most reachable one wins.
_REACHABLE_ORDER = {Availability.AVAILABLE: 0, Availability.AWAY: 1, Availability.BUSY: 2}


@dataclass(frozen=True)
class ResourcePresence:
    resource: str
    show: str = ""  # "", chat, away, xa, dnd
    status: str = ""
    priority: int = 0

    @property
    def availability(self) -> Availability:
        return SHOW_AVAILABILITY.get(self.show, Availability.AVAILABLE)


@dataclass(frozen=True)
class ContactPresence:
    """A contact's availability and the status text ("away message") that goes with it."""

    jid: str
    availability: Availability
    status: str = ""
    resources: tuple[ResourcePresence, ...] = ()


def summarize(
    jid: str,
    resources: dict[str, ResourcePresence],
    *,
    subscribed: bool,
    blocked: bool,
) -> ContactPresence:
    """One availability for a bare JID from all its online resources.

    The server routes a message to a bare JID by priority, so the highest-priority
    resource is the one that will see it; its show and status are the answer.
    """
    online = tuple(sorted(resources.values(), key=lambda r: r.resource))
    if blocked:
        return ContactPresence(jid, Availability.BLOCKED, "", online)
    if online:
        best = min(online, key=lambda r: (-r.priority, _REACHABLE_ORDER[r.availability]))
        return ContactPresence(jid, best.availability, best.status, online)
    if not subscribed:
        return ContactPresence(jid, Availability.UNKNOWN)
    return ContactPresence(jid, Availability.OFFLINE)
