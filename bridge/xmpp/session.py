"""An XMPP session on the caller's asyncio loop, with TLS as the config says.

This is the base the XMPP client grows on: it logs in over verified TLS and turns
slixmpp's connection events into one awaitable outcome. A client's session
announces itself (initial presence); a one-shot command's does not, and asks
for its contacts' presence instead (`present`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from typing import Any

import slixmpp
from slixmpp.xmlstream.xmlstream import NotConnectedError

from ..config import ServerConfig
from ..tls import client_context, warn_if_plaintext

BASE_PLUGINS = ("xep_0030", "xep_0199", "xep_0202")
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

# SASL payloads: PLAIN carries the password in base64, SCRAM a proof derived from it.
_SASL_PAYLOAD = re.compile(
    r"(<(auth|response|challenge|success)\b[^>]*" + re.escape(NS_SASL) + r"[^>]*>)[^<]*(</\2>)"
)


class _RedactSasl(logging.Filter):
    """Keeps SASL payloads out of slixmpp's debug log of every byte sent and read."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and NS_SASL in str(record.args):
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                _SASL_PAYLOAD.sub(r"\1**REDACTED**\3", a if isinstance(a, str) else str(a))
                if NS_SASL in str(a) else a
                for a in args
            )
        return True


class _GoneWhileSending(logging.Filter):
    """Drops slixmpp's traceback for a stanza its send queue held when the
    connection was already gone (NotConnectedError: a stop or a drop between the
    queue and the socket). Not an error of ours to print: what was not sent is the
    delivery layer's to know (stream management's unacked queue, the outbox's
    rows), and a daemon stopped by SIGINT printed a traceback for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (record.getMessage().startswith("Exception raised in send queue")
                    and isinstance(error, NotConnectedError))


_redact = _RedactSasl()
_gone = _GoneWhileSending()
for _name in ("slixmpp.xmlstream.xmlstream", "slixmpp.xmlstream"):
    if _redact not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_redact)
if _gone not in logging.getLogger("slixmpp.xmlstream.xmlstream").filters:
    logging.getLogger("slixmpp.xmlstream.xmlstream").addFilter(_gone)


class _Iq(slixmpp.Iq):
    """slixmpp's Iq, answering a request no handler takes with service-unavailable
    (RFC 6120 §8.4: a namespace we do not understand), where slixmpp says
    feature-not-implemented (which claims we know the namespace)."""

    def unhandled(self) -> None:
        if self["type"] in ("get", "set"):
            reply = self.reply()
            reply["error"]["type"] = "cancel"
            reply["error"]["condition"] = "service-unavailable"
            reply.send()


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
        present: bool = True,
    ) -> None:
        super().__init__(jid, password)
        self.remove_stanza(slixmpp.Iq)
        self.register_stanza(_Iq)
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
        # Our presence as last set (show, status, priority): a new session starts
        # with it, not with plain "available".
        self.own_presence: dict[str, Any] = {}
        # Whether the session announces itself (an initial presence): a client
        # (the app, `serve`, `watch`, `run`) does; a one-shot command does not,
        # so contacts see no "online" then "offline" for each command (RFC 6121
        # §4.2: a session may have none), and the server keeps what waits offline
        # for the client. `announced`: this session sent one.
        self.present = present
        self.announced = False
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_auth", self._on_failed)
        self.add_event_handler("failed_all_auth", self._on_no_login)
        self.add_event_handler("connection_failed", self._on_failed)
        # A STARTTLS certificate that does not verify: refuse with the reason
        # (slixmpp would otherwise just drop the connection without saying why).
        self.add_event_handler("ssl_invalid_chain", self._on_invalid_certificate)

    def _settle(self, error: BaseException | None) -> None:
        if self._ready is not None and not self._ready.done():
            if error is None:
                self._ready.set_result(None)
            else:
                self._ready.set_exception(error)

    async def _on_session_start(self, _event: object) -> None:
        # The roster before the initial presence (RFC 6121 §2.2): the messages held
        # for us come at that presence, and who gets a receipt depends on it.
        await self.get_roster()
        if "xep_0115" in self.plugin:
            # Our entity capabilities hash (XEP-0115), computed from what the plugins
            # announce, so the presence below carries it: without it, contacts'
            # clients never learn what we support (receipts, corrections, ...).
            await self.plugin["xep_0115"].update_caps(broadcast=False)
        self.announced = self.present
        if self.present:
            self.send_presence(**self.own_presence)
        else:
            self._probe_contacts()
        self._settle(None)

    def _probe_contacts(self) -> None:
        """Ask for the presence of the contacts we may see (subscription to or
        both), as the server does at an initial presence (RFC 6121 §4.3): a
        session without one still knows who is available (a send's deferral
        asks). Probes by a client are routed and answered to its full JID by
        Prosody and ejabberd; the contact's server answers them, the contact
        sees nothing. slixmpp's send_presence with ptype "probe"."""
        roster = self.client_roster
        for jid in list(roster):
            if roster[jid]["subscription"] in ("to", "both"):
                self.send_presence(pto=jid, ptype="probe")

    def _on_failed(self, event: object) -> None:
        # failed_auth carries the SASL failure stanza, connection_failed an error.
        if isinstance(event, ssl.SSLError):
            what = f"TLS failed: {event}"
        else:
            what = str(event) if isinstance(event, (BaseException, str)) else "login refused"
        self._settle(XmppLoginError(f"{self._where()}: {what}"))

    def _on_no_login(self, _event: object) -> None:
        self._settle(XmppLoginError(
            f"{self._where()}: login refused, or no login method we accept on this connection"))

    def _on_invalid_certificate(self, error: object) -> None:
        self._refuse(f"{self._where()}: TLS failed: {error}")

    def _refuse(self, why: str) -> None:
        """End this connection for a security reason, and say why."""
        self._settle(XmppLoginError(why))
        self.disconnect_reason = why
        self.abort()

    def _encrypted(self) -> bool:
        return "starttls" in self.features or isinstance(
            self.socket, (ssl.SSLSocket, ssl.SSLObject))

    async def _handle_stream_features(self, features: object) -> bool | None:
        # slixmpp goes on to SASL or resource binding when a server leaves STARTTLS
        # out; someone in the middle who strips it would then read everything.
        if self.server_config.tls != "plain" and not self._encrypted():
            offered = features["features"]  # type: ignore[index]
            if "starttls" not in offered or not self.enable_starttls:
                self._refuse(
                    f"{self._where()} does not offer STARTTLS; refusing to log in without TLS")
                return True
        return await super()._handle_stream_features(features)  # type: ignore[arg-type]

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
        warn_if_plaintext("XMPP", self.server_config)
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
