"""Incoming messages: the gate every stanza passes first, the live dispatch,
carbons (xep_0280), chat states (xep_0085), invitations (xep_0045 mediated,
xep_0249 direct), and storing one line: its thread (a <thread> is only a claim),
its ids, its direction, its receipt, the line it answers (a reply, XEP-0461).
A message that changes an earlier line (a correction, retraction or reaction)
goes to `edits.py` instead.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp import InvalidJID
from slixmpp.stanza import Iq, Presence
from slixmpp.stanza import Message as MessageStanza
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..crypto.status import CryptoStatus
from ..events import ChatStateChanged, MessageReceived, RoomInvitation
from ..model import (
    Attachment,
    DeliveryState,
    Direction,
    Message,
    Party,
    Transport,
    claimed_thread_id,
)
from ..safe import safe_basename
from .core import CHAT_STATES
from .edits import Edits
from .stanzas import (
    NS_CLIENT,
    NS_DELAY,
    NS_MUC_USER,
    NS_REACTIONS,
    FileMeta,
    bare,
    default_thread_id,
    fallback_msg_id,
    filename_from_url,
    parse_message,
    q,
    resource,
)

log = logging.getLogger(__name__)


class Inbound(Edits):
    """Incoming live messages and carbons, up to a stored line."""

    def _wire_handlers(self) -> None:
        super()._wire_handlers()
        s = self.session
        # After slixmpp's own filters (stream management counts every stanza first).
        s.add_filter("in", self._gate)
        s.register_handler(Callback("tuiclient message", MatchXPath(f"{{{NS_CLIENT}}}message"),
                                    self._guard(self._on_message)))
        s.add_event_handler("carbon_received", self._guard(self._on_carbon))
        s.add_event_handler("carbon_sent", self._guard(self._on_carbon))
        s.add_event_handler("chatstate", self._guard(self._on_chat_state))
        s.add_event_handler("groupchat_invite", self._guard(self._on_invitation))
        s.add_event_handler("groupchat_direct_invite", self._guard(self._on_direct_invitation))

    def _gate(self, stanza: Any) -> Any:
        """What no handler, ours or a plugin's, may see: a stanza whose address is
        not a JID (the plugins' stanza interfaces raise on it), and a carbon that
        is not from our own account (slixmpp's xep_0280 compares bare JIDs only, so
        a resource of ours, or anyone reaching it, could pass a forged copy)."""
        if not isinstance(stanza, (MessageStanza, Presence, Iq)):
            return stanza
        try:
            stanza["from"], stanza["to"]
        except InvalidJID:
            log.warning("%s: dropped a stanza with a malformed address", self.name)
            return None
        if isinstance(stanza, MessageStanza) and any(
                stanza.get_plugin(kind, check=True) is not None
                for kind in ("carbon_received", "carbon_sent")):
            sender = stanza.xml.get("from") or ""
            if bare(sender) != self.own or resource(sender):
                log.warning("%s: dropped a carbon from %s, not our own account",
                            self.name, sender or "(no sender)")
                return None
        return stanza

    def _on_message(self, stanza: Any) -> None:
        """Live messages: errors for our lines, and lines to store. What comes
        wrapped (carbons, archive results) is taken by the plugins' events and
        queries; receipts, markers, chat states and invitations by theirs."""
        xml: ET.Element = stanza.xml
        if (xml.get("type") or "") == "error":
            self._on_error(stanza)
            return
        if not self._plain(stanza):
            return
        if xml.find(q(NS_CLIENT, "body")) is not None or stanza.get_plugin(
                "oob", check=True) is not None or xml.find(q(NS_REACTIONS, "reactions")) \
                is not None:
            self._ingest(xml, "live")

    def _on_carbon(self, stanza: Any) -> None:
        """A copy of a line another client of ours sent or received (XEP-0280);
        `_gate` let only our own server's through."""
        kind = "carbon_received" if stanza.get_plugin("carbon_received", check=True) \
            is not None else "carbon_sent"
        inner = stanza[kind]
        if isinstance(inner, MessageStanza):
            self._ingest(inner.xml, "carbon")

    def _on_chat_state(self, stanza: Any) -> None:
        """A contact's chat state (XEP-0085), told with their bare JID; in a room
        we are in, an occupant's, told with room/nick, never our own echo, and
        never "gone" (§5.5: ignored in groupchat)."""
        sender = stanza.xml.get("from") or ""
        kind = stanza.xml.get("type") or ""
        if not self._plain(stanza) or stanza.xml.find(q(NS_DELAY, "delay")) is not None:
            return  # a wrapped copy, or an old one (room history): nobody types now
        state = stanza["chat_state"]
        if state not in CHAT_STATES:
            return
        if kind == "chat" and bare(sender) != self.own:
            self._chat_state_senders.add(bare(sender))
            self._publish(ChatStateChanged(self.name, bare(sender), state))
        elif kind == "groupchat" and bare(sender) in self._joined_rooms() \
                and resource(sender) and state != "gone":
            room = self._rooms[bare(sender)]
            if resource(sender) != room.nick:
                self._publish(ChatStateChanged(self.name, sender, state))

    def _on_invitation(self, stanza: Any) -> None:
        """A room's invitation on someone's behalf (XEP-0045 mediated)."""
        if not self._plain(stanza):
            return
        muc = stanza.get_plugin("muc", check=True)
        invite = muc.get_plugin("invite", check=True) if muc is not None else None
        if invite is None:
            return
        # Attributes read raw: the stanza interface makes a JID of them and raises.
        reason = invite.xml.find(q(NS_MUC_USER, "reason"))
        password = muc.xml.find(q(NS_MUC_USER, "password"))
        room = bare(stanza.xml.get("from") or "")
        # A room that hides real JIDs names the inviter by nick (room/nick): kept whole.
        inviter = invite.xml.get("from") or ""
        inviter = inviter if bare(inviter) == room and resource(inviter) else bare(inviter)
        self._publish(RoomInvitation(
            self.name, room, inviter,
            (reason.text or "") if reason is not None else "",
            (password.text or "") if password is not None else "", False))

    def _archived_invitation(self, stanza: Any) -> None:
        """An invitation found in our archive, told as one that comes, by a
        session that announced no presence (a one-shot command: session.py):
        the server keeps what came while we were offline for a session that
        does, so the archive is where such a session finds it."""
        if not self.session.present:
            self._on_invitation(stanza)
            self._on_direct_invitation(stanza)

    def _on_direct_invitation(self, stanza: Any) -> None:
        """An invitation straight from a contact (XEP-0249); a mediated one in the
        same message wins."""
        muc = stanza.get_plugin("muc", check=True)
        if not self._plain(stanza) or (muc is not None and muc.get_plugin(
                "invite", check=True) is not None):
            return
        invite = stanza["groupchat_invite"]
        room = invite.xml.get("jid") or ""
        if room:
            self._publish(RoomInvitation(
                self.name, bare(room), bare(stanza.xml.get("from") or ""),
                invite.xml.get("reason") or "", invite.xml.get("password") or "", True))

    def _ingest(self, xml: ET.Element, source: str, archive: str | None = None,
                archive_id: str | None = None, archive_stamp: float | None = None,
                crypto: CryptoStatus | None = None) -> bool:
        """Store one chat message; True if it was new. `crypto`: how it was
        protected (an OMEMO line, opened by bridge/xmpp/omemo.py)."""
        sender = xml.get("from") or ""
        mtype = xml.get("type") or "normal"
        room_jid = bare(sender) if mtype == "groupchat" else None
        if archive is not None and archive != self.own:
            room_jid = archive
        if room_jid is not None and room_jid not in self._rooms and archive != room_jid:
            return False  # a groupchat line from a room we are not in
        trusted = {room_jid} if room_jid else {self.own}
        p = parse_message(xml, trusted)
        if p.stanza_type != "error" and p.edit and \
                self._apply_edit(p, room_jid, self._date(p.delay, archive_stamp)):
            return False  # a correction, retraction or reaction changes a line, is none
        if p.stanza_type == "error" or (not (p.body or "").strip() and not p.oob_urls):
            return False  # nothing to show: chat states, empty bodies, errors
        if archive_id is not None:
            p.stanza_id = archive_id
        if room_jid is not None:
            nick = resource(p.sender)
            room = self._rooms.get(room_jid)
            occupant = room.occupants.get(nick) if room else None
            real = p.muc_real_jid or (occupant.jid if occupant else None)
            ours = real == self.own or (room is not None and nick == room.nick and real is None)
            direction = Direction.OUT if ours else Direction.IN
            sender_party = Party(real or p.sender, nick, "from")
            recipients = [Party(room_jid, "", "to")]
            where = room_jid
            # A room made for a handed-off thread keeps that thread for lines sent
            # by clients that do not echo <thread>.
            bound = self.state.threads.get(room_jid)
            thread_id, claimed = self._thread_of(
                p.thread, direction, [sender_party.address, room_jid], bound,
                default_thread_id(self.own, room_jid))
        else:
            from_bare = bare(p.sender) or self.own
            if self._blocks(from_bare):
                return False
            direction = Direction.OUT if from_bare == self.own else Direction.IN
            peer = bare(p.to) if direction is Direction.OUT else from_bare
            if not peer:
                return False
            # Our own lines (carbons, the archive) carry our name, as sent ones do.
            sender_party = Party(from_bare, (self.account.display_name or "")
                                 if direction is Direction.OUT else "", "from")
            # A private line through a room: the occupant is the peer, not the room.
            if peer in self._rooms:
                peer = p.to if direction is Direction.OUT else p.sender
                if direction is Direction.IN:
                    sender_party = Party(p.sender, resource(p.sender), "from")
            recipients = [Party(peer if direction is Direction.OUT else self.own, "", "to")]
            where = bare(peer)
            when = self._date(p.delay, archive_stamp)
            bound = self.state.threads.get(peer)
            if bound is not None and not p.thread and (source == "archive" or p.delay) \
                    and not self.state.newer_than_binding(peer, when):
                # Said before the conversation moved (read now from the archive or
                # an offline copy): it stays in the conversation it was said in.
                bound = None
            thread_id, claimed = self._thread_of(
                p.thread, direction, [sender_party.address], bound,
                default_thread_id(self.own, peer))
            if p.thread and (source != "archive" or self.state.newer_than_binding(peer, when)):
                # Live lines move the conversation; archived ones only if newer than
                # what set it (so a fresh device replays the moves in order).
                self.state.set_thread(peer, thread_id, when)
        if p.stanza_id and self.store.lookup("stanza_id", p.stanza_id, self.name):
            return False
        msg_id = p.origin_id or (
            f"sid.{p.stanza_id}@{(room_jid or self.own).rpartition('@')[2]}" if p.stanza_id
            else fallback_msg_id(p.sender, p.attr_id))
        text, answered = p.body or "", None
        if p.reply_id:
            # A reply (XEP-0461) to a line we hold in this conversation: stored
            # with that line's id, its quote for other clients (XEP-0428) cut, as
            # the views show the line itself. To a line we lack: the quote stays.
            target = self._target(p.reply_id, where, None)
            if target is not None and p.body_without_fallback().strip():
                text, answered = p.body_without_fallback(), target.msg_id
        attachments = [linked_file(url, (p.files or {}).get(url)) for url in p.oob_urls]
        message = Message(
            msg_id=msg_id, account=self.name, transport=Transport.XMPP, direction=direction,
            thread_id=thread_id, date=self._date(p.delay, archive_stamp),
            sender=sender_party, recipients=recipients, text=text, in_reply_to=answered,
            stanza_id=p.stanza_id, origin_id=p.origin_id, attr_id=p.attr_id,
            delivery=DeliveryState.SENT if direction is Direction.OUT else None,
            attachments=attachments, malformed=p.truncated, references=claimed,
            crypto=crypto)
        new = self.store.insert_messages([message]) > 0
        if direction is Direction.IN and room_jid is None:
            self._refused.pop(bare(p.sender), None)
            # Ack what we hold now (a duplicate too: the sender may have missed our ack).
            if source == "live" and (p.attr_id or p.origin_id):
                self._acknowledge(p.sender, p.attr_id or p.origin_id or "", p.receipt_request,
                                  p.markable)
        if new and message.id is not None and attachments and direction is Direction.IN \
                and room_jid is None and self.auto_download_limit > 0 \
                and self._subscribed(bare(p.sender)):
            self._spawn(self._auto_download(message.id))
        if new and message.id is not None:
            self._publish(MessageReceived(self.name, message.id, msg_id, thread_id,
                                          sender_party.address, direction.value, source))
        return new

    def _thread_of(self, named: str | None, direction: Direction, senders: list[str],
                   bound: str | None, default: str) -> tuple[str, list[str]]:
        """The thread of a chat line, and the thread it named but may not join.

        A <thread> (XEP-0201) is only a claim: it joins a thread when we wrote the
        line, when it is the thread this chat is bound to, when its sender is a
        party of that thread on this account, or when the thread is new here (the
        sender starts it; the store moves the line out if what comes later shows
        the thread is someone else's, `bridge.store.threads._evict_strangers`). Anyone else naming
        a thread (an email thread's Message-ID is no secret) gets a thread of their
        own and learns
        nothing of the other one; the store moves the line in if the sender turns
        out to be a party later (`bridge.store.threads.adopt_claims`).
        """
        if not named:
            return bound or default, []
        if direction is Direction.OUT or named == bound or \
                self.store.get_thread(self.name, named) is None or \
                self.store.is_thread_party(self.name, named, senders):
            return named, []
        log.info("%s: a chat line from %s names a thread it is no party of; kept apart",
                 self.name, senders[0])
        return claimed_thread_id(bare(senders[0]), named), [named]

    def _blocks(self, sender: str) -> bool:
        """Whether a 1:1 line from this bare JID is one we block (XEP-0191):
        the server drops a blocked contact's live lines, but not what came before
        the block (its archive, offline copies), which stays unshown too."""
        return sender != self.own and sender in self._blocked

    @staticmethod
    def _date(claimed: float | None, archived: float | None) -> float:
        # The archive's stamp is the server's word; a <delay> inside a message is the
        # sender's, and one from the future would pin a line to the top of a list.
        now = time.time()
        if archived is not None:
            return min(archived, now)
        return min(claimed, now) if claimed is not None else now


def linked_file(url: str, told: FileMeta | None) -> Attachment:
    """A linked file as its line tells it: its name, type and size from the
    file's metadata when the sender sent some (SIMS, XEP-0447), else the name
    from the link and the size 0, which says "not known" until it is fetched."""
    name = safe_basename((told.name if told else "") or filename_from_url(url)) or "file"
    return Attachment(name, (told.media_type if told else "") or "application/octet-stream",
                      (told.size or 0) if told else 0, url=url)
