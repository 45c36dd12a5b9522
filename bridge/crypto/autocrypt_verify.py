"""Signatures by Autocrypt peers' keys, checked although their keys are not in
the user's keyring (bridge.crypto.autocrypt_keys says why they never are).

`PeerCheckingPGP` is the OpenPGP port a reader uses when Autocrypt is on: what
the keyring checks stands; a signature the keyring calls "unknown key" whose
key is one a peer sent (in an Autocrypt header, or gossiped) is checked again
in a throwaway keyring holding that key alone. For a signed-and-encrypted
message, GPGME takes only the encryption off (its "unwrap" decryption, in the
user's keyring, which holds the secret key), and the signed message inside is
checked there. The verdict is gpg's; the key shows as not certified, which it
is not: Autocrypt defends against passive readers, not against someone who
changes mail on the way.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from pathlib import Path

from . import autocrypt, autocrypt_keys
from .openpgp import Decrypted, OpenPGP, _gpg
from .status import Signature, Verdict


class PeerCheckingPGP(OpenPGP):
    """The user's keyring in `home`, and the Autocrypt peers of the store in
    `folder` for the signatures the keyring cannot check."""

    def __init__(self, home: Path | None, folder: Path) -> None:
        super().__init__(home)
        self.folder = folder

    def decrypt(self, ciphertext: bytes) -> Decrypted:
        result = super().decrypt(ciphertext)
        if result.plaintext is None:
            return result
        keys = self._peer_keys(result.signatures)
        if not keys:
            return result
        signed = self._unwrap(ciphertext)
        if signed is None:
            return result
        again = _checked(keys, lambda port: port.verify_clearsigned(signed)[1])
        return Decrypted(result.plaintext, _merged(result.signatures, again), result.error)

    def verify_detached(self, signed: bytes, signature: bytes) -> tuple[Signature, ...]:
        found = super().verify_detached(signed, signature)
        keys = self._peer_keys(found)
        if not keys:
            return found
        return _merged(found, _checked(keys, lambda port: port.verify_detached(signed,
                                                                               signature)))

    def _peer_keys(self, signatures: tuple[Signature, ...]) -> list[bytes]:
        """The peers' keys (as data) that made the signatures the keyring does not
        know."""
        unknown = [s.fingerprint.upper() for s in signatures
                   if s.verdict is Verdict.UNKNOWN_KEY and s.fingerprint]
        if not unknown:
            return []
        found: dict[str, bytes] = {}
        for peer in autocrypt.Peers(self.folder).all().values():
            for key in (peer.public_key, peer.gossip_key):
                facts = autocrypt_keys.cached_facts(key, self.home) if key else None
                if facts is not None and any(f.endswith(u) for f in facts.fingerprints
                                             for u in unknown):
                    found[facts.fingerprint] = base64.b64decode(key)
        return list(found.values())

    def _unwrap(self, ciphertext: bytes) -> bytes | None:
        """The signed OpenPGP message inside an encrypted one (the encryption
        taken off by the user's keyring, the signature kept)."""
        gpg = _gpg()
        with self._context() as ctx:
            out = gpg.Data()
            try:
                ctx.op_decrypt_ext(gpg.constants.DECRYPT_UNWRAP, gpg.Data(ciphertext), out)
            except gpg.errors.GPGMEError:
                return None
            out.seek(0, 0)
            return bytes(out.read())


def _checked(keys: list[bytes], check: Callable[[OpenPGP], tuple[Signature, ...]]
             ) -> tuple[Signature, ...]:
    """`check` run with a throwaway keyring that holds `keys` only."""
    gpg = _gpg()
    with contextlib.suppress(Exception), autocrypt_keys._throwaway_home() as home:
        with gpg.Context(home_dir=str(home)) as ctx:
            for key in keys:
                ctx.key_import(key)
        return check(OpenPGP(home))
    return ()


def _merged(first: tuple[Signature, ...], again: tuple[Signature, ...]
            ) -> tuple[Signature, ...]:
    """The keyring's verdicts, each "unknown key" replaced by the peer key's
    verdict on the same signature."""
    if len(again) != len(first):  # not the same signatures: keep the keyring's word
        return first
    # gpg reports the signatures of the same data in the same order; a checked
    # one names the primary key where the unknown one named its signing subkey.
    return tuple(new if old.verdict is Verdict.UNKNOWN_KEY
                 and new.verdict is not Verdict.UNKNOWN_KEY else old
                 for old, new in zip(first, again, strict=True))
