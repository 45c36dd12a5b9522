"""The harness's SMTP server: real SMTP with STARTTLS and AUTH, delivering to Dovecot.

Run as its own process (``python -m tests.harness.smtp_server ...``) so the client
talks to it over the wire exactly as it would to a provider's submission server.
Each accepted message is handed to Dovecot over LMTP, one recipient per
transaction so that every recipient gets its own answer.

Two listeners: submission with STARTTLS required before AUTH, and implicit TLS.
Accounts come from the same passwd file Dovecot reads (``address:{PLAIN}secret``),
re-read on every lookup so accounts created during a run work at once.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import smtplib
import ssl
import time
from email.utils import formatdate
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


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
        received = (
            f"Received: from {session.host_name or 'unknown'} ([{session.peer[0]}])\r\n"
            f"\tby {self.hostname} (tuiclient test harness) with ESMTPSA\r\n"
            f"\tfor <{envelope.rcpt_tos[0]}>; {formatdate(time.time())}\r\n"
        ).encode()
        data = envelope.original_content or b""
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


class ImplicitTLSSMTP(SMTP):
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
    args = ap.parse_args()

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    handler = LmtpDelivery(args.passwd, args.lmtp_port, args.hostname)
    auth = Authenticator(args.passwd)
    common = dict(server_hostname=args.hostname, authenticator=auth, auth_required=True,
                  auth_require_tls=True, data_size_limit=50 * 1024 * 1024,
                  # aiosmtpd's LOGIN ignores an initial response, which smtplib
                  # sends; the two then wait on each other. PLAIN is what clients use.
                  auth_exclude_mechanism=["LOGIN"])
    submission = Controller(handler, hostname="127.0.0.1", port=args.submission_port,
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
