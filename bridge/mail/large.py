"""A message over the body limit: its text part, partly, and a list of its files.

Fetching a 200 MB message to show its first paragraph costs what the user never
asked for. The server's BODYSTRUCTURE says which part holds the text and what
else the message carries; the text part is fetched up to the limit (a partial
FETCH, `BODY.PEEK[part]<0.n>`) with its own MIME header, and the stdlib email
package decodes it as it would the whole message. The files are listed from the
structure, by their IMAP part numbers (the numbering `parse_message` uses).
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from dataclasses import dataclass
from email.policy import compat32
from typing import Any

from ..model import Attachment
from ..safe import inert_text, safe_basename
from .mime import decode_bytes, decode_words, html_to_text, unflow


@dataclass(frozen=True, slots=True)
class Leaf:
    part_id: str
    ctype: str
    params: dict[str, str]
    encoding: str
    size: int  # encoded bytes, as the server counts them
    disposition: str
    filename: str


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _pairs(value: Any) -> dict[str, str]:
    if not isinstance(value, (tuple, list)):
        return {}
    items = list(value)
    return {_text(items[i]).lower(): _text(items[i + 1])
            for i in range(0, len(items) - 1, 2)}


def leaves(structure: Any, prefix: str = "", depth: int = 0) -> Iterator[Leaf]:
    """The single parts of a BODYSTRUCTURE (imapclient's BodyData), in order."""
    if depth > 50 or not isinstance(structure, (tuple, list)) or not structure:
        return
    if isinstance(structure[0], list):  # multipart: (parts, subtype, ...)
        for i, child in enumerate(structure[0], 1):
            yield from leaves(child, f"{prefix}.{i}" if prefix else str(i), depth + 1)
        return
    ctype = f"{_text(structure[0])}/{_text(structure[1])}".lower()
    params = _pairs(structure[2]) if len(structure) > 2 else {}
    encoding = _text(structure[5]).lower() if len(structure) > 5 else ""
    try:
        size = int(structure[6]) if len(structure) > 6 else 0
    except (TypeError, ValueError):
        size = 0
    # The disposition is the first (name, params) pair among the extension data.
    disposition, dparams = "", {}
    for extra in structure[7:]:
        if isinstance(extra, tuple) and len(extra) == 2 and isinstance(extra[0], bytes) \
                and (extra[1] is None or isinstance(extra[1], tuple)):
            disposition, dparams = _text(extra[0]).lower(), _pairs(extra[1])
            break
    name = dparams.get("filename") or params.get("name") or ""
    yield Leaf(prefix or "1", ctype, params, encoding, size, disposition,
               inert_text(decode_words(name)) if name else "")


def text_leaf(structure: Any) -> Leaf | None:
    """The part a reader shows: the first text/plain that is not a file, else the
    first such text/html."""
    texts = [leaf for leaf in leaves(structure) if leaf.ctype in ("text/plain", "text/html")
             and leaf.disposition != "attachment" and not leaf.filename]
    return next((t for t in texts if t.ctype == "text/plain"), texts[0] if texts else None)


def files(structure: Any, text: Leaf | None) -> list[Attachment]:
    """Every other part, as attachments to fetch on demand (no bytes yet)."""
    out = []
    for leaf in leaves(structure):
        if text is not None and leaf.part_id == text.part_id:
            continue
        if leaf.ctype in ("text/plain", "text/html") and leaf.disposition != "attachment" \
                and not leaf.filename:
            continue  # the other alternative of the text
        # About: base64 writes 57 bytes as a line of 76 characters and its end.
        size = leaf.size * 57 // 78 if leaf.encoding == "base64" else leaf.size
        out.append(Attachment(safe_basename(leaf.filename) if leaf.filename else
                              f"part-{leaf.part_id}", leaf.ctype, size, part_id=leaf.part_id))
    return out


def partial_text(leaf: Leaf, data: bytes) -> str:
    """The text of the first bytes of a text part, decoded as the stdlib does it."""
    # Cut at the last line end: a base64 or quoted-printable line cut in half
    # would decode to garbage at the end.
    end = data.rfind(b"\n")
    if end > 0:
        data = data[: end + 1]
    head = f"Content-Type: {leaf.ctype}"
    for key, value in leaf.params.items():
        head += f'; {key}="{value}"'
    head += f"\r\nContent-Transfer-Encoding: {leaf.encoding or '7bit'}\r\n\r\n"
    part = email.message_from_bytes(head.encode("utf-8", "replace") + data, policy=compat32)
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a hostile encoding: show the bytes as they came
        payload = data
    if not isinstance(payload, bytes):
        payload = data
    text = decode_bytes(payload, leaf.params.get("charset"))
    text = text.replace("\r\n", "\n")
    if leaf.ctype == "text/html":
        text = html_to_text(text)
    elif leaf.params.get("format", "").lower() == "flowed":
        text = unflow(text, leaf.params.get("delsp", "").lower() == "yes")
    return inert_text(text)
