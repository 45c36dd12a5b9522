"""A streaming UID FETCH for header sync, on an imapclient connection.

imapclient parses every response into nested Python objects, which costs more than
the server takes to send them: at 100,000 messages that is seconds. Header sync
needs only a few items per message, so this sends the command on the same
connection and frames the responses itself: a line, its literals, the next line.
Everything else (login, SELECT, IDLE, flags) stays with imapclient.

Untagged responses other than FETCH (EXISTS, VANISHED, HIGHESTMODSEQ, a server's
complaint) are collected so the caller can act on them. `stream_command` does the
same for another command (NOOP), whose answer is whatever changed in the selected
mailbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import imapclient

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_FETCH = re.compile(rb"\* (\d+) FETCH \(")
_UID = re.compile(rb"[( ]UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_MODSEQ = re.compile(rb"MODSEQ \((\d+)\)")
_VANISHED = re.compile(rb"\* VANISHED (?:\(EARLIER\) )?([0-9:,]+)")
_HIGHESTMODSEQ = re.compile(rb"\[HIGHESTMODSEQ (\d+)\]")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_TROUBLE = re.compile(rb"\* (NO|BAD|BYE)\b")

# The header fields a header sync stores (`header_rows.header_row`): no more,
# since every byte is read by Dovecot, TLS and the parser 100,000 times in a cold
# sync (Reply-To is read when a reply is written, from the message itself).
HEADER_FIELDS = (b"FROM TO CC SUBJECT DATE MESSAGE-ID IN-REPLY-TO REFERENCES "
                 b"CONTENT-TYPE")


_NO_FLAGS: frozenset[str] = frozenset()
# \Recent belongs to one IMAP session (RFC 3501 2.3.2; gone in IMAP4rev2, RFC
# 9051): not a flag of the message, never stored nor sent back.
SESSION_FLAGS = frozenset({"\\recent"})


def stored_flags(flags: Iterable[str | bytes]) -> frozenset[str]:
    """A FETCH's flags as the store keeps them: str, without session flags."""
    return frozenset(f for f in (x.decode("utf-8", "replace") if isinstance(x, bytes) else x
                                 for x in flags) if f.lower() not in SESSION_FLAGS)


class FetchError(Exception):
    """The server answered the FETCH with NO or BAD, or the connection broke."""


class FetchConnectionLost(FetchError, ConnectionError):
    """The connection broke in the middle of a streamed command: a network
    failure (an OSError, as every caller that handles one expects), not a
    server's refusal."""


@dataclass(slots=True)
class FetchedHeader:
    uid: int
    flags: frozenset[str]
    size: int
    modseq: int
    header: bytes


@dataclass
class Unsolicited:
    """What came besides the FETCH data a caller asked for.

    `modseq` is the highest mod-sequence the server reported: a HIGHESTMODSEQ
    response code, or the MODSEQ of a FETCH response that named its UID (one
    without a UID cannot be placed, so it does not count as seen). `trouble` holds
    untagged NO, BAD and BYE lines: the server could not bring the session up to
    date (Dovecot says NO when the selected mailbox was deleted under it).
    """

    vanished: list[int] = field(default_factory=list)
    exists: int | None = None
    modseq: int = 0
    uidvalidity: int | None = None
    trouble: list[bytes] = field(default_factory=list)


def parse_uid_set(text: str) -> list[int]:
    uids: list[int] = []
    for part in text.split(","):
        if ":" in part:
            a, b = part.split(":")
            lo, hi = sorted((int(a), int(b)))
            uids.extend(range(lo, hi + 1))
        elif part:
            uids.append(int(part))
    return uids


def uid_set(uids: list[int]) -> str:
    """A compact sequence set: 1:5,7,9:12."""
    if not uids:
        raise ValueError("empty uid set")
    ordered = sorted(set(uids))
    out = []
    start = prev = ordered[0]
    for u in ordered[1:]:
        if u == prev + 1:
            prev = u
            continue
        out.append(f"{start}:{prev}" if start != prev else str(start))
        start = prev = u
    out.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(out)


_ESEARCH_ALL = re.compile(rb"\* ESEARCH .*? ALL ([0-9:,]+)")


def search_uids(client: imapclient.IMAPClient, criteria: bytes) -> list[int]:
    """`UID SEARCH criteria`, as ESEARCH (RFC 4731) where the server has it: the
    answer is a compact set (1:100000) instead of every UID spelled out, which a
    large mailbox sends and parses at a cost."""
    if b"ESEARCH" not in client.capabilities():
        return list(client.search(criteria.decode()))
    im = client._imap
    tag = im._new_tag()
    uids: list[int] = []
    try:
        im.send(b"%s UID SEARCH RETURN (ALL) %s\r\n" % (tag, criteria))
        f = im.file
        done = tag + b" "
        while True:
            line = f.readline()
            if not line:
                raise FetchConnectionLost("the server closed the connection during SEARCH")
            if _LITERAL.search(line):
                raise FetchError("unexpected literal in a SEARCH answer")
            if line.startswith(done):
                if line[len(done):].split(b" ", 1)[0] != b"OK":
                    raise FetchError(line.decode("utf-8", "replace").strip())
                return uids
            if (m := _ESEARCH_ALL.match(line)) is not None:
                uids = parse_uid_set(m.group(1).decode())
            else:
                note_push(im, line)
    except FetchError:
        raise
    except OSError as exc:
        raise FetchConnectionLost(f"connection lost during SEARCH: {exc}") from exc
    finally:
        im.tagged_commands.pop(tag, None)


_PUSHED = re.compile(rb"^\* (?:\d+ (FETCH|EXISTS|EXPUNGE)\b|(VANISHED)\b)")


def note_push(im: Any, line: bytes) -> None:
    """Keep a sign of a change the server told in the middle of another command's
    answer (a flag, an expunge, new mail), where imaplib keeps its untagged
    responses: the session counts it as told, so the worker must resync before it
    goes back to IDLE (see bridge.mail.worker)."""
    if (m := _PUSHED.match(line)) is not None:
        im.untagged_responses.setdefault((m.group(1) or m.group(2)).decode(), []).append(b"")


def stream_fetch(client: imapclient.IMAPClient, uids: str, items: bytes,
                 modifiers: bytes = b"", extra: Unsolicited | None = None
                 ) -> Iterator[FetchedHeader]:
    """Run `UID FETCH uids (items) modifiers` and yield each message as it arrives."""
    command = b"UID FETCH %s (%s)" % (uids.encode(), items)
    if modifiers:
        command += b" (" + modifiers + b")"
    return stream_command(client, command, extra)


def stream_command(client: imapclient.IMAPClient, command: bytes,
                   extra: Unsolicited | None = None) -> Iterator[FetchedHeader]:
    """Run `command` and yield each FETCH response that names its UID as it arrives.

    Everything else goes into `extra`; a tagged NO or BAD raises FetchError.
    """
    im = client._imap
    flag_sets: dict[bytes, frozenset[str]] = {}
    tag = im._new_tag()
    try:
        im.send(b"%s %s\r\n" % (tag, command))
        f = im.file
        done = tag + b" "
        while True:
            line = f.readline()
            if not line:
                raise FetchConnectionLost("the server closed the connection during FETCH")
            literals: list[bytes] = []
            text = line
            while (m := _LITERAL.search(line)) is not None:
                literals.append(f.read(int(m.group(1))))
                line = f.readline()
                if not line:
                    raise FetchConnectionLost("the server closed the connection during FETCH")
                text += line
            if text.startswith(done):
                status = text[len(done):].split(b" ", 1)[0]
                if status != b"OK":
                    raise FetchError(text.decode("utf-8", "replace").strip())
                if extra is not None and (h := _HIGHESTMODSEQ.search(text)) is not None:
                    extra.modseq = max(extra.modseq, int(h.group(1)))
                return
            if _FETCH.match(text):
                uid = _UID.search(text)
                if uid is None:
                    note_push(im, text)  # a flag update pushed without UID: resync
                    continue
                flags = _FLAGS.search(text)
                size = _SIZE.search(text)
                modseq = _MODSEQ.search(text)
                if flags is None:
                    flag_set = _NO_FLAGS
                else:
                    # A mailbox has a handful of flag combinations: one shared set
                    # each, which also pickles once per batch for the parser.
                    raw_flags = flags.group(1)
                    shared = flag_sets.get(raw_flags)
                    if shared is None:
                        shared = stored_flags(raw_flags.split())
                        if len(flag_sets) < 256:
                            flag_sets[raw_flags] = shared
                    flag_set = shared
                item = FetchedHeader(
                    int(uid.group(1)),
                    flag_set,
                    int(size.group(1)) if size else 0,
                    int(modseq.group(1)) if modseq else 0,
                    literals[0] if literals else b"")
                if extra is not None and item.modseq > extra.modseq:
                    extra.modseq = item.modseq
                yield item
            elif extra is None:
                note_push(im, text)
            else:
                if (v := _VANISHED.match(text)) is not None:
                    extra.vanished.extend(parse_uid_set(v.group(1).decode()))
                elif text.endswith(b" EXISTS\r\n"):
                    extra.exists = int(text.split()[1])
                elif _TROUBLE.match(text):
                    extra.trouble.append(text)
                elif (h := _HIGHESTMODSEQ.search(text)) is not None:
                    extra.modseq = max(extra.modseq, int(h.group(1)))
                elif (u := _UIDVALIDITY.search(text)) is not None:
                    extra.uidvalidity = int(u.group(1))
    except FetchError:
        raise
    except OSError as exc:
        raise FetchConnectionLost(f"connection lost during FETCH: {exc}") from exc
    finally:
        # imaplib keeps a slot for every tag it hands out; this one is answered.
        im.tagged_commands.pop(tag, None)
