"""Who is who, as the user knows them: contacts' names, the user's own addresses,
the group chats and who is in them.

The screen reads this from the engine (`Directory`) and passes it down to the
widgets that name people; the functions here only look things up in it, so the
widgets never ask the engine and the naming can be tested without an app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bridge.model import Direction, Message, Party, Transport
from tuiclient.format import one_line


@dataclass(frozen=True)
class Directory:
    """What the screen knows of people right now, per account where it differs."""

    names: Mapping[str, str] = field(default_factory=dict)  # address (lower) -> name
    # Our own addresses (lower) -> the account's display name; "" is among them
    # when an account lacks an email address or a JID.
    own: Mapping[str, str] = field(default_factory=dict)
    joined: Mapping[str, frozenset[str]] = field(default_factory=dict)  # rooms we are in
    rooms: Mapping[str, frozenset[str]] = field(default_factory=dict)  # and remembered
    # (account, room) -> (bare JID or "", nick) of who is in the room now
    occupants: Mapping[tuple[str, str], Sequence[tuple[str, str]]] = field(
        default_factory=dict)
    # account -> its Drafts folders (SPECIAL-USE \\Drafts): what is there is a draft
    drafts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # (account, thread id) -> (room JID, its name): the conversations that are a
    # group chat's (Engine.room_conversations), named after their room.
    room_threads: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


def room_of_line(d: Directory, m: Message) -> tuple[str, str] | None:
    """(room JID, its name) when `m` is in a group chat's conversation; None for
    a 1:1 line, an email, and a private line through a room (its own
    conversation with that occupant)."""
    return d.room_threads.get((m.account, m.thread_id))


def bare(address: str) -> str:
    return one_line(address).split("/", 1)[0].lower()


def party_name(d: Directory, m: Message, p: Party, thread: Sequence[Message]) -> str:
    """A recipient as the user knows them: a name, "you" (the account's name), or
    for a group chat's room (a JID like thread-…@conference) its people."""
    address = bare(p.address)
    if address in d.own:
        return one_line(p.name) or one_line(d.own[address]) or "you"
    if m.transport is Transport.XMPP and address in rooms_of(d, m, thread):
        people = room_people(d, m, address, thread)
        if people:
            return f"the group chat with {', '.join(people)}"
        # Nobody else there yet (invited, not joined): a room made for a thread
        # carries its subject as its name.
        subject = next((one_line(x.subject) for x in thread
                        if x.thread_id == m.thread_id and one_line(x.subject)), "")
        return f"the group chat “{subject}”" if subject else "the group chat"
    return one_line(p.name) or one_line(d.names.get(address)) or one_line(p.address)


def rooms_of(d: Directory, m: Message, thread: Sequence[Message]) -> set[str]:
    """The group chats (rooms) among a chat line's addresses: those the account
    is in, and those its thread's incoming lines were sent to (a line to us
    comes to our own JID; one through a room names the room)."""
    rooms = {r.lower() for r in d.rooms.get(m.account, ())}
    for x in [m, *thread]:
        if x.transport is Transport.XMPP and x.direction is Direction.IN \
                and x.thread_id == m.thread_id:
            rooms.update(a for p in x.recipients if p.role in ("to", "occupant")
                         and (a := bare(p.address)) not in d.own)
    return rooms


def room_people(d: Directory, m: Message, room: str, thread: Sequence[Message]) -> list[str]:
    """Who is in a group chat, by name, but the user: its occupants (when
    online) and whoever wrote in it in this thread."""
    people: list[str] = []
    found: list[tuple[str, str]] = list(d.occupants.get((m.account, room), ()))
    for x in [*thread, m]:
        if x.transport is Transport.XMPP and x.direction is Direction.IN \
                and x.thread_id == m.thread_id and any(
                bare(p.address) == room for p in x.recipients):
            address = bare(x.sender.address)
            found.append(("" if address == room else address, x.sender.name or ""))
    for address, nick in found:
        if address in d.own:
            continue
        name = one_line(d.names.get(address)) or one_line(nick) or address
        if name and name not in people:
            people.append(name)
    return people


# Whom a reply goes to when it goes to nobody but the user (a note to self).
SELF = "yourself"


def reply_names(d: Directory, m: Message, reply_all: bool) -> str:
    """Who a reply goes to, as the user knows them: the sender, or with "to all"
    everyone on the message but the user; `SELF` when the user alone."""
    rooms = d.joined.get(m.account, frozenset())
    parties = [m.sender] if m.direction is Direction.IN else []
    if reply_all or m.direction is Direction.OUT:
        parties += [p for p in m.recipients if p.role in ("to", "cc")]
    out: list[str] = []
    mine = False
    for p in parties:
        address, _, nick = one_line(p.address).partition("/")
        if address and address.lower() in d.own:
            mine = True
            continue
        if nick and m.transport is Transport.XMPP and address.lower() in {
                r.lower() for r in d.rooms.get(m.account, rooms)}:
            # An occupant's private line (XEP-0045 §7.5): to them alone.
            name = f"{one_line(p.name) or nick}, privately"
        elif address in rooms:
            name = "the group chat"
        else:
            name = one_line(p.name) or one_line(d.names.get(address.lower())) or address
        if name not in out:
            out.append(name)
    if len(out) > 4:
        out = [*out[:3], f"{len(out) - 3} more"]
    # Nobody but the user: a note to self.
    return ", ".join(out) or (SELF if mine else "this chat")
