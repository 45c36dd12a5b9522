"""The engine's transports as ports (bridge.ports.Ports): the one place that
knows which class serves which account.

It reads what it needs of the engine through `PortsHost` (the account lookup,
the store, the bus, the timings and the live XMPP clients), so this module does
not import the engine and the engine's import of it is no circle.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Protocol

from .config import AccountConfig, Config
from .events import EventBus
from .health import Timings
from .model import HealthReport
from .store import Store

if TYPE_CHECKING:
    from .mail.port import MailTransport
    from .xmpp.client import XmppClient
    from .xmpp.port import XmppTransport


class PortsHost(Protocol):
    """What the ports read of the engine that wires them."""

    config: Config
    store: Store
    events: EventBus
    timings: Timings
    mail_refresh: float
    mail_poll: float
    xmpp: dict[str, XmppClient]

    def account(self, name: str | None = None) -> AccountConfig: ...


class EnginePorts:
    """The engine's transports as ports (bridge.ports.Ports): the one place
    that knows which class serves which account."""

    def __init__(self, engine: PortsHost) -> None:
        self._engine = engine
        self._mail: dict[str, MailTransport] = {}
        self._lock = threading.Lock()

    def mail(self, account: str) -> MailTransport:
        with self._lock:
            port = self._mail.get(account)
            if port is None:
                e = self._engine
                t = e.timings
                from .mail.port import (
                    MailTransport,  # on first use: a read-only verb never loads IMAP
                )

                port = MailTransport(e.account(account), e.store, e.events,
                                     retry_delay=e.config.deferral.delay,
                                     refresh=e.mail_refresh, poll=e.mail_poll,
                                     push_check=t.push_check, push_timeout=t.push_timeout,
                                     smtp_timeout=t.smtp_timeout)
                self._mail[account] = port
            return port

    def chat(self, account: str) -> XmppTransport | None:
        client = self._engine.xmpp.get(account)
        if client is None:
            return None
        # Imported here (and below): slixmpp is loaded by the process that goes
        # online for chat, not by every one that builds an engine.
        from .xmpp.port import XmppTransport

        return XmppTransport(client, self._engine.account(account), self._engine.store)

    async def probe_chat(self, account: str, timeout: float) -> HealthReport:
        from .xmpp.port import probe_xmpp

        return await probe_xmpp(self._engine.account(account),
                                self._engine.xmpp.get(account), timeout)

    async def stop_mail(self) -> None:
        await asyncio.gather(*(port.stop() for port in list(self._mail.values())))

    def close(self) -> None:
        for port in list(self._mail.values()):
            port.close()
