"""The keyring as the `keys` verbs and the keys screen see it: list, import,
verify (a local certification) and owner trust, all through GPGME.

"Verify" is what GnuPG users do after comparing a fingerprint with its owner:
`gpg --lsign-key`, a *local* certification by our own key (never exported, never
uploaded), after which gpg counts the key as fully valid and a signature by it
as "good, certified". Owner trust (`keys trust FPR --level ...`) is the other,
separate setting of `gpg --edit-key ... trust`: how far we trust that person to
certify other people's keys; it does not verify their own key. GPGME 1.18 has
no call of its own for owner trust, so it goes through GPGME's `interact`, which
drives gpg's own key editing by its status keywords (no parsing of gpg's
human output).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .openpgp import OpenPGPError, _gpg, _words

VALIDITY = {0: "unknown", 1: "undefined", 2: "never", 3: "marginal", 4: "full",
            5: "ultimate"}
# `keys trust --level`: gpg's own owner-trust menu numbers.
TRUST_LEVELS = {"unknown": "1", "never": "2", "marginal": "3", "full": "4", "ultimate": "5"}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One OpenPGP key as listed: who, how valid, until when, for what."""

    fingerprint: str
    uids: tuple[str, ...]
    emails: tuple[str, ...]
    secret: bool  # one of ours (we hold its secret key)
    validity: str  # unknown | undefined | never | marginal | full | ultimate
    ownertrust: str
    expires: int | None  # seconds since the epoch; None: never
    revoked: bool = False
    expired: bool = False
    disabled: bool = False
    can_encrypt: bool = False
    can_sign: bool = False

    @property
    def verified(self) -> bool:
        """Valid in the keyring's eyes: certified by us (or someone we trust)."""
        return self.validity in ("full", "ultimate")

    @property
    def usable(self) -> bool:
        return not (self.revoked or self.expired or self.disabled)


@dataclass(frozen=True, slots=True)
class Imported:
    considered: int
    imported: int
    unchanged: int
    fingerprints: tuple[str, ...]


class Keyring:
    """The user's keyring in `home` (None: gpg's own default)."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home

    def _context(self, **kw: Any) -> Any:
        gpg = _gpg()
        return gpg.Context(armor=True, home_dir=str(self.home) if self.home else None, **kw)

    def list(self, patterns: Iterable[str] = (), *, secret: bool = False) -> list[KeyInfo]:
        """Keys matching any of `patterns` (addresses, fingerprints; none: all), ours
        marked `secret`. `secret=True`: only ours."""
        gpg = _gpg()
        wanted: list[str | None] = [p for p in patterns if p] or [None]
        found: dict[str, KeyInfo] = {}
        with self._context() as ctx:
            try:
                ours = {k.fpr.upper() for k in ctx.keylist(secret=True)}
                for pattern in wanted:
                    for key in ctx.keylist(pattern=pattern, secret=secret):
                        info = _info(key, key.fpr.upper() in ours)
                        found.setdefault(info.fingerprint, info)
            except gpg.errors.GPGMEError as exc:
                raise OpenPGPError(f"cannot list the keyring: {_words(exc)}") from exc
        return sorted(found.values(), key=lambda k: (not k.secret, k.uids, k.fingerprint))

    def get(self, fingerprint: str) -> KeyInfo:
        fpr = _fpr(fingerprint)
        match = [k for k in self.list([fpr]) if k.fingerprint.endswith(fpr)]
        if len(match) != 1:
            raise OpenPGPError(f"no key {fingerprint} in your keyring" if not match else
                               f"{fingerprint} names {len(match)} keys: give the whole "
                               "fingerprint")
        return match[0]

    def import_keys(self, data: bytes) -> Imported:
        """Import armored or binary keys (public ones; a secret key too, as gpg does)."""
        gpg = _gpg()
        with self._context() as ctx:
            try:
                result = ctx.key_import(data)
            except gpg.errors.GPGMEError as exc:
                raise OpenPGPError(f"import failed: {_words(exc)}") from exc
        if result is None or not hasattr(result, "considered") or not result.considered:
            raise OpenPGPError("import failed: no OpenPGP key in what was given")
        fprs = tuple(dict.fromkeys(i.fpr.upper() for i in result.imports if i.fpr))
        return Imported(result.considered, result.imported, result.unchanged, fprs)

    def verify(self, fingerprint: str, signer: str | None = None) -> KeyInfo:
        """Certify the key locally with our own key (`gpg --lsign-key`): it is then
        valid (verified) here, and the certification never leaves this keyring.
        `signer`: the address of our key to certify with (default: gpg's default
        key, else our first). Already verified: nothing changes."""
        gpg = _gpg()
        info = self.get(fingerprint)
        if info.secret:
            raise OpenPGPError("that is one of your own keys: it is valid already")
        with self._context() as ctx:
            key = ctx.get_key(info.fingerprint)
            ours = [k for k in ctx.keylist(secret=True) if k.can_certify
                    and not (k.revoked or k.expired or k.disabled or k.invalid)]
            if signer:
                ours = [k for k in ours if any(u.email.lower() == signer.lower()
                                               for u in k.uids)]
            if not ours:
                raise OpenPGPError("no secret key of yours can certify it"
                                   + (f" as {signer}" if signer else ""))
            ctx.signers = [ours[0]]
            try:
                ctx.key_sign(key, local=True)
            except gpg.errors.GPGMEError as exc:
                if "already" not in _words(exc).lower():
                    raise OpenPGPError(f"certifying failed: {_words(exc)}") from exc
        return self.get(info.fingerprint)

    def trust(self, fingerprint: str, level: str) -> KeyInfo:
        """Set the owner trust of a key (`gpg --edit-key FPR trust`)."""
        gpg = _gpg()
        if level not in TRUST_LEVELS:
            raise OpenPGPError(f"the trust level must be one of {', '.join(TRUST_LEVELS)}")
        info = self.get(fingerprint)
        answers = _TrustAnswers(TRUST_LEVELS[level])
        with self._context() as ctx:
            key = ctx.get_key(info.fingerprint)
            try:
                ctx.interact(key, answers)
            except gpg.errors.GPGMEError as exc:
                raise OpenPGPError(f"setting the trust failed: {_words(exc)}") from exc
        return self.get(info.fingerprint)


class _TrustAnswers:
    """gpg's key-edit prompts, answered by their status keywords: trust, the level,
    yes to "ultimate", quit, save."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.asked = False

    def __call__(self, keyword: str, args: str, *_hook: Any) -> str | None:
        if keyword == "GET_LINE" and args == "keyedit.prompt":
            if self.asked:
                return "quit"
            self.asked = True
            return "trust"
        if keyword == "GET_LINE" and args == "edit_ownertrust.value":
            return self.value
        if keyword == "GET_BOOL" and args in ("edit_ownertrust.set_ultimate.okay",
                                              "keyedit.save.okay"):
            return "Y"
        return None


def _fpr(text: str) -> str:
    return text.strip().upper().removeprefix("0X").replace(" ", "")


def _info(key: Any, secret: bool) -> KeyInfo:
    subs = [s for s in key.subkeys if not (s.revoked or s.expired or s.disabled or s.invalid)]
    uids = [u for u in key.uids if not u.revoked and not u.invalid]
    expires = key.subkeys[0].expires if key.subkeys else 0
    return KeyInfo(
        fingerprint=key.fpr.upper(), uids=tuple(u.uid for u in uids),
        emails=tuple(dict.fromkeys(u.email.lower() for u in uids if u.email)),
        secret=secret, validity=VALIDITY.get(max((u.validity for u in uids), default=0),
                                             "unknown"),
        ownertrust=VALIDITY.get(key.owner_trust, "unknown"),
        expires=int(expires) if expires else None, revoked=bool(key.revoked),
        expired=bool(key.expired), disabled=bool(key.disabled),
        can_encrypt=any(s.can_encrypt for s in subs), can_sign=any(s.can_sign for s in subs))


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A key as `keys list` and the keys screen show it: with whose it is. A
    contact's email address and JID stand side by side (`jids`), so the key of
    one identity shows on the other; `mine` marks our own keys."""

    key: KeyInfo
    contact: str = ""  # the contact's name, or the account's for our own keys
    email: str = ""
    jids: tuple[str, ...] = ()
    mine: bool = False
    preference: str = ""  # keys prefer: encrypt | sign | clear | "" (the defaults)


def rows(keyring: Keyring, own: Iterable[tuple[str, str, str]],
         contacts: Iterable[tuple[str, Iterable[str], Iterable[str]]],
         preferences: dict[str, str]) -> list[KeyRow]:
    """Our secret keys (`own`: account name, email, JID), then the keys of every
    contact (name, emails, JIDs) whose email address is a user id of a key."""
    out: list[KeyRow] = []
    seen: set[tuple[str, str]] = set()
    own = list(own)
    for name, address, jid in own:
        for key in keyring.list([f"<{address}>"], secret=True) if address else []:
            if (key.fingerprint, address) not in seen:
                seen.add((key.fingerprint, address))
                out.append(KeyRow(key, name, address, (jid,) if jid else (), True,
                                  preferences.get(address, "")))
    for name, emails, jids in contacts:
        for address in emails:
            address = address.lower()
            for key in keyring.list([f"<{address}>"]):
                if address not in key.emails or (key.fingerprint, address) in seen:
                    continue
                seen.add((key.fingerprint, address))
                out.append(KeyRow(key, name, address, tuple(jids), key.secret,
                                  preferences.get(address, "")))
    return out
