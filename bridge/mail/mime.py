"""Parse raw RFC 5322 mail into our model, without ever raising on hostile input.

Two paths. `parse_headers` is the header sync's: it runs on every message of a
mailbox (100,000 in a cold sync), so it is a single regex pass over the header
block plus cached decoding of the fields the message list needs; the `email`
package's full parser costs several times more per message. `parse_message` is the
body view's: the stdlib compat32 parser (the most forgiving one), then our own
walk over the MIME tree that picks the text, lists attachments and records every
defect instead of failing. A message that cannot be understood comes back marked
`malformed` with a reason, so the caller can store its raw bytes and move on.

All display text that leaves this module (subject, names, body, file names) has
gone through `inert_text`: a synced message can never drive the terminal.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import email
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message as EmailMessage_
from email.policy import compat32
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any, TypeVar

from bridge.model import (
    Attachment,
    Direction,
    Message,
    Party,
    Transport,
    normalize_message_id,
    parse_message_ids,
    thread_id_for_email,
)
from bridge.safe import inert_text, safe_basename, safe_content_type

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 50
# Bounds on single header values: a legitimate Subject is never 64 KiB, and a
# To list of 256 KiB is thousands of recipients. Past these the value is cut,
# which keeps one hostile header from costing seconds in the address parser.
_MAX_TEXT_HEADER = 64 * 1024
_MAX_ADDRESS_HEADER = 256 * 1024
# HTML conversion is linear but slow in pure Python; a 5 MiB HTML body is already
# far beyond anything a person reads in a terminal.
_MAX_HTML = 5 * 1024 * 1024
SYNTHETIC_DOMAIN = "synthetic.invalid"


# --- charsets and RFC 2047 -------------------------------------------------------

# Labels that mail software writes but Python does not know, or knows as a
# narrower charset than the one senders actually used (the WHATWG encoding
# standard makes the same substitutions for the web, for the same reason).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}


@lru_cache(maxsize=256)
def _codec(charset: str | None) -> str | None:
    """The Python text codec for a MIME charset label, or None if there is none."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    # RFC 2231 lets a language ride on the charset: "utf-8*en".
    label = label.split("*", 1)[0]
    label = _CHARSET_ALIASES.get(label, label)
    try:
        # Codecs like "zlib" or "base64" are found by lookup but are not text
        # encodings; decoding with them would be a decompression bomb waiting.
        b"".decode(label)
    except (LookupError, ValueError, UnicodeError):
        return None
    # The idna and punycode codecs reject the "replace" error handler.
    if label in ("idna", "punycode") or "unicode" in label:
        return None
    return label


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text from bytes in a declared charset; never raises, bad bytes become U+FFFD.

    With no usable charset the bytes are tried as UTF-8, then as Windows-1252,
    which between them cover nearly all unlabelled mail.
    """
    codec = _codec(charset)
    if codec is not None and codec != "utf-8":
        try:
            return data.decode(codec, "replace")
        except Exception:  # third-party codecs can raise anything
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if codec == "utf-8":
            return data.decode("utf-8", "replace")
        return data.decode("cp1252", "replace")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]*")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The bytes of one encoded word, or None when it is not decodable."""
    if encoding in "bB":
        data = text.encode("ascii", "replace")
        try:
            # Missing padding is the common sender bug; anything worse means the
            # word is shown as it came rather than as invented bytes.
            return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    raw = text.replace("_", " ").encode("latin-1", "replace")
    return _Q_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


# Only short values are cached: names and subjects repeat across a mailbox, and
# a cache of 16,384 hostile 64 KiB values would hold a gigabyte.
_CACHE_LIMIT = 1024


def decode_words(value: str) -> str:
    """`value` with RFC 2047 encoded words decoded; anything else left as it is.

    Adjacent words in one charset are joined as bytes before decoding, because
    senders split multi-byte characters across words (UTF-8 and Shift_JIS both
    get cut mid-character by common mailers). Whitespace between encoded words is
    dropped, as the RFC says. Unknown charsets decode as UTF-8, else
    Windows-1252; an undecodable word is left as it came.
    """
    if "=?" not in value:
        return value
    if len(value) <= _CACHE_LIMIT:
        return _decode_words_cached(value)
    return _decode_words(value)


def _decode_words(value: str) -> str:
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset))
            pending.clear()
            pending_charset = None

    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        if gap and not (pending_charset is not None and _BETWEEN_WORDS.fullmatch(gap)):
            flush()
            out.append(gap)
        decoded = _word_bytes(m.group(2), m.group(3))
        if decoded is None:
            flush()
            out.append(m.group(0))
            pos = m.end()
            continue
        charset = m.group(1).split("*", 1)[0].lower()
        if pending_charset is not None and charset != pending_charset:
            flush()
        pending_charset = charset
        pending += decoded
        pos = m.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


_decode_words_cached = lru_cache(maxsize=16384)(_decode_words)


# --- header fast path ------------------------------------------------------------

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


def _display(text: str) -> str:
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
    if len(address) + len(name) <= _CACHE_LIMIT:
        return _party_cached(address, name, role)
    return _make_party(address, name, role)


def _make_party(address: str, name: str, role: str) -> Party:
    # Parties are frozen, so one object per distinct person is shared by every
    # message they appear in: less memory over 100,000 headers, and no repeated
    # decoding of the same display name.
    if name:
        name = _display(name)
    address = inert_text(address).strip()
    if " " in address or "\t" in address:
        address = "".join(address.split())
    return Party(address=address, name=name, role=role)


_party_cached = lru_cache(maxsize=65536)(_make_party)


def _parties(value: str, role: str) -> tuple[Party, ...]:
    if len(value) <= _CACHE_LIMIT:
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
    subject = _display(subject[:_MAX_TEXT_HEADER]) if subject else ""
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


# --- body text -------------------------------------------------------------------


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, keep quote depth."""
    out: list[str] = []
    buf = ""
    buf_depth = -1
    flowing = False
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        # "-- " is the signature separator and never flows.
        soft = content.endswith(" ") and content != "-- "
        if flowing and depth == buf_depth:
            buf += content
        else:
            if flowing:
                out.append(_quoted(buf, buf_depth))
            buf, buf_depth = content, depth
        if soft:
            if delsp:
                buf = buf[:-1]
            flowing = True
        else:
            out.append(_quoted(buf, buf_depth))
            buf, flowing, buf_depth = "", False, -1
    if flowing:
        out.append(_quoted(buf, buf_depth))
    return "\n".join(out)


def _quoted(text: str, depth: int) -> str:
    return ("> " * depth + text) if depth > 0 else text


_BLOCK_TAGS = frozenset({
    "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "table", "ul", "ol", "pre", "hr", "section", "article", "header", "footer", "dt",
    "dd", "dl", "address", "figure", "figcaption", "center", "form", "fieldset", "main",
    "nav", "aside", "tbody", "thead", "tfoot",
})
_HIDDEN_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "svg",
                          "object", "iframe", "math"})
_SHOWN_SCHEMES = ("http:", "https:", "mailto:", "ftp:", "tel:", "xmpp:")


class _HtmlText(HTMLParser):
    """Readable text of an HTML body: links shown as "text [url]", nothing fetched.

    Images contribute their alt text only; their src (where tracking pixels and
    remote content live) is never put into the output.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.quote = 0
        self.links: list[str] = []  # hrefs of the open <a> elements
        self.link_text: list[list[str]] = []
        self.list_stack: list[int] = []

    def newline(self, blank: bool = False) -> None:
        text = "".join(self.line)
        if not self.pre:
            text = " ".join(text.split())
        prefix = "> " * self.quote
        if text or not blank:
            self.lines.append(prefix + text if text else prefix.rstrip())
        self.line = []
        if blank and self.lines and self.lines[-1].strip("> ") != "":
            self.lines.append(prefix.rstrip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
            return
        if self.hidden:
            return
        a = {k: (v or "") for k, v in attrs}
        if tag == "br":
            self.newline()
        elif tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl"):
            self.flush_block(blank=True)
            if tag in ("ul", "ol"):
                self.list_stack.append(0 if tag == "ol" else -1)
        elif tag == "blockquote":
            self.flush_block(blank=True)
            self.quote += 1
        elif tag == "pre":
            self.flush_block(blank=True)
            self.pre += 1
        elif tag == "hr":
            self.flush_block()
            self.lines.append("> " * self.quote + "-" * 40)
        elif tag == "li":
            self.flush_block()
            indent = "  " * max(0, len(self.list_stack) - 1)
            if self.list_stack and self.list_stack[-1] >= 0:
                self.list_stack[-1] += 1
                self.line.append(f"{indent}{self.list_stack[-1]}. ")
            else:
                self.line.append(f"{indent}- ")
        elif tag in ("td", "th"):
            if self.line and "".join(self.line).strip():
                self.line.append(" | ")
        elif tag in _BLOCK_TAGS:
            self.flush_block()
        elif tag == "a":
            self.links.append(a.get("href", "").strip())
            self.link_text.append([])
        elif tag == "img":
            alt = " ".join(a.get("alt", "").split())
            if alt:
                self.data(f"[{alt}]")

    def flush_block(self, blank: bool = False) -> None:
        if "".join(self.line).strip():
            self.newline(blank)
        else:
            self.line = []
            if blank and self.lines and self.lines[-1].strip("> ") != "":
                self.lines.append(("> " * self.quote).rstrip())

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
            return
        if self.hidden:
            return
        if tag == "a" and self.links:
            href = self.links.pop()
            shown = "".join(self.link_text.pop()).strip()
            if self.link_text:
                self.link_text[-1].append(shown)
            suffix = _link_target(href, shown)
            if suffix:
                self.data(suffix, link=False)
        elif tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl"):
            self.flush_block(blank=True)
            if tag in ("ul", "ol") and self.list_stack:
                self.list_stack.pop()
        elif tag == "blockquote":
            self.flush_block()
            self.quote = max(0, self.quote - 1)
            self.flush_block(blank=True)
        elif tag == "pre":
            self.flush_block(blank=True)
            self.pre = max(0, self.pre - 1)
        elif tag in _BLOCK_TAGS:
            self.flush_block()

    def data(self, text: str, link: bool = True) -> None:
        if link and self.link_text:
            self.link_text[-1].append(text)
        if self.pre:
            parts = text.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self.newline()
                self.line.append(part)
        else:
            self.line.append(text)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.data(data)

    def text(self) -> str:
        self.flush_block()
        out = "\n".join(line.rstrip() for line in self.lines)
        return re.sub(r"\n{3,}", "\n\n", out).strip("\n")


# Linear: "[^<>]*" stops at the next "<", so a run of "<<<<" cannot make each
# attempt scan to the end of the document.
_TAG = re.compile(r"<[^<>]*>")
_HTML_CHUNK = 16 * 1024
# HTMLParser keeps an unfinished construct in `rawdata` and rescans it on every
# feed; Python 3.11's parser is quadratic on some of them (unclosed "<!--",
# runs of "</" or "<a"). A buffer this large or a parse this slow means hostile
# input, and the tag-stripping fallback takes over.
_HTML_MAX_PENDING = 64 * 1024
_HTML_SECONDS = 2.0


class _HtmlTooHard(Exception):
    pass


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document; scripts, styles and images dropped."""
    if len(html) > _MAX_HTML:
        html = html[:_MAX_HTML]
    # Nothing after the last ">" can be a complete tag; escaping its "<" stops
    # the parser from rescanning an unterminated tail to the end, again and again.
    last = html.rfind(">")
    if html.find("<", last + 1) >= 0:
        html = html[: last + 1] + html[last + 1 :].replace("<", "&lt;")
    parser = _HtmlText()
    deadline = time.monotonic() + _HTML_SECONDS
    try:
        for start in range(0, len(html), _HTML_CHUNK):
            parser.feed(html[start : start + _HTML_CHUNK])
            if len(parser.rawdata) > _HTML_MAX_PENDING or time.monotonic() > deadline:
                raise _HtmlTooHard
        parser.close()
        return parser.text()
    except Exception:
        # A hostile document must still give text, and its links their targets:
        # a document made to fail the parser must not hide where its links go.
        text = _strip_tags(html)
        text = re.sub(r"[ \t]+", " ", text)
        return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def _link_target(href: str, shown: str) -> str:
    """" [href]" to put after a link's text, unless its text already is the target.

    Only schemes a reader can use are shown; javascript:, data: and relative links
    are not links in a terminal, so their text stays plain text.
    """
    if not href.lower().startswith(_SHOWN_SCHEMES):
        return ""
    bare = href[7:] if href.lower().startswith("mailto:") else href
    if shown.strip() in (href, bare):
        return ""
    return f" [{href}]"


_A_OPEN = re.compile(r"<a[\s>/]", re.I)
_A_CLOSE = re.compile(r"</a[\s>]", re.I)
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
# Link text longer than this is not compared with the target: it is shown anyway.
_MAX_LINK_TEXT = 2048


def _strip_tags(html: str) -> str:
    """Text between the tags, unescaped, each link's target after its text. Linear."""
    import html as html_mod

    out: list[str] = []
    size = 0  # characters in `out`, to find a link's text without rejoining
    links: list[tuple[str, int, int]] = []  # (href, index in out, size) of open <a>
    pos = 0
    for match in _TAG.finditer(html):
        piece = html_mod.unescape(html[pos : match.start()])
        out.append(piece)
        size += len(piece)
        pos = match.end()
        tag = match.group(0)
        if _A_OPEN.match(tag):
            found = _HREF.search(tag)
            href = "" if found is None else next(g for g in found.groups() if g is not None)
            links.append((html_mod.unescape(href).strip(), len(out), size))
        elif _A_CLOSE.match(tag + " ") and links:
            href, index, start = links.pop()
            shown = "".join(out[index:]) if size - start <= _MAX_LINK_TEXT else ""
            suffix = _link_target(href, shown)
            out.append(suffix)
            size += len(suffix)
            continue
        out.append(" ")
        size += 1
    out.append(html_mod.unescape(html[pos:]))
    return "".join(out)


# --- full parse ------------------------------------------------------------------


@dataclass(slots=True)
class ParsedAttachment:
    # A safe base name (bridge.safe.safe_basename); safe_filename still has to
    # pick the free path in the download folder.
    filename: str
    content_type: str
    size: int
    data: bytes
    part_id: str
    inline: bool = False
    content_id: str = ""
    # The sender's name as decoded, inert but possibly with path parts: shown
    # when it differs, so a user sees what the sender tried.
    original_filename: str = ""


@dataclass(slots=True)
class ParsedMessage:
    headers: HeaderInfo
    text: str = ""
    html_present: bool = False
    attachments: list[ParsedAttachment] = field(default_factory=list)
    malformed: bool = False
    reason: str = ""
    truncated: bool = False
    size: int = 0
    # sha256 of the raw bytes, for the caller that stores them.
    digest: str = ""


class _Walker:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.html_present = False
        self.attachments: list[ParsedAttachment] = []
        self.reasons: list[str] = []

    def defects(self, part: EmailMessage_) -> None:
        for d in getattr(part, "defects", ()):
            name = type(d).__name__
            # Header values that merely had to be repaired are not worth a flag.
            if name in ("ObsoleteHeaderDefect",):
                continue
            if name not in self.reasons:
                self.reasons.append(name)

    def walk(self, part: EmailMessage_, part_id: str, depth: int, body: bool) -> None:
        if depth > MAX_DEPTH:
            reason = f"MIME nesting deeper than {MAX_DEPTH} levels"
            if reason not in self.reasons:
                self.reasons.append(reason)
            return
        self.defects(part)
        ctype = safe_content_type(part.get_content_type())
        payload = part.get_payload()
        if ctype.startswith("message/") and isinstance(payload, list):
            self.attach_message(part, payload, part_id or "1")
            return
        if isinstance(payload, list):
            children = [c for c in payload if isinstance(c, EmailMessage_)]
            if not children:
                self.reasons.append("multipart without parts")
                return
            ids = [f"{part_id}.{i}" if part_id else str(i) for i in range(1, len(children) + 1)]
            if ctype == "multipart/alternative":
                chosen = self.choose_alternative(children) if body else -1
                for i, (child, cid) in enumerate(zip(children, ids, strict=True)):
                    self.walk(child, cid, depth + 1, body and i == chosen)
            elif ctype == "multipart/related":
                root = self.related_root(part, children)
                for i, (child, cid) in enumerate(zip(children, ids, strict=True)):
                    self.walk(child, cid, depth + 1, body and i == root)
            else:
                for child, cid in zip(children, ids, strict=True):
                    self.walk(child, cid, depth + 1, body)
            return
        self.leaf(part, ctype, part_id or "1", body)

    @staticmethod
    def _has_html(part: EmailMessage_, depth: int = 0) -> bool:
        if depth > MAX_DEPTH:
            return False
        payload = part.get_payload()
        if isinstance(payload, list):
            return any(isinstance(c, EmailMessage_) and _Walker._has_html(c, depth + 1)
                       for c in payload)
        return part.get_content_type() == "text/html"

    def choose_alternative(self, children: list[EmailMessage_]) -> int:
        plain = html = -1
        for i, child in enumerate(children):
            if child.get_content_disposition() == "attachment":
                continue
            ctype = child.get_content_type()
            if ctype == "text/plain" and plain < 0:
                data = _payload_bytes(child)
                if data.strip():
                    plain = i
            elif html < 0 and (ctype == "text/html" or self._has_html(child)):
                html = i
        if html >= 0:
            self.html_present = True
        if plain >= 0:
            return plain
        if html >= 0:
            return html
        return len(children) - 1

    @staticmethod
    def related_root(part: EmailMessage_, children: list[EmailMessage_]) -> int:
        start = part.get_param("start")
        if isinstance(start, str) and start:
            wanted = normalize_message_id(start)
            for i, child in enumerate(children):
                if normalize_message_id(str(child.get("Content-ID", ""))) == wanted:
                    return i
        return 0

    def leaf(self, part: EmailMessage_, ctype: str, part_id: str, body: bool) -> None:
        if ctype.startswith("multipart/"):
            # Its boundary was never found: the parser left the whole body as
            # one string, which is the best text there is.
            ctype = "text/plain"
        disposition = _safe_call(part.get_content_disposition)
        filename = _filename(part)
        is_text = ctype in ("text/plain", "text/html")
        if is_text and disposition != "attachment" and not filename:
            if ctype == "text/html":
                self.html_present = True
            if body:
                self.texts.append(self.text_of(part, ctype))
                self.defects(part)
            return
        data = _payload_bytes(part)
        self.defects(part)
        self.attachments.append(ParsedAttachment(
            filename=safe_basename(filename) if filename else _default_name(ctype, part_id),
            original_filename=filename,
            content_type=ctype,
            size=len(data),
            data=data,
            part_id=part_id,
            inline=disposition == "inline" or (disposition is None and not body and
                                               bool(part.get("Content-ID"))),
            content_id=inert_text(normalize_message_id(str(part.get("Content-ID", "")))),
        ))

    def text_of(self, part: EmailMessage_, ctype: str) -> str:
        data = _payload_bytes(part)
        charset = _safe_call(part.get_content_charset)
        text = decode_bytes(data, charset)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if ctype == "text/html":
            return html_to_text(text)
        fmt = str(_safe_call(lambda: part.get_param("format")) or "").lower()
        if fmt == "flowed":
            delsp = str(_safe_call(lambda: part.get_param("delsp")) or "").lower() == "yes"
            text = unflow(text, delsp)
        return text

    def attach_message(self, part: EmailMessage_, payload: list, part_id: str) -> None:
        inner = payload[0] if payload else None
        try:
            data = inner.as_bytes() if isinstance(inner, EmailMessage_) else b""
        except Exception:  # regenerating a broken message can fail
            data = b""
            self.reasons.append("unreadable attached message")
        name = _filename(part)
        if not name and isinstance(inner, EmailMessage_):
            subject = _display(str(inner.get("Subject", "") or ""))
            name = f"{subject[:80]}.eml" if subject else ""
        self.attachments.append(ParsedAttachment(
            filename=safe_basename(name) if name else "forwarded.eml", original_filename=name,
            content_type=safe_content_type(part.get_content_type()),
            size=len(data), data=data, part_id=part_id,
            inline=_safe_call(part.get_content_disposition) == "inline"))


_T = TypeVar("_T")


def _safe_call(fn: Callable[[], _T]) -> _T | None:
    try:
        return fn()
    except Exception:  # header accessors choke on hostile parameters
        return None


def _payload_bytes(part: EmailMessage_) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _filename(part: EmailMessage_) -> str:
    name = _safe_call(part.get_filename)
    if not isinstance(name, str):
        return ""
    # Outlook and others put RFC 2047 words inside parameters, which RFC 2231
    # forbids but every client has to read.
    return " ".join(_display(name).split())


_EXTENSIONS = {"text/plain": ".txt", "text/html": ".html", "image/png": ".png",
               "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf",
               "text/calendar": ".ics", "application/pgp-signature": ".asc",
               "message/delivery-status": ".txt", "text/x-vcard": ".vcf", "text/vcard": ".vcf"}


def _default_name(ctype: str, part_id: str) -> str:
    return f"part-{part_id}{_EXTENSIONS.get(ctype, '.bin')}"


def _fallback_text(raw: bytes) -> str:
    body = split_header(raw)[1] or raw
    return inert_text(decode_bytes(body[:1024 * 1024]))


def parse_message(raw: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> ParsedMessage:
    """Text, attachments and headers of one raw message. Never raises.

    text/plain is preferred over text/html; HTML becomes readable text with links
    as "text [url]" and nothing fetched. Attachment names are decoded (RFC 2231
    and RFC 2047) and reduced to safe base names; `bridge.safe.safe_filename`
    picks the free path to save to. Over `max_bytes`, only the header is
    read and `truncated` is set.
    """
    raw = bytes(raw)
    headers = parse_headers(raw)
    if not headers.message_id:
        # Without a Message-ID a message is known by its bytes: two emails with the
        # same From, To, Date and Subject are still two (the header sync does the
        # same once it has the bytes, `MailSync._store_suspects`).
        headers.msg_id = synthetic_message_id(raw)
    parsed = ParsedMessage(headers=headers, size=len(raw),
                           digest=hashlib.sha256(raw).hexdigest())
    reasons: list[str] = list(headers.defects)
    if not raw.strip():
        parsed.malformed, parsed.reason = True, "empty message"
        return parsed
    if len(raw) > max_bytes:
        parsed.truncated = True
        parsed.reason = f"larger than {max_bytes} bytes: header only"
        return parsed
    walker = _Walker()
    try:
        msg = email.message_from_bytes(raw, policy=compat32)
        walker.walk(msg, "", 0, body=True)
    except Exception as exc:  # RecursionError included: the caller stores it raw
        reasons.append(f"MIME parse failed: {type(exc).__name__}")
        parsed.text = inert_text("\n\n".join(walker.texts)) or _fallback_text(raw)
        parsed.attachments = walker.attachments
        parsed.malformed, parsed.reason = True, "; ".join(reasons + walker.reasons)
        return parsed
    if not (headers.sender or headers.message_id or headers.date or headers.subject
            or headers.to):
        reasons.append("no header fields")
    reasons.extend(walker.reasons)
    text = "\n\n".join(t for t in walker.texts if t.strip())
    if not text and not walker.attachments and not walker.texts and reasons:
        text = _fallback_text(raw)
    parsed.text = inert_text(text)
    parsed.html_present = walker.html_present
    parsed.attachments = walker.attachments
    parsed.malformed = bool(reasons)
    parsed.reason = "; ".join(reasons)
    return parsed


# --- into the model --------------------------------------------------------------


def _thread_id(msg_id: str, info: HeaderInfo) -> str:
    return _thread_id_from(msg_id, info.in_reply_to, info.references)


def _thread_id_from(msg_id: str, in_reply_to: str, references: list[str]) -> str:
    try:
        return thread_id_for_email(msg_id, in_reply_to, references)
    except ValueError:
        # Only an id that normalizes to nothing gets here; the message still
        # needs a thread, and its own id is the honest one.
        return msg_id


def thread_id_of(info: HeaderInfo) -> str:
    """The thread id of a message known by its header only."""
    # The common case without the model's normalising: an id that is already
    # bare (no brackets, no whitespace) normalises to itself.
    first = info.references[0] if info.references else info.in_reply_to
    if first and "<" not in first and ">" not in first and first.split() == [first]:
        return first
    return _thread_id(info.msg_id, info)


def to_message(
    parsed: ParsedMessage | HeaderInfo,
    *,
    account: str,
    folder: str | None,
    uid: int | None,
    flags: Iterable[str] = (),
    direction: Direction | str = Direction.IN,
    internal_date: float | None = None,
    raw: bytes | None = None,
    put_blob: Callable[[bytes], str] | None = None,
) -> Message:
    """A model `Message` from a full parse or (for the header sync) a HeaderInfo.

    `internal_date` (the IMAP INTERNALDATE) stands in for a missing or unreadable
    Date. With `put_blob` (e.g. `Store.store_blob`), attachment bytes are stored
    and their sha256 recorded; without it only the part ids are, for fetching
    on demand. `raw` is kept on the Message (the caller passes it for malformed
    mail, which is shown raw).
    """
    if isinstance(parsed, ParsedMessage):
        info = parsed.headers
        text, malformed = parsed.text, parsed.malformed
        attachments = [
            Attachment(filename=a.filename, content_type=a.content_type, size=a.size,
                       sha256=put_blob(a.data) if put_blob is not None else None,
                       part_id=a.part_id)
            for a in parsed.attachments
        ]
    else:
        info, text, malformed, attachments = parsed, "", False, []
    msg_id = info.msg_id or synthetic_message_id(raw or b"")
    date = info.date if info.date is not None else internal_date
    return Message(
        msg_id=msg_id,
        account=account,
        transport=Transport.EMAIL,
        direction=Direction(direction),
        thread_id=_thread_id(msg_id, info),
        date=date if date is not None else time.time(),
        sender=info.sender or Party(address="", name="", role="from"),
        recipients=[*info.to, *info.cc, *info.bcc],
        subject=info.subject,
        text=text,
        folder=folder,
        uid=uid,
        message_id_header=info.message_id or None,
        in_reply_to=info.in_reply_to or None,
        references=list(info.references),
        flags=set(flags),
        attachments=attachments,
        malformed=malformed,
        raw=raw,
    )


__all__ = [
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "HeaderInfo",
    "ParsedAttachment",
    "ParsedMessage",
    "content_message_id",
    "decode_bytes",
    "decode_words",
    "html_to_text",
    "parse_date",
    "parse_headers",
    "parse_message",
    "split_header",
    "synthetic_message_id",
    "to_message",
    "unflow",
]
