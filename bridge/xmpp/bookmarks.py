"""Rooms kept across clients and noticed when lost: bookmarks (XEP-0402, PEP native
bookmarks, through slixmpp's xep_0402 stanzas and xep_0223/xep_0060 publishing) and
MUC self-ping (XEP-0410, through slixmpp's xep_0410 scheduler).

Joining a room bookmarks it with autojoin, leaving clears autojoin (the bookmark
stays, as Gajim and Conversations do), so the user's other clients join and leave
with us; a bookmark another client adds with autojoin is joined here at once (PEP
notifications) and at every login. Each joined room is self-pinged after a quiet
while: a room that no longer knows us (a restarted room server, a ghost after a
network split) is joined again, instead of staying silently deaf.

Legacy bookmarks: a server without XEP-0402's `#compat` (Prosody without
mod_bookmarks) keeps what older clients wrote as XEP-0048 bookmarks in XEP-0049
private storage, apart from the PEP node. While the PEP node is empty, those are
read instead (slixmpp's xep_0048 stanza through its xep_0049 plugin; its xep_0048
plugin is not loaded, which would subscribe us to legacy PEP bookmarks), autojoin
included; the user's next change writes them all to XEP-0402 with the change, and
from then on the PEP node is what is read. Private storage is left as it was
(older clients keep theirs). With mod_bookmarks, Prosody converts both ways itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0048.stanza import Bookmarks as LegacyBookmarks
from slixmpp.plugins.xep_0402.stanza import NS as NS_BOOKMARKS
from slixmpp.plugins.xep_0402.stanza import Conference
from slixmpp.plugins.xep_0410 import PingStatus

from .core import IQ_TIMEOUT, Occupant, XmppError
from .rooms import Rooms
from .stanzas import bare, q

log = logging.getLogger(__name__)

# XEP-0402 §3: the node's publish options (max items: every bookmark is kept).
NODE_PROFILE = {
    "pubsub#persist_items": "true",
    "pubsub#max_items": "max",
    "pubsub#send_last_published_item": "never",
    "pubsub#access_model": "whitelist",
}
SELF_PING_INTERVAL = 300.0  # seconds of silence in a room before asking it about us
SELF_PING_TIMEOUT = 30.0


@dataclass(frozen=True)
class Bookmark:
    room: str
    name: str = ""
    nick: str = ""
    autojoin: bool = False
    password: str = ""


def _bookmark(item: Any) -> Bookmark | None:
    """One PEP item as a bookmark; None for an item that is not one (remote input)."""
    room = bare(item.xml.get("id") or "")
    conference = item.xml.find(q(NS_BOOKMARKS, "conference"))
    if not room or "@" not in room or conference is None:
        return None
    autojoin = (conference.get("autojoin") or "").lower() in ("1", "true")
    return Bookmark(room, conference.get("name") or "",
                    (conference.findtext(q(NS_BOOKMARKS, "nick")) or "").strip(),
                    autojoin, conference.findtext(q(NS_BOOKMARKS, "password")) or "")


class Bookmarks(Rooms):
    """Bookmarks shared with the user's other clients, and self-ping of joined rooms."""

    self_ping_interval: float = SELF_PING_INTERVAL

    def _wire_handlers(self) -> None:
        super()._wire_handlers()
        s = self.session
        s.plugin["xep_0223"].node_profiles[NS_BOOKMARKS] = NODE_PROFILE
        # "+notify" in our capabilities: the server pushes our bookmarks' changes.
        # Said at each bind: slixmpp keeps disco features per JID, and a resource
        # the server picks is not known before (said earlier, it is lost).
        s.add_event_handler("session_bind", self._bookmarks_interest)
        s.add_event_handler("pubsub_publish", self._guard(self._on_bookmark_published))
        s.add_event_handler("muc_ping_changed", self._guard(self._on_ping_changed))
        s.plugin["xep_0049"].register(LegacyBookmarks)
        self._bookmarks: dict[str, Bookmark] = {}
        # Read from private storage (XEP-0049) while the PEP node is empty; written
        # to XEP-0402 at the user's next change.
        self._legacy: dict[str, Bookmark] = {}

    def _bookmarks_interest(self, _jid: object) -> None:
        self.session.plugin["xep_0163"].add_interest(NS_BOOKMARKS)

    # -- bookmarks -----------------------------------------------------------
    async def bookmarks(self) -> list[Bookmark]:
        """The user's bookmarks, as the server holds them now."""
        try:
            result = await self.session.plugin["xep_0223"].retrieve(
                NS_BOOKMARKS, timeout=IQ_TIMEOUT)
        except IqError as exc:
            if exc.condition == "item-not-found":  # never published: none yet
                return await self._legacy_bookmarks()
            raise XmppError(f"the server would not give the bookmarks: {exc.condition}") \
                from None
        except IqTimeout:
            raise XmppError("the server did not answer for the bookmarks") from None
        found = [b for b in (_bookmark(i) for i in result["pubsub"]["items"]["substanzas"]) if b]
        if not found:
            return await self._legacy_bookmarks()
        self._legacy = {}
        self._bookmarks = {b.room: b for b in found}
        self._name_rooms(found)
        return sorted(found, key=lambda b: b.room)

    def _name_rooms(self, marks: list[Bookmark]) -> None:
        """A bookmark's name names its room's conversation (the user chose it)."""
        for mark in marks:
            if mark.name:
                self.state.name_room(mark.room, mark.name)

    async def _legacy_bookmarks(self) -> list[Bookmark]:
        """The XEP-0048 bookmarks in private storage (XEP-0049); none when the
        server has no private storage or nothing there."""
        try:
            result = await self.session.plugin["xep_0049"].retrieve(
                "bookmarks", timeout=IQ_TIMEOUT)
            conferences = result["private"]["bookmarks"]["conferences"]
        except (IqError, IqTimeout):
            conferences = []
        found = []
        for conf in conferences:
            room = bare(conf.xml.get("jid") or "")
            if "@" in room:  # remote input: a room address or nothing
                found.append(Bookmark(room, conf["name"] or "", (conf["nick"] or "").strip(),
                                      bool(conf["autojoin"]), conf["password"] or ""))
        self._legacy = {b.room: b for b in found}
        self._bookmarks = dict(self._legacy)
        self._name_rooms(found)
        return sorted(found, key=lambda b: b.room)

    async def _migrate_legacy(self, changed: str) -> None:
        """Before the user's first change: the legacy bookmarks into XEP-0402, so
        that the PEP node, read from now on, loses none of them."""
        legacy, self._legacy = self._legacy, {}
        for mark in legacy.values():
            if mark.room != changed:
                await self._store(mark.room, name=mark.name, nick=mark.nick,
                                  autojoin=mark.autojoin, password=mark.password)

    def known_bookmarks(self) -> list[str]:
        """The bookmarked rooms as last read or pushed (no server round trip)."""
        return sorted(self._bookmarks)

    async def bookmark(self, room: str, *, name: str = "", nick: str = "",
                       autojoin: bool = True, password: str = "") -> Bookmark:
        """Add or change the bookmark of a room (one item per room, its id the JID)."""
        room = bare(room)
        if self._legacy:
            await self._migrate_legacy(room)
        return await self._store(room, name=name, nick=nick, autojoin=autojoin,
                                 password=password)

    async def _store(self, room: str, *, name: str, nick: str, autojoin: bool,
                     password: str) -> Bookmark:
        conference = Conference()
        if name:
            conference["name"] = name
        conference["autojoin"] = autojoin
        if nick:
            conference["nick"] = nick
        if password:
            conference["password"] = password
        try:
            await self.session.plugin["xep_0223"].store(
                conference, node=NS_BOOKMARKS, id=room, timeout=IQ_TIMEOUT)
        except IqError as exc:
            raise XmppError(f"the server refused the bookmark: {exc.condition}") from None
        except IqTimeout:
            raise XmppError("the server did not answer the bookmark") from None
        mark = Bookmark(room, name, nick, autojoin, password)
        self._bookmarks[room] = mark
        self._name_rooms([mark])
        return mark

    async def unbookmark(self, room: str) -> None:
        """Remove a room's bookmark (the room itself is not left)."""
        room = bare(room)
        if self._legacy:
            await self._migrate_legacy(room)
        try:
            await self.session.plugin["xep_0060"].retract(
                None, NS_BOOKMARKS, room, notify=True, timeout=IQ_TIMEOUT)
        except IqError as exc:
            if exc.condition != "item-not-found":
                raise XmppError(f"the server refused to remove the bookmark: "
                                f"{exc.condition}") from None
        except IqTimeout:
            raise XmppError("the server did not answer the bookmark's removal") from None
        self._bookmarks.pop(room, None)

    def _on_bookmark_published(self, msg: Any) -> None:
        """Another client of ours bookmarked a room with autojoin: join it too."""
        if bare(msg.xml.get("from") or self.own) != self.own:
            return
        items = msg["pubsub_event"]["items"]
        if items["node"] != NS_BOOKMARKS:
            return
        for item in items["substanzas"]:
            mark = _bookmark(item)
            if mark is None:
                continue
            self._bookmarks[mark.room] = mark
            self._name_rooms([mark])
            if mark.autojoin and mark.room not in self._joined_rooms() \
                    and mark.room not in self._rooms:
                self._spawn(self._join_bookmarked(mark))

    async def _join_bookmarked(self, mark: Bookmark) -> None:
        try:
            await self.join_room(mark.room, mark.nick or None, mark.password or None,
                                 bookmark=False)
        except XmppError as exc:
            log.warning("%s: joining bookmarked %s failed: %s", self.name, mark.room, exc)

    async def _autojoin_bookmarks(self) -> None:
        """At login: join every room bookmarked with autojoin that we are not in."""
        for mark in await self.bookmarks():
            if mark.autojoin and mark.room not in self._joined_rooms():
                await self._join_bookmarked(mark)

    # -- joining and leaving keep the bookmark and the self-ping ------------------
    async def join_room(self, room: str, nick: str | None = None, password: str | None = None,
                        timeout: float = 20.0, *, bookmark: bool = True) -> list[Occupant]:
        occupants = await super().join_room(room, nick, password, timeout)
        room = bare(room)
        state = self._rooms.get(room)
        if state is not None:
            self.session.plugin["xep_0410"].enable_self_ping(
                JID(f"{room}/{state.nick}"), interval=self.self_ping_interval,
                timeout=SELF_PING_TIMEOUT)
        known = self._bookmarks.get(room)
        if bookmark and (known is None or not known.autojoin):
            try:
                await self.bookmark(room, name=known.name if known else "",
                                    nick=state.nick if state else nick or "",
                                    password=password or "")
            except XmppError as exc:  # the room is joined all the same
                log.warning("%s: bookmarking %s failed: %s", self.name, room, exc)
        return occupants

    async def leave_room(self, room: str) -> None:
        room = bare(room)
        state = self._rooms.get(room)
        if state is not None:
            self.session.plugin["xep_0410"].disable_self_ping(JID(f"{room}/{state.nick}"))
        await super().leave_room(room)
        known = self._bookmarks.get(room)
        if known is not None and known.autojoin:
            try:
                await self.bookmark(room, name=known.name, nick=known.nick, autojoin=False,
                                    password=known.password)
            except XmppError as exc:
                log.warning("%s: clearing autojoin of %s failed: %s", self.name, room, exc)

    async def change_nick(self, room: str, nick: str, timeout: float = 10.0) -> str:
        room = bare(room)
        state = self._rooms.get(room)
        before = state.nick if state is not None else ""
        given = await super().change_nick(room, nick, timeout)
        if before and given != before:
            # The self-ping asks for us by our nick: it follows the new one.
            self.session.plugin["xep_0410"].update_nick(JID(f"{room}/{before}"),
                                                        JID(f"{room}/{given}"))
        return given

    def _stop_self_pings(self) -> None:
        plugin = self.session.plugin["xep_0410"]
        for muc_resource, orig in list(plugin.ping_timers):
            plugin.disable_self_ping(muc_resource, orig)

    def _on_ping_changed(self, change: dict[str, Any]) -> None:
        """The self-ping found we are no longer in a room we think we are in."""
        if change["result"] is not PingStatus.DISCONNECTED:
            return
        muc_resource: JID = change["key"][0]
        room = bare(str(muc_resource))
        state = self._rooms.get(room)
        if state is None or room not in self.state.rooms:
            return
        log.info("%s: %s no longer knows us; joining again", self.name, room)
        self.session.plugin["xep_0410"].disable_self_ping(muc_resource)
        state.joined = None
        self._spawn(self._join_bookmarked(Bookmark(room, nick=state.nick, autojoin=True)))
