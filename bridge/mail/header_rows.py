"""Fetched email headers into what the store keeps: the sync's parse step.

`headers_from_fetch` gives the model's `EmailHeaders`; `header_row` goes
straight to the store's row (`Store.email_header_row`) without the objects in
between, since a cold sync makes 100,000 of them. Pure: no connection, no
store; the parser process (bridge.mail.parser_process) runs `header_rows` in a
child process for the bulk path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from ..model import SEEN, Direction, EmailHeaders, Party
from .imap_fetch import FetchedHeader
from .mime import _thread_id_from, header_fields, parse_headers, thread_id_of


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
