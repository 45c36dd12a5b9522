"""The XMPP client the engine owns: one account, on the caller's asyncio loop.

It turns stanzas into the one message model of the store and reports through the
event bus. Protocol work is split by XEP the way slixmpp is: slixmpp plugins do
stream management, pings, disco/caps and the block list; the rest reads and
writes raw XML (see `stanzas.py` for why) in small methods named after what they
serve.

Delivery states of an outgoing chat line: sending (written, on the wire or waiting
for a session) -> sent (the server acked it, XEP-0198) -> delivered (receipt,
XEP-0184, or "received" marker) -> read ("displayed" marker, XEP-0333); failed when
an error stanza comes back ("blocked or unreachable"). States only move forward,
except that a late receipt overrides a failure.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from xml.etree import ElementTree as ET

from ..events import (
    ChatStateChanged,
    MessageReceived,
    RoomInvitation,
)
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
from .core import (
    CHAT_STATES,
    NS_CHATSTATES,
)
from .files import Files
from .stanzas import (
    NS_CARBONS,
    NS_CLIENT,
    NS_CONFERENCE,
    NS_FORWARD,
    NS_MAM,
    NS_MARKERS,
    NS_MUC_USER,
    NS_RECEIPTS,
    bare,
    default_thread_id,
    fallback_msg_id,
    filename_from_url,
    parse_message,
    q,
    resource,
)

log = logging.getLogger(__name__)


class Inbound(Files):
    def _on_message(self, stanza: Any) -> None:
        xml: ET.Element = stanza.xml
        sender = xml.get("from") or ""
        if (xml.get("type") or "") == "error":
            self._on_error(xml)
            return
        result = xml.find(q(NS_MAM, "result"))
        if result is not None:
            self._collect_archive_result(sender, result)  # type: ignore[attr-defined]  # in archive.py, the layer above
            return
        for kind in ("received", "sent"):
            carbon = xml.find(q(NS_CARBONS, kind))
            if carbon is not None:
                # Only our own server may hand us copies; anyone else is forging.
                if bare(sender) == self.own and not resource(sender):
                    inner = carbon.find(f"{q(NS_FORWARD, 'forwarded')}/{q(NS_CLIENT, 'message')}")
                    if inner is not None:
                        self._ingest(inner, "carbon")
                else:
                    log.warning("%s: dropped a carbon from %s, not our own account",
                                self.name, sender or "(no sender)")
                return
        for tag, state in (("received", DeliveryState.DELIVERED),
                           ("displayed", DeliveryState.READ)):
            ack = xml.find(q(NS_RECEIPTS if tag == "received" else NS_MARKERS, tag))
            if ack is not None and ack.get("id"):
                self._advance(ack.get("id") or "", state, from_jid=sender)
        marker = xml.find(q(NS_MARKERS, "received"))
        if marker is not None and marker.get("id"):
            self._advance(marker.get("id") or "", DeliveryState.DELIVERED, from_jid=sender)
        self._check_invitation(xml, sender)
        if (xml.get("type") or "") == "chat" and bare(sender) != self.own:
            for chat_state in CHAT_STATES:
                if xml.find(q(NS_CHATSTATES, chat_state)) is not None:
                    self._publish(ChatStateChanged(self.name, bare(sender), chat_state))
                    break
        if xml.find(q(NS_CLIENT, "body")) is not None or xml.find("{jabber:x:oob}x") is not None:
            self._ingest(xml, "live")

    def _check_invitation(self, xml: ET.Element, sender: str) -> None:
        muc_x = xml.find(q(NS_MUC_USER, "x"))
        if muc_x is not None:
            invite = muc_x.find(q(NS_MUC_USER, "invite"))
            if invite is not None:
                reason_el = invite.find(q(NS_MUC_USER, "reason"))
                password_el = muc_x.find(q(NS_MUC_USER, "password"))
                self._publish(RoomInvitation(
                    self.name, bare(sender), bare(invite.get("from") or ""),
                    (reason_el.text or "") if reason_el is not None else "",
                    (password_el.text or "") if password_el is not None else "", False))
                return
        direct = xml.find(q(NS_CONFERENCE, "x"))
        if direct is not None and direct.get("jid"):
            self._publish(RoomInvitation(self.name, bare(direct.get("jid") or ""), bare(sender),
                                         direct.get("reason") or "", direct.get("password") or "",
                                         True))

    def _ingest(self, xml: ET.Element, source: str, archive: str | None = None,
                archive_id: str | None = None, archive_stamp: float | None = None) -> bool:
        """Store one chat message; True if it was new."""
        sender = xml.get("from") or ""
        mtype = xml.get("type") or "normal"
        room_jid = bare(sender) if mtype == "groupchat" else None
        if archive is not None and archive != self.own:
            room_jid = archive
        if room_jid is not None and room_jid not in self._rooms and archive != room_jid:
            return False  # a groupchat line from a room we are not in
        trusted = {room_jid} if room_jid else {self.own}
        p = parse_message(xml, trusted)
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
            # A room made for a handed-off thread keeps that thread for lines sent
            # by clients that do not echo <thread>.
            bound = self.state.threads.get(room_jid)
            thread_id, claimed = self._thread_of(
                p.thread, direction, [sender_party.address, room_jid], bound,
                default_thread_id(self.own, room_jid))
        else:
            from_bare = bare(p.sender) or self.own
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
            thread_id, claimed = self._thread_of(
                p.thread, direction, [sender_party.address], self.state.threads.get(peer),
                default_thread_id(self.own, peer))
            when = self._date(p.delay, archive_stamp)
            if p.thread and (source != "archive" or self.state.newer_than_binding(peer, when)):
                # Live lines move the conversation; archived ones only if newer than
                # what set it (so a fresh device replays the moves in order).
                self.state.set_thread(peer, thread_id, when)
        if p.stanza_id and self.store.lookup("stanza_id", p.stanza_id, self.name):
            return False
        msg_id = p.origin_id or (
            f"sid.{p.stanza_id}@{(room_jid or self.own).rpartition('@')[2]}" if p.stanza_id
            else fallback_msg_id(p.sender, p.attr_id))
        attachments = [Attachment(safe_basename(filename_from_url(url)),
                                  "application/octet-stream", 0, url=url) for url in p.oob_urls]
        message = Message(
            msg_id=msg_id, account=self.name, transport=Transport.XMPP, direction=direction,
            thread_id=thread_id, date=self._date(p.delay, archive_stamp),
            sender=sender_party, recipients=recipients, text=p.body or "",
            stanza_id=p.stanza_id, origin_id=p.origin_id, attr_id=p.attr_id,
            delivery=DeliveryState.SENT if direction is Direction.OUT else None,
            attachments=attachments, malformed=p.truncated, references=claimed)
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
        the thread is someone else's, `Store._evict_strangers`). Anyone else naming
        a thread (an email thread's Message-ID is no secret) gets a thread of their
        own and learns
        nothing of the other one; the store moves the line in if the sender turns
        out to be a party later (`Store._adopt_claims`).
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

    @staticmethod
    def _date(claimed: float | None, archived: float | None) -> float:
        # The archive's stamp is the server's word; a <delay> inside a message is the
        # sender's, and one from the future would pin a line to the top of a list.
        now = time.time()
        if archived is not None:
            return min(archived, now)
        return min(claimed, now) if claimed is not None else now

