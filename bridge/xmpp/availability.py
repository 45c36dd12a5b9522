"""Presence of a contact's resources, boiled down to one answer the deferral logic asks.

Kept free of slixmpp so the rules can be read (and unit tested) on their own.
"""

from __future__ import annotations

# The values live in bridge.model (the front ends read them); kept importable here.
from ..model import SHOW_AVAILABILITY, Availability, ContactPresence, ResourcePresence

# When two resources disagree at equal priority, the most reachable one wins.
_REACHABLE_ORDER = {Availability.AVAILABLE: 0, Availability.AWAY: 1, Availability.BUSY: 2}


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


__all__ = ["SHOW_AVAILABILITY", "Availability", "ContactPresence", "ResourcePresence",
           "summarize"]
