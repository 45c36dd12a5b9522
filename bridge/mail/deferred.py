"""The `Deferred` folder: where a deferred chat line is mirrored as an email.

The outbox decides what is mirrored and when (bridge.outbox); this module is the
IMAP side of it: append a copy, remove it by Message-ID, and read every copy
back (the plan as a JSON attachment, and the files) when the store was lost.
It is written on imapclient's own commands (SELECT, SEARCH HEADER, FETCH,
STORE/EXPUNGE through `delete_messages`/`uid_expunge`); nothing here is
hand-made protocol.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
from dataclasses import dataclass
from typing import Any

import imapclient

from .deferred_names import DEFERRED_FOLDER, DEFERRED_HEADER, PLAN_FILE
from .sync import MailSync

__all__ = ["DEFERRED_FOLDER", "DEFERRED_HEADER", "PLAN_FILE", "DeferredCopy"]


@dataclass(frozen=True)
class DeferredCopy:
    """One deferred chat line as the folder keeps it."""

    msg_id: str
    payload: dict[str, Any]
    files: list[bytes]


def put(sync: MailSync, folder: str, raw: bytes) -> None:
    sync.append(folder, raw, ("\\Seen",))


def remove(sync: MailSync, folder: str, msg_id: str) -> int:
    """Delete the copies with this Message-ID; how many there were (0: no folder)."""
    client = sync.connect()
    try:
        client.select_folder(folder)
    except imapclient.exceptions.IMAPClientError:
        return 0  # no folder, nothing to remove
    uids = client.search(["HEADER", "Message-ID", f"<{msg_id}>"])
    if uids:
        client.delete_messages(uids)
        if b"UIDPLUS" in client.capabilities():
            client.uid_expunge(uids)
        else:
            client.expunge()
    return len(uids)


def read(sync: MailSync, folder: str) -> list[DeferredCopy]:
    """Every deferred message of the folder, with its plan payload and files."""
    client = sync.connect()
    try:
        client.select_folder(folder, readonly=True)
    except imapclient.exceptions.IMAPClientError:
        return []
    uids = client.search(["HEADER", DEFERRED_HEADER, ""])
    found = []
    for _uid, data in client.fetch(uids, [b"BODY.PEEK[]"]).items():
        mail = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
        msg_id = (mail.get("Message-ID") or "").strip().strip("<>")
        payload = None
        files: list[bytes] = []
        for part in mail.iter_attachments():
            raw = part.get_payload(decode=True)
            content = raw if isinstance(raw, bytes) else b""
            if part.get_filename() == PLAN_FILE:
                with contextlib.suppress(ValueError):
                    payload = json.loads(content)
            else:
                files.append(content)
        if msg_id and isinstance(payload, dict) and "plan" in payload:
            found.append(DeferredCopy(msg_id, payload, files))
    return found
