"""Sending email through the durable outbox: queue first, then SMTP, then Sent.

`queue()` writes the finished message and its outbox row in one transaction before
anything goes on the wire. `flush()` sends what is due; a server that is down or
answers with a temporary error leaves the row queued with a later retry time, so
the email goes when the server is back; a permanent refusal marks it failed with
the server's words. After SMTP accepts it, the copy goes to the Sent folder over
IMAP (a failure there is logged, and does not resend the email), and the store
learns the copy's place at once, its UID from the server's APPENDUID: a view of
Sent shows it without waiting for a sync of the folder (`FolderChanged`).

The MAIL command says what the bytes need, from the server's EHLO (smtplib's
`mail_options`): BODY=8BITMIME for 8-bit content when offered (RFC 6152), and
SMTPUTF8 when an address or a header is UTF-8 (RFC 6531/6532); a server without
SMTPUTF8 cannot take such an email, and it fails with a sentence saying so.

The sender keeps no state of its own: every move of a row (claimed, sent, back
in the queue, failed) is one `transition` of bridge.delivery, which writes the
row, its log line and its `EmailDelivery` event together.
"""

from __future__ import annotations

import base64
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses
from typing import TYPE_CHECKING

from .. import failpoints
from ..config import AccountConfig, SecretError
from ..delivery import Deliveries
from ..events import EmailDelivery, EventBus, FolderChanged
from ..model import DeliveryState, Direction, Message, Party, Transport
from ..store import Store
from .connect import TIMEOUT, ConnectError, LoginRefused, login_smtp
from .mime import parse_message, to_message

if TYPE_CHECKING:
    from .sync_writes import Appended

FIRST_RETRY = 30.0
MAX_RETRY = 15 * 60.0


class NeedsSmtputf8(Exception):
    """The email has UTF-8 addresses or headers; the server does not offer SMTPUTF8."""


def mail_options(smtp: smtplib.SMTP, sender: str, recipients: list[str],
                 raw: bytes) -> list[str]:
    """What MAIL FROM must say for these bytes to this server (its EHLO answer)."""
    options = []
    if not raw.isascii() and smtp.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    head = raw.split(b"\r\n\r\n", 1)[0]
    utf8 = [a for a in (sender, *recipients) if not a.isascii()]
    if utf8 or not head.isascii():
        if not smtp.has_extn("smtputf8"):
            who = ", ".join(utf8) or "its headers"
            raise NeedsSmtputf8(
                f"The mail server does not take internationalized addresses (no SMTPUTF8), "
                f"and this email needs them ({who}): send it to an ASCII address of "
                "theirs, or through a server that offers SMTPUTF8.")
        options.append("SMTPUTF8")
    return options


def _envelope(mail: EmailMessage) -> list[str]:
    fields = [v for h in ("To", "Cc", "Bcc") for v in mail.get_all(h, [])]
    return [addr for _name, addr in getaddresses(fields) if addr]


class MailSender:
    def __init__(self, account: AccountConfig, password: Callable[[], str], store: Store,
                 events: EventBus | None = None,
                 append_sent: Callable[[bytes], Appended | None] | None = None,
                 retry_delay: Callable[[int], float] | None = None,
                 timeout: float = TIMEOUT, deliveries: Deliveries | None = None) -> None:
        if account.smtp is None:
            raise ValueError(f"account {account.name} has no SMTP server")
        self.account = account
        self.password = password
        self.store = store
        self.events = events or EventBus()
        self.deliveries = deliveries or Deliveries(store, self.events)
        self.append_sent = append_sent
        # Seconds before retry number n (0 first); the engine passes the config's
        # deferral schedule, so one setting governs how both transports retry.
        self.retry_delay = retry_delay or (lambda n: min(FIRST_RETRY * 2 ** n, MAX_RETRY))
        # Longest wait for any one answer of the server: a server slower than this
        # is treated as down (the email stays queued), never waited on for ever.
        self.timeout = timeout

    def queue(self, mail: EmailMessage, msg_id: str) -> int:
        """Keep `mail` in the outbox (and the store, as an outgoing message)."""
        recipients = _envelope(mail)
        # Bcc goes in the envelope only, never in what recipients receive.
        del mail["Bcc"]
        return self.queue_raw(mail.as_bytes(), recipients, msg_id)

    def queue_raw(self, raw: bytes, recipients: list[str], msg_id: str) -> int:
        """Keep finished bytes with their envelope recipients in the outbox: an
        email of ours, or a bounce (whose envelope is its Resent-To, not its To)."""
        if not recipients:
            raise ValueError("an email needs at least one recipient")
        message: Message = to_message(parse_message(raw), account=self.account.name,
                                      folder=None, uid=None, direction=Direction.OUT,
                                      flags=("\\Seen",))
        message.msg_id = msg_id
        # The Date header has whole seconds; our copy keeps the moment it was
        # written, so it sorts after the chat line it answers in the same second.
        message.date = max(message.date, time.time())
        message.delivery = DeliveryState.QUEUED
        return self.store.outbox_add(
            msg_id, self.account.name, Transport.EMAIL,
            payload={"raw": base64.b64encode(raw).decode(), "recipients": recipients},
            parties=[Party(r, "", "to") for r in recipients], message=message,
            next_attempt=time.time())

    def flush(self, now: float | None = None) -> list[EmailDelivery]:
        """Send every queued email that is due; return what happened to each."""
        now = time.time() if now is None else now
        results = []
        for item in self.store.outbox_items(states=[DeliveryState.QUEUED], due_before=now):
            if item.transport is not Transport.EMAIL or item.account != self.account.name:
                continue
            results.append(self._send(item.id, item.msg_id, item.payload, item.attempts))
        return results

    def _send(self, outbox_id: int, msg_id: str, payload: dict, attempts: int) -> EmailDelivery:
        raw = base64.b64decode(payload["raw"])
        # Claimed by compare-and-set, with this process's name in the row: another
        # process on the same store (the app, `serve`, a one-shot command) neither
        # sends it too nor takes it back while this one runs.
        if self.deliveries.transition(outbox_id, DeliveryState.SENDING,
                                      only_from=(DeliveryState.QUEUED,), claim=True,
                                      attempt=True, quiet=True) is None:
            # Taken meanwhile (sent by chat instead, cancelled): not ours to send.
            item = self.store.outbox_get(outbox_id)
            state = item.state if item is not None else DeliveryState.CANCELLED
            return EmailDelivery(self.account.name, msg_id, state.value,
                                 "no longer waiting for SMTP", outbox_id=outbox_id)
        try:
            smtp = login_smtp(self.account, self.password, timeout=self.timeout)
            try:
                options = mail_options(smtp, self._sender(), payload["recipients"], raw)
                refused = smtp.sendmail(self._sender(), payload["recipients"], raw,
                                        mail_options=options)
            finally:
                try:
                    smtp.quit()
                except (OSError, smtplib.SMTPException):
                    smtp.close()
        except NeedsSmtputf8 as exc:
            return self._failed(outbox_id, msg_id, str(exc))
        except smtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join(f"{r}: {code} {msg.decode(errors='replace')}"
                               for r, (code, msg) in exc.recipients.items())
            return self._failed(outbox_id, msg_id, f"refused: {detail}")
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                return self._retry(outbox_id, msg_id, attempts,
                                   f"server busy: {exc.smtp_code} {exc.smtp_error!r}")
            # smtplib's replies are bytes; the exception's type also allows str.
            error = exc.smtp_error
            reason = error.decode(errors="replace") if isinstance(error, bytes) else error
            return self._failed(outbox_id, msg_id, f"refused: {exc.smtp_code} {reason}")
        except SecretError as exc:
            # No password or token to log in with (a token command that failed or
            # hung): nothing went out, and the email waits for the next try.
            return self._retry(outbox_id, msg_id, attempts, f"cannot log in: {exc}")
        except (ConnectError, OSError, smtplib.SMTPException) as exc:
            if isinstance(exc, LoginRefused):
                return self._failed(outbox_id, msg_id, str(exc))
            return self._retry(outbox_id, msg_id, attempts, f"server unreachable: {exc}")
        # The window RFC 1047 describes: the server has the mail, we have not written
        # that down. A crash here sends it again (same bytes, same Message-ID).
        failpoints.hit(failpoints.SMTP_ACCEPTED)
        detail = "accepted by the server"
        if refused:
            detail += "; refused for " + ", ".join(refused)
        event = self._move(outbox_id, msg_id, DeliveryState.SENT, detail, next_attempt=None)
        if self.append_sent is not None:
            try:
                placed = self.append_sent(raw)
            except Exception as exc:  # the email is out; only the copy is missing
                self.deliveries.note(outbox_id, "filing failed", str(exc))
            else:
                self.deliveries.note(outbox_id, "filed", "copy saved to Sent")
                self._filed(msg_id, placed)
        return event

    def _filed(self, msg_id: str, placed: Appended | None) -> None:
        """The copy's place into the store (its UID, when the server named it),
        and `FolderChanged` for its folder: a view of Sent shows it at once, as
        a view of INBOX shows new mail, instead of at the next full pass."""
        if placed is None:
            return
        name = self.account.name
        if placed.uid is not None:
            known = self.store.place_appended(name, msg_id, placed.folder, placed.uid,
                                              placed.uidvalidity)
        else:  # learned by a sync of the folder (`triage.file_sent`), or not yet
            known = self.store.has_place(name, msg_id, placed.folder)
        if known:
            self.events.publish(FolderChanged(name, placed.folder, 1, 0, 0))

    def _sender(self) -> str:
        return self.account.email or ""

    def _retry(self, outbox_id: int, msg_id: str, attempts: int, detail: str) -> EmailDelivery:
        wait = self.retry_delay(attempts)
        return self._move(outbox_id, msg_id, DeliveryState.QUEUED, detail,
                          log="retry later", log_detail=f"{detail}; next try in {wait:.0f}s",
                          next_attempt=time.time() + wait)

    def _failed(self, outbox_id: int, msg_id: str, detail: str) -> EmailDelivery:
        return self._move(outbox_id, msg_id, DeliveryState.FAILED, detail, next_attempt=None)

    def _move(self, outbox_id: int, msg_id: str, state: DeliveryState, detail: str, *,
              log: str | None = None, log_detail: str | None = None,
              next_attempt: float | None) -> EmailDelivery:
        """Report what the server said: one transition of the row."""
        self.deliveries.transition(outbox_id, state, detail if log_detail is None
                                   else log_detail, log=log, event_detail=detail,
                                   next_attempt=next_attempt)
        return EmailDelivery(self.account.name, msg_id, state.value, detail,
                             outbox_id=outbox_id)
