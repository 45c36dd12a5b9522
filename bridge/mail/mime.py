"""Parse raw RFC 5322 mail into our model, without ever raising on hostile input.

Two paths. `parse_headers` is the header sync's: it runs on every message of a
mailbox (100,000 in a cold sync), so it is a single regex pass over the header
block plus cached decoding of the fields the message list needs; the `email`
package's full parser costs several times more per message. `parse_message` is the
body view's: the stdlib compat32 parser (the most forgiving one), then our own
walk over the MIME tree that picks the text, lists attachments and records every
defect instead of failing. A message that cannot be understood comes back marked
`malformed` with a reason, so the caller can store its raw bytes and move on.

All display text that leaves this module (subject, names, body, file names) has
gone through `inert_text`: a synced message can never drive the terminal.

The work is done by one module per job; this one turns their results into the
model's `Message` and is the door the rest of the app imports from:

    charset.py     bytes and RFC 2047 encoded words to text
    headers.py     the header fast path: fields, addresses, dates, ids
    body_text.py   format=flowed and HTML to display text
    walk.py        the full parse: compat32, then the walk of the MIME tree
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from bridge.model import Attachment, Direction, Message, Party, Transport, thread_id_for_email

from .body_text import html_to_text, unflow
from .charset import decode_bytes, decode_words
from .headers import (
    SYNTHETIC_DOMAIN,
    HeaderInfo,
    content_message_id,
    header_fields,
    parse_date,
    parse_headers,
    split_header,
    synthetic_message_id,
)
from .walk import MAX_DEPTH, MAX_MESSAGE_BYTES, ParsedAttachment, ParsedMessage, parse_message


def _thread_id(msg_id: str, info: HeaderInfo) -> str:
    return _thread_id_from(msg_id, info.in_reply_to, info.references)


def _thread_id_from(msg_id: str, in_reply_to: str, references: list[str]) -> str:
    try:
        return thread_id_for_email(msg_id, in_reply_to, references)
    except ValueError:
        # Only an id that normalizes to nothing gets here; the message still
        # needs a thread, and its own id is the honest one.
        return msg_id


def thread_id_of(info: HeaderInfo) -> str:
    """The thread id of a message known by its header only."""
    # The common case without the model's normalising: an id that is already
    # bare (no brackets, no whitespace) normalises to itself.
    first = info.references[0] if info.references else info.in_reply_to
    if first and "<" not in first and ">" not in first and first.split() == [first]:
        return first
    return _thread_id(info.msg_id, info)


def to_message(
    parsed: ParsedMessage | HeaderInfo,
    *,
    account: str,
    folder: str | None,
    uid: int | None,
    flags: Iterable[str] = (),
    direction: Direction | str = Direction.IN,
    internal_date: float | None = None,
    raw: bytes | None = None,
    put_blob: Callable[[bytes], str] | None = None,
) -> Message:
    """A model `Message` from a full parse or (for the header sync) a HeaderInfo.

    `internal_date` (the IMAP INTERNALDATE) stands in for a missing or unreadable
    Date. An OpenPGP message keeps its raw bytes (`ParsedMessage.raw`) without
    being asked. With `put_blob` (e.g. `Store.store_blob`), attachment bytes are stored
    and their sha256 recorded; without it only the part ids are, for fetching
    on demand. `raw` is kept on the Message (the caller passes it for malformed
    mail, which is shown raw).
    """
    if isinstance(parsed, ParsedMessage):
        info = parsed.headers
        text, malformed = parsed.text, parsed.malformed
        # OpenPGP mail keeps its bytes: it is decrypted or verified when shown.
        raw = parsed.raw if raw is None else raw
        attachments = [
            Attachment(filename=a.filename, content_type=a.content_type, size=a.size,
                       sha256=put_blob(a.data) if put_blob is not None else None,
                       part_id=a.part_id)
            for a in parsed.attachments
        ]
    else:
        info, text, malformed, attachments = parsed, "", False, []
    msg_id = info.msg_id or synthetic_message_id(raw or b"")
    date = info.date if info.date is not None else internal_date
    return Message(
        msg_id=msg_id,
        account=account,
        transport=Transport.EMAIL,
        direction=Direction(direction),
        thread_id=_thread_id(msg_id, info),
        date=date if date is not None else time.time(),
        sender=info.sender or Party(address="", name="", role="from"),
        recipients=[*info.to, *info.cc, *info.bcc],
        subject=info.subject,
        text=text,
        folder=folder,
        uid=uid,
        message_id_header=info.message_id or None,
        in_reply_to=info.in_reply_to or None,
        references=list(info.references),
        flags=set(flags),
        attachments=attachments,
        malformed=malformed,
        raw=raw,
    )


__all__ = [
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "SYNTHETIC_DOMAIN",
    "HeaderInfo",
    "ParsedAttachment",
    "ParsedMessage",
    "content_message_id",
    "decode_bytes",
    "decode_words",
    "header_fields",
    "html_to_text",
    "parse_date",
    "parse_headers",
    "parse_message",
    "split_header",
    "synthetic_message_id",
    "thread_id_of",
    "to_message",
    "unflow",
]
