"""What end-to-end protection a message had: the small vocabulary the store, the
engine and both front ends carry (`Message.crypto`, `show --json`'s `crypto`).

Pure values, no cryptography and no imports beyond the stdlib: whatever port
produced them (GPGME today, OMEMO later), a front end only reads these.
"""

from __future__ import annotations

import json
from enum import StrEnum

from ..record import FrozenRecord, setfield

# The outer Subject of an email whose real one travels inside the encryption
# (the Protected Headers draft's recommendation): what the list shows until the
# email is opened. Here, not in pgpmime, so the app can name it without GPGME.
HIDDEN_SUBJECT = "..."


class Verdict(StrEnum):
    """One signature's verdict, as a reader needs it."""

    GOOD = "good"  # the signature holds for this data and the key is usable
    BAD = "bad"  # the data or the signature was changed: never trust the text
    UNKNOWN_KEY = "unknown key"  # signed, but the key is not in the keyring
    EXPIRED = "expired"  # the signature or its key had expired
    REVOKED = "revoked"  # the key was revoked
    ERROR = "error"  # could not be checked (a broken signature packet, ...)


class Signature(FrozenRecord):
    __slots__ = ("certified", "detail", "fingerprint", "uid", "verdict")
    verdict: Verdict
    # The signing key's full fingerprint (uppercase hex); for an unknown key only
    # what the signature names (possibly a 16-digit key id).
    fingerprint: str
    # The key's first user id as the keyring has it ("Alice <alice@example.org>"),
    # "" when the key is unknown. Remote text: made inert before display.
    uid: str
    # The keyring certifies the key (validity full or ultimate): the user, or
    # someone the user trusts, checked that the key belongs to that person.
    certified: bool
    detail: str

    def __init__(
        self, verdict: Verdict, fingerprint: str = "", uid: str = "", certified: bool = False,
        detail: str = "",
    ) -> None:
        setfield(self, "verdict", verdict)
        setfield(self, "fingerprint", fingerprint)
        setfield(self, "uid", uid)
        setfield(self, "certified", certified)
        setfield(self, "detail", detail)

    @property
    def key_id(self) -> str:
        """"0x" and the last 16 digits of the fingerprint (the long key id)."""
        return "0x" + self.fingerprint[-16:] if self.fingerprint else "0x?"


class CryptoStatus(FrozenRecord):
    """How one message was protected and what checking it found."""

    __slots__ = (
        "decrypted",
        "device",
        "device_id",
        "encrypted",
        "error",
        "protected_subject",
        "scheme",
        "signatures",
        "trust",
    )

    encrypted: bool
    decrypted: bool
    signatures: tuple[Signature, ...]
    # "pgp/mime" (RFC 3156) or "inline" (an armored block in a text part).
    scheme: str
    # The Subject came from inside the encryption (protected headers), not the
    # outer header (which says "...").
    protected_subject: bool
    # Why it could not be decrypted or checked, in words.
    error: str
    # OMEMO (scheme "omemo"): the sending device's fingerprint (eight groups of
    # eight hex digits), its id, and the trust we had in it when the line came:
    # "verified", "blindly trusted" (BTBV: not verified yet), "undecided" (a new
    # device of a contact the user verified), "distrusted".
    device: str
    device_id: int
    trust: str

    def __init__(
        self, encrypted: bool = False, decrypted: bool = False,
        signatures: tuple[Signature, ...] = (), scheme: str = "",
        protected_subject: bool = False, error: str = "", device: str = "", device_id: int = 0,
        trust: str = "",
    ) -> None:
        setfield(self, "encrypted", encrypted)
        setfield(self, "decrypted", decrypted)
        setfield(self, "signatures", signatures)
        setfield(self, "scheme", scheme)
        setfield(self, "protected_subject", protected_subject)
        setfield(self, "error", error)
        setfield(self, "device", device)
        setfield(self, "device_id", device_id)
        setfield(self, "trust", trust)

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    @property
    def good(self) -> bool:
        """Signed, and every signature good."""
        return bool(self.signatures) and all(s.verdict is Verdict.GOOD
                                             for s in self.signatures)

    @property
    def omemo(self) -> bool:
        return self.scheme == OMEMO

    @property
    def untrusted_device(self) -> bool:
        """An OMEMO line from a device nobody vouched for: a new device of a
        contact whose other devices the user verified, or one they distrust."""
        return self.omemo and self.trust in (UNDECIDED, DISTRUSTED)

    def line(self) -> str:
        """The one-line summary a reader sees, e.g. "encrypted · signed by Alice
        <a@example.org> (good, 0x1234ABCD5678EF90)". Not yet made inert."""
        if self.omemo:
            return omemo_line(self)
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


# OMEMO (bridge/xmpp/omemo.py): the scheme, the trust words, and what a line that
# could not be opened says instead of its ciphertext.
OMEMO = "omemo"
VERIFIED = "verified"
BLIND = "blindly trusted"
UNDECIDED = "undecided"
DISTRUSTED = "distrusted"
UNREADABLE = "encrypted message this device cannot read"


def omemo_line(status: CryptoStatus) -> str:
    if not status.decrypted:
        return f"OMEMO-encrypted, NOT decrypted: {status.error or 'not for this device'}"
    if not status.device:
        return "OMEMO-encrypted"
    words = {VERIFIED: "verified device", BLIND: "device not verified yet (trusted blindly)",
             UNDECIDED: "NEW device, not verified", DISTRUSTED: "DISTRUSTED device"}
    return (f"OMEMO-encrypted · {words.get(status.trust, status.trust or 'device')} "
            f"{status.device}")


def to_json(status: CryptoStatus | None) -> str | None:
    """What the store keeps of a chat line's protection (an email's is found again
    each time it is opened, so only chat lines keep theirs)."""
    if status is None:
        return None
    return json.dumps({"encrypted": status.encrypted, "decrypted": status.decrypted,
                       "scheme": status.scheme, "error": status.error,
                       "device": status.device, "device_id": status.device_id,
                       "trust": status.trust}, sort_keys=True)


def from_json(text: str | None) -> CryptoStatus | None:
    if not text:
        return None
    try:
        d = json.loads(text)
        return CryptoStatus(encrypted=bool(d.get("encrypted")),
                            decrypted=bool(d.get("decrypted")), scheme=str(d.get("scheme", "")),
                            error=str(d.get("error", "")), device=str(d.get("device", "")),
                            device_id=int(d.get("device_id") or 0),
                            trust=str(d.get("trust", "")))
    except (ValueError, TypeError, AttributeError):
        return None


class OmemoDevice(FrozenRecord):
    """One OMEMO device of an account (ours or a contact's), for `keys list` and
    the keys screen."""

    __slots__ = (
        "active",
        "device_id",
        "fingerprint",
        "jid",
        "label",
        "own",
        "this_device",
        "trust",
    )

    jid: str
    device_id: int
    fingerprint: str  # eight groups of eight hex digits, space-separated
    trust: str  # VERIFIED, BLIND, UNDECIDED, DISTRUSTED
    active: bool
    own: bool  # one of our account's devices
    this_device: bool  # the one this client is
    label: str

    def __init__(
        self, jid: str, device_id: int, fingerprint: str, trust: str, active: bool = True,
        own: bool = False, this_device: bool = False, label: str = "",
    ) -> None:
        setfield(self, "jid", jid)
        setfield(self, "device_id", device_id)
        setfield(self, "fingerprint", fingerprint)
        setfield(self, "trust", trust)
        setfield(self, "active", active)
        setfield(self, "own", own)
        setfield(self, "this_device", this_device)
        setfield(self, "label", label)
