"""OpenPGP in mail: RFC 3156 PGP/MIME and inline PGP, read and written.

Reading (`open_message`) turns the raw bytes of a protected email into what a
reader sees: the decrypted or verified text and files (parsed by the same walk as
any email, bridge.mail.walk) and a `CryptoStatus`. Writing (`protect`) wraps a
composed email into multipart/signed or multipart/encrypted, with the "Protected
Headers for Cryptographic E-mail" draft's inner header block: the real Subject
travels inside the encryption and the outer one says "...".

The cryptography is the port's (bridge.crypto.openpgp, GPGME). What is hand-written
here is MIME framing only, for one reason: a detached signature covers the exact
bytes of the signed part (RFC 3156 section 5), and the stdlib's parser does not
keep a part's original bytes (it refolds, it drops the boundary's CRLF). So the
signed part is cut out of the raw message at its boundaries (RFC 2046 section
5.1.1), and a message we sign is put together from the bytes that were signed
and kept as those bytes (`Sealed`), never generated again.
"""

from __future__ import annotations

import copy
import dataclasses
import email
import quopri
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.message import Message as EmailMessage_
from email.policy import SMTP, Policy, compat32
from email.utils import getaddresses

from bridge.safe import inert_text

from ..mail.charset import decode_bytes
from ..mail.headers import header_text
from ..mail.walk import ParsedAttachment, parse_message
from .detect import BEGIN_MESSAGE, Shape, shape_of
from .openpgp import OpenPGP
from .status import HIDDEN_SUBJECT, CryptoStatus, Signature

# Header fields carried inside the cryptographic payload (the draft's
# "protected headers"); Bcc never is.
PROTECTED_FIELDS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID",
                    "In-Reply-To", "References")
# How a sealed message (below) is parsed back: compat32 keeps each field as it came.
EXACT = compat32.clone(linesep="\r\n", mangle_from_=False)


@dataclass
class Opened:
    """A protected email as its reader sees it."""

    text: str
    status: CryptoStatus
    attachments: list[ParsedAttachment] = field(default_factory=list)
    # The Subject from inside the protection (None: the outer one stands).
    subject: str | None = None
    # Autocrypt-Gossip header values found inside the encryption, and the
    # addresses they may be about (To, Cc, Reply-To: bridge.crypto.autocrypt).
    gossip: tuple[str, ...] = ()
    gossip_for: tuple[str, ...] = ()


def shape_of_raw(raw: bytes) -> Shape:
    msg = email.message_from_bytes(raw, policy=compat32)
    return _shape(msg)


def _shape(msg: EmailMessage_) -> Shape:
    protocol = str(msg.get_param("protocol") or "")
    text = ""
    if msg.get_content_type() == "text/plain":
        text = decode_bytes(_payload(msg), msg.get_content_charset())
    return shape_of(msg.get_content_type(), protocol, text)


def open_message(raw: bytes, port: OpenPGP) -> Opened | None:
    """The decrypted and/or verified content of a protected email; None when the
    message is not OpenPGP-protected."""
    msg = email.message_from_bytes(raw, policy=compat32)
    shape = _shape(msg)
    if shape is Shape.ENCRYPTED:
        return _open_encrypted(msg, port)
    if shape is Shape.SIGNED:
        return _open_signed(raw, msg, port)
    if shape in (Shape.INLINE_ENCRYPTED, Shape.INLINE_SIGNED):
        return _open_inline(msg, shape, port)
    return None


def _open_encrypted(msg: EmailMessage_, port: OpenPGP) -> Opened:
    parts = _parts(msg)
    if len(parts) < 2:
        return Opened("", CryptoStatus(encrypted=True, scheme="pgp/mime",
                                       error="not a PGP/MIME message (RFC 3156)"))
    result = port.decrypt(_payload(parts[1]))
    if result.plaintext is None:
        return Opened("", CryptoStatus(encrypted=True, scheme="pgp/mime",
                                       error=result.error))
    inner = result.plaintext
    signatures = result.signatures
    inner_msg = email.message_from_bytes(inner, policy=compat32)
    if _shape(inner_msg) is Shape.SIGNED:
        # Signed, then encrypted as two steps (RFC 3156 section 6.1).
        opened = _open_signed(inner, inner_msg, port)
        return _with_gossip(Opened(opened.text, CryptoStatus(
            encrypted=True, decrypted=True, signatures=signatures + opened.status.signatures,
            scheme="pgp/mime", protected_subject=opened.subject is not None),
            opened.attachments, opened.subject), msg, inner_msg)
    text, files, subject = _content(inner, inner_msg)
    return _with_gossip(Opened(text, CryptoStatus(
        encrypted=True, decrypted=True, signatures=signatures, scheme="pgp/mime",
        protected_subject=subject is not None), files, subject), msg, inner_msg)


def _with_gossip(opened: Opened, outer: EmailMessage_, inner: EmailMessage_) -> Opened:
    """`opened` with the Autocrypt-Gossip headers of the decrypted payload's root
    part (where the spec puts them) and the recipients they may name."""
    gossip = tuple(str(v) for v in inner.get_all("Autocrypt-Gossip", []))
    if not gossip:
        return opened
    fields = [str(v) for m in (outer, inner) for h in ("To", "Cc", "Reply-To")
              for v in m.get_all(h, [])]
    allowed = tuple(a for _n, a in getaddresses(fields) if a)
    return dataclasses.replace(opened, gossip=gossip, gossip_for=allowed)


def _open_signed(raw: bytes, msg: EmailMessage_, port: OpenPGP) -> Opened:
    parts = _parts(msg)
    boundary = msg.get_boundary()
    cut = _signed_bytes(raw, boundary) if boundary else None
    if len(parts) < 2 or cut is None:
        return Opened(_walk_text(raw), CryptoStatus(scheme="pgp/mime",
                                                    error="malformed multipart/signed"))
    signatures = port.verify_detached(_crlf(cut), _payload(parts[1]))
    text, files, subject = _content(cut, parts[0])
    return Opened(text, CryptoStatus(signatures=signatures, scheme="pgp/mime",
                                     protected_subject=subject is not None), files, subject)


def _open_inline(msg: EmailMessage_, shape: Shape, port: OpenPGP) -> Opened:
    data = _payload(msg)
    charset = msg.get_content_charset()
    if shape is Shape.INLINE_SIGNED:
        plain, signatures = port.verify_clearsigned(data)
        text = decode_bytes(plain, charset) if plain is not None else decode_bytes(data, charset)
        return Opened(_clean(text), CryptoStatus(signatures=signatures, scheme="inline"))
    text = decode_bytes(data, charset)
    start = text.find(BEGIN_MESSAGE)
    end_marker = "-----END PGP MESSAGE-----"
    end = text.find(end_marker, start)
    end = len(text) if end < 0 else end + len(end_marker)
    result = port.decrypt(text[start:end].encode("ascii", "replace"))
    if result.plaintext is None:
        return Opened(_clean(text), CryptoStatus(encrypted=True, scheme="inline",
                                                 error=result.error))
    # Inline PGP has no charset of its own: UTF-8 is what every sender writes now.
    inner = decode_bytes(result.plaintext, "utf-8")
    return Opened(_clean(text[:start] + inner + text[end:]),
                  CryptoStatus(encrypted=True, decrypted=True, signatures=result.signatures,
                               scheme="inline"))


def _content(entity: bytes, top: EmailMessage_) -> tuple[str, list[ParsedAttachment],
                                                         str | None]:
    """Text, files and protected Subject of a MIME entity (a decrypted payload or
    a signed part): the walk every email gets, so HTML, flowed text, files and
    forwarded messages read as in any other email."""
    parsed = parse_message(entity)
    subject_field = top.get("Subject")
    subject = inert_text(header_text(str(subject_field))) if subject_field is not None else None
    # The entity has no header of its own worth a malformed flag ("no header
    # fields"): only its text and files are wanted here.
    return parsed.text, parsed.attachments, subject


def _walk_text(raw: bytes) -> str:
    return parse_message(raw).text


def _clean(text: str) -> str:
    return inert_text(text.replace("\r\n", "\n"))


def _parts(msg: EmailMessage_) -> list[EmailMessage_]:
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return []
    return [p for p in payload if isinstance(p, EmailMessage_)]


def _payload(part: EmailMessage_) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # a hostile encoding: the bytes as they came
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _signed_bytes(raw: bytes, boundary: str) -> bytes | None:
    """The first body part of a multipart, byte for byte as it came (RFC 2046
    5.1.1: the CRLF before a delimiter belongs to the delimiter)."""
    head_end = re.search(rb"\r?\n\r?\n", raw)
    if head_end is None:
        return None
    body = raw[head_end.end():]
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode("utf-8", "replace"))
                           + rb"(--)?[ \t]*(?=\r?\n|$)")
    marks = list(delimiter.finditer(body))
    if len(marks) < 2 or marks[0].group(1):
        return None
    start = marks[0].end()
    start += 2 if body[start:start + 2] == b"\r\n" else 1
    return body[start:marks[1].start()]


def _crlf(data: bytes) -> bytes:
    """RFC 3156's canonical form, and SMTP's: every line ends in CRLF (gpg's armor
    ends its lines in LF alone; a server reads that as one line, too long)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


# -- writing -----------------------------------------------------------------------------


def protect(mail: EmailMessage, port: OpenPGP, *, sender: str, recipients: Sequence[str],
            sign: bool, encrypt: bool, key_files: Mapping[str, bytes] | None = None,
            gossip: Sequence[str] = (), hidden: Sequence[str] = ()) -> EmailMessage:
    """`mail` signed and/or encrypted as PGP/MIME, with protected headers.

    Encryption is to every recipient and to the sender's own key (so the copy in
    Sent stays readable); openpgp.MissingKeys names whoever has no key, before
    anything is built. Signing uses the sender address's secret key, through
    gpg-agent (its pinentry asks for a passphrase if it needs one).
    `key_files`: keys (as data) for recipients the keyring has none for
    (Autocrypt's); `gossip`: Autocrypt-Gossip header values, put inside the
    encryption only (bridge.crypto.autocrypt); `hidden`: the Bcc among
    `recipients`, encrypted to without their key id in the message (the others
    must not learn of them; Bcc is never among the protected headers either).
    """
    if not (sign or encrypt):
        return mail
    inner = _inner(mail)
    if encrypt:
        for value in gossip:
            inner["Autocrypt-Gossip"] = value
        payload = port.encrypt(_crlf(inner.as_bytes(policy=SMTP)), recipients,
                               sender if sign else None, to_self=sender,
                               key_files=key_files, hidden=hidden)
        boundary = _boundary()
        body = (
            f"This is an OpenPGP/MIME encrypted message (RFC 3156).\r\n"
            f"--{boundary}\r\n"
            "Content-Type: application/pgp-encrypted\r\n"
            "Content-Description: PGP/MIME version identification\r\n\r\n"
            "Version: 1\r\n\r\n"
            f"--{boundary}\r\n"
            'Content-Type: application/octet-stream; name="encrypted.asc"\r\n'
            "Content-Description: OpenPGP encrypted message\r\n"
            'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n'
        ).encode() + _crlf(payload.rstrip(b"\r\n")) + f"\r\n\r\n--{boundary}--\r\n".encode()
        ctype = ('multipart/encrypted; protocol="application/pgp-encrypted"; '
                 f'boundary="{boundary}"')
        return _outer(mail, ctype, body, hide_subject=True)
    signed = _crlf(inner.as_bytes(policy=SMTP))
    signature, micalg = port.sign_detached(signed, sender)
    boundary = _boundary()
    body = (f"This is an OpenPGP/MIME signed message (RFC 3156).\r\n--{boundary}\r\n"
            ).encode() + signed + (
        # The CRLF before a delimiter is the delimiter's (RFC 2046 5.1.1): the part
        # is `signed` exactly, its own last line break included.
        f"\r\n--{boundary}\r\n"
        'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
        "Content-Description: OpenPGP digital signature\r\n"
        'Content-Disposition: attachment; filename="signature.asc"\r\n\r\n'
    ).encode() + _crlf(signature.rstrip(b"\r\n")) + f"\r\n\r\n--{boundary}--\r\n".encode()
    ctype = (f'multipart/signed; micalg="{micalg}"; protocol="application/pgp-signature"; '
             f'boundary="{boundary}"')
    return _outer(mail, ctype, body, hide_subject=False)


def _inner(mail: EmailMessage) -> EmailMessage:
    """The body of `mail` as one MIME entity carrying the protected header fields
    (Content-Type gets protected-headers="v1"), every leaf 7-bit clean: signed
    data must survive any mail server unchanged (RFC 3156 section 3)."""
    inner = copy.deepcopy(mail)
    for name in set(inner.keys()):
        if not name.lower().startswith("content-"):
            del inner[name]
    for name in PROTECTED_FIELDS:
        for value in mail.get_all(name, []):
            inner[name] = value
    inner.set_param("protected-headers", "v1")
    for part in inner.walk():
        if not part.is_multipart():
            _seven_bit(part)
    return inner


def _seven_bit(part: EmailMessage_) -> None:
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).lower()
    if cte not in ("8bit", "binary"):
        return
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return
    # quoted-printable keeps a text readable by a client that shows the raw part;
    # "From " at a line's start is encoded too, so no server quotes it.
    encoded = quopri.encodestring(data).replace(b"\nFrom ", b"\nFrom=20")
    if encoded.startswith(b"From "):
        encoded = b"From=20" + encoded[5:]
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(encoded.decode("ascii"))


class Sealed(EmailMessage):
    """A signed or encrypted email whose bytes are final: `as_bytes` gives them as
    they were signed, never regenerated (a regenerated header or part could differ
    by a fold and break the signature). Its fields read as any email's (the
    sender takes Bcc from them for the envelope); Bcc is not in its bytes."""

    sealed: bytes = b""

    def as_bytes(self, unixfrom: bool = False, policy: Policy | None = None) -> bytes:
        return self.sealed

    def __bytes__(self) -> bytes:
        return self.sealed


def _outer(mail: EmailMessage, ctype: str, body: bytes, *, hide_subject: bool) -> EmailMessage:
    head = EmailMessage()
    for name, value in mail.items():
        if name.lower().startswith("content-") or name.lower() in ("mime-version", "bcc"):
            continue
        head[name] = HIDDEN_SUBJECT if hide_subject and name.lower() == "subject" else value
    header = head.as_bytes(policy=SMTP).rstrip(b"\r\n")
    raw = (header + b"\r\nMIME-Version: 1.0\r\nContent-Type: " + ctype.encode()
           + b"\r\n\r\n" + body)
    out = email.message_from_bytes(raw, _class=Sealed, policy=EXACT)
    assert isinstance(out, Sealed)
    out.sealed = raw
    for value in mail.get_all("Bcc", []):
        out["Bcc"] = value
    return out


def _boundary() -> str:
    return "=-" + secrets.token_hex(12)


__all__ = ["HIDDEN_SUBJECT", "Opened", "Sealed", "Signature", "open_message", "protect",
           "shape_of_raw"]
