"""Rooms (XEP-0045 through slixmpp's xep_0045): join, create and configure,
occupants, the subject, invitations (direct ones through xep_0249), memberships,
the rooms a service lists (§6), voice in a moderated room (§7.13 asked with
xep_0045's request_voice; §8.6 the moderator's approval form, which slixmpp does
not parse, read here from its data form) and registering a nick with a room (§7.10,
jabber:iq:register to the room, which slixmpp has no call for: xep_0077 registers
with a server).
A room's history comes from its archive, never from the join's replay.
What happens in a room after our join (someone coming in or leaving, kicked or
banned, a nick or topic changed) is told as `RoomHappened`, read from the
presence's muc#user status codes (§7.6 303, §8.2 307, §9.1 301) and the subject.
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, cast

from slixmpp import JID, InvalidJID
from slixmpp.plugins.xep_0045.muc import AFFILIATIONS
from slixmpp.types import MucAffiliation
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..events import RoomHappened, RoomOccupantsChanged, RoomSubjectChanged, VoiceRequested
from .archive import Archive
from .core import IQ_TIMEOUT, Occupant, XmppError, _Room
from .stanzas import NS_CLIENT, NS_MUC_USER, bare, error_condition, q, resource
from .state import RoomMembership

log = logging.getLogger(__name__)
ROOM_NAME_WAIT = 3.0  # seconds a join waits for the room's name (disco#info)
NS_DATA = "jabber:x:data"
NS_REGISTER = "jabber:iq:register"
MUC_REQUEST = "http://jabber.org/protocol/muc#request"
MUC_REGISTER = "http://jabber.org/protocol/muc#register"
# A room's "no" to registering a nick (§7.10.2), as the user reads it.
REGISTER_REFUSALS = {
    "registration-required": "registers only its members' nicks: ask an owner for membership",
    "forbidden": "does not let you register: you are banned there",
    "conflict": "refused: someone else has that nick",
    "service-unavailable": "takes no registrations",
    "feature-not-implemented": "takes no registrations",
}


@dataclass(frozen=True)
class RoomListing:
    """A room a service lists (XEP-0045 §6.3), with what its disco#info says
    (§6.4): its name, and how many are in it when the room tells."""

    jid: str
    name: str = ""
    occupants: int | None = None


class Rooms(Archive):
    """Multi-user chat rooms and invitations."""

    def _wire_handlers(self) -> None:
        super()._wire_handlers()
        self.session.add_event_handler("groupchat_subject", self._guard(self._on_subject))
        self.session.register_handler(Callback(
            "room refusal", MatchXPath(f"{{{NS_CLIENT}}}message/{{{NS_CLIENT}}}error"),
            self._guard(self._on_room_refusal)))
        self.session.register_handler(Callback(
            "voice request", MatchXPath(f"{{{NS_CLIENT}}}message/{{{NS_DATA}}}x"),
            self._guard(self._on_voice_request)))

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
        changed = room.subject_told  # the first after our join is the room's as it was
        room.subject_told = True
        if subject != room.subject:
            room.subject = subject
            self._publish(RoomSubjectChanged(self.name, room.jid, subject, resource(sender)))
            if changed:
                self._publish(RoomHappened(self.name, room.jid, "topic", resource(sender),
                                           new=subject,
                                           ours=resource(sender) == room.nick))

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
        if not self.state.room_names.get(bare(room)):
            await self._name_room(bare(room))
        await self._catch_up(bare(room))
        for pending in list(self._pending.values()):
            if pending.mtype == "groupchat" and pending.to == bare(room):
                self._transmit(pending)
        return self.occupants(room)

    async def _name_room(self, room: str) -> None:
        """Its conversation is named after the room (as Profanity's window is): the
        name the room gives itself, asked once. The join waits for the answer at
        most `ROOM_NAME_WAIT` seconds (its history and the lines waiting to go
        in come after it); a later answer names the room when it comes."""
        asked = asyncio.ensure_future(self._room_info(room))
        # The loop keeps only weak references to tasks: this one is held until done.
        naming: set[asyncio.Future[Any]] = self.__dict__.setdefault("_naming", set())
        naming.add(asked)

        def named(done: asyncio.Future[tuple[str, int | None]]) -> None:
            naming.discard(done)
            if not done.cancelled() and done.exception() is None:
                self.state.name_room(room, done.result()[0])

        asked.add_done_callback(named)
        try:
            await asyncio.wait_for(asyncio.shield(asked), ROOM_NAME_WAIT)
        except TimeoutError:
            log.info("room %s did not say its name within %.0f s", room, ROOM_NAME_WAIT)

    async def create_room(self, room: str, nick: str | None = None, *,
                          members_only: bool = False, public_jids: bool = True,
                          name: str = "") -> list[Occupant]:
        """Join a new room and configure it: persistent, archived, real JIDs shown
        to everyone when `public_jids` (so chat can map people to email)."""
        room = bare(room)
        await self._join(room, nick, None, 20.0)
        await self.configure_room(room, members_only=members_only, public_jids=public_jids,
                                  name=name)
        self.state.name_room(room, name)
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
        state.subject_told = False
        state.renamed.clear()
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
        self.state.room_names.setdefault(room, "")
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
                self._tell_gone(room, nick, codes, item, xml, is_self)
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
            if nick not in room.occupants and not is_self and nick not in room.renamed \
                    and room.joined is not None and room.joined.done():
                # Not the list the room tells on our join: someone came in.
                self._publish(RoomHappened(self.name, room.jid, "joined", nick))
            room.renamed.discard(nick)
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

    def _tell_gone(self, room: _Room, nick: str, codes: set[str], item: ET.Element | None,
                   xml: ET.Element, is_self: bool) -> None:
        """An occupant's unavailable presence, as the room's timeline tells it
        (§7.6 a nick change, 303; §8.2 kicked, 307; §9.1 banned, 301; else left,
        with their status as the reason). Only after our join, and our own
        leaving (`leave_room`, our stream ending) is no happening of the room's."""
        if room.joined is None or not room.joined.done() or room.jid not in self._rooms:
            return
        actor = item.find(q(NS_MUC_USER, "actor")) if item is not None else None
        by = (actor.get("nick") or "").strip()[:100] if actor is not None else ""
        reason = (item.findtext(q(NS_MUC_USER, "reason")) or "") if item is not None else ""
        if "303" in codes:
            new = (item.get("nick") or "") if item is not None else ""
            if new:
                room.renamed.add(new)
            self._publish(RoomHappened(self.name, room.jid, "nick", nick, new=new[:100],
                                       ours=is_self))
            return
        what = "banned" if "301" in codes else "kicked" if "307" in codes else "left"
        if what == "left" and is_self:
            return  # our stream ending (the app quit): nothing the room did
        if what == "left":
            reason = xml.findtext(q(NS_CLIENT, "status")) or ""
        self._publish(RoomHappened(self.name, room.jid, what, nick, by=by,
                                   reason=reason.strip()[:300], ours=is_self))

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

    async def discover_rooms(self, service: str | None = None) -> list[RoomListing]:
        """The public rooms of a service (default: the server's own), XEP-0045 §6.3
        disco#items, each one's name and occupant count from its disco#info (§6.4,
        asked together; a room that does not answer is listed as the service named it)."""
        service = bare(service) if service else await self.muc_service()
        disco = self.session.plugin["xep_0030"]
        items = await self._asked(disco.get_items(jid=JID(service), timeout=IQ_TIMEOUT),
                                  service)
        listed = [(item.xml.get("jid") or "", item.xml.get("name") or "")
                  for item in items["disco_items"]["substanzas"]]
        rooms = [(jid, name) for jid, name in listed if "@" in jid]
        infos = await asyncio.gather(*(self._room_info(jid) for jid, _ in rooms))
        return sorted((RoomListing(jid, info[0] or name, info[1])
                       for (jid, name), info in zip(rooms, infos, strict=True)),
                      key=lambda r: r.jid)

    async def _room_info(self, room: str) -> tuple[str, int | None]:
        """(name, occupants) from a room's disco#info and its muc#roominfo form."""
        try:
            info = await self._asked(self.session.plugin["xep_0030"].get_info(
                jid=JID(room), timeout=IQ_TIMEOUT), room)
        except XmppError:
            return "", None
        name = next((i[3] or "" for i in info["disco_info"]["identities"]
                     if i[:2] == ("conference", "text")), "")
        occupants: int | None = None
        form = info["disco_info"].xml.find("{jabber:x:data}x")
        if form is not None:
            for field in form.findall("{jabber:x:data}field"):
                value = (field.findtext("{jabber:x:data}value") or "").strip()
                if field.get("var") == "muc#roominfo_occupants" and value.isdigit():
                    occupants = int(value)
        return name, occupants

    def request_voice(self, room: str) -> None:
        """Ask a moderated room's moderators to let us speak (§7.13)."""
        room = bare(room)
        if room not in self._joined_rooms():
            raise XmppError(f"not in room {room}: join it first")
        self._muc.request_voice(JID(room), "participant")

    def _on_voice_request(self, msg: Any) -> None:
        """The approval form a room sends its moderators (§8.6)."""
        room = bare(msg.xml.get("from") or "")
        if room not in self._rooms or msg.xml.get("type") == "error":
            return
        fields = _form_fields(msg.xml.find(f"{{{NS_DATA}}}x"))
        if fields.get("FORM_TYPE") == MUC_REQUEST and fields.get("muc#roomnick"):
            self._publish(VoiceRequested(self.name, room, fields["muc#roomnick"],
                                         fields.get("muc#jid", "")))

    def answer_voice_request(self, room: str, nick: str, jid: str, allow: bool) -> None:
        """The moderator's answer: the form sent back with muc#request_allow (§8.6)."""
        msg = self.session.make_message(JID(bare(room)))
        form = msg["form"]
        form["type"] = "submit"
        form.add_field(var="FORM_TYPE", ftype="hidden", value=MUC_REQUEST)
        form.add_field(var="muc#role", value="participant")
        if jid:
            form.add_field(var="muc#jid", value=jid)
        form.add_field(var="muc#roomnick", value=nick)
        form.add_field(var="muc#request_allow", ftype="boolean", value=allow)
        msg.send()

    async def register_with_room(self, room: str, nick: str) -> str:
        """Register (reserve) a nick with a room (§7.10): its registration form
        asked for, then sent back filled. Returns the nick the room holds for us."""
        room = bare(room)
        query = ET.Element(f"{{{NS_REGISTER}}}query")
        answer = await self._register_iq("get", query, room)
        registered = answer.find(f"{{{NS_REGISTER}}}query/{{{NS_REGISTER}}}registered")
        held = answer.findtext(f"{{{NS_REGISTER}}}query/{{{NS_REGISTER}}}username")
        if registered is not None and held == nick:
            return nick
        form = self.session.plugin["xep_0004"].make_form(ftype="submit")
        form.add_field(var="FORM_TYPE", ftype="hidden", value=MUC_REGISTER)
        form.add_field(var="muc#register_roomnick", value=nick)
        query = ET.Element(f"{{{NS_REGISTER}}}query")
        query.append(form.xml)
        await self._register_iq("set", query, room)
        return nick

    async def _register_iq(self, kind: str, query: ET.Element, room: str) -> ET.Element:
        """One registration request; the room's refusal said as a sentence."""
        try:
            return await self._iq(kind, query, room)
        except XmppError as exc:
            words = str(exc)
            for condition, sentence in REGISTER_REFUSALS.items():
                if f"refused: {condition}" in words:
                    raise XmppError(f"{room} {sentence} ({condition})") from None
            raise

    async def leave_room(self, room: str) -> None:
        room = bare(room)
        state = self._rooms.pop(room, None)
        self.state.rooms.pop(room, None)
        self.state.save()
        if state is not None:
            self.session.send_presence(pto=f"{room}/{state.nick}", ptype="unavailable")
            self._publish(RoomOccupantsChanged(self.name, room))

    def room_nick(self, room: str) -> str:
        """Our nick in a room we are in (the room may have changed the one asked
        for), else the one we take part under across sessions, else ""."""
        state = self._rooms.get(bare(room))
        if state is not None:
            return state.nick
        membership = self.state.rooms.get(bare(room))
        return membership.nick if membership is not None else ""

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

    def decline_invitation(self, room: str, inviter: str, reason: str = "", *,
                           direct: bool = False) -> None:
        """Say no to a room's (mediated) invitation: the room tells the inviter
        (XEP-0045 §7.8.2). A direct invitation (XEP-0249) has no answer to send:
        it is dropped here, nothing goes through a room it never came from."""
        if direct:
            return
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


def _form_fields(form: ET.Element | None) -> dict[str, str]:
    """A data form's fields, each var to its first value."""
    if form is None:
        return {}
    return {f.get("var") or "": (f.findtext(f"{{{NS_DATA}}}value") or "").strip()
            for f in form.findall(f"{{{NS_DATA}}}field")}
