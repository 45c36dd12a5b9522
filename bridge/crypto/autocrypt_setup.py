"""The Autocrypt Setup Message (Level 1, section 4.4): our secret key carried to
another device of ours in an email to ourselves, encrypted with a setup code
that is shown once and never stored; and the import of one, from this client
or from another Autocrypt mail program (Delta Chat, K-9, neomutt).

The cryptography is gpg's: the key is exported and the message symmetrically
encrypted (the code as passphrase, through GPGME's loopback pinentry) and
decrypted and imported the same way. gpg picks the cipher (AES-256 with
GnuPG 2.2's defaults; the spec names AES-128, GPGME offers no choice, and
every OpenPGP implementation reads both). Only the framing is written here, because it is
the spec's own and no library carries it: the code's shape (36 digits in
nine blocks of four), the armor headers the spec names (Passphrase-Format and
Passphrase-Begin outside, Autocrypt-Prefer-Encrypt on the key inside) and the
MIME shape (a description, then an application/autocrypt-setup attachment
holding the armored message in HTML).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from .openpgp import OpenPGPError, _gpg, _words

HEADER = "Autocrypt-Setup-Message"
SUBJECT = "Autocrypt Setup Message"
CONTENT_TYPE = "application/autocrypt-setup"
_ARMORED = re.compile(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", re.S)
DESCRIPTION = (
    "This message contains all information to transfer your Autocrypt settings\n"
    "along with your secret key securely from your original device.\n\n"
    "To set up your new device for Autocrypt, please follow the instructions\n"
    "that should be presented by your new device.\n\n"
    "You can keep this message and use it as a backup for your secret key. If\n"
    "you want to do this, you should write down the Setup Code and store it\n"
    "securely.\n")


class SetupError(OpenPGPError):
    """Not a setup message, a wrong code, or gpg's refusal, in words."""


@dataclass(frozen=True, slots=True)
class Imported:
    fingerprints: tuple[str, ...]
    prefer_encrypt: str  # "mutual" or "nopreference", as the key's armor said


def new_code() -> str:
    """A setup code: 36 random digits, in nine blocks of four (the spec's
    numeric9x4), from the system's CSPRNG."""
    digits = "".join(secrets.choice("0123456789") for _ in range(36))
    return "-".join(digits[i:i + 4] for i in range(0, 36, 4))


def normal_code(typed: str) -> str:
    """A code as typed (spaces, dashes, or none) in its numeric9x4 shape;
    SetupError when it is not 36 digits."""
    digits = "".join(c for c in typed if c.isdigit())
    if len(digits) != 36 or any(c not in "0123456789- \t\n" for c in typed.strip()):
        raise SetupError("a setup code is 36 digits (nine blocks of four)")
    return "-".join(digits[i:i + 4] for i in range(0, 36, 4))


def _with_armor_headers(armored: bytes, headers: list[tuple[str, str]]) -> bytes:
    """`armored` with these armor header lines right under its BEGIN line."""
    lines = armored.replace(b"\r\n", b"\n").split(b"\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(b"-----BEGIN"))
    extra = [f"{name}: {value}".encode() for name, value in headers]
    return b"\n".join([*lines[:at + 1], *extra, *lines[at + 1:]])


def _armor_header(armored: bytes, name: str) -> str:
    """An armor header's value ("" when absent): the lines between BEGIN and the
    first blank line."""
    lines = armored.replace(b"\r\n", b"\n").split(b"\n")
    start = next((i for i, line in enumerate(lines) if line.startswith(b"-----BEGIN")), -1)
    for line in lines[start + 1:]:
        if not line.strip():
            break
        key, _, value = line.decode("ascii", "replace").partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


def _context(home: Path | None, armor: bool = True) -> Any:
    gpg = _gpg()
    ctx = gpg.Context(armor=armor, home_dir=str(home) if home is not None else None)
    ctx.pinentry_mode = gpg.constants.PINENTRY_MODE_LOOPBACK
    return ctx


def build(home: Path | None, fingerprint: str, address: str, code: str,
          mutual: bool) -> EmailMessage:
    """The setup message for our key `fingerprint`, from and to `address`.
    Exporting the secret key goes through gpg-agent (its pinentry asks for the
    key's passphrase if it has one)."""
    gpg = _gpg()
    try:
        with _context(home) as ctx:
            secret = ctx.key_export_secret(pattern=fingerprint)
    except gpg.errors.GPGMEError as exc:
        raise SetupError(f"the secret key could not be exported: {_words(exc)}") from exc
    if not secret:
        raise SetupError(f"no secret key {fingerprint} in the keyring")
    payload = _with_armor_headers(bytes(secret), [
        ("Autocrypt-Prefer-Encrypt", "mutual" if mutual else "nopreference")])
    try:
        with _context(home) as ctx:
            cipher, _result, _signed = ctx.encrypt(payload, recipients=[], sign=False,
                                                   passphrase=code)
    except gpg.errors.GPGMEError as exc:
        raise SetupError(f"encryption failed: {_words(exc)}") from exc
    armored = _with_armor_headers(bytes(cipher), [("Passphrase-Format", "numeric9x4"),
                                                  ("Passphrase-Begin", code[:2])])
    mail = EmailMessage()
    mail["From"] = address
    mail["To"] = address
    mail["Subject"] = SUBJECT
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain=address.rpartition("@")[2] or None)
    mail[HEADER] = "v1"
    mail.set_content(DESCRIPTION)
    html = ("<html><body><p>This is the Autocrypt Setup File used to transfer settings "
            "and keys between clients. You can decrypt it using the Setup Code "
            "presented on your old device, and then import the contained key into "
            "your keyring.</p>\n<pre>\n" + armored.decode("ascii") + "\n</pre></body></html>\n")
    mail.add_attachment(html.encode("ascii"), maintype="application",
                        subtype="autocrypt-setup", filename="autocrypt-setup-message.html")
    return mail


def armored_of(raw: bytes) -> bytes:
    """The encrypted payload of a setup message; SetupError when `raw` is none."""
    mail = message_from_bytes(raw, policy=policy.default)
    if str(mail.get(HEADER, "")).strip().lower() != "v1":
        raise SetupError(f"not an Autocrypt Setup Message (no {HEADER}: v1 header)")
    for part in mail.walk():
        if part.get_content_type() == CONTENT_TYPE:
            data = part.get_payload(decode=True)
            found = _ARMORED.search(data if isinstance(data, bytes) else b"")
            if found:
                return found.group(0)
    raise SetupError(f"the setup message has no {CONTENT_TYPE} part with an encrypted "
                     "payload")


def import_setup(home: Path | None, raw: bytes, code: str) -> Imported:
    """Decrypt a setup message with its code and import the secret key in it
    into the keyring in `home`. SetupError for a wrong code (nothing imported)."""
    gpg = _gpg()
    armored = armored_of(raw)
    typed = normal_code(code)
    begins = _armor_header(armored, "Passphrase-Begin")
    if begins and not typed.startswith(begins):
        raise SetupError(f"wrong setup code: this message's code begins with {begins}")
    try:
        with _context(home) as ctx:
            plain, _result, _verified = ctx.decrypt(armored, passphrase=typed, verify=False)
    except gpg.errors.GPGMEError as exc:
        raise SetupError(f"wrong setup code, or the message is damaged: {_words(exc)}"
                         ) from exc
    plain = bytes(plain)
    prefer = _armor_header(plain, "Autocrypt-Prefer-Encrypt") or "nopreference"
    try:
        with _context(home) as ctx:
            result = ctx.key_import(plain)
    except gpg.errors.GPGMEError as exc:
        raise SetupError(f"gpg did not import the key: {_words(exc)}") from exc
    imports = getattr(result, "imports", None) or []
    fingerprints = tuple(dict.fromkeys(str(i.fpr).upper() for i in imports if i.fpr))
    if not fingerprints:
        raise SetupError("the setup message held no key gpg could import")
    return Imported(fingerprints, prefer if prefer in ("mutual", "nopreference")
                    else "nopreference")
