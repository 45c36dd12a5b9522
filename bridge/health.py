"""Server health: one combined probe per server and cycle, and a critical list.

Each probe gives one `HealthReport` per (account, service). The probes
themselves belong to the transports (bridge.mail.probe for IMAP and SMTP, the
chat port's for XMPP: bridge.xmpp.port); this module schedules them and keeps
what they said. It receives the ports and the store, never the engine.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .config import AccountConfig, HealthPolicy
from .events import ClockMeasured, Event, EventBus, HealthChanged, HealthReported
from .model import HealthReport
from .ports import Ports
from .store import Store

log = logging.getLogger(__name__)

NORMAL_INTERVAL = HealthPolicy().interval  # 15 min
CRITICAL_INTERVAL = HealthPolicy().critical_interval  # 2 min
PROBE_TIMEOUT = HealthPolicy().timeout  # 15 s
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


class HealthMonitor:
    def __init__(self, store: Store, events: EventBus, ports: Ports,
                 accounts: Sequence[AccountConfig], *, interval: float = NORMAL_INTERVAL,
                 critical_interval: float = CRITICAL_INTERVAL,
                 timeout: float = PROBE_TIMEOUT) -> None:
        self.store = store
        self.events = events
        self.ports = ports
        self.accounts = accounts
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
        # (a clock drifts slowly; see bridge.mail.probe).
        self._imap_skews: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        # Listening from the start: a failure while the engine comes up (an XMPP
        # login refused in Engine.start) puts its server on the critical list too.
        self.events.subscribe(self._on_event)

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
        pairs = [(a.name, s) for a in self.accounts
                 if account is None or a.name == account
                 for s in SERVICES if s in wanted and a.server(s) is not None]
        return await self._probe_pairs(pairs)

    async def _probe_pairs(self, pairs: list[tuple[str, str]]) -> list[HealthReport]:
        jobs = []
        for name, service in pairs:
            if service == "imap":
                jobs.append(asyncio.to_thread(self.ports.mail(name).probe_imap, self.timeout,
                                              self._imap_skews.get(name)))
            elif service == "smtp":
                jobs.append(asyncio.to_thread(self.ports.mail(name).probe_smtp, self.timeout))
            else:
                jobs.append(self.ports.probe_chat(name, self.timeout))
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
                payload = self.store.last_event(
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
        self.events.publish(event)
        self.events.publish(HealthChanged(report.account, report.service, report.ok,
                                                 report.summary(), from_probe=True))


__all__ = ["CRITICAL_INTERVAL", "NORMAL_INTERVAL", "HealthMonitor", "HealthReport",
           "HealthReported", "Timings"]
