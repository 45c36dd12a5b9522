"""Opening IMAP and SMTP connections as a server's config says.

`tls = "tls"` is implicit TLS, `"starttls"` upgrades and refuses a server that does
not offer it (no silent downgrade), `"plain"` is plaintext and only on request.
Both calls block: the engine runs them in worker threads.
"""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import ssl

import imapclient

from ..config import ServerConfig
from ..tls import client_context, warn_if_plaintext

TIMEOUT = 30.0


class ConnectError(Exception):
    """A server could not be reached, refused TLS, or refused our login."""


def _server_name(server: ServerConfig) -> str:
    return f"{server.host}:{server.port}"


def open_imap(
    server: ServerConfig, username: str, password: str, *, timeout: float = TIMEOUT
) -> imapclient.IMAPClient:
    """Connect and log in to an IMAP server; the caller logs out."""
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
        client.login(username, password)
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
        raise ConnectError(f"IMAP {_server_name(server)}: login refused for {username}") from exc
    except (imapclient.exceptions.IMAPClientError, OSError) as exc:
        _shutdown(client)
        raise ConnectError(f"IMAP {_server_name(server)}: {exc}") from exc
    return client


def _shutdown(client: imapclient.IMAPClient) -> None:
    with contextlib.suppress(OSError):
        client.shutdown()


def open_smtp(
    server: ServerConfig, username: str, password: str, *, timeout: float = TIMEOUT
) -> smtplib.SMTP:
    """Connect, secure and authenticate to an SMTP server; the caller quits."""
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
        smtp.login(username, password)
    except ConnectError:
        smtp.close()
        raise
    except ssl.SSLError as exc:
        smtp.close()
        raise ConnectError(f"SMTP {_server_name(server)}: TLS failed: {exc}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        smtp.close()
        raise ConnectError(f"SMTP {_server_name(server)}: login refused for {username}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        smtp.close()
        raise ConnectError(f"SMTP {_server_name(server)}: {exc}") from exc
    return smtp
