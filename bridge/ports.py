"""The ports: what the house asks of a transport, in the house's words.

Policy (bridge.outbox, bridge.health, bridge.handoff) talks to a transport only
through these protocols; mail (bridge.mail.port) and XMPP (bridge.xmpp.port,
over XmppClient) implement them, and the engine wires them in. Everything
protocol-shaped (IMAP folders and commands, SMTP, stanzas, JIDs' resources)
stays below them.

`Transport` is what both have: start, stop, send a leg, fetch a body, mark read,
availability and a health probe. `MailPort` and `ChatPort` add what only one of
them can do (the Deferred folder lives in mail; the server's archive and
receipts are chat's). `Ports` finds an account's ports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage
from typing import Any, Protocol, TypeVar

from .crypto.status import OmemoDevice
from .model import Attachment, ContactPresence, HealthReport, ImPlan, Message

T = TypeVar("T")


class Transport(Protocol):
    """One transport of one account."""

    @property
    def account(self) -> str: ...

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def fetch_body(self, row_id: int) -> None:
        """Make the store hold the message's body (and its files' bytes)."""

    async def mark_read(self, row_id: int, *, tell: bool = True) -> None: ...

    def availability(self, address: str) -> ContactPresence: ...

    async def probe(self, timeout: float) -> list[HealthReport]:
        """One report per server of this transport."""


class MailPort(Transport, Protocol):
    """An account's mail: a leg is a finished email, kept in the outbox first."""

    async def send_leg(self, mail: EmailMessage, msg_id: str) -> int:
        """Queue `mail` durably and send it as soon as possible; its outbox id."""

    async def send_due(self) -> None:
        """Send the emails that are due now (wake the worker, or send here)."""

    def wake(self) -> None:
        """Wake the account's mail worker, if it runs, for a pass now."""

    async def fetch_part(self, row_id: int, position: int) -> None:
        """One file of a message over the body limit, into the store."""

    async def set_flag(self, folder: str, uid: int, flag: str, on: bool) -> None: ...

    async def fetch_headers(self, row_id: int, names: Sequence[str]) -> dict[str, str]: ...

    async def run(self, job: Callable[[Any], T]) -> T:
        """An IMAP job on the account's on-demand connection, in a thread."""

    async def deferred_put(self, folder: str, raw: bytes) -> None: ...

    async def deferred_remove(self, folder: str, msg_id: str) -> int: ...

    async def deferred_read(self, folder: str) -> list[Any]:
        """Every `bridge.mail.deferred.DeferredCopy` of the folder."""

    def push_alive(self) -> bool | None:
        """Whether the push channel (IDLE) works; None when there is none yet."""

    def probe_imap(self, timeout: float, skew: float | None = None) -> HealthReport:
        """Blocking (run it in a thread); `skew` as last measured in normal use."""

    def probe_smtp(self, timeout: float) -> HealthReport:
        """Blocking (run it in a thread)."""


class ChatPort(Transport, Protocol):
    """An account's chat: a leg is an `ImPlan` with every id fixed."""

    @property
    def own(self) -> str: ...

    @property
    def domain(self) -> str: ...

    @property
    def resend_window(self) -> float:
        """How long after the server's ack a line may still go again (no receipt)."""

    @property
    def resend_tries(self) -> int:
        """How many times at most a line the server acked goes again."""

    async def send_leg(self, plan: ImPlan, skip: frozenset[str] = frozenset()
                       ) -> list[Message]: ...

    # OMEMO (bridge/xmpp/omemo.py): refuse unless `jid` can be written to
    # encrypted now; the devices (ours, theirs) with fingerprints and trust.
    async def omemo_ready(self, jid: str) -> None: ...

    # The same for a room: members-only, non-anonymous, every member a device.
    async def omemo_ready_room(self, room: str) -> None: ...

    async def omemo_devices(self, jids: list[str]) -> list[OmemoDevice]: ...

    async def omemo_trust(self, jid: str, device: str, level: str) -> OmemoDevice: ...

    async def on_server(self, peer: str, msg_ids: Iterable[str], since: float, *,
                        room: bool = False) -> set[str] | None:
        """Which of `msg_ids` the server's archive holds (None: cannot tell)."""

    async def answers_receipts(self, jid: str) -> bool: ...

    def forget(self, msg_ids: Iterable[str]) -> None:
        """Stop resending these: another transport took them."""

    def rooms(self) -> set[str]:
        """The rooms this account is in, or was in and will rejoin."""

    def occupants(self, room: str) -> list[str]:
        """The bare JIDs of a room's occupants (those the room shows)."""

    def knows(self, jid: str) -> bool:
        """Whether `jid` is on the roster or already chats with this account."""

    def thread_with(self, jid: str) -> str | None:
        """The conversation a chat with `jid` is in now, if one is bound."""

    def room_for_thread(self, thread_id: str) -> str | None:
        """The room a thread was handed off to, if any."""

    async def muc_service(self) -> str: ...

    async def download(self, row_id: int) -> list[Attachment]:
        """A chat line's files, fetched into the store."""


class Ports(Protocol):
    """How policy finds an account's transports."""

    def mail(self, account: str) -> MailPort:
        """Raises EngineError when the account has no mail server."""

    def chat(self, account: str) -> ChatPort | None:
        """None when the account has no running chat connection."""

    async def probe_chat(self, account: str, timeout: float) -> HealthReport:
        """The chat server's health, through the running connection or one of
        the probe's own when there is none."""

