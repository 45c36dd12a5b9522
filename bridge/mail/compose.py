"""Outgoing email: build the message, and the headers of a reply.

Names, subjects and file names may be any Unicode: the `email` package's default
policy writes RFC 2047 words and RFC 2231 parameters for them. What it does not do
is refuse header injection politely or keep threading headers intact, so both
are handled here.
"""

from __future__ import annotations

import base64
import email.parser
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.message import Message as MimePart
from email.utils import format_datetime, formataddr
from typing import NamedTuple

from bridge.mail.mime import ParsedMessage
from bridge.model import Message, Party, normalize_message_id, parse_message_ids
from bridge.safe import inert_text, safe_basename

# Long References headers get cut by some servers and make others reject the
# mail; keeping the root plus the most recent ancestors keeps every client's
# threading working (RFC 5322 3.6.4 allows the trim, and the root is what
# thread_id_for_email reads).
MAX_REFERENCES = 20
# SMTP: CRLF line ends. refold_source="none" applies only to headers stored raw,
# which is how addresses, Subject and the threading headers go in: they are
# encoded and folded here (see _encoded_words and _set_id_header), because the
# stdlib folder loses spaces in long non-ASCII names and turns long ids into
# encoded words.
_POLICY = policy.SMTP.clone(refold_source="none")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_UTF8_POLICY = _POLICY.clone(utf8=True)  # an email with UTF-8 addresses (RFC 6532)

# Headers that build_email owns: letting extra_headers set them would give a
# message two Message-IDs or a From that differs from the account.
_OWNED = frozenset({"from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to",
                    "references", "mime-version", "content-type",
                    "content-transfer-encoding"})


def _one_line(value: str) -> str:
    # CR or LF in a header value would start a new header (injection); the email
    # package raises on them, a user's pasted subject should not.
    return " ".join(inert_text(value).split())


# RFC 2047 allows 75 characters per encoded word; 39 bytes make 52 base64
# characters, a 64-character word, so that "Reply-To: " plus a word still fits
# the 78 columns RFC 5322 asks for.
_WORD_BYTES = 39


def _encoded_words(text: str) -> list[str]:
    """`text` as UTF-8 base64 encoded words, split between characters.

    Every space stays inside a word: whitespace between two encoded words is
    dropped by the reader (RFC 2047 6.2), and the stdlib folder puts its line
    breaks exactly there, which loses the spaces of long non-ASCII names.
    """
    words: list[str] = []
    chunk = bytearray()
    for ch in text:
        data = ch.encode("utf-8")
        if len(chunk) + len(data) > _WORD_BYTES:
            words.append(f"=?utf-8?b?{base64.b64encode(bytes(chunk)).decode()}?=")
            chunk.clear()
        chunk += data
    if chunk:
        words.append(f"=?utf-8?b?{base64.b64encode(bytes(chunk)).decode()}?=")
    return words


def _needs_encoding(text: str) -> bool:
    # "=?" in plain text would be taken for an encoded word by the reader.
    return not text.isascii() or not text.isprintable() or "=?" in text


def _phrase(name: str) -> str:
    if _needs_encoding(name):
        return "\n ".join(_encoded_words(name))
    return formataddr((name, "x@y")).rsplit(" <", 1)[0] if name else ""


def _address(p: Party | str) -> str:
    """One mailbox, encoded and folded by us (see _encoded_words for why)."""
    address, name = (p, "") if isinstance(p, str) else (p.address, _one_line(p.name))
    address = address.strip()
    # Address() refuses what cannot be an addr-spec; the ValueError it raises
    # (HeaderDefect) is what the caller gets. A UTF-8 address (RFC 6531) is checked
    # in its shape (Address() knows ASCII only) and written as it is: the message
    # then has UTF-8 headers (RFC 6532), which the sender sends with SMTPUTF8.
    shape = Address(addr_spec=_NON_ASCII.sub("x", address)).addr_spec
    checked = address if not address.isascii() and shape == _NON_ASCII.sub("x", address) \
        else shape
    if any(c in checked for c in " <>,\r\n") or not checked.isprintable():
        raise ValueError(f"address cannot be written in a header: {address!r}")
    if not name:
        return checked
    phrase = _phrase(name)
    last_line = phrase.rsplit("\n", 1)[-1]
    # Folding between the name and <address> is allowed and keeps lines short.
    sep = "\n " if len(last_line) + len(checked) + 3 > 76 else " "
    return f"{phrase}{sep}<{checked}>"


def _set_address_header(msg: EmailMessage, header: str, parties: Sequence[Party | str]) -> None:
    if parties:
        written = ",\n ".join(_address(p) for p in parties)
        if not written.isascii():
            msg.policy = _UTF8_POLICY
        msg.set_raw(header, written)


def _set_id_header(msg: EmailMessage, name: str, ids: Sequence[str]) -> None:
    # The default policy treats In-Reply-To and References as unstructured text
    # and turns an id longer than a line into RFC 2047 words, which no client
    # can thread by. Ids are written verbatim, one per folded line.
    for i in ids:
        if not i.isascii() or not i.isprintable() or any(c in i for c in " <>"):
            raise ValueError(f"message id not usable in a header: {i!r}")
    msg.set_raw(name, "\n ".join(f"<{i}>" for i in ids))


def build_email(
    from_party: Party | str,
    to: Iterable[Party | str],
    cc: Iterable[Party | str],
    subject: str,
    text: str,
    *,
    msg_id: str,
    in_reply_to: str | None = None,
    references: Iterable[str] = (),
    attachments: Iterable[tuple[str, str, bytes]] = (),
    date: datetime | float | None = None,
    extra_headers: Mapping[str, str] | None = None,
    bcc: Iterable[Party | str] = (),
) -> EmailMessage:
    """An RFC 5322 message ready for smtplib's send_message and IMAP APPEND.

    `msg_id` is our bare message id; it becomes `Message-ID: <msg_id>`.
    `bcc` is written as a Bcc header for the sender to read its envelope from;
    MailSender.queue takes it out before anything is sent or kept.
    Attachments are (file name, content type, bytes); the file name is reduced to
    a base name and written with RFC 2231 when it is not ASCII; an email
    (message/rfc822) is carried as a message part, not base64. An address that
    cannot be written raises ValueError (email.errors.HeaderDefect is one).
    """
    own = normalize_message_id(f"<{msg_id}>")
    if not own or own != msg_id.strip() or "@" not in own:
        raise ValueError(f"not a bare message id: {msg_id!r}")
    msg = EmailMessage(policy=_POLICY)
    _set_address_header(msg, "From", [from_party])
    _set_address_header(msg, "To", list(to))
    _set_address_header(msg, "Cc", list(cc))
    _set_address_header(msg, "Bcc", list(bcc))
    subject = _one_line(subject)
    if _needs_encoding(subject):
        msg.set_raw("Subject", "\n ".join(_encoded_words(subject)) or "")
    else:
        # Folding plain text at a space is lossless: unfolding keeps the space.
        msg.set_raw("Subject", _fold_plain(subject))
    if date is None:
        date = time.time()
    if not isinstance(date, datetime):
        date = datetime.fromtimestamp(float(date), UTC)
    msg["Date"] = format_datetime(date)
    _set_id_header(msg, "Message-ID", [own])
    parent = normalize_message_id(in_reply_to)
    if parent:
        _set_id_header(msg, "In-Reply-To", [parent])
    refs = parse_message_ids(list(references))
    if refs:
        _set_id_header(msg, "References", _trim_references(refs))
    for name, value in (extra_headers or {}).items():
        if name.lower() in _OWNED or not name or any(c in name for c in ": \r\n"):
            raise ValueError(f"header {name!r} cannot be set through extra_headers")
        msg[name] = _one_line(value)

    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if body and not body.endswith("\n"):
        body += "\n"
    msg.set_content(body, subtype="plain", charset="utf-8")
    for filename, content_type, data in attachments:
        maintype, _, subtype = (content_type or "").lower().partition("/")
        if not maintype or not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        name = safe_basename(filename)
        if (maintype, subtype) == ("message", "rfc822"):
            # An email (an .eml file, a forwarded one a draft carried) goes in as a
            # message part: RFC 2046 allows no base64 there, and a reader then
            # took the encoded text for the message.
            inner = email.parser.BytesParser(policy=policy.default).parsebytes(bytes(data))
            msg.add_attachment(inner, disposition="attachment", filename=name)
        elif maintype == "text":
            # add_attachment wants str for text/*; bytes keep the sender's
            # encoding exactly, so send them as a generic type with the same name.
            msg.add_attachment(bytes(data), maintype="application", subtype="octet-stream",
                               filename=name)
            parts = msg.get_payload()
            # add_attachment made the message multipart, the attachment its last part.
            assert isinstance(parts, list) and isinstance(parts[-1], MimePart)
            part = parts[-1]
            part.replace_header("Content-Type", f"{maintype}/{subtype}")
            part.set_param("name", name)
        else:
            msg.add_attachment(bytes(data), maintype=maintype, subtype=subtype, filename=name)
    return msg


def _fold_plain(text: str, width: int = 76) -> str:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n ".join(lines)


def _trim_references(refs: list[str]) -> list[str]:
    unique = list(dict.fromkeys(refs))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return [unique[0], *unique[-(MAX_REFERENCES - 1) :]]


class ReplyHeaders(NamedTuple):
    to: list[Party]
    cc: list[Party]
    subject: str
    in_reply_to: str
    references: list[str]


_REPLY_MARK = re.compile(
    r"(?:re|aw|sv|vs|antw|rif|odp|ynt|atb|vá|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_LIST_TAGS = re.compile(r"(?:\[[^\]]*\]\s*)*")


def reply_subject(subject: str) -> str:
    """'Re: ' + the subject, without piling up 'Re: Re: AW:'.

    Only reply markers go ("Re: Fwd: x" is the conventional reply to a forward);
    a list tag stays but moves after the "Re:", so "[dev] Re: x" answers as
    "Re: [dev] x".
    """
    s = _one_line(subject)
    tags = _LIST_TAGS.match(s)
    tag = tags.group(0) if tags else ""
    rest = s[len(tag) :]
    for _ in range(100):  # bounded for a hostile subject of endless "Re:"
        m = _REPLY_MARK.match(rest)
        if m is None:
            break
        rest = rest[m.end() :]
    stripped = (tag + rest).strip()
    return f"Re: {stripped}" if stripped else "Re:"


def _addr_key(address: str) -> str:
    return address.strip().casefold()


def reply_headers(
    original: ParsedMessage | Message,
    me: str | Iterable[str],
    reply_all: bool,
) -> ReplyHeaders:
    """To, Cc, Subject, In-Reply-To and References for replying to `original`.

    To is the Reply-To of the original, else its From; replying to one of our own
    messages goes to its recipients instead. Reply-all adds the other To and Cc
    addresses, never our own (`me` may list every alias) and never twice.
    """
    mine = {_addr_key(me)} if isinstance(me, str) else {_addr_key(a) for a in me}
    if isinstance(original, ParsedMessage):
        h = original.headers
        sender = h.sender
        reply_to = list(h.reply_to)
        to_orig, cc_orig = list(h.to), list(h.cc)
        subject, own_id = h.subject, h.message_id
        refs, parent = list(h.references), h.in_reply_to
    else:
        sender = original.sender
        reply_to = []
        to_orig = [p for p in original.recipients if p.role == "to"]
        cc_orig = [p for p in original.recipients if p.role == "cc"]
        subject = original.subject
        own_id = original.message_id_header or original.msg_id
        refs, parent = list(original.references), original.in_reply_to or ""

    from_me = sender is not None and _addr_key(sender.address) in mine
    if from_me:
        primary = to_orig
    elif reply_to:
        primary = reply_to
    else:
        primary = [sender] if sender is not None else []

    seen: set[str] = set()
    to: list[Party] = []
    for p in primary:
        key = _addr_key(p.address)
        if not key or key in seen or (key in mine and not from_me):
            continue
        seen.add(key)
        to.append(Party(p.address, p.name, "to"))
    cc: list[Party] = []
    if reply_all:
        others = [*(to_orig if not from_me else []), *cc_orig]
        if reply_to and sender is not None and not from_me:
            # With Reply-To set (mailing lists, ticket systems) the author still
            # gets a copy on reply-all, as in mutt and Thunderbird.
            others.insert(0, sender)
        for p in others:
            key = _addr_key(p.address)
            if not key or key in seen or key in mine:
                continue
            seen.add(key)
            cc.append(Party(p.address, p.name, "cc"))
    if not to and cc:
        first = cc.pop(0)
        to.append(Party(first.address, first.name, "to"))

    own = normalize_message_id(own_id)
    chain = parse_message_ids(refs) or parse_message_ids([parent] if parent else [])
    new_refs = [r for r in chain if r != own]
    if own:
        new_refs.append(own)
    return ReplyHeaders(
        to=to,
        cc=cc,
        subject=reply_subject(subject),
        in_reply_to=own,
        references=_trim_references(new_refs),
    )


def with_signature(text: str, signature: str | None) -> str:
    """`text`, then the signature under the "-- " line (RFC 3676 4.3)."""
    if not signature or not signature.strip():
        return text
    return f"{text.rstrip()}\n\n-- \n{signature.strip()}\n"


def chosen_address(own: Sequence[str], chosen: str) -> str:
    """`chosen` as one of our addresses (`own`), as the config writes it; a
    ValueError names them when it is none of them (From is never a stranger's)."""
    found = next((a for a in own if a and _addr_key(a) == _addr_key(chosen)), None)
    if found is None:
        raise ValueError(f"{chosen!r} is not an address of this account; From can be "
                         f"{', '.join(a for a in own if a)}")
    return found


def own_address(own: Sequence[str], original: ParsedMessage | Message | None) -> str | None:
    """Which of our addresses (`own`: the account's, then its aliases) an email
    was sent to, so that the answer comes from that one; None if none was."""
    if original is None:
        return None
    if isinstance(original, ParsedMessage):
        seen = [p.address for p in (*original.headers.to, *original.headers.cc)]
    else:
        seen = [p.address for p in original.recipients if p.role in ("to", "cc", "bcc")]
    keys = {_addr_key(a) for a in seen}
    return next((a for a in own if _addr_key(a) in keys), None)


# -- forward and bounce --------------------------------------------------------------

_FWD_MARK = re.compile(r"(?:fwd?|wg|tr|rv|vs)\s*:\s*", re.IGNORECASE)


def forward_subject(subject: str) -> str:
    """'Fwd: ' + the subject, unless it is a forward already."""
    s = _one_line(subject)
    return s if _FWD_MARK.match(s) else (f"Fwd: {s}" if s else "Fwd:")


def _parse_original(raw: bytes) -> EmailMessage:
    parsed = email.parser.BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)  # policy.default makes EmailMessage
    return parsed


def _files_of(original: EmailMessage) -> list[tuple[str, str, bytes]]:
    files = []
    for i, part in enumerate(original.iter_attachments(), 1):
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):  # a message/rfc822 part: its bytes as they are
            data = part.as_bytes() if isinstance(part, EmailMessage) else b""
        files.append((part.get_filename() or f"part-{i}", part.get_content_type(), data))
    return files


def _body_text(original: EmailMessage) -> str:
    body = original.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        text = body.get_content()
    except (LookupError, ValueError):  # an unknown charset: keep what decodes
        payload = body.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return inert_text(str(text))


def forward_email(original_raw: bytes, from_party: Party | str,
                  to: Sequence[Party | str], text: str, *, msg_id: str,
                  as_attachment: bool = False,
                  attachments: Iterable[tuple[str, str, bytes]] = ()) -> EmailMessage:
    """A forward of the email `original_raw`, built with the stdlib email package.

    Inline (the default, as mutt's): our text, then the original's main header
    fields and text under a "Forwarded message" line, and the original's files
    attached again. As attachment (mutt's mime_forward): our text, and the whole
    original as a message/rfc822 part, its files inside it untouched.
    `attachments` adds files of our own.
    """
    original = _parse_original(original_raw)
    subject = forward_subject(str(original.get("Subject", "")))
    if as_attachment:
        msg = build_email(from_party, to, [], subject, text, msg_id=msg_id,
                          attachments=attachments)
        msg.add_attachment(original, disposition="attachment")
        return msg
    head = "\n".join(f"{name}: {_one_line(str(original[name]))}"
                     for name in ("From", "Date", "Subject", "To", "Cc") if original[name])
    body = (f"{text.rstrip()}\n\n---------- Forwarded message ----------\n{head}\n\n"
            f"{_body_text(original)}")
    return build_email(from_party, to, [], subject, body, msg_id=msg_id,
                       attachments=[*_files_of(original), *attachments])


def forward_several(originals_raw: Sequence[bytes], from_party: Party | str,
                    to: Sequence[Party | str], text: str, *, msg_id: str,
                    attachments: Iterable[tuple[str, str, bytes]] = ()) -> EmailMessage:
    """One email forwarding several (mutt's mime_forward on tagged messages): our
    text, then each original whole as a message/rfc822 part, in the order given,
    their files inside them untouched. The subject is the first one's, with how
    many more follow ("Fwd: Plans (+2 more)")."""
    if not originals_raw:
        raise ValueError("nothing to forward")
    originals = [_parse_original(raw) for raw in originals_raw]
    subject = forward_subject(str(originals[0].get("Subject", "")))
    if len(originals) > 1:
        subject += f" (+{len(originals) - 1} more)"
    msg = build_email(from_party, to, [], subject, text, msg_id=msg_id,
                      attachments=attachments)
    for original in originals:
        msg.add_attachment(original, disposition="attachment")
    return msg


def bounce_bytes(original_raw: bytes, from_party: Party | str, to: Sequence[Party | str],
                 *, msg_id: str, date: float | None = None) -> bytes:
    """The original email, untouched, under a block of Resent-* fields (RFC 5322
    3.6.6): a bounce (mutt's) or redirect (aerc's).

    The fields are written by the email package (addresses encoded as in any of
    our headers); they are put on top of the original's bytes rather than the
    message parsed and written again, so its signatures (DKIM, S/MIME) and its
    exact bytes stay valid.
    """
    own = normalize_message_id(f"<{msg_id}>")
    if not own or "@" not in own:
        raise ValueError(f"not a bare message id: {msg_id!r}")
    block = EmailMessage(policy=_POLICY)
    _set_address_header(block, "Resent-From", [from_party])
    _set_address_header(block, "Resent-To", list(to))
    block["Resent-Date"] = format_datetime(
        datetime.fromtimestamp(time.time() if date is None else date, UTC))
    _set_id_header(block, "Resent-Message-ID", [own])
    head = block.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
    if not original_raw.split(b"\n", 1)[0].endswith(b"\r"):  # the original's line ends
        head = head.replace(b"\r\n", b"\n")
    return head + original_raw


__all__ = [
    "MAX_REFERENCES",
    "ReplyHeaders",
    "bounce_bytes",
    "build_email",
    "forward_email",
    "forward_several",
    "forward_subject",
    "own_address",
    "reply_headers",
    "reply_subject",
    "with_signature",
]
