"""One-shot commands and our presence, against the real Prosody, with plain
slixmpp clients (tests/harness/plain_xmpp.py) as the contacts who watch it:

- a command that logs in (reads the archive, sends a line, gets its receipt)
  announces nothing: its contact sees no "online" then "offline" for it (before,
  every command did both); it still knows who is available (its probes), reads
  the archive, and its line is delivered;
- `presence set` from the command line is set by the running client (here the
  app's engine) on its session, which the contact sees, and says which session
  set it; with no client running, nothing is set, and it says so (exit 1),
  rather than setting it on its own session for the second it lasts.
"""

from __future__ import annotations

import asyncio

import pytest

from bridge.config import load_config
from bridge.engine import Engine
from bridge.headless.outcome import EXIT_FAILED, EXIT_OK
from tests.harness.servers import MUC_DOMAIN
from tests.others import person, until
from tests.test_headless import cli, write_config
from tests.test_headless_chat import plain

pytestmark = pytest.mark.servers
NS_CLIENT = "jabber:client"


def _from(x, jid: str) -> list:
    """The presences of a session of `jid` (a resource: not the server's own
    "unavailable" from the bare JID, its answer at `x`'s login while nobody of
    `jid` was online) that reached client `x`."""
    return [p for p in x.presences if (p.get("from") or "").startswith(jid + "/")
            and p.get("type") in (None, "unavailable")]


async def test_a_command_announces_nothing_and_still_works(world, tmp_path, running) -> None:
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    bob_x.send(alice.jid, "While you were away.")  # alice is offline: the archive keeps it
    await asyncio.sleep(0.5)

    code, _rooms, err = await cli(config, "rooms", MUC_DOMAIN)
    assert code == EXIT_OK, err
    # The send asks whether bob is available (he is: no deferral, no question),
    # and waits for his receipt.
    code, sent, err = await cli(config, "send", "--to", bob.jid, "--via", "im",
                                "Back now.")
    assert code == EXIT_OK, (sent, err)
    assert [i["state"] for i in sent["outbox"]] == ["delivered"]
    await until(lambda: [r for r in bob_x.received if r.body == "Back now."], what="bob has it")
    code, found, err = await cli(config, "search", "While you were away")
    assert code == EXIT_OK and found, err
    await asyncio.sleep(1.0)
    assert _from(bob_x, alice.jid) == [], [p.attrib for p in _from(bob_x, alice.jid)]


async def test_presence_set_is_set_by_the_running_client(world, tmp_path, running) -> None:
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))

    # Nothing of ours is running: nothing is set, and the command says so.
    code, refused, err = await cli(config, "presence", "set", "dnd", "Focus time")
    assert code == EXIT_FAILED, (refused, err)
    assert refused["set"] is False and refused["by"] == []
    assert "no app" in refused["error"] and "nothing was changed" in refused["error"]

    # The app runs: it is online for bob, and the command's dnd is set on its session.
    app = await start(Engine(load_config(config)))
    full = str(app.xmpp[alice.name].session.boundjid.full)
    await until(lambda: [p for p in _from(bob_x, alice.jid) if p.get("from") == full],
                what="the app online at bob's")
    code, done, err = await cli(config, "presence", "set", "dnd", "Focus time")
    assert code == EXIT_OK, err
    assert done["set"] is True and done["by"] == [full] and done["errors"] == []
    await until(lambda: [p for p in _from(bob_x, alice.jid) if p.get("from") == full
                         and p.findtext(f"{{{NS_CLIENT}}}show") == "dnd"
                         and p.findtext(f"{{{NS_CLIENT}}}status") == "Focus time"],
                what="the app dnd at bob's")
    own = app.own_presence(alice.name)
    assert own is not None and own.status == "Focus time"
    assert app.presence_as_set(alice.name) == ("dnd", "Focus time")
    # Only the app's session ever told bob anything.
    assert {p.get("from") for p in _from(bob_x, alice.jid)} == {full}

    # Prosody has no invisible mode: the app refuses, and the command says why.
    code, refused, _ = await cli(config, "presence", "set", "invisible")
    assert code == EXIT_FAILED and "no invisible mode" in refused["error"]
    assert app.presence_as_set(alice.name) == ("dnd", "Focus time")
