"""Health probes of one account's mail servers: one IMAP and one SMTP check.

- IMAP: log in, then one STATUS INBOX (the round trip and the counts). IMAP has
  no command that reads the server's clock, and the age of the newest mail says
  nothing about it; the skew given is the one measured when the server last
  stamped an APPEND of ours (`ClockMeasured`, from MailSync.append), else unknown.
- SMTP: connect, EHLO, STARTTLS, AUTH, NOOP (the round trip).

Both log in as everything else does (connect.login_imap / login_smtp), so a
token login is probed as it is used; the detail names a mechanism other than a
password ("auth XOAUTH2"), so `tuiclient health --json` shows how each logged in.

Both block (imapclient, smtplib): the caller runs them in a thread. What is
probed when, and what a report means for the critical list, is bridge.health's.
"""

from __future__ import annotations

import contextlib
import smtplib
import time

import imapclient

from ..config import AccountConfig, SecretError, auth_mechanism
from ..model import HealthReport
from .auth import SASL_NAMES
from .connect import ConnectError, login_imap, login_smtp


def _auth(account: AccountConfig, service: str) -> str:
    """How the probe logged in, for its report: "password", "XOAUTH2", "OAUTHBEARER"."""
    mechanism = auth_mechanism(account, service)
    return SASL_NAMES.get(mechanism, mechanism)


def probe_imap(account: AccountConfig, timeout: float, *, skew: float | None,
               push: bool | None) -> HealthReport:
    """`skew`: the server's clock as last measured in normal use; `push`: whether
    the account's IDLE is alive (None: no worker)."""
    assert account.imap is not None
    started = time.time()
    try:
        client = login_imap(account, timeout=timeout)
    except (ConnectError, SecretError) as exc:
        return HealthReport.failed(account.name, "imap", exc, started,
                                   secret=isinstance(exc, SecretError))
    try:
        # One command after the login: STATUS is the round trip and the
        # mailbox's state at once (a NOOP would only add a round trip).
        t = time.monotonic()
        status = client.folder_status("INBOX", [b"MESSAGES", b"UNSEEN"])
        rtt = (time.monotonic() - t) * 1000
    except (OSError, imapclient.exceptions.IMAPClientError) as exc:
        return HealthReport(account.name, "imap", True, True, push,
                            detail=f"logged in, then: {exc}", checked_at=started)
    finally:
        with contextlib.suppress(OSError, imapclient.exceptions.IMAPClientError):
            client.logout()
    detail = f"INBOX {status[b'MESSAGES']} messages ({status[b'UNSEEN']} unread)"
    if (how := _auth(account, "imap")) != "password":
        detail += f", auth {how}"
    return HealthReport(account.name, "imap", True, True, push, rtt, skew, detail, started)


def probe_smtp(account: AccountConfig, timeout: float) -> HealthReport:
    assert account.smtp is not None
    started = time.time()
    try:
        smtp = login_smtp(account, timeout=timeout)
    except (ConnectError, SecretError) as exc:
        return HealthReport.failed(account.name, "smtp", exc, started,
                                   secret=isinstance(exc, SecretError))
    try:
        t = time.monotonic()
        smtp.noop()
        rtt = (time.monotonic() - t) * 1000
        smtp.quit()
    except (OSError, smtplib.SMTPException) as exc:
        smtp.close()
        return HealthReport(account.name, "smtp", True, True, detail=f"logged in, then: {exc}",
                            checked_at=started)
    how = _auth(account, "smtp")
    return HealthReport(account.name, "smtp", True, True, None, rtt, None,
                        "login ok" if how == "password" else f"login ok, auth {how}", started)
