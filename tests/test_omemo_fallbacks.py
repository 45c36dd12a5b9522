""""By chat instead" with OMEMO (issue 23): an encrypted conversation answered by
chat goes OMEMO-sealed instead of being refused, by the rules daemon and by the
outbox's "by chat instead"; refused, naming who, only when OMEMO cannot be
used. bob has gpg for his mail (tests/gpg_peer.py) and a plain slixmpp-omemo
client (tests/omemo_peer.py) for his chat, neither of them ours; nothing is
ever on the wire in clear.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.harness.servers import World
from tests.omemo_peer import OmemoPeer
from tests.others import until
from tests.test_crypto_fallback import Pair, running_daemons
from tests.test_crypto_mail import raw_mail
from tests.test_daemon import Daemon

pytestmark = pytest.mark.servers
__all__ = ["running_daemons"]  # the fixture, used by name

BY_CHAT = """
[[rules]]
name = "acknowledge"
[rules.match]
transport = "email"
[rules.action]
reply = "im"
text = "Got your note: $snippet"
"""


@pytest.fixture
def pair(world: World, tmp_path: Path) -> Iterator[Pair]:
    p = Pair(world, tmp_path)
    yield p
    p.close()


@pytest.fixture
async def bobs_chat() -> AsyncIterator[list[OmemoPeer]]:
    made: list[OmemoPeer] = []
    yield made
    for p in made:
        await p.stop()


async def _bob(world: World, p: Pair, made: list[OmemoPeer], omemo: bool = True) -> OmemoPeer:
    peer = OmemoPeer(p.peer.jid, p.peer.password, "127.0.0.1", world.ports.c2s,
                     str(world.ca_file), p.tmp / "bob-omemo.json", omemo=omemo)
    made.append(peer)
    return await peer.start()


async def test_the_daemon_answers_an_encrypted_email_by_omemo(world, pair, bobs_chat,
                                                             running_daemons) -> None:
    peer = await _bob(world, pair, bobs_chat)
    d = Daemon(world, pair.tmp, pair.me, BY_CHAT, pair.extra())
    running_daemons.append(d.start())
    await d.started()
    pair.encrypted_mail("The secret word is xylophone.")
    await until(lambda: d.actions("replied") or d.actions("not sent")
                or d.actions("failed"), 60, "the daemon's answer")
    assert d.actions("replied"), d.lines
    await until(lambda: any(b.startswith("Got your note") for b in peer.bodies(pair.me.jid)),
                30, "bob opens the answer")
    assert "Got your note" not in peer.raw() and "xylophone" not in peer.raw()
    assert await d.stop() == 0
    assert raw_mail(world, pair.peer) == []


async def test_the_daemon_names_who_has_no_omemo_device(world, pair, bobs_chat,
                                                        running_daemons) -> None:
    peer = await _bob(world, pair, bobs_chat, omemo=False)
    d = Daemon(world, pair.tmp, pair.me, BY_CHAT, pair.extra())
    running_daemons.append(d.start())
    await d.started()
    pair.encrypted_mail("The secret word is xylophone.")
    await until(lambda: d.actions("not sent") or d.actions("replied"), 60, "the daemon")
    (refused,) = d.actions("not sent")
    assert pair.peer.jid in refused["reason"] and "no OMEMO device" in refused["reason"]
    assert await d.stop() == 0
    await asyncio.sleep(0.5)
    assert "Got your note" not in peer.raw() and raw_mail(world, pair.peer) == []


async def _queued_encrypted_email(world: World, pair: Pair, engine) -> int:
    """alice's encrypted answer to bob's encrypted email, waiting for a mail
    server that is down; its outbox id."""
    pair.encrypted_mail("The meeting moved to the boathouse.")
    assert any(d.this_device for d in await engine.omemo_devices())
    await until(lambda: engine.store.find_by_msg_id(pair.me.name, "plans-1@example.net"), 30,
                "bob's encrypted email")
    original = engine.store.find_by_msg_id(pair.me.name, "plans-1@example.net")
    world.stop_smtp()
    result = await asyncio.wait_for(engine.reply(original.id, "Boathouse at eight.",
                                                 via="email"), 20)
    (email_id,) = result.emails
    return email_id


async def test_an_encrypted_email_goes_by_chat_instead_sealed(world, pair, bobs_chat,
                                                             running) -> None:
    from bridge.model import DeliveryState

    start, _ = running
    peer = await _bob(world, pair, bobs_chat)
    engine = await start(pair.engine())
    try:
        email_id = await _queued_encrypted_email(world, pair, engine)
        ids = await engine.outbox_im(email_id)
        assert ids and engine.store.outbox_get(email_id).state is DeliveryState.FELL_BACK_TO_IM
        await until(lambda: "Boathouse at eight." in peer.bodies(pair.me.jid), 30,
                    "bob opens it")
        assert "Boathouse" not in peer.raw() and "eight" not in peer.raw()
        assert all(engine.store.outbox_get(i).payload["protection"]["omemo"] for i in ids)
    finally:
        world.start_smtp()


async def test_by_chat_instead_names_who_has_no_omemo_device(world, pair, bobs_chat,
                                                              running) -> None:
    from bridge.errors import EncryptionRefused
    from bridge.model import DeliveryState

    start, _ = running
    peer = await _bob(world, pair, bobs_chat, omemo=False)
    engine = await start(pair.engine())
    try:
        email_id = await _queued_encrypted_email(world, pair, engine)
        with pytest.raises(EncryptionRefused) as refused:
            await engine.outbox_im(email_id)
        assert pair.peer.jid in str(refused.value) and "no OMEMO device" in str(refused.value)
        assert refused.value.missing == [pair.peer.jid]
        assert engine.store.outbox_get(email_id).state is DeliveryState.QUEUED
        await asyncio.sleep(0.5)
        assert "Boathouse" not in peer.raw()
    finally:
        world.start_smtp()
