"""The body view's full parse: the stdlib compat32 parser, then our walk of the MIME tree.

compat32 is the most forgiving of the `email` package's parsers. The walk picks
the text, lists attachments (and forwarded messages) and records every defect
instead of failing: a message that cannot be understood comes back `malformed`
with a reason, so the caller can store its raw bytes and move on.
"""

from __future__ import annotations

import email
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message as EmailMessage_
from email.policy import compat32
from typing import TypeVar

from bridge.crypto.detect import Shape, shape_of
from bridge.model import normalize_message_id
from bridge.safe import inert_text, safe_basename, safe_content_type

from .body_text import html_to_text, unflow
from .charset import decode_bytes
from .headers import HeaderInfo, header_text, parse_headers, split_header, synthetic_message_id

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 50


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
    # OpenPGP (bridge.crypto): the message's shape, and then its raw bytes, which
    # the store keeps so that it is decrypted or verified when shown. An encrypted
    # one has no text here: what it says is never in the store's index unless
    # the user allows it (bridge.crypto.reading).
    pgp: Shape = Shape.NONE
    raw: bytes | None = None


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
            subject = header_text(str(inner.get("Subject", "") or ""))
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
    return " ".join(header_text(name).split())


_EXTENSIONS = {"text/plain": ".txt", "text/html": ".html", "image/png": ".png",
               "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf",
               "text/calendar": ".ics", "application/pgp-signature": ".asc",
               "message/delivery-status": ".txt", "text/x-vcard": ".vcf", "text/vcard": ".vcf"}


def _default_name(ctype: str, part_id: str) -> str:
    return f"part-{part_id}{_EXTENSIONS.get(ctype, '.bin')}"


def _fallback_text(raw: bytes) -> str:
    body = split_header(raw)[1] or raw
    return inert_text(decode_bytes(body[:1024 * 1024]))


def _mark_pgp(parsed: ParsedMessage, msg: EmailMessage_, raw: bytes) -> None:
    ctype = msg.get_content_type()
    # Inline PGP counts in a plain-text message only: an armored block pasted into
    # one part of a multipart email is that part's text, not the email's protection.
    inline = parsed.text if ctype == "text/plain" else ""
    parsed.pgp = shape_of(ctype, str(_safe_call(lambda: msg.get_param("protocol")) or ""),
                          inline)
    if parsed.pgp is Shape.NONE:
        return
    parsed.raw = raw
    if parsed.pgp in (Shape.ENCRYPTED, Shape.INLINE_ENCRYPTED):
        # The control part and the ciphertext are no files of the reader's.
        parsed.text, parsed.attachments = "", []


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
    _mark_pgp(parsed, msg, raw)
    parsed.malformed = bool(reasons)
    parsed.reason = "; ".join(reasons)
    return parsed
