"""Every message shown once: which stored rows a reader takes as one message, and
which are not the reader's to see again.

The store keeps a row for each place an email has (a message is a message:
different bytes under one Message-ID are two rows, see claims.py), and a row for
each chat line we sent. Two of those are not what a reader counts:

- Our own email in two folders under one Message-ID: a note to self is in INBOX
  (as delivered, with the server's trace headers, so other bytes) and in Sent.
  Both rows stay, each the place that triage acts on (deleting the INBOX copy
  leaves the Sent one), but they are one message to the reader, as notmuch and
  aerc's threads show it: `reader_key` is the Message-ID they share. Only our
  own (direction out, and no draft): from anyone else two messages under one id
  stay two, so a stranger's mail cannot take a real one's place.
- The digest of earlier messages that a handoff sends ahead of the new text into
  a chat (`carried_history`): it is for the peer, who has not seen them; our own
  conversation shows those messages already, so it is kept (delivery, resend,
  the archive's copy) but neither shown nor counted. A peer's digest to us is shown.

The conversation's reads (bridge.handoff.reads.timeline) and the list's counts
(threads.py: `ThreadDelta`, `recompute_threads`) say the same through these, in
Python and in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..model import DRAFT, HISTORY_HEAD, Direction, Message, Transport
from .db import to_json

_DRAFT_JSON = to_json(DRAFT)  # the flag as it stands in a row's flags JSON
# `carried_history` of a `messages` row, in SQL.
CARRIED_SQL = ("(transport = 'xmpp' AND direction = 'out' AND "
               f"substr(coalesce(body, ''), 1, {len(HISTORY_HEAD)}) = '{HISTORY_HEAD}')")
# `reader_key` of a `messages` row, in SQL.
READER_KEY_SQL = ("(CASE WHEN transport = 'email' AND direction = 'out' AND "
                  f"instr(flags, '{_DRAFT_JSON}') = 0 THEN coalesce(message_id_header, msg_id)"
                  " ELSE msg_id END)")


def carried_history(m: Message) -> bool:
    """Our own digest of earlier messages, sent ahead of a chat handoff's text."""
    return m.transport is Transport.XMPP and m.direction is Direction.OUT and \
        m.text.startswith(HISTORY_HEAD)


def own_copy(m: Message) -> bool:
    """An email of ours that may have a twin in another folder (not a draft: the
    versions of a draft are the writer's to tell apart)."""
    return m.transport is Transport.EMAIL and m.direction is Direction.OUT and \
        DRAFT not in m.flags


def reader_key(m: Message) -> str:
    """What makes two rows one message to the reader: the id, and for our own
    emails the Message-ID they share (a twin's id is made distinct by the store)."""
    return (m.message_id_header or m.msg_id) if own_copy(m) else m.msg_id


def shown_once(messages: Iterable[Message]) -> list[Message]:
    """A conversation's rows as the reader sees them, in their order: one row
    for each message (the first with a body, else the first), no digest of ours."""
    chosen: dict[str, Message] = {}
    for m in messages:
        if carried_history(m):
            continue
        key = reader_key(m)
        old = chosen.get(key)
        if old is None or (not old.text and m.text):
            chosen[key] = m
    return list(chosen.values())


def twin(m: Message) -> bool:
    """Whether an email about to be stored may be the twin of one of ours: its id
    was made distinct from the Message-ID it carries (claims.distinct_msg_id).
    Its thread is counted again after the write (`recompute_threads`)."""
    return own_copy(m) and m.message_id_header is not None and \
        m.msg_id != m.message_id_header


def twin_threads(rows: Iterable[tuple[Any, ...]]) -> set[tuple[str, str]]:
    """(account, thread id) of the header rows (`Headers.email_header_row`) that
    are twins as `twin` says."""
    out = Direction.OUT.value  # (a local: this runs over every row of a sync's batch)
    return {(r[0], r[4]) for r in rows if r[6] == out and r[12] is not None
            and r[3] != r[12] and _DRAFT_JSON not in r[15]}
