"""A network that flaps: the XMPP connection is cut again and again (in the TLS
handshake, in the login, in the middle of stanzas) while lines are being sent.
Every accepted line must reach bob once the connection holds, in order, once.

bob uses plain slixmpp (answers receipts, keeps no duplicate check of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from bridge.model import DeliveryState
from tests.others import contacts_toml, person, plain, until
from tests.test_resilience import proxied_engine, proxies  # noqa: F401  (fixture)

pytestmark = pytest.mark.servers

FAST = '\n[deferral]\nfirst_retry = "0.3s"\ngrowth = 1.0\nceiling = "0.3s"\n'


async def test_lines_sent_through_a_flapping_connection_arrive_once_in_order(
        world, tmp_path, running, proxies):  # noqa: F811
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    c2s = proxies["c2s"]
    engine = await start(proxied_engine(world, tmp_path, alice, proxies,
                                        contacts_toml(bob) + FAST))
    client = engine.xmpp_client(alice.name)
    seen: list = []
    engine.events.subscribe(lambda e: seen.append(e) if type(e).__name__ ==
                            "XmppConnectionChanged" else None)
    await until(lambda: engine.availability(alice.name, bob.jid).availability.value
                == "available", 15, "bob online")
    rng = random.Random(17)
    stop = asyncio.Event()

    async def chaos() -> None:
        # Cut where it hurts: a few hundred bytes in (the TLS handshake), a few
        # thousand (SASL, bind, the roster), or any open stream, again and again.
        while not stop.is_set():
            what = rng.choice(("tls", "login", "drop", "drop"))
            if what == "tls":
                c2s.cut_after(rng.randint(200, 1500))
            elif what == "login":
                c2s.cut_after(rng.randint(3000, 9000))
            else:
                c2s.drop()
            await asyncio.sleep(rng.uniform(0.2, 1.2))
    texts = [f"flap {i:03d}" for i in range(100)]
    ids: list[int] = []
    storm = asyncio.ensure_future(chaos())
    try:
        for text in texts:
            result = await asyncio.wait_for(engine.send_message(
                alice.name, [bob.jid], text, when_away="send"), 20)
            ids += result.outbox
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await storm
    c2s.pass_()
    try:
        await until(lambda: client.connected, 60, "the connection holds again")
    except AssertionError:
        raise AssertionError(f"{seen[-12:]} transport={client.session.transport}") from None
    await until(lambda: all(t in bob_x.bodies(alice.jid) for t in texts), 90,
                "every line at bob")
    await until(lambda: all(engine.store.outbox_get(i).state is DeliveryState.DELIVERED
                            for i in ids), 60, "every line delivered")
    await asyncio.sleep(1.0)
    got = [b for b in bob_x.bodies(alice.jid) if b.startswith("flap ")]
    assert {t: got.count(t) for t in texts} == {t: 1 for t in texts}
    assert got == texts  # in order
