"""What end-to-end protection a message had: the small vocabulary the store, the
engine and both front ends carry (`Message.crypto`, `show --json`'s `crypto`).

Pure values, no cryptography and no imports beyond the stdlib: whatever port
produced them (GPGME today, OMEMO later), a front end only reads these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """One signature's verdict, as a reader needs it."""

    GOOD = "good"  # the signature holds for this data and the key is usable
    BAD = "bad"  # the data or the signature was changed: never trust the text
    UNKNOWN_KEY = "unknown key"  # signed, but the key is not in the keyring
    EXPIRED = "expired"  # the signature or its key had expired
    REVOKED = "revoked"  # the key was revoked
    ERROR = "error"  # could not be checked (a broken signature packet, ...)


@dataclass(frozen=True, slots=True)
class Signature:
    verdict: Verdict
    # The signing key's full fingerprint (uppercase hex); for an unknown key only
    # what the signature names (possibly a 16-digit key id).
    fingerprint: str = ""
    # The key's first user id as the keyring has it ("Alice <alice@example.org>"),
    # "" when the key is unknown. Remote text: made inert before display.
    uid: str = ""
    # The keyring certifies the key (validity full or ultimate): the user, or
    # someone the user trusts, checked that the key belongs to that person.
    certified: bool = False
    detail: str = ""

    @property
    def key_id(self) -> str:
        """"0x" and the last 16 digits of the fingerprint (the long key id)."""
        return "0x" + self.fingerprint[-16:] if self.fingerprint else "0x?"


@dataclass(frozen=True, slots=True)
class CryptoStatus:
    """How one message was protected and what checking it found."""

    encrypted: bool = False
    decrypted: bool = False
    signatures: tuple[Signature, ...] = ()
    # "pgp/mime" (RFC 3156) or "inline" (an armored block in a text part).
    scheme: str = ""
    # The Subject came from inside the encryption (protected headers), not the
    # outer header (which says "...").
    protected_subject: bool = False
    # Why it could not be decrypted or checked, in words.
    error: str = ""

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    @property
    def good(self) -> bool:
        """Signed, and every signature good."""
        return bool(self.signatures) and all(s.verdict is Verdict.GOOD
                                             for s in self.signatures)

    def line(self) -> str:
        """The one-line summary a reader sees, e.g. "encrypted · signed by Alice
        <a@example.org> (good, 0x1234ABCD5678EF90)". Not yet made inert."""
        parts: list[str] = []
        if self.encrypted:
            parts.append("encrypted" if self.decrypted else
                         f"encrypted, NOT decrypted: {self.error or 'no secret key'}")
        elif self.error:
            parts.append(f"OpenPGP error: {self.error}")
        for sig in self.signatures:
            parts.append(describe(sig))
        if self.signed is False and self.encrypted and self.decrypted:
            parts.append("not signed")
        return " · ".join(parts)


def describe(sig: Signature) -> str:
    who = sig.uid or "unknown key"
    if sig.verdict is Verdict.BAD:
        return f"BAD signature by {who} ({sig.key_id}): the message was altered"
    if sig.verdict is Verdict.UNKNOWN_KEY:
        return f"signed by an unknown key {sig.key_id} (not in your keyring: not checked)"
    if sig.verdict is Verdict.GOOD:
        trust = "" if sig.certified else ", key not certified"
        return f"signed by {who} (good{trust}, {sig.key_id})"
    what = {Verdict.EXPIRED: "expired", Verdict.REVOKED: "REVOKED key",
            Verdict.ERROR: "could not be checked"}[sig.verdict]
    detail = f": {sig.detail}" if sig.detail and sig.verdict is Verdict.ERROR else ""
    return f"signed by {who} ({what}{detail}, {sig.key_id})"
