"""What the app knows of each server's health, folded from the engine's events.

Two kinds of event speak of a server: the health monitor's `HealthReported` (a
probe's whole report: reachable, logged in, push, round trip, clock skew, and
whether the server is on the critical list) and `HealthChanged` from normal use
(the mail worker lost its connection, the XMPP login was refused). The monitor
repeats each report as a `HealthChanged` with `from_probe` set; that one adds
nothing and is skipped here. A failure seen in normal use puts the server on the
critical list (the monitor does the same), and only a probe takes it off.

Sends speak of their server too, so the bar turns red on the first one that
fails rather than at the next probe: an email the SMTP server could not be
reached for (or refused the login of), and an XMPP stream that dropped. An
email it took says it is up again. (A recipient refused is not the server's
fault and leaves it as it was.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.events import EmailDelivery, Event, HealthChanged, XmppConnectionChanged
from bridge.health import HealthReport, HealthReported

UNREACHABLE, LOGIN_FAILED, PUSH_DEAD, FAILED, OK = (
    "down", "login failed", "push dead", "failed", "ok")


@dataclass(frozen=True)
class ServerHealth:
    account: str
    service: str  # imap | smtp | xmpp
    ok: bool
    detail: str  # the latest word on it, from a probe or from normal use
    at: float  # when that word came
    critical: bool = False  # on the critical list: probed every critical_interval
    report: HealthReport | None = None  # the latest probe's report
    fresh: bool = False  # the latest word is that report (nothing newer from use)

    @property
    def state(self) -> str:
        """One word or two for people: ok, down, login failed, push dead, failed."""
        r = self.report
        if self.fresh and r is not None:
            if not r.reachable:
                return UNREACHABLE
            if not r.logged_in:
                return LOGIN_FAILED
            if r.push_alive is False:
                return PUSH_DEAD
            return OK
        return OK if self.ok else FAILED

    @property
    def rtt_ms(self) -> float | None:
        """The round trip of the latest probe, while nothing newer contradicts it."""
        r = self.report
        return r.rtt_ms if self.fresh and r is not None and r.ok else None


def _word_of_use(event: Event) -> tuple[bool, str] | None:
    """What a send or a stream says of its server: (ok, detail), or None."""
    if isinstance(event, EmailDelivery):
        if event.state == "sent":
            return True, "took an email"
        if event.state == "queued" and event.detail.startswith(("server unreachable",
                                                                "server busy")):
            return False, event.detail
        if event.state == "failed" and "login refused" in event.detail:
            return False, event.detail
        return None
    if isinstance(event, XmppConnectionChanged):
        if event.state in ("online", "resumed"):
            return True, f"stream {event.state}"
        if event.state == "disconnected":
            return False, f"stream {event.state}" + (f": {event.detail}" if event.detail
                                                      else "")
    return None


def fold(previous: ServerHealth | None, event: Event) -> ServerHealth | None:
    """The server's health after `event`, or None if the event says nothing new."""
    use, key = _word_of_use(event), key_of(event)
    if use is not None and key is not None:
        ok, detail = use
        if ok and (previous is None or previous.ok):
            return None  # up and still up: the probe's report stays the word on it
        event = HealthChanged(*key, ok, detail, at=event.at)
    if isinstance(event, HealthReported):
        r = event.report
        return ServerHealth(r.account, r.service, r.ok, r.detail, r.checked_at,
                            critical=event.critical, report=r, fresh=True)
    if isinstance(event, HealthChanged) and not event.from_probe:
        if previous is None:
            return ServerHealth(event.account, event.service, event.ok, event.detail,
                                event.at, critical=not event.ok)
        return replace(previous, ok=event.ok, detail=event.detail, at=event.at,
                       critical=previous.critical or not event.ok, fresh=False)
    return None


def key_of(event: Event) -> tuple[str, str] | None:
    if isinstance(event, HealthReported):
        return event.report.account, event.report.service
    if isinstance(event, HealthChanged):
        return event.account, event.service
    if isinstance(event, EmailDelivery):
        return event.account, "smtp"
    if isinstance(event, XmppConnectionChanged):
        return event.account, "xmpp"
    return None
