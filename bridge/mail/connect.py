"""Opening IMAP and SMTP connections as a server's config says, and logging in.

`tls = "tls"` is implicit TLS, `"starttls"` upgrades and refuses a server that does
not offer it (no silent downgrade), `"plain"` is plaintext and only on request.

`login_imap` and `login_smtp` are the one way in to an account's servers: sync and
IDLE, the on-demand connection of triage and drafts, sending, and the health
probes all log in through them. They take the username and the mechanism from
the config (`auth`: a password, or an XOAUTH2 / OAUTHBEARER bearer token) and the
secret from a callable (`bridge.config.get_password`, which runs the token_command
for a token). A token the server refuses is asked for once more (the command runs
again: a helper renews a token that expired since it cached it) and tried once
more; a second refusal is a `LoginRefused` that says so. `open_imap` and
`open_smtp` are one attempt with a secret in hand.

Every call blocks: the engine runs them in worker threads. No message here
holds a password or a token.
"""

from __future__ import annotations

import contextlib
import functools
import imaplib
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import imapclient

from ..config import AccountConfig, ServerConfig, auth_mechanism, get_password
from ..tls import client_context, warn_if_plaintext
from .auth import SASL_NAMES, BearerAuth

if TYPE_CHECKING:
    import smtplib  # imported by the SMTP calls: not on the path of INBOX's first page

TIMEOUT = 30.0
T = TypeVar("T")


class ConnectError(Exception):
    """A server could not be reached, refused TLS, or refused our login."""


class LoginRefused(ConnectError):
    """The server refused our credentials (its words contain "login refused").
    `retry`: whether a fresh secret could change its answer (not when the server
    does not offer the mechanism at all)."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def _server_name(server: ServerConfig) -> str:
    return f"{server.host}:{server.port}"


def _how(mechanism: str) -> str:
    return "" if mechanism == "password" else f" ({SASL_NAMES[mechanism]} token)"


def login_imap(account: AccountConfig, secret: Callable[[], str] | None = None, *,
               timeout: float = TIMEOUT) -> imapclient.IMAPClient:
    """Log in to the account's IMAP server as its config says; the caller logs
    out. `secret` gives the password or token (default: `get_password`)."""
    server = account.imap
    if server is None:
        raise ValueError(f"account {account.name} has no IMAP server")
    username = server.username or account.email or ""
    return _login(account, "imap", secret, lambda password, mechanism: open_imap(
        server, username, password, timeout=timeout, mechanism=mechanism))


def login_smtp(account: AccountConfig, secret: Callable[[], str] | None = None, *,
               timeout: float = TIMEOUT) -> smtplib.SMTP:
    """Connect, secure and log in to the account's SMTP server; the caller quits."""
    server = account.smtp
    if server is None:
        raise ValueError(f"account {account.name} has no SMTP server")
    username = server.username or account.email or ""
    return _login(account, "smtp", secret, lambda password, mechanism: open_smtp(
        server, username, password, timeout=timeout, mechanism=mechanism))


def _login(account: AccountConfig, service: str, secret: Callable[[], str] | None,
           attempt: Callable[[str, str], T]) -> T:
    mechanism = auth_mechanism(account, service)
    ask = secret or functools.partial(get_password, account, service)
    try:
        return attempt(ask(), mechanism)
    except LoginRefused as exc:
        if mechanism == "password" or not exc.retry:
            raise
        first = exc
    # The token was refused: most often it expired after the helper cached it.
    # Ask once more (the command runs again) and try once more, no further.
    try:
        return attempt(ask(), mechanism)
    except LoginRefused as exc:
        raise LoginRefused(f"{exc}, again after token_command ran a second time",
                           retry=False) from first


def open_imap(
    server: ServerConfig, username: str, password: str, *, timeout: float = TIMEOUT,
    mechanism: str = "password",
) -> imapclient.IMAPClient:
    """Connect and log in to an IMAP server; the caller logs out. `mechanism`:
    "password" (LOGIN), or "xoauth2" / "oauthbearer" with `password` the token."""
    warn_if_plaintext("IMAP", server)
    ctx = client_context(server.ca_file)
    try:
        client = imapclient.IMAPClient(
            server.host, port=server.port, ssl=server.tls == "tls", ssl_context=ctx, timeout=timeout
        )
    except ssl.SSLError as exc:
        raise ConnectError(f"IMAP {_server_name(server)}: TLS failed: {exc}") from exc
    except OSError as exc:
        raise ConnectError(f"IMAP {_server_name(server)}: cannot connect: {exc}") from exc
    try:
        if server.tls == "starttls":
            if b"STARTTLS" not in client.capabilities():
                raise ConnectError(
                    f"IMAP {_server_name(server)} does not offer STARTTLS; "
                    f"refusing to log in without TLS"
                )
            client.starttls(ctx)
        _imap_login(client, server, username, password, mechanism)
    except ConnectError:
        _shutdown(client)
        raise
    except ssl.SSLError as exc:
        _shutdown(client)
        raise ConnectError(f"IMAP {_server_name(server)}: TLS failed: {exc}") from exc
    except imapclient.exceptions.LoginError as exc:
        _shutdown(client)
        if isinstance(exc.__context__, imaplib.IMAP4.abort):
            # imapclient reports a connection lost during LOGIN as a LoginError:
            # that is the network, not the server saying no.
            raise ConnectError(f"IMAP {_server_name(server)}: connection lost during login: "
                               f"{exc.__context__}") from exc
        raise LoginRefused(f"IMAP {_server_name(server)}: login refused for {username}"
                           f"{_how(mechanism)}") from exc
    except (imapclient.exceptions.IMAPClientError, OSError) as exc:
        _shutdown(client)
        raise ConnectError(f"IMAP {_server_name(server)}: {exc}") from exc
    return client


def _imap_login(client: imapclient.IMAPClient, server: ServerConfig, username: str,
                secret: str, mechanism: str) -> None:
    if mechanism == "password":
        client.login(username, secret)
        return
    sasl = SASL_NAMES[mechanism]
    offered = [c.decode()[5:] for c in client.capabilities() if c.startswith(b"AUTH=")]
    if sasl not in offered:
        raise LoginRefused(f"IMAP {_server_name(server)}: login refused: the server does not "
                           f"offer {sasl} (it offers {', '.join(offered) or 'none'})",
                           retry=False)
    # imapclient's own: AUTHENTICATE with the XOAUTH2 / OAUTHBEARER message.
    if mechanism == "xoauth2":
        client.oauth2_login(username, secret)
    else:
        client.oauthbearer_login(username, secret)


def _shutdown(client: imapclient.IMAPClient) -> None:
    with contextlib.suppress(OSError):
        client.shutdown()


def open_smtp(
    server: ServerConfig, username: str, password: str, *, timeout: float = TIMEOUT,
    mechanism: str = "password",
) -> smtplib.SMTP:
    """Connect, secure and authenticate to an SMTP server; the caller quits.
    `mechanism` as for `open_imap`."""
    import smtplib

    warn_if_plaintext("SMTP", server)
    ctx = client_context(server.ca_file)
    try:
        if server.tls == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, context=ctx, timeout=timeout
            )
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    except ssl.SSLError as exc:
        raise ConnectError(f"SMTP {_server_name(server)}: TLS failed: {exc}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise ConnectError(f"SMTP {_server_name(server)}: cannot connect: {exc}") from exc
    try:
        smtp.ehlo()
        if server.tls == "starttls":
            if not smtp.has_extn("starttls"):
                raise ConnectError(
                    f"SMTP {_server_name(server)} does not offer STARTTLS; "
                    f"refusing to send without TLS"
                )
            smtp.starttls(context=ctx)
            smtp.ehlo()
        _smtp_login(smtp, server, username, password, mechanism)
    except ConnectError:
        smtp.close()
        raise
    except ssl.SSLError as exc:
        smtp.close()
        raise ConnectError(f"SMTP {_server_name(server)}: TLS failed: {exc}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        smtp.close()
        if 400 <= exc.smtp_code < 500:
            # "454 Temporary authentication failure": not a no to our credentials.
            raise ConnectError(f"SMTP {_server_name(server)}: cannot log in now: "
                               f"{exc.smtp_code} {_text(exc.smtp_error)}") from exc
        raise LoginRefused(f"SMTP {_server_name(server)}: login refused for {username}"
                           f"{_how(mechanism)}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        smtp.close()
        raise ConnectError(f"SMTP {_server_name(server)}: {exc}") from exc
    return smtp


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _smtp_login(smtp: smtplib.SMTP, server: ServerConfig, username: str, secret: str,
                mechanism: str) -> None:
    if mechanism == "password":
        smtp.login(username, secret)
        return
    sasl = SASL_NAMES[mechanism]
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    if sasl not in offered:
        raise LoginRefused(f"SMTP {_server_name(server)}: login refused: the server does not "
                           f"offer AUTH {sasl} (it offers {', '.join(offered) or 'none'})",
                           retry=False)
    smtp.auth(sasl, BearerAuth(mechanism, username, secret, server.host, server.port))
