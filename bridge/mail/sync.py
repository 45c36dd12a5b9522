"""IMAP sync of one account into the store: folders, headers, flags, bodies.

Blocking (imapclient): the engine runs it in worker threads. The order of work is
what a user sees first: the newest messages of a folder land in the store in one
small batch, then the rest is backfilled newest to oldest with progress events.

Resync costs what changed: with CONDSTORE/QRESYNC the server is asked only for
flags changed since the stored HIGHESTMODSEQ and for UIDs that vanished; new mail
is whatever is above the stored UIDNEXT. A folder this connection has open already
(the worker keeps INBOX open for IDLE) is not opened again: reopening a large
mailbox costs the server more than the whole resync, and with QRESYNC a NOOP and
the same questions keep an open one current (`_resync_selected`). A UIDVALIDITY
change drops the folder's locations and refetches it cleanly. Folder state is
saved only after a pass completes, so a pass cut off mid-way is redone, and what
it already stored is not fetched again (the missing UIDs are the difference
against the store).

MailSync is one connection with its parts, each a module of its own:
header_rows.py (fetched headers into store rows), parser_process.py (the child
process that parses them in bulk), sync_digests.py (which message is which,
by the bytes), sync_bodies.py (bodies, files, header fields) and
sync_writes.py (flags, moves, APPEND). This module keeps the connection, the
folder listing and selection, and the sync passes.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import imapclient
from imapclient.response_parser import parse_response

from ..config import AccountConfig
from ..events import (  # FolderChanged, SyncProgress: defined there, kept importable here
    EventBus,
    FolderChanged,
    SyncProgress,
)
from ..model import Folder
from ..store import Store
from .connect import login_imap

# The parts of MailSync, and the names that lived here before, importable as before.
from .header_rows import header_row, header_rows, headers_from_fetch
from .imap_fetch import (
    HEADER_FIELDS,
    Unsolicited,
    search_uids,
    stream_command,
    stream_fetch,
    uid_set,
)
from .mime import MAX_MESSAGE_BYTES
from .parser_process import ParserProcess, _ParserProcess, _worker_main
from .sync_bodies import LARGE_TEXT_BYTES, BodyFetch
from .sync_digests import DIGEST_BATCH, MessageDigests
from .sync_writes import APPENDUID, MailboxWrites

FIRST_SCREEN = 50
BATCH = 5000
# From this many headers on, parsing runs in a child process while this one
# fetches and stores: parsing and SQLite then use both cores instead of taking
# turns under the GIL (a writer thread would wait for the GIL after every row).
WORKER_MIN = 10_000
# Parsed rows go into the store (with their parties and full-text rows) in
# transactions of this many, through the sync's own connection (`_bulk_store`):
# the app's reads do not wait for one (WAL), its writes wait at most one (~0.5 s
# at 100k on a loaded machine). A batch a transaction: 2,000 cost the writer 7%
# more CPU (the same index pages written again at each commit).
WRITE_SLICE = BATCH
# No RFC822.SIZE: the store keeps no size of a header-synced message.
HEADER_ITEMS = b"UID FLAGS BODY.PEEK[HEADER.FIELDS (" + HEADER_FIELDS + b")]"

ROLES = {b"\\Sent": "sent", b"\\Drafts": "drafts", b"\\Trash": "trash", b"\\Junk": "junk",
         b"\\Archive": "archive", b"\\All": "all", b"\\Flagged": "flagged"}


@dataclass
class SyncResult:
    folder: str
    new: int = 0
    flags_changed: int = 0
    vanished: int = 0
    full: bool = False


class MailSync(MessageDigests, BodyFetch, MailboxWrites):
    """Syncs one account's IMAP folders into the store over one connection."""

    def __init__(self, account: AccountConfig, password: Callable[[], str], store: Store,
                 events: EventBus | None = None) -> None:
        if account.imap is None:
            raise ValueError(f"account {account.name} has no IMAP server")
        self.account = account
        self.password = password
        self.store = store
        self.events = events or EventBus()
        # Our side of a clock comparison (ClockMeasured); a test sets its own.
        self.clock: Callable[[], float] = time.time
        self.client: imapclient.IMAPClient | None = None
        self.own = frozenset(a.lower() for a in (account.email or "",) if a)
        # A message larger than this is not downloaded whole to be shown.
        self.body_limit = MAX_MESSAGE_BYTES
        self.qresync = False
        self._parser_process: ParserProcess | None = None
        # The bulk writes' own connection to the store (`_bulk_store`).
        self._writer: Store | None = None
        # The folder this class EXAMINEd on this connection, with imaplib's response
        # dict of that EXAMINE: imaplib starts a new one on every SELECT, so any
        # other SELECT on the connection (another folder, read-write, by anyone
        # holding the client) shows as a different dict.
        self._selected: tuple[str, dict] | None = None

    # -- connection ----------------------------------------------------------
    def connect(self) -> imapclient.IMAPClient:
        if self.client is None:
            # The one login (connect.login_imap): password or token, and a
            # refused token asked for once more.
            self.client = login_imap(self.account, self.password)
            caps = set(self.client.capabilities())
            if b"QRESYNC" in caps:
                self.client.enable("QRESYNC")
                self.qresync = True
            elif b"CONDSTORE" in caps:
                self.client.enable("CONDSTORE")
        return self.client

    def close(self) -> None:
        if self._parser_process is not None:
            self._parser_process.close()
            self._parser_process = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._selected = None
        if self.client is not None:
            with suppress(OSError, imapclient.exceptions.IMAPClientError):
                self.client.logout()
            self.client = None

    def _drop(self) -> None:
        # After a broken connection nothing on it can be trusted; the next call
        # logs in afresh.
        self._selected = None
        if self.client is not None:
            with suppress(OSError):
                self.client.shutdown()
            self.client = None

    def select(self, folder: str) -> dict[bytes, Any] | None:
        """EXAMINE `folder`, unless it is open on this connection already.

        Returns the server's answer to EXAMINE, or None when the folder was open.
        """
        if self.is_selected(folder):
            return None
        return self._examine(folder)

    def is_selected(self, folder: str) -> bool:
        """Whether this connection has `folder` open read-only from our own EXAMINE."""
        if self.client is None or self._selected is None:
            return False
        im = self.client._imap
        return (self._selected[0] == folder and self._selected[1] is im.untagged_responses
                and im.state == "SELECTED" and bool(im.is_readonly))

    def _examine(self, folder: str) -> dict[bytes, Any]:
        client = self.connect()
        self._selected = None
        info = client.select_folder(folder, readonly=True)
        self._selected = (folder, client._imap.untagged_responses)
        return info

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
        """Every folder, INBOX first: it is what the user looks at first, and a big
        Archive the server happens to list before it must not keep it waiting (the
        others follow in the server's order).

        INBOX goes before the folders are even listed (every server has one, RFC
        3501): the listing asks for every folder's counts (LIST-STATUS, or a
        STATUS a folder), and a server counts a big folder whose index it has not
        built at that moment. Dovecot took 0.36 s for a 100,000-message Archive
        (issue 22, row 1; its warm answer takes 1 ms), which every first page
        waited for."""
        first = self.sync_folder("INBOX")
        names = [n for n in self.sync_folders() if n.upper() != "INBOX"]
        return [first, *(self.sync_folder(name) for name in names)]

    # -- one folder ----------------------------------------------------------
    def sync_folder(self, folder: str) -> SyncResult:
        try:
            return self._sync_folder(folder)
        except Exception:
            self._drop()
            raise

    def _sync_folder(self, folder: str) -> SyncResult:
        self.connect()
        name = self.account.name
        known = {f.name: f for f in self.store.folders(name)}.get(folder)
        if known is not None and self.is_selected(folder):
            kept = self._resync_selected(folder, known)
            if kept is not None:
                self.events.publish(FolderChanged(name, folder, kept.new, kept.flags_changed,
                                                  kept.vanished))
                return kept
        info = self._examine(folder)
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
        try:
            return self._fetch_and_store(folder, uids, phase, done, total)
        finally:
            if phase == "backfill":
                self._bulk_store().end_bulk()

    def _fetch_and_store(self, folder: str, uids: list[int], phase: str, done: int,
                         total: int) -> int:
        if len(uids) >= WORKER_MIN:
            parser = self._parser()
            if parser is not None:
                return self._fetch_with_parser(parser, folder, uids, phase, done, total)
        client = self.connect()
        name = self.account.name
        new = 0
        for start in range(0, len(uids), BATCH):
            chunk = uids[start:start + BATCH]
            rows = [header_row(name, folder, i.uid, i.flags, i.header, self.own)
                    for i in stream_fetch(client, uid_set(chunk), HEADER_ITEMS)]
            rows, suspects = self._split_suspects(rows)
            new += self._store_rows(folder, rows, phase)
            new += self._store_suspects(folder, suspects)
            done += len(chunk)
            self.events.publish(SyncProgress(name, folder, done, total, phase))
        return new

    def _store_rows(self, folder: str, rows: list[tuple[Any, ...]], phase: str) -> int:
        """Store parsed header rows and index them as they go in, a slice a
        transaction: what is committed is searchable, nothing waits for a backlog."""
        new = 0
        store = self._bulk_store()
        for start in range(0, len(rows), WRITE_SLICE):
            new += store.insert_email_headers(
                self.account.name, folder, rows[start:start + WRITE_SLICE],
                defer_parties=phase == "backfill", index=True)
        return new

    def _bulk_store(self) -> Store:
        """The store through a connection of the sync's own, for the header rows.

        In WAL mode a reader never waits for another connection's writer, so the
        app's reads (the list, a search) go on while a slice is written: through
        the one shared connection they waited for the store's lock. Writes made
        elsewhere wait at most one slice (SQLite's busy timeout). The shared
        store when a second connection cannot be opened."""
        if self._writer is None:
            try:
                self._writer = type(self.store).open(self.store.path)
            except (sqlite3.Error, OSError):
                return self.store
        return self._writer

    def _parser(self) -> ParserProcess | None:
        if self._parser_process is None or self._parser_process.proc.poll() is not None:
            try:
                self._parser_process = ParserProcess()
            except OSError:
                return None  # parse here instead
        return self._parser_process

    def _fetch_with_parser(self, parser: ParserProcess, folder: str, uids: list[int],
                           phase: str, done: int, total: int) -> int:
        """The bulk path: this thread fetches, the parser process parses, a writer
        thread stores, all at once; each batch is stored in order as it comes back."""
        client = self.connect()
        name = self.account.name
        pending: queue.Queue[int | None] = queue.Queue()
        outcome: dict[str, Any] = {"new": 0}
        # Rows whose id needs their bytes: stored at the end, when this thread is
        # done with the connection.
        suspects: list[tuple[Any, ...]] = []

        def write() -> None:
            stored = done
            try:
                while (size := pending.get()) is not None:
                    rows, doubtful = self._split_suspects(parser.result())
                    suspects.extend(doubtful)
                    outcome["new"] += self._store_rows(folder, rows, phase)
                    stored += size
                    self.events.publish(SyncProgress(name, folder, stored, total, phase))
            except BaseException as exc:
                outcome["error"] = exc
                # The parser's answers can no longer be matched to batches; killing
                # it also frees this thread if it waits to hand the parser a batch.
                self._parser_process = None
                parser.kill()

        writer = threading.Thread(target=write, name="mail-store", daemon=True)
        writer.start()
        try:
            for start in range(0, len(uids), BATCH):
                if "error" in outcome:
                    break
                chunk = uids[start:start + BATCH]
                items = [(i.uid, i.flags, i.header)
                         for i in stream_fetch(client, uid_set(chunk), HEADER_ITEMS)]
                try:
                    parser.submit(name, folder, self.own, items)
                except OSError:
                    break  # the writer has the parser's error
                pending.put(len(chunk))
        finally:
            # What was fetched before a failure is still stored.
            pending.put(None)
            writer.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["new"] + self._store_suspects(folder, suspects)

    def _full(self, folder: str, result: SyncResult) -> None:
        client = self.connect()
        result.full = True
        server = sorted(search_uids(client, b"ALL"), reverse=True)
        have = self.store.folder_uids(self.account.name, folder)
        on_server = set(server)
        gone = [u for u in have if u not in on_server]
        if gone:
            result.vanished = len(gone)
            self.store.remove_mail_locations(self.account.name, folder, gone)
        missing = [u for u in server if u not in have]
        if len(missing) - FIRST_SCREEN >= WORKER_MIN:
            self._parser()  # starts up while the first screen is fetched
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
                result.vanished += self._remove_vanished(folder, extra.vanished)
                if not self.qresync:
                    result.vanished += self._expunged_by_diff(folder)
        else:
            result.flags_changed += self._refresh_flags(
                folder, sorted(self.store.folder_uids(name, folder)))
            result.vanished += self._expunged_by_diff(folder)
        new = sorted((u for u in search_uids(client, b"UID %d:*" % uidnext) if u >= uidnext),
                     reverse=True)
        if new:
            result.new += self._fetch_into_store(folder, new, "resync", 0, len(new))

    def _resync_selected(self, folder: str, known: Folder) -> SyncResult | None:
        """Resync a folder this connection has open, without opening it again.

        NOOP brings the session up to date, then the server is asked what changed
        since the stored HIGHESTMODSEQ (flags, and with VANISHED what was expunged)
        and what is above the stored UIDNEXT. The new HIGHESTMODSEQ is the highest
        the server reported on the way (RFC 7162: MODSEQ of the FETCH responses,
        HIGHESTMODSEQ codes after expunges), never more than what was seen, so a
        change is at worst asked about twice, never missed. Only with QRESYNC
        (every FETCH the server pushes names its UID) and a folder synced before;
        None when this does not apply or the server had trouble with the open
        folder (Dovecot answers NOOP with NO when it was deleted): then the caller
        opens the folder again.
        """
        if not (self.qresync and known.uidnext and known.highestmodseq
                and known.uidvalidity is not None):
            return None
        client = self.connect()
        name = self.account.name
        extra = Unsolicited()
        extra.modseq = known.highestmodseq
        # What imaplib kept from commands since the EXAMINE (the end of IDLE, a
        # STATUS) would pile up for as long as the folder stays open; this pass
        # asks for all of it again anyway. A HIGHESTMODSEQ among it is the
        # session's, which the questions below cover.
        responses = client._imap.untagged_responses
        for key in [k for k in responses if k != "READ-ONLY"]:
            values = responses.pop(key)
            if key == "HIGHESTMODSEQ":
                for value in values:
                    with suppress(TypeError, ValueError):
                        extra.modseq = max(extra.modseq, int(value))
        changed: dict[int, frozenset[str]] = {}
        for item in stream_command(client, b"NOOP", extra):
            changed[item.uid] = item.flags
        if extra.trouble or extra.uidvalidity not in (None, known.uidvalidity):
            return None
        # 1:* and not up to the stored UIDNEXT: the new messages' MODSEQ counts too.
        for item in stream_fetch(client, "1:*", b"UID FLAGS",
                                 b"CHANGEDSINCE %d VANISHED" % known.highestmodseq, extra):
            changed[item.uid] = item.flags
        if extra.trouble or extra.uidvalidity not in (None, known.uidvalidity):
            return None
        result = SyncResult(folder)
        result.flags_changed = self.store.update_flags_by_uid(name, folder, changed)
        result.vanished = self._remove_vanished(folder, extra.vanished)
        uidnext = known.uidnext
        new = sorted((u for u in search_uids(client, b"UID %d:*" % uidnext) if u >= uidnext),
                     reverse=True)
        if new:
            result.new = self._fetch_into_store(folder, new, "resync", 0, len(new))
            uidnext = new[0] + 1
        self.store.upsert_folder(name, folder, uidnext=uidnext, highestmodseq=extra.modseq)
        return result

    def _remove_vanished(self, folder: str, uids: list[int]) -> int:
        """Forget UIDs the server said vanished; return how many the store had.

        The server may say it twice (VANISHED (EARLIER) covers all since the stored
        HIGHESTMODSEQ, and an expunge's own mod-sequence is not always told).
        """
        if not uids:
            return 0
        gone = list(self.store.folder_uids(self.account.name, folder, among=uids))
        self.store.remove_mail_locations(self.account.name, folder, gone)
        return len(gone)

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

    # -- bodies, flags, moves: sync_bodies.py, sync_writes.py -----------------

    # -- push ----------------------------------------------------------------
    def idle_once(self, folder: str = "INBOX", timeout: float = 60.0) -> bool:
        """Wait in IDLE until the server reports a change or `timeout`; True on change.

        The caller resyncs after a change; without IDLE the caller polls instead.
        """
        client = self.connect()
        if b"IDLE" not in client.capabilities():
            time.sleep(timeout)
            return True
        self.select(folder)
        client.idle()
        try:
            responses = client.idle_check(timeout=timeout)
        finally:
            client.idle_done()
        return bool(responses)


__all__ = [
    "APPENDUID",
    "BATCH",
    "DIGEST_BATCH",
    "FIRST_SCREEN",
    "HEADER_ITEMS",
    "LARGE_TEXT_BYTES",
    "ROLES",
    "WORKER_MIN",
    "FolderChanged",
    "MailSync",
    "SyncProgress",
    "SyncResult",
    "_ParserProcess",
    "_worker_main",
    "header_row",
    "header_rows",
    "headers_from_fetch",
]
