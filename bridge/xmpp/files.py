"""Files: HTTP File Upload (XEP-0363) through our `upload_slots` plugin, the
https transfers of `upload.py`, links sent out-of-band (XEP-0066, in delivery's
`_transmit`), and the download of linked files into the store's blobs, sealed
ones (XEP-0454 `aesgcm://`, which only an OMEMO line carries) opened on the way
(`fetch_linked`, which needs no XMPP connection: the engine saves a chat line's
files with it, bridge/chat_files.py).
"""

from __future__ import annotations

import logging
import mimetypes
import ssl
from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

from ..model import Attachment, Message
from ..safe import safe_basename
from .core import IQ_TIMEOUT, MessageKind, XmppError
from .delivery import Delivery
from .stanzas import bare
from .upload import TransferError, get_file, get_sealed_file, is_aesgcm, put_file

if TYPE_CHECKING:
    from ..store import Store

log = logging.getLogger(__name__)


class Files(Delivery):
    """HTTP upload and the download of linked files."""

    async def upload(self, data: bytes, filename: str,
                     content_type: str = "application/octet-stream") -> str:
        """Upload bytes to the server's file share; returns the link to hand out."""
        slots = self.upload_slots
        try:
            service, limit = await self._asked(slots.find_service(self.domain, IQ_TIMEOUT),
                                               self.domain)
        except LookupError as exc:
            raise XmppError(str(exc)) from None
        if limit is not None and len(data) > limit:
            raise TransferError(f"{filename!r} is {len(data)} bytes; the server takes "
                                f"at most {limit}")
        name = safe_basename(filename)
        slot = await self._asked(slots.request_slot(service, name, len(data), content_type,
                                                    IQ_TIMEOUT), service)
        await put_file(slot, data, content_type, self.ssl_context)
        return slot.get_url

    async def send_file(self, to: str, data: bytes, filename: str,
                        content_type: str = "application/octet-stream", *,
                        thread_id: str | None = None, msg_id: str | None = None) -> Message:
        """Upload a file and send its link, as body and as out-of-band data, to a
        contact or a joined room. The bytes are kept in the store's blobs too."""
        url = await self.upload(data, filename, content_type)
        digest = self.store.store_blob(data)
        attachment = Attachment(safe_basename(filename), content_type, len(data),
                                sha256=digest, url=url)
        to = bare(to)
        mtype: MessageKind = "groupchat" if to in self._rooms else "chat"
        return self._send(to, url, mtype, thread_id, msg_id, [attachment])

    async def download(self, row_id: int, limit: int | None = None) -> list[Attachment]:
        """Fetch a message's linked files into the store's blobs (`fetch_linked`),
        at most `limit` bytes each (None: this client's download limit)."""
        limit = self.download_limit if limit is None else limit
        return await fetch_linked(self.store, row_id, limit, self.ssl_context)

    async def _auto_download(self, row_id: int) -> None:
        try:
            await self.download(row_id, limit=self.auto_download_limit)
        except (TransferError, XmppError, OSError) as exc:
            log.info("%s: file of message %s not fetched: %s", self.name, row_id, exc)



async def fetch_linked(store: Store, row_id: int, limit: int, context: ssl.SSLContext,
                       errors: dict[int, str] | None = None,
                       only: Collection[int] | None = None) -> list[Attachment]:
    """Fetch a message's linked files into the store's blobs; returns its
    attachments with their sha256 and real size filled in. Needs no XMPP
    connection: the links are https (an `aesgcm://` one is fetched over https
    and opened), read over `context` (the account's TLS trust). A file over
    `limit` bytes, a redirect, any other scheme is refused; when none could be
    fetched, a TransferError says why; `errors` gets why each one was not
    (by position). `only`: the positions to fetch (None: every one)."""
    message = store.get_message(row_id)
    if message is None:
        raise KeyError(f"no message {row_id}")
    updated: list[Attachment] = []
    failed: list[str] = []
    for pos, a in enumerate(message.attachments):
        if a.sha256 is not None and not store.blob_path(a.sha256).exists():
            a = replace(a, sha256=None)  # its bytes pruned: fetched again
        if a.url and a.sha256 is None and (only is None or pos in only):
            try:
                if is_aesgcm(a.url):
                    data = await get_sealed_file(a.url, limit, context)
                    # What the server says of its bytes is "encrypted": the
                    # name tells what they are.
                    content_type = a.content_type if a.content_type != \
                        "application/octet-stream" else \
                        mimetypes.guess_type(a.filename)[0] or a.content_type
                else:
                    data, content_type = await get_file(a.url, limit, context)
            except TransferError as exc:
                failed.append(f"{a.filename}: {exc}")
                if errors is not None:
                    errors[pos] = str(exc)
                updated.append(a)
                continue
            digest = store.store_blob(data)
            a = replace(a, sha256=digest, size=len(data), content_type=content_type)
        updated.append(a)
    store.set_body(row_id, message.text, updated)
    if failed and all(a.sha256 is None for a in updated):
        raise TransferError("; ".join(failed))
    return updated
