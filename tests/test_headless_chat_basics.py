"""The chat basics of issue 20 from the command line, against Prosody, each seen
by a plain slixmpp client (tests/harness/plain_xmpp.py) on the other side:
blocking, `roster deny|cancel|set`, `invite send --direct` (with `--json` put
before the sub-command), `presence set` as a contact sees it, and `who` (the
chat input's /who) as a contact's client tells its presence. Blocking is also
played against go-sendxmpp, both ways."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.engine import Engine
from bridge.headless.outcome import EXIT_FAILED, EXIT_NOT_DELIVERED, EXIT_OK
from tests.harness.gosendxmpp import Listener
from tests.harness.servers import MUC_DOMAIN
from tests.others import person, until
from tests.test_headless import REPO_ROOT, cli, write_config
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import own_room

pytestmark = pytest.mark.servers
NS_CONFERENCE = "jabber:x:conference"
NS_CLIENT = "jabber:client"


async def cli_as_typed(config: Path, *argv: str) -> tuple[int, object]:
    """`tuiclient --config CONFIG ARGV` exactly as given (no --json added at the end)."""
    done = await asyncio.to_thread(lambda: subprocess.run(
        [sys.executable, "-m", "tuiclient", "--config", str(config), *argv],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT))
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"not JSON: {done.stdout!r}; {done.stderr}") from None


def presences(x, frm: str, ptype: str | None = None) -> list:
    return [p for p in x.presences if (p.get("from") or "").startswith(frm)
            and p.get("type") == ptype]


async def test_a_blocked_contact_s_lines_stop_arriving(world, tmp_path, running, monkeypatch):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    bob_x.send(alice.jid, "Before the block")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, _ = await cli(config, "search", "Before the block")
    assert len(hits) == 1

    code, blocked, err = await cli(config, "block", bob.jid)
    assert code == EXIT_OK and blocked == {"jid": bob.jid, "blocked": True}, err
    code, listed, err = await cli(config, "block", "--list")
    assert code == EXIT_OK and listed == [bob.jid], err
    # bob's client is not ours: his line is turned back by the server, never kept.
    bob_x.send(alice.jid, "While blocked")
    await until(lambda: [m for m in bob_x.stanzas if m.get("type") == "error"],
                what="the server refusing bob's line")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, _ = await cli(config, "search", "While blocked")
    assert hits == []
    # A new device (a store of its own) reads the archive: bob's earlier line is
    # there, and not kept while he is blocked.
    home = os.environ["XDG_DATA_HOME"]
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "phone"))
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, _ = await cli(config, "search", "Before the block")
    assert hits == []
    monkeypatch.setenv("XDG_DATA_HOME", home)

    code, unblocked, err = await cli(config, "unblock", bob.jid)
    assert code == EXIT_OK and unblocked == {"jid": bob.jid, "unblocked": True}, err
    code, listed, _ = await cli(config, "block", "--list")
    assert listed == []
    code, refused, _ = await cli(config, "unblock", bob.jid)
    assert code == EXIT_FAILED and "not blocked" in refused["error"]
    bob_x.send(alice.jid, "After the block")
    code, _, _ = await cli(config, "sync")
    code, hits, _ = await cli(config, "search", "After the block")
    assert len(hits) == 1


async def test_roster_deny_cancel_set_direct_invitations_and_presence(world, tmp_path,
                                                                      running):
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    carol, dave = person(world, "carol"), person(world, "dave")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    carol_x = await xmpp(plain(world, carol))
    dave_x = await xmpp(plain(world, dave))
    elsewhere = await xmpp(plain(world, alice))  # alice's other client, not ours

    # dave asks to see alice's presence; alice says no.
    dave_x.xmpp.send_presence(pto=alice.jid, ptype="subscribe")
    code, _, err = await cli(config, "sync")
    code, denied, err = await cli(config, "roster", "deny", dave.jid)
    assert code == EXIT_OK and denied == {"jid": dave.jid, "deny": True}, err
    await until(lambda: presences(dave_x, alice.jid, "unsubscribed"), what="dave denied")

    # alice asks carol, then takes the request back (while carol has not
    # answered): carol's server tells carol.
    carol_x.xmpp.auto_authorize = None
    carol_x.xmpp.auto_subscribe = False
    code, _item, err = await cli(config, "roster", "add", carol.jid)
    assert code == EXIT_OK, err
    await until(lambda: presences(carol_x, alice.jid, "subscribe"), what="the request")
    code, cancelled, err = await cli(config, "roster", "cancel", carol.jid)
    assert code == EXIT_OK and cancelled == {"jid": carol.jid, "cancel": True}, err
    await until(lambda: presences(carol_x, alice.jid, "unsubscribe"), what="the cancel")
    code, items, _ = await cli(config, "roster", "list")
    [kept] = [i for i in items if i["jid"] == carol.jid]
    assert not kept["pending_out"] and kept["subscription"] == "none"

    roster = elsewhere.xmpp.client_roster
    # A new name and groups for bob: no subscription asked, and alice's other
    # client has them from the server.
    before = len(presences(bob_x, alice.jid, "subscribe"))
    code, changed, err = await cli(config, "roster", "set", bob.jid, "--name", "Bobby",
                                   "--group", "Work", "--group", "Pals")
    assert code == EXIT_OK, err
    assert (changed["name"], changed["groups"]) == ("Bobby", ["Pals", "Work"])
    await until(lambda: roster[bob.jid]["name"] == "Bobby"
                and set(roster[bob.jid]["groups"]) == {"Work", "Pals"},
                what="the new name on alice's other client")
    code, changed, err = await cli(config, "roster", "set", bob.jid, "--group", "")
    assert code == EXIT_OK and changed["groups"] == [] and changed["name"] == "Bobby", err
    assert len(presences(bob_x, alice.jid, "subscribe")) == before
    assert (await cli(config, "roster", "set", bob.jid))[0] == 2

    # A direct invitation (XEP-0249), with --json before the sub-command.
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    code, invited = await cli_as_typed(config, "invite", "--json", "send", "--direct",
                                       room, dave.jid, "--reason", "come by")
    assert code == EXIT_OK and invited == {"room": room, "invited": dave.jid}
    await until(lambda: [m for m in dave_x.stanzas if (x := m.find(
        f"{{{NS_CONFERENCE}}}x")) is not None and x.get("jid") == room
        and x.get("reason") == "come by"], what="the direct invitation")
    code, listed = await cli_as_typed(config, "roster", "--json", "list")
    assert code == EXIT_OK and isinstance(listed, list)

    # Our presence as bob's client sees it, set by the app (a command's session
    # ends with it: tests/test_xmpp_presence_commands.py).
    await start(Engine(load_config(config)))
    code, _shown, err = await cli(config, "presence", "set", "dnd", "in a meeting")
    assert code == EXIT_OK, err
    await until(lambda: [p for p in presences(bob_x, alice.jid) if p.findtext(
        f"{{{NS_CLIENT}}}show") == "dnd" and p.findtext(f"{{{NS_CLIENT}}}status")
        == "in a meeting"], what="alice dnd at bob's")
    # Prosody has no invisible mode: refused, never faked.
    code, refused, _ = await cli(config, "presence", "set", "invisible")
    assert code == EXIT_FAILED and "no invisible mode" in refused["error"]


def go_sendxmpp(world, sender, home: Path, to: str, body: str) -> subprocess.CompletedProcess:
    """One line from go-sendxmpp (a client we did not write), the body on stdin."""
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SSL_CERT_FILE=str(world.ca_file), HOME=str(home))
    return subprocess.run(
        ["go-sendxmpp", "-u", sender.jid, "-p", sender.password,
         "-j", f"127.0.0.1:{world.ports.c2s}", to],
        input=body + "\n", env=env, capture_output=True, text=True, timeout=60)


async def test_blocking_holds_both_ways_with_go_sendxmpp(world, tmp_path):
    """Blocked, go-sendxmpp's lines do not reach us and ours do not reach it;
    unblocked, both do again."""
    alice, dave = person(world, "alice"), person(world, "dave")
    world.befriend(alice, dave)
    config = write_config(world, tmp_path, alice)
    listener = Listener(world, dave, tmp_path / "dave-home").start()
    try:
        code, _, err = await cli(config, "block", dave.jid)
        assert code == EXIT_OK, err
        code, sent, _ = await cli(config, "send", "--via", "im", "--to", dave.jid,
                                  "--when-away", "send", "--wait", "3", "Blocked line")
        assert code != EXIT_OK, sent
        await asyncio.to_thread(go_sendxmpp, world, dave, tmp_path / "dave-send",
                                alice.jid, "Line from a blocked dave")
        code, _, err = await cli(config, "sync")
        assert code == EXIT_OK, err
        code, hits, _ = await cli(config, "search", "blocked dave")
        assert hits == []

        code, _, err = await cli(config, "unblock", dave.jid)
        assert code == EXIT_OK, err
        await asyncio.to_thread(go_sendxmpp, world, dave, tmp_path / "dave-send",
                                alice.jid, "Line from dave again")
        code, _, err = await cli(config, "sync")
        code, hits, _ = await cli(config, "search", "dave again")
        assert len(hits) == 1
        code, sent, err = await cli(config, "send", "--via", "im", "--to", dave.jid,
                                    "--when-away", "send", "--wait", "3", "Open line")
        assert code in (EXIT_OK, EXIT_NOT_DELIVERED), err
        await until(lambda: listener.count("Open line") == 1, what="dave gets our line")
        assert listener.count("Blocked line") == 0
    finally:
        listener.stop()


async def test_who_tells_a_contact_s_presence_as_their_client_sets_it(world, tmp_path,
                                                                      running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    bob_x.set_presence("away", "at lunch")
    await asyncio.sleep(0.5)
    code, who, err = await cli(config, "who", bob.jid)
    assert code == EXIT_OK, err
    assert who["availability"] == "away" and who["status"] == "at lunch", who
    assert [d["show"] for d in who["devices"]] == ["away"], who
    bob_x.set_presence()
    await asyncio.sleep(0.5)
    code, who, err = await cli(config, "who", bob.jid)
    assert code == EXIT_OK and who["availability"] == "available", (who, err)
