"""What one send asked for (sign, encrypt), and the sealing of its emails.

A send's wish travels with the call, not through every layer's signature: the
engine's send verbs set `requested(...)` around the handoff's work (a ContextVar,
so it follows the awaits of that one task and no other), and the mail port seals
each email it queues (`seal`). Encryption that cannot be done for everyone is
refused before anything is queued (`EncryptionRefused` naming who), so nothing
meant to be encrypted ever leaves in clear.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

from ..errors import EncryptionRefused


@dataclass(frozen=True, slots=True)
class Protection:
    sign: bool = False
    encrypt: bool = False
    # The keyring (None: gpg's own default).
    home: Path | None = None
    # A reply to an encrypted email: the Subject the reply was given from the outer
    # "...", and the one it stands for (from the protected Subject). It is put
    # back only inside the encryption: a reply sent in clear keeps "Re: ...".
    subject: tuple[str, str] | None = None

    @property
    def wanted(self) -> bool:
        return self.sign or self.encrypt

    def words(self) -> str:
        return " and ".join(w for w, on in (("signed", self.sign), ("encrypted", self.encrypt))
                            if on) or "in clear"


_requested: ContextVar[Protection | None] = ContextVar("protection", default=None)


@contextmanager
def requested(protection: Protection | None) -> Iterator[None]:
    """Every email queued inside this block is sealed as `protection` says."""
    token = _requested.set(protection if protection is not None and protection.wanted
                           else None)
    try:
        yield
    finally:
        _requested.reset(token)


def current() -> Protection | None:
    return _requested.get()


def recipients_of(mail: EmailMessage) -> list[str]:
    fields = [v for h in ("To", "Cc", "Bcc") for v in mail.get_all(h, [])]
    return [addr for _name, addr in getaddresses([str(f) for f in fields]) if addr]


def seal(mail: EmailMessage, account_address: str) -> EmailMessage:
    """`mail` as the current request wants it (unchanged when nothing was asked),
    signed as its From address (else `account_address`). EncryptionRefused when
    someone has no key, or no secret key signs for the sender; the OpenPGP port's
    other failures too, in words."""
    protection = current()
    if protection is None:
        return mail
    from_ = getaddresses([str(v) for v in mail.get_all("From", [])])
    sender = next((addr for _name, addr in from_ if addr), account_address)
    from .openpgp import MissingKeys, OpenPGP, OpenPGPError
    from .pgpmime import protect

    port = OpenPGP(protection.home)
    recipients = recipients_of(mail)
    if protection.encrypt:
        missing = port.missing_keys(recipients)
        if missing:
            raise EncryptionRefused(
                "not sent: cannot encrypt to " + ", ".join(missing)
                + ": no usable OpenPGP key in your keyring (import theirs with "
                "`gpg --import`, or send with --no-encrypt)", missing)
    if protection.encrypt and protection.subject is not None:
        hidden, real = protection.subject
        if str(mail.get("Subject", "")) == hidden:
            mail = copy.deepcopy(mail)
            mail.replace_header("Subject", real)
    try:
        return protect(mail, port, sender=sender, recipients=recipients,
                       sign=protection.sign, encrypt=protection.encrypt)
    except MissingKeys as exc:
        raise EncryptionRefused(f"not sent: {exc}", exc.missing) from exc
    except OpenPGPError as exc:
        raise EncryptionRefused(f"not sent: {exc}") from exc
