"""Saving the files of a chat line: the links it carries (XEP-0066 out-of-band
data, XEP-0363 uploads; an OMEMO line's `aesgcm://` link, XEP-0454) fetched
into the store's blobs (`bridge.xmpp.files.fetch_linked`, which needs no XMPP
connection: only https, over the account's TLS trust, never a redirect, at
most `DOWNLOAD_LIMIT` bytes each; a sealed file opened on the way), then
written as a mail attachment is: into the downloads folder under a safe, new
name (`bridge.safe.write_new_file`; nothing is overwritten).

The engine's `save_attachments` comes here for a chat line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EngineError
from .model import Message
from .paths import default_downloads
from .safe import write_new_file

if TYPE_CHECKING:
    from .config import AccountConfig
    from .store import Store


def limit_words(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"


async def save_linked(store: Store, cfg: AccountConfig, m: Message,
                      positions: Sequence[int] | None, directory: Path | None,
                      limit: int | None = None) -> list[Path]:
    """Save the files a chat line links to (positions from 0; None: all) into
    `directory` (else the account's `downloads`, else ~/Downloads); EngineError
    says why one could not be (no such file, not reachable, refused)."""
    from .tls import client_context
    from .xmpp.files import fetch_linked
    from .xmpp.upload import DEFAULT_DOWNLOAD_LIMIT, TransferError

    if m.id is None or not m.attachments:
        raise EngineError(f"message {m.id} has no files")
    wanted = range(len(m.attachments)) if positions is None else positions
    for pos in wanted:
        if not 0 <= pos < len(m.attachments):
            raise EngineError(f"message {m.id} has files 1 to {len(m.attachments)}, "
                              f"not {pos + 1}")
    limit = DEFAULT_DOWNLOAD_LIMIT if limit is None else limit
    ca_file = cfg.xmpp.ca_file if cfg.xmpp is not None else None
    errors: dict[int, str] = {}
    try:
        files = await fetch_linked(store, m.id, limit, client_context(ca_file), errors,
                                   set(wanted))
    except TransferError as exc:
        raise EngineError(f"not fetched: {_limit_said(str(exc), limit)}") from None
    target = directory or cfg.downloads or default_downloads()
    saved: list[Path] = []
    for pos in wanted:
        a = files[pos]
        if a.sha256 is None:
            why = _limit_said(errors[pos], limit) if pos in errors else "no link to fetch it from"
            raise EngineError(f"{a.filename} not fetched: {why}")
        saved.append(await asyncio.to_thread(_copy_out, store.blob_path(a.sha256), target,
                                             a.filename))
    return saved


def _limit_said(reason: str, limit: int) -> str:
    return reason.replace(f"limit of {limit} bytes", f"limit of {limit_words(limit)}")


def _copy_out(blob: Path, target: Path, name: str) -> Path:
    """A worker thread's job: the bytes are up to the download limit."""
    return write_new_file(target, name, blob.read_bytes())
