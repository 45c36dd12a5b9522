"""OMEMO on demand (issue 22, row 8: python-omemo's stack is 35 MiB of the app):
an account with OMEMO on loads the stack (`bridge/xmpp/omemo_stack.py`) only
when it needs it, and `bridge/xmpp/omemo_plugin.py` does the rest from login.
Against the harness's real Prosody, with plain slixmpp-omemo peers
(tests/omemo_peer.py):

- a line that comes before the stack is loaded is opened, and stored once;
- a line that must go sealed waits for the stack, and goes sealed;
- a contact's device list that came first is kept and replayed into the stack;
- our device missing from the server's list loads the stack, which publishes it;
- an account whose own device the server lists, and whose contacts have no
  OMEMO, never imports the stack (in an engine's own process: this one has the
  peers' slixmpp-omemo loaded).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.model import Direction
from tests.conftest import password_command
from tests.harness.servers import World
from tests.omemo_peer import peers
from tests.test_app_start_order import CRYPTO
from tests.test_xmpp_client import Factory, Running, connect, person, until

pytestmark = pytest.mark.servers
__all__ = ["connect", "peers"]  # the fixtures, used by name

ROOT = Path(__file__).resolve().parent.parent


async def _second_login(connect: Factory, account, data: Path) -> Running:
    """`account` logged in once (its keys made and published, the stack loaded
    for that), stopped, and logged in again from the same data: the server
    lists this device now, so the stack waits."""
    first = await connect(account, omemo=True, data=data)
    assert [d.this_device for d in await first.client.omemo_devices([])] == [True]
    assert first.client.omemo_loaded
    await first.client.stop()
    first.store.close()
    again = await connect(account, omemo=True, data=data)
    standby = again.client.session.plugin["tuiclient_omemo_standby"]
    await asyncio.wait_for(standby.checked.wait(), 30)
    assert again.client.omemo_loaded == ""
    return again


async def test_a_line_that_comes_before_the_stack_is_opened_once(
        world: World, connect, peers, tmp_path: Path) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    me = await _second_login(connect, alice, tmp_path / "alice")
    # Bob's device list came at login, and was kept: the stack still waits.
    await asyncio.sleep(1.0)
    assert me.client.omemo_loaded == ""

    await peer.send_encrypted(alice.jid, "Before you were ready.")
    await peer.send_encrypted(alice.jid, "And a second one.")
    await until(lambda: me.with_text("And a second one."), 30, "both lines opened")
    assert me.client.omemo_loaded == "an OMEMO line came"
    first, second = me.with_text("Before you were ready."), me.with_text("And a second one.")
    assert len(first) == 1 and len(second) == 1
    for line in (first[0], second[0]):
        assert line.direction is Direction.IN
        assert line.crypto is not None and line.crypto.omemo and line.crypto.decrypted
    assert first[0].date <= second[0].date
    # Nothing else was stored of them (no fallback text, no unreadable label).
    assert not [m for m in me.messages() if m.crypto is not None and not m.crypto.decrypted]


async def test_a_line_that_must_go_sealed_waits_for_the_stack(
        world: World, connect, peers, tmp_path: Path) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    me = await _second_login(connect, alice, tmp_path / "alice")

    me.client.send_chat(bob.jid, "Sealed from the first word.", encrypt=True)
    await until(lambda: "Sealed from the first word." in peer.bodies(alice.jid), 30,
                "bob opens our line")
    assert me.client.omemo_loaded.startswith("a line to")
    assert "Sealed from the first word" not in peer.raw()
    assert not peer.bodies(alice.jid, encrypted=False)


async def test_a_contacts_list_that_came_first_is_replayed_into_the_stack(
        world: World, connect, peers, tmp_path: Path) -> None:
    """Bob's device list comes by PEP at login (our +notify) and is kept; the
    stack, loaded later by `keys` (which asks the server nothing about him here),
    knows his device from the kept list alone."""
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    me = await _second_login(connect, alice, tmp_path / "alice")
    standby = me.client.session.plugin["tuiclient_omemo_standby"]
    await until(lambda: any(who == bob.jid for who, _node in standby._lists), 20,
                "bob's list kept")
    await me.client.omemo_devices([])
    assert me.client.omemo_loaded == "the devices were asked for (keys)"
    assert not standby._lists
    manager = await (await me.client._omemo_stack("test")).get_session_manager()
    devices = await manager.get_device_information(bob.jid)
    theirs = await (await peer.xmpp.plugin["xep_0384"].get_session_manager()
                    ).get_own_device_information()
    assert {d.device_id for d in devices} == {theirs[0].device_id}


async def test_our_device_missing_from_the_server_loads_the_stack(
        world: World, connect, tmp_path: Path) -> None:
    """Another client of ours published a list without this device: the stack
    loads and publishes it again, so peers can still encrypt to us."""
    alice = person(world, "alice")
    me = await _second_login(connect, alice, tmp_path / "alice")
    from xml.etree import ElementTree as ET

    from bridge.xmpp.omemo_plugin import OLDMEMO_DEVICE_LIST_NODE, device_ids

    pubsub = me.client.session.plugin["xep_0060"]
    await pubsub.publish(alice.jid, OLDMEMO_DEVICE_LIST_NODE, id="current",
                         payload=ET.Element("{eu.siacs.conversations.axolotl}list"))
    await until(lambda: me.client.omemo_loaded, 30, "the stack loaded")
    assert "without this device" in me.client.omemo_loaded

    async def listed() -> set[int]:
        iq = await pubsub.get_items(alice.jid, OLDMEMO_DEVICE_LIST_NODE, max_items=1)
        items = [i.xml for i in iq["pubsub"]["items"]]
        return device_ids(OLDMEMO_DEVICE_LIST_NODE, items[0] if items else None)

    (this,) = [d for d in await me.client.omemo_devices([]) if d.this_device]
    for _ in range(100):
        if this.device_id in await listed():
            break
        await asyncio.sleep(0.2)
    assert this.device_id in await listed()


ENGINE = """
import asyncio, sys, threading
from bridge.config import load_config
from bridge.engine import Engine
from bridge.events import HealthChanged
from bridge.store import Store

config = load_config({config!r})
assert config.crypto.omemo
engine = Engine(config, Store.open({store!r}))
chat = threading.Event()
engine.events.subscribe(lambda e: isinstance(e, HealthChanged) and e.service == "xmpp"
                        and e.ok and chat.set())

async def main():
    await engine.start(timeout=60)
    await asyncio.to_thread(chat.wait, 60)
    client = engine.xmpp_client({account!r})
    await asyncio.wait_for(
        client.session.plugin["tuiclient_omemo_standby"].checked.wait(), 30)
    await asyncio.sleep(1.5)  # the contacts' presences and lists come
    print("loaded:", repr(client.omemo_loaded))
    print("modules:", [n for n in {crypto!r} if n in sys.modules])
    await engine.stop()
    engine.close()

asyncio.run(main())
assert chat.is_set(), "the chat account never logged in"
"""


def test_contacts_without_omemo_never_import_the_stack(world: World, tmp_path: Path):
    """With OMEMO on: the first login makes and publishes the keys (the stack
    loads); the next one, the server listing this device and no contact
    writing encrypted, imports none of the stack."""
    account = world.add_account("lazyomemo")
    friend = world.add_account("lazyfriend")
    world.befriend(account, friend)
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(account, password_command(tmp_path, account)))
    config.chmod(0o600)
    code = ENGINE.format(config=str(config), store=str(tmp_path / "store.db"),
                         account=account.name, crypto=CRYPTO)

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                              text=True, check=False, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    first = run()
    assert "loaded: 'no OMEMO keys yet" in first and "'omemo'" in first, first
    again = run()
    assert "loaded: ''" in again and "modules: []" in again, again


def test_reading_a_device_list_and_our_device_id(tmp_path: Path) -> None:
    """Units: the ids a published list names (either version; a malformed id is
    skipped), and this device's id from the keys' file (None without keys)."""
    from xml.etree import ElementTree as ET

    from bridge.xmpp.omemo_plugin import (
        OLDMEMO_DEVICE_LIST_NODE,
        TWOMEMO_DEVICE_LIST_NODE,
        device_ids,
        own_device_id,
    )

    old = ET.fromstring("<item xmlns='http://jabber.org/protocol/pubsub#event'>"
                        "<list xmlns='eu.siacs.conversations.axolotl'><device id='12'/>"
                        "<device id='x'/><device id='34'/></list></item>")
    new = ET.fromstring("<item><devices xmlns='urn:xmpp:omemo:2'><device id='56' label='a'/>"
                        "</devices></item>")
    assert device_ids(OLDMEMO_DEVICE_LIST_NODE, old) == {12, 34}
    assert device_ids(TWOMEMO_DEVICE_LIST_NODE, new) == {56}
    assert device_ids(TWOMEMO_DEVICE_LIST_NODE, old) == set()
    assert device_ids(OLDMEMO_DEVICE_LIST_NODE, None) == set()
    keys = tmp_path / "me.omemo.json"
    assert own_device_id(keys) is None
    keys.write_text('{"/own_device_id": 1152734199, "/ikp/key": "..."}')
    assert own_device_id(keys) == 1152734199
    keys.write_text("not json")
    assert own_device_id(keys) is None



async def test_a_one_shot_commands_first_login_leaves_its_keys_published(
        world: World, connect, tmp_path: Path, private_xdg: Path) -> None:
    """A one-shot command's first login makes the keys, and the command may be
    done before they are published (`send` to an address with no JID ends at
    once, exit 7): its stop waits for the publication, so the bundle the device
    list names is there for peers (CI saw the next command's python-omemo fail to
    fetch it: "Couldn't download own bundle", printed as a traceback)."""
    from bridge.headless.cli import EXIT_DECIDE
    from bridge.xmpp.omemo_plugin import (
        OLDMEMO_DEVICE_LIST_NODE,
        device_ids,
        own_device_id,
    )
    from tests.test_headless import cli, write_config

    alice = person(world, "alice")
    config = write_config(world, tmp_path, alice)
    code, said, err = await cli(config, "send", "--to", f"nobody@{alice.jid.split('@')[1]}x",
                                "--via", "im", "to no one")
    assert code == EXIT_DECIDE, (said, err)
    (keys,) = (private_xdg / "data").rglob("*.omemo.json")
    own = own_device_id(keys)
    assert own is not None

    reader = await connect(alice, resource="reader")
    pubsub = reader.client.session.plugin["xep_0060"]
    iq = await pubsub.get_items(alice.jid, OLDMEMO_DEVICE_LIST_NODE, max_items=1, timeout=30)
    items = [i.xml for i in iq["pubsub"]["items"]]
    assert own in device_ids(OLDMEMO_DEVICE_LIST_NODE, items[0] if items else None)
    for node, item in ((f"eu.siacs.conversations.axolotl.bundles:{own}", None),
                       ("urn:xmpp:omemo:2:bundles", str(own))):
        try:
            iq = await pubsub.get_items(alice.jid, node, item_ids=[item] if item else None,
                                        timeout=30)
        except Exception as exc:  # item-not-found: never published
            raise AssertionError(f"{node}: {exc!r}") from None
        assert len(iq["pubsub"]["items"]) == 1, node
