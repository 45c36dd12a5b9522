"""The header sync's fast path: one message header to the fields the list needs.

It runs on every message of a mailbox (100,000 in a cold sync), so it is a single
regex pass over the header block plus cached decoding of the fields the message
list needs; the `email` package's full parser costs several times more per
message. Address lists of the common shapes are split by one regex; anything
else goes to `email.utils.getaddresses`. Never raises; defects are recorded.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache
from typing import Any

from bridge.model import (
    Party,
    normalize_message_id,
    parse_message_ids,
)
from bridge.safe import inert_text

from .charset import CACHE_LIMIT, decode_words

# Bounds on single header values: a legitimate Subject is never 64 KiB, and a
# To list of 256 KiB is thousands of recipients. Past these the value is cut,
# which keeps one hostile header from costing seconds in the address parser.
_MAX_TEXT_HEADER = 64 * 1024
_MAX_ADDRESS_HEADER = 256 * 1024
SYNTHETIC_DOMAIN = "synthetic.invalid"


# A header field at the start of a line, with its folded continuation lines.
# Starting with a literal newline lets the regex engine jump between lines
# instead of trying the pattern at every character. The name is matched
# case-sensitively and then looked up in a set: a case-insensitive alternation of
# the eleven names costs several times more. (Under IGNORECASE "ſubject" would
# match too, but was filed under its own lowercase name and never read.)
_FIELD = re.compile(r"\n([A-Za-z-]+)[ \t]*:(.*(?:\r?\n[ \t].*)*)")
_WANTED_FIELDS = frozenset(("subject", "from", "to", "cc", "bcc", "reply-to", "date",
                            "message-id", "in-reply-to", "references", "content-type"))
_ID = re.compile(r"<([^<>]*)>")
# A References value that is only well-formed bracketed ids and spaces needs none
# of the model's repair steps.
_CLEAN_IDS = re.compile(r"(?:[ \t]*<[!-;=?-~]+>)+[ \t]*")
_KEY_FIELDS = ("from", "to", "cc", "date", "subject")


@dataclass(slots=True)
class HeaderInfo:
    """What the message list and threading need from one message's header."""

    subject: str = ""
    sender: Party | None = None
    to: list[Party] = field(default_factory=list)
    cc: list[Party] = field(default_factory=list)
    bcc: list[Party] = field(default_factory=list)
    reply_to: list[Party] = field(default_factory=list)
    date: float | None = None
    message_id: str = ""  # bare, "" when the header is missing
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    content_type: str = ""
    has_attachment: bool = False
    # Never empty: Message-ID, or a synthetic id when it is missing.
    msg_id: str = ""
    defects: list[str] = field(default_factory=list)

    @property
    def synthetic_id(self) -> bool:
        return self.message_id == ""


def header_text(text: str) -> str:
    """Header text for display: decoded, inert, on one line."""
    text = inert_text(decode_words(text))
    if not text.isprintable():
        text = " ".join(text.split())
    return text


# The shape of nearly every address list in real mail: `"Name" <a@b>`,
# `Name <a@b>` or `a@b`, separated by commas. getaddresses handles everything
# (groups, comments, obsolete routes) but costs ~10 us per field; lists that
# match this fullmatch are split by one C-level regex pass instead.
_ADDR = r"[^\s<>\"(),;:@\\\[\]]+@[^\s<>\"(),;:@\\\[\]]+"
_MAILBOX = (
    r"(?:\"((?:[^\"\\\r\n]|\\.)*)\"|([^\"<>,;:@()\\\[\]]*?))[ \t]*<(" + _ADDR + r")>"
    r"|(" + _ADDR + r")"
)
# One mailbox with the comma after it. It is matched only at the position where
# the previous one ended, never searched for: a search would retry at every
# character, which is quadratic on a long hostile value without "<" or ",".
_MAILBOX_ITEM = re.compile(r"[ \t]*(?:" + _MAILBOX + r")[ \t]*(?:,[ \t]*|$)")
_QUOTED_PAIR = re.compile(r"\\(.)")
_ADDR_DELIMITERS = re.compile(r"[\s<>\"(),;:\\\[\]]+")
# getaddresses is pure Python and slow on long values; a list longer than this
# (several hundred recipients) is read by the plain address regex instead.
_MAX_FULL_ADDRESS_PARSE = 16 * 1024


def _party(address: str, name: str, role: str) -> Party:
    if len(address) + len(name) <= CACHE_LIMIT:
        return _party_cached(address, name, role)
    return _make_party(address, name, role)


def _make_party(address: str, name: str, role: str) -> Party:
    # Parties are frozen, so one object per distinct person is shared by every
    # message they appear in: less memory over 100,000 headers, and no repeated
    # decoding of the same display name.
    if name:
        name = header_text(name)
    address = inert_text(address).strip()
    if " " in address or "\t" in address:
        address = "".join(address.split())
    return Party(address=address, name=name, role=role)


_party_cached = lru_cache(maxsize=65536)(_make_party)


def _parties(value: str, role: str) -> tuple[Party, ...]:
    if len(value) <= CACHE_LIMIT:
        if "," in value:
            # A list is rarely seen twice, but its members are: look each up on
            # its own. Only when every comma-separated piece is one plain mailbox
            # is that the same as reading the whole list (a comma inside a quoted
            # name leaves a piece that is not, and the whole list is read instead).
            found = []
            for piece in value.split(","):
                party = _mailbox_cached(piece, role)
                if party is None:
                    return _parties_cached(value, role)
                found.append(party)
            return tuple(found)
        return _parties_cached(value, role)
    return _parse_parties(value, role)


def _mailbox(piece: str, role: str) -> Party | None:
    """The one mailbox that is all of `piece`, read as `_parse_parties` reads it."""
    m = _MAILBOX_ITEM.match(piece)
    if m is None or m.end() != len(piece) or not piece:
        return None
    quoted, plain, angle, bare = m.groups()
    if bare:
        return _party(bare, "", role)
    return _party(angle, _mailbox_name(quoted, plain), role)


def _mailbox_name(quoted: str | None, plain: str | None) -> str:
    """The name before an address in angle brackets: quoted, even when empty
    (`"" <a@b>`, where the plain name's group did not take part), or plain."""
    if quoted is not None:
        name = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
    else:
        name = (plain or "").strip()
    return name if "  " not in name else " ".join(name.split())


_mailbox_cached = lru_cache(maxsize=16384)(_mailbox)


def _parse_parties(value: str, role: str) -> tuple[Party, ...]:
    # Decoding comes after address parsing: an encoded word may decode to a comma
    # or angle bracket, which must not split or redirect the address.
    # The groups of _MAILBOX: quoted name, plain name, angle address, bare address;
    # those of the alternative that did not match are None.
    items: list[tuple[str | None, ...]] = []
    pos, end = 0, len(value)
    match = _MAILBOX_ITEM.match
    while pos < end:
        m = match(value, pos)
        if m is None or m.end() == pos:
            items.clear()
            break
        items.append(m.groups())
        pos = m.end()
    if items:
        found = []
        for quoted, plain, angle, bare in items:
            if bare:
                found.append(_party(bare, "", role))
                continue
            assert angle is not None  # not bare: the alternative with <address>
            found.append(_party(angle, _mailbox_name(quoted, plain), role))
        return tuple(found)
    parties: list[Party] = []
    pairs: list[tuple[str, str]] | None = None
    if len(value) <= _MAX_FULL_ADDRESS_PARSE:
        try:
            pairs = getaddresses([value])
        except (Exception, RecursionError):
            # Nested comments "((((..." exhaust the stdlib parser's recursion.
            pairs = None
    if pairs is None:
        # Too long or too broken for a real parse: keep every address that is
        # visibly there, without names, rather than lose the recipients.
        # A split, not a regex search: searching for "x@y" in 256 KiB without
        # an "@" retries at every character and takes minutes.
        pairs = [("", t) for t in _ADDR_DELIMITERS.split(value)
                 if t.count("@") == 1 and not t.startswith("@") and not t.endswith("@")]
    for name, address in pairs:
        if not address:
            # "Undisclosed recipients:;" and its like name nobody to write to.
            continue
        parties.append(_party(address, name, role))
    return tuple(parties)


_parties_cached = lru_cache(maxsize=16384)(_parse_parties)


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


@lru_cache(maxsize=4096)
def _month_start(year: int, month: int) -> int:
    # calendar.timegm is pure Python and a third of the date's cost; mail of one
    # mailbox spans a few hundred months at most.
    return calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0))


# The form nearly every mailer writes, "Tue, 24 Nov 2026 14:03:38 +0000", read by
# one C-level match; it accepts a subset of what the split below accepts, with
# the same result. Anything else takes the split, then the stdlib.
_DATE = re.compile(r"(?:[A-Za-z]{3}, )?([0-9]{1,2}) ([A-Za-z]{3}) ([0-9]{4}) "
                   r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})(?!\S)")


def parse_date(value: str) -> float | None:
    """Unix time of an RFC 5322 date, or None when it cannot be read."""
    m = _DATE.match(value)
    if m is not None:
        day, mon, year, h, mi, s, sign, zh, zm = m.groups()
        month = _MONTHS.get(mon.lower())
        d, y, hh, mm, ss = int(day), int(year), int(h), int(mi), int(s)
        if (month is not None and 1 <= d <= 31 and hh < 24 and mm < 60 and ss <= 60
                and y >= 1900):
            ts = _month_start(y, month) + (d - 1) * 86400 + hh * 3600 + mm * 60 + ss
            offset = int(zh) * 3600 + int(zm) * 60
            return float(ts - offset if sign == "+" else ts + offset)
    # The same form with other spacing, a long day name or a two-digit year: a
    # split is cheaper than the stdlib.
    parts = value.split()
    if parts and parts[0].endswith(","):
        del parts[0]
    if len(parts) >= 5:
        day, mon, year, hms, zone = parts[:5]
        month = _MONTHS.get(mon[:3].lower())
        clock = hms.split(":")
        if (month is not None and day.isdigit() and year.isdigit() and len(zone) == 5
                and zone[0] in "+-" and zone[1:].isdigit() and 2 <= len(clock) <= 3
                and all(c.isdigit() for c in clock)):
            d, y, hh, mm = int(day), int(year), int(clock[0]), int(clock[1])
            ss = int(clock[2]) if len(clock) == 3 else 0
            if y < 100:
                y += 2000 if y < 50 else 1900
            if 1 <= d <= 31 and hh < 24 and mm < 60 and ss <= 60 and 1900 <= y <= 9999:
                offset = int(zone[1:3]) * 3600 + int(zone[3:]) * 60
                ts = _month_start(y, month) + (d - 1) * 86400 + hh * 3600 + mm * 60 + ss
                return float(ts - offset if zone[0] == "+" else ts + offset)
    try:
        parsed = parsedate_tz(value)
        if parsed is None:
            return None
        year, month, day, hh, mm, ss = parsed[:6]
        # timegm would quietly turn "31 Feb" or "99 Nov" into some other date.
        if not (1 <= month <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss <= 60):
            return None
        return float(calendar.timegm(parsed[:9]) - (parsed[9] or 0))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


def synthetic_message_id(key: bytes) -> str:
    """A stable id for a message that has no Message-ID, shaped like one: of its
    raw bytes (`parse_message`, the header sync once it has fetched them)."""
    return content_message_id(hashlib.sha256(key).hexdigest())


def content_message_id(digest: str) -> str:
    """`synthetic_message_id` of the bytes whose sha256 (hex) is `digest`."""
    return f"{digest[:32]}@{SYNTHETIC_DOMAIN}"


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """The header block and the body of a raw message (the body may be empty)."""
    # bytes.find is a C scan; a regex with an optional leading CR cannot skip
    # ahead and costs several times more on every synced message.
    lf = raw.find(b"\n\n")
    crlf = raw.find(b"\n\r\n")
    if lf < 0 and crlf < 0:
        return raw, b""
    if crlf < 0 or 0 <= lf < crlf:
        return raw[:lf].rstrip(b"\r"), raw[lf + 2 :]
    return raw[:crlf].rstrip(b"\r"), raw[crlf + 3 :]


def _fix_8bit(value: str) -> str:
    # The block was decoded as UTF-8 with surrogateescape; surrogates mark bytes
    # that were not UTF-8, which in practice are Windows-1252 or Latin-1.
    return value.encode("utf-8", "surrogateescape").decode("cp1252", "replace")


def _bare_id(value: str) -> str:
    m = _ID.search(value)
    if m is not None:
        inner = m.group(1)
        if inner and inner.isascii() and inner.isprintable() and " " not in inner:
            return inner
    return inert_text(normalize_message_id(value))


def parse_headers(raw: bytes) -> HeaderInfo:
    """Read the list fields of a message header; `raw` may also be the whole message.

    Never raises. A missing Message-ID gets a provisional id made from the From,
    To, Cc, Date and Subject values, which nothing stores: two different messages
    can share those, so `parse_message` and the header sync replace it with one
    made from the message's raw bytes.
    """
    f = header_fields(raw)
    return HeaderInfo(f[0], f[1], list(f[2]), list(f[3]), list(f[4]), list(f[5]), *f[6:])


_NO_PARTIES: tuple[Party, ...] = ()


def header_fields(raw: bytes) -> tuple[Any, ...]:
    """`parse_headers` as a plain tuple in `HeaderInfo`'s field order, without the
    object: the header sync reads 100,000 of these and keeps none. The address
    lists are tuples here (lists in `HeaderInfo`)."""
    block = split_header(raw)[0] if raw else b""
    bad_bytes = False
    if block.isascii():
        text = block.decode("ascii")
    else:
        try:
            text = block.decode("utf-8")  # RFC 6532 allows raw UTF-8 in headers
        except UnicodeDecodeError:
            text = block.decode("utf-8", "surrogateescape")
            bad_bytes = True
    values: dict[str, str] = {}
    wanted = _WANTED_FIELDS
    if not bad_bytes and len(text) <= _MAX_ADDRESS_HEADER and "\n " not in text \
            and "\n\t" not in text:
        # No folded lines, no overlong values, no bytes to repair: the common case.
        # Each line is a field or nothing, so a split reads the same fields as the
        # regex below, for less. Walking backwards, the first of a repeated field
        # is written last and wins, as in most clients.
        for line in reversed(text.split("\n")):
            name, colon, value = line.partition(":")
            key = name.lower()
            if key not in wanted:
                # "Subject :" is read too; a name of other characters is not.
                if not colon or not (name.endswith(" ") or name.endswith("\t")):
                    continue
                key = name.rstrip(" \t").lower()
                if key not in wanted:
                    continue
            if colon and name.isascii():
                values[key] = value.strip()
    else:
        # One C-level pass that only stops at field names; folded values come whole.
        for name, value in _FIELD.findall("\n" + text):
            name = name.lower()
            if name in values or name not in wanted:
                continue  # the first of a repeated field wins, as in most clients
            if "\n" in value:
                value = value.replace("\r\n", "").replace("\n", "")
            if len(value) > _MAX_ADDRESS_HEADER:
                value = value[:_MAX_ADDRESS_HEADER]
            if bad_bytes and not value.isascii():
                value = _fix_8bit(value)
            values[name] = value.strip()

    get = values.get
    subject = get("subject")
    subject = header_text(subject[:_MAX_TEXT_HEADER]) if subject else ""
    header: str | None = get("from")
    sender = None
    if header:
        senders = _parties(header, "from")
        if senders:
            sender = senders[0]
    header = get("to")
    to = _parties(header, "to") if header else _NO_PARTIES
    header = get("cc")
    cc = _parties(header, "cc") if header else _NO_PARTIES
    header = get("bcc")
    bcc = _parties(header, "bcc") if header else _NO_PARTIES
    header = get("reply-to")
    reply_to = _parties(header, "to") if header else _NO_PARTIES
    header = get("date")
    date = parse_date(header[:200]) if header else None
    header = get("message-id")
    message_id = _bare_id(header) if header else ""
    header = get("in-reply-to")
    in_reply_to = _bare_id(header) if header else ""
    header = get("references")
    references: list[str] = []
    if header:
        found = _ID.findall(header)
        if found and _CLEAN_IDS.fullmatch(header):
            references = found
        else:
            references = [inert_text(r) for r in parse_message_ids(header)]
    header = get("content-type")
    content_type = header.split(";", 1)[0].strip().lower() if header else ""

    if message_id:
        msg_id = message_id
    else:
        key = "\0".join(values.get(n, "").strip() for n in _KEY_FIELDS)
        msg_id = synthetic_message_id(
            key.encode("utf-8", "surrogateescape") if key.strip("\0")
            else b"\0headerless\0" + raw)

    defects: list[str] = []
    if bad_bytes:
        defects.append("header bytes that are neither ASCII nor UTF-8")
    if "\0" in text:
        defects.append("NUL byte in the header")
    if len(block) > 998 and max(map(len, block.split(b"\n"))) > 999:
        defects.append("header line longer than 998 bytes")
    return (subject, sender, to, cc, bcc, reply_to, date, message_id, in_reply_to, references,
            content_type, content_type == "multipart/mixed", msg_id, defects)
