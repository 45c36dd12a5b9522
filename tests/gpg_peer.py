"""GnuPG as the other side of an encrypted email: gpg's own command line, never our code.

Each `Keyring` is a throwaway GNUPGHOME with its own gpg-agent (killed at the
end). Keys are ed25519 for signing and cv25519 for encryption, made without a
passphrase (`--passphrase ''` with the loopback pinentry), so no prompt appears.
Fingerprints are read from `--with-colons`, gpg's machine-readable listing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


class Keyring:
    def __init__(self, home: Path) -> None:
        if shutil.which("gpg") is None:
            pytest.fail("gpg is not installed: run scripts/dev setup")
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)

    def run(self, *args: str, data: bytes | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[bytes]:
        argv = ["gpg", "--homedir", str(self.home), "--batch", "--yes", "--no-tty",
                "--pinentry-mode", "loopback", "--passphrase", "", *args]
        done = subprocess.run(argv, input=data, capture_output=True, timeout=120)
        if check:
            assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        return done

    def make_key(self, uid: str) -> str:
        """A new key for `uid` ("Name <address>"); its fingerprint."""
        self.run("--quick-gen-key", uid, "ed25519", "sign,cert", "never")
        fpr = self.fingerprint(uid)
        self.run("--quick-add-key", fpr, "cv25519", "encr", "never")
        return fpr

    def fingerprint(self, who: str) -> str:
        listing = self.run("--with-colons", "--list-keys", who).stdout.decode()
        return next(line.split(":")[9] for line in listing.splitlines()
                    if line.startswith("fpr:"))

    def export(self, who: str) -> bytes:
        return self.run("--armor", "--export", who).stdout

    def import_key(self, data: bytes) -> None:
        self.run("--import", data=data)

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
                       capture_output=True, timeout=30)


def pgp_mime_encrypted(ring: Keyring, sender: str, recipient: str, headers: str,
                       body: str, subject: str) -> bytes:
    """A whole PGP/MIME email (RFC 3156) that gpg encrypted and signed, the way a
    mail client of gpg's would build it: the inner part carries the real Subject
    (protected headers), the outer one says "..."."""
    inner = ("Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\n"
             "Content-Transfer-Encoding: quoted-printable\r\n"
             f"Subject: {subject}\r\n\r\n{body}\r\n")
    armored = ring.run("--armor", "--encrypt", "--sign", "--local-user", sender,
                       "--recipient", recipient, "--trust-model", "always",
                       data=inner.encode()).stdout.decode()
    boundary = "gpg-peer-boundary-1"
    return (f"{headers}Subject: ...\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
            f'boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n{armored}\r\n"
            f"--{boundary}--\r\n").encode()


def pgp_mime_signed(ring: Keyring, sender: str, headers: str, body: str) -> bytes:
    """A whole multipart/signed email whose detached signature gpg made."""
    signed = ("Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: 7bit\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n")
    signature = ring.run("--armor", "--detach-sign", "--local-user", sender,
                         data=signed.encode()).stdout.decode()
    boundary = "gpg-peer-boundary-2"
    return (f"{headers}MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/signed; micalg=pgp-sha256; '
            f'protocol="application/pgp-signature"; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\n{signed}\r\n"
            f"--{boundary}\r\nContent-Type: application/pgp-signature\r\n\r\n{signature}\r\n"
            f"--{boundary}--\r\n").encode()
