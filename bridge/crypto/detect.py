"""Which OpenPGP shape a message has, told from its structure alone (no keys,
no cryptography): the MIME parse marks such a message so that its raw bytes are
kept and its text is opened by the port when it is shown."""

from __future__ import annotations

from enum import StrEnum


class Shape(StrEnum):
    NONE = ""
    ENCRYPTED = "pgp/mime encrypted"  # RFC 3156 multipart/encrypted
    SIGNED = "pgp/mime signed"  # RFC 3156 multipart/signed
    INLINE_ENCRYPTED = "inline encrypted"  # an armored PGP MESSAGE in a text part
    INLINE_SIGNED = "inline signed"  # a clearsigned text part


BEGIN_MESSAGE = "-----BEGIN PGP MESSAGE-----"
BEGIN_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"


def shape_of(content_type: str, protocol: str, text: str = "") -> Shape:
    """The shape of a message whose top part is `content_type` (with its
    `protocol` parameter) and whose display text is `text`."""
    ctype, proto = content_type.lower(), protocol.lower().strip()
    if ctype == "multipart/encrypted" and proto == "application/pgp-encrypted":
        return Shape.ENCRYPTED
    if ctype == "multipart/signed" and proto == "application/pgp-signature":
        return Shape.SIGNED
    # An inline block counts only at the start of a line (a quoted one, "> ----",
    # is someone's reply, not this message's protection).
    lines = text.lstrip().splitlines()
    if any(line.rstrip() == BEGIN_MESSAGE for line in lines):
        return Shape.INLINE_ENCRYPTED
    if lines and lines[0].rstrip() == BEGIN_SIGNED:
        return Shape.INLINE_SIGNED
    return Shape.NONE
