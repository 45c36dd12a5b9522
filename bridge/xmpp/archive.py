"""The message archive (XEP-0313) through our `mam_pages` plugin: catching
up, older history, and the exactly-once check a new session makes before it
sends anything again (`_flush_new_session`: what the server holds never goes
twice).

Only results from the archive we asked count (`_archive_results`): ours from our
own server, a room's from the room; anything else naming an open query is
dropped and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from slixmpp import JID, InvalidJID
from slixmpp.stanza import Message as MessageStanza

from ..model import DeliveryState
from .core import IQ_TIMEOUT, MAM_PAGE, MAM_SEED, RESEND_TRIES, XmppError, _Pending
from .inbound import Inbound
from .plugins.mam_pages import Page
from .stanzas import bare, parse_stamp, resource
from .state import ArchiveMark

log = logging.getLogger(__name__)
# Pages of the archive read in bulk (catching up, paging back through history):
# as many as a server lets one query return (Prosody's `max_archive_query_results`
# goes to 250 in the harness, ejabberd's default is 250); a server with a lower cap
# answers with fewer and a `last` to go on from (XEP-0059), so asking more is safe
# and saves round trips. Each page is stored as one transaction (`Store.batch`).
BULK_PAGE = 250
# One archived message: its archive id, the archive's stamp, the message.
ArchiveResult = tuple[str, float | None, MessageStanza]


class Archive(Inbound):
    """The message archive: catch-up, history, what the server already holds."""

    async def _flush_new_session(self) -> None:
        """A new session (the stream could not be resumed: a restarted server, a
        long cut): what the last session left unconfirmed may or may not have
        reached the server. Ask our own archive (XEP-0313) which of those lines
        it holds: those went through and are never sent again. The rest:

        - never acked by the server, and not in its archive: it never got them;
          they go again (same id);
        - acked, but not in the archive (the server lost them, or keeps no
          archive): sent again only to a contact whose client answers receipts
          (so a copy is recognised and the receipt settles it), at most
          RESEND_TRIES times, and only within RESEND_WINDOW of the ack (older
          ones were forgotten before we got here).

        Lines written meanwhile wait behind these, so the order holds."""
        self._forget_old_acks()
        self._flushing = True
        try:
            held = await self._held_by_server([p for p in self._pending.values() if p.on_wire])
            for pending in list(self._pending.values()):
                msg_id = pending.message.msg_id
                if self._pending.get(msg_id) is not pending:
                    continue  # settled while we asked
                if pending.mtype == "groupchat" and pending.to not in self._joined_rooms():
                    continue  # sent when the room is joined again
                if pending.on_wire and held is not None and msg_id in held:
                    del self._pending[msg_id]
                    self._advance(msg_id, DeliveryState.SENT)
                    continue
                if pending.acked_at is not None:
                    if not self._presence.get(bare(pending.to)):
                        pending.waiting_for_peer = True  # see _on_presence
                        continue
                    if not await self._may_resend(pending):
                        continue
                self._transmit(pending)
        finally:
            self._flushing = False
        for pending in list(self._pending.values()):
            if not pending.on_wire and self.connected:
                self._transmit(pending)

    async def _may_resend(self, pending: _Pending) -> bool:
        """Whether a line the server acked, but does not hold, may go again: only
        to a contact whose client answers receipts, RESEND_TRIES times at most. A
        copy to anyone else could only arrive as a duplicate they cannot tell."""
        pending.waiting_for_peer = False
        if pending.resends >= RESEND_TRIES or not await self.answers_receipts(pending.to):
            self._pending.pop(pending.message.msg_id, None)
            return False
        pending.resends += 1
        pending.acked_at = None
        return True

    async def _resend_to(self, peer: str) -> None:
        """The contact came online: the lines that waited for them (see
        _flush_new_session) go again if their client answers receipts."""
        for pending in list(self._pending.values()):
            if pending.waiting_for_peer and bare(pending.to) == peer \
                    and await self._may_resend(pending) and self.connected:
                self._transmit(pending)

    async def _held_by_server(self, pendings: Iterable[_Pending]) -> set[str] | None:
        """Which of these lines of ours the server's archive holds (None: no answer)."""
        by_peer: dict[str, list[_Pending]] = {}
        for pending in pendings:
            by_peer.setdefault(pending.to, []).append(pending)
        held: set[str] = set()
        for peer, lines in by_peer.items():
            since = min(p.message.date for p in lines)
            found = await self.on_server(peer, {p.message.msg_id for p in lines}, since,
                                         room=any(p.mtype == "groupchat" for p in lines))
            if found is None:
                return None
            held |= found
        return held

    async def on_server(self, peer: str, msg_ids: Iterable[str], since: float, *,
                        room: bool = False) -> set[str] | None:
        """Which of our lines to `peer` with these ids (origin-id or stanza id),
        written since `since`, the server has in its archive: ours for a 1:1 chat,
        the room's for a room. None when the archive cannot be asked.

        Only results from the archive we asked (`_archive_results`), and only
        lines that our own account sent, count."""
        wanted = set(msg_ids)
        found: set[str] = set()
        archive = bare(peer) if room else self.own
        after: str | None = None
        try:
            for _page in range(50):
                results, complete, last = await self._mam_page(
                    archive, after=after, start=since - 300,
                    with_jid=None if room else bare(peer))
                for _archive_id, _stamp, inner in results:
                    sender = inner.xml.get("from") or ""
                    if room:
                        mine = self._rooms.get(archive)
                        if mine is None or resource(sender) != mine.nick:
                            continue
                    elif bare(sender) not in (self.own, ""):
                        continue
                    origin = inner.get_plugin("origin_id", check=True)
                    ids = {inner.xml.get("id") or "",
                           (origin.xml.get("id") or "") if origin is not None else ""}
                    found |= ids & wanted
                if complete or not results or last is None or found == wanted:
                    break
                after = last
        except (XmppError, OSError) as exc:
            log.info("%s: could not ask the archive about %d lines to %s: %s", self.name,
                     len(wanted), peer, exc)
            return None
        return found

    def _archive_results(self, archive: str, page: Page) -> list[ArchiveResult]:
        """The results of one page that come from the archive we asked (our own
        server for ours, the room for a room's), as (archive id, the archive's
        stamp, the archived message). Anyone can send a result naming an open
        query id; those are dropped and logged."""
        allowed = {archive} if archive != self.own else {self.own, ""}
        kept: list[ArchiveResult] = []
        for stanza in page.results:
            sender = stanza.xml.get("from") or ""
            if bare(sender) not in allowed or resource(sender):
                log.warning("%s: dropped an archive result from %s, not from %s",
                            self.name, sender or "(no sender)", archive)
                continue
            result = stanza["mam_result"]
            forwarded = result.get_plugin("forwarded", check=True)
            inner = forwarded["stanza"] if forwarded is not None else None
            archive_id = (result.xml.get("id") or "").strip()
            if not isinstance(inner, MessageStanza) or not archive_id:
                continue
            # Read raw: the delay interface raises on a stamp that is not a date.
            delay = forwarded.get_plugin("delay", check=True)
            stamp = parse_stamp(delay.xml.get("stamp") if delay is not None else None)
            kept.append((archive_id, stamp, inner))
        return kept

    async def _mam_page(self, archive: str, *, after: str | None = None,
                        before: str | None = None, start: float | None = None,
                        with_jid: str | None = None, limit: int = MAM_PAGE,
                        ) -> tuple[list[ArchiveResult], bool, str | None]:
        """One page of an archive (ours, or a room's) through `mam_pages`."""
        try:
            peer = JID(with_jid) if with_jid else None
        except InvalidJID as exc:
            raise XmppError(f"cannot ask the archive about {with_jid!r}: {exc}") from None
        to = None if archive == self.own else archive
        page = await self._asked(self.mam_pages.page(
            JID(to) if to else None, after=after, before=before,
            start=datetime.fromtimestamp(int(start), UTC) if start is not None else None,
            with_jid=peer, limit=limit, timeout=IQ_TIMEOUT), to)
        return self._archive_results(archive, page), page.complete, page.last

    async def _catch_up(self, room: str | None) -> int:
        """Fetch what the archive (ours, or a room's) got since we last looked."""
        archive = room or self.own
        mark = self.state.archives.get(archive)
        stored = 0
        if mark is None:
            # First run: recent history only, newest page of the archive.
            results, _complete, _last = await self._mam_page(archive, before="",
                                                             limit=MAM_SEED)
            stored += self._ingest_results(archive, results, source="archive")
            if not results:
                self.state.archives[archive] = ArchiveMark("", time.time())
                self.state.save()
            return stored
        after: str | None = mark.last_id or None
        start = None if after else mark.last_stamp
        for _page in range(1000):
            try:
                results, complete, last = await self._mam_page(archive, after=after,
                                                                start=start, limit=BULK_PAGE)
            except XmppError as exc:
                if after is None or "item-not-found" not in str(exc):
                    raise
                # The id we kept has expired from the archive: go by its date instead.
                after, start = None, mark.last_stamp
                continue
            stored += self._ingest_results(archive, results, source="archive")
            if complete or not results or last is None:
                break
            after, start = last, None
        return stored

    def _ingest_results(self, archive: str, results: list[ArchiveResult], source: str) -> int:
        """Store a page of the archive in one transaction (a line that fails is
        undone alone, and skipped)."""
        stored = 0
        with self.store.batch():
            for archive_id, stamp, inner in results:
                try:
                    stored += self._ingest(inner.xml, source, archive=archive,
                                           archive_id=archive_id, archive_stamp=stamp)
                    if archive == self.own:
                        self._archived_acknowledgement(inner)
                        self._archived_invitation(inner)
                except Exception:
                    log.exception("%s: skipped an archived message we could not read",
                                  self.name)
        if results:
            archive_id, stamp, _inner = results[-1]
            self.state.archives[archive] = ArchiveMark(archive_id, stamp or time.time())
            self.state.save()
        return stored

    async def fetch_history(self, jid: str, limit: int = BULK_PAGE,
                            before: str | None = "") -> tuple[int, str | None]:
        """One page of older history with a contact (or of a room), newest page first.

        Returns how many messages were new to the store and the id to pass as
        `before` for the page before it (None at the start of the archive).
        """
        jid = bare(jid)
        if jid in self._rooms or jid in self.state.rooms:
            results, _complete, _last = await self._mam_page(jid, before=before, limit=limit)
            archive = jid
        else:
            results, _complete, _last = await self._mam_page(self.own, before=before,
                                                             with_jid=jid, limit=limit)
            archive = self.own
        stored = 0
        with self.store.batch():  # one transaction for the page
            for archive_id, stamp, inner in results:
                stored += self._ingest(inner.xml, "archive", archive=archive,
                                       archive_id=archive_id, archive_stamp=stamp)
        first = results[0][0] if results else None
        return stored, first

    async def catch_up(self) -> int:
        """Fetch what arrived in our archive since the last look; returns new messages."""
        return await self._catch_up(None)

