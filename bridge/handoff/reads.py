"""What the handoff reads of the store: a message, a conversation across both
transports, the full-text index caught up, a body fetched when missing.

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

if TYPE_CHECKING:
    from ..ports import Ports
    from ..store import Store


def message(store: Store, row_id: int) -> Message:
    """A stored message by row id; EngineError when there is none."""
    m = store.get_message(row_id)
    if m is None:
        raise EngineError(refuse.message_gone())
    return m


def timeline(store: Store, account: str, thread_id: str) -> list[Message]:
    """A conversation as one list across both transports, oldest first.

    A message seen through both transports (one message id) appears once: the
    copy with the furthest delivery state and a body wins.
    """
    seen: dict[str, Message] = {}
    for m in store.thread_messages(thread_id, account):
        old = seen.get(m.msg_id)
        if old is None or (not old.text and m.text):
            seen[m.msg_id] = m
    return sorted(seen.values(), key=lambda m: (m.date, m.id or 0))


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
