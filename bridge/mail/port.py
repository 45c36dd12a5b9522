"""One account's mail as a port (bridge.ports.MailPort): the worker, the
on-demand IMAP connection, the SMTP sender and the Deferred folder, behind the
calls policy makes.

The worker thread (`MailWorker`) keeps the account current while the engine
runs; apart from it, one on-demand connection per account serves what the user
asks for now (a body, a flag, a folder of deferred lines), one job at a time,
in a thread: imapclient blocks, and the caller's loop never waits on it.

What only a later call needs (the SMTP sender, triage's filing of a sent copy,
the Deferred folder, the probes) is imported by that call: this module is
imported right before the worker logs in and fetches INBOX's first page
(issue 22, row 1).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import imaplib
import threading
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, TypeVar

from ..config import AccountConfig, get_password
from ..crypto import outgoing
from ..errors import EngineError, LoginRejected, ServerUnreachable
from ..events import EventBus
from ..model import Availability, ContactPresence, HealthReport
from ..store import Store
from .connect import TIMEOUT, ConnectError, LoginRefused
from .sync import MailSync
from .worker import MailWorker

if TYPE_CHECKING:
    from . import deferred
    from .send import MailSender
    from .sync_writes import Appended

T = TypeVar("T")


class MailTransport:
    """The mail side of one account."""

    def __init__(self, cfg: AccountConfig, store: Store, events: EventBus, *,
                 retry_delay: Callable[[int], float] | None = None,
                 refresh: float = 300.0, poll: float = 60.0, push_check: float = 120.0,
                 push_timeout: float = 20.0, smtp_timeout: float = TIMEOUT) -> None:
        self.cfg = cfg
        self.store = store
        self.events = events
        self.retry_delay = retry_delay
        self.refresh, self.poll = refresh, poll
        self.push_check, self.push_timeout = push_check, push_timeout
        self.smtp_timeout = smtp_timeout
        self.worker: MailWorker | None = None
        self._ops: MailSync | None = None
        self._ops_lock = threading.Lock()
        self._sender: MailSender | None = None

    @property
    def account(self) -> str:
        return self.cfg.name

    @property
    def connected(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    # -- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        if self.cfg.imap is None or self.worker is not None:
            return
        worker = MailWorker(self.cfg, functools.partial(get_password, self.cfg), self.store,
                            self.events, refresh=self.refresh, poll=self.poll,
                            retry_delay=self.retry_delay, push_check=self.push_check,
                            push_timeout=self.push_timeout, smtp_timeout=self.smtp_timeout)
        self.worker = worker
        worker.start()

    async def stop(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            await asyncio.to_thread(worker.stop)

    def close(self) -> None:
        with self._ops_lock:
            if self._ops is not None:
                self._ops.close()
                self._ops = None

    # -- IMAP on demand ---------------------------------------------------------------

    def _mail_ops(self) -> MailSync:
        # Called with _ops_lock held: one on-demand connection, used by one thread
        # at a time; the worker keeps its own for sync and IDLE.
        if self._ops is None:
            cfg = self.cfg
            if cfg.imap is None:
                raise EngineError(f"account {cfg.name!r} has no IMAP server")
            self._ops = MailSync(cfg, lambda: get_password(cfg, "imap"), self.store,
                                 self.events)
        return self._ops

    async def run(self, job: Callable[[MailSync], T]) -> T:
        def run() -> T:
            with self._ops_lock:
                sync = self._mail_ops()
                try:
                    done = job(sync)
                except (OSError, ConnectError, imaplib.IMAP4.abort) as exc:
                    # abort: imaplib's word for a connection that broke mid-command.
                    sync._drop()
                    kind = LoginRejected if isinstance(exc, LoginRefused) else \
                        ServerUnreachable
                    raise kind(f"{self.account}: IMAP failed: {exc}") from exc
            # Not `server_back()` here: the probe's login wakes a waiting worker.
            # (Its call after every job was blamed for two `serve` daemons taking
            # 35 s instead of 5, test_exactly_once; the cause was elsewhere, two
            # threads on the worker's IMAP connection: `MailWorker._file_sent`.)
            return done
        return await asyncio.to_thread(run)

    def server_back(self) -> None:
        """The IMAP server answered us (a job done, the probe logged in): the
        worker, if it waits to retry after a failure, retries now."""
        worker = self.worker
        if worker is not None and worker.is_alive():
            worker.server_back()

    async def sync_now(self) -> None:
        """One full sync pass now: the worker's, or here in a thread."""
        if self.worker is not None and self.worker.is_alive():
            self.worker.kick()
        else:
            await self.run(lambda s: s.sync_all())

    async def fetch_body(self, row_id: int) -> None:
        await self.run(lambda s: s.fetch_body(row_id))

    async def fetch_part(self, row_id: int, position: int) -> None:
        """One file of a message over the body limit."""
        await self.run(functools.partial(MailSync.fetch_part, row_id=row_id,
                                         position=position))

    async def fetch_headers(self, row_id: int, names: Sequence[str]) -> dict[str, str]:
        return await self.run(lambda s: s.fetch_headers(row_id, names))

    async def set_flag(self, folder: str, uid: int, flag: str, on: bool) -> None:
        await self.run(lambda s: s.set_flags(folder, [uid], [flag], on))

    async def mark_read(self, row_id: int, *, tell: bool = True) -> None:
        m = self.store.get_message(row_id)
        if m is not None and m.folder and m.uid is not None:
            await self.set_flag(m.folder, m.uid, "\\Seen", True)

    def availability(self, address: str) -> ContactPresence:
        # Email is stored by the server: whoever it is for can always be sent to.
        return ContactPresence(address, Availability.AVAILABLE)

    # -- sending ------------------------------------------------------------------------

    @property
    def sender(self) -> MailSender:
        if self.worker is not None and self.worker.sender is not None:
            return self.worker.sender
        if self._sender is None:
            from .send import MailSender

            cfg = self.cfg
            if cfg.smtp is None:
                raise EngineError(f"account {cfg.name!r} has no SMTP server")
            self._sender = MailSender(cfg, lambda: get_password(cfg, "smtp"), self.store,
                                      self.events,
                                      append_sent=self._file_sent if cfg.imap else None,
                                      retry_delay=self.retry_delay)
        return self._sender

    def _file_sent(self, raw: bytes) -> Appended:
        from . import triage

        with self._ops_lock:
            return triage.file_sent(self._mail_ops(), raw)

    async def send_leg(self, mail: EmailMessage, msg_id: str) -> int:
        """Put an email in the outbox (durably) and send it as soon as possible.
        Signed and/or encrypted first when the send asked for it (bridge.crypto:
        EncryptionRefused before anything is queued when it cannot be), with our
        Autocrypt header when Autocrypt is on."""
        folder = self.store.path.parent
        if outgoing.current() is not None or outgoing.autocrypt_on(folder):
            mail = await asyncio.to_thread(outgoing.prepare, mail, self.cfg.email or "", folder)
        sender = self.sender
        outbox_id = sender.queue(mail, msg_id)
        await self.send_due(sender)
        return outbox_id

    async def send_due(self, sender: MailSender | None = None) -> None:
        if self.worker is not None and self.worker.is_alive():
            self.worker.kick()
        else:
            await asyncio.to_thread((sender or self.sender).flush)

    def wake(self) -> None:
        if self.worker is not None and self.worker.is_alive():
            self.worker.kick()

    async def flush(self) -> None:
        """Send the due emails now, from a thread of the caller (a process about
        to stop): the worker's sender when it runs, else our own."""
        if self.worker is not None and self.worker.is_alive():
            await asyncio.to_thread(self.worker.flush_outbox)
        else:
            await asyncio.to_thread(self.sender.flush)

    # -- the Deferred folder ------------------------------------------------------------

    async def deferred_put(self, folder: str, raw: bytes) -> None:
        from . import deferred

        await self.run(lambda s: deferred.put(s, folder, raw))

    async def deferred_remove(self, folder: str, msg_id: str) -> int:
        from . import deferred

        return await self.run(lambda s: deferred.remove(s, folder, msg_id))

    async def deferred_read(self, folder: str) -> list[deferred.DeferredCopy]:
        from . import deferred

        return await self.run(lambda s: deferred.read(s, folder))

    # -- health ---------------------------------------------------------------------------

    def push_alive(self) -> bool | None:
        """The worker's IDLE is alive if it answered within its check period; if not,
        it is told to leave IDLE now (and must get an answer within its deadline)."""
        worker = self.worker
        if worker is None:
            return None
        if not worker.is_alive():
            return False
        if worker.passes == 0:
            return None  # still on its first sync: no IDLE yet
        last = worker.push_ok_at
        alive = worker.idling or (last is not None and time.time() - last <=
                                  worker.push_check + worker.push_timeout + 5)
        if not alive or worker.idling:
            worker.kick()  # leave IDLE (DONE within the deadline), resync, IDLE again
        return alive

    def probe_imap(self, timeout: float, skew: float | None = None) -> HealthReport:
        """Blocking: run it in a thread. `skew`: the server's clock as last
        measured in normal use (an APPEND of ours that it stamped)."""
        from .probe import probe_imap

        report = probe_imap(self.cfg, timeout, skew=skew, push=None)
        if report.logged_in:
            self.server_back()
            # Whether push works is the worker's to say, asked after the probe (a
            # dead IDLE is kicked at once).
            return dataclasses.replace(report, push_alive=self.push_alive())
        return report

    def probe_smtp(self, timeout: float) -> HealthReport:
        from .probe import probe_smtp

        return probe_smtp(self.cfg, timeout)

    async def probe(self, timeout: float) -> list[HealthReport]:
        jobs = []
        if self.cfg.imap is not None:
            jobs.append(asyncio.to_thread(self.probe_imap, timeout))
        if self.cfg.smtp is not None:
            jobs.append(asyncio.to_thread(self.probe_smtp, timeout))
        return list(await asyncio.gather(*jobs))
