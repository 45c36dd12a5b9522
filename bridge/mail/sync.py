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
"""

from __future__ import annotations

import dataclasses
import datetime
import email
import email.parser
import email.policy
import gc
import hashlib
import json
import os
import pickle
import queue
import re
import struct
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from email.policy import compat32
from pathlib import Path
from typing import IO, Any

import imapclient
from imapclient.response_parser import parse_response

from ..config import AccountConfig
from ..events import (  # FolderChanged, SyncProgress: defined there, kept importable here
    ClockMeasured,
    EventBus,
    FolderChanged,
    SyncProgress,
)
from ..model import SEEN, Attachment, Direction, EmailHeaders, Folder, Party
from ..safe import write_new_file
from ..store import Store
from ..store.store import Claim, distinct_msg_id
from .connect import open_imap
from .imap_fetch import (
    HEADER_FIELDS,
    FetchedHeader,
    Unsolicited,
    search_uids,
    stream_command,
    stream_fetch,
    uid_set,
)
from .large import files, partial_text, text_leaf
from .mime import (
    MAX_MESSAGE_BYTES,
    _thread_id_from,
    content_message_id,
    header_fields,
    parse_headers,
    parse_message,
    thread_id_of,
    to_message,
)

FIRST_SCREEN = 50
# Messages whose bytes are fetched at once to tell which message is which.
DIGEST_BATCH = 50
# How much of a large message's text part is fetched to be shown.
LARGE_TEXT_BYTES = 1024 * 1024
BATCH = 5000
# From this many headers on, parsing runs in a child process while this one
# fetches and stores: parsing and SQLite then use both cores instead of taking
# turns under the GIL (a writer thread would wait for the GIL after every row).
WORKER_MIN = 10_000
HEADER_ITEMS = b"UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (" + HEADER_FIELDS + b")]"

ROLES = {b"\\Sent": "sent", b"\\Drafts": "drafts", b"\\Trash": "trash", b"\\Junk": "junk",
         b"\\Archive": "archive", b"\\All": "all", b"\\Flagged": "flagged"}


# UIDPLUS (RFC 4315): the answer to APPEND names the new message.
APPENDUID = re.compile(r"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


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


# -- header rows: parsing fetched headers into what the store keeps ---------------

_NOBODY = Party("", "")
_flags_cache: dict[frozenset[str], tuple[str, bool]] = {}
# By object id: the parser hands out one shared Party per person, and hashing a
# dataclass costs more than the lookup. The Party is kept, so its id stays its own.
_party_parts: dict[int, tuple[Party, str, str]] = {}
_CACHE_MAX = 100_000


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _ids_json(ids: list[str]) -> str:
    # Message ids are nearly always printable ASCII without quotes or backslashes,
    # which JSON writes as they are.
    body = '","'.join(ids)
    if ids and "\\" not in body and body.count('"') == 2 * (len(ids) - 1) \
            and body.isprintable():
        return '["' + body + '"]'
    return _json(ids)


def header_row(account: str, folder: str, uid: int, flags: frozenset[str], header: bytes,
               own: frozenset[str]) -> tuple[Any, ...]:
    """The store's row (`Store.email_header_row`) for one fetched header.

    The same as `Store.email_header_row(account, folder, headers_from_fetch(...))`,
    without the objects in between: a cold sync makes 100,000 of these. What
    repeats from message to message (flags, people) is looked up, not rebuilt.
    """
    (subject, sender, to, cc, _bcc, _reply_to, date, message_id, in_reply_to, references,
     _ctype, has_attachment, msg_id, defects) = header_fields(header)
    if sender is None:
        sender = _NOBODY
    if len(_party_parts) > _CACHE_MAX:
        _party_parts.clear()
    known = _party_parts.get(id(sender))
    if known is None:
        known = _party_parts[id(sender)] = (
            sender, f"{sender.name} {sender.address}".strip(),
            _json([sender.role, sender.address, sender.name]))
    texts = [known[1]]
    parts = []
    for p in to + cc if cc else to:
        known = _party_parts.get(id(p))
        if known is None:
            known = _party_parts[id(p)] = (
                p, f"{p.name} {p.address}".strip(), _json([p.role, p.address, p.name]))
        texts.append(known[1])
        parts.append(known[2])
    cached = _flags_cache.get(flags)
    if cached is None:
        if len(_flags_cache) > 1000:
            _flags_cache.clear()
        cached = _flags_cache[flags] = (_json(sorted(flags)), SEEN in flags)
    outgoing = sender.address.lower() in own
    # The thread: the first reference, else the parent, else itself (`thread_id_of`).
    first = references[0] if references else in_reply_to
    if not (first and "<" not in first and ">" not in first and first.split() == [first]):
        first = _thread_id_from(msg_id, in_reply_to, references)
    return (
        account, folder, uid, msg_id, first,
        # Without a readable Date the message is placed when we first saw it.
        date if date is not None else time.time(),
        "out" if outgoing else "in", int(not outgoing and not cached[1]), sender.address,
        sender.name, subject, " ".join(texts), message_id or None,
        in_reply_to or None, _ids_json(references), cached[0],
        int(bool(defects) and not message_id), int(has_attachment),
        "[" + ",".join(parts) + "]")


def header_rows(account: str, folder: str, items: Iterable[tuple[int, frozenset[str], bytes]],
                own: frozenset[str]) -> list[tuple[Any, ...]]:
    return [header_row(account, folder, uid, flags, header, own)
            for uid, flags, header in items]


# -- the parser process -------------------------------------------------------------

_FRAME = struct.Struct("!Q")


def _write_frame(out: IO[bytes], payload: bytes) -> None:
    out.write(_FRAME.pack(len(payload)))
    out.write(payload)
    out.flush()


def _read_frame(src: IO[bytes]) -> bytes | None:
    head = src.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    size = _FRAME.unpack(head)[0]
    payload = src.read(size)
    if len(payload) < size:
        return None
    return payload


def _worker_main() -> None:
    """The parser process: batches of fetched headers in, store rows out, in order.

    Only plain tuples cross the pipe: pickling dataclasses costs more than parsing.
    """
    # Parsing makes no reference cycles, and the cyclic collector would walk the
    # parser's caches (a hundred thousand objects) over and over: this process
    # lives for one sync and frees by reference counting alone.
    gc.disable()
    src, out = sys.stdin.buffer, sys.stdout.buffer
    # Answers go out from a thread of their own: the pipe takes an answer only as
    # fast as the syncing process reads it, which it does between two batches'
    # inserts, and this process parses the next batch in the meantime.
    answers: queue.Queue[bytes | None] = queue.Queue(maxsize=1)

    def send() -> None:
        broken = False
        while (answer := answers.get()) is not None:
            if not broken:
                try:
                    _write_frame(out, answer)
                except OSError:
                    broken = True  # the syncing process is gone; drain until the end

    sender = threading.Thread(target=send, name="parser-answers", daemon=True)
    sender.start()
    while (payload := _read_frame(src)) is not None:
        try:
            account, folder, own, items = pickle.loads(payload)
            reply: Any = ("ok", header_rows(account, folder, items, own))
        except Exception as exc:  # reported to the syncing process, which raises it
            reply = ("error", f"{type(exc).__name__}: {exc}")
        answers.put(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    answers.put(None)
    sender.join()


class _ParserProcess:
    """A child process that parses header batches while this one fetches and stores."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from bridge.mail.sync import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)

    def submit(self, account: str, folder: str, own: frozenset[str],
               items: list[tuple[int, frozenset[str], bytes]]) -> None:
        assert self.proc.stdin is not None
        _write_frame(self.proc.stdin, pickle.dumps((account, folder, own, items),
                                                   protocol=pickle.HIGHEST_PROTOCOL))

    def result(self) -> list[tuple[Any, ...]]:
        assert self.proc.stdout is not None
        payload = _read_frame(self.proc.stdout)
        if payload is None:
            raise RuntimeError(f"the header parser process died ({self.proc.poll()})")
        status, value = pickle.loads(payload)
        if status != "ok":
            raise RuntimeError(f"the header parser process failed: {value}")
        return value

    def kill(self) -> None:
        with suppress(OSError):
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        with suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


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
        # Our side of a clock comparison (ClockMeasured); a test sets its own.
        self.clock: Callable[[], float] = time.time
        self.client: imapclient.IMAPClient | None = None
        self.own = frozenset(a.lower() for a in (account.email or "",) if a)
        # A message larger than this is not downloaded whole to be shown.
        self.body_limit = MAX_MESSAGE_BYTES
        self.qresync = False
        self._parser_process: _ParserProcess | None = None
        # The folder this class EXAMINEd on this connection, with imaplib's response
        # dict of that EXAMINE: imaplib starts a new one on every SELECT, so any
        # other SELECT on the connection (another folder, read-write, by anyone
        # holding the client) shows as a different dict.
        self._selected: tuple[str, dict] | None = None

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
        if self._parser_process is not None:
            self._parser_process.close()
            self._parser_process = None
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
        return [self.sync_folder(name) for name in self.sync_folders()]

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
            new += self.store.insert_email_headers(name, folder, rows,
                                                   defer_parties=phase == "backfill")
            new += self._store_suspects(folder, suspects)
            done += len(chunk)
            self.events.publish(SyncProgress(name, folder, done, total, phase))
        return new

    def _parser(self) -> _ParserProcess | None:
        if self._parser_process is None or self._parser_process.proc.poll() is not None:
            try:
                self._parser_process = _ParserProcess()
            except OSError:
                return None  # parse here instead
        return self._parser_process

    def _fetch_with_parser(self, parser: _ParserProcess, folder: str, uids: list[int],
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
                    outcome["new"] += self.store.insert_email_headers(
                        name, folder, rows, defer_parties=phase == "backfill")
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

    # -- which message is which: ids that need the bytes --------------------------
    def _split_suspects(self, rows: list[tuple[Any, ...]]
                        ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Header rows whose id is sure, and those whose id needs the message's
        bytes: no Message-ID (the id is made from the bytes, never from the
        header alone), or a Message-ID that another row of the batch or a stored
        message has too (one message in two folders, or two messages)."""
        counts = Counter(r[3] for r in rows if r[12] is not None)
        taken = self.store.claims(self.account.name, list(counts)) if counts else {}
        sure, doubtful = [], []
        for r in rows:
            if r[12] is None or counts[r[3]] > 1 or r[3] in taken:
                doubtful.append(r)
            else:
                sure.append(r)
        return sure, doubtful

    def _digests(self, folder: str, uids: list[int]) -> dict[int, str]:
        """The sha256 of the raw bytes of messages of `folder` (BODY.PEEK: they
        stay unread), a few at a time: only the digests are kept."""
        if not uids:
            return {}
        if not self.is_selected(folder):
            self._examine(folder)
        out: dict[int, str] = {}
        for start in range(0, len(uids), DIGEST_BATCH):
            data = self.connect().fetch(uids[start:start + DIGEST_BATCH], [b"BODY.PEEK[]"])
            out.update({uid: hashlib.sha256(d[b"BODY[]"]).hexdigest()
                        for uid, d in data.items() if b"BODY[]" in d})
        return out

    def _store_suspects(self, folder: str, rows: list[tuple[Any, ...]]) -> int:
        """Store rows whose id needs their bytes (`_split_suspects`); return how
        many were new messages.

        A message without Message-ID gets an id made from the sha256 of its bytes.
        A Message-ID that a stored email holds already is that email only when
        both have the same bytes (fetched once, kept as the row's digest); a chat
        line holds it only for its own sender (`Store.is_same_message`). Any
        other message keeps the shared id as its Message-ID and gets an id of its
        own, in the shared id's thread. Within a batch the smallest digest takes
        a shared id first, so the outcome does not depend on UID order.
        """
        if not rows:
            return 0
        name = self.account.name
        digests = self._digests(folder, [r[2] for r in rows])
        settled: list[tuple[Any, ...]] = []
        for r in rows:
            if r[2] not in digests:
                continue  # expunged meanwhile
            if r[12] is None:
                content_id = content_message_id(digests[r[2]])
                # A message of its own starts its own thread; a reply stays in its.
                thread = content_id if r[4] == r[3] else r[4]
                r = (*r[:3], content_id, thread, *r[5:])
            settled.append(r)
        settled.sort(key=lambda r: (r[3], digests[r[2]]))
        claims = self.store.claims(name, {r[3] for r in settled})
        self._digests_of_claims(folder, claims)
        batch: dict[str, str] = {}  # id -> digest of the row of this batch that has it
        out = []
        for r in settled:
            digest, base, n = digests[r[2]], r[3], 0
            msg_id = base
            while True:
                if msg_id in batch:
                    same = batch[msg_id] == digest
                else:
                    if msg_id not in claims and n:
                        claims.update(self.store.claims(name, [msg_id]))
                        self._digests_of_claims(folder, claims)
                    owner = claims.get(msg_id)
                    same = owner is None or self.store.is_same_message(
                        "email", r[6], r[8], digest, owner[0])
                if same:
                    break
                n += 1
                msg_id = distinct_msg_id(base, "email", r[8], digest, n)
            batch[msg_id] = digest
            out.append((*r[:3], msg_id, *r[4:]))
        if not self.is_selected(folder):
            self._examine(folder)
        new = self.store.insert_email_headers(name, folder, out)
        self.store.set_digests_by_uid(name, folder, {r[2]: digests[r[2]] for r in out})
        return new

    def _digests_of_claims(self, folder: str,
                           claims: dict[str, tuple[Claim, list[tuple[str, int]]]]) -> None:
        """Fill in the digest of stored emails that hold a contested id, fetching
        their bytes from a place they have on the server."""
        wanted: dict[str, dict[int, Claim]] = defaultdict(dict)
        for claim, places in claims.values():
            if claim.digest is None and claim.transport == "email" and places:
                wanted[places[0][0]][places[0][1]] = claim
        found: dict[int, str] = {}
        for where in sorted(wanted, key=lambda f: f != folder):  # this folder first
            for uid, digest in self._digests(where, list(wanted[where])).items():
                claim = wanted[where][uid]
                claim.digest = found[claim.row_id] = digest
        if found:
            self.store.set_digests(found)

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

    # -- bodies, flags, moves ------------------------------------------------
    def fetch_body(self, row_id: int) -> None:
        """Fetch a message's body (BODY.PEEK: it stays unread) and keep it in the store."""
        message = self.store.get_message(row_id)
        if message is None or message.folder is None or message.uid is None:
            raise LookupError(f"message {row_id} has no place on the IMAP server")
        if self.store.has_body(row_id):
            return
        client = self.connect()
        self._examine(message.folder)
        info = client.fetch([message.uid], [b"RFC822.SIZE", b"BODYSTRUCTURE"]).get(message.uid)
        if info is None:
            raise LookupError(f"message {row_id} is no longer on the server")
        size = int(info.get(b"RFC822.SIZE") or 0)
        if size > self.body_limit:
            self._fetch_large(row_id, message.uid, size, info.get(b"BODYSTRUCTURE"))
            return
        data = client.fetch([message.uid], [b"BODY.PEEK[]"]).get(message.uid)
        if data is None:
            raise LookupError(f"message {row_id} is no longer on the server")
        raw = data[b"BODY[]"]
        parsed = parse_message(raw, max_bytes=max(self.body_limit, len(raw)))
        full = to_message(parsed, account=self.account.name, folder=message.folder,
                          uid=message.uid, put_blob=self.store.store_blob)
        self.store.set_body(row_id, full.text, full.attachments,
                            raw=raw if parsed.malformed else None, malformed=parsed.malformed)
        self.store.set_digests({row_id: parsed.digest})

    def _fetch_large(self, row_id: int, uid: int, size: int, structure: Any) -> None:
        """A message over the body limit: the start of its text part (a partial
        FETCH) and its files as a list, kept as its body so that opening it again
        fetches nothing. The files' bytes come when one is saved."""
        text_part = text_leaf(structure)
        want = min(self.body_limit, LARGE_TEXT_BYTES)
        text = ""
        if text_part is not None:
            data = self.connect().fetch(
                [uid], [f"BODY.PEEK[{text_part.part_id}]<0.{want}>".encode()]).get(uid) or {}
            chunk = next((v for k, v in data.items() if isinstance(k, bytes)
                          and k.startswith(b"BODY[") and isinstance(v, bytes)), b"")
            text = partial_text(text_part, chunk)
            if text_part.size > len(chunk):
                text = text.rstrip() + "\n\n[…]"
        note = (f"[This message is {size:,} bytes, over the body limit of "
                f"{self.body_limit:,}: only the start of its text was fetched.]")
        self.store.set_body(row_id, f"{text.rstrip()}\n\n{note}" if text.strip() else note,
                            files(structure, text_part))

    def fetch_part(self, row_id: int, position: int) -> Attachment:
        """The bytes of one file of a message whose body was fetched without them
        (over the body limit): its part alone, with its MIME header, decoded by the
        stdlib, kept in the blob store."""
        message = self.store.get_message(row_id)
        if message is None or message.folder is None or message.uid is None:
            raise LookupError(f"message {row_id} has no place on the IMAP server")
        attachment = message.attachments[position]
        if attachment.sha256 is not None:
            return attachment
        part = attachment.part_id
        if not part or not all(p.isdigit() for p in part.split(".")):
            raise LookupError(f"attachment {position} of message {row_id} has no content")
        self._examine(message.folder)
        client = self.connect()
        head = f"BODY.PEEK[{part}.MIME]"
        if part == "1":
            # A single-part message has no part header of its own: its header is
            # the message's.
            shape = client.fetch([message.uid], [b"BODYSTRUCTURE"]).get(message.uid) or {}
            structure = shape.get(b"BODYSTRUCTURE")
            if not (structure and isinstance(structure[0], list)):
                head = "BODY.PEEK[HEADER]"
        data = client.fetch([message.uid], [head.encode(), f"BODY.PEEK[{part}]".encode()])
        got = data.get(message.uid) or {}
        header = next((v for k, v in got.items() if isinstance(k, bytes)
                       and k.startswith(b"BODY[") and k.endswith((b"MIME]", b"HEADER]"))), None)
        body = got.get(f"BODY[{part}]".encode())
        if not isinstance(header, bytes) or not isinstance(body, bytes):
            raise LookupError(f"attachment {position} of message {row_id} is not on the server")
        mime_part = email.message_from_bytes(header.rstrip(b"\r\n") + b"\r\n\r\n" + body,
                                             policy=compat32)
        try:
            payload = mime_part.get_payload(decode=True)
        except Exception:  # a hostile encoding: keep the bytes as they came
            payload = body
        content = payload if isinstance(payload, bytes) else body
        filled = dataclasses.replace(attachment, sha256=self.store.store_blob(content),
                                     size=len(content))
        self.store.set_attachment(row_id, position, filled)
        return filled

    def fetch_headers(self, row_id: int, names: Sequence[str]) -> dict[str, str]:
        """Some header fields of a message (BODY.PEEK[HEADER.FIELDS]: it stays
        unread), each as one string (repeated fields joined by ", "); a field the
        message lacks is absent."""
        message = self.store.get_message(row_id)
        if message is None or message.folder is None or message.uid is None:
            raise LookupError(f"message {row_id} has no place on the IMAP server")
        client = self.connect()
        self._examine(message.folder)
        wanted = " ".join(n.upper() for n in names).encode("ascii")
        data = client.fetch([message.uid], [b"BODY.PEEK[HEADER.FIELDS (" + wanted + b")]"])
        item = data.get(message.uid)
        if item is None:
            raise LookupError(f"message {row_id} is no longer on the server")
        block = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"") or b""
        parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(block)
        fields: dict[str, str] = {}
        for name, value in parsed.items():
            text = str(value)
            fields[name] = f"{fields[name]}, {text}" if name in fields else text
        return fields

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
            attachment = self.fetch_part(row_id, position)
        assert attachment.sha256 is not None  # fetch_part keeps the bytes or raises
        data = self.store.blob_path(attachment.sha256).read_bytes()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
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
        """APPEND `raw` to `folder` (created when missing), stamped by the server.

        The stamp is the server's clock: with no date of ours, the server sets the new
        message's INTERNALDATE to the moment it took it (RFC 3501 6.3.11). When the
        server names the message (UIDPLUS's APPENDUID), its INTERNALDATE against the
        middle of our round trip is the clock skew, published as `ClockMeasured`.
        IMAP has no command that reads the server's clock; this is the one moment a
        client learns it without writing anything for the purpose.
        """
        client = self.connect()
        sent = self.clock()
        try:
            answer = client.append(folder, raw, flags=flags, msg_time=None)
        except imapclient.exceptions.IMAPClientError:
            client.create_folder(folder)
            sent = self.clock()
            answer = client.append(folder, raw, flags=flags, msg_time=None)
        back = self.clock()
        with suppress(OSError, imapclient.exceptions.IMAPClientError, ValueError):
            skew = self._append_skew(folder, answer, (sent + back) / 2)
            if skew is not None:
                self.events.publish(ClockMeasured(self.account.name, "imap", skew))

    def _append_skew(self, folder: str, answer: bytes | str, middle: float) -> float | None:
        text = answer.decode("ascii", "replace") if isinstance(answer, bytes) else str(answer)
        found = APPENDUID.search(text)
        if found is None:
            return None
        uid = int(found.group(2))
        self._examine(folder)
        stamp = self.connect().fetch([uid], [b"INTERNALDATE"]).get(uid, {}).get(b"INTERNALDATE")
        if not isinstance(stamp, datetime.datetime):
            return None
        # INTERNALDATE counts whole seconds: the moment lies within the second it names.
        return stamp.timestamp() + 0.5 - middle

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
