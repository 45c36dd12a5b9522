"""Rooms (XEP-0045 through slixmpp's xep_0045): join, create and configure,
occupants, the subject, invitations (direct ones through xep_0249), memberships.
A room's history comes from its archive, never from the join's replay.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from slixmpp import JID, InvalidJID
from slixmpp.plugins.xep_0045.muc import AFFILIATIONS
from slixmpp.types import MucAffiliation
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..events import RoomOccupantsChanged, RoomSubjectChanged
from .archive import Archive
from .core import IQ_TIMEOUT, Occupant, XmppError, _Room
from .stanzas import NS_CLIENT, NS_MUC_USER, bare, error_condition, q, resource
from .state import RoomMembership

log = logging.getLogger(__name__)


class Rooms(Archive):
    """Multi-user chat rooms and invitations."""

    def _wire_handlers(self) -> None:
        super()._wire_handlers()
        self.session.add_event_handler("groupchat_subject", self._guard(self._on_subject))
        self.session.register_handler(Callback(
            "room refusal", MatchXPath(f"{{{NS_CLIENT}}}message/{{{NS_CLIENT}}}error"),
            self._guard(self._on_room_refusal)))

    def _on_subject(self, msg: Any) -> None:
        """A room's subject (XEP-0045 §8.1): told after our join, and on each
        change. xep_0045 matches it (a <subject> with no body); read raw here."""
        xml = msg.xml
        sender = xml.get("from") or ""
        room = self._rooms.get(bare(sender))
        if room is None:
            return
        el = xml.find(q(NS_CLIENT, "subject"))
        subject = (el.text or "").strip()[:1000] if el is not None else ""
        asked = room.retitling
        if asked is not None and resource(sender) == room.nick and not asked[1].done():
            asked[1].set_result(None)
        if subject != room.subject:
            room.subject = subject
            self._publish(RoomSubjectChanged(self.name, room.jid, subject, resource(sender)))

    def subject(self, room: str) -> str:
        state = self._rooms.get(bare(room))
        return state.subject if state else ""

    def set_subject(self, room: str, subject: str) -> None:
        """Ask the room to change its subject; the room tells it back to everyone
        (a `RoomSubjectChanged`), or refuses with an error if we may not."""
        room = bare(room)
        if room not in self._joined_rooms():
            raise XmppError(f"not in room {room}: join it first")
        self._muc.set_subject(JID(room), subject)

    async def change_subject(self, room: str, subject: str, timeout: float = 10.0) -> None:
        """Change a room's subject and wait for the room's answer (XEP-0045 §8.1):
        the new subject told back to everyone, or its refusal (only moderators,
        in most rooms) as an XmppError. Written out here, not by xep_0045's
        set_subject, which sends without an id to match the refusal by."""
        room = bare(room)
        state = self._rooms.get(room)
        if state is None or room not in self._joined_rooms():
            raise XmppError(f"not in room {room}: join it first")
        msg = self.session.make_message(mto=JID(room), mtype="groupchat")
        msg["subject"] = subject
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.retitling = (msg["id"], answer)
        msg.send()
        try:
            await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            raise XmppError(f"no answer from room {room} within {timeout:.0f}s") from None
        finally:
            state.retitling = None

    def _on_room_refusal(self, msg: Any) -> None:
        """A room's error for our subject change under way: its refusal."""
        xml = msg.xml
        if (xml.get("type") or "") != "error":
            return
        room = self._rooms.get(bare(xml.get("from") or ""))
        asked = room.retitling if room is not None else None
        if asked is None or asked[0] != (xml.get("id") or "") or asked[1].done():
            return
        condition, text, _b = error_condition(xml)
        asked[1].set_exception(XmppError(
            f"room {room.jid if room else ''} refused the subject: {condition}"
            + (f" ({text})" if text else "")))

    async def join_room(self, room: str, nick: str | None = None, password: str | None = None,
                        timeout: float = 20.0) -> list[Occupant]:
        """Join (or create) a room; returns its occupants. History comes from MAM."""
        created = await self._join(bare(room), nick, password, timeout)
        if created:
            await self.configure_room(bare(room))
        await self._catch_up(bare(room))
        for pending in list(self._pending.values()):
            if pending.mtype == "groupchat" and pending.to == bare(room):
                self._transmit(pending)
        return self.occupants(room)

    async def create_room(self, room: str, nick: str | None = None, *,
                          members_only: bool = False, public_jids: bool = True,
                          name: str = "") -> list[Occupant]:
        """Join a new room and configure it: persistent, archived, real JIDs shown
        to everyone when `public_jids` (so chat can map people to email)."""
        room = bare(room)
        await self._join(room, nick, None, 20.0)
        await self.configure_room(room, members_only=members_only, public_jids=public_jids,
                                  name=name)
        await self._catch_up(room)
        return self.occupants(room)

    async def _join(self, room: str, nick: str | None, password: str | None,
                    timeout: float) -> bool:
        nick = nick or self.own.partition("@")[0]
        try:
            JID(f"{room}/{nick}")
        except InvalidJID as exc:
            raise XmppError(f"cannot join {room} as {nick!r}: {exc}") from None
        state = self._rooms.get(room)
        if state is None or state.nick != nick:
            state = self._rooms[room] = _Room(room, nick)
        state.occupants.clear()
        state.joined = asyncio.get_running_loop().create_future()
        # A join given up on (timeout) may still fail later; nobody needs to hear it.
        state.joined.add_done_callback(lambda f: f.cancelled() or f.exception())
        # No history replay: the room's archive gives it, deduplicated. The join is
        # followed here, not by xep_0045's join_muc_wait: its room list and events
        # would keep a second copy of what `_Room` holds (the join's own status
        # codes, the occupants' real JIDs, errors about this join only).
        # With our presence as set (away, dnd, a status): the room shows it.
        self._muc.make_join_stanza(JID(room), nick, password=password or None,
                                   maxstanzas=0, presence_options=cast(
                                       Any, self._room_presence())).send()
        try:
            codes = await asyncio.wait_for(asyncio.shield(state.joined), timeout)
        except TimeoutError:
            raise XmppError(f"no answer from room {room} within {timeout:.0f}s") from None
        except XmppError:
            self._rooms.pop(room, None)
            raise
        self.state.rooms[room] = RoomMembership(room, nick)
        self.state.save()
        return "201" in codes

    def _on_room_presence(self, room: _Room, presence: Any, ptype: str) -> None:
        """A room's presence for one occupant (XEP-0045 §7.2). Its muc#user parts
        are read raw: xep_0045's interfaces raise on a status code that is not a
        number or an item JID that is not a JID, and a room is remote input."""
        xml = presence.xml
        nick = resource(xml.get("from") or "")
        if ptype == "error":
            condition, text, _b = error_condition(xml)
            renaming = room.renaming
            if renaming is not None and not renaming.done() and nick != room.nick:
                renaming.set_exception(XmppError(
                    f"room {room.jid} refused the nick {nick!r}: {condition}"
                    + (f" ({text})" if text else "")))
                return
            # An error about another nick (ours, sent earlier) is not about this join.
            if nick in ("", room.nick) and room.joined is not None \
                    and not room.joined.done():
                room.joined.set_exception(XmppError(
                    f"room {room.jid} refused us: {condition}" + (f" ({text})" if text else "")))
            return
        x = xml.find(q(NS_MUC_USER, "x"))
        codes = {s.get("code") or "" for s in x.findall(q(NS_MUC_USER, "status"))} \
            if x is not None else set()
        item = x.find(q(NS_MUC_USER, "item")) if x is not None else None
        is_self = "110" in codes
        if ptype == "unavailable":
            if room.occupants.pop(nick, None) is not None:
                self._publish(RoomOccupantsChanged(self.name, room.jid))
            if is_self and "303" in codes:
                return  # our nick changes (§7.6): still in the room, under the new one
            if is_self and room.joined is not None and room.joined.done():
                room.joined = None
            return
        if ptype != "available":
            return
        real = bare(item.get("jid") or "") if item is not None else ""
        show_el = xml.find(q(NS_CLIENT, "show"))
        show = (show_el.text or "").strip() if show_el is not None else ""
        occupant = Occupant(
            nick, real or (self.own if is_self else None),
            (item.get("role") if item is not None else None) or "participant",
            (item.get("affiliation") if item is not None else None) or "none",
            show if show in ("chat", "away", "xa", "dnd") else "")
        if room.occupants.get(nick) != occupant:
            room.occupants[nick] = occupant
            self._publish(RoomOccupantsChanged(self.name, room.jid))
        if is_self:
            room.nick = nick  # the room may have changed it
            if room.renaming is not None and not room.renaming.done():
                room.renaming.set_result(nick)
                self.state.rooms[room.jid] = RoomMembership(room.jid, nick)
                self.state.save()
            if room.joined is not None and not room.joined.done():
                room.joined.set_result(codes)

    async def configure_room(self, room: str, *, members_only: bool = False,
                             public_jids: bool = True, name: str = "") -> None:
        values = {
            "muc#roomconfig_persistentroom": "1",
            "muc#roomconfig_whois": "anyone" if public_jids else "moderators",
            "muc#roomconfig_membersonly": "1" if members_only else "0",
            "muc#roomconfig_enablearchiving": "1",
        }
        if name:
            values["muc#roomconfig_roomname"] = name
        form = self.session.plugin["xep_0004"].make_form(ftype="submit")
        form.add_field(var="FORM_TYPE", value="http://jabber.org/protocol/muc#roomconfig")
        for var, value in values.items():
            form.add_field(var=var, value=value)
        await self._asked(self._muc.set_room_config(JID(bare(room)), form, timeout=IQ_TIMEOUT),
                          bare(room))

    async def muc_service(self) -> str:
        """The server's multi-user chat service (disco#items, then disco#info)."""
        if self._muc_service is not None:
            return self._muc_service
        disco = self.session.plugin["xep_0030"]
        items = await self._asked(disco.get_items(jid=JID(self.domain), timeout=IQ_TIMEOUT),
                                  self.domain)
        # In the server's order (the `items` interface is a set).
        for jid in [item.xml.get("jid") or "" for item in items["disco_items"]["substanzas"]]:
            if not jid:
                continue
            try:
                info = await self._asked(disco.get_info(jid=JID(jid), timeout=IQ_TIMEOUT), jid)
            except XmppError:
                continue
            if any(identity[:2] == ("conference", "text")
                   for identity in info["disco_info"]["identities"]):
                self._muc_service = jid
                return jid
        raise XmppError(f"{self.domain} offers no multi-user chat service")

    async def leave_room(self, room: str) -> None:
        room = bare(room)
        state = self._rooms.pop(room, None)
        self.state.rooms.pop(room, None)
        self.state.save()
        if state is not None:
            self.session.send_presence(pto=f"{room}/{state.nick}", ptype="unavailable")
            self._publish(RoomOccupantsChanged(self.name, room))

    def occupants(self, room: str) -> list[Occupant]:
        state = self._rooms.get(bare(room))
        return sorted(state.occupants.values(), key=lambda o: o.nick) if state else []

    def rooms(self) -> list[str]:
        return sorted(self._joined_rooms())

    def invite(self, room: str, jid: str, reason: str = "", *, direct: bool = False) -> None:
        """Invite someone: through the room (mediated), or straight to them (XEP-0249)."""
        room, jid = bare(room), bare(jid)
        if direct:
            self.session.plugin["xep_0249"].send_invitation(JID(jid), JID(room),
                                                            reason=reason or None)
        else:
            self._muc.invite(JID(room), JID(jid), reason)

    def decline_invitation(self, room: str, inviter: str, reason: str = "") -> None:
        """Say no to a room's (mediated) invitation: the room tells the inviter
        (XEP-0045 §7.8.2). A direct invitation (XEP-0249) has no answer to send."""
        inviter = inviter if bare(inviter) == bare(room) else bare(inviter)  # room/nick kept
        self._muc.decline(JID(bare(room)), JID(inviter), reason)

    async def change_nick(self, room: str, nick: str, timeout: float = 10.0) -> str:
        """Take another nick in a room (XEP-0045 §7.6); returns the one the room
        gave (it may change it), or raises with its refusal (a nick in use)."""
        room = bare(room)
        state = self._rooms.get(room)
        if state is None or room not in self._joined_rooms():
            raise XmppError(f"not in room {room}: join it first")
        try:
            JID(f"{room}/{nick}")
        except InvalidJID as exc:
            raise XmppError(f"{nick!r} cannot be a nick: {exc}") from None
        state.renaming = asyncio.get_running_loop().create_future()
        state.renaming.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.session.send_presence(pto=f"{room}/{nick}", **self._room_presence())
        try:
            return await asyncio.wait_for(asyncio.shield(state.renaming), timeout)
        except TimeoutError:
            raise XmppError(f"no answer from room {room} within {timeout:.0f}s") from None
        finally:
            state.renaming = None

    def _room_presence(self) -> dict[str, Any]:
        """Our presence as last set (show, status), as a room gets it: no priority,
        which means nothing to a room."""
        return {k: v for k, v in self.session.own_presence.items()
                if k != "ppriority" and v is not None}

    def tell_rooms_presence(self) -> None:
        """Our changed presence to each room we are in (XEP-0045 §7.7): a room
        hears only presence sent to it, not the broadcast to contacts."""
        for jid in sorted(self._joined_rooms()):
            self.session.send_presence(pto=f"{jid}/{self._rooms[jid].nick}",
                                       **self._room_presence())

    async def kick(self, room: str, nick: str, reason: str = "") -> None:
        """Take an occupant out of a room (role none, XEP-0045 §8.2); the room
        refuses unless we moderate it."""
        room = bare(room)
        await self._asked(self._muc.set_role(JID(room), nick, "none", reason=reason,
                                             timeout=IQ_TIMEOUT), room)

    async def ban(self, room: str, who: str, reason: str = "") -> None:
        """Ban someone from a room (affiliation outcast, §9.1): by JID, or by the
        nick of an occupant whose JID the room shows us."""
        room = bare(room)
        state = self._rooms.get(room)
        occupant = state.occupants.get(who) if state else None
        jid = bare(who) if "@" in who else (occupant.jid if occupant else None)
        if not jid:
            raise XmppError(f"{who!r} is not an address, nor a nick whose address {room} shows")
        await self._asked(self._muc.set_affiliation(
            JID(room), "outcast", jid=JID(jid), reason=reason, timeout=IQ_TIMEOUT), room)

    async def grant_membership(self, room: str, jid: str, affiliation: str = "member") -> None:
        if affiliation not in AFFILIATIONS:
            raise XmppError(f"{room} refused: {affiliation!r} is not an affiliation")
        await self._asked(self._muc.set_affiliation(
            JID(bare(room)), cast(MucAffiliation, affiliation), jid=JID(bare(jid)),
            timeout=IQ_TIMEOUT), bare(room))

    @property
    def _muc(self) -> Any:
        return self.session.plugin["xep_0045"]
