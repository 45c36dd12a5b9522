"""What one send asked for (sign, encrypt), and the sealing of its emails.

A send's wish travels with the call, not through every layer's signature: the
engine's send verbs set `requested(...)` around the handoff's work (a ContextVar,
so it follows the awaits of that one task and no other), and the mail port seals
each email it queues (`seal`). Encryption that cannot be done for everyone is
refused before anything is queued (`EncryptionRefused` naming who), so nothing
meant to be encrypted ever leaves in clear.

What a chat leg must be is fixed when it is planned too: `Protection.to_payload`
is kept in its outbox row; its chat line goes OMEMO-encrypted when
`Protection.omemo` says so (or fails naming who, never in clear), and every
email the row later becomes (the deferral's fallback, "by email instead") is
sealed as `encrypt` says (`Protection.from_payload`), or refused naming who.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EncryptionRefused, Hint

if TYPE_CHECKING:
    from .autocrypt_mail import Keys


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
    # Why it must be encrypted (or stays in clear), in the words of a refusal:
    # "you asked for it", "the conversation is encrypted (its last email was)".
    why: str = ""
    # The user chose (--encrypt or --no-encrypt), rather than a default: an
    # explicit "in clear" is kept too, so that nothing below adds encryption to it.
    explicit: bool = False
    # Its chat leg goes OMEMO-encrypted (bridge/xmpp/omemo.py): the user asked
    # for encryption, the conversation is encrypted, or they turned OMEMO on for
    # the contact (/omemo on). The mail-only reasons (the [crypto] default, a
    # contact's OpenPGP preference) leave the chat leg as it was.
    omemo: bool = False

    @property
    def wanted(self) -> bool:
        return self.sign or self.encrypt

    def to_payload(self) -> dict[str, object]:
        """What an outbox row keeps of it (the keyring is the config's, at send time)."""
        return {"sign": self.sign, "encrypt": self.encrypt, "why": self.why,
                "explicit": self.explicit, "omemo": self.omemo}

    @classmethod
    def from_payload(cls, payload: object, home: Path | None) -> Protection | None:
        if not isinstance(payload, dict):
            return None
        return cls(sign=bool(payload.get("sign")), encrypt=bool(payload.get("encrypt")),
                   home=home, why=str(payload.get("why") or ""),
                   explicit=bool(payload.get("explicit")), omemo=bool(payload.get("omemo")))

    def words(self) -> str:
        return " and ".join(w for w, on in (("signed", self.sign), ("encrypted", self.encrypt))
                            if on) or "in clear"


_requested: ContextVar[Protection | None] = ContextVar("protection", default=None)


@contextmanager
def requested(protection: Protection | None) -> Iterator[None]:
    """Every email queued inside this block is sealed as `protection` says. A
    protection that wants nothing is kept only when the user chose it (explicit)."""
    token = _requested.set(protection if protection is not None and (
        protection.wanted or protection.explicit) else None)
    try:
        yield
    finally:
        _requested.reset(token)


def current() -> Protection | None:
    return _requested.get()


def because(protection: Protection) -> str:
    """", and it must be encrypted because ..." when the reason is not the user's
    own --encrypt (a conversation, a default, a contact's preference)."""
    if not protection.why or protection.why == ASKED:
        return ""
    return f"; it must be encrypted because {protection.why}"


# The reasons a send must be encrypted, as a refusal says them.
ASKED = "you asked for it"
BY_CONFIG = "[crypto] encrypt = true"
CONVERSATION = "the conversation is encrypted (its last email was)"
OMEMO_CONVERSATION = "the conversation is encrypted (its last chat line was, with OMEMO)"
FORWARDED = "the email you forward came encrypted"
PREFERRED = "you prefer encryption for this contact (`keys prefer`)"
CHAT_PREFERRED = "you turned OMEMO on for this contact (/omemo on)"
# The reasons that make a chat leg OMEMO-encrypted too (see Protection.omemo).
_CHAT_REASONS = (ASKED, CONVERSATION, OMEMO_CONVERSATION, CHAT_PREFERRED)


def with_chat(protection: Protection, chat_preference: str = "") -> Protection:
    """`protection` with its chat leg decided: OMEMO when it must be encrypted for
    a reason that is not mail's alone, unless the user turned OMEMO off for the
    contact (/omemo off) and did not ask for encryption on this send."""
    omemo = protection.encrypt and protection.why in _CHAT_REASONS
    if chat_preference == "clear" and protection.why != ASKED:
        omemo = False
    return dataclasses.replace(protection, omemo=omemo)


AUTOCRYPT = ("you and every recipient prefer encryption and have each other's keys "
             "(Autocrypt prefer-encrypt=mutual)")


def required(asked: Protection | None, default: Protection, *,
             conversation_encrypted: bool, preference: str = "",
             omemo_conversation: bool = False, chat_preference: str = "",
             autocrypt: str = "") -> Protection:
    """What a send must be, decided once when it is planned. In order: the user's
    explicit choice (--encrypt, --no-encrypt, the compose toggle); an encrypted
    conversation (its last email was, or its last chat line was OMEMO) is
    answered encrypted; OMEMO turned on for the contact (/omemo on); the
    contact's preference (`keys prefer`: encrypt, sign or clear); Autocrypt's
    recommendation (`autocrypt`: "encrypt" encrypts by default; "available"
    and weaker only offer it, bridge.crypto.autocrypt); the [crypto] defaults.
    `asked`: what the send verb set (None: a verb that sets nothing). Its chat
    leg: `with_chat` (Autocrypt, like the OpenPGP preference, is mail's alone).
    With Autocrypt on (`autocrypt` says any word), encrypted mail is signed
    too, whoever asked for the encryption: Autocrypt Level 1's encrypted
    mail is always signed, so that the peer can tell it from a forgery."""
    decided = _required(asked, default, conversation_encrypted, preference,
                        omemo_conversation, chat_preference, autocrypt)
    if autocrypt and decided.encrypt and not decided.sign:
        decided = dataclasses.replace(decided, sign=True)
    return with_chat(decided, chat_preference)


def _required(asked: Protection | None, default: Protection, conversation_encrypted: bool,
              preference: str, omemo_conversation: bool, chat_preference: str,
              autocrypt: str) -> Protection:
    base = asked if asked is not None else default
    if base.explicit:
        return dataclasses.replace(base, why=ASKED if base.encrypt else "you chose clear")
    if conversation_encrypted:
        return dataclasses.replace(base, encrypt=True, why=CONVERSATION)
    if omemo_conversation and chat_preference != "clear":
        return dataclasses.replace(base, encrypt=True, why=OMEMO_CONVERSATION)
    if chat_preference == "encrypt":
        return dataclasses.replace(base, encrypt=True, why=CHAT_PREFERRED)
    if preference == "encrypt":
        return dataclasses.replace(base, encrypt=True, why=PREFERRED)
    if preference == "sign":
        return dataclasses.replace(base, sign=True, encrypt=False, why="")
    if preference == "clear":
        return dataclasses.replace(base, sign=False, encrypt=False,
                                   why="you prefer clear for this contact")
    if autocrypt == "encrypt" and not base.encrypt:
        # Autocrypt's encrypted mail is signed too (its "Message Encryption").
        return dataclasses.replace(base, encrypt=True, sign=True, why=AUTOCRYPT)
    return dataclasses.replace(base, why=BY_CONFIG if base.encrypt else "")


def recipients_of(mail: EmailMessage, *names: str) -> list[str]:
    """The addresses in `mail`'s `names` fields (default: To, Cc and Bcc)."""
    fields = [v for h in (names or ("To", "Cc", "Bcc")) for v in mail.get_all(h, [])]
    return [addr for _name, addr in getaddresses([str(f) for f in fields]) if addr]


def unusable_words(keys: Keys, missing: list[str]) -> str:
    """"; and the Autocrypt key they sent has expired (bob@...)" for those of
    `missing` who have an Autocrypt key gpg cannot encrypt to."""
    found = [(a, keys.unusable[a]) for a in missing if a in keys.unusable]
    if not found:
        return ""
    return "; and " + "; ".join(f"{why} ({address})" for address, why in found)


def hidden_recipients(mail: EmailMessage) -> list[str]:
    """The Bcc of `mail` that are not also in its To or Cc: encrypted to without
    their key id in the message."""
    seen = {a.lower() for a in recipients_of(mail, "To", "Cc")}
    return [a for a in recipients_of(mail, "Bcc") if a.lower() not in seen]


def autocrypt_on(folder: Path) -> bool:
    """Whether emails sent from the store in `folder` carry an Autocrypt header."""
    from .autocrypt import setup_for

    return setup_for(folder) is not None


def prepare(mail: EmailMessage, account_address: str, folder: Path) -> EmailMessage:
    """`mail` ready to be queued: with our Autocrypt header when Autocrypt is on
    for the store in `folder`, then sealed as the current request wants
    (`seal`). Runs in a thread (GPGME)."""
    from . import autocrypt_mail

    mail, autocrypt_keys = autocrypt_mail.outgoing(mail, folder, account_address)
    if current() is None:
        return mail
    return seal(mail, account_address, autocrypt_keys)


def seal(mail: EmailMessage, account_address: str,
         autocrypt: Keys | None = None) -> EmailMessage:
    """`mail` as the current request wants it (unchanged when nothing was asked),
    signed as its From address (else `account_address`). EncryptionRefused when
    someone has no key, or no secret key signs for the sender; the OpenPGP port's
    other failures too, in words. `autocrypt`: the Autocrypt peers' keys and
    gossip for this mail (bridge.crypto.autocrypt_mail.Keys), if it is on."""
    protection = current()
    if protection is None or not protection.wanted:
        return mail
    from_ = getaddresses([str(v) for v in mail.get_all("From", [])])
    sender = next((addr for _name, addr in from_ if addr), account_address)
    from .autocrypt_mail import Keys
    from .openpgp import MissingKeys, OpenPGP, OpenPGPError
    from .pgpmime import protect

    port = OpenPGP(protection.home)
    recipients = recipients_of(mail)
    keys = autocrypt if autocrypt is not None else Keys()
    if protection.encrypt:
        missing = [a for a in port.missing_keys(recipients) if a not in keys.peers]
        if missing:
            raise EncryptionRefused(
                "not sent: cannot encrypt to " + ", ".join(missing)
                + ": no usable OpenPGP key in your keyring" + unusable_words(keys, missing)
                + because(protection), missing,
                hint=Hint("import-key-or-clear", ", ".join(missing)))
    if protection.encrypt and protection.subject is not None:
        hidden, real = protection.subject
        if str(mail.get("Subject", "")) == hidden:
            mail = copy.deepcopy(mail)
            mail.replace_header("Subject", real)
    try:
        return protect(mail, port, sender=sender, recipients=recipients,
                       sign=protection.sign, encrypt=protection.encrypt,
                       key_files=keys.peers or None,
                       gossip=keys.gossip(port, recipients) if protection.encrypt else (),
                       hidden=hidden_recipients(mail))
    except MissingKeys as exc:
        raise EncryptionRefused(f"not sent: {exc}", exc.missing) from exc
    except OpenPGPError as exc:
        raise EncryptionRefused(f"not sent: {exc}") from exc
