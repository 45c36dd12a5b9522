"""`tuiclient omemo on|off|default JID` (issue 23): the per-chat OMEMO switch on
the command line, as `/omemo on|off` in the app, with `--json`; against the real
Prosody with a plain slixmpp peer without OMEMO (tests/omemo_peer.py) on the
other side: with the switch on, a line to it is refused (exit 9) and nothing
goes; off, it goes in clear. A room's `on` is checked: an open one is refused.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.servers import MUC_DOMAIN, World
from tests.omemo_peer import OmemoPeer
from tests.others import contacts_toml, person, until
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers


@pytest.fixture
async def bobs() -> AsyncIterator[list[OmemoPeer]]:
    made: list[OmemoPeer] = []
    yield made
    for p in made:
        await p.stop()


async def test_omemo_on_and_off_for_a_contact(world: World, tmp_path: Path, bobs) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = OmemoPeer(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                     str(world.ca_file), tmp_path / "bob.json", omemo=False)
    bobs.append(peer)
    await peer.start()
    config = write_config(world, tmp_path, alice, contacts_toml(bob))

    code, result, err = await cli(config, "omemo", "on", bob.jid.upper())
    assert code == 0, err
    assert result == {"jid": bob.jid, "omemo": "on"}
    code, result, err = await cli(config, "send", "--to", bob.jid, "Hello under seal?",
                                  "--via", "im")
    assert code == 9, (result, err)
    assert bob.jid in str(result) and "no OMEMO device" in str(result)
    await asyncio.sleep(0.5)
    assert "under seal" not in peer.raw()

    code, result, err = await cli(config, "omemo", "off", bob.jid)
    assert code == 0 and result == {"jid": bob.jid, "omemo": "off"}, err
    code, result, err = await cli(config, "send", "--to", bob.jid, "Hello in clear.",
                                  "--via", "im")
    assert code == 0, (result, err)
    await until(lambda: "Hello in clear." in peer.raw(), 30, "bob gets it in clear")

    code, result, err = await cli(config, "omemo", "default", bob.jid)
    assert code == 0 and result["omemo"] == "default", err
    code, _result, err = await cli(config, "omemo", "maybe", bob.jid)
    assert code == 2 and "invalid choice" in err


async def test_omemo_on_in_an_open_room_is_refused(world: World, tmp_path: Path) -> None:
    alice = person(world, "alice")
    config = write_config(world, tmp_path, alice)
    room = f"lobby{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    code, result, err = await cli(config, "join", room)
    assert code == 0, (result, err)
    code, result, err = await cli(config, "omemo", "on", room)
    assert code == 9, (result, err)
    assert room in str(result) and "is open" in str(result)
