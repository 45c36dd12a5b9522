"""The XMPP client the engine owns: one account, on the caller's asyncio loop.

This top layer is lifecycle and wiring: start and stop, the session events,
reconnection with backoff, the catch-up after a login, and the account-level
parts (roster, presence, block list, discovery, vCards). The features are in
the layers below (see `core.py` for the stack); the names others import from
here stay here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

from slixmpp import JID, InvalidJID
from slixmpp.plugins.xep_0054.stanza import Email, VCardTemp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..events import (
    PresenceChanged,
    PushRestarted,
    RosterChanged,
    SubscriptionRequest,
    XmppConnectionChanged,
)
from .availability import Availability, ContactPresence, ResourcePresence
from .core import (
    _EMAIL,
    ATTEMPT_TIMEOUT,
    FEATURES,
    IQ_TIMEOUT,
    MAX_RESOURCES,
    NS_VCARD,
    RESEND_TRIES,
    RESEND_WINDOW,
    Occupant,
    RosterItem,
    XmppError,
)
from .omemo import Omemo
from .session import XmppLoginError
from .stanzas import NS_CLIENT, bare, q, resource
from .upload import TransferError

log = logging.getLogger(__name__)
NS_INVISIBLE = "urn:xmpp:invisible:0"


class XmppClient(Omemo):
    """One account's XMPP connection, reporting into the store and the event bus."""

    def _wire_handlers(self) -> None:
        super()._wire_handlers()
        s = self.session
        s.register_handler(Callback("tuiclient presence", MatchXPath(f"{{{NS_CLIENT}}}presence"),
                                    self._guard(self._on_presence)))
        s.add_event_handler("session_start", self._on_session_start)
        s.add_event_handler("session_resumed", self._on_session_resumed)
        s.add_event_handler("disconnected", self._on_disconnected)
        s.add_event_handler("failed_all_auth", self._on_auth_failed)
        s.add_event_handler("roster_update", self._guard(self._on_roster_update))
        s.add_event_handler("presence_subscribe", self._guard(self._on_subscribe_request))
        s.add_event_handler("blocked", self._guard(self._on_block_push))
        s.add_event_handler("unblocked", self._guard(self._on_block_push))
        s.add_event_handler("session_bind", self._announce_features)
        self._inactive = False  # the user is not looking (XEP-0352)
        self.invisible = False  # XEP-0186, for this session (set_invisible)

    def _announce_features(self, _jid: object) -> None:
        # Disco data is kept per bound JID, so it can only be set once bound.
        disco = self.session.plugin["xep_0030"]
        for feature in FEATURES:
            disco.add_feature(feature)
        self._no_vcard_service()
        # What we are (XEP-0030): a text-mode client, not slixmpp's default "bot".
        disco.add_identity(category="client", itype="console", name="tuiclient")

    async def start(self, timeout: float = 30.0) -> None:
        """Log in, then catch up (archive, rooms, unsent messages) before returning."""
        self._stopping = False
        self._auth_failed = False
        self._synced.clear()
        try:
            await self.session.start(timeout)
        except XmppLoginError:
            # No background retries for a login that never worked: the caller decides.
            self._stopping = True
            if self._reconnect_task is not None:
                self._reconnect_task.cancel()
            self.session.cancel_connection_attempt()
            raise
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._synced.wait(), timeout)

    async def stop(self) -> None:
        self._stopping = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        self._stop_self_pings()
        self.session.cancel_connection_attempt()
        registry: Any = self.session.plugin  # slixmpp types it with its own plugins only
        standby = registry.get("tuiclient_omemo_standby", None)
        if standby is not None and self.session.transport is not None:
            await standby.settle(10.0)  # a first login's keys are published first
        if self.session.transport is not None and self.session.announced:
            # Say goodbye to rooms and contacts; the stream close then ends the session.
            # (A session that never announced itself says nothing to contacts: the
            # server tells the rooms it joined when the stream closes.)
            self.session.send_presence(ptype="unavailable")
        await self.session.stop()
        self._omemo_release()
        self._publish(XmppConnectionChanged(self.name, "stopped"))

    async def wait_synced(self, timeout: float = 30.0) -> bool:
        """Wait until the current session finished its catch-up; False on timeout."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def set_client_state(self, active: bool) -> None:
        """Whether the user is looking (XEP-0352, slixmpp's xep_0352): while
        inactive the server may hold back what is not urgent (presence, chat
        states) and save the link. Only said where the server offers it, and only
        on a change; a new session starts active at the server, so it is told
        again there."""
        if active == (not self._inactive):
            return
        self._inactive = not active
        if self.connected:
            self._tell_client_state()

    def _tell_client_state(self) -> None:
        csi = self.session.plugin["xep_0352"]
        if self._inactive:
            csi.send_inactive()
        else:
            csi.send_active()

    @property
    def client_state(self) -> str:
        """"active" or "inactive", as last set (XEP-0352)."""
        return "inactive" if self._inactive else "active"

    @property
    def client_state_offered(self) -> bool:
        """Whether the server offered client state indication in this stream."""
        return bool(self.session.plugin["xep_0352"].enabled)

    async def _on_session_start(self, _event: object) -> None:
        self._reconnects = 0
        self.invisible = False  # a new session starts visible (XEP-0186 §3)
        if self._inactive:
            self._tell_client_state()
        self._synced.clear()
        # A new session (not a resumed one) starts with no presence: what we knew is
        # stale until contacts announce themselves again.
        stale = [jid for jid, resources in self._presence.items() if resources]
        self._presence.clear()
        for jid in stale:
            now = self.availability(jid)
            self._publish(PresenceChanged(self.name, jid, now.availability.value, now.status))
        for room in self._rooms.values():
            room.occupants.clear()
        self._spawn(self._after_login())

    async def _on_session_resumed(self, _event: object) -> None:
        self._reconnects = 0
        if self._inactive:
            self._tell_client_state()  # a server may have reset it with the stream
        self._publish(XmppConnectionChanged(self.name, "resumed"))
        self._flush_resumed()
        self._synced.set()

    async def _after_login(self) -> None:
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("carbons", self._enable_carbons),
            ("block list", self._load_blocklist),
        ]
        for what, step in steps:
            try:
                await step()
            except Exception as exc:
                log.warning("%s: %s failed after login: %s", self.name, what, exc)
        try:
            await self._flush_new_session()
        except Exception as exc:
            log.warning("%s: sending the unconfirmed lines again failed: %s", self.name, exc)
        self._publish(XmppConnectionChanged(self.name, "online"))
        try:
            await self._catch_up(None)
        except Exception as exc:
            log.warning("%s: archive catch-up failed: %s", self.name, exc)
        try:
            # Known before rejoining, so a room already bookmarked is not published again.
            await self.bookmarks()
        except XmppError as exc:
            log.warning("%s: reading the bookmarks failed: %s", self.name, exc)
        for membership in list(self.state.rooms.values()):
            try:
                # Back where we were, not a new join: the bookmark stays as the
                # user left it (removed, or its autojoin cleared by a client of ours).
                await self.join_room(membership.room, membership.nick, bookmark=False)
            except Exception as exc:
                log.warning("%s: rejoining %s failed: %s", self.name, membership.room, exc)
        try:
            await self._autojoin_bookmarks()
        except XmppError as exc:
            log.warning("%s: joining the bookmarked rooms failed: %s", self.name, exc)
        self._synced.set()

    def _on_disconnected(self, reason: object) -> None:
        self._synced.clear()
        for room in self._rooms.values():
            if room.joined is not None and not room.joined.done():
                room.joined.set_exception(XmppError(f"disconnected while joining {room.jid}"))
        if self._stopping:
            return
        if self._auth_failed:
            # The password changed under us: retrying would only lock the account.
            self._publish(XmppConnectionChanged(self.name, "failed", "login refused"))
            return
        self._publish(XmppConnectionChanged(self.name, "disconnected", str(reason or "")))
        if str(reason or "").startswith("Ping timeout"):
            # slixmpp's keepalive found the stream silent and reconnects now.
            self._publish(PushRestarted(self.name, "xmpp", str(reason)))
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.ensure_future(self._reconnect())

    def _on_auth_failed(self, _event: object) -> None:
        self._auth_failed = True

    async def _reconnect(self) -> None:
        """Connect again until a session holds, with jittered exponential backoff
        (so a server restart is not met by every client at the same instant).

        One loop owns reconnection: each attempt is given ATTEMPT_TIMEOUT to end
        in a session; an attempt that dies anywhere (refused, cut in the TLS
        handshake, in SASL, before bind) only means the next one, never the end
        of trying. A cut in the TLS handshake leaves slixmpp a closed transport
        object rather than none, so "is there a transport" is not the test:
        "is there a live one"."""
        while not self._stopping and not self.connected:
            delay = min(self.session.max_backoff, 0.5 * 2 ** self._reconnects)
            self._reconnects += 1
            delay *= random.uniform(0.5, 1.0)
            self._publish(XmppConnectionChanged(self.name, "reconnecting",
                                                f"in {delay:.1f}s"))
            await asyncio.sleep(delay)
            if self._stopping or self.connected:
                return
            if not self._transport_alive():
                config = self.account.xmpp
                assert config is not None
                self.session.connect(config.host, config.port)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ATTEMPT_TIMEOUT
            # Give the attempt time to become a session: a live transport that
            # goes quiet past the deadline is dropped and tried again.
            await asyncio.sleep(0.2)
            while not self._stopping and not self.connected and loop.time() < deadline:
                if not self._transport_alive() and not self._attempt_pending():
                    break  # this attempt is over: next one
                await asyncio.sleep(0.1)
            if not self._stopping and not self.connected and self._transport_alive():
                self.session.abort()

    def _transport_alive(self) -> bool:
        transport = self.session.transport
        return transport is not None and not transport.is_closing()

    def _attempt_pending(self) -> bool:
        attempt = getattr(self.session, "_current_connection_attempt", None)
        return attempt is not None and not attempt.done()

    def roster(self) -> list[RosterItem]:
        roster = self.session.client_roster
        items = []
        for jid in roster:
            item = roster[jid]
            # Our own JID, and rooms: slixmpp keeps an entry for every JID whose
            # presence came, and a room's occupants' presences come from the room.
            if bare(str(jid)) == self.own or bare(str(jid)) in self._rooms \
                    or bare(str(jid)) in self.state.rooms:
                continue
            items.append(RosterItem(bare(str(jid)), item["name"] or "",
                                    item["subscription"] or "none", bool(item["pending_out"]),
                                    tuple(sorted(item["groups"] or ()))))
        return sorted(items, key=lambda i: i.jid)

    def subscribe(self, jid: str, name: str = "") -> None:
        """Ask to see a contact's presence (and add them to the roster)."""
        jid = bare(jid)
        if name:
            self.session.update_roster(JID(jid), name=name)
        self.session.send_presence(pto=jid, ptype="subscribe")

    async def add_contact(self, jid: str, name: str = "",
                          groups: Iterable[str] = ()) -> RosterItem:
        """Put a contact in the roster with a name and groups (RFC 6121 §2.3) and
        ask to see their presence; their answer comes as a roster change."""
        jid = bare(jid)
        try:
            target = JID(jid)
        except InvalidJID as exc:
            raise XmppError(f"cannot add {jid!r}: {exc}") from None
        if not target.user or jid == self.own:
            raise XmppError(f"{jid!r} is not someone else's address")
        answer = self.session.update_roster(target, name=name, groups=sorted(set(groups)),
                                            timeout=IQ_TIMEOUT)
        if answer is not None:
            await self._asked(answer, None)
        self.session.send_presence(pto=jid, ptype="subscribe")
        return next((i for i in self.roster() if i.jid == jid),
                    RosterItem(jid, name, "none", True, tuple(sorted(set(groups)))))

    async def change_contact(self, jid: str, name: str | None = None,
                             groups: Iterable[str] | None = None) -> RosterItem:
        """A contact's name or groups changed (RFC 6121 §2.4, a roster set), the
        other one kept; no subscription is asked for or ended."""
        jid = bare(jid)
        if jid not in {i.jid for i in self.roster()}:
            raise XmppError(f"{jid} is not in the roster")
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if groups is not None:
            changes["groups"] = sorted(set(groups))
        answer = self.session.update_roster(JID(jid), timeout=IQ_TIMEOUT, **changes)
        if answer is not None:
            await self._asked(answer, None)
        now = next(i for i in self.roster() if i.jid == jid)
        return RosterItem(jid, changes.get("name", now.name), now.subscription,
                          now.pending_out, tuple(changes.get("groups", now.groups)))

    def cancel_subscription(self, jid: str) -> None:
        """Stop asking to see a contact's presence, or stop seeing it (RFC 6121
        §3.3: an "unsubscribe" also cancels a request still pending); the contact
        stays in the roster."""
        self.session.send_presence(pto=bare(jid), ptype="unsubscribe")

    async def remove_contact(self, jid: str) -> None:
        """Take a contact out of the roster: both subscriptions end (RFC 6121 §2.5)."""
        jid = bare(jid)
        if not self.session.client_roster.has_jid(jid):
            raise XmppError(f"{jid} is not in the roster")
        answer = self.session.del_roster_item(jid)
        if answer is not None:
            await self._asked(answer, None)

    def approve(self, jid: str) -> None:
        """Let a contact who asked see our presence."""
        self.session.send_presence(pto=bare(jid), ptype="subscribed")

    def deny(self, jid: str) -> None:
        """Refuse (or withdraw) a contact's view of our presence."""
        self.session.send_presence(pto=bare(jid), ptype="unsubscribed")

    def set_presence(self, show: str = "", status: str = "", priority: int = 0) -> None:
        """Our own presence: show is "", chat, away, xa or dnd; kept for the next
        session (a reconnection that cannot resume starts with it)."""
        if show not in ("", "chat", "away", "xa", "dnd"):
            raise ValueError(f"show must be '', chat, away, xa or dnd, not {show!r}")
        self.session.own_presence = {"pshow": show or None, "pstatus": status or None,
                                     "ppriority": priority}
        self.session.send_presence(**self.session.own_presence)
        self.tell_rooms_presence()

    async def set_invisible(self, invisible: bool = True) -> None:
        """Invisible (XEP-0186, slixmpp's xep_0186): online for ourselves, offline
        to everyone else, where the server offers it; otherwise refused, and our
        presence stays as it was. Prosody has it only through a community module
        (mod_invisible), not in its own; it lasts for this session."""
        if invisible == self.invisible:
            return
        domain = self.own.partition("@")[2]
        if invisible and NS_INVISIBLE not in await self.features(domain):
            raise XmppError(f"{domain} offers no invisible mode (XEP-0186): "
                            "your presence is unchanged")
        plugin = self.session.plugin["xep_0186"]
        await self._asked((plugin.set_invisible if invisible else plugin.set_visible)(
            timeout=IQ_TIMEOUT), None)
        self.invisible = invisible

    def refusal(self, jid: str) -> str | None:
        """Why the last send to this contact bounced, while it is not yet cleared."""
        return self._refused.get(bare(jid))

    def _on_subscribe_request(self, presence: Any) -> None:
        self._publish(SubscriptionRequest(self.name, bare(str(presence["from"]))))

    def _on_roster_update(self, iq: Any) -> None:
        for jid, item in iq["roster"]["items"].items():
            if bare(str(jid)):
                self._publish(RosterChanged(self.name, bare(str(jid)),
                                            item.get("subscription") or "none"))

    def _on_presence(self, presence: Any) -> None:
        xml = presence.xml
        sender = xml.get("from") or ""
        jid = bare(sender)
        if not jid or jid == self.own:
            return  # our own resources are not a contact
        ptype = xml.get("type") or "available"
        if jid in self._rooms:
            self._on_room_presence(self._rooms[jid], presence, ptype)
            return
        if ptype not in ("available", "unavailable"):
            return
        res = resource(sender)
        resources = self._presence.setdefault(jid, {})
        if ptype == "unavailable":
            resources.pop(res, None)
            self._receipt_support.pop(f"{jid}/{res}", None)
            self._chat_state_support.pop(f"{jid}/{res}", None)
        elif res not in resources and len(resources) >= MAX_RESOURCES:
            return  # a flood of made-up resources; real people have a handful
        else:
            show_el = xml.find(q(NS_CLIENT, "show"))
            status_el = xml.find(q(NS_CLIENT, "status"))
            prio_el = xml.find(q(NS_CLIENT, "priority"))
            try:
                priority = max(-128, min(127, int((prio_el.text or "0").strip())))
            except (AttributeError, ValueError):
                priority = 0
            show = (show_el.text or "").strip() if show_el is not None else ""
            resources[res] = ResourcePresence(
                res, show if show in ("chat", "away", "xa", "dnd") else "",
                (status_el.text or "")[:1000] if status_el is not None else "", priority)
            # They are reachable again: whatever bounced before no longer holds.
            self._refused.pop(jid, None)
            if any(p.waiting_for_peer and bare(p.to) == jid for p in self._pending.values()):
                self._spawn(self._resend_to(jid))
        now = self.availability(jid)
        self._publish(PresenceChanged(self.name, jid, now.availability.value, now.status))

    async def _load_blocklist(self) -> None:
        jids = await self._asked(self.session.plugin["xep_0191"].get_blocked_jids(
            timeout=IQ_TIMEOUT), None)
        self._blocked = {bare(str(j)) for j in jids}

    def blocked(self) -> set[str]:
        return set(self._blocked)

    async def refresh_blocklist(self) -> set[str]:
        await self._load_blocklist()
        return self.blocked()

    def _blockable(self, jid: str) -> JID:
        """A JID to block or unblock (a contact, a room, a whole domain), as the
        server's block list keeps it: bare."""
        try:
            target = JID(bare(jid))
        except InvalidJID as exc:
            raise XmppError(f"cannot block {jid!r}: {exc}") from None
        if not target.domain or target.bare == self.own:
            raise XmppError(f"{jid!r} is not someone else's address")
        return target

    async def block(self, jid: str) -> None:
        """Block a JID (XEP-0191, slixmpp's xep_0191): the server stops their lines
        and presence reaching us, and ours reaching them; what came before is not
        shown either (`_blocks`)."""
        target = self._blockable(jid)
        await self._asked(self.session.plugin["xep_0191"].block(target, timeout=IQ_TIMEOUT),
                          None)
        self._blocked.add(target.bare)
        self._publish(PresenceChanged(self.name, target.bare, Availability.BLOCKED.value))

    async def unblock(self, jid: str) -> None:
        target = self._blockable(jid)
        if target.bare not in self._blocked:
            await self._load_blocklist()  # another client of ours may have blocked it
        if target.bare not in self._blocked:
            raise XmppError(f"{target.bare} is not blocked")
        await self._asked(self.session.plugin["xep_0191"].unblock(
            target, timeout=IQ_TIMEOUT), None)
        self._blocked.discard(target.bare)
        now = self.availability(target.bare)
        self._publish(PresenceChanged(self.name, target.bare, now.availability.value,
                                      now.status))

    def _on_block_push(self, _iq: Any) -> None:
        # Another of our clients changed the list; read it whole rather than patch it.
        self._spawn(self._load_blocklist())

    async def features(self, jid: str) -> set[str]:
        """What an entity (a contact's full JID, a room, a server) says it supports."""
        disco = self.session.plugin["xep_0030"]
        try:
            target = JID(jid)
        except InvalidJID as exc:
            raise XmppError(f"cannot ask {jid!r}: {exc}") from None
        info = await self._asked(disco.get_info(jid=target, timeout=IQ_TIMEOUT), jid)
        return {str(f) for f in info["disco_info"]["features"]} - {""}

    async def _enable_carbons(self) -> None:
        await self._asked(self.session.plugin["xep_0280"].enable(timeout=IQ_TIMEOUT), None)

    async def vcard_emails(self, jid: str) -> list[str]:
        """The email addresses a contact put in their vCard (vcard-temp)."""
        try:
            answer = await self._iq("get", VCardTemp().xml, to=bare(jid))
        except XmppError:
            return []
        emails = []
        for email in answer.iter(q(NS_VCARD, "EMAIL")):
            userid = email.find(q(NS_VCARD, "USERID"))
            value = (userid.text or "").strip() if userid is not None else ""
            if _EMAIL.match(value) and value.isprintable() and value not in emails:
                emails.append(value)
        return emails

    async def publish_vcard(self, full_name: str = "", emails: Iterable[str] = ()) -> None:
        """Publish our vCard (vcard-temp, XEP-0054) with these email addresses,
        and our avatar as its photo when we have one (XEP-0153 reads it there).
        Built on xep_0054's stanzas (its plugin's vCard service is taken out:
        avatars.py)."""
        card = VCardTemp()
        if full_name:
            card["FN"] = full_name
        photo = self.avatar(self.own)
        if photo is not None:
            known = self.state.avatars.get(self.own, {})
            card["PHOTO"]["TYPE"] = known.get("type", "image/png")
            card["PHOTO"]["BINVAL"] = photo.read_bytes()
        for address in emails:
            email = Email()
            email["INTERNET"] = True
            email["USERID"] = address
            card.append(email)
        await self._iq("set", card.xml)

    async def learn_contact_from_vcard(self, jid: str) -> list[str]:
        """Suggest an email <-> JID mapping from a contact's vCard (unconfirmed)."""
        emails = await self.vcard_emails(jid)
        if emails:
            self.store.add_contact("", emails=emails, jids=[bare(jid)], source="learned",
                                   confirmed=False)
        return emails



__all__ = [
    "RESEND_TRIES",
    "RESEND_WINDOW",
    "Availability",
    "ContactPresence",
    "Occupant",
    "RosterItem",
    "TransferError",
    "XmppClient",
    "XmppError",
    "XmppLoginError",
]
