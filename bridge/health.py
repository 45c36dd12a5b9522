"""Server health: one combined probe per server and cycle, and a critical list.

Each probe gives one `HealthReport` per (account, service):

- IMAP (in a thread): log in, then one STATUS INBOX (the round trip and the
  counts). IMAP has no command that reads the server's clock, and the age of the
  newest mail says nothing about it; the skew is the one measured when the server
  last stamped an APPEND of ours (`ClockMeasured`, from MailSync.append), else
  unknown;
- SMTP (in a thread): connect, EHLO, STARTTLS, AUTH, NOOP (the round trip);
- XMPP: through the running client when there is one (its stream is what needs
  checking), else a short session of its own: XEP-0199 ping (the round trip),
  XEP-0202 entity time (the skew) and the upload service by disco.

`push_alive` says whether the account's push channel works: the mail worker's
IDLE answered recently, the XMPP stream answered the ping. A probe that finds it
dead restarts it (the worker leaves IDLE with a deadline, the stream is dropped
and resumed), so a stalled channel is restarted within one cycle at most.

`HealthMonitor` probes everything every `interval` (15 min); a server that fails,
in a probe or in normal use (a `HealthChanged` that is not ok), goes on the
critical list and is probed every `critical_interval` (2 min) until it answers.
Both, and the probe's timeout, are set by the config's `[health]` table.
Every report is published as `HealthReported` (for the app's status bar and
health screen), and as `HealthChanged` for whoever only wants ok or not.
A report is `changed` when its server's state (reachable, logged in, push,
critical) differs from the report before it: those are the ones the engine keeps
in the store's event log, so `tuiclient watch` prints a server going down and
coming back, not every probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import imapclient
from slixmpp import JID
from slixmpp.plugins import xep_0082

from .config import AccountConfig, HealthPolicy, SecretError, get_password
from .events import ClockMeasured, Event, HealthChanged, HealthReported
from .mail.connect import ConnectError, open_imap, open_smtp
from .model import HealthReport
from .xmpp.session import XmppLoginError, XmppSession

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

NORMAL_INTERVAL = HealthPolicy().interval  # 15 min
CRITICAL_INTERVAL = HealthPolicy().critical_interval  # 2 min
PROBE_TIMEOUT = HealthPolicy().timeout  # 15 s
NS_UPLOAD = "urn:xmpp:http:upload:0"
NS_TIME = "urn:xmpp:time"
SERVICES = ("imap", "smtp", "xmpp")


@dataclass(frozen=True)
class Timings:
    """How often and how patiently the engine checks its servers and push channels."""

    health_interval: float = NORMAL_INTERVAL
    health_critical: float = CRITICAL_INTERVAL
    probe_timeout: float = PROBE_TIMEOUT
    push_check: float = 120.0  # IMAP: leave IDLE this often to see that it still works
    push_timeout: float = 20.0  # ... and want the server's answer within this
    xmpp_ping_interval: float = 60.0  # XMPP keepalive ping (XEP-0199)
    xmpp_ping_timeout: float = 30.0
    smtp_timeout: float = 30.0  # a slower SMTP answer counts as down (email stays queued)


def _failure(account: str, service: str, exc: BaseException, started: float) -> HealthReport:
    text = str(exc)
    refused = "login refused" in text or "authentication" in text.lower()
    return HealthReport(account, service, reachable=refused and not isinstance(exc, SecretError),
                        logged_in=False, detail=text, checked_at=started)


class HealthMonitor:
    def __init__(self, engine: Engine, *, interval: float = NORMAL_INTERVAL,
                 critical_interval: float = CRITICAL_INTERVAL,
                 timeout: float = PROBE_TIMEOUT) -> None:
        self.engine = engine
        self.interval = interval
        self.critical_interval = critical_interval
        self.timeout = timeout
        self.reports: dict[tuple[str, str], HealthReport] = {}
        self.last: dict[tuple[str, str], HealthReported] = {}
        # The state (HealthReported.state) last reported per server, by this
        # process or, recalled from the store, by an earlier one.
        self._states: dict[tuple[str, str], tuple[object, ...]] = {}
        self.critical: set[tuple[str, str]] = set()
        self.cycles = 0
        # Per account: the IMAP server's clock skew last measured in normal use
        # (a clock drifts slowly; see _probe_imap).
        self._imap_skews: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        # Listening from the start: a failure while the engine comes up (an XMPP
        # login refused in Engine.start) puts its server on the critical list too.
        self.engine.events.subscribe(self._on_event)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None:
            return
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _on_event(self, event: Event) -> None:
        # A failure seen in normal use (the worker, the XMPP client) puts the server
        # on the critical list at once; its recovery is confirmed by a probe.
        if isinstance(event, HealthChanged) and not event.ok and not event.from_probe:
            self.critical.add((event.account, event.service))
        elif isinstance(event, ClockMeasured) and event.service == "imap":
            self._imap_skews[event.account] = event.skew_s

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.interval
        next_critical = loop.time() + self.critical_interval
        while True:
            now = loop.time()
            wake = min(next_full, next_critical if self.critical else next_full)
            if wake > now:
                await asyncio.sleep(min(wake - now, 1.0))
                continue
            try:
                if now >= next_full:
                    await self.probe()
                    next_full = now + self.interval
                    next_critical = now + self.critical_interval
                elif self.critical:
                    await self._probe_pairs(sorted(self.critical))
                    next_critical = now + self.critical_interval
                self.cycles += 1
            except Exception:
                log.exception("health probe failed")
                next_critical = now + self.critical_interval

    # -- probing ----------------------------------------------------------------------------

    async def probe(self, account: str | None = None,
                    services: Iterable[str] = SERVICES) -> list[HealthReport]:
        """Probe every server of `account` (or of every account) once, now."""
        wanted = set(services)
        pairs = [(a.name, s) for a in self.engine.accounts
                 if account is None or a.name == account
                 for s in SERVICES if s in wanted and a.server(s) is not None]
        return await self._probe_pairs(pairs)

    async def _probe_pairs(self, pairs: list[tuple[str, str]]) -> list[HealthReport]:
        jobs = []
        for name, service in pairs:
            cfg = self.engine.account(name)
            if service == "imap":
                jobs.append(asyncio.to_thread(self._probe_imap, cfg))
            elif service == "smtp":
                jobs.append(asyncio.to_thread(self._probe_smtp, cfg))
            else:
                jobs.append(self._probe_xmpp(cfg))
        reports = list(await asyncio.gather(*jobs))
        unknown = [(r.account, r.service) for r in reports
                   if (r.account, r.service) not in self._states]
        if unknown:
            await asyncio.to_thread(self._recall, unknown)
        for report in reports:
            self._record(report)
        return reports

    def _recall(self, keys: list[tuple[str, str]]) -> None:
        """The state each server was last kept in by any process on this store, so
        that a new process (`tuiclient health`, the app's next start) reports a
        server as changed only if it did change."""
        for key in keys:
            try:
                payload = self.engine.store.last_event(
                    "HealthReported", {"$.report.account": key[0],
                                       "$.report.service": key[1]})
            except Exception:  # an old or busy store: count the first report as new
                log.debug("no stored health state for %s", key, exc_info=True)
                continue
            if payload is None:
                continue
            r = payload.get("report", {})
            self._states.setdefault(key, (r.get("reachable"), r.get("logged_in"),
                                          r.get("push_alive"), payload.get("critical")))

    def _record(self, report: HealthReport) -> None:
        key = (report.account, report.service)
        self.reports[key] = report
        if report.ok:
            self.critical.discard(key)
        else:
            self.critical.add(key)
        critical = key in self.critical
        before = self._states.get(key)
        state = (report.reachable, report.logged_in, report.push_alive, critical)
        event = HealthReported(report, critical, changed=before != state)
        self.last[key] = event
        self._states[key] = state
        self.engine.events.publish(event)
        self.engine.events.publish(HealthChanged(report.account, report.service, report.ok,
                                                 report.summary(), from_probe=True))

    # -- IMAP ---------------------------------------------------------------------------------

    def _probe_imap(self, account: AccountConfig) -> HealthReport:
        assert account.imap is not None
        started = time.time()
        try:
            client = open_imap(account.imap, account.imap.username or account.email or "",
                               get_password(account, "imap"), timeout=self.timeout)
        except (ConnectError, SecretError) as exc:
            return _failure(account.name, "imap", exc, started)
        try:
            # One command after the login: STATUS is the round trip and the
            # mailbox's state at once (a NOOP would only add a round trip).
            t = time.monotonic()
            status = client.folder_status("INBOX", [b"MESSAGES", b"UNSEEN"])
            rtt = (time.monotonic() - t) * 1000
            # IMAP has no command that reads the server's clock: the skew is the
            # one last measured in normal use (the server's stamp on an APPEND of
            # ours, see MailSync.append), or unknown.
            skew = self._imap_skews.get(account.name)
        except (OSError, imapclient.exceptions.IMAPClientError) as exc:
            return HealthReport(account.name, "imap", True, True, self._imap_push(account.name),
                                detail=f"logged in, then: {exc}", checked_at=started)
        finally:
            with contextlib.suppress(OSError, imapclient.exceptions.IMAPClientError):
                client.logout()
        push = self._imap_push(account.name)
        detail = f"INBOX {status[b'MESSAGES']} messages ({status[b'UNSEEN']} unread)"
        return HealthReport(account.name, "imap", True, True, push, rtt, skew, detail, started)

    def _imap_push(self, account: str) -> bool | None:
        """The worker's IDLE is alive if it answered within its check period; if not,
        it is told to leave IDLE now (and must get an answer within its deadline)."""
        worker = self.engine.mail.get(account)
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

    # -- SMTP ---------------------------------------------------------------------------------

    def _probe_smtp(self, account: AccountConfig) -> HealthReport:
        assert account.smtp is not None
        started = time.time()
        try:
            smtp = open_smtp(account.smtp, account.smtp.username or account.email or "",
                             get_password(account, "smtp"), timeout=self.timeout)
        except (ConnectError, SecretError) as exc:
            return _failure(account.name, "smtp", exc, started)
        try:
            t = time.monotonic()
            smtp.noop()
            rtt = (time.monotonic() - t) * 1000
            smtp.quit()
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            return HealthReport(account.name, "smtp", True, True, detail=f"logged in, then: {exc}",
                                checked_at=started)
        return HealthReport(account.name, "smtp", True, True, None, rtt, None, "login ok",
                            started)

    # -- XMPP ---------------------------------------------------------------------------------

    async def _probe_xmpp(self, account: AccountConfig) -> HealthReport:
        started = time.time()
        client = self.engine.xmpp.get(account.name)
        if client is not None and client.connected:
            report = await self._xmpp_checks(client.session, account, started, running=True)
            if report.push_alive is not False:
                return report
            if client.session.transport is not None:
                # Connected, yet the server does not answer: the stream is dead.
                client.session.reconnect(0.0, "Ping timeout (health probe)")
            # Whether the server itself answers, a session of our own tells.
        try:
            password = await asyncio.to_thread(get_password, account, "xmpp")
            assert account.jid is not None and account.xmpp is not None
            session = XmppSession(account.jid, password, account.xmpp)
            await session.start(timeout=self.timeout)
        except (XmppLoginError, SecretError) as exc:
            return _failure(account.name, "xmpp", exc, started)
        try:
            report = await self._xmpp_checks(session, account, started, running=False)
        finally:
            with contextlib.suppress(Exception):
                await session.stop()
        if client is not None:
            # Our own client is down while the server answers: it is reconnecting.
            return HealthReport(report.account, "xmpp", report.reachable, report.logged_in,
                                False, report.rtt_ms, report.clock_skew_s,
                                "server up, our connection is reconnecting; " + report.detail,
                                started)
        return report

    async def _xmpp_checks(self, session: Any, account: AccountConfig, started: float, *,
                           running: bool) -> HealthReport:
        """Ping (XEP-0199), entity time (XEP-0202) and the upload service (disco),
        each through slixmpp's own plugin."""
        domain = JID(session.boundjid.domain)
        try:
            rtt = await session.plugin["xep_0199"].ping(domain, timeout=self.timeout) * 1000
        except Exception as exc:
            return HealthReport(account.name, "xmpp", True, True, False if running else None,
                                detail=f"no answer to ping: {exc or type(exc).__name__}",
                                checked_at=started)
        skew = None
        try:
            sent = time.time()
            answer = await session.plugin["xep_0202"].get_entity_time(
                domain, timeout=self.timeout)
            back = time.time()
            # Read from the element, not ["utc"]: slixmpp 1.17's get_utc appends a
            # second "Z" to the (already Z-suffixed, XEP-0202 3) value and fails.
            utc = answer["entity_time"].xml.find(f"{{{NS_TIME}}}utc")
            if utc is not None and utc.text:
                skew = xep_0082.parse(utc.text.strip()).timestamp() - (sent + back) / 2
        except Exception as exc:  # a server without XEP-0202: the clock is unknown
            log.info("%s: no entity time from %s: %r", account.name, domain, exc)
        upload = await self._upload_service(session, domain)
        detail = f"online as {account.jid}; " + (f"upload at {upload}" if upload
                                                 else "no upload service")
        return HealthReport(account.name, "xmpp", True, True, True if running else None, rtt,
                            skew, detail, started)

    async def _upload_service(self, session: Any, domain: JID) -> str | None:
        """The first of the server and its items that offers HTTP upload (XEP-0363)."""
        disco = session.plugin["xep_0030"]
        with contextlib.suppress(Exception):
            for info in await disco.get_info_from_domain(domain=domain, timeout=self.timeout,
                                                         cached=True):
                if NS_UPLOAD in info["disco_info"]["features"]:
                    return str(info["from"])
        return None


__all__ = ["CRITICAL_INTERVAL", "NORMAL_INTERVAL", "HealthMonitor", "HealthReport",
           "HealthReported", "Timings"]
