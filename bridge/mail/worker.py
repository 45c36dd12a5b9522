"""One account's mail, kept current in the background: IDLE push, refresh, outbox.

A worker thread owns the account's IMAP connection (imapclient blocks, so it never
runs on the UI loop). It syncs every folder, then waits in IDLE on INBOX; a change
there triggers a resync of INBOX at once, and every `refresh` seconds all folders
are resynced anyway (IDLE only watches one folder, and a push channel can go quiet
without telling). A server without IDLE is polled every `poll` seconds. The
outbox is flushed after each pass, so queued email goes as soon as the server
answers again. Errors are reported as health events and retried with backoff
(doubling up to `MAX_BACKOFF`); the wait ends early when someone else sees the
server answer again (`server_back`: the health probe logged in), as mutt and aerc
reconnect on their next check rather
than minutes after the server came back.

A push channel can die without a word (a NAT box forgets the connection, a
server stops sending updates): every `push_check` seconds the worker leaves IDLE
and wants the server's answer within `push_timeout`. No answer, a closed
connection, or new mail that IDLE never reported restarts IDLE on a fresh pass
(and connection), and is published as `PushRestarted`.

The first pass imports only what it uses: the SMTP sender (`send`, with the
MIME parser behind it and smtplib) is made when the pass is done and sends, and
`triage` is imported to file a sent copy. Both were the worker's imports, in
the engine's thread right before INBOX's first page (issue 22, row 1;
tests/test_mail_first_page.py).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import imapclient

from ..config import AccountConfig
from ..events import EventBus, HealthChanged, PushRestarted
from ..store import Store
from .imap_fetch import FetchError, search_uids, stream_command
from .sync import MailSync

if TYPE_CHECKING:
    from .send import MailSender
    from .sync_writes import Appended

FIRST_BACKOFF = 1.0  # the first retry after a failed pass; doubled after each failure
MAX_BACKOFF = 120.0


class MailWorker(threading.Thread):
    def __init__(self, account: AccountConfig, password: Callable[[str], str], store: Store,
                 events: EventBus, *, refresh: float = 300.0, poll: float = 60.0,
                 idle_renew: float = 25 * 60.0, use_idle: bool = True,
                 retry_delay: Callable[[int], float] | None = None,
                 push_check: float = 120.0, push_timeout: float = 20.0,
                 smtp_timeout: float | None = None) -> None:
        super().__init__(name=f"mail-{account.name}", daemon=True)
        self.account = account
        self.events = events
        self.sync = MailSync(account, lambda: password("imap"), store, events)
        self._password, self._store = password, store
        self._retry_delay, self._smtp_timeout = retry_delay, smtp_timeout
        self._sender: MailSender | None = None
        self._sender_lock = threading.Lock()
        # The connection that files a sent copy for a flush run in another thread
        # (`_file_sent`), made then; never the worker's own.
        self._filer: MailSync | None = None
        self._filer_lock = threading.Lock()
        self.refresh, self.poll, self.idle_renew = refresh, poll, idle_renew
        self.use_idle = use_idle
        self.push_check, self.push_timeout = push_check, push_timeout
        self.idling = False  # in IDLE right now
        self.retrying = False  # waiting out the backoff after a failed pass
        self._pass_began = 0.0  # time.monotonic() when the current pass began
        self._answered_at = -1.0  # ... and when the server last answered someone else
        self.push_ok_at: float | None = None  # when IDLE last proved alive (time.time())
        self.push_restarts = 0
        self._stop_event = threading.Event()
        self._wake = threading.Event()
        self.passes = 0

    @property
    def sender(self) -> MailSender | None:
        """The account's SMTP sender (None without SMTP), made on first use: by
        the pass's flush once INBOX is stored, or by the port for a send."""
        if self.account.smtp is None:
            return None
        with self._sender_lock:  # the worker's thread and the port's may ask at once
            if self._sender is None:
                from .send import MailSender

                password = self._password
                sender = MailSender(self.account, lambda: password("smtp"), self._store,
                                    self.events, append_sent=self._file_sent,
                                    retry_delay=self._retry_delay)
                if self._smtp_timeout is not None:
                    sender.timeout = self._smtp_timeout
                self._sender = sender
            return self._sender

    def _file_sent(self, raw: bytes) -> Appended:
        """File a sent copy (the sender's `append_sent`). On the worker's own
        connection only in the worker's thread: a flush run from another one
        (`flush_outbox`: a daemon about to stop) APPENDed on it while the worker
        sat in IDLE or ran its pass on it, two threads on one IMAP stream. The
        server answered out of turn (imapclient's ProtocolError), TLS records
        broke ("bad record mac"), and a reader waited out the 30 s timeout:
        test_exactly_once's two `serve` daemons took 35 s instead of 5. Another
        thread files on a connection of its own."""
        from . import triage

        if threading.current_thread() is self:
            return triage.file_sent(self.sync, raw)
        with self._filer_lock:
            if self._filer is None:
                self._filer = MailSync(self.account, self.sync.password, self.sync.store,
                                       self.events)
            try:
                return triage.file_sent(self._filer, raw)
            except Exception:
                self._filer.close()
                self._filer = None
                raise

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self.join(timeout)
        self.sync.close()
        with self._filer_lock:
            if self._filer is not None:
                self._filer.close()
                self._filer = None

    def flush_outbox(self) -> None:
        """Send the due emails now, from the caller's thread (the claim in the store
        keeps this and the worker's own pass from sending one twice)."""
        sender = self.sender
        if sender is not None:
            sender.flush()

    def kick(self) -> None:
        """Do a pass now (the user pressed refresh, or an email was queued)."""
        self._wake.set()

    def server_back(self) -> None:
        """The IMAP server answered someone else (the health probe logging
        in): a retry waiting out its backoff goes now. A worker that is
        not retrying is left alone (its IDLE is no business of this). Kept as a
        time too: an answer that comes while a pass is failing (before it starts
        to wait) still cuts that wait short."""
        self._answered_at = time.monotonic()
        if self.retrying:
            self._wake.set()

    def run(self) -> None:
        backoff = FIRST_BACKOFF
        last_full = 0.0
        while not self._stop_event.is_set():
            self._pass_began = time.monotonic()
            try:
                if time.monotonic() - last_full >= self.refresh:
                    self.sync.sync_all()
                    last_full = time.monotonic()
                else:
                    self.sync.sync_folder("INBOX")
                sender = self.sender
                if sender is not None:
                    sender.flush()
                self._catch_up_index()
                self.passes += 1
                if backoff > FIRST_BACKOFF:
                    self.events.publish(HealthChanged(self.account.name, "imap", True,
                                                      "connected again"))
                backoff = FIRST_BACKOFF
                self._wait_for_change(last_full)
            except Exception as exc:  # any failure: report, drop the connection, retry
                self.sync.close()
                self.events.publish(HealthChanged(self.account.name, "imap", False,
                                                  f"{exc}; retrying in {backoff:.0f}s"))
                self.retrying = True
                try:
                    if self._answered_at < self._pass_began:  # else: it is back already
                        self._sleep(backoff)  # or until `kick`/`server_back`, or stop
                finally:
                    self.retrying = False
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _catch_up_index(self) -> None:
        # A bulk import leaves rows for the search index and their recipients'
        # party rows to be written later; do it here, in slices, off the UI loop.
        while not self._stop_event.is_set() and self.sync.store.index_backlog(limit=5000):
            pass

    def _wait_for_change(self, last_full: float) -> None:
        deadline = last_full + self.refresh
        client = self.sync.connect()
        if not self.use_idle or b"IDLE" not in client.capabilities():
            self._sleep(min(self.poll, max(0.0, deadline - time.monotonic())))
            return
        # The pass just resynced INBOX on this connection, which keeps it open:
        # opening it again would cost a large mailbox more than the pass did.
        info = self.sync.select("INBOX")
        if info is not None:
            uidnext = int(info.get(b"UIDNEXT", 0) or 0)
        else:
            inbox = {f.name: f for f in self.sync.store.folders(self.account.name)}.get("INBOX")
            uidnext = (inbox.uidnext or 0) if inbox is not None else 0
        # NOOP first: a change that came during the pass's UID commands may wait
        # in the session for a point where the server may tell it (Dovecot keeps
        # it until then, and IDLE's start is not such a point).
        told = any(True for _ in stream_command(client, b"NOOP"))
        if told or _changed_meanwhile(client):
            return  # told during the pass, after its questions: IDLE would not tell again
        client.idle()
        self.idling, self.push_ok_at = True, time.time()
        started = time.monotonic()
        check_at = started + self.push_check
        empty = 0  # idle_check answers "nothing" at once only on a closed connection
        checking = False
        try:
            while not self._stop_event.is_set() and not self._wake.is_set():
                t = time.monotonic()
                if client.idle_check(timeout=1):
                    self.push_ok_at = time.time()
                    return
                now = time.monotonic()
                empty = empty + 1 if now - t < 0.5 else 0
                if empty >= 3:
                    self._restart_push("the connection closed during IDLE")
                    return
                if now >= deadline or now - started >= self.idle_renew:
                    return
                if now >= check_at:
                    checking = True
                    return
        finally:
            self.idling = False
            self._wake.clear()
            if self.sync.client is client:
                self._leave_idle(client, uidnext if checking else None)

    def _leave_idle(self, client: imapclient.IMAPClient, uidnext: int | None) -> None:
        """DONE, answered within `push_timeout` or the channel is dead; on a check
        (`uidnext` given), also whether mail came that IDLE did not report."""
        try:
            client.socket().settimeout(self.push_timeout)
            client.idle_done()
            client._set_read_timeout()
        except (OSError, imapclient.exceptions.IMAPClientError) as exc:
            if isinstance(exc, socket.timeout):
                self._restart_push(f"no answer to DONE within {self.push_timeout:.0f}s")
            else:
                self.sync._drop()
            return
        self.push_ok_at = time.time()
        if uidnext is None:
            return
        try:
            status = client.folder_status("INBOX", [b"UIDNEXT"])
        except (OSError, imapclient.exceptions.IMAPClientError):
            self.sync._drop()
            return
        if int(status.get(b"UIDNEXT", 0) or 0) > uidnext:
            # `uidnext` may be the highest UID seen plus one (a resync of the open
            # INBOX learns no UIDNEXT): mail that came and went already is no sign.
            try:
                first = max(uidnext, 1)
                arrived = [u for u in search_uids(client, b"UID %d:*" % first) if u >= first]
            except (OSError, imapclient.exceptions.IMAPClientError, FetchError):
                self.sync._drop()
                return
            if arrived:
                self._restart_push("new mail in INBOX that IDLE did not report")

    def _restart_push(self, reason: str) -> None:
        # Nothing more on this connection can be trusted; the next pass logs in
        # afresh, resyncs INBOX and goes back into IDLE.
        self.sync._drop()
        self.push_restarts += 1
        self.events.publish(PushRestarted(self.account.name, "imap", reason))

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop_event.is_set() and not self._wake.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            self._wake.wait(min(left, 1.0))
        self._wake.clear()


def _changed_meanwhile(client: imapclient.IMAPClient) -> bool:
    """Whether the server told of a change (a flag, an expunge, new mail) in the
    middle of the pass that just ended, after the pass had asked about it: the
    session counts it as told, so IDLE would stay silent about it until the next
    push check. What an EXAMINE answered (it comes with UIDVALIDITY) is no news."""
    left = client._imap.untagged_responses
    if any(k in left for k in ("FETCH", "VANISHED", "EXPUNGE")):
        return True
    return "EXISTS" in left and "UIDVALIDITY" not in left
