"""A streaming UID FETCH for header sync, on an imapclient connection.

imapclient parses every response into nested Python objects, which costs more than
the server takes to send them: at 100,000 messages that is seconds. Header sync
needs only a few items per message, so this sends the command on the same
connection and frames the responses itself: a line, its literals, the next line.
Everything else (login, SELECT, IDLE, flags) stays with imapclient.

Untagged responses other than FETCH (EXISTS, EXPUNGE, VANISHED) are collected so
the caller can act on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import imapclient

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_FETCH = re.compile(rb"\* (\d+) FETCH \(")
_UID = re.compile(rb"[( ]UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_MODSEQ = re.compile(rb"MODSEQ \((\d+)\)")
_VANISHED = re.compile(rb"\* VANISHED (?:\(EARLIER\) )?([0-9:,]+)")

HEADER_FIELDS = (b"FROM TO CC REPLY-TO SUBJECT DATE MESSAGE-ID IN-REPLY-TO REFERENCES "
                 b"CONTENT-TYPE")


_NO_FLAGS: frozenset[str] = frozenset()


class FetchError(Exception):
    """The server answered the FETCH with NO or BAD, or the connection broke."""


@dataclass(slots=True)
class FetchedHeader:
    uid: int
    flags: frozenset[str]
    size: int
    modseq: int
    header: bytes


@dataclass
class Unsolicited:
    vanished: list[int] = field(default_factory=list)
    exists: int | None = None


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


def stream_fetch(client: imapclient.IMAPClient, uids: str, items: bytes,
                 modifiers: bytes = b"", extra: Unsolicited | None = None
                 ) -> Iterator[FetchedHeader]:
    """Run `UID FETCH uids (items) modifiers` and yield each message as it arrives."""
    im = client._imap
    flag_sets: dict[bytes, frozenset[str]] = {}
    tag = im._new_tag()
    command = b"%s UID FETCH %s (%s)" % (tag, uids.encode(), items)
    if modifiers:
        command += b" (" + modifiers + b")"
    try:
        im.send(command + b"\r\n")
        f = im.file
        done = tag + b" "
        while True:
            line = f.readline()
            if not line:
                raise FetchError("the server closed the connection during FETCH")
            literals: list[bytes] = []
            text = line
            while (m := _LITERAL.search(line)) is not None:
                literals.append(f.read(int(m.group(1))))
                line = f.readline()
                if not line:
                    raise FetchError("the server closed the connection during FETCH")
                text += line
            if text.startswith(done):
                status = text[len(done):].split(b" ", 1)[0]
                if status != b"OK":
                    raise FetchError(text.decode("utf-8", "replace").strip())
                return
            if _FETCH.match(text):
                uid = _UID.search(text)
                if uid is None:
                    continue  # a flag update pushed without UID: the resync will see it
                flags = _FLAGS.search(text)
                size = _SIZE.search(text)
                modseq = _MODSEQ.search(text)
                if flags is None:
                    flag_set = _NO_FLAGS
                else:
                    # A mailbox has a handful of flag combinations: one shared set
                    # each, which also pickles once per batch for the parser.
                    raw_flags = flags.group(1)
                    flag_set = flag_sets.get(raw_flags)
                    if flag_set is None:
                        flag_set = frozenset(raw_flags.decode("utf-8", "replace").split())
                        if len(flag_sets) < 256:
                            flag_sets[raw_flags] = flag_set
                yield FetchedHeader(
                    int(uid.group(1)),
                    flag_set,
                    int(size.group(1)) if size else 0,
                    int(modseq.group(1)) if modseq else 0,
                    literals[0] if literals else b"")
            elif extra is not None:
                if (v := _VANISHED.match(text)) is not None:
                    extra.vanished.extend(parse_uid_set(v.group(1).decode()))
                elif text.endswith(b" EXISTS\r\n"):
                    extra.exists = int(text.split()[1])
    except OSError as exc:
        raise FetchError(f"connection lost during FETCH: {exc}") from exc
