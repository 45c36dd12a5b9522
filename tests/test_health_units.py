"""Health reports without servers: which ones are changes (and so kept for
`tuiclient watch`), the critical list from normal use, and how the app folds the
events into what its status bar draws. The real servers are in test_resilience,
test_app_health and test_headless."""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config
from bridge.engine import Engine
from bridge.events import Event, HealthChanged
from bridge.health import HealthReport, HealthReported
from bridge.store import Store
from tests.test_app_snapshots import CONFIG
from tuiclient.server_health import fold
from tuiclient.widgets.status_bar import server_text


def engine(tmp: Path) -> Engine:
    path = tmp / "config.toml"
    path.write_text(CONFIG)
    return Engine(load_config(path), Store.open(tmp / "store.db"))


def ok(service: str = "smtp", rtt: float = 4.0) -> HealthReport:
    return HealthReport("alice", service, True, True, None, rtt, None, "login ok")


def down(service: str = "smtp") -> HealthReport:
    return HealthReport("alice", service, False, False, detail="connection refused")


def test_a_new_process_reports_only_what_changed_since_the_last_one(tmp_path):
    """`tuiclient health` run twice, the app started again: the state kept in the
    store by the process before counts, so an unchanged server adds no line to
    `watch`, and one that went down meanwhile does."""
    first = engine(tmp_path)
    try:
        first.health._record(ok())
        first.health._record(ok("imap"))
    finally:
        first.close()
    second = engine(tmp_path)
    try:
        second.health._recall([("alice", "smtp"), ("alice", "imap"), ("alice", "xmpp")])
        seen: list[Event] = []
        second.events.subscribe(seen.append)
        for report in (ok(), down("imap"), ok("xmpp")):
            second.health._record(report)
        changed = {x.report.service: x.changed for x in seen if isinstance(x, HealthReported)}
        assert changed == {"smtp": False, "imap": True, "xmpp": True}
        kept = [p["report"]["service"] for k, p in
                ((x.kind, x.payload) for x in second.store.events())]
        assert kept == ["smtp", "imap", "imap", "xmpp"]
    finally:
        second.close()


def test_only_changes_are_kept_for_watch(tmp_path):
    e = engine(tmp_path)
    seen: list[Event] = []
    e.events.subscribe(seen.append)
    try:
        for report in (ok(), ok(rtt=9.0), down(), down(), ok(), ok()):
            e.health._record(report)
        reported = [x for x in seen if isinstance(x, HealthReported)]
        assert [x.changed for x in reported] == [True, False, True, False, True, False]
        assert [x.critical for x in reported] == [False, False, True, True, False, False]
        # Each report is repeated as a HealthChanged marked as coming from a probe.
        echoes = [x for x in seen if isinstance(x, HealthChanged)]
        assert len(echoes) == 6 and all(x.from_probe for x in echoes)

        kept = [(x.kind, x.payload) for x in e.store.events()]
        assert [k for k, _ in kept] == ["HealthReported"] * 3
        assert [(p["report"]["reachable"], p["critical"]) for _, p in kept] == [
            (True, False), (False, True), (True, False)]

        # A failure seen in normal use (the engine not even started): critical at
        # once, not kept itself; the probe that finds it down is a change.
        e.events.publish(HealthChanged("alice", "imap", False, "connection lost"))
        assert ("alice", "imap") in e.health.critical
        e.health._record(down("imap"))
        assert [x.kind for x in e.store.events()][-1] == "HealthReported"
        assert len(e.store.events()) == 4
    finally:
        e.close()


def test_the_status_bar_reads_the_folded_events():
    assert str(server_text("smtp", None)) == "◌ smtp"
    h = fold(None, HealthReported(ok(rtt=3.4), critical=False))
    assert h is not None and str(server_text("smtp", h)) == "● smtp 3ms"
    # The probe's echo adds nothing.
    assert fold(h, HealthChanged("alice", "smtp", True, "ok, rtt 3 ms",
                                 from_probe=True)) is None
    h = fold(h, HealthReported(down(), critical=True))
    assert str(server_text("smtp", h)) == "✖ smtp! down"
    h = fold(h, HealthReported(HealthReport("alice", "smtp", True, False,
                                            detail="login refused"), critical=True))
    assert str(server_text("smtp", h)) == "✖ smtp! login failed"
    # Back in normal use: ok, but still critical until a probe says so.
    h = fold(h, HealthChanged("alice", "smtp", True, "connected again"))
    assert str(server_text("smtp", h)) == "● smtp!"
    h = fold(h, HealthReported(ok(rtt=2.0), critical=False))
    assert str(server_text("smtp", h)) == "● smtp 2ms"
    # A stalled push channel, and a failure in normal use before any probe.
    stalled = HealthReport("alice", "imap", True, True, False, 5.0, detail="IDLE silent")
    assert str(server_text("imap", fold(None, HealthReported(stalled, critical=True)))) == \
        "◐ imap! push dead"
    assert str(server_text("xmpp", fold(None, HealthChanged("alice", "xmpp", False,
                                                            "login refused")))) == \
        "✖ xmpp! failed"
