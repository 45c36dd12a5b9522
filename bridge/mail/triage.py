"""Triage on the IMAP server: move, copy, delete, archive, flags and keywords.

Each action works on places (row, folder, UID) of one account over a `MailSync`
connection, with imapclient's own commands: MOVE (RFC 6851) when the server has
it, else COPY + STORE \\Deleted + UID EXPUNGE (UIDPLUS), else a plain EXPUNGE.
The store follows at once: a moved message is re-pointed before the server is
asked (a placeholder UID, the negative row id, in the target folder) and either
given its new UID from COPYUID (read only when the server says UIDPLUS), found
by its Message-ID, or put back
where it was when the server refuses; flags likewise. A refusal is a
`TriageError` with one line saying what the server said.

Every action returns a `Done`: what moved where and which flags changed, enough
for `undo` to reverse it; the engine keeps it in the store's event log, so an
undo works from another process on the same store too.
"""

from __future__ import annotations

import email.parser
import imaplib
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import imapclient
from imapclient.exceptions import IMAPClientError

from ..model import ANSWERED, Transport, normalize_message_id
from .imap_fetch import FetchError, stored_flags

if TYPE_CHECKING:
    from .sync import MailSync
    from .sync_writes import Appended

log = logging.getLogger(__name__)
COPYUID = re.compile(r"COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)", re.IGNORECASE)
# RFC 3501 atom-specials and the flag rules: a keyword is an atom, and not a
# system flag (those start with a backslash).
_NOT_IN_ATOM = set('(){ %*"\\]') | {chr(c) for c in range(32)} | {"\x7f"}
TRASH, ARCHIVE, DRAFTS = b"\\Trash", b"\\Archive", b"\\Drafts"


class TriageError(Exception):
    """The server refused a triage action, or it cannot be done; one line."""


@dataclass(frozen=True)
class Place:
    row: int
    folder: str
    uid: int


@dataclass
class Done:
    """One triage action as it happened.

    `moved` holds (row, folder, uid, target, new_uid): new_uid None when the
    server did not say and the message was not found by its Message-ID.
    `flags` holds (row, before, after) as sorted lists.
    """

    action: str
    account: str
    moved: list[tuple[int, str, int, str, int | None]] = field(default_factory=list)
    flags: list[tuple[int, list[str], list[str]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Done:
        return cls(data["action"], data["account"],
                   [(r, f, u, t, n) for r, f, u, t, n in data.get("moved", [])],
                   [(r, list(b), list(a)) for r, b, a in data.get("flags", [])])

    @property
    def rows(self) -> list[int]:
        return sorted({m[0] for m in self.moved} | {f[0] for f in self.flags})


def _one_line(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(str(text).split())


def _uid_list(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        out.extend(range(min(a, b), max(a, b) + 1))
    return out


def _copyuid(answer: object, client: imapclient.IMAPClient) -> dict[int, int]:
    """Old UID -> new UID from the server's COPYUID (RFC 4315): in the tagged OK
    of COPY, or an untagged OK before the expunges of MOVE (imaplib keeps that
    one under its response code)."""
    texts = [answer.decode("ascii", "replace") if isinstance(answer, bytes) else str(answer)]
    for data in client._imap.untagged_responses.pop("COPYUID", []):
        texts.append("COPYUID " + (data.decode("ascii", "replace")
                                   if isinstance(data, bytes) else str(data)))
    for text in texts:
        found = COPYUID.search(text)
        if found:
            old, new = _uid_list(found.group(2)), _uid_list(found.group(3))
            if len(old) == len(new):
                return dict(zip(old, new, strict=True))
    return {}


def check_keyword(name: str) -> str:
    """A tag as an IMAP keyword, or ValueError saying why it cannot be one."""
    if not name or name.startswith("\\") or any(c in _NOT_IN_ATOM for c in name) \
            or not name.isascii():
        raise ValueError(f"{name!r} cannot be an IMAP keyword (ASCII, no spaces, "
                         "no ( ) { % * \" \\ ])")
    return name


def special_folder(sync: MailSync, flag: bytes) -> str | None:
    """The folder the server marks with a SPECIAL-USE flag (RFC 6154), or None."""
    for flags, _sep, name in sync.connect().list_folders():
        if flag in flags:
            return str(name)
    return None


def _has(sync: MailSync, capability: bytes) -> bool:
    return capability in sync.connect().capabilities() and \
        capability not in getattr(sync, "disabled_capabilities", ())


def _by_folder(places: Iterable[Place]) -> dict[str, list[Place]]:
    groups: dict[str, list[Place]] = defaultdict(list)
    for p in places:
        groups[p.folder].append(p)
    return groups


def _select(sync: MailSync, folder: str, readonly: bool = False) -> imapclient.IMAPClient:
    client = sync.connect()
    sync._selected = None  # our EXAMINE, if any, is gone
    client.select_folder(folder, readonly=readonly)
    return client


def _expunge(sync: MailSync, client: imapclient.IMAPClient, uids: list[int]) -> None:
    client.delete_messages(uids, silent=True)
    if _has(sync, b"UIDPLUS"):
        client.uid_expunge(uids)
    else:
        # Without UIDPLUS, EXPUNGE removes every \Deleted message of the folder.
        client.expunge()


def _find_by_message_id(sync: MailSync, folder: str, rows: list[int]) -> dict[int, int]:
    """row -> UID in `folder`, found by Message-ID, for a server without COPYUID."""
    found: dict[int, int] = {}
    known = set(sync.store.folder_uids(sync.account.name, folder))
    client = _select(sync, folder, readonly=True)
    for row in rows:
        m = sync.store.get_message(row)
        if m is None or not m.message_id_header:
            continue
        uids = [u for u in client.search(["HEADER", "Message-ID", m.message_id_header])
                if u not in known]
        if uids:
            found[row] = max(uids)
            known.add(found[row])
    return found


def move(sync: MailSync, places: Sequence[Place], target: str, *, copy: bool = False,
         action: str | None = None) -> Done:
    """Move (or copy) messages to `target`; the store follows, or is put back."""
    account = sync.account.name
    store = sync.store
    done = Done(action or ("copy" if copy else "move"), account)
    for folder, group in _by_folder(places).items():
        if folder == target and not copy:
            continue
        uids = [p.uid for p in group]
        if not copy:
            store.move_mail_locations(account, [(folder, p.uid, target, -p.row) for p in group])
        try:
            client = _select(sync, folder)
            client._imap.untagged_responses.pop("COPYUID", None)
            if copy:
                answer = client.copy(uids, target)
            elif _has(sync, b"MOVE"):
                answer = client.move(uids, target)
            else:
                answer = client.copy(uids, target)
                _expunge(sync, client, uids)
        except imaplib.IMAP4.abort as exc:
            if not copy:
                store.move_mail_locations(
                    account, [(target, -p.row, folder, p.uid) for p in group])
            if isinstance(exc, imaplib.IMAP4.readonly):
                raise TriageError(f"{folder} -> {target}: {folder} is read-only on the "
                                  "server") from exc
            raise
        except IMAPClientError as exc:
            if not copy:
                store.move_mail_locations(
                    account, [(target, -p.row, folder, p.uid) for p in group])
            raise TriageError(f"{folder} -> {target}: the server refused: "
                              f"{_one_line(exc)}") from exc
        # COPYUID is UIDPLUS's response code: the server's word only when it says
        # UIDPLUS (Dovecot with the capability hidden still sends it).
        new = _copyuid(answer, client) if _has(sync, b"UIDPLUS") else {}
        client._imap.untagged_responses.pop("COPYUID", None)
        by_row = {p.row: new[p.uid] for p in group if p.uid in new}
        missing = [p.row for p in group if p.row not in by_row]
        if missing:
            by_row.update(_find_by_message_id(sync, target, missing))
        for p in group:
            new_uid = by_row.get(p.row)
            if copy:
                if new_uid is not None:
                    store.add_mail_location(account, target, new_uid, p.row)
            elif new_uid is not None:
                store.move_mail_locations(account, [(target, -p.row, target, new_uid)])
            else:
                store.remove_mail_locations(account, target, [-p.row])
            done.moved.append((p.row, folder, p.uid, target, new_uid))
    return done


def expunge(sync: MailSync, places: Sequence[Place]) -> Done:
    """Delete for good: \\Deleted and EXPUNGE; cannot be undone."""
    done = Done("expunge", sync.account.name)
    for folder, group in _by_folder(places).items():
        uids = [p.uid for p in group]
        try:
            _expunge(sync, _select(sync, folder), uids)
        except imaplib.IMAP4.abort:
            raise
        except IMAPClientError as exc:
            raise TriageError(f"{folder}: the server refused to delete: "
                              f"{_one_line(exc)}") from exc
        sync.store.remove_mail_locations(sync.account.name, folder, uids)
        done.moved += [(p.row, folder, p.uid, "", None) for p in group]
    return done


def delete(sync: MailSync, places: Sequence[Place], *, expunge_now: bool = False) -> Done:
    """To Trash (SPECIAL-USE); messages already in Trash, or every message when
    `expunge_now` (the account's setting), are expunged instead."""
    trash = None if expunge_now else special_folder(sync, TRASH)
    if trash is None and not expunge_now:
        raise TriageError("the server names no Trash folder (SPECIAL-USE \\Trash); "
                          "set expunge_deletes = true to delete for good")
    gone = [p for p in places if expunge_now or p.folder == trash]
    kept = [p for p in places if p not in gone]
    done = Done("delete", sync.account.name)
    if kept:
        assert trash is not None
        done = move(sync, kept, trash, action="delete")
    if gone:
        purged = expunge(sync, gone)
        done.moved += purged.moved
        if not kept:
            done.action = "expunge"
    return done


def archive(sync: MailSync, places: Sequence[Place], folder: str | None = None) -> Done:
    """To the account's archive folder, else the one the server marks \\Archive."""
    target = folder or special_folder(sync, ARCHIVE)
    if target is None:
        raise TriageError("the server names no Archive folder (SPECIAL-USE \\Archive); "
                          "set archive_folder for the account")
    return move(sync, places, target, action="archive")


def set_flags(sync: MailSync, places: Sequence[Place], add: Sequence[str] = (),
              remove: Sequence[str] = (), action: str = "flags") -> Done:
    """Add and remove flags or keywords; the store shows them at once and is
    put back if the server refuses."""
    store = sync.store
    done = Done(action, sync.account.name)
    before: dict[int, set[str]] = {}
    for p in places:
        m = store.get_message(p.row)
        before[p.row] = set(m.flags) if m is not None else set()
        after = (before[p.row] | set(add)) - set(remove)
        store.set_flags(p.row, after)
        done.flags.append((p.row, sorted(before[p.row]), sorted(after)))
    try:
        for folder, group in _by_folder(places).items():
            uids = [p.uid for p in group]
            client = _select(sync, folder)
            if add:
                client.add_flags(uids, list(add), silent=True)
            if remove:
                client.remove_flags(uids, list(remove), silent=True)
            current = client.get_flags(uids)
            store.update_flags_by_uid(
                sync.account.name, folder,
                {u: stored_flags(fl) for u, fl in current.items()})
    except BaseException as exc:
        for row, old in before.items():
            store.set_flags(row, old)
        # imaplib's `readonly` (a folder SELECTed READ-ONLY, as an ACL without the
        # write rights makes it) is an `abort` by class, yet the connection is fine.
        if isinstance(exc, imaplib.IMAP4.readonly):
            raise TriageError(f"the server refused the flags: {_one_line(exc)} (the "
                              "folder is read-only)") from exc
        if isinstance(exc, IMAPClientError) and not isinstance(exc, imaplib.IMAP4.abort):
            raise TriageError(f"the server refused the flags: {_one_line(exc)}") from exc
        raise
    return done


def undo(sync: MailSync, done: Done) -> Done:
    """Reverse `done`: flags back, moved messages back to where they were, copies
    deleted. An expunge cannot be undone."""
    if done.action == "expunge" or any(m[3] == "" for m in done.moved):
        raise TriageError("a message deleted for good (expunged) cannot be brought back")
    result = Done(f"undo {done.action}", done.account)
    for row, before, after in done.flags:
        m = sync.store.get_message(row)
        if m is None or m.folder is None or m.uid is None:
            continue
        back = set_flags(sync, [Place(row, m.folder, m.uid)],
                         add=sorted(set(before) - set(after)),
                         remove=sorted(set(after) - set(before)))
        result.flags += back.flags
    lost = [m for m in done.moved if m[4] is None]
    if lost:
        raise TriageError(f"{len(lost)} message(s) have no known UID in {lost[0][3]}: "
                          "sync, then move them back by hand")
    if done.action == "copy":
        copies = [Place(row, target, new) for row, _f, _u, target, new in done.moved
                  if new is not None]
        result.moved += expunge(sync, copies).moved
        return result
    homes: dict[str, list[Place]] = defaultdict(list)
    for row, folder, _uid, target, new in done.moved:
        assert new is not None
        homes[folder].append(Place(row, target, new))
    for home, group in homes.items():
        result.moved += move(sync, group, home).moved
    return result


def file_sent(sync: MailSync, raw: bytes) -> Appended:
    """After SMTP took an email of ours: its copy into the Sent folder, and
    \\Answered on the email it answers (its In-Reply-To), as mutt and every
    other client do; that flag is a nicety, and its failure is only logged.

    Returns where the copy went: with its UID when the server names it
    (UIDPLUS), for the sender to write down at once. A server that does not
    name it has the Sent folder synced here instead, so the store learns the
    copy's place now (the sync knows it as the outbox's message, by its
    Message-ID and bytes: one message), not at the next full pass minutes later;
    that sync failing is only logged, the copy being on the server."""
    sent = next((f.name for f in sync.store.folders(sync.account.name) if f.role == "sent"),
                "Sent")
    placed = sync.append(sent, raw)
    if placed.uid is None:
        try:
            sync.sync_folder(sent)
        except (OSError, IMAPClientError, FetchError) as exc:
            log.warning("%s: could not sync %s after filing: %s", sync.account.name, sent, exc)
    try:
        mark_answered(sync, raw)
    except (OSError, IMAPClientError) as exc:
        log.warning("%s: could not set \\Answered: %s", sync.account.name, exc)
    return placed


def mark_answered(sync: MailSync, raw: bytes) -> int:
    """\\Answered on the stored emails `raw` replies to; returns how many."""
    head = email.parser.BytesHeaderParser().parsebytes(raw)
    if head.get("Resent-From"):  # a bounce answers nothing
        return 0
    parent = normalize_message_id(str(head.get("In-Reply-To") or ""))
    if not parent:
        return 0
    places = [Place(m.id, m.folder, m.uid)
              for m in sync.store.lookup("message_id_header", parent, account=sync.account.name)
              if m.transport is Transport.EMAIL and m.id is not None and m.folder
              and m.uid is not None and m.uid > 0 and ANSWERED not in m.flags]
    if places:
        set_flags(sync, places, add=[ANSWERED], action="answered")
    return len(places)
