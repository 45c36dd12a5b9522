"""MailSync's writes to a mailbox: flags, moves, APPEND.

A part of `bridge.mail.sync.MailSync` (a mixin over its connection). Each write
is followed by what the store must learn of it (the flags the server now has,
the places a move emptied); an APPEND says where the new message is (`Appended`:
its UID when the server names it, UIDPLUS) and measures the server's clock then.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import imapclient

from ..events import ClockMeasured, EventBus
from .imap_fetch import stored_flags

if TYPE_CHECKING:
    from ..config import AccountConfig
    from ..store import Store

# UIDPLUS (RFC 4315): the answer to APPEND names the new message.
APPENDUID = re.compile(r"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


@dataclass(frozen=True)
class Appended:
    """Where an APPEND put a message: its folder, and its UID with the folder's
    UIDVALIDITY when the server said (APPENDUID, read only from a server that
    offers UIDPLUS: Dovecot with the capability hidden still sends it)."""

    folder: str
    uidvalidity: int | None = None
    uid: int | None = None


class MailboxWrites:
    """Flags, moves and appends (a part of MailSync)."""

    if TYPE_CHECKING:  # MailSync's connection, store, bus and clock
        account: AccountConfig
        store: Store
        events: EventBus
        clock: Callable[[], float]

        def connect(self) -> imapclient.IMAPClient: ...

        def _examine(self, folder: str) -> dict[bytes, Any]: ...

    def set_flags(self, folder: str, uids: list[int], flags: list[str], add: bool) -> None:
        client = self.connect()
        client.select_folder(folder)
        if add:
            client.add_flags(uids, flags, silent=True)
        else:
            client.remove_flags(uids, flags, silent=True)
        current = client.get_flags(uids)
        self.store.update_flags_by_uid(
            self.account.name, folder,
            {u: stored_flags(fl) for u, fl in current.items()})

    def move(self, folder: str, uids: list[int], target: str) -> None:
        client = self.connect()
        client.select_folder(folder)
        if b"MOVE" in client.capabilities():
            client.move(uids, target)
        else:
            client.copy(uids, target)
            client.delete_messages(uids)
            client.uid_expunge(uids)
        self.store.remove_mail_locations(self.account.name, folder, uids)

    def append(self, folder: str, raw: bytes,
               flags: tuple[str, ...] = ("\\Seen",)) -> Appended:
        """APPEND `raw` to `folder` (created when missing), stamped by the server;
        returns where it went (`Appended`: its UID, when the server names it).

        The stamp is the server's clock: with no date of ours, the server sets the new
        message's INTERNALDATE to the moment it took it (RFC 3501 6.3.11). When the
        server names the message (UIDPLUS's APPENDUID), its INTERNALDATE against the
        middle of our round trip is the clock skew, published as `ClockMeasured`.
        IMAP has no command that reads the server's clock; this is the one moment a
        client learns it without writing anything for the purpose.
        """
        client = self.connect()
        sent = self.clock()
        try:
            answer = client.append(folder, raw, flags=flags, msg_time=None)
        except imapclient.exceptions.IMAPClientError:
            client.create_folder(folder)
            sent = self.clock()
            answer = client.append(folder, raw, flags=flags, msg_time=None)
        back = self.clock()
        text = answer.decode("ascii", "replace") if isinstance(answer, bytes) else str(answer)
        found = APPENDUID.search(text)
        placed = Appended(folder)
        if found is not None and b"UIDPLUS" in client.capabilities():
            placed = Appended(folder, int(found.group(1)), int(found.group(2)))
        with suppress(OSError, imapclient.exceptions.IMAPClientError, ValueError):
            skew = self._append_skew(folder, answer, (sent + back) / 2)
            if skew is not None:
                self.events.publish(ClockMeasured(self.account.name, "imap", skew))
        return placed

    def _append_skew(self, folder: str, answer: bytes | str, middle: float) -> float | None:
        text = answer.decode("ascii", "replace") if isinstance(answer, bytes) else str(answer)
        found = APPENDUID.search(text)
        if found is None:
            return None
        uid = int(found.group(2))
        self._examine(folder)
        stamp = self.connect().fetch([uid], [b"INTERNALDATE"]).get(uid, {}).get(b"INTERNALDATE")
        if not isinstance(stamp, datetime.datetime):
            return None
        # INTERNALDATE counts whole seconds: the moment lies within the second it names.
        return stamp.timestamp() + 0.5 - middle
