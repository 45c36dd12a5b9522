"""Lines that change after they came: corrections (XEP-0308, slixmpp's xep_0308),
retractions (XEP-0424, xep_0424) and reactions (XEP-0444, xep_0444), received
and sent; and replies (XEP-0461, xep_0461), new lines that name an earlier one.

Received ones arrive as messages of their own (live, as carbons, from the
archive) and are read by `stanzas.parse_message`; `Inbound._ingest` hands them
here instead of storing them as lines. The rule for all three: a change names a
line by an id, and only the line's own sender may correct or retract it, in the
conversation it belongs to (a room line in that room, a chat line in that chat);
anything else is dropped with a log line. A reaction set is one person's whole
set for the line, replacing their earlier one (XEP-0444 §3).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slixmpp import JID
from slixmpp.plugins.xep_0444.stanza import Reaction

from ..events import MessageChanged
from ..model import Direction, Message, Transport, new_message_id
from .core import MessageKind, Reply, XmppError
from .files import Files
from .stanzas import ParsedChat, bare, resource

log = logging.getLogger(__name__)

# The quote a reply carries for clients without replies: the line's start.
QUOTE_LINES = 3
QUOTE_CHARS = 200


class Edits(Files):
    """Corrections, retractions and reactions, both ways."""

    # -- received -------------------------------------------------------------------

    def _apply_edit(self, p: ParsedChat, room_jid: str | None, when: float) -> bool:
        """Apply a received correction, retraction or reaction set (see the module);
        False for a correction that names no line of its sender's here (one we never
        got, or someone else's): its text is then their new line, as sent."""
        author = self._author(p, room_jid)
        if not author:
            return True
        # The conversation: the room, or the contact (the recipient, for our own).
        where = room_jid or (bare(p.to) if author == self.own else author)
        ref = p.replace_id or p.retract_id or p.reactions_to or ""
        target = self._target(ref, where, author if (p.replace_id or p.retract_id) else None)
        if target is None or target.id is None:
            log.info("%s: a change from %s names no line of theirs here (%s)",
                     self.name, author, ref)
            return not p.replace_id
        if p.retract_id:
            changed, change = self.store.retract_message(target.id, when), "retracted"
        elif p.replace_id:
            if p.body is None or target.retracted is not None:
                return True
            changed = self.store.correct_message(target.id, p.body, when,
                                                 p.origin_id or p.attr_id)
            change = "corrected"
        else:
            changed = self.store.set_reactions(target.id, author, p.reactions or [], when)
            change = "reactions"
        if changed:
            self._publish(MessageChanged(self.name, target.id, target.msg_id, target.thread_id,
                                         change, author))
        return True

    def _author(self, p: ParsedChat, room_jid: str | None) -> str:
        """Who sent a change, named as their lines' sender is stored."""
        if room_jid is None:
            return bare(p.sender) or self.own
        room = self._rooms.get(room_jid)
        occupant = room.occupants.get(resource(p.sender)) if room else None
        return p.muc_real_jid or (occupant.jid if occupant and occupant.jid else p.sender)

    def _target(self, ref: str, where: str, author: str | None) -> Message | None:
        """The line `ref` names in the conversation `where` (a room, or a contact),
        sent by `author` when given (a correction or retraction)."""
        for row in reversed(self.store.referenced_rows(self.name, ref)):
            m = self.store.get_message(row)
            if m is None or m.transport is not Transport.XMPP:
                continue
            if _conversation(m, self.own) != where:
                continue
            if author is not None and bare(m.sender.address) != bare(author) \
                    and m.sender.address != author:
                continue
            return m
        return None

    # -- sent ---------------------------------------------------------------------

    def _own_line(self, row_id: int) -> tuple[Message, str, MessageKind]:
        m = self.store.get_message(row_id)
        if m is None or m.transport is not Transport.XMPP or m.account != self.name:
            raise XmppError(f"no chat line {row_id} on {self.name}")
        to, mtype = self._peer_of(m)
        return m, to, mtype

    def _peer_of(self, m: Message) -> tuple[str, MessageKind]:
        first = m.recipients[0].address if m.recipients else ""
        if resource(first) and bare(first) in self._rooms:
            return first, "chat"  # our private line to a room's occupant
        sender = m.sender.address
        if m.direction is Direction.IN and bare(first) not in self._rooms \
                and resource(sender) and bare(sender) in self._rooms:
            return sender, "chat"  # an occupant's private line to us
        where = _conversation(m, self.own)
        if where in self._rooms:
            if where not in self._joined_rooms():
                raise XmppError(f"not in room {where}: join it first")
            return where, "groupchat"
        return where, "chat"

    def correct(self, row_id: int, text: str) -> Message:
        """Correct our own last line of its conversation (XEP-0308); returns it as
        stored now, the old text kept as a revision."""
        msg, new_id = self._correction(row_id, text)
        msg.send()
        return self._corrected(row_id, text, new_id)

    def _correction(self, row_id: int, text: str) -> tuple[Any, str]:
        """The correction of our line `row_id` to `text` as it goes in clear (the
        OMEMO layer seals it first), and its new id; refused (XmppError) when
        the line cannot be corrected."""
        m, to, mtype = self._own_line(row_id)
        if m.direction is not Direction.OUT:
            raise XmppError("only your own lines can be corrected")
        if m.retracted is not None:
            raise XmppError("a retracted line cannot be corrected")
        if self.store.last_sent_row(self.name, m.thread_id) != row_id:
            raise XmppError("only your last line in a conversation can be corrected")
        if not text.strip():
            raise XmppError("a correction needs some text (retract the line instead)")
        new_id = new_message_id(self.domain)
        msg = self.session.plugin["xep_0308"].build_correction(
            id_to_replace=m.attr_id or m.origin_id or m.msg_id, mto=JID(to), mtype=mtype,
            mbody=text)
        msg["id"] = new_id
        msg["origin_id"]["id"] = new_id
        if mtype == "chat" and self.chat_states:
            # A line of text like any other: without <active/>, a client that keeps
            # to XEP-0085 section 5.1 (Profanity does) takes it that we stopped
            # wanting chat states, and never tells us it is typing again.
            msg["chat_state"] = "active"
        return msg, new_id

    def _corrected(self, row_id: int, text: str, new_id: str) -> Message:
        """Keep a correction that went (the old text as a revision); the line now."""
        m = self.store.get_message(row_id)
        assert m is not None
        self.store.correct_message(row_id, text, time.time(), new_id)
        self._publish(MessageChanged(self.name, row_id, m.msg_id, m.thread_id, "corrected",
                                     self.own))
        fresh = self.store.get_message(row_id)
        assert fresh is not None
        return fresh

    def retract(self, row_id: int) -> None:
        """Take back one of our own lines (XEP-0424): asked of every receiver, and
        gone from our store and search index."""
        m, to, mtype = self._own_line(row_id)
        if m.direction is not Direction.OUT:
            raise XmppError("only your own lines can be retracted")
        if m.retracted is not None:
            return
        # In a room the line is known by the room's stanza-id; in a chat by its id.
        ref = (m.stanza_id if mtype == "groupchat" else None) or m.attr_id or m.origin_id \
            or m.msg_id
        self.session.plugin["xep_0424"].send_retraction(JID(to), ref, mtype=mtype)
        if self.store.retract_message(row_id, time.time()):
            self._publish(MessageChanged(self.name, row_id, m.msg_id, m.thread_id,
                                         "retracted", self.own))

    def react(self, row_id: int, emojis: list[str]) -> list[str]:
        """Set our reactions to a line (XEP-0444): the whole set, none to take them
        all back. Returns the set sent."""
        m, to, mtype = self._own_line(row_id)
        if m.retracted is not None:
            raise XmppError("a retracted line takes no reactions")
        emojis = list(dict.fromkeys(e.strip() for e in emojis if e.strip()))
        # A line is named as its sender named it; a room line by the room's stanza-id.
        ref = (m.stanza_id if mtype == "groupchat" else None) or m.attr_id or m.origin_id \
            or m.msg_id
        msg = self.session.make_message(mto=JID(to), mtype=mtype)
        msg["reactions"]["id"] = ref
        for emoji in emojis:
            reaction = Reaction()
            try:
                reaction.set_value(emoji)
            except ValueError:
                raise XmppError(f"{emoji!r} is not an emoji") from None
            msg["reactions"].append(reaction)
        msg.enable("store")
        msg.send()
        if self.store.set_reactions(row_id, self.own, emojis, time.time()):
            self._publish(MessageChanged(self.name, row_id, m.msg_id, m.thread_id,
                                         "reactions", self.own))
        return emojis

    def send_reply(self, row_id: int, text: str) -> Message:
        """A new line answering the line `row_id` of its conversation (XEP-0461),
        with the quote other clients show (XEP-0428 marks it as such); stored
        with in_reply_to naming that line, and its text without the quote. Sent
        at once: the engine's replies go through the outbox (`reply_target`)."""
        if not text.strip():
            raise XmppError("a reply needs some text")
        m, to, mtype, reply = self.reply_target(row_id)
        return self._send(to, text, mtype, m.thread_id, None, [], reply=reply,
                          reply_to_line=m.msg_id)

    def reply_target(self, row_id: int) -> tuple[Message, str, MessageKind, Reply]:
        """What a reply to the line `row_id` needs (XEP-0461): the line, where the
        reply goes (the room, or the contact) and how, and the reply's reference
        with the quote other clients show."""
        m, to, mtype = self._own_line(row_id)
        if m.retracted is not None:
            raise XmppError("a retracted line cannot be answered")
        nick = m.sender.name
        if mtype == "groupchat":
            room = self._rooms.get(to)
            if m.direction is Direction.OUT and room is not None:
                nick = room.nick
            author = f"{to}/{nick}"
            ref = m.stanza_id or m.attr_id or m.origin_id or m.msg_id
        else:
            author = self.own if m.direction is Direction.OUT else bare(m.sender.address)
            ref = m.attr_id or m.origin_id or m.msg_id
        lines = m.text.strip().splitlines() or [""]
        quote = "\n".join(lines[:QUOTE_LINES])
        if len(quote) > QUOTE_CHARS or len(lines) > QUOTE_LINES:
            quote = quote[:QUOTE_CHARS].rstrip() + "…"
        return m, to, mtype, Reply(author, ref, quote, nick if mtype == "groupchat" else "")

    def own_reactions(self, row_id: int) -> list[str]:
        """Our current reactions to a line."""
        for r in self.store.reactions([row_id]).get(row_id, []):
            if r.reactor == self.own:
                return list(r.emojis)
        return []


def _conversation(m: Message, own: str) -> str:
    """The conversation a stored chat line belongs to: its room, or the contact."""
    first = m.recipients[0].address if m.recipients else ""
    if m.direction is Direction.OUT or (first and bare(first) != own):
        return bare(first)
    return bare(m.sender.address)


__all__ = ["Edits"]
