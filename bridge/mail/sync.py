"""IMAP sync of one account into the store: folders, headers, flags, bodies.

Blocking (imapclient): the engine runs it in worker threads. The order of work is
what a user sees first: the newest messages of a folder land in the store in one
small batch, then the rest is backfilled newest to oldest with progress events.

Resync costs what changed: with CONDSTORE/QRESYNC the server is asked only for
flags changed since the stored HIGHESTMODSEQ and for UIDs that vanished; new mail
is whatever is above the stored UIDNEXT. A UIDVALIDITY change drops the folder's
locations and refetches it cleanly. Folder state is saved only after a pass
completes, so a pass cut off mid-way is redone, and what it already stored is
not fetched again (the missing UIDs are the difference against the store).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import imapclient
from imapclient.response_parser import parse_response

from ..config import AccountConfig
from ..events import Event, EventBus
from ..model import Direction, EmailHeaders, Party
from ..safe import write_new_file
from ..store import Store
from .connect import open_imap
from .imap_fetch import HEADER_FIELDS, FetchedHeader, Unsolicited, stream_fetch, uid_set
from .mime import parse_headers, parse_message, thread_id_of, to_message

FIRST_SCREEN = 50
BATCH = 5000
HEADER_ITEMS = b"UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (" + HEADER_FIELDS + b")]"

ROLES = {b"\\Sent": "sent", b"\\Drafts": "drafts", b"\\Trash": "trash", b"\\Junk": "junk",
         b"\\Archive": "archive", b"\\All": "all", b"\\Flagged": "flagged"}


@dataclass(frozen=True)
class SyncProgress(Event):
    """Header sync of a folder moved on: `done` of `total` messages are stored."""

    account: str
    folder: str
    done: int
    total: int
    phase: str  # first-screen | backfill | resync | done


@dataclass(frozen=True)
class FolderChanged(Event):
    """New, changed or vanished messages in a folder after a sync pass."""

    account: str
    folder: str
    new: int
    flags_changed: int
    vanished: int


@dataclass
class SyncResult:
    folder: str
    new: int = 0
    flags_changed: int = 0
    vanished: int = 0
    full: bool = False


def headers_from_fetch(item: FetchedHeader, own_addresses: frozenset[str]) -> EmailHeaders:
    info = parse_headers(item.header)
    sender = info.sender or Party("", "")
    recipients = [*info.to, *info.cc]
    direction = Direction.OUT if sender.address.lower() in own_addresses else Direction.IN
    return EmailHeaders(
        uid=item.uid, msg_id=info.msg_id, thread_id=thread_id_of(info),
        # Without a readable Date the message is placed when we first saw it.
        date=info.date if info.date is not None else time.time(),
        sender=sender, recipients=recipients, subject=info.subject,
        message_id_header=info.message_id or None, in_reply_to=info.in_reply_to or None,
        references=list(info.references), flags=item.flags, size=item.size,
        has_attachment=info.has_attachment, direction=direction,
        malformed=bool(info.defects) and not info.message_id)


class MailSync:
    """Syncs one account's IMAP folders into the store over one connection."""

    def __init__(self, account: AccountConfig, password: Callable[[], str], store: Store,
                 events: EventBus | None = None) -> None:
        if account.imap is None:
            raise ValueError(f"account {account.name} has no IMAP server")
        self.account = account
        self.password = password
        self.store = store
        self.events = events or EventBus()
        self.client: imapclient.IMAPClient | None = None
        self.own = frozenset(a.lower() for a in (account.email or "",) if a)
        self.qresync = False

    # -- connection ----------------------------------------------------------
    def connect(self) -> imapclient.IMAPClient:
        if self.client is None:
            imap = self.account.imap
            assert imap is not None
            self.client = open_imap(imap, imap.username or self.account.email or "",
                                    self.password())
            caps = set(self.client.capabilities())
            if b"QRESYNC" in caps:
                self.client.enable("QRESYNC")
                self.qresync = True
            elif b"CONDSTORE" in caps:
                self.client.enable("CONDSTORE")
        return self.client

    def close(self) -> None:
        if self.client is not None:
            with suppress(OSError, imapclient.exceptions.IMAPClientError):
                self.client.logout()
            self.client = None

    def _drop(self) -> None:
        # After a broken connection nothing on it can be trusted; the next call
        # logs in afresh.
        if self.client is not None:
            with suppress(OSError):
                self.client.shutdown()
            self.client = None

    # -- folders -------------------------------------------------------------
    def sync_folders(self) -> list[str]:
        """List the folders with their roles and counts into the store."""
        client = self.connect()
        if b"LIST-STATUS" in client.capabilities():
            listing, counts = self._list_status(client)
        else:
            listing, counts = client.list_folders(), {}
        names = []
        for flags, _sep, name in listing:
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            role = "inbox" if name.upper() == "INBOX" else next(
                (ROLES[f] for f in flags if f in ROLES), None)
            status = counts.get(name) or client.folder_status(name, [b"MESSAGES", b"UNSEEN"])
            self.store.upsert_folder(self.account.name, name, role,
                                     total=status[b"MESSAGES"], unread=status[b"UNSEEN"])
            names.append(name)
        return names

    @staticmethod
    def _list_status(client: imapclient.IMAPClient) -> tuple[list, dict[str, dict]]:
        """One LIST that returns every folder's counts too (RFC 5819)."""
        im = client._imap
        typ, data = im._simple_command("LIST", '""', '"*"', "RETURN",
                                       "(SPECIAL-USE STATUS (MESSAGES UNSEEN))")
        if typ != "OK":
            return client.list_folders(), {}
        _, listed = im._untagged_response(typ, data, "LIST")
        listing = client._proc_folder_list(listed)
        counts: dict[str, dict] = {}
        for line in im.untagged_responses.pop("STATUS", []):
            parsed = parse_response([line])
            name = parsed[0]
            if isinstance(name, bytes):
                name = imapclient.imap_utf7.decode(name)
            items = parsed[-1]
            counts[str(name)] = {items[i]: items[i + 1] for i in range(0, len(items), 2)}
        return listing, counts

    def sync_all(self) -> list[SyncResult]:
        return [self.sync_folder(name) for name in self.sync_folders()]

    # -- one folder ----------------------------------------------------------
    def sync_folder(self, folder: str) -> SyncResult:
        try:
            return self._sync_folder(folder)
        except Exception:
            self._drop()
            raise

    def _sync_folder(self, folder: str) -> SyncResult:
        client = self.connect()
        name = self.account.name
        known = {f.name: f for f in self.store.folders(name)}.get(folder)
        info = client.select_folder(folder, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        uidnext = int(info.get(b"UIDNEXT", 0))
        modseq = int(info.get(b"HIGHESTMODSEQ", 0) or 0)
        result = SyncResult(folder)

        if known is not None and known.uidvalidity not in (None, uidvalidity):
            # The server renumbered the folder: our UIDs mean nothing now.
            self.store.clear_folder(name, folder)
            known = None
        if known is not None and known.uidvalidity == uidvalidity and known.uidnext:
            self._resync(folder, known.uidnext, known.highestmodseq, modseq, result)
        else:
            self._full(folder, result)
        self.store.upsert_folder(name, folder, uidvalidity=uidvalidity, uidnext=uidnext,
                                 highestmodseq=modseq or None)
        self.events.publish(FolderChanged(name, folder, result.new, result.flags_changed,
                                          result.vanished))
        return result

    def _fetch_into_store(self, folder: str, uids: list[int], phase: str, done: int,
                          total: int) -> int:
        """Fetch headers of `uids` (newest first, in batches) and store them."""
        client = self.connect()
        new = 0
        # SQLite lets go of the GIL while it writes, so batch k is stored while
        # batch k+1 is fetched and parsed.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store") as writer:
            pending: Future[int] | None = None
            for start in range(0, len(uids), BATCH):
                chunk = uids[start:start + BATCH]
                items = [headers_from_fetch(i, self.own)
                         for i in stream_fetch(client, uid_set(chunk), HEADER_ITEMS)]
                if pending is not None:
                    new += pending.result()
                    self.events.publish(SyncProgress(self.account.name, folder, done,
                                                     total, phase))
                pending = writer.submit(self.store.insert_email_headers, self.account.name,
                                        folder, items)
                done += len(chunk)
            if pending is not None:
                new += pending.result()
                self.events.publish(SyncProgress(self.account.name, folder, done, total,
                                                 phase))
        return new

    def _full(self, folder: str, result: SyncResult) -> None:
        client = self.connect()
        result.full = True
        server = sorted(client.search(["ALL"]), reverse=True)
        have = self.store.folder_uids(self.account.name, folder)
        on_server = set(server)
        gone = [u for u in have if u not in on_server]
        if gone:
            result.vanished = len(gone)
            self.store.remove_mail_locations(self.account.name, folder, gone)
        missing = [u for u in server if u not in have]
        total = len(server)
        done = total - len(missing)
        first, rest = missing[:FIRST_SCREEN], missing[FIRST_SCREEN:]
        if first:
            result.new += self._fetch_into_store(folder, first, "first-screen", done, total)
            done += len(first)
        if rest:
            result.new += self._fetch_into_store(folder, rest, "backfill", done, total)
        if have:
            # Flags of what we already had may have changed while we were away.
            result.flags_changed += self._refresh_flags(folder, sorted(have))
        self.events.publish(SyncProgress(self.account.name, folder, total, total, "done"))

    def _resync(self, folder: str, uidnext: int, old_modseq: int | None, modseq: int,
                result: SyncResult) -> None:
        client = self.connect()
        name = self.account.name
        if old_modseq and modseq and (self.qresync or b"CONDSTORE" in client.capabilities()):
            if modseq != old_modseq:
                extra = Unsolicited()
                changed: dict[int, frozenset[str]] = {}
                modifiers = b"CHANGEDSINCE %d" % old_modseq
                if self.qresync:
                    modifiers += b" VANISHED"
                for item in stream_fetch(client, f"1:{max(uidnext - 1, 1)}", b"UID FLAGS",
                                         modifiers, extra):
                    changed[item.uid] = item.flags
                result.flags_changed += self.store.update_flags_by_uid(name, folder, changed)
                if extra.vanished:
                    self.store.remove_mail_locations(name, folder, extra.vanished)
                    result.vanished += len(extra.vanished)
                if not self.qresync:
                    result.vanished += self._expunged_by_diff(folder)
        else:
            result.flags_changed += self._refresh_flags(
                folder, sorted(self.store.folder_uids(name, folder)))
            result.vanished += self._expunged_by_diff(folder)
        new = sorted(client.search(["UID", f"{uidnext}:*"]), reverse=True)
        new = [u for u in new if u >= uidnext]
        if new:
            result.new += self._fetch_into_store(folder, new, "resync", 0, len(new))

    def _expunged_by_diff(self, folder: str) -> int:
        client = self.connect()
        server = set(client.search(["ALL"]))
        have = self.store.folder_uids(self.account.name, folder)
        gone = [u for u in have if u not in server]
        self.store.remove_mail_locations(self.account.name, folder, gone)
        return len(gone)

    def _refresh_flags(self, folder: str, uids: list[int]) -> int:
        if not uids:
            return 0
        client = self.connect()
        changed: dict[int, frozenset[str]] = {}
        for start in range(0, len(uids), BATCH * 4):
            for item in stream_fetch(client, uid_set(uids[start:start + BATCH * 4]),
                                     b"UID FLAGS"):
                changed[item.uid] = item.flags
        return self.store.update_flags_by_uid(self.account.name, folder, changed)

    # -- bodies, flags, moves ------------------------------------------------
    def fetch_body(self, row_id: int) -> None:
        """Fetch a message's body (BODY.PEEK: it stays unread) and keep it in the store."""
        message = self.store.get_message(row_id)
        if message is None or message.folder is None or message.uid is None:
            raise LookupError(f"message {row_id} has no place on the IMAP server")
        if self.store.has_body(row_id):
            return
        client = self.connect()
        client.select_folder(message.folder, readonly=True)
        data = client.fetch([message.uid], [b"BODY.PEEK[]"]).get(message.uid)
        if data is None:
            raise LookupError(f"message {row_id} is no longer on the server")
        raw = data[b"BODY[]"]
        parsed = parse_message(raw)
        full = to_message(parsed, account=self.account.name, folder=message.folder,
                          uid=message.uid, put_blob=self.store.store_blob)
        self.store.set_body(row_id, full.text, full.attachments,
                            raw=raw if parsed.malformed else None, malformed=parsed.malformed)

    def save_attachment(self, row_id: int, position: int, directory: Path) -> Path:
        """Write one attachment of a message into `directory` under a safe, new name.

        The name is reduced to a base name (no paths, no device names, no control
        characters) and never overwrites a file that is there already.
        """
        self.fetch_body(row_id)
        message = self.store.get_message(row_id)
        assert message is not None
        attachment = message.attachments[position]
        if attachment.sha256 is None:
            raise LookupError(f"attachment {position} of message {row_id} has no content")
        data = self.store.blob_path(attachment.sha256).read_bytes()
        directory.mkdir(parents=True, exist_ok=True)
        return write_new_file(directory, attachment.filename, data)

    def set_flags(self, folder: str, uids: list[int], flags: list[str], add: bool) -> None:
        client = self.connect()
        client.select_folder(folder)
        if add:
            client.add_flags(uids, flags, silent=True)
        else:
            client.remove_flags(uids, flags, silent=True)
        current = client.get_flags(uids)
        self.store.update_flags_by_uid(
            self.account.name, folder,
            {u: frozenset(f.decode() if isinstance(f, bytes) else f for f in fl)
             for u, fl in current.items()})

    def move(self, folder: str, uids: list[int], target: str) -> None:
        client = self.connect()
        client.select_folder(folder)
        if b"MOVE" in client.capabilities():
            client.move(uids, target)
        else:
            client.copy(uids, target)
            client.delete_messages(uids)
            client.uid_expunge(uids)
        self.store.remove_mail_locations(self.account.name, folder, uids)

    def append(self, folder: str, raw: bytes, flags: tuple[str, ...] = ("\\Seen",)) -> None:
        client = self.connect()
        try:
            client.append(folder, raw, flags=flags, msg_time=None)
        except imapclient.exceptions.IMAPClientError:
            client.create_folder(folder)
            client.append(folder, raw, flags=flags, msg_time=None)

    # -- push ----------------------------------------------------------------
    def idle_once(self, folder: str = "INBOX", timeout: float = 60.0) -> bool:
        """Wait in IDLE until the server reports a change or `timeout`; True on change.

        The caller resyncs after a change; without IDLE the caller polls instead.
        """
        client = self.connect()
        if b"IDLE" not in client.capabilities():
            time.sleep(timeout)
            return True
        client.select_folder(folder, readonly=True)
        client.idle()
        try:
            responses = client.idle_check(timeout=timeout)
        finally:
            client.idle_done()
        return bool(responses)
