"""Autocrypt's keys, all through GPGME: our key's minimal export for the header,
what a peer's keydata is (without importing it anywhere), a new key on the
user's command.

Peers' keys are never imported into the user's keyring, nor into a second
GNUPGHOME: `bridge.crypto.openpgp.OpenPGP.encrypt` hands them to gpg as
recipient files (gpg's --recipient-file, through GPGME's recipient string),
in the same operation that signs with the user's own secret key. So a key that
arrived in a header never mixes with keys the user imported and certified,
a peer's new key takes effect the moment the state changes, and there is one
gpg-agent, the user's. (neomutt keeps a GNUPGHOME of its own instead, holding
its Autocrypt secret key too; here the secret key is the user's existing one.)

`usable` asks GPGME to list the key inside the data (gpg's import --show-only:
nothing is imported), and caches the answer per key for an hour.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .autocrypt import canonical
from .openpgp import OpenPGPError, _gpg, _words


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """What the keydata of a header is, as gpg reads it."""

    fingerprint: str
    emails: tuple[str, ...]
    can_encrypt: bool  # has a valid (not revoked, not expired) encryption subkey
    revoked: bool = False
    expired: bool = False
    expires: int | None = None  # of the primary key; None: never
    # The primary key's and every subkey's fingerprint (a signature names one).
    fingerprints: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return self.can_encrypt and not (self.revoked or self.expired)


def _context(home: Path | None) -> Any:
    return _gpg().Context(armor=False, home_dir=str(home) if home is not None else None)


def facts(keydata: bytes, home: Path | None = None) -> KeyFacts | None:
    """The first key in `keydata`, listed by gpg without importing it; None when
    gpg finds no key there."""
    gpg = _gpg()
    with _context(home) as ctx:
        try:
            keys = list(ctx.keylist(source=gpg.Data(keydata)))
        except gpg.errors.GPGMEError:
            return None
    if not keys:
        return None
    key = keys[0]
    subs = key.subkeys
    valid_encrypting = [s for s in subs if s.can_encrypt
                        and not (s.revoked or s.expired or s.disabled or s.invalid)]
    expires = subs[0].expires if subs else 0
    return KeyFacts(fingerprint=key.fpr.upper(),
                    emails=tuple(canonical(u.email) for u in key.uids if u.email),
                    can_encrypt=bool(valid_encrypting), revoked=bool(key.revoked),
                    expired=bool(key.expired), expires=int(expires) if expires else None,
                    fingerprints=tuple(str(sub.fpr).upper() for sub in subs))


_facts_cache: dict[str, tuple[float, KeyFacts | None]] = {}
_cache_lock = threading.Lock()
CACHE_SECONDS = 3600.0


def usable(keydata_b64: str, home: Path | None = None) -> bool:
    """Whether a peer's key (base64, as the state keeps it) can be encrypted to."""
    found = cached_facts(keydata_b64, home)
    return found is not None and found.usable


def cached_facts(keydata_b64: str, home: Path | None = None) -> KeyFacts | None:
    """`facts` of a key kept as base64, asked of gpg once an hour at most."""
    digest = hashlib.sha256(keydata_b64.encode()).hexdigest()
    now = time.monotonic()
    with _cache_lock:
        hit = _facts_cache.get(digest)
    if hit is None or now - hit[0] > CACHE_SECONDS:
        try:
            found = facts(base64.b64decode(keydata_b64), home)
        except (ValueError, OpenPGPError):
            found = None
        hit = (now, found)
        with _cache_lock:
            _facts_cache[digest] = hit
    return hit[1]


def own_key(home: Path | None, address: str) -> Any:
    """Our secret key for `address` that can sign and has an encryption subkey
    (the account's existing OpenPGP key); None when the keyring has none."""
    gpg = _gpg()
    wanted = canonical(address)
    with _context(home) as ctx:
        try:
            keys = list(ctx.keylist(pattern=f"<{wanted}>", secret=True))
        except gpg.errors.GPGMEError:
            return None
    for key in keys:
        if key.revoked or key.expired or key.disabled or key.invalid or not key.can_sign:
            continue
        if not any(canonical(u.email) == wanted and not (u.revoked or u.invalid)
                   for u in key.uids):
            continue
        if any(s.can_encrypt and not (s.revoked or s.expired or s.disabled or s.invalid)
               for s in key.subkeys):
            return key
    return None


def export_minimal(home: Path | None, fingerprint: str, address: str) -> bytes:
    """The key as the spec's keydata wants it: the primary key, the user id of
    `address`, one encryption subkey, their self-signatures (GPGME's minimal
    export). A key with more user ids or subkeys is cut down to those in a
    throwaway keyring first (gpg's import filter and key editing, through
    GPGME); the user's keyring is never changed."""
    gpg = _gpg()
    with _context(home) as ctx:
        try:
            key = ctx.get_key(fingerprint)
            data = bytes(ctx.key_export_minimal(pattern=key.fpr) or b"")
        except gpg.errors.GPGMEError as exc:
            raise OpenPGPError(f"cannot export your key: {_words(exc)}") from exc
    wanted = canonical(address)
    encrypting = [s for s in key.subkeys[1:] if s.can_encrypt
                  and not (s.revoked or s.expired or s.disabled or s.invalid)]
    uids = [u for u in key.uids if not (u.revoked or u.invalid)]
    if len(key.subkeys) == 2 and len(encrypting) == 1 and len(uids) == 1 \
            and canonical(uids[0].email) == wanted and len(key.uids) == 1:
        return data
    if not encrypting:
        raise OpenPGPError(f"your key {key.fpr} has no usable encryption subkey")
    # The newest encryption subkey is the one a peer should use.
    keep = max(encrypting, key=lambda s: s.timestamp).fpr
    return _trimmed(data, key.fpr, keep, wanted)


def _trimmed(data: bytes, fingerprint: str, keep_subkey: str, address: str) -> bytes:
    gpg = _gpg()
    with _throwaway_home() as home, _context(home) as ctx:
        gpg.core.gpgme.gpgme_set_ctx_flag(ctx.wrapped, "import-filter",
                                          f"keep-uid=mbox = {address}")
        ctx.key_import(data)
        key = ctx.get_key(fingerprint)
        drop = [i for i, s in enumerate(key.subkeys) if i and s.fpr != keep_subkey]
        if drop:
            try:
                ctx.interact(key, _DeleteSubkeys(drop))
            except gpg.errors.GPGMEError as exc:
                raise OpenPGPError(f"cannot trim your key: {_words(exc)}") from exc
        return bytes(ctx.key_export_minimal(pattern=fingerprint) or b"")


class _DeleteSubkeys:
    """gpg's key-edit prompts, answered by status keywords: select each subkey
    to drop ("key N"), "delkey", yes, "save"."""

    def __init__(self, indexes: list[int]) -> None:
        self.commands = [f"key {i}" for i in indexes] + ["delkey", "save"]

    def __call__(self, keyword: str, args: str, *_hook: Any) -> str | None:
        if keyword == "GET_LINE" and args == "keyedit.prompt":
            return self.commands.pop(0) if self.commands else "quit"
        if keyword == "GET_BOOL" and args in ("keyedit.remove.subkey.okay",
                                              "keyedit.save.okay"):
            return "Y"
        return None


@contextlib.contextmanager
def _throwaway_home() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="autocrypt-") as tmp:
        home = Path(tmp)
        home.chmod(0o700)
        try:
            yield home
        finally:
            # Public-key work needs no agent; if gpg started one anyway, it goes
            # with its directory (gpgconf is GnuPG's own tool for that).
            if shutil.which("gpgconf"):
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"],
                                   capture_output=True, timeout=10, check=False)


_own_cache: dict[tuple[str, str], tuple[float, bytes | None]] = {}


def own_keydata(home: Path | None, address: str) -> bytes | None:
    """Our keydata for `address` (None: no usable secret key of ours), kept for a
    minute, the answer "none" too: every email sent carries it, every send
    planned asks for it (bridge.crypto.autocrypt_mail.advice), and the key
    rarely changes (`keys autocrypt-setup` forgets it at once)."""
    cache_key = (str(home), canonical(address))
    now = time.monotonic()
    with _cache_lock:
        hit = _own_cache.get(cache_key)
    if hit is not None and now - hit[0] < 60.0:
        return hit[1]
    key = own_key(home, address)
    data = export_minimal(home, key.fpr, address) if key is not None else None
    with _cache_lock:
        _own_cache[cache_key] = (now, data)
    return data


def forget_cached() -> None:
    with _cache_lock:
        _own_cache.clear()
        _facts_cache.clear()


def generate(home: Path | None, address: str, name: str = "") -> str:
    """A new key for `address` in the user's keyring (Ed25519 for signing and
    certifying, Cv25519 for encryption, as the spec asks; no passphrase, as the
    spec advises for a key used on every mail): its fingerprint. Only ever run
    on the user's command (`keys autocrypt-setup`)."""
    gpg = _gpg()
    uid = f"{name} <{address}>" if name else f"<{address}>"
    with _context(home) as ctx:
        try:
            made = ctx.create_key(uid, algorithm="ed25519", expires=False, sign=True,
                                  certify=True)
            key = ctx.get_key(made.fpr, secret=True)
            ctx.create_subkey(key, algorithm="cv25519", expires=False, encrypt=True)
        except gpg.errors.GPGMEError as exc:
            raise OpenPGPError(f"cannot make a key: {_words(exc)}") from exc
    forget_cached()
    return str(made.fpr).upper()
