"""Files in an OMEMO conversation (XEP-0454, OMEMO media sharing): the file is
sealed with AES-256-GCM (slixmpp's xep_0454 cipher, `upload.seal_file`) and
uploaded as it is through HTTP upload (XEP-0363), so the server holds only
ciphertext under a random name; the `aesgcm://` link, which carries the key in
its fragment, goes as the body of an OMEMO-sealed line and nowhere else (no
out-of-band element: `Omemo._seal` keeps only what delivery needs in clear).

A sealed line whose opened text is such a link is a file: its row gets the
link as an attachment, fetched and opened by `Files.download` like any other
(and so carried by a handoff like any other, from the store's blobs).
"""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from ..model import Attachment
from ..safe import safe_basename
from .upload import is_aesgcm


def upload_name(filename: str) -> str:
    """The name the upload service is told: random, keeping only the extension
    (the real name travels inside the sealed line's attachment here, and the
    receiver reads it from the link's path)."""
    suffix = PurePosixPath(safe_basename(filename)).suffix.lower()
    return uuid.uuid4().hex + (suffix if len(suffix) <= 10 else "")


def received(text: str) -> Attachment | None:
    """The attachment an opened line's text names, when it is one aesgcm link."""
    link = text.strip()
    if not is_aesgcm(link):
        return None
    name = safe_basename(unquote(PurePosixPath(urlsplit(link).path).name)) or "file"
    return Attachment(name, mimetypes.guess_type(name)[0] or "application/octet-stream", 0,
                      url=link)
