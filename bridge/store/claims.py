"""A message's claim to its id, and when two messages with one id are one message.

A message is a message: two different emails that share a Message-ID (or lack one)
are two messages; only the same bytes seen in two places, or the same id seen on
both transports from one person (or from us), merge. A message whose id another
holds gets an id of its own (`distinct_msg_id`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from ..model import Direction, Message, Transport
from ..record import Record
from .contacts import same_person
from .db import Db, to_json

# A row's claim to its msg_id: enough to tell whether another message with that id
# is the same one.
CLAIM_COLUMNS = "id, msg_id, transport, direction, sender_address, digest, folder"


class Claim(Record):
    __slots__ = (
        "digest",
        "direction",
        "folder",
        "msg_id",
        "row_id",
        "sender_address",
        "transport",
    )
    row_id: int
    msg_id: str
    transport: str
    direction: str
    sender_address: str
    digest: str | None
    folder: str | None

    def __init__(
        self, row_id: int, msg_id: str, transport: str, direction: str, sender_address: str,
        digest: str | None, folder: str | None,
    ) -> None:
        self.row_id = row_id
        self.msg_id = msg_id
        self.transport = transport
        self.direction = direction
        self.sender_address = sender_address
        self.digest = digest
        self.folder = folder


def distinct_msg_id(msg_id: str, transport: str, sender: str, digest: str | None,
                    n: int = 1) -> str:
    """The id of a message whose id another, different message holds already.

    From its content where the bytes are known (the same bytes come back to the
    same id, in any folder, on any device), else from its transport and sender (a
    chat line resent by the same sender comes back to the same id). The shared id
    stays in message_id_header / origin_id, where lookups find both."""
    import hashlib  # here: a store that only reads needs none (issue 22)

    key = digest or hashlib.sha256(f"{transport}\0{sender.strip().lower()}".encode()
                                   ).hexdigest()
    return f"{msg_id}#{key[:16]}" + (f".{n}" if n > 1 else "")


def same_as_claim(conn: sqlite3.Connection, m: Message, old: Claim) -> bool:
    return same_message(conn, m.transport.value, m.direction.value, m.sender.address,
                        m.digest, old)


def same_message(conn: sqlite3.Connection, transport: str, direction: str, sender: str,
                 digest: str | None, old: Claim) -> bool:
    """Whether `m` is the stored message `old`, whose msg_id it carries.

    Two emails are the same when their bytes are (the same message in two
    folders); otherwise (the same id on both transports, or bytes not known) when
    both are ours, or both came from one person. A stranger's chat line that
    reuses an email's Message-ID as its origin-id stays a message of its own."""
    if transport == old.transport == Transport.EMAIL.value and digest and old.digest:
        return digest == old.digest
    if direction == old.direction == Direction.OUT.value:
        return True
    if direction != old.direction:
        return False
    return same_person(conn, sender, old.sender_address)


class Claims(Db):
    """The sync's questions about ids it already holds."""

    def claims(self, account: str, msg_ids: Iterable[str]
               ) -> dict[str, tuple[Claim, list[tuple[str, int]]]]:
        """The stored messages that hold these ids, each with its places on the
        server ((folder, uid), first by folder and uid): what a sync needs to tell
        whether an email with a known Message-ID is that message."""
        out: dict[str, tuple[Claim, list[tuple[str, int]]]] = {}
        with self._read() as conn:
            for r in conn.execute(
                    f"SELECT {CLAIM_COLUMNS} FROM messages WHERE account = ? "
                    "AND msg_id IN (SELECT value FROM json_each(?))",
                    (account, to_json(list(msg_ids)))).fetchall():
                places = conn.execute("SELECT folder, uid FROM mail_locations WHERE message = ? "
                                      "ORDER BY folder, uid", (r[0],)).fetchall()
                out[r[1]] = (Claim(*r), [(f, u) for f, u in places])
        return out

    def is_same_message(self, transport: str, direction: str, sender: str,
                        digest: str | None, old: Claim) -> bool:
        """`same_message` on this store's contacts."""
        with self._read() as conn:
            return same_message(conn, transport, direction, sender, digest, old)
