"""An encrypted email as its sender wrote it, before the encryption: what a forward carries.

A forward of an encrypted email must give its recipient something they can read:
the original's ciphertext was made for us, not for them. `decrypted_email` opens
it (GPGME, through the OpenPGP port) and puts the decrypted MIME entity under the
outer header fields, the protected ones from inside taking their place (the real
Subject for the outer "..."). The forward is then built from those bytes like any
other, and sealed again for its own recipients (bridge.crypto.outgoing), never in
clear unless the user chose so. The Autocrypt-Gossip fields inside (keys of the
original's recipients) are not passed on.
"""

from __future__ import annotations

import email
from email.message import Message as EmailMessage_
from email.policy import compat32

from .detect import Shape
from .openpgp import OpenPGP, OpenPGPError
from .pgpmime import _open_inline, _parts, _payload, _shape

# Fields never carried from inside: gossip is for the original's recipients.
_DROPPED = {"autocrypt-gossip"}
ENCRYPTED = (Shape.ENCRYPTED, Shape.INLINE_ENCRYPTED)


def _content_field(name: str) -> bool:
    low = name.lower()
    return low.startswith("content-") or low == "mime-version"


def is_encrypted_raw(raw: bytes) -> bool:
    """Whether the email `raw` is encrypted (PGP/MIME or inline PGP)."""
    return _shape(email.message_from_bytes(raw, policy=compat32)) in ENCRYPTED


def decrypted_email(raw: bytes, port: OpenPGP) -> bytes | None:
    """The encrypted email `raw` decrypted, as a whole email (see the module's
    doc); None when it is not encrypted; OpenPGPError when it cannot be opened."""
    outer = email.message_from_bytes(raw, policy=compat32)
    shape = _shape(outer)
    if shape is Shape.INLINE_ENCRYPTED:
        opened = _open_inline(outer, shape, port)
        if not opened.status.decrypted:
            raise OpenPGPError(opened.status.error or "the email cannot be decrypted")
        plain = EmailMessage_(policy=compat32)
        for name, value in outer.items():
            if not _content_field(name):
                plain[name] = value
        plain["MIME-Version"] = "1.0"
        plain.set_payload(opened.text, "utf-8")
        return plain.as_bytes()
    if shape is not Shape.ENCRYPTED:
        return None
    parts = _parts(outer)
    if len(parts) < 2:
        raise OpenPGPError("not a PGP/MIME message (RFC 3156)")
    result = port.decrypt(_payload(parts[1]))
    if result.plaintext is None:
        raise OpenPGPError(result.error or "the email cannot be decrypted")
    inner = email.message_from_bytes(result.plaintext, policy=compat32)
    protected = [(k, v) for k, v in inner.items() if not _content_field(k)]
    if _shape(inner) is Shape.SIGNED and _parts(inner):
        # Signed, then encrypted as two steps (RFC 3156 6.1): the signed content,
        # whose own protected fields win over the same ones on the signed wrapper.
        inner = _parts(inner)[0]
        signed = [(k, v) for k, v in inner.items() if not _content_field(k)]
        names = {k.lower() for k, _v in signed}
        protected = [(k, v) for k, v in protected if k.lower() not in names] + signed
    inside = {k.lower() for k, _v in protected}
    head = [(k, v) for k, v in outer.items()
            if not _content_field(k) and k.lower() not in inside]
    head += [(k, v) for k, v in protected if k.lower() not in _DROPPED]
    head += [(k, v) for k, v in inner.items() if _content_field(k)]
    for name in set(inner.keys()):
        del inner[name]
    for name, value in head:
        inner[name] = value
    if "MIME-Version" not in inner:
        inner["MIME-Version"] = "1.0"
    return inner.as_bytes()
