"""OMEMO in rooms: which rooms a line may be sealed in, for whom, and who sent
a sealed room line. The sealing and opening are slixmpp-omemo's (its
`encrypt_message` takes several recipients; `decrypt_message` opens a line once
it knows the sender's real JID); this module only answers the three questions
the library leaves to the client, the way Conversations and Dino answer them:

- A room line is sealed only in a members-only, non-anonymous room (its
  disco#info features `muc_membersonly` and `muc_nonanonymous`): in an open room
  anyone may come in and read along without a key, and in a semi-anonymous one
  the members' real JIDs (and so their devices) are hidden.
- It is sealed for every member: the room's affiliation lists (owners, admins,
  members; a members-only non-anonymous room gives them to its members, XEP-0045
  §9.5) and whoever is in it now, by their real JIDs; not for us (python-omemo
  adds our other devices itself).
- A sealed line's sender is the occupant's real JID (known from the room's
  presence); a line read from the room's archive names it in its muc#user item
  (a non-anonymous room's archive keeps it, as Prosody's mod_muc_mam does).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from slixmpp import JID

from .core import IQ_TIMEOUT
from .stanzas import NS_MUC_USER, bare, q, resource

MEMBERS_ONLY = "muc_membersonly"
NON_ANONYMOUS = "muc_nonanonymous"
# Whose JIDs a line is sealed for, besides the room's occupants.
MEMBER_AFFILIATIONS = ("owner", "admin", "member")


def refusal(room: str, features: set[str]) -> str:
    """Why a line cannot be sealed in `room` (its disco#info features), in a
    sentence; "" when it can."""
    if MEMBERS_ONLY not in features:
        return (f"not sent: {room} is open (anyone may join it and read along without a "
                "key), and OMEMO seals a room's lines only in a members-only room: make it "
                "members-only, or turn OMEMO off there (/omemo off)")
    if NON_ANONYMOUS not in features:
        return (f"not sent: {room} is semi-anonymous (it hides its members' addresses, so "
                "their OMEMO devices cannot be found): let everyone see the addresses "
                "(non-anonymous), or turn OMEMO off there (/omemo off)")
    return ""


async def room_features(session: Any, room: str) -> set[str]:
    """The room's disco#info features (what kind of room it is now: an owner
    may change it at any time, so it is asked at each check)."""
    info = await session.plugin["xep_0030"].get_info(jid=JID(room), timeout=IQ_TIMEOUT)
    return set(info["disco_info"]["features"])


async def members(session: Any, room: str, occupants: list[str], own: str) -> list[str]:
    """The bare JIDs a line in `room` is sealed for: its affiliation lists and
    its occupants' real JIDs, without us. A list the room does not give (an
    older server) leaves the occupants."""
    found = {bare(j) for j in occupants if j}
    muc = session.plugin["xep_0045"]
    for affiliation in MEMBER_AFFILIATIONS:
        try:
            listed = await muc.get_affiliation_list(JID(room), affiliation, timeout=IQ_TIMEOUT)
        except Exception:  # forbidden, or no answer: the occupants still count
            continue
        found |= {bare(str(j)) for j in listed}
    found.discard(own)
    found.discard("")
    return sorted(found)


def sender(xml: ET.Element, occupants: dict[str, str | None], trusted_archive: bool
           ) -> str | None:
    """The real bare JID of whoever sent a room line: for a line read from the
    room's own archive, the JID its muc#user item names; else the occupant with
    its nick now."""
    if trusted_archive:  # the nick may be someone else's by now
        item = xml.find(f"{q(NS_MUC_USER, 'x')}/{q(NS_MUC_USER, 'item')}")
        if item is not None and item.get("jid"):
            return bare(item.get("jid") or "")
    real = occupants.get(resource(xml.get("from") or ""))
    return bare(real) if real else None

