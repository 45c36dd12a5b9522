"""The SQLite store: messages of both transports, threads, contacts, outbox, events.

One database file per data directory, in WAL mode so a reader (the screen) never
waits for a writer (a sync). The API is synchronous: the engine calls it from its
worker threads (and from the event loop for quick reads). A Store holds one
connection guarded by a lock, so it can be shared between threads; other processes
(a headless run beside the TUI) are serialised by SQLite's own locking.

`Store` is the one facade everyone imports; each aggregate lives in a module of
its own, with its SQL and its rules:

    db.py          the connection, its lock, and the transaction helpers (`Db`)
    messages.py    storing messages once; flags, delivery, bodies, digests
    search.py      reading messages back: by row, id, thread, folder, full text
    threads.py     thread rows kept up to date, listed in an order; who takes part
    conversations.py  archived, deleted or muted here (not on a server)
    list_window.py the conversation list as a window: counts, rows at a position
    claims.py      when two messages with one id are one message
    headers.py     header sync's bulk import and the index backlog
    folders.py     accounts, folders, and mail locations (folder, uid) -> row
    contacts.py    contacts and their addresses; who counts as one person
    outbox.py      outbox rows, their log, and claims on them between processes
    event_log.py   the kept events that `watch` follows
    edits.py       chat lines corrected, retracted, reacted to after they came
    attachments.py attachment files (`blobs.BlobStore`) and their pruning

Why mixins and not composition: the store's surface is some seventy methods that
the engine, the transports, the front ends and the tests call as `store.name(...)`;
composing per-aggregate objects would mean either a delegating line for each (a
second list to keep in step) or changing every caller to `store.outbox.add(...)`.
Each aggregate is instead a subclass of `Db` that only uses `Db`'s connection and
transaction helpers, so mypy checks it alone and no aggregate calls another's
methods through `self`. Work that spans aggregates inside one transaction (an
outbox row with its message, a removal that recounts threads) calls the other
module's functions with the open connection (`messages.insert_batch(conn, ...)`,
`threads.recompute_threads(conn, ...)`), so the dependency is an import you can see.
"""

from __future__ import annotations

from .attachments import AttachmentFiles
from .claims import Claim, Claims, distinct_msg_id, same_message
from .contacts import Contacts, normalize_address, same_person
from .conversations import ConversationState
from .edits import Edits, Reaction, Revision
from .event_log import EventLog
from .folders import Folders
from .headers import Headers
from .list_window import ListWindow
from .messages import Messages
from .outbox import Outbox
from .search import Search
from .threads import Threads

__all__ = ["Claim", "Reaction", "Revision", "Store", "distinct_msg_id", "normalize_address",
           "same_message", "same_person"]


class Store(Messages, Search, Threads, Headers, Folders, Claims, Contacts, Outbox, EventLog,
            AttachmentFiles, Edits, ConversationState, ListWindow):
    """The app's database; make one with `Store.open(path)`."""
