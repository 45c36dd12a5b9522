"""OMEMO with Profanity on the other side (issue 23): a full console client we did
not write, with its own OMEMO (libsignal, the oldmemo namespace), driven in tmux
the way a person types into it (tests/harness/profanity.py). Debian's build has
OMEMO on (`profanity --version`: "OMEMO support: Enabled").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bridge.errors import EncryptionRefused
from tests import test_xmpp_client
from tests.harness.profanity import Profanity
from tests.test_xmpp_client import person, until

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect


@pytest.fixture
async def profanity(world, tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    started: list[Profanity] = []

    async def start(account) -> Profanity:
        p = Profanity(world, account, tmp_path / f"prof-{account.name}").start()
        started.append(p)
        return await p.started()

    yield start
    for p in started:
        p.stop()


async def _devices_of(client, jid: str) -> str:
    """"" when a line to `jid` can be sealed now, else why not."""
    try:
        await client.omemo_ready(jid)
    except EncryptionRefused as exc:
        return str(exc)
    return ""


async def _empty_device_list(world, who) -> None:
    """Publish an empty OMEMO device list for `who`, by hand (a plain slixmpp
    session, raw XML): Profanity 0.13 asks for its own list at login and, when
    the node does not exist yet, never publishes one (an account that had OMEMO
    on before has the node)."""
    from xml.etree import ElementTree as ET

    from tests.others import plain

    client = await plain(world, who).start()
    try:
        iq = client.xmpp.make_iq_set()
        pubsub = ET.SubElement(iq.xml, "{http://jabber.org/protocol/pubsub}pubsub")
        publish = ET.SubElement(pubsub, "{http://jabber.org/protocol/pubsub}publish",
                                node="eu.siacs.conversations.axolotl.devicelist")
        item = ET.SubElement(publish, "{http://jabber.org/protocol/pubsub}item",
                             id="current")
        ET.SubElement(item, "{eu.siacs.conversations.axolotl}list")
        await iq.send(timeout=10)
    finally:
        await client.stop()


async def test_omemo_both_ways_with_profanity(world, connect, profanity) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    me = await connect(alice, omemo=True)
    assert any(d.this_device for d in await me.client.omemo_devices([]))
    await _empty_device_list(world, bob)
    p = await profanity(bob)
    p.type("/omemo gen")
    await p.shows("materials generated", 60)
    p.type("/omemo trustmode blind")
    # Profanity makes its keys (a while), then publishes its device and bundle.
    why = "not asked"
    for _ in range(60):
        why = await _devices_of(me.client, bob.jid)
        if not why:
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"{why}\n{p.screen()}")

    sent = me.client.send_chat(bob.jid, "Sealed hello to Profanity.", encrypt=True)
    await p.shows("(win 2)", 20)
    p.type("/win 2")
    await p.shows("Sealed hello to Profanity.", 20)
    assert me.store.get_message(sent.id).crypto.omemo

    p.type("/omemo start")
    await p.shows("OMEMO", 20)
    p.type("Sealed answer from Profanity.")
    await until(lambda: me.with_text("Sealed answer from Profanity."), 30,
                "profanity's line opened")
    (line,) = me.with_text("Sealed answer from Profanity.")
    assert line.crypto is not None and line.crypto.omemo and line.crypto.decrypted
