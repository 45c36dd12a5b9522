"""MailSync's bodies: a message's text and files, a file alone, header fields.

A part of `bridge.mail.sync.MailSync` (a mixin over its connection): every
fetch is BODY.PEEK, so reading never marks a message read on the server. A
message over the body limit gets the start of its text and the list of its
files (`bridge.mail.large`); a file's bytes come when it is saved.
"""

from __future__ import annotations

import dataclasses
import email
import email.parser
import email.policy
from collections.abc import Sequence
from email.policy import compat32
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model import Attachment
from ..safe import write_new_file
from .large import files, partial_text, text_leaf
from .mime import parse_message, to_message

if TYPE_CHECKING:
    import imapclient

    from ..config import AccountConfig
    from ..store import Store

# How much of a large message's text part is fetched to be shown.
LARGE_TEXT_BYTES = 1024 * 1024


class BodyFetch:
    """Bodies, files and header fields of stored emails (a part of MailSync)."""

    if TYPE_CHECKING:  # MailSync's connection and store
        account: AccountConfig
        store: Store
        body_limit: int

        def connect(self) -> imapclient.IMAPClient: ...

        def _examine(self, folder: str) -> dict[bytes, Any]: ...

    def fetch_body(self, row_id: int) -> None:
        """Fetch a message's body (BODY.PEEK: it stays unread) and keep it in the store."""
        message = self.store.get_message(row_id)
        if message is None or message.folder is None or message.uid is None:
            raise LookupError(f"message {row_id} has no place on the IMAP server")
        if self.store.has_body(row_id):
            return
        client = self.connect()
        self._examine(message.folder)
        info = client.fetch([message.uid], [b"RFC822.SIZE", b"BODYSTRUCTURE"]).get(message.uid)
        if info is None:
            raise LookupError(f"message {row_id} is no longer on the server")
        size = int(info.get(b"RFC822.SIZE") or 0)
        if size > self.body_limit:
            self._fetch_large(row_id, message.uid, size, info.get(b"BODYSTRUCTURE"))
            return
        data = client.fetch([message.uid], [b"BODY.PEEK[]"]).get(message.uid)
        if data is None:
            raise LookupError(f"message {row_id} is no longer on the server")
        raw = data[b"BODY[]"]
        self._autocrypt(raw)
        parsed = parse_message(raw, max_bytes=max(self.body_limit, len(raw)))
        full = to_message(parsed, account=self.account.name, folder=message.folder,
                          uid=message.uid, put_blob=self.store.store_blob)
        # Malformed mail is shown raw; OpenPGP mail is opened from its bytes when shown.
        self.store.set_body(row_id, full.text, full.attachments,
                            raw=raw if parsed.malformed or parsed.raw else None,
                            malformed=parsed.malformed)
        self.store.set_digests({row_id: parsed.digest})

    def _autocrypt(self, raw: bytes) -> None:
        """Autocrypt learns a peer's key from the header of each body fetched,
        when it is on (bridge.crypto.autocrypt): the raw bytes are at hand here
        once per message, and the header sync never fetches that field."""
        from ..crypto.autocrypt import received

        received(self.store.path.parent, raw)

    def _fetch_large(self, row_id: int, uid: int, size: int, structure: Any) -> None:
        """A message over the body limit: the start of its text part (a partial
        FETCH) and its files as a list, kept as its body so that opening it again
        fetches nothing. The files' bytes come when one is saved."""
        text_part = text_leaf(structure)
        want = min(self.body_limit, LARGE_TEXT_BYTES)
        text = ""
        if text_part is not None:
            data = self.connect().fetch(
                [uid], [f"BODY.PEEK[{text_part.part_id}]<0.{want}>".encode()]).get(uid) or {}
            chunk = next((v for k, v in data.items() if isinstance(k, bytes)
                          and k.startswith(b"BODY[") and isinstance(v, bytes)), b"")
            text = partial_text(text_part, chunk)
            if text_part.size > len(chunk):
                text = text.rstrip() + "\n\n[…]"
        note = (f"[This message is {size:,} bytes, over the body limit of "
                f"{self.body_limit:,}: only the start of its text was fetched.]")
        self.store.set_body(row_id, f"{text.rstrip()}\n\n{note}" if text.strip() else note,
                            files(structure, text_part))

    def fetch_part(self, row_id: int, position: int) -> Attachment:
        """The bytes of one file of a message whose body was fetched without them
        (over the body limit): its part alone, with its MIME header, decoded by the
        stdlib, kept in the blob store."""
        message = self.store.get_message(row_id)
        if message is None or message.folder is None or message.uid is None:
            raise LookupError(f"message {row_id} has no place on the IMAP server")
        attachment = message.attachments[position]
        if attachment.sha256 is not None:
            return attachment
        part = attachment.part_id
        if not part or not all(p.isdigit() for p in part.split(".")):
            raise LookupError(f"attachment {position} of message {row_id} has no content")
        self._examine(message.folder)
        client = self.connect()
        head = f"BODY.PEEK[{part}.MIME]"
        if part == "1":
            # A single-part message has no part header of its own: its header is
            # the message's.
            shape = client.fetch([message.uid], [b"BODYSTRUCTURE"]).get(message.uid) or {}
            structure = shape.get(b"BODYSTRUCTURE")
            if not (structure and isinstance(structure[0], list)):
                head = "BODY.PEEK[HEADER]"
        data = client.fetch([message.uid], [head.encode(), f"BODY.PEEK[{part}]".encode()])
        got = data.get(message.uid) or {}
        header = next((v for k, v in got.items() if isinstance(k, bytes)
                       and k.startswith(b"BODY[") and k.endswith((b"MIME]", b"HEADER]"))), None)
        body = got.get(f"BODY[{part}]".encode())
        if not isinstance(header, bytes) or not isinstance(body, bytes):
            raise LookupError(f"attachment {position} of message {row_id} is not on the server")
        mime_part = email.message_from_bytes(header.rstrip(b"\r\n") + b"\r\n\r\n" + body,
                                             policy=compat32)
        try:
            payload = mime_part.get_payload(decode=True)
        except Exception:  # a hostile encoding: keep the bytes as they came
            payload = body
        content = payload if isinstance(payload, bytes) else body
        filled = dataclasses.replace(attachment, sha256=self.store.store_blob(content),
                                     size=len(content))
        self.store.set_attachment(row_id, position, filled)
        return filled

    def fetch_headers(self, row_id: int, names: Sequence[str]) -> dict[str, str]:
        """Some header fields of a message (BODY.PEEK[HEADER.FIELDS]: it stays
        unread), each as one string (repeated fields joined by ", "); a field the
        message lacks is absent."""
        message = self.store.get_message(row_id)
        if message is None or message.folder is None or message.uid is None:
            raise LookupError(f"message {row_id} has no place on the IMAP server")
        client = self.connect()
        self._examine(message.folder)
        wanted = " ".join(n.upper() for n in names).encode("ascii")
        data = client.fetch([message.uid], [b"BODY.PEEK[HEADER.FIELDS (" + wanted + b")]"])
        item = data.get(message.uid)
        if item is None:
            raise LookupError(f"message {row_id} is no longer on the server")
        block = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"") or b""
        parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(block)
        fields: dict[str, str] = {}
        for name, value in parsed.items():
            text = str(value)
            fields[name] = f"{fields[name]}, {text}" if name in fields else text
        return fields

    def save_attachment(self, row_id: int, position: int, directory: Path) -> Path:
        """Write one attachment of a message into `directory` under a safe, new name.

        The name is reduced to a base name (no paths, no device names, no control
        characters) and never overwrites a file that is there already.
        """
        self.fetch_body(row_id)
        message = self.store.get_message(row_id)
        assert message is not None
        attachment = message.attachments[position]
        if attachment.sha256 is None:
            attachment = self.fetch_part(row_id, position)
        assert attachment.sha256 is not None  # fetch_part keeps the bytes or raises
        data = self.store.blob_path(attachment.sha256).read_bytes()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return write_new_file(directory, attachment.filename, data)
