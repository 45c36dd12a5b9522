"""Avatars: the user's own, published from a file, and contacts', fetched into a
cache of files named by their hash; through slixmpp's xep_0084 (User Avatar, in
PEP) and xep_0153 (vCard-based avatars, the fallback for clients without PEP).

Publishing puts the image in the PEP data node, then its metadata (id = the
SHA-1 of the bytes, type, size), then the vCard photo (xep_0153 then adds the
photo's hash to our presence). Contacts' avatars come as PEP notifications of
their metadata (our caps say "+notify"), or as a photo hash in their presence
(XEP-0153); either is fetched once per hash, checked against it, and kept as
`<cache>/<sha1>.<ext>`; which JID has which hash is in the account's XmppState.
Remote images are untrusted: only image types we name, a size limit, a name of
our own making, and the bytes must hash to the id they came under.

A terminal cannot draw them in general; the front ends mark who has one and
open it with the system's image viewer (as Profanity's `/avatar open` does).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0084.stanza import Data as AvatarData
from slixmpp.plugins.xep_0084.stanza import MetaData

from ..events import RosterChanged
from ..paths import data_dir
from .bookmarks import Bookmarks
from .core import IQ_TIMEOUT, XmppError
from .stanzas import bare, q

log = logging.getLogger(__name__)

# The image types we take and the file ending each is kept with (XEP-0084 §4.2:
# PNG is the one every client must support).
TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
         "image/webp": ".webp"}
MAX_AVATAR_BYTES = 1024 * 1024  # a contact's avatar bigger than this is not fetched
NS_METADATA = MetaData.namespace
NS_DATA = AvatarData.namespace
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def cache_dir(store_path: Path) -> Path:
    """Where avatar files are kept: `$XDG_CACHE_HOME/tuiclient/avatars` for the
    store in the default data directory; beside any other store (a test's, a
    second profile's), so each keeps to its own tree."""
    if store_path.parent == data_dir():
        base = os.environ.get("XDG_CACHE_HOME", "")
        root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
        return root / "tuiclient" / "avatars"
    return store_path.parent / "cache" / "avatars"


def image_type(data: bytes) -> str | None:
    """The type of an image file, from its first bytes (never from its name)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class Avatars(Bookmarks):
    """Our avatar published, and contacts' fetched and kept (see the module)."""

    def _wire_handlers(self) -> None:
        super()._wire_handlers()
        s = self.session
        self.avatar_dir = cache_dir(self.store.path)
        s.add_event_handler("avatar_metadata_publish", self._guard(self._on_avatar_metadata))
        s.add_event_handler("vcard_avatar_update", self._guard(self._on_vcard_avatar))
        # xep_0054 (xep_0153's base) answers vCard requests only as a component; a
        # client's would be left unanswered. Without its handler _Iq says
        # service-unavailable; our answers to our own requests come by their ids.
        s.remove_handler("VCardTemp")

    def _no_vcard_service(self) -> None:
        """We read and publish vCards; we serve none (xep_0054 announces it)."""
        self.session.plugin["xep_0030"].del_feature(feature="vcard-temp")

    # -- ours -----------------------------------------------------------------------

    async def set_avatar(self, data: bytes) -> str:
        """Publish `data` (a PNG, JPEG, GIF or WebP image) as our avatar: PEP
        (XEP-0084) first, then the vCard photo (XEP-0153) for older clients.
        Returns its id (the SHA-1 of the bytes)."""
        mtype = image_type(data)
        if mtype is None:
            raise XmppError("an avatar must be a PNG, JPEG, GIF or WebP image")
        if len(data) > MAX_AVATAR_BYTES:
            raise XmppError(f"the image is {len(data)} bytes; an avatar takes at most "
                            f"{MAX_AVATAR_BYTES} (make it smaller)")
        x84 = self.session.plugin["xep_0084"]
        avatar_id = x84.generate_id(data)
        await self._asked(x84.publish_avatar(data, timeout=IQ_TIMEOUT), None)
        await self._asked(x84.publish_avatar_metadata(
            {"id": avatar_id, "type": mtype, "bytes": len(data)}, timeout=IQ_TIMEOUT), None)
        try:
            await self._asked(self.session.plugin["xep_0153"].set_avatar(
                avatar=data, mtype=mtype, timeout=IQ_TIMEOUT), None)
        except XmppError as exc:  # PEP has it: the fallback is a courtesy
            log.warning("%s: the vCard photo (XEP-0153) was not published: %s",
                        self.name, exc)
        self._keep_avatar(self.own, avatar_id, mtype, data)
        return avatar_id

    # -- theirs ---------------------------------------------------------------------

    def avatar(self, jid: str) -> Path | None:
        """The cached avatar of a contact (or ours), if we have it."""
        known = self.state.avatars.get(bare(jid))
        if not known:
            return None
        path = self._avatar_file(known.get("id", ""), known.get("type", ""))
        return path if path is not None and path.is_file() else None

    async def fetch_avatar(self, jid: str) -> Path | None:
        """A contact's avatar, asked of the server now when not cached: their PEP
        metadata and data (XEP-0084), else their vCard's photo (XEP-0153). None
        when they have none (or we may not see it)."""
        jid = bare(jid)
        cached = self.avatar(jid)
        if cached is not None:
            return cached
        pubsub = self.session.plugin["xep_0060"]
        try:
            answer = await pubsub.get_items(JID(jid), NS_METADATA, max_items=1,
                                            timeout=IQ_TIMEOUT)
            for info in answer.xml.iter(q(NS_METADATA, "info")):
                if await self._fetch_pep(jid, info.get("id") or "", info.get("type") or "",
                                         info.get("bytes") or ""):
                    return self.avatar(jid)
        except (IqError, IqTimeout) as exc:
            log.info("%s: no PEP avatar from %s: %s", self.name, jid, exc)
        await self._fetch_vcard(jid, None)
        return self.avatar(jid)

    def _on_avatar_metadata(self, msg: Any) -> None:
        """A contact's (or our other client's) avatar changed (XEP-0084 §4.3):
        fetch the new one unless we hold it; empty metadata: none any more."""
        jid = bare(msg.xml.get("from") or "")
        if not jid:
            return
        infos = list(msg.xml.iter(q(NS_METADATA, "info")))
        if not infos and any(True for _ in msg.xml.iter(q(NS_METADATA, "metadata"))):
            if self.state.avatars.pop(jid, None) is not None:
                self.state.save()
                self._tell_avatar(jid)
            return
        for info in infos:
            avatar_id, mtype = info.get("id") or "", info.get("type") or ""
            if mtype in TYPES and _SHA1.match(avatar_id):
                self._spawn(self._fetch_pep(jid, avatar_id, mtype, info.get("bytes") or ""))
                return

    def _on_vcard_avatar(self, presence: Any) -> None:
        """A contact's presence names their vCard photo's hash (XEP-0153); used
        when they have no PEP avatar we know of."""
        jid = bare(presence.xml.get("from") or "")
        photo = (presence["vcard_temp_update"]["photo"] or "").lower()
        if not jid or jid == self.own or jid in self._rooms:
            return
        known = self.state.avatars.get(jid, {})
        if known.get("source") == "pep" or (photo and known.get("id") == photo):
            return
        if not photo:
            if known and self.state.avatars.pop(jid, None) is not None:
                self.state.save()
                self._tell_avatar(jid)
            return
        if _SHA1.match(photo):
            self._spawn(self._fetch_vcard(jid, photo))

    async def _fetch_pep(self, jid: str, avatar_id: str, mtype: str, size: str) -> bool:
        if mtype not in TYPES or not _SHA1.match(avatar_id):
            return False
        if size.isdigit() and int(size) > MAX_AVATAR_BYTES:
            log.info("%s: %s's avatar is %s bytes: not fetched", self.name, jid, size)
            return False
        if self._avatar_file(avatar_id, mtype) is not None and \
                (self._avatar_file(avatar_id, mtype) or Path()).is_file():
            self._remember(jid, avatar_id, mtype, "pep")
            return True
        try:
            answer = await self.session.plugin["xep_0084"].retrieve_avatar(
                JID(jid), avatar_id, timeout=IQ_TIMEOUT)
        except (IqError, IqTimeout) as exc:
            log.info("%s: %s's avatar could not be fetched: %s", self.name, jid, exc)
            return False
        data_el = answer.xml.find(f".//{q(NS_DATA, 'data')}")
        if data_el is None:
            return False
        data = AvatarData(data_el)["value"]
        return self._keep_avatar(jid, avatar_id, mtype, data, "pep")

    async def _fetch_vcard(self, jid: str, photo: str | None) -> bool:
        try:
            answer = await self.session.plugin["xep_0054"].get_vcard(
                JID(jid), cached=False, timeout=IQ_TIMEOUT)
            data = answer["vcard_temp"]["PHOTO"]["BINVAL"] or b""
        except (IqError, IqTimeout, ValueError) as exc:
            log.info("%s: no vCard photo from %s: %s", self.name, jid, exc)
            return False
        if not data:
            return False
        avatar_id = hashlib.sha1(data).hexdigest()
        if photo is not None and avatar_id != photo:
            log.info("%s: %s's vCard photo is not the one their presence named",
                     self.name, jid)
        mtype = image_type(data)
        if mtype is None:
            return False
        return self._keep_avatar(jid, avatar_id, mtype, data, "vcard")

    # -- the cache ------------------------------------------------------------------

    def _avatar_file(self, avatar_id: str, mtype: str) -> Path | None:
        if not _SHA1.match(avatar_id) or mtype not in TYPES:
            return None
        return self.avatar_dir / f"{avatar_id}{TYPES[mtype]}"

    def _keep_avatar(self, jid: str, avatar_id: str, mtype: str, data: bytes,
                     source: str = "pep") -> bool:
        """Write the image under its hash (checked), and note that it is `jid`'s."""
        if len(data) > MAX_AVATAR_BYTES or hashlib.sha1(data).hexdigest() != avatar_id \
                or image_type(data) != mtype:
            log.warning("%s: dropped an avatar from %s that is not what it claims",
                        self.name, jid)
            return False
        path = self._avatar_file(avatar_id, mtype)
        assert path is not None
        if not path.is_file():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        self._remember(jid, avatar_id, mtype, source)
        return True

    def _remember(self, jid: str, avatar_id: str, mtype: str, source: str) -> None:
        entry = {"id": avatar_id, "type": mtype, "source": source}
        if self.state.avatars.get(jid) != entry:
            self.state.avatars[jid] = entry
            self.state.save()
            self._tell_avatar(jid)

    def _tell_avatar(self, jid: str) -> None:
        """A contact's avatar is new or gone: their roster entry reads again."""
        roster = self.session.client_roster
        subscription = roster[jid]["subscription"] if roster.has_jid(jid) else "none"
        self._publish(RosterChanged(self.name, jid, subscription or "none"))


__all__ = ["MAX_AVATAR_BYTES", "TYPES", "Avatars", "cache_dir", "image_type"]
