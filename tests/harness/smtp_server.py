"""The harness's SMTP server: real SMTP with STARTTLS and AUTH, delivering to Dovecot.

Run as its own process (``python -m tests.harness.smtp_server ...``) so the client
talks to it over the wire exactly as it would to a provider's submission server.
Each accepted message is handed to Dovecot over LMTP, one recipient per
transaction so that every recipient gets its own answer.

Two listeners: submission with STARTTLS required before AUTH, and implicit TLS.
Accounts come from the same passwd file Dovecot reads (``address:{PLAIN}secret``),
re-read on every lookup so accounts created during a run work at once.

With ``--oauth-key`` (the harness's issuer key, the file Dovecot reads too), AUTH
also takes bearer tokens: XOAUTH2 (Google's format) and OAUTHBEARER (RFC 7628).
A refused token gets the error challenge those specs describe (a 334 with a JSON
status), and the client's empty (XOAUTH2) or ^A (OAUTHBEARER) answer ends it
with 535, as Gmail does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import signal
import smtplib
import ssl
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.harness import oauth


def read_accounts(passwd: Path) -> dict[str, str]:
    accounts: dict[str, str] = {}
    for line in passwd.read_text().splitlines():
        if not line.strip():
            continue
        user, _, rest = line.partition(":")
        secret = rest.split(":", 1)[0]
        accounts[user.lower()] = secret.removeprefix("{PLAIN}")
    return accounts


class Authenticator:
    def __init__(self, passwd: Path) -> None:
        self.passwd = passwd

    def __call__(self, server: SMTP, session: Session, envelope: Envelope,
                 mechanism: str, auth_data: object) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace").lower()
        password = auth_data.password.decode("utf-8", "replace")
        ok = read_accounts(self.passwd).get(login) == password
        # handled=False makes aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)


class LmtpDelivery:
    def __init__(self, passwd: Path, lmtp_port: int, hostname: str) -> None:
        self.passwd = passwd
        self.lmtp_port = lmtp_port
        self.hostname = hostname

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.lower() not in read_accounts(self.passwd):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        # RFC 5321 4.5.3.1.6, checked here since HarnessSMTP reads longer lines
        # (for AUTH); the same answer aiosmtpd gives.
        if any(len(line) > DATA_LINE_LIMIT for line in data.split(b"\n")):
            return "500 Line too long (see RFC5321 4.5.3.1.6)"
        received = (
            f"Received: from {session.host_name or 'unknown'} ([{session.peer[0]}])\r\n"
            f"\tby {self.hostname} (tuiclient test harness) with ESMTPSA\r\n"
            f"\tfor <{envelope.rcpt_tos[0]}>; {formatdate(time.time())}\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        failed = await loop.run_in_executor(
            None, self._deliver, envelope.mail_from, envelope.rcpt_tos, received + data)
        if failed and len(failed) == len(envelope.rcpt_tos):
            return f"451 4.3.0 Delivery failed: {failed[0]}"
        return "250 OK delivered"

    def _deliver(self, sender: str, recipients: list[str], data: bytes) -> list[str]:
        failed = []
        for rcpt in recipients:
            try:
                with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=30) as lmtp:
                    lmtp.sendmail(sender, [rcpt], data)
            except (smtplib.SMTPException, OSError) as exc:
                failed.append(f"{rcpt}: {exc}")
        return failed


class BearerTokens:
    """aiosmtpd `auth_<MECH>` handlers for XOAUTH2 and OAUTHBEARER.

    Hand-written: aiosmtpd has PLAIN and LOGIN only; a mechanism is a method of
    the handler by its API. Each takes the initial response (or asks for it with an
    empty challenge) and checks the token against the issuer's key."""

    def __init__(self, key_file: Path | None) -> None:
        self.key_file = key_file

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await self._initial(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        # user=<email>^Aauth=Bearer <token>^A^A
        fields = dict(f.split("=", 1) for f in blob.split("\x01") if "=" in f)
        return await self._check(server, fields.get("user", ""), fields.get("auth", ""))

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await self._initial(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        # RFC 7628 3.1: gs2-header ^A key=value ^A ... ^A^A; the user is the a= of
        # the GS2 header (RFC 5801), with "=2C" and "=3D" for "," and "=".
        gs2, _, rest = blob.partition("\x01")
        user = next((p[2:] for p in gs2.split(",") if p.startswith("a=")), "")
        user = user.replace("=2C", ",").replace("=3D", "=")
        fields = dict(f.split("=", 1) for f in rest.split("\x01") if "=" in f)
        return await self._check(server, user, fields.get("auth", ""))

    async def _initial(self, server: SMTP, args: list[str]) -> str | None:
        if len(args) > 1:
            try:
                return base64.b64decode(args[1], validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                await server.push("501 5.5.2 Can't decode base64")
                return None
        answer = await server.challenge_auth("")
        if answer is MISSING:
            return None
        assert isinstance(answer, bytes)
        return answer.decode("utf-8", "replace")

    async def _check(self, server: SMTP, user: str, auth: str) -> AuthResult:
        scheme, _, token = auth.partition(" ")
        why = "no token" if scheme.lower() != "bearer" or not token else (
            "no issuer" if self.key_file is None else
            oauth.check_token(oauth.read_key(self.key_file), token, user))
        if why is None:
            return AuthResult(success=True, auth_data=user.lower())
        error = json.dumps({"status": "invalid_token", "schemes": "bearer",
                            "scope": "mail"})
        # The error challenge; whatever the client answers, the exchange ends in 535.
        await server.challenge_auth(error)
        await server.push("535 5.7.8 Token not accepted")
        return AuthResult(success=False, handled=True)


class Handler(LmtpDelivery, BearerTokens):
    def __init__(self, passwd: Path, lmtp_port: int, hostname: str,
                 oauth_key: Path | None) -> None:
        LmtpDelivery.__init__(self, passwd, lmtp_port, hostname)
        BearerTokens.__init__(self, oauth_key)


# RFC 4954 section 4: an AUTH command line may be up to 12288 octets, and bearer
# tokens are long (a provider's JWT is often 1-2 KB, base64'd once more in AUTH).
AUTH_LINE_LIMIT = 12288
DATA_LINE_LIMIT = 1000  # 998 octets and CRLF; "\n"-split lines keep their "\r"


class HarnessSMTP(SMTP):
    """aiosmtpd's SMTP with an AUTH line as long as RFC 4954 allows (its own limit
    for every command line is 512, and 1001 for any line it reads)."""

    line_length_limit = AUTH_LINE_LIMIT + 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An instance's own dict: aiosmtpd's is one shared by the class.
        self.command_size_limits = collections.defaultdict(
            lambda: SMTP.command_size_limit, {"AUTH": AUTH_LINE_LIMIT})


class HarnessController(Controller):
    def factory(self) -> SMTP:
        return HarnessSMTP(self.handler, **self.SMTP_kwargs)


class ImplicitTLSSMTP(HarnessSMTP):
    """aiosmtpd only counts STARTTLS as TLS; on the implicit-TLS port it is TLS too."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("ssl_object") is None:
            transport.close()
            return
        self._auth_require_tls = False  # the whole connection is already encrypted


class ImplicitTLSController(Controller):
    def factory(self) -> SMTP:
        return ImplicitTLSSMTP(self.handler, **self.SMTP_kwargs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--submission-port", type=int, required=True)
    ap.add_argument("--smtps-port", type=int, required=True)
    ap.add_argument("--lmtp-port", type=int, required=True)
    ap.add_argument("--passwd", type=Path, required=True)
    ap.add_argument("--cert", type=Path, required=True)
    ap.add_argument("--key", type=Path, required=True)
    ap.add_argument("--hostname", default="mail.example.test")
    ap.add_argument("--oauth-key", type=Path, default=None)
    args = ap.parse_args()

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    handler = Handler(args.passwd, args.lmtp_port, args.hostname, args.oauth_key)
    auth = Authenticator(args.passwd)
    common = dict(server_hostname=args.hostname, authenticator=auth, auth_required=True,
                  auth_require_tls=True, data_size_limit=50 * 1024 * 1024,
                  # aiosmtpd's LOGIN ignores an initial response, which smtplib
                  # sends; the two then wait on each other. PLAIN is what clients use.
                  auth_exclude_mechanism=["LOGIN"])
    submission = HarnessController(handler, hostname="127.0.0.1", port=args.submission_port,
                                   tls_context=tls, require_starttls=True, **common)
    smtps = ImplicitTLSController(handler, hostname="127.0.0.1", port=args.smtps_port,
                                  ssl_context=tls, **common)
    submission.start()
    smtps.start()
    print("ready", flush=True)

    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    asyncio.run(wait())
    submission.stop()
    smtps.stop()


if __name__ == "__main__":
    main()
