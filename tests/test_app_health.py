"""Server health in the app, against the real servers: the status bar and the
health screen follow a server that is stopped and started again.

The account's config asks for a fast health cycle (`[health]`), so what is
checked is the whole way: the config, the engine's health monitor and its
critical list, the events, the status bar and the health screen.
"""

from __future__ import annotations

import re

import pytest
from textual.widgets import Static

from bridge.config import load_config
from tests.others import person
from tests.test_app import open_health, pilot_until, write_config
from tuiclient.app import TuiClientApp
from tuiclient.screens.main import MainScreen
from tuiclient.widgets.server_status import state_of

pytestmark = pytest.mark.servers

FAST = '\n[health]\ninterval = "3s"\ncritical_interval = "1s"\ntimeout = "5s"\n'
SERVICES = ("imap", "smtp", "xmpp")


def status_bar(app: TuiClientApp) -> str:
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return str(main.query_one("#status", Static).render())


async def test_status_bar_and_health_screen_follow_a_stopped_server(world, tmp_path):
    name = person(world, "hana").name
    path = write_config(world, tmp_path, name, extra=FAST)
    app = TuiClientApp(load_config(path))
    async with app.run_test(size=(140, 30)) as pilot:
        # Everything up: a green dot and a round trip per server, nothing critical.
        up = re.compile(r"● (imap|smtp|xmpp) \d+ms")
        assert await pilot_until(pilot, lambda: len(up.findall(status_bar(app))) == 3), \
            status_bar(app)
        assert "!" not in status_bar(app)

        world.stop_smtp()
        try:
            # The next probe (every 3 s here) finds it down; on the critical list.
            assert await pilot_until(pilot, lambda: "✖ smtp! down" in status_bar(app)), \
                status_bar(app)
            assert re.search(r"● imap \d+ms", status_bar(app))
            assert re.search(r"● xmpp \d+ms", status_bar(app))
            smtp = app.health[(name, "smtp")]
            assert smtp.critical and smtp.report is not None and not smtp.report.reachable
            assert app.engine.health.critical == {(name, "smtp")}

            table = await open_health(pilot, app)
            assert state_of(table, name, "smtp", "state") == "down"
            assert state_of(table, name, "smtp", "critical") == "yes, every 1s"
            assert state_of(table, name, "smtp", "rtt") == "—"
            assert "connect" in state_of(table, name, "smtp").lower()
            for service in ("imap", "xmpp"):
                assert state_of(table, name, service, "state") == "ok"
                assert state_of(table, name, service, "critical") == "no"
                assert re.fullmatch(r"\d+ ms", state_of(table, name, service, "rtt"))
                assert state_of(table, name, service, "push") in ("alive", "—")
                assert re.fullmatch(r"\d\d:\d\d:\d\d", state_of(table, name, service, "checked"))
            assert state_of(table, name, "xmpp", "push") == "alive"
            assert re.fullmatch(r"[+-]\d+\.\d s", state_of(table, name, "xmpp", "skew"))
            assert any("smtp" in n.message for n in app._notifications
                       if n.severity == "error")
        finally:
            world.start_smtp()

        # Back: the critical probe (every second here) takes it off the list.
        assert await pilot_until(pilot, lambda: state_of(table, name, "smtp", "state") == "ok"
                                 and state_of(table, name, "smtp", "critical") == "no"), \
            [state_of(table, name, "smtp", c) for c in ("state", "critical", "detail")]
        assert re.fullmatch(r"\d+ ms", state_of(table, name, "smtp", "rtt"))
        assert state_of(table, name, "smtp") == "login ok"
        assert not app.engine.health.critical
        assert any(n.message == f"{name} smtp: back" for n in app._notifications)
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: re.search(r"● smtp \d+ms", status_bar(app))), \
            status_bar(app)
        assert "!" not in status_bar(app)
