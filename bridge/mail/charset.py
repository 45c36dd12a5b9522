"""Bytes and RFC 2047 words to text, in the charsets mail really uses.

Senders label text with charsets Python does not know or knows too narrowly; the
aliases follow the WHATWG encoding standard's substitutions. Nothing here raises
on hostile input: undecodable bytes become replacement characters.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache

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
CACHE_LIMIT = 1024


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
    if len(value) <= CACHE_LIMIT:
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
