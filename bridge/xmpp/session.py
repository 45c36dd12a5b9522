"""An XMPP session on the caller's asyncio loop, with TLS as the config says.

This is the base the XMPP client grows on: it logs in over verified TLS and turns
slixmpp's connection events into one awaitable outcome.
"""

from __future__ import annotations

import asyncio
import contextlib

import slixmpp

from ..config import ServerConfig
from ..tls import client_context

BASE_PLUGINS = ("xep_0030", "xep_0199")


class XmppLoginError(Exception):
    """The server could not be reached, TLS failed, or the login was refused."""


class XmppSession(slixmpp.ClientXMPP):
    def __init__(
        self,
        jid: str,
        password: str,
        server: ServerConfig,
        plugins: tuple[str, ...] = BASE_PLUGINS,
        plugin_config: dict[str, dict[str, object]] | None = None,
        max_backoff: float = 60.0,
    ) -> None:
        super().__init__(jid, password)
        self.max_backoff = max_backoff
        self.server_config = server
        self.ssl_context = client_context(server.ca_file)
        # Exactly the TLS mode configured: no fallback to a weaker one.
        self.enable_direct_tls = server.tls == "tls"
        self.enable_starttls = server.tls == "starttls"
        self.enable_plaintext = server.tls == "plain"
        for plugin in plugins:
            self.register_plugin(plugin, (plugin_config or {}).get(plugin))
        self._ready: asyncio.Future[None] | None = None
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_auth", self._on_failed)
        self.add_event_handler("connection_failed", self._on_failed)

    def _settle(self, error: BaseException | None) -> None:
        if self._ready is not None and not self._ready.done():
            if error is None:
                self._ready.set_result(None)
            else:
                self._ready.set_exception(error)

    async def _on_session_start(self, _event: object) -> None:
        self.send_presence()
        await self.get_roster()
        self._settle(None)

    def _on_failed(self, event: object) -> None:
        # failed_auth carries the SASL failure stanza, connection_failed an error.
        what = str(event) if isinstance(event, (BaseException, str)) else "login refused"
        self._settle(XmppLoginError(f"{self._where()}: {what}"))

    def _where(self) -> str:
        return f"XMPP {self.boundjid.bare} via {self.server_config.host}:{self.server_config.port}"

    def reschedule_connection_attempt(self) -> asyncio.Future | None:
        # slixmpp doubles its wait up to five minutes; a chat client that was offline
        # for a minute should not stay away for another four.
        future = super().reschedule_connection_attempt()
        self._connect_loop_wait = min(self._connect_loop_wait, self.max_backoff)
        return future

    async def start(self, timeout: float = 30.0) -> None:
        """Connect and log in; raise XmppLoginError when that fails."""
        self._ready = asyncio.get_running_loop().create_future()
        self.connect(self.server_config.host, self.server_config.port)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            self.disconnect()
            raise XmppLoginError(
                f"{self._where()}: no session within {timeout:.0f}s (server down, or TLS refused)"
            ) from None
        except XmppLoginError:
            self.abort()
            raise

    async def stop(self) -> None:
        await self.disconnect(wait=2.0)
        # slixmpp leaves its outgoing-filter task waiting for the next stanza; end it
        # here, on its own loop, rather than in a destructor after the loop is gone.
        task = self._run_out_filters
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._run_out_filters = None
