"""What the app and the command line say to people, against the real servers
(issue 21): a message's tries are counted in the same words and units in the
outbox's table, its log, the toasts and `tuiclient outbox list --log`; the log
says no state names; the raw names stay in `--json`.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import pytest

from bridge.config import load_config
from tests.conftest import password_command
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import REPO_ROOT
from tests.others import contacts_toml, person
from tests.test_app import notes, pilot_until, text_of
from tuiclient.app import TuiClientApp
from tuiclient.screens.outbox import OutboxScreen

pytestmark = pytest.mark.servers

AWAY = "Out for lunch"
# The first look at bob's presence half a second after the deferral, the next
# one two minutes later: "tried once, next try in 2 min" for the whole test.
SCHEDULE = '\n[deferral]\nfirst_retry = "0.5s"\ngrowth = 240.0\nceiling = "1h"\n'
SAID = "tried once, next try in 2 min"
RAW_STATES = re.compile(r"\b(queued|deferred ->|fell-back-to-\w+|retry later|outbox item)\b")


async def test_tries_read_the_same_in_table_log_toast_and_command_line(
        world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                         str(world.ca_file), show="away", status=AWAY))
    path = tmp_path / "config.toml"
    path.write_text(world.client_config(alice, password_command(tmp_path, alice))
                    + contacts_toml(bob) + SCHEDULE)
    app = TuiClientApp(load_config(path), probe_on_start=False)
    async with app.run_test(size=(160, 45)) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name))
        assert await pilot_until(pilot, lambda: app.engine.availability(
            alice.name, bob.jid).availability.value == "away")
        result = await app.engine.send_message(alice.name, [bob.jid], "Lunch after?",
                                               via="im", when_away="defer")
        (outbox_id,) = result.outbox

        # The toast of the first retry says it as the table and the log will.
        assert await pilot_until(pilot, lambda: any(SAID in n for n in notes(app))), notes(app)
        toast = next(n for n in notes(app) if SAID in n)
        # The deferral itself is the sender's own answer to tell, not a second toast.
        assert not any(n.startswith("Deferred until") for n in notes(app)), notes(app)
        assert toast == f"To {bob.jid}: still away: {AWAY}; {SAID}.", toast

        await pilot.press("O")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        table = app.screen.query_one("#outbox-table")
        assert str(table.get_cell(str(outbox_id), "tries")) == SAID
        log = text_of(app, "#outbox-log")
        assert log.count(SAID) == 2, log  # the row's tries, and the try in the log
        assert "deferred until they are available" in log
        assert not RAW_STATES.search(log), log

        # The command line, in another process on the same store: the same words.
        def run(*argv: str) -> str:
            return subprocess.run(
                [sys.executable, "-m", "tuiclient", "--config", str(path), "outbox", "list",
                 "--log", *argv], capture_output=True, text=True, timeout=60,
                cwd=REPO_ROOT, check=True).stdout
        printed = await asyncio.to_thread(run)
        assert printed.count(SAID) == 2, printed
        assert "deferred until they are available" in printed
        assert not RAW_STATES.search(printed), printed
        # --json keeps the raw names beside the words.
        (row,) = json.loads(await asyncio.to_thread(run, "--json"))
        assert row["item"]["state"] == "deferred"
        assert row["item"]["words"] == "deferred until they are available"
        assert row["item"]["tries"] == SAID
        assert [e["event"] for e in row["log"]][:2] == ["created", "deferred"]
        assert any(e["event"] == "retry" and SAID in e["words"] for e in row["log"])
