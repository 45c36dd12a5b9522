"""TLS contexts for every transport: verified by default, plaintext only when asked.

One place decides how we trust servers, so IMAP, SMTP and XMPP cannot drift apart.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ServerConfig

log = logging.getLogger(__name__)
_warned: set[tuple[str, str, int]] = set()
_warned_lock = threading.Lock()


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A context that verifies the server's certificate and host name.

    With `ca_file` only that CA is trusted (a private server, or the test run's CA);
    without it, the system store.
    """
    ctx = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None
    )
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def warn_if_plaintext(protocol: str, server: ServerConfig) -> bool:
    """Log a warning, once per server, when `server` is configured `tls = "plain"`.

    Plaintext is never chosen by us, only by the config; the warning makes sure
    the choice is seen. Returns whether the connection will be plaintext.
    """
    if server.tls != "plain":
        return False
    key = (protocol, server.host, server.port)
    with _warned_lock:
        first = key not in _warned
        _warned.add(key)
    if first:
        log.warning(
            '%s %s:%d: tls = "plain": the password and everything else travel '
            "unencrypted and unauthenticated",
            protocol, server.host, server.port,
        )
    return True
