"""TLS contexts for every transport: verified by default, plaintext only when asked.

One place decides how we trust servers, so IMAP, SMTP and XMPP cannot drift apart.
"""

from __future__ import annotations

import ssl
from pathlib import Path


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
