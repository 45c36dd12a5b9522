"""Drafts in the account's IMAP Drafts folder (SPECIAL-USE \\Drafts, RFC 6154).

A draft lives on the server, not in the store alone: postponed on one machine,
it is listed and sent from any other (as mutt's postponed folder and aerc's
Drafts). Saving APPENDs it with \\Draft and \\Seen; sending takes its bytes from
the server, gives them to the outbox, and deletes the draft once queued.
"""

from __future__ import annotations

import email.parser
import email.policy
import imaplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, getaddresses
from typing import TYPE_CHECKING

from imapclient.exceptions import IMAPClientError

from ..model import Message
from .sync import APPENDUID
from .triage import DRAFTS, Place, TriageError, _select, expunge, special_folder

if TYPE_CHECKING:
    from .sync import MailSync

DEFAULT = "Drafts"


def drafts_folder(sync: MailSync) -> str:
    """The server's \\Drafts folder, else one named Drafts."""
    return special_folder(sync, DRAFTS) or DEFAULT


def save(sync: MailSync, mail: EmailMessage, replaces: Place | None = None) -> Message:
    """APPEND `mail` to Drafts and return it as the store now holds it; the
    draft it `replaces` (a resumed one) is deleted once the new one is in."""
    folder = drafts_folder(sync)
    client = sync.connect()
    try:
        answer = client.append(folder, mail.as_bytes(), flags=("\\Draft", "\\Seen"))
    except imaplib.IMAP4.abort:
        raise
    except IMAPClientError as exc:
        raise TriageError(f"{folder}: the server refused the draft: {exc}") from exc
    text = answer.decode("ascii", "replace") if isinstance(answer, bytes) else str(answer)
    sync._selected = None
    sync.sync_folder(folder)
    found = APPENDUID.search(text)
    row = None
    if found is not None:
        row = sync.store.folder_uids(sync.account.name, folder).get(int(found.group(2)))
    if row is None:
        row = _newest_with_id(sync, folder, str(mail["Message-ID"] or ""))
    if replaces is not None:
        expunge(sync, [replaces])
    message = sync.store.get_message(row) if row is not None else None
    if message is None:
        raise TriageError(f"{folder}: the saved draft is not on the server")
    return message


def _newest_with_id(sync: MailSync, folder: str, message_id: str) -> int | None:
    rows = sync.store.folder_uids(sync.account.name, folder)
    for uid in sorted(rows, reverse=True):
        m = sync.store.get_message(rows[uid])
        if m is not None and message_id and (m.message_id_header or "") in message_id:
            return rows[uid]
    return None


def listing(sync: MailSync, limit: int = 100) -> list[Message]:
    """The drafts on the server now (a sync of the folder first), each with its
    files (their bodies fetched once, as a draft is short: the list says which
    carry files)."""
    folder = drafts_folder(sync)
    sync.sync_folder(folder)
    found = sync.store.folder_messages(sync.account.name, folder, limit=limit)
    missing = [m.id for m in found if m.id is not None and not sync.store.has_body(m.id)]
    for row in missing:
        try:
            sync.fetch_body(row)
        except LookupError:  # gone meanwhile: listed as the sync left it
            continue
    if missing:
        found = sync.store.folder_messages(sync.account.name, folder, limit=limit)
    return found


def fetch_raw(sync: MailSync, row_id: int) -> tuple[bytes, Place]:
    """An email's bytes as they are on the server (BODY.PEEK: it stays unread),
    and where it is: what a forward, a bounce or a resumed draft is made of."""
    m = sync.store.get_message(row_id)
    if m is None or m.folder is None or m.uid is None:
        raise LookupError(f"message {row_id} has no place on the IMAP server")
    client = _select(sync, m.folder, readonly=True)
    data = client.fetch([m.uid], [b"BODY.PEEK[]"]).get(m.uid)
    if data is None or not isinstance(data.get(b"BODY[]"), bytes):
        raise LookupError(f"message {row_id} is no longer on the server")
    return data[b"BODY[]"], Place(row_id, m.folder, m.uid)


def load(sync: MailSync, row_id: int) -> tuple[EmailMessage, Place]:
    """A draft's message as it is on the server, and where it is."""
    raw, place = fetch_raw(sync, row_id)
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)  # policy.default makes EmailMessage
    return parsed, place


@dataclass
class Addresses:
    """A draft's address fields: From and To as bare addresses (what a new
    message's From and To take), Cc and Bcc as written ("Bob <bob@x>")."""

    sender: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)


def addresses(sync: MailSync, row_id: int) -> Addresses:
    """From, To, Cc and Bcc of a draft on the server (the stdlib's parser)."""
    mail, _place = load(sync, row_id)

    def written(name: str) -> list[str]:
        found = getaddresses([str(v) for v in mail.get_all(name, [])])
        return [formataddr((n, a)) if n else a for n, a in found if a]

    def bare(name: str) -> list[str]:
        return [a for _n, a in getaddresses([str(v) for v in mail.get_all(name, [])]) if a]
    sender = bare("From")
    return Addresses(sender[0] if sender else "", bare("To"), written("Cc"), written("Bcc"))
