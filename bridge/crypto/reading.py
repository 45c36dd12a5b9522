"""A stored OpenPGP email as its reader sees it: opened from its kept bytes.

The store keeps an OpenPGP email's raw bytes (bridge.mail.walk marks it) and, as
its body, only what may be indexed: the clear text of a signed email, nothing of
an encrypted one (unless `[crypto] index_decrypted` allows it). What a reader
sees is opened again from the bytes each time it is shown, so the signature
verdict is today's (a key imported since turns "unknown key" into "good").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

from ..model import DRAFT, Attachment, Message, Transport
from .openpgp import OpenPGP


def is_openpgp(m: Message) -> bool:
    """Whether `m` is an email whose kept bytes are OpenPGP-protected. Cheap: the
    store keeps raw bytes only of malformed mail and of OpenPGP mail."""
    if m.transport is not Transport.EMAIL or m.raw is None or m.malformed:
        return False
    raw = m.raw
    return b"application/pgp-" in raw or b"-----BEGIN PGP " in raw


def is_encrypted(m: Message) -> bool:
    """Whether `m` is an encrypted email (PGP/MIME or an inline PGP MESSAGE), as
    against one that is only signed."""
    if not is_openpgp(m) or m.raw is None:
        return False
    return b"application/pgp-encrypted" in m.raw or b"-----BEGIN PGP MESSAGE-----" in m.raw


def end_to_end(m: Message) -> bool:
    """Whether `m` came or went end-to-end encrypted: an encrypted email, or an
    OMEMO chat line (whose text the store holds opened)."""
    return is_encrypted(m) or (m.crypto is not None and m.crypto.omemo)


def conversation_encrypted(thread: Iterable[Message]) -> bool:
    """A conversation is encrypted when its last email was (bridge.crypto.outgoing:
    what is sent in it is encrypted unless the user says otherwise)."""
    emails = [m for m in thread if m.transport is Transport.EMAIL and DRAFT not in m.flags]
    return bool(emails) and is_encrypted(max(emails, key=lambda m: (m.date, m.id or 0)))


GossipSeen = Callable[[Message, Sequence[str], Sequence[str]], None]


def open_stored(m: Message, port: OpenPGP,
                put_blob: Callable[[bytes], str] | None = None,
                on_gossip: GossipSeen | None = None) -> Message:
    """`m` with its decrypted or verified text, its inner files (their bytes kept
    with `put_blob`), its protected Subject and its `crypto` status; `m` itself
    when it is no OpenPGP email. `on_gossip(m, values, recipients)`: the
    Autocrypt-Gossip found inside a decrypted email (bridge.crypto.autocrypt_mail)."""
    from .pgpmime import open_message

    if not is_openpgp(m) or m.raw is None:
        return m
    opened = open_message(m.raw, port)
    if opened is None:
        return m
    if opened.gossip and on_gossip is not None:
        on_gossip(m, opened.gossip, opened.gossip_for)
    files = [Attachment(filename=a.filename, content_type=a.content_type, size=a.size,
                        sha256=put_blob(a.data) if put_blob is not None else None,
                        part_id=a.part_id)
             for a in opened.attachments]
    status = opened.status
    return dataclasses.replace(
        m, text=opened.text if (opened.text or status.encrypted) else m.text,
        subject=opened.subject if opened.subject is not None else m.subject,
        attachments=files if status.scheme == "pgp/mime" else m.attachments,
        crypto=status)


def sealed_view(m: Message) -> Message:
    """`m` as listed before it is opened: an OpenPGP email shows no text of its own
    (the front ends then open it through the engine, which checks it)."""
    return dataclasses.replace(m, text="") if is_openpgp(m) and m.crypto is None else m
