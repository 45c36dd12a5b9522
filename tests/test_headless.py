"""Headless mode: `tuiclient <command>` in a subprocess, against the real servers.

Each command is run the way a script would run it, with --json, and its output
and exit code are checked; the people on the other side use plain clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.headless.cli import EXIT_DECIDE, EXIT_NOT_DELIVERED, EXIT_OK
from tests.conftest import password_command
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import REPO_ROOT, Account, World
from tests.others import contacts_toml, person, send_email, until, wait_inbox

pytestmark = pytest.mark.servers


def write_config(world: World, tmp: Path, me: Account, extra: str = "") -> Path:
    path = tmp / "config.toml"
    path.write_text(world.client_config(me, password_command(tmp, me)) + extra)
    return path


async def cli(config: Path, *argv: str, stdin: str | None = None,
              timeout: float = 60) -> tuple[int, object, str]:
    """Run `tuiclient --config CONFIG ARGV --json`; returns (exit code, JSON, stderr)."""
    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tuiclient", "--config", str(config), *argv, "--json"],
            input=stdin, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    done = await asyncio.to_thread(run)
    try:
        result = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        raise AssertionError(f"not JSON: {done.stdout!r}; stderr: {done.stderr}") from None
    return done.returncode, result, done.stderr


@contextlib.asynccontextmanager
async def watching(config: Path) -> AsyncIterator[list[dict]]:
    """`tuiclient watch` in a subprocess: yields the events it has printed so far (a
    list that grows); on leaving, SIGTERM, which it must answer with exit code 0."""
    watch = subprocess.Popen(
        [sys.executable, "-m", "tuiclient", "--config", str(config), "watch"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env=dict(os.environ))
    lines: list[dict] = []

    def read() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            lines.append(json.loads(line))
    reader = asyncio.get_running_loop().run_in_executor(None, read)
    try:
        yield lines
    finally:
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(20) == 0
        await reader


async def test_every_command_with_json_output(world, tmp_path, running):
    _start, xmpp = running
    alice, bob, erin = person(world, "alice"), person(world, "bob"), person(world, "erin")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file)))
    root = send_email(world, bob, [alice.email], [erin.email], "Quarterly budget",
                      "Please review the budget numbers.")

    code, result, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    assert result["new"] >= 1

    code, threads, _ = await cli(config, "list")
    assert code == EXIT_OK
    thread = next(t for t in threads if t["thread_id"] == root)
    assert thread["subject"] == "Quarterly budget" and thread["transports"] == ["email"]

    code, shown, _ = await cli(config, "show", str(thread["id"]))
    assert code == EXIT_OK
    first = shown["messages"][0]
    assert first["msg_id"] == root and "Please review the budget" in first["text"]
    assert first["transport"] == "email" and first["sender"]["address"] == bob.email

    code, hits, _ = await cli(config, "search", "budget")
    assert code == EXIT_OK and [h["msg_id"] for h in hits] == [root]

    # erin has no JID: reply-all by IM needs a decision (exit 7), nothing is sent.
    code, refused, _ = await cli(config, "reply", root, "--via", "im", "--all", "Chat?")
    assert code == EXIT_DECIDE and refused["error"] == "unmapped"
    assert [r["query"] for r in refused["unresolved"]] == [erin.email]

    code, replied, err = await cli(config, "reply", root, "--via", "im", "Checking now.")
    assert code == EXIT_OK, err
    assert [i["state"] for i in replied["outbox"]] == ["delivered"]
    await until(lambda: "Checking now." in bob_x.bodies(alice.jid))
    assert next(r for r in bob_x.received if r.body == "Checking now.").thread == root

    code, _moved, err = await cli(config, "handoff", root, "--to", "email", "--history", "-",
                                  stdin="Numbers attached by mail.")
    assert code == EXIT_OK, err
    got = await wait_inbox(world, bob, lambda m: "Numbers attached by mail." in
                           m.get_body(("plain",)).get_content())
    assert root in got[0]["References"]

    code, sent, err = await cli(config, "send", "--to", bob.jid, "--via", "im", "ping")
    assert code == EXIT_OK, err
    assert sent["outbox"][0]["state"] == "delivered"

    code, contacts, _ = await cli(config, "contacts", "map", "zoe@example.test",
                                  "zoe@chat.example.test", "--name", "Zoe")
    assert code == EXIT_OK and contacts["address"] == "zoe@chat.example.test"
    code, listing, _ = await cli(config, "contacts", "list")
    assert any(c["name"] == "Zoe" for c in listing["contacts"])
    code, _res, _ = await cli(config, "contacts", "unmap", "zoe@chat.example.test")
    assert code == EXIT_OK
    code, listing, _ = await cli(config, "contacts", "list")
    assert not any("zoe@chat.example.test" in json.dumps(c) for c in listing["contacts"])


async def test_deferral_from_the_command_line(world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file), show="dnd", status="Presenting"))
    code, asked, _ = await cli(config, "send", "--to", bob.email, "--via", "im",
                               "--when-away", "ask", "Are you free?")
    assert code == EXIT_DECIDE and asked["error"] == "away"
    assert asked["presences"][0]["status"] == "Presenting"

    code, deferred, _ = await cli(config, "send", "--to", bob.email, "--via", "im",
                                  "--when-away", "defer", "Are you free?")
    assert code == EXIT_NOT_DELIVERED
    outbox_id = deferred["outbox"][0]["id"]
    code, waiting, _ = await cli(config, "outbox", "list")
    assert [(i["id"], i["state"]) for i in waiting] == [(outbox_id, "deferred")]

    code, _emailed, err = await cli(config, "outbox", "email", str(outbox_id))
    assert code == EXIT_OK, err
    got = await wait_inbox(
        world, bob, lambda m: "Are you free?" in m.get_body(("plain",)).get_content())
    assert got[0]["Subject"] == f"Re: Chat with {bob.display_name}"  # a name, not an address
    code, everything, _ = await cli(config, "outbox", "list", "--all", "--log")
    states = {row["item"]["id"]: row["item"]["state"] for row in everything}
    assert states[outbox_id] == "fell-back-to-email"
    log = next(row["log"] for row in everything if row["item"]["id"] == outbox_id)
    assert [e["event"] for e in log][:2] == ["created", "deferred"]
    assert "Presenting" in log[1]["detail"]

    # Two more: one cancelled, one sent now whatever bob's presence says.
    ids = []
    for text in ("Never mind.", "It's urgent after all."):
        code, deferred, _ = await cli(config, "send", "--to", bob.jid, "--via", "im",
                                      "--when-away", "defer", text)
        assert code == EXIT_NOT_DELIVERED
        ids.append(deferred["outbox"][0]["id"])
    code, cancelled, _ = await cli(config, "outbox", "cancel", str(ids[0]))
    assert code == EXIT_OK and cancelled["state"] == "cancelled"
    code, retried, err = await cli(config, "outbox", "retry", str(ids[1]))
    assert code == EXIT_OK, err
    assert retried["outbox"][0]["state"] == "delivered"
    await until(lambda: "It's urgent after all." in bob_x.bodies(alice.jid))
    assert "Never mind." not in bob_x.bodies()
    code, again, _ = await cli(config, "outbox", "cancel", str(ids[1]))
    assert code == 1 and "already delivered" in again["error"]


async def test_outbox_im_sends_a_waiting_email_by_chat(world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file)))
    world.stop_smtp()
    try:
        code, queued, _ = await cli(config, "send", "--to", bob.email, "--via", "email",
                                    "--subject", "Train times", "--wait", "1",
                                    "The 9:12 is cancelled.")
        assert code == EXIT_NOT_DELIVERED
        email_id = queued["outbox"][0]["id"]
        code, moved, err = await cli(config, "outbox", "im", str(email_id))
        assert code == EXIT_OK, err
        assert [i["state"] for i in moved["outbox"]] == ["delivered"]
        await until(lambda: "Train times\n\nThe 9:12 is cancelled." in
                    bob_x.bodies(alice.jid), what="bob's chat line")
        code, everything, _ = await cli(config, "outbox", "list", "--all")
        states = {i["id"]: (i["transport"], i["state"]) for i in everything}
        assert states[email_id] == ("email", "fell-back-to-im")
        code, again, _ = await cli(config, "outbox", "im", str(email_id))
        # The refusal in words (issue 21): whom it was to and what became of it.
        assert code == 1 and "already sent by chat instead" in again["error"]
        assert bob.email in again["error"]
    finally:
        world.start_smtp()


async def test_watch_prints_a_handoff_and_a_deferral_in_order(world, tmp_path, running):
    _start, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    world.befriend(alice, carol)
    config = write_config(world, tmp_path, alice, contacts_toml(bob, carol))
    await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                         str(world.ca_file)))
    await xmpp(PlainXmpp(carol.jid, carol.password, "127.0.0.1", world.ports.c2s,
                         str(world.ca_file), show="away", status="Back at 5"))
    root = send_email(world, bob, [alice.email], [], "Hand me off", "Chat instead?")
    async with watching(config) as lines:
        await until(lambda: any(e["event"] == "WatchStarted" for e in lines), 20)
        code, _r, err = await cli(config, "sync")
        assert code == EXIT_OK, err
        code, _r, err = await cli(config, "handoff", root, "--to", "im", "Let's chat.")
        assert code == EXIT_OK, err
        code, _r, err = await cli(config, "send", "--to", carol.jid, "--via", "im",
                                  "--when-away", "defer", "Later is fine.")
        assert code == EXIT_NOT_DELIVERED, err
        await until(lambda: any(e["event"] == "OutboxChanged" and e["state"] == "deferred"
                                for e in lines), 20, "the deferral in watch's output")
    outbox = [(e["state"], e["msg_id"]) for e in lines if e["event"] == "OutboxChanged"]
    handoff_id = outbox[0][1]
    handoff = [s for s, m in outbox if m == handoff_id]
    assert handoff[0] == "sending" and handoff[-1] == "delivered"
    deferral = [s for s, m in outbox if m != handoff_id]
    assert deferral == ["deferred"]
    # In order: the handoff settled before the deferral began.
    assert outbox.index(("delivered", handoff_id)) < outbox.index(("deferred", outbox[-1][1]))
    deliveries = [e for e in lines if e["event"] == "DeliveryChanged"
                  and e["msg_id"] == handoff_id]
    assert [e["state"] for e in deliveries][-1] == "delivered"


async def test_serve_takes_json_line_commands_on_one_engine(world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file)))
    requests = [
        {"id": 1, "watch": True},
        {"id": 2, "argv": ["send", "--to", bob.jid, "--via", "im", "one engine"]},
        {"id": 3, "argv": "contacts list"},
        {"id": 4, "argv": ["reply", "no-such-message", "x"]},
        {"id": 5, "argv": ["frobnicate"]},
    ]
    stdin = "".join(json.dumps(r) + "\n" for r in requests) + "not json\n"

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tuiclient", "--config", str(config), "serve"],
            input=stdin, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    done = await asyncio.to_thread(run)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    answers = {x["id"]: x for x in lines if "id" in x}
    assert answers[1]["watching"] is True
    assert answers[2]["ok"] and answers[2]["result"]["outbox"][0]["state"] == "delivered"
    assert any(c["name"] == bob.display_name for c in answers[3]["result"]["contacts"])
    assert not answers[4]["ok"] and answers[4]["code"] == 1
    assert not answers[5]["ok"] and answers[5]["code"] == 2
    assert any(x.get("ok") is False and "not JSON" in x.get("error", "") for x in lines)
    # With watch on, the send's events came through the same stream.
    states = [x["state"] for x in lines if x.get("event") == "OutboxChanged"]
    assert "sending" in states and "delivered" in states
    assert "one engine" in bob_x.bodies(alice.jid)


async def test_watch_prints_a_server_going_down_and_coming_back(world, tmp_path):
    """Health changes reach `watch` as HealthReported, once per change: not every
    probe, and not HealthChanged as well."""
    alice = person(world, "alice")
    config = write_config(world, tmp_path, alice,
                          '\n[health]\ninterval = "2s"\ncritical_interval = "1s"\n'
                          'timeout = "5s"\n')

    def smtp() -> list[dict]:
        return [e for e in lines if e["event"] == "HealthReported"
                and e["report"]["service"] == "smtp"]
    async with watching(config) as lines:
        await until(lambda: smtp(), 30, "the first SMTP report")
        assert smtp()[0]["report"]["reachable"] and not smtp()[0]["critical"]
        world.stop_smtp()
        try:
            await until(lambda: len(smtp()) >= 2, 30, "SMTP reported down")
        finally:
            world.start_smtp()
        await until(lambda: len(smtp()) >= 3, 30, "SMTP reported back")
        # More probes come (every second for a while, then every two): unchanged
        # reports are not printed.
        await asyncio.sleep(5)
    states = [(e["report"]["reachable"], e["report"]["logged_in"], e["critical"])
              for e in smtp()]
    assert states == [(True, True, False), (False, False, True), (True, True, False)], smtp()
    down = smtp()[1]
    assert down["report"]["account"] == alice.name and down["report"]["detail"]
    assert smtp()[2]["report"]["rtt_ms"] is not None
    assert not any(e["event"] == "HealthChanged" for e in lines)
    # Each server's reports in watch differ from the one before (no repeats).
    for service in ("imap", "xmpp"):
        seen = [(e["report"]["reachable"], e["report"]["logged_in"],
                 e["report"]["push_alive"], e["critical"]) for e in lines
                if e["event"] == "HealthReported" and e["report"]["service"] == service]
        assert seen and all(a != b for a, b in itertools.pairwise(seen)), seen
