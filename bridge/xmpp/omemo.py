"""OMEMO for chat (XEP-0384), 1:1 and in members-only non-anonymous rooms,
through slixmpp-omemo: one more layer of the client, the last below `client.py`:

    ... -> bookmarks -> avatars -> omemo -> client

It sits on top rather than beside delivery and inbound because it wraps both:
a line that must be encrypted leaves through `_transmit` sealed (never in clear:
if it cannot be sealed it fails, saying who and why), and every stored line
passes `_ingest`, where an OMEMO one is opened first (live, carbons and the
archive alike). All cryptography is python-omemo's (twomemo and oldmemo, under
slixmpp-omemo's plugin, `omemo_stack.py`, loaded at its first need behind
`omemo_plugin.py`); this layer decides only which line goes sealed and what a
line that cannot be opened says. With OMEMO off (`[crypto] omemo = false`) no
plugin is loaded; an OMEMO line that comes is labelled, never shown as its
fallback text.

A room line is sealed for every member's devices, and only in a room where
that means something (members-only, non-anonymous): which rooms, for whom and
who sent a sealed room line is `omemo_rooms.py`.

What slixmpp-omemo 2.2 (the latest release) does not do, and so we do not
either: twomemo (OMEMO 2) messages are read but cannot be opened (its
`decrypt_message` raises NotImplementedError for SCE envelopes, and
`encrypt_message` prepares no SCE plaintext), so lines go out with oldmemo,
which every OMEMO client reads. Files go sealed too (XEP-0454 `aesgcm://`):
`omemo_files.py`. The keys' lock, what an OMEMO message is and the library's
refusals in words: `omemo_words.py`; devices and trust (`keys`): `omemo_keys.py`.

An empty OMEMO message (key material, no payload: a key exchange completed, a
session kept fresh) is never a line: the holder of the keys opens it for its
keys and stores nothing, a process without them stores nothing either. A line
a process without the keys stored unopened (from the archive) is opened by the
holder when it reads it (live or from the archive) and the row gets its text.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from dataclasses import dataclass
from typing import IO, Any
from xml.etree import ElementTree as ET

from slixmpp import JID
from slixmpp.stanza import Message as MessageStanza

from ..crypto.status import (
    OMEMO,
    UNREADABLE,
    CryptoStatus,
)
from ..errors import EncryptionRefused
from ..events import MessageChanged
from ..model import Attachment, DeliveryState, Direction, Message
from . import omemo_files, omemo_rooms
from .archive import BULK_PAGE, ArchiveResult
from .avatars import Avatars
from .core import Reply, XmppError, _Pending
from .omemo_keys import OmemoKeys
from .omemo_words import (
    HELD_ELSEWHERE,
    NS_OLDMEMO,
    NS_TWOMEMO,
    left_for_holder,
    omemo_element,
    omemo_empty,
    refusal,
    unreadable_reason,
)
from .omemo_words import hold as _hold
from .stanzas import NS_CLIENT, bare, q
from .state import ArchiveMark

log = logging.getLogger(__name__)

# What a sealed stanza carries in clear besides the ciphertext: what delivery
# needs (receipts, markers, chat state, ids, thread) and a reply's reference.
# The body (with a reply's quote), links and everything else go inside or not at all.
_CLEAR = {q("urn:xmpp:sid:0", "origin-id"), q(NS_CLIENT, "thread"),
          q("urn:xmpp:receipts", "request"), q("urn:xmpp:chat-markers:0", "markable"),
          q("http://jabber.org/protocol/chatstates", "active"), q("urn:xmpp:reply:0", "reply"),
          q("urn:xmpp:fallback:0", "fallback"),
          # Which line a correction replaces (XEP-0308), as OMEMO clients send it.
          q("urn:xmpp:message-correct:0", "replace")}


@dataclass(frozen=True)
class _Arrival:
    xml: ET.Element
    source: str
    archive: str | None
    archive_id: str | None
    archive_stamp: float | None
    # A room line's sender, by their real JID ("" when the room did not say):
    # the library opens it as if it came from them.
    sender: str | None = None


class Omemo(OmemoKeys, Avatars):
    """OMEMO-sealed lines out, opened lines in (see the module doc)."""

    def __init__(self, *args: Any, omemo: bool = False, **kwargs: Any) -> None:
        # Before the layers below wire their handlers (they call _wire_handlers).
        self.omemo_on = omemo
        super().__init__(*args, **kwargs)

    def _wire_handlers(self) -> None:
        super()._wire_handlers()
        self._sealed: set[str] = set()  # msg_ids of lines that go OMEMO-encrypted
        self._opening: set[asyncio.Task[None]] = set()  # OMEMO lines being opened
        # One line at a time: the order lines are written in is the order they
        # are sealed and sent, and the order arrivals are opened and stored.
        self._omemo_lock = asyncio.Lock()
        self.omemo_off = "" if self.omemo_on else "OMEMO is off here ([crypto] omemo = false)"
        self._keys_held: IO[bytes] | None = None
        self._held_elsewhere = False  # another process of ours holds the keys
        # Without the keys: archived lines left unopened, and the archives' marks
        # kept before the first of them (`_ingest_results`).
        self._left_unopened: set[str] = set()
        self._held_back: dict[str, ArchiveMark | None] = {}
        if not self.omemo_on:
            return
        path = self.state.path.with_name(self.state.path.stem + ".omemo.json")
        self._keys_held = _hold(path.with_suffix(".lock"))
        if self._keys_held is None:
            # One device, one ratchet state: two processes sharing the keys would
            # each advance it and break every session. The first one keeps them.
            self.omemo_on = False
            self._held_elsewhere = True
            self.omemo_off = f"{HELD_ELSEWHERE}; send encrypted lines from there"
            return
        from . import omemo_plugin  # ours, without python-omemo: it loads it on demand

        self.session.register_plugin("xep_0380")  # says "OMEMO" to clients without it
        self.session.register_plugin(
            omemo_plugin.OmemoStandby.name,
            {"path": str(path), "on_blind_trust": self._on_blind_trust})

    def _omemo_release(self) -> None:
        """Let another process of ours take the keys (this client stopped)."""
        if self._keys_held is not None:
            self._keys_held.close()
            self._keys_held = None

    async def _omemo_stack(self, why: str) -> Any:
        """slixmpp-omemo's plugin, loaded now if this is the first need of it
        (`omemo_plugin.OmemoStandby`; `why`: what needs it)."""
        registry: Any = self.session.plugin  # slixmpp types it with its own plugins only
        return await registry["tuiclient_omemo_standby"].stack(why)

    @property
    def omemo_loaded(self) -> str:
        """What loaded python-omemo's stack for this account ("" while it is not)."""
        registry: Any = self.session.plugin
        standby = registry.get("tuiclient_omemo_standby", None)
        return standby.why_loaded if standby is not None else ""

    def _on_blind_trust(self, device: Any) -> None:
        log.info("%s: OMEMO device %s of %s trusted blindly (not verified)",
                 self.name, device.device_id, device.bare_jid)

    # -- sending -----------------------------------------------------------------------

    def send_chat(self, to: str, text: str, thread_id: str | None = None,
                  msg_id: str | None = None, *, reply: Reply | None = None,
                  reply_to_line: str | None = None, encrypt: bool = False) -> Message:
        """As Delivery.send_chat; `encrypt`: the line goes OMEMO-encrypted or not at
        all (it fails, saying who has no device, and is never sent in clear)."""
        msg_id = self._to_seal(msg_id) if encrypt else msg_id
        message = super().send_chat(to, text, thread_id, msg_id, reply=reply,
                                    reply_to_line=reply_to_line)
        return self._sealed_line(message) if encrypt else message

    def send_room(self, room: str, text: str, thread_id: str | None = None,
                  msg_id: str | None = None, *, reply: Reply | None = None,
                  reply_to_line: str | None = None, encrypt: bool = False) -> Message:
        """As Delivery.send_room; `encrypt`: the line goes OMEMO-encrypted for
        every member of the room or not at all (see `omemo_rooms`)."""
        msg_id = self._to_seal(msg_id) if encrypt else msg_id
        message = super().send_room(room, text, thread_id, msg_id, reply=reply,
                                    reply_to_line=reply_to_line)
        return self._sealed_line(message) if encrypt else message

    def _to_seal(self, msg_id: str | None) -> str:
        """The id of a line about to go sealed, marked so `_transmit` seals it."""
        from ..model import new_message_id

        msg_id = msg_id or new_message_id(self.domain)
        self._sealed.add(msg_id)
        return msg_id

    def _sealed_line(self, message: Message) -> Message:
        """A line that went sealed keeps its protection in the store (it cannot
        be opened again later)."""
        if message.id is not None:
            message.crypto = CryptoStatus(encrypted=True, decrypted=True, scheme=OMEMO)
            self.store.set_crypto(message.id, message.crypto)
        return message

    async def send_file(self, to: str, data: bytes, filename: str,
                        content_type: str = "application/octet-stream", *,
                        thread_id: str | None = None, msg_id: str | None = None,
                        encrypt: bool = False) -> Message:
        """As Files.send_file; `encrypt`: the file goes sealed (XEP-0454, see
        omemo_files) in an OMEMO-sealed line, or not at all."""
        if not encrypt:
            return await super().send_file(to, data, filename, content_type,
                                           thread_id=thread_id, msg_id=msg_id)
        from ..model import new_message_id
        from ..safe import safe_basename
        from .upload import aesgcm_link, seal_file

        to = bare(to)
        if not self.omemo_on:
            raise EncryptionRefused(f"not sent: the file to {to} must be encrypted, and "
                                    f"{self.omemo_off}", [to])
        payload, fragment = seal_file(data)
        link = aesgcm_link(await self.upload(payload, omemo_files.upload_name(filename),
                                             "application/octet-stream"), fragment)
        attachment = Attachment(safe_basename(filename), content_type, len(data),
                                sha256=self.store.store_blob(data), url=link)
        msg_id = msg_id or new_message_id(self.domain)
        self._sealed.add(msg_id)
        message = self._send(to, link, "groupchat" if to in self._rooms else "chat",
                             thread_id, msg_id, [attachment])
        if message.id is not None:
            message.crypto = CryptoStatus(encrypted=True, decrypted=True, scheme=OMEMO)
            self.store.set_crypto(message.id, message.crypto)
        return message

    def correct(self, row_id: int, text: str) -> Message:
        """As Edits.correct, refused for a line that went OMEMO-encrypted: its
        correction (XEP-0308) must go sealed, which `correct_sealed` does."""
        if self.sealed_line(row_id):
            raise XmppError("an encrypted line cannot be corrected in clear (the "
                            "correction would carry its new text): it goes sealed "
                            "(correct_sealed)")
        return super().correct(row_id, text)

    def sealed_line(self, row_id: int) -> bool:
        """Whether a line went (or came) OMEMO-encrypted."""
        m = self.store.get_message(row_id)
        return m is not None and m.crypto is not None and m.crypto.omemo

    async def correct_sealed(self, row_id: int, text: str) -> Message:
        """Correct our OMEMO-encrypted line: the correction goes sealed like the
        line (for the same contact or room members), with only the reference to
        the line it replaces in clear; if it cannot be sealed it is refused
        (EncryptionRefused, saying why) and the line stays as it was."""
        async with self._omemo_lock:
            stanza, new_id = self._correction(row_id, text)
            to = bare(str(stanza["to"]))
            peers = await self._room_members(to) if stanza["type"] == "groupchat" else [to]
            sealed = await self._seal(stanza, peers, to)
            if not self.connected:
                raise XmppError("not connected: the correction was not sent")
            sealed.send()
            return self._corrected(row_id, text, new_id)

    def _transmit(self, pending: _Pending) -> None:
        if pending.message.msg_id not in self._sealed:
            super()._transmit(pending)
            return
        self._spawn(self._transmit_sealed(pending))

    async def _transmit_sealed(self, pending: _Pending) -> None:
        msg_id = pending.message.msg_id
        async with self._omemo_lock:
            if self._pending.get(msg_id) is not pending:
                return  # settled (or replaced by a newer send) meanwhile
            try:
                stanza = self._outgoing_stanza(pending)
                if pending.mtype == "groupchat":
                    sealed = await self._seal(stanza, await self._room_members(pending.to),
                                              bare(pending.to))
                else:
                    sealed = await self._seal(stanza, [bare(pending.to)], bare(pending.to))
            except EncryptionRefused as exc:
                self._pending.pop(msg_id, None)
                self._advance(msg_id, DeliveryState.FAILED, str(exc))
                return
            if self.connected:
                self._put_on_wire(pending, sealed)

    async def _seal(self, stanza: Any, peers: list[str], peer: str) -> Any:
        """`stanza` OMEMO-encrypted for every trusted device of `peers` (and our
        own other devices), with only what delivery needs left in clear. `peer`:
        who the line is to, as a refusal names it (a contact, or a room)."""
        if not self.omemo_on:
            raise EncryptionRefused(f"not sent: the line to {peer} must be encrypted, and "
                                    f"{self.omemo_off}", [peer])
        if not peers:
            raise EncryptionRefused(f"not sent: {peer} has no member to encrypt for", [peer])
        try:
            omemo = await self._omemo_stack(f"a line to {peer} goes sealed")
        except Exception as exc:
            raise EncryptionRefused(f"not sent: OMEMO could not start for {peer}: "
                                    f"{exc or type(exc).__name__}", [peer]) from exc
        from omemo.session_manager import SessionManagerException

        try:
            manager = await omemo.get_session_manager()
            unknown = [p for p in peers if not await manager.get_device_information(p)]
            if unknown:
                # Nothing known of them yet (their list came before we were
                # listening, or never as a notification): ask the server.
                await omemo.refresh_device_lists({JID(p) for p in unknown},
                                                       force_download=True)
            sealed, errors = await omemo.encrypt_message(stanza,
                                                               {JID(p) for p in peers})
        except SessionManagerException as exc:
            who = sorted(getattr(exc, "bare_jids", None) or []) or peers
            raise EncryptionRefused(refusal(", ".join(who), exc), who) from exc
        except Exception as exc:  # the server refused a bundle, a timeout: in words
            raise EncryptionRefused(f"not sent: encrypting for {peer} failed: "
                                    f"{exc or type(exc).__name__}", [peer]) from exc
        if sealed is None:
            raise EncryptionRefused(f"not sent: nothing to encrypt for {peer}", [peer])
        for error in errors:
            log.info("%s: OMEMO: a device left out: %s", self.name, error)
        for child in stanza.xml:
            if child.tag in _CLEAR:
                sealed.xml.append(copy.deepcopy(child))
        sealed["eme"]["namespace"] = NS_OLDMEMO
        sealed["eme"]["name"] = "OMEMO"
        return sealed

    async def _room_members(self, room: str) -> list[str]:
        """Whom a line in `room` is sealed for (omemo_rooms.members), refusing
        (EncryptionRefused, saying why) in a room where sealing means nothing."""
        room = bare(room)
        if not self.omemo_on:
            raise EncryptionRefused(f"not sent: the line to {room} must be encrypted, and "
                                    f"{self.omemo_off}", [room])
        try:
            features = await omemo_rooms.room_features(self.session, room)
        except Exception as exc:
            raise EncryptionRefused(f"not sent: what kind of room {room} is could not be "
                                    f"read: {exc or type(exc).__name__}", [room]) from exc
        why = omemo_rooms.refusal(room, features)
        if why:
            raise EncryptionRefused(why, [room])
        state = self._rooms.get(room)
        occupants = [o.jid or "" for o in state.occupants.values()] if state else []
        return await omemo_rooms.members(self.session, room, occupants, self.own)

    async def omemo_ready_room(self, room: str) -> None:
        """Refuse (EncryptionRefused, naming who and why) unless a line in `room`
        can be OMEMO-encrypted now: a members-only non-anonymous room whose every
        member has a device we may encrypt for."""
        room = bare(room)
        refused: list[tuple[str, EncryptionRefused]] = []
        for member in await self._room_members(room):
            try:
                await self.omemo_ready(member)
            except EncryptionRefused as exc:
                refused.append((member, exc))
        if refused:
            # The members' reasons; what to do (the first one's hint, as data) each
            # front end says in its own words (bridge.errors.Hint).
            raise EncryptionRefused(
                f"not sent: {room} is encrypted for every member, and "
                + "; ".join(exc.reason.removeprefix("not sent: ") for _who, exc in refused),
                [who for who, _exc in refused],
                hint=next((exc.hint for _who, exc in refused if exc.hint), None))

    # -- receiving ---------------------------------------------------------------------

    def _on_message(self, stanza: Any) -> None:
        """As Inbound's, and an OMEMO message without a body (an empty one: key
        material only) goes to `_ingest` too, as slixmpp-omemo's clients hand
        every encrypted message to the library: the holder opens it for its
        keys (a key exchange completed), and `_open` stores no line of it."""
        xml: ET.Element = stanza.xml
        if omemo_element(xml) is not None and xml.find(q(NS_CLIENT, "body")) is None \
                and (xml.get("type") or "") != "error" and self._plain(stanza):
            self._ingest(xml, "live")
            return
        super()._on_message(stanza)

    def _ingest(self, xml: ET.Element, source: str, archive: str | None = None,
                archive_id: str | None = None, archive_stamp: float | None = None,
                crypto: CryptoStatus | None = None) -> bool:
        if crypto is None and omemo_element(xml) is not None:
            if self._already_stored(xml, archive_id):
                return False  # our own line coming back, or one we opened before
            sender = None
            if (xml.get("type") or "chat") == "groupchat":
                room = archive if archive and archive != self.own else bare(xml.get("from") or "")
                state = self._rooms.get(room)
                sender = omemo_rooms.sender(
                    xml, {o.nick: o.jid for o in state.occupants.values()} if state else {},
                    trusted_archive=archive == room) or ""
            task = asyncio.ensure_future(
                self._open(_Arrival(xml, source, archive, archive_id, archive_stamp, sender)))
            self._tasks.add(task)
            self._opening.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(self._opening.discard)
            return False
        return super()._ingest(xml, source, archive, archive_id, archive_stamp, crypto)

    async def _catch_up(self, room: str | None) -> int:
        """The archive's catch-up, done only when its OMEMO lines are opened and
        stored too (a command that stops right after must not lose them)."""
        stored = await super()._catch_up(room)
        await self._all_opened()
        return stored

    async def fetch_history(self, jid: str, limit: int = BULK_PAGE,
                            before: str | None = "") -> tuple[int, str | None]:
        done = await super().fetch_history(jid, limit, before)
        await self._all_opened()
        return done

    async def _all_opened(self) -> None:
        while self._opening:
            await asyncio.gather(*list(self._opening), return_exceptions=True)

    def _already_stored(self, xml: ET.Element, archive_id: str | None) -> bool:
        """A line is opened once: the ratchet's key for it is spent after that.
        A line another process of ours stored unopened (it did not hold the
        keys) is opened here, where they are held; here without them, an
        archived line left for the holder is noted (`_ingest_results`)."""
        row = self._stored(xml, archive_id)
        waiting = row is not None and left_for_holder(row)
        if self._held_elsewhere and archive_id and (row is None or waiting) \
                and not omemo_empty(xml):
            self._left_unopened.add(archive_id)
        return row is not None and not (self.omemo_on and waiting)

    def _ingest_results(self, archive: str, results: list[ArchiveResult],
                        source: str) -> int:
        """As Archive's; a process without the keys leaves the archive's mark
        before the first sealed line it could not open, so the holder's next
        catch-up (the app's or `serve`'s, even after a restart) reads it again
        and opens it. The lines after it are read again too, and found stored."""
        before = self.state.archives.get(archive)
        stored = super()._ingest_results(archive, results, source)
        if not self._held_elsewhere:
            return stored
        if archive not in self._held_back:
            for i, (archive_id, _stamp, _inner) in enumerate(results):
                if archive_id in self._left_unopened:
                    prior = results[i - 1] if i else None
                    self._held_back[archive] = before if prior is None else \
                        ArchiveMark(prior[0], prior[1] or time.time())
                    break
        if archive in self._held_back:
            mark = self._held_back[archive]
            if mark is None:
                self.state.archives.pop(archive, None)
            else:
                self.state.archives[archive] = mark
            self.state.save()
        return stored

    def _stored(self, xml: ET.Element, archive_id: str | None) -> Message | None:
        """The row of a line, found by its origin-id or its server's stanza-id."""
        origin = xml.find(q("urn:xmpp:sid:0", "origin-id"))
        origin_id = origin.get("id") if origin is not None else None
        found = self.store.find_by_msg_id(self.name, origin_id) if origin_id else None
        if found is not None:
            return found
        by = {self.own, bare(xml.get("from") or "")} \
            if xml.get("type") == "groupchat" else {self.own}
        ids = [archive_id] + [e.get("id") for e in xml.findall(q("urn:xmpp:sid:0", "stanza-id"))
                              if e.get("by") in by]
        return next((rows[0] for i in ids if i
                     for rows in [self.store.lookup("stanza_id", i, self.name)] if rows), None)

    async def _open(self, arrival: _Arrival) -> None:
        async with self._omemo_lock:
            # The keys' holder opens an empty message too: its key material
            # completes a key exchange or moves the ratchet on.
            opened, status = await self._decrypt(arrival.xml, arrival.sender)
            if omemo_empty(arrival.xml):
                return  # no line, whoever reads it (see omemo_empty)
            try:
                row = self._stored(arrival.xml, arrival.archive_id)
                if self.omemo_on and row is not None and row.id is not None \
                        and left_for_holder(row):
                    self._opened_here(row, opened, status)
                    new = status.decrypted
                else:
                    new = super()._ingest(opened, arrival.source, arrival.archive,
                                          arrival.archive_id, arrival.archive_stamp, status)
                if new and status.decrypted:
                    self._sealed_file(opened, arrival)
            except Exception:
                log.exception("%s: could not store an OMEMO line", self.name)

    def _opened_here(self, row: Message, opened: ET.Element, status: CryptoStatus) -> None:
        """A line another process of ours stored unopened (it did not hold the
        keys) gets its text here, or the reason it cannot be read here either."""
        assert row.id is not None
        if status.decrypted:
            body = opened.find(q(NS_CLIENT, "body"))
            self.store.set_body(row.id, body.text or "" if body is not None else "")
        self.store.set_crypto(row.id, status)
        self._publish(MessageChanged(self.name, row.id, row.msg_id, row.thread_id, "opened",
                                     row.sender.address))

    def _sealed_file(self, opened: ET.Element, arrival: _Arrival) -> None:
        """A stored line that is one aesgcm link is a file (omemo_files): its row
        gets the link as its attachment, fetched as a contact's files are."""
        body = opened.find(q(NS_CLIENT, "body"))
        attachment = omemo_files.received(body.text or "" if body is not None else "")
        row = self._stored(opened, arrival.archive_id) if attachment is not None else None
        if attachment is None or row is None or row.id is None or row.attachments:
            return
        self.store.set_body(row.id, row.text, [attachment])
        if row.direction is Direction.IN and row.recipients and \
                row.recipients[0].address == self.own and self.auto_download_limit > 0 \
                and self._subscribed(bare(row.sender.address)):
            self._spawn(self._auto_download(row.id))

    async def _decrypt(self, xml: ET.Element, sender: str | None = None
                       ) -> tuple[ET.Element, CryptoStatus]:
        """The line's stanza with its text opened, or labelled when it cannot be.
        `sender`: a room line's sender by their real JID ("": not known)."""
        why = f"{HELD_ELSEWHERE}, and it opens this line there" \
            if self._held_elsewhere else self.omemo_off
        if self.omemo_on and sender == "":
            why = "the room did not say who sent it (their address is hidden)"
        elif self.omemo_on:
            try:
                stanza = MessageStanza(stream=self.session, xml=copy.deepcopy(xml))
                if sender:
                    # As a line from them: the library would look the sender up
                    # in xep_0045's own room roster, which this client does not
                    # keep (rooms.py follows the presences itself).
                    stanza["type"] = "chat"
                    stanza["from"] = JID(sender)
                omemo = await self._omemo_stack("an OMEMO line came")
                opened, device = await omemo.decrypt_message(stanza)
                if sender:
                    body = opened["body"]
                    opened = MessageStanza(stream=self.session, xml=copy.deepcopy(xml))
                    for tag in (q(NS_TWOMEMO, "encrypted"), q(NS_OLDMEMO, "encrypted")):
                        for el in opened.xml.findall(tag):
                            opened.xml.remove(el)
                    opened["body"] = body
                if not (opened["body"] or "").strip():
                    why = "it holds no text (an OMEMO key exchange)"
                else:
                    manager = await omemo.get_session_manager()
                    return opened.xml, CryptoStatus(
                        encrypted=True, decrypted=True, scheme=OMEMO,
                        device=" ".join(manager.format_identity_key(device.identity_key)),
                        device_id=device.device_id,
                        trust=await self._blind_trust(manager, device))
            except NotImplementedError:
                why = "OMEMO 2 (urn:xmpp:omemo:2) is not readable here yet"
            except Exception as exc:
                why = unreadable_reason(exc)
                log.info("%s: an OMEMO line could not be opened: %r", self.name, exc)
        labelled = MessageStanza(stream=self.session, xml=copy.deepcopy(xml))
        for tag in (q(NS_TWOMEMO, "encrypted"), q(NS_OLDMEMO, "encrypted")):
            for el in labelled.xml.findall(tag):
                labelled.xml.remove(el)
        labelled["body"] = f"[{UNREADABLE}]"  # instead of the sender's fallback text
        return labelled.xml, CryptoStatus(encrypted=True, decrypted=False, scheme=OMEMO,
                                          error=why)
