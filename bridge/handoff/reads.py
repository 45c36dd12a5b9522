"""What the handoff reads of the store: a message, a conversation across both
transports (each message once), the full-text index caught up, a body fetched
when missing.

Light on purpose: the engine's reads (bridge.engine_reads) answer the app's
first screens with these without building the `Handoff` (reply.py), whose
modules the first frame and INBOX's first rows do not need (issue 22, rows 1
and 6); the `Handoff`'s own reads are these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors as refuse
from ..errors import EngineError
from ..model import Message, Transport
from ..store.once import carried_history, reader_key, shown_once

if TYPE_CHECKING:
    from ..ports import Ports
    from ..store import Store


def message(store: Store, row_id: int) -> Message:
    """A stored message by row id; EngineError when there is none."""
    m = store.get_message(row_id)
    if m is None:
        raise EngineError(refuse.message_gone())
    return m


def timeline(store: Store, account: str, thread_id: str, *,
             copies: bool = False) -> list[Message]:
    """A conversation as one list across both transports, oldest first.

    Each message once, as its reader counts them (bridge.store.once): our own
    email in two folders (a note to self: INBOX and Sent) is one message, the
    copy with a body wins; our digest of earlier messages sent ahead of a chat
    handoff is the peer's, not shown. `copies`: every row of ours instead (the
    twins too), for triage, which acts on each place.
    """
    rows = store.thread_messages(thread_id, account)
    shown = [m for m in rows if not carried_history(m)] if copies else shown_once(rows)
    return sorted(shown, key=lambda m: (m.date, m.id or 0))


def copies_of(store: Store, m: Message) -> list[Message]:
    """The stored rows that are the message `m` to its reader (bridge.store.once):
    itself and our own twins in other folders, oldest first."""
    key = reader_key(m)
    return [c for c in timeline(store, m.account, m.thread_id, copies=True)
            if reader_key(c) == key]


def catch_up_index(store: Store) -> None:
    """The rows a bulk import left for the full-text index, indexed."""
    while store.index_pending() and store.index_backlog():
        pass


async def fetch_body(store: Store, ports: Ports, row_id: int) -> Message:
    """The message with its body, fetched (BODY.PEEK) and cached if needed."""
    m = message(store, row_id)
    if m.transport is Transport.EMAIL and m.uid is not None and not store.has_body(row_id):
        await ports.mail(m.account).fetch_body(row_id)
        m = message(store, row_id)
    return m
