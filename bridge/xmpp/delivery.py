"""Outgoing lines and what settles them: send, the XEP-0198 ack, receipts
(xep_0184), chat markers (xep_0333), chat states (xep_0085), errors, and the
resend of what a resumed stream did not carry.

Delivery states of an outgoing chat line: sending (written, on the wire or waiting
for a session) -> sent (the server acked it, XEP-0198) -> delivered (receipt,
XEP-0184, or "received" marker) -> read ("displayed" marker, XEP-0333); failed when
an error stanza comes back ("blocked or unreachable"). States only move forward,
except that a late receipt overrides a failure. Only the JID a line went to may
settle it (`_advance`), and only from a plain message (`_plain`), never from the
outer layer of a carbon or an archive result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0066.stanza import OOB
from slixmpp.stanza import Message as MessageStanza
from slixmpp.xmlstream import register_stanza_plugin

from ..events import DeliveryChanged
from ..model import (
    SEEN,
    Attachment,
    DeliveryState,
    Direction,
    Message,
    Party,
    Transport,
    new_message_id,
)
from .core import (
    _DELIVERY_RANK,
    _SM_REQUEST,
    CHAT_STATES,
    DISCO_TIMEOUT,
    RESEND_WINDOW,
    ClientCore,
    MessageKind,
    Reply,
    XmppError,
    _Pending,
)
from .stanzas import (
    NS_CHAT_STATES,
    NS_CLIENT,
    NS_RECEIPTS,
    bare,
    default_thread_id,
    error_condition,
    q,
    resource,
)

log = logging.getLogger(__name__)

# Links to files (XEP-0066's stanza; its plugin would also serve IQ transfers, which
# we do not): several to a message, so iterable.
register_stanza_plugin(MessageStanza, OOB, iterable=True)


class Delivery(ClientCore):
    """Outgoing lines and what settles them."""

    def _wire_handlers(self) -> None:
        super()._wire_handlers()
        s = self.session
        s.add_event_handler("stanza_acked", self._guard(self._on_acked))
        # One message can carry a receipt and both markers: each event is read for
        # all of them at once, so it is taken once, from the receipt's event if any.
        s.add_event_handler("receipt_received", self._guard(self._on_acknowledgement))
        s.add_event_handler("marker", self._guard(self._on_marker))

    def _on_marker(self, msg: Any) -> None:
        if not msg["receipt"]:
            self._on_acknowledgement(msg)

    def forget(self, msg_ids: Iterable[str]) -> None:
        """Stop following these lines (no resend, no settling by this client): the
        outbox settled them another way (by email, cancelled, or seen archived)."""
        for msg_id in msg_ids:
            self._pending.pop(msg_id or "", None)

    def send_chat(self, to: str, text: str, thread_id: str | None = None,
                  msg_id: str | None = None, *, reply: Reply | None = None,
                  reply_to_line: str | None = None) -> Message:
        """Store and send a 1:1 chat line; returns it with its row id.

        `msg_id` is reused as origin-id and stanza id: a resend of the same message
        (the outbox retrying) passes the same id, and the receiver drops the copy.
        A reply (XEP-0461) names the line it answers: `reply` as the wire says
        it, `reply_to_line` its msg_id here.
        """
        return self._send(self.chat_peer(to), text, "chat", thread_id, msg_id, [],
                          reply=reply, reply_to_line=reply_to_line)

    def chat_peer(self, jid: str) -> str:
        """Whom a 1:1 line to `jid` goes to: a room occupant (room/nick) is written
        to privately, by full JID; anyone else by bare JID."""
        return jid if bare(jid) in self._rooms and resource(jid) else bare(jid)

    def bind_thread(self, jid: str, thread_id: str) -> None:
        """Lines from this contact or room (or room occupant, privately) without a
        <thread> belong to `thread_id` from now on (a conversation moved here
        from email)."""
        self.state.set_thread(self.chat_peer(jid), thread_id)

    def send_chat_state(self, to: str, state: str) -> None:
        """Tell a contact we are typing (composing), paused, and so on (XEP-0085),
        only if they take chat states: a client of theirs online now says so in its
        service discovery, or they sent us one (XEP-0085 §5.1). Where that is not
        known yet, it is asked first (disco, answered from entity capabilities).
        To a room: see `_room_chat_state`."""
        if state not in CHAT_STATES:
            raise ValueError(f"chat state must be one of {', '.join(CHAT_STATES)}")
        if not self.connected or not self.chat_states:
            return  # a stale "typing" is worse than none; off: the user said never
        if bare(to) in self._rooms and not resource(to):
            self._room_chat_state(bare(to), state)
            return
        peer = bare(to)
        support = self._takes_chat_states(peer)
        if support is None:
            self._spawn(self._learn_chat_states(peer, state))
        elif support:
            self._send_chat_state(peer, state)

    def _takes_chat_states(self, peer: str) -> bool | None:
        """True, False, or None when a client of theirs online now was not asked."""
        if peer in self._chat_state_senders:
            return True
        known = [self._chat_state_support.get(f"{peer}/{res}" if res else peer)
                 for res in self._presence.get(peer, {})]
        if any(known):
            return True
        return None if None in known else False

    async def _learn_chat_states(self, peer: str, state: str) -> None:
        disco = self.session.plugin["xep_0030"]
        for res in list(self._presence.get(peer, {})):
            full = f"{peer}/{res}" if res else peer
            if full in self._chat_state_support:
                continue
            try:
                info = await disco.get_info(jid=JID(full), cached=True, timeout=DISCO_TIMEOUT)
                features = set(info["disco_info"]["features"])
            except (IqError, IqTimeout, KeyError, TypeError):
                features = set()
            self._chat_state_support[full] = NS_CHAT_STATES in features
        if self._takes_chat_states(peer) and self.connected:
            self._send_chat_state(peer, state)

    def _room_chat_state(self, room: str, state: str) -> None:
        """Our chat state to a room we are in (XEP-0085 §5.5, "Use in Groupchat"):
        sent as the room's own line is, type groupchat, whether or not the
        others send theirs; never "gone" (the XEP says a client should not).
        Only where the room lets us speak: a visitor of a moderated room has no
        voice (XEP-0045 §7.4), and the room would refuse it as it would a line."""
        if state == "gone" or room not in self._joined_rooms():
            return
        joined = self._rooms[room]
        me = joined.occupants.get(joined.nick)
        if me is None or me.role not in ("participant", "moderator"):
            return
        self._send_chat_state(room, state, "groupchat")

    def _send_chat_state(self, peer: str, state: str, mtype: MessageKind = "chat") -> None:
        msg = self.session.make_message(mto=peer, mtype=mtype)
        msg["chat_state"] = state
        # Not worth a place in the server's offline storage or archive (XEP-0334).
        msg.enable("no-store")
        msg.send()

    def send_room(self, room: str, text: str, thread_id: str | None = None,
                  msg_id: str | None = None, *, reply: Reply | None = None,
                  reply_to_line: str | None = None) -> Message:
        """Store and send a line to a joined room (a reply: see send_chat)."""
        room = bare(room)
        if room not in self._rooms:
            raise XmppError(f"not in room {room}: join it first")
        return self._send(room, text, "groupchat", thread_id, msg_id, [], reply=reply,
                          reply_to_line=reply_to_line)

    def _send(self, to: str, text: str, mtype: MessageKind, thread_id: str | None,
              msg_id: str | None, attachments: list[Attachment], *,
              reply: Reply | None = None, reply_to_line: str | None = None) -> Message:
        """Store a line and send it (now, or when a session is there). A reply
        names the line it answers: `reply` as the wire says it, `reply_to_line`
        its msg_id here (kept in the row's in_reply_to, for the views)."""
        msg_id = msg_id or new_message_id(self.domain)
        existing = self.store.find_by_msg_id(self.name, msg_id)
        if existing is not None and existing.direction is Direction.OUT:
            # A resend (or a message the outbox wrote first): same id, so receivers
            # that already have it drop the copy.
            message = existing
            # What goes on the wire is what the caller passes: the stored row may be
            # the email mirror of a deferred message, with a longer body.
            message.text = text
            message.attachments = attachments or message.attachments
            if attachments and message.id is not None:
                # A file under the line the outbox wrote first (`ImPlan.file_only`):
                # the row shows the link it went as.
                self.store.set_body(message.id, text, attachments)
            if message.id is not None and message.delivery not in (
                    DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ):
                self.store.set_delivery(message.id, DeliveryState.SENDING)
                message.delivery = DeliveryState.SENDING
        else:
            recipients = [Party(to, role="to")]
            thread_id = thread_id or self.state.threads.get(to) or \
                default_thread_id(self.own, to)
            if mtype == "chat":
                self.state.set_thread(to, thread_id)
            message = Message(
                msg_id=msg_id, account=self.name, transport=Transport.XMPP,
                direction=Direction.OUT,
                thread_id=thread_id, date=time.time(),
                sender=Party(self.own, self.account.display_name or "", "from"),
                recipients=recipients, text=text, origin_id=msg_id,
                delivery=DeliveryState.SENDING, attachments=attachments,
                in_reply_to=reply_to_line)
            self.store.insert_messages([message])
        previous = self._pending.get(msg_id)
        self._pending[msg_id] = _Pending(message, to, mtype,
                                         resends=previous.resends if previous else 0,
                                         reply=reply or (previous.reply if previous else None))
        if self.connected and not self._flushing:
            self._transmit(self._pending[msg_id])
        return message

    def _transmit(self, pending: _Pending) -> None:
        self._put_on_wire(pending, self._outgoing_stanza(pending))

    def _outgoing_stanza(self, pending: _Pending) -> Any:
        """The stanza of a pending line, as it goes in clear (the OMEMO layer
        seals it before it goes: bridge/xmpp/omemo.py)."""
        m = pending.message
        stanza = self.session.make_message(mto=pending.to, mbody=m.text, mtype=pending.mtype)
        stanza["id"] = m.msg_id
        stanza["thread"] = m.thread_id
        stanza["origin_id"]["id"] = m.msg_id
        if pending.mtype == "chat":
            stanza["request_receipt"] = True
        stanza.enable("markable")
        if pending.mtype == "chat" and self.chat_states:
            stanza["chat_state"] = "active"
        if pending.reply is not None:
            # XEP-0461 through slixmpp's xep_0461 stanza: the quote goes in front
            # of the body, marked as a fallback (XEP-0428) for clients of replies.
            stanza["reply"]["to"] = pending.reply.to
            stanza["reply"]["id"] = pending.reply.id
            if pending.reply.quote:
                stanza["reply"].add_quoted_fallback(pending.reply.quote,
                                                    pending.reply.nick or None)
        for a in m.attachments:
            if a.url:
                oob = OOB()
                oob["url"] = a.url
                stanza.append(oob)
        return stanza

    def _put_on_wire(self, pending: _Pending, stanza: Any) -> None:
        # Stanza-management queue: slixmpp resends it itself on a resumed stream.
        stanza.send()
        pending.on_wire = True
        if self.session.plugin["xep_0198"].enabled_out:
            # The server's ack is what turns "sending" into "sent". slixmpp asks for
            # acks from its outgoing filter, ahead of the stanza that triggered it, so
            # ask here, behind the message in the same queue.
            self.session.send(_SM_REQUEST)

    def _flush_resumed(self) -> None:
        """A resumed stream (XEP-0198): the server kept our session, and slixmpp has
        sent again every stanza the server had not counted. What is left is what
        never reached slixmpp's count: lines written while we were disconnected,
        and a line that was still in slixmpp's send queue when the connection died
        (that queue is dropped, so it is neither acked nor resent). Those go now,
        in order; nothing the server or slixmpp holds goes twice."""
        self._forget_old_acks()
        sm = self.session.plugin["xep_0198"]
        in_flight = {str(stanza.xml.get("id") or "") for _seq, stanza in sm.unacked_queue}
        for pending in list(self._pending.values()):
            if pending.acked_at is not None or pending.message.msg_id in in_flight:
                continue
            if pending.mtype == "groupchat" and pending.to not in self._joined_rooms():
                continue  # sent when the room is joined again
            self._transmit(pending)

    async def answers_receipts(self, jid: str) -> bool:
        """Whether a client of this contact that is online now says, in its service
        discovery (through entity capabilities, XEP-0115, when it sends them), that
        it answers receipt requests (XEP-0184). slixmpp's disco plugin keeps the
        answers per full JID."""
        peer = bare(jid)
        disco = self.session.plugin["xep_0030"]
        for res in list(self._presence.get(peer, {})):
            full = f"{peer}/{res}" if res else peer
            known = self._receipt_support.get(full)
            if known is None:
                try:
                    info = await disco.get_info(jid=JID(full), cached=True, timeout=DISCO_TIMEOUT)
                    features = set(info["disco_info"]["features"])
                except (IqError, IqTimeout, KeyError, TypeError):
                    features = set()
                known = self._receipt_support[full] = NS_RECEIPTS in features
            if known:
                return True
        return False

    def _on_acked(self, stanza: Any) -> None:
        if stanza.xml.tag != q(NS_CLIENT, "message"):
            return
        msg_id = stanza.xml.get("id") or ""
        pending = self._pending.get(msg_id)
        if pending is None or pending.acked_at is not None:
            return
        if pending.mtype == "chat":
            pending.acked_at = time.time()  # kept until its receipt (or the window ends)
            self._forget_old_acks()
        else:
            del self._pending[msg_id]
        self._advance(msg_id, DeliveryState.SENT)

    def _forget_old_acks(self) -> None:
        """A contact whose client sends no receipts leaves acked messages behind:
        past the window they count as the server's, and are not sent again."""
        limit = time.time() - RESEND_WINDOW
        for msg_id, pending in list(self._pending.items()):
            if pending.acked_at is not None and pending.acked_at < limit:
                del self._pending[msg_id]

    def _advance(self, msg_id: str, state: DeliveryState, detail: str = "",
                 from_jid: str | None = None) -> None:
        message = self.store.find_by_msg_id(self.name, msg_id)
        if message is None or message.direction is not Direction.OUT or message.id is None:
            return
        if from_jid is not None and message.recipients:
            # Only the party we wrote to may confirm it (a room echoes its own JID).
            allowed = {bare(p.address) for p in message.recipients}
            if bare(from_jid) not in allowed:
                return
        current = message.delivery
        if state is DeliveryState.FAILED:
            if current in (DeliveryState.DELIVERED, DeliveryState.READ):
                return
        elif current is not None and _DELIVERY_RANK.get(current, 0) >= _DELIVERY_RANK[state]:
            return
        self.store.set_delivery(message.id, state)
        if state in (DeliveryState.DELIVERED, DeliveryState.READ):
            self._pending.pop(msg_id, None)
        self._publish(DeliveryChanged(self.name, msg_id, state.value, detail))

    def mark_displayed(self, row_id: int, *, tell: bool = True) -> None:
        """The user saw this message: flag it seen and tell its sender (XEP-0333).
        With `tell` False the message is only flagged: a displayed marker for a
        later line of the chat says this one was seen too (XEP-0333)."""
        message = self.store.get_message(row_id)
        if message is None or message.transport is not Transport.XMPP:
            return
        self.store.set_flags(row_id, message.flags | {SEEN})
        # The marker quotes the 'id' attribute of the message as it came in (XEP-0333),
        # as the received marker did; our msg_id may be a name of our own making. A row
        # stored before the attribute was kept has its origin-id, which clients that
        # send one set to the same value; with neither there is nothing to quote.
        quoted = message.attr_id or message.origin_id
        if tell and message.direction is Direction.IN and quoted:
            room = message.recipients[0].address if message.recipients else ""
            if bare(room) in self._rooms:
                return  # markers in rooms would tell everyone; not sent
            if not self._sees_our_presence(bare(message.sender.address)):
                return  # a stranger is not told we read it
            self.session.plugin["xep_0333"].send_marker(
                JID(message.sender.address), quoted, "displayed", mtype="chat")

    def _on_error(self, stanza: Any) -> None:
        xml = stanza.xml
        msg_id = xml.get("id") or ""
        condition, text, blocked = error_condition(xml)
        peer = bare(xml.get("from") or "")
        detail = "blocked or unreachable: " + ("you block this contact" if blocked
                                                else condition) + (f" ({text})" if text else "")
        message = self.store.find_by_msg_id(self.name, msg_id) if msg_id else None
        if message is None or message.direction is not Direction.OUT:
            return
        # Only the JID the message went to, or that JID's server, may bounce it:
        # anyone who guesses (or saw) an id could otherwise mark it failed.
        sender = xml.get("from") or ""
        allowed = {bare(p.address) for p in message.recipients}
        servers = {a.rpartition("@")[2] for a in allowed}
        if not (peer in allowed or (sender in servers and "@" not in sender)):
            log.warning("%s: dropped an error for %s from %s, not its recipient",
                        self.name, msg_id, sender or "(no sender)")
            return
        self._pending.pop(msg_id, None)
        if peer:
            self._refused[peer] = detail
        self._advance(msg_id, DeliveryState.FAILED, detail)

    def _archived_acknowledgement(self, msg: Any) -> None:
        """A receipt or marker for one of our lines, found in our archive: it came
        while no session of ours was online to take it (Prosody archives them), so
        the line is delivered (or read) all the same. Only the contact the line
        went to may say so (`_advance` checks)."""
        sender = msg.xml.get("from") or ""
        if not sender or bare(sender) == self.own:
            return
        self._acknowledged(msg, sender)

    def _acknowledged(self, msg: Any, sender: str) -> None:
        """Settle our lines that a receipt (XEP-0184) or marker (XEP-0333) in `msg`
        names, read through the plugins' stanza interfaces."""
        received = msg.get_plugin("received", check=True)
        displayed = msg.get_plugin("displayed", check=True)
        # xep_0184's receipt is an extension of the message: read through it.
        for acked, state in (
                (msg["receipt"], DeliveryState.DELIVERED),
                (received.xml.get("id") if received is not None else "", DeliveryState.DELIVERED),
                (displayed.xml.get("id") if displayed is not None else "", DeliveryState.READ)):
            if acked:
                self._advance(acked, state, from_jid=sender)

    def _on_acknowledgement(self, msg: Any) -> None:
        """slixmpp's receipt and marker plugins raise an event for any message that
        carries one; only a plain live message counts (`_plain`), and only from the
        contact the line went to (`_advance`)."""
        if self._plain(msg):
            self._acknowledged(msg, msg.xml.get("from") or "")

    def _plain(self, msg: Any) -> bool:
        """A message as a contact sent it: not an error, and no wrapper around
        another (a carbon, an archive result), whose outer layer says nothing."""
        return (msg.xml.get("type") or "") != "error" and not any(
            msg.get_plugin(wrapper, check=True) is not None
            for wrapper in ("carbon_received", "carbon_sent", "mam_result"))

    def _acknowledge(self, to: str, msg_id: str, receipt: bool, markable: bool) -> None:
        """Tell the sender we hold their line: a receipt (XEP-0184) and a "received"
        marker (XEP-0333), each only if asked for, quoting the id they gave, and
        only to a contact who may see our presence (a stranger learns nothing)."""
        if not self._sees_our_presence(bare(to)):
            return
        if receipt:
            ack = self.session.make_message(mto=to)
            ack["receipt"] = msg_id
            ack.send()
        if markable:
            self.session.plugin["xep_0333"].send_marker(JID(to), msg_id, "received",
                                                         mtype="chat")

