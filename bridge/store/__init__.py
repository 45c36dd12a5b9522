"""The SQLite store: messages, threads, attachments, contacts, outbox and events."""

from .query import QueryError
from .records import (
    Account,
    Contact,
    ContactAddress,
    Cursor,
    Folder,
    OutboxItem,
    OutboxLogEntry,
    StoredEvent,
    Thread,
)
from .schema import MIGRATIONS, SchemaTooNewError, StoreError, migrate
from .store import Reaction, Revision, Store, normalize_address

__all__ = [
    "MIGRATIONS",
    "Account",
    "Contact",
    "ContactAddress",
    "Cursor",
    "Folder",
    "OutboxItem",
    "OutboxLogEntry",
    "QueryError",
    "Reaction",
    "Revision",
    "SchemaTooNewError",
    "Store",
    "StoreError",
    "StoredEvent",
    "Thread",
    "migrate",
    "normalize_address",
]
