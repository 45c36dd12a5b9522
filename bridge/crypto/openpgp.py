"""The OpenPGP port: the user's own GnuPG keyring through GPGME.

The choice: GPGME's own Python binding (`gpg` on PyPI, the GnuPG project's), not
Sequoia's `pysequoia`. The issue asks for the keyring the user already has, and
passphrases through gpg-agent and its pinentry: GPGME drives the user's gpg and
gpg-agent, so every key, trust setting, smartcard and cached passphrase the user
has works unchanged, and no secret key material ever enters this process.
pysequoia brings wheels but its own certificate store, beside the keyring rather
than on it. Debian's python3-gpg would do too, but it is built for Debian's
/usr/bin/python3, and the project's virtualenv may run another Python; the PyPI
sdist builds against Debian's libgpgme-dev for whichever Python runs it
(scripts/dev installs the library and pins the SWIG its build needs).

Everything cryptographic is gpg's: this module only asks GPGME and turns its
typed results (signature summaries, validity, key capabilities) into
bridge.crypto.status values. It never reads gpg's human output.

`gpg` is imported when the port is first used, never at import of this module,
so that the front ends' start-up does not load it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .status import Signature, Verdict


class OpenPGPError(Exception):
    """GPGME could not do what was asked; the message says why, in words."""


class MissingKeys(OpenPGPError):
    """No usable public key for these recipients (or no secret key to sign with)."""

    def __init__(self, missing: Sequence[str], what: str = "public key") -> None:
        self.missing = list(missing)
        self.what = what
        super().__init__(f"no usable OpenPGP {what} for " + ", ".join(self.missing))


@dataclass(frozen=True, slots=True)
class Decrypted:
    plaintext: bytes | None  # None: could not be decrypted
    signatures: tuple[Signature, ...] = ()
    error: str = ""


def _gpg() -> Any:
    import gpg  # the binding has no type hints: Any at this one door

    return gpg


class OpenPGP:
    """Decrypt, verify, sign and encrypt with the keyring in `home` (None: the one
    gpg itself uses, $GNUPGHOME or ~/.gnupg). Thread-safe: each call has its own
    GPGME context; gpg-agent serialises what needs the secret keys."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home
        self._lock = threading.Lock()

    def _context(self, *, armor: bool = True, signers: Sequence[Any] = ()) -> Any:
        gpg = _gpg()
        return gpg.Context(armor=armor, signers=list(signers),
                           home_dir=str(self.home) if self.home is not None else None)

    # -- reading ----------------------------------------------------------------------

    def decrypt(self, ciphertext: bytes) -> Decrypted:
        """Decrypt (and verify whatever signature is inside) one OpenPGP message."""
        gpg = _gpg()
        with self._context() as ctx:
            try:
                plaintext, _result, verified = ctx.decrypt(ciphertext, verify=True,
                                                           filter_signatures=False)
            except gpg.errors.GPGMEError as exc:
                return Decrypted(None, error=_words(exc))
            return Decrypted(plaintext, self._signatures(ctx, verified))

    def verify_detached(self, signed: bytes, signature: bytes) -> tuple[Signature, ...]:
        """Check a detached signature (RFC 3156 multipart/signed) over `signed`."""
        gpg = _gpg()
        with self._context() as ctx:
            try:
                _data, verified = ctx.verify(signed, signature=signature)
            except gpg.errors.BadSignatures as exc:
                verified = exc.results[1]
            except gpg.errors.GPGMEError as exc:
                return (Signature(Verdict.ERROR, detail=_words(exc)),)
            return self._signatures(ctx, verified)

    def verify_clearsigned(self, data: bytes) -> tuple[bytes | None, tuple[Signature, ...]]:
        """Check a clearsigned text; its text without the armor, and the verdicts."""
        gpg = _gpg()
        with self._context() as ctx:
            try:
                text, verified = ctx.verify(data)
            except gpg.errors.BadSignatures as exc:
                text, verified = exc.results
            except gpg.errors.GPGMEError as exc:
                return None, (Signature(Verdict.ERROR, detail=_words(exc)),)
            return text, self._signatures(ctx, verified)

    def _signatures(self, ctx: Any, verified: Any) -> tuple[Signature, ...]:
        if verified is None:
            return ()
        return tuple(self._signature(ctx, s) for s in verified.signatures)

    def _signature(self, ctx: Any, sig: Any) -> Signature:
        gpg = _gpg()
        code = gpg.errors.GPGMEError(sig.status).getcode() if sig.status else 0
        summary = sig.summary
        S = gpg.constants.sigsum
        fpr = (sig.fpr or "").upper()
        key = None
        if code != gpg.errors.NO_PUBKEY and fpr:
            try:
                key = ctx.get_key(fpr)
            except gpg.errors.GPGMEError:
                key = None
        uid = next((u.uid for u in (key.uids if key is not None else ())
                    if not u.revoked and not u.invalid), "")
        if key is not None:
            fpr = key.fpr.upper()  # the signature may name a subkey
        certified = sig.validity >= gpg.constants.validity.FULL
        if code == gpg.errors.BAD_SIGNATURE or (summary & S.RED and not (
                summary & (S.KEY_REVOKED | S.KEY_EXPIRED | S.SIG_EXPIRED))):
            verdict = Verdict.BAD
        elif code == gpg.errors.NO_PUBKEY or summary & S.KEY_MISSING:
            verdict = Verdict.UNKNOWN_KEY
        elif summary & S.KEY_REVOKED or code == gpg.errors.CERT_REVOKED:
            verdict = Verdict.REVOKED
        elif summary & (S.KEY_EXPIRED | S.SIG_EXPIRED) or code in (
                gpg.errors.KEY_EXPIRED, gpg.errors.SIG_EXPIRED):
            verdict = Verdict.EXPIRED
        elif code == 0:
            verdict = Verdict.GOOD
        else:
            verdict = Verdict.ERROR
        return Signature(verdict, fpr, uid, certified,
                         "" if code == 0 else _words(gpg.errors.GPGMEError(sig.status)))

    # -- writing ----------------------------------------------------------------------

    def signing_key(self, address: str) -> Any:
        """The secret key to sign as `address` with: the first usable one whose user
        id has that address; MissingKeys if there is none."""
        key = self._usable(address, secret=True, capability="can_sign")
        if key is None:
            raise MissingKeys([address], "secret key")
        return key

    def encryption_keys(self, addresses: Iterable[str]) -> list[Any]:
        """One usable public key per address (a key whose user id has exactly that
        address and a valid encryption subkey); MissingKeys naming every address
        that has none."""
        keys, missing = [], []
        for address in dict.fromkeys(a.strip().lower() for a in addresses if a.strip()):
            key = self._usable(address, secret=False, capability="can_encrypt")
            if key is None:
                missing.append(address)
            else:
                keys.append(key)
        if missing:
            raise MissingKeys(missing)
        return keys

    def missing_keys(self, addresses: Iterable[str]) -> list[str]:
        """The addresses that have no usable public key to encrypt to."""
        try:
            self.encryption_keys(addresses)
        except MissingKeys as exc:
            return exc.missing
        return []

    def _usable(self, address: str, *, secret: bool, capability: str) -> Any:
        gpg = _gpg()
        wanted = address.strip().lower()
        with self._context() as ctx:
            try:
                keys = list(ctx.keylist(pattern=f"<{wanted}>", secret=secret))
            except gpg.errors.GPGMEError:
                return None
        for key in keys:
            if key.revoked or key.expired or key.disabled or key.invalid:
                continue
            if not any(u.email.lower() == wanted and not u.revoked and not u.invalid
                       for u in key.uids):
                continue
            if any(getattr(sub, capability) and not (sub.revoked or sub.expired
                                                     or sub.disabled or sub.invalid)
                   for sub in key.subkeys):
                return key
        return None

    def sign_detached(self, data: bytes, signer: str) -> tuple[bytes, str]:
        """An armored detached signature of `data` by `signer`'s key, and the hash
        (RFC 3156's micalg, e.g. "pgp-sha256")."""
        gpg = _gpg()
        key = self.signing_key(signer)
        with self._context(signers=[key]) as ctx:
            try:
                signature, result = ctx.sign(data, mode=gpg.constants.sig.mode.DETACH)
            except gpg.errors.GPGMEError as exc:
                raise OpenPGPError(f"signing failed: {_words(exc)}") from exc
            algo = gpg.core.hash_algo_name(result.signatures[0].hash_algo) or "SHA256"
            return signature, "pgp-" + algo.lower()

    def encrypt(self, data: bytes, recipients: Sequence[str], signer: str | None,
                to_self: str | None = None,
                key_files: Mapping[str, bytes] | None = None,
                hidden: Sequence[str] = ()) -> bytes:
        """`data` encrypted (and signed by `signer`, when given) to every recipient,
        armored. `to_self`: also to this address's key when it has one, so that
        the sender can read the copy in Sent. `hidden`: those of `recipients`
        whose key id is left out of the message (gpg's --hidden-recipient: a
        Bcc, whom the others must not learn of; their gpg tries its keys).

        A key of the keyring is used for its address whether or not the user
        certified it: encryption then still keeps out whoever reads the mail on the
        way, and the reader of a signed reply sees whether the key is certified.
        """
        gpg = _gpg()
        if key_files or hidden:
            return self._encrypt_to_files(data, recipients, signer, to_self, key_files or {},
                                          hidden)
        keys = self.encryption_keys(recipients)
        if to_self and to_self.lower() not in {r.lower() for r in recipients}:
            own = self._usable(to_self, secret=False, capability="can_encrypt")
            if own is not None:
                keys.append(own)
        signers = [self.signing_key(signer)] if signer else []
        with self._context(signers=signers) as ctx:
            try:
                ciphertext, _result, _signed = ctx.encrypt(
                    data, recipients=keys, sign=bool(signers), always_trust=True)
            except gpg.errors.GPGMEError as exc:
                raise OpenPGPError(f"encryption failed: {_words(exc)}") from exc
            return bytes(ciphertext)


    def _encrypt_to_files(self, data: bytes, recipients: Sequence[str], signer: str | None,
                          to_self: str | None, key_files: Mapping[str, bytes],
                          hidden: Sequence[str] = ()) -> bytes:
        """`encrypt`, where the recipients the keyring has no key for use the keys
        given as data (Autocrypt peers' keys, bridge.crypto.autocrypt_keys): gpg
        reads them as recipient files (--recipient-file, through GPGME's
        recipient string, which takes fingerprints, "--file" paths and
        "--hidden" recipients), so they are never imported; the same operation
        signs with our own key. `hidden`: as `encrypt`."""
        import tempfile

        gpg = _gpg()
        wanted = list(dict.fromkeys(a.strip().lower() for a in recipients if a.strip()))
        unseen = {a.strip().lower() for a in hidden}
        # (hidden?, fingerprint) and (hidden?, key data), in the order given.
        fingerprints: list[tuple[bool, str]] = []
        files: list[tuple[bool, bytes]] = []
        missing = []
        for address in wanted:
            key = self._usable(address, secret=False, capability="can_encrypt")
            if key is not None:
                fingerprints.append((address in unseen, key.fpr))
            elif address in key_files:
                files.append((address in unseen, key_files[address]))
            else:
                missing.append(address)
        if missing:
            raise MissingKeys(missing)
        if to_self and to_self.lower() not in wanted:
            own = self._usable(to_self, secret=False, capability="can_encrypt")
            if own is not None:
                fingerprints.append((False, own.fpr))
        signers = [self.signing_key(signer)] if signer else []
        flags = gpg.constants.ENCRYPT_ALWAYS_TRUST
        with tempfile.TemporaryDirectory(prefix="recipients-") as folder:
            paths = []
            for i, (unseen_one, blob) in enumerate(files):
                path = Path(folder) / f"{i}.pgp"
                path.write_bytes(blob)
                paths.append((unseen_one, str(path)))
            # "--file" and "--hidden" hold for every line after them, until their
            # "--no-" line: each recipient gets its own.
            recpstring = "".join(
                f"{'--hidden' if h else '--no-hidden'}\n{f}\n" for h, f in fingerprints)
            recpstring += "".join(
                f"{'--hidden' if h else '--no-hidden'}\n--file\n{p}\n--no-file\n"
                for h, p in paths)
            with self._context(signers=signers) as ctx:
                plain, cipher = gpg.Data(data), gpg.Data()
                try:
                    if signers:
                        ctx.op_encrypt_sign_ext([], recpstring, flags, plain, cipher)
                    else:
                        ctx.op_encrypt_ext([], recpstring, flags, plain, cipher)
                except gpg.errors.GPGMEError as exc:
                    raise OpenPGPError(f"encryption failed: {_words(exc)}") from exc
                cipher.seek(0, 0)
                return bytes(cipher.read())


def _words(exc: Exception) -> str:
    """GPGME's own message for an error (its error string, not gpg's output)."""
    text = str(exc).strip()
    return text or type(exc).__name__
