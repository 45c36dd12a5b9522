"""OMEMO for chat (issue 23) against the harness's real Prosody, with a peer we
did not write on the other side: plain slixmpp with slixmpp-omemo
(tests/omemo_peer.py). Lines go encrypted both ways; neither the server's archive
nor a client without OMEMO ever sees the text; a peer without a device is
refused, naming who, and nothing goes in clear.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable

import pytest

from bridge.crypto.status import BLIND, UNREADABLE
from bridge.errors import EncryptionRefused
from bridge.model import DeliveryState, Direction, Message
from tests.harness.servers import Account, World
from tests.omemo_peer import OmemoPeer, peers
from tests.test_xmpp_client import Factory, Running, connect, person, until

pytestmark = pytest.mark.servers
__all__ = ["connect", "peers"]  # the fixtures, used by name


async def _pair(world: World, connect: Factory, peers: Callable[..., OmemoPeer],
                omemo: bool = True) -> tuple[Running, OmemoPeer, Account, Account]:
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob, omemo=omemo).start()
    me = await connect(alice, omemo=True)
    # Our keys made and published (slixmpp-omemo does it after login).
    assert [d.this_device for d in await me.client.omemo_devices([])] == [True]
    return me, peer, alice, bob


def _line(me: Running, text: str) -> Message | None:
    found = me.with_text(text)
    return found[0] if found else None


async def test_lines_go_encrypted_both_ways(world, connect, peers) -> None:
    me, peer, alice, bob = await _pair(world, connect, peers)
    # Theirs to us: opened, stored with how it came.
    await peer.send_encrypted(alice.jid, "The vault code is 4711.")
    await until(lambda: _line(me, "The vault code is 4711."), 30, "bob's line opened")
    got = _line(me, "The vault code is 4711.")
    assert got is not None and got.direction is Direction.IN
    assert got.crypto is not None and got.crypto.omemo and got.crypto.decrypted
    assert got.crypto.trust == BLIND and len(got.crypto.device.split()) == 8
    # The store keeps it (a new read of the row says so too).
    again = me.store.get_message(got.id)
    assert again is not None and again.crypto == got.crypto

    # Ours to them: sealed, opened by slixmpp-omemo, never in clear on the wire.
    sent = me.client.send_chat(bob.jid, "Meet at the north gate.", encrypt=True)
    await until(lambda: "Meet at the north gate." in peer.bodies(alice.jid), 30,
                "bob opens our line")
    assert "Meet at the north gate." not in peer.raw()
    assert "north gate" not in peer.raw()
    row = me.store.get_message(sent.id)
    assert row is not None and row.crypto is not None and row.crypto.omemo
    await until(lambda: me.store.get_message(sent.id).delivery is not DeliveryState.SENDING,
                20, "the server's ack")
    assert me.store.get_message(sent.id).delivery is not DeliveryState.FAILED

    # A correction would carry its text in clear: refused.
    from bridge.xmpp.core import XmppError
    with pytest.raises(XmppError, match="cannot be corrected"):
        me.client.correct(sent.id, "Meet at the south gate.")

    # The server's archive holds ciphertext only.
    archived = await _archive_text(world, alice)
    assert "north gate" not in archived and "4711" not in archived
    assert "eu.siacs.conversations.axolotl" in archived


async def _archive_text(world: World, who: Account) -> str:
    """What Prosody's archive (mod_mam, internal storage) holds for `who`, read
    from its files on disk."""
    from tests.harness.servers import prosody_path_encode

    await asyncio.sleep(0.5)
    root = world.prosody_dir / "data" / prosody_path_encode(who.jid_domain)
    texts = [path.read_bytes().decode("utf-8", "replace")
             for path in root.rglob("*")
             if path.is_file() and "archive" in str(path.relative_to(root))
             and prosody_path_encode(who.jid_local) in path.name]
    assert texts, f"no archive of {who.jid} under {root}"
    return "\n".join(texts)


async def test_a_peer_without_omemo_is_refused_and_nothing_goes_in_clear(
        world, connect, peers) -> None:
    me, peer, _alice, bob = await _pair(world, connect, peers, omemo=False)
    with pytest.raises(EncryptionRefused) as refused:
        await me.client.omemo_ready(bob.jid)
    assert bob.jid in str(refused.value) and "no OMEMO device" in str(refused.value)
    # Even past the check, the line is not sent in clear: it fails, saying why.
    sent = me.client.send_chat(bob.jid, "Only for your eyes.", encrypt=True)
    await until(lambda: me.store.get_message(sent.id).delivery is DeliveryState.FAILED, 30,
                "the line refused")
    await asyncio.sleep(0.5)
    assert "Only for your eyes" not in peer.raw()


async def test_a_line_this_device_cannot_read_is_labelled(world, connect, peers,
                                                          tmp_path) -> None:
    """bob's client encrypted for the devices it knew; a second client of
    alice's that came later is not among them: it says so, not the fallback."""
    me, peer, alice, _bob = await _pair(world, connect, peers)
    await peer.send_encrypted(alice.jid, "First words.")
    await until(lambda: _line(me, "First words."), 30, "the first line")
    other = await connect(alice, omemo=True, resource="laptop",
                          data=tmp_path / "alice-laptop")
    await asyncio.sleep(1.0)
    assert not [m for m in other.messages() if "OMEMO encrypted" in m.text]
    labelled = [m for m in other.messages() if m.crypto is not None and m.crypto.omemo]
    assert labelled, [m.text for m in other.messages()]
    assert all(m.text == f"[{UNREADABLE}]" and not m.crypto.decrypted for m in labelled)
    # And in JSON, as `show --json` prints it.
    from bridge.headless.output import plain
    shown = json.loads(json.dumps(plain(labelled[0])))
    assert shown["crypto"]["scheme"] == "omemo" and shown["crypto"]["decrypted"] is False
    assert os.stat(me.client.state.path.with_name(
        me.client.state.path.stem + ".omemo.json")).st_mode & 0o077 == 0


def test_the_lock_mark_and_the_omemo_command() -> None:
    """Units: what a line shows of its protection; `/omemo on|off` as typed."""
    from bridge.crypto.status import OMEMO, UNDECIDED, CryptoStatus
    from bridge.model import Party, Transport
    from tuiclient.chat_commands import NotACommand, parse
    from tuiclient.widgets.timeline import lock_mark

    def line(crypto: CryptoStatus | None) -> Message:
        return Message(msg_id="m1", account="a", transport=Transport.XMPP,
                       direction=Direction.IN, thread_id="t", date=0.0,
                       sender=Party("bob@example.test"), crypto=crypto)

    assert str(lock_mark(line(None))) == ""
    assert str(lock_mark(line(CryptoStatus(True, True, scheme=OMEMO, trust=BLIND)))) == "🔒"
    new = lock_mark(line(CryptoStatus(True, True, scheme=OMEMO, trust=UNDECIDED,
                                      device_id=42)))
    assert str(new) == "🔒 undecided device 42" and "red" in str(new.style)
    assert str(lock_mark(line(CryptoStatus(True, False, scheme=OMEMO)))) == "🔒 cannot read"
    assert parse("/omemo on").args == ("on",) and parse("/omemo OFF").args == ("off",)
    with pytest.raises(NotACommand):
        parse("/omemo maybe")


async def test_after_a_verification_a_new_device_is_flagged_and_refused(
        world, connect, peers, tmp_path) -> None:
    """BTBV: once alice verified bob's device, his new one is not trusted by
    itself: his line from it is flagged, and a line to him is refused until she
    decides, naming the device."""
    from bridge.crypto.status import UNDECIDED, VERIFIED

    me, peer, alice, bob = await _pair(world, connect, peers)
    await peer.send_encrypted(alice.jid, "From my phone.")
    await until(lambda: _line(me, "From my phone."), 30, "the first device's line")
    (phone,) = [d for d in await me.client.omemo_devices([bob.jid]) if d.jid == bob.jid]
    done = await me.client.omemo_trust(bob.jid, phone.fingerprint, "verified")
    assert done.trust == VERIFIED and done.device_id == phone.device_id

    laptop = OmemoPeer(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                       str(world.ca_file), tmp_path / "bob-laptop.json")
    try:
        await laptop.start()
        await laptop.send_encrypted(alice.jid, "From my new laptop.")
        await until(lambda: _line(me, "From my new laptop."), 30, "the new device's line")
        line = _line(me, "From my new laptop.")
        assert line.crypto is not None and line.crypto.decrypted
        assert line.crypto.trust == UNDECIDED and line.crypto.untrusted_device
        with pytest.raises(EncryptionRefused) as refused:
            await me.client.omemo_ready(bob.jid)
        assert "new OMEMO device" in str(refused.value) and bob.jid in str(refused.value)
        # Verified too, it is written to again.
        new = [d for d in await me.client.omemo_devices([bob.jid])
               if d.jid == bob.jid and d.device_id != phone.device_id]
        await me.client.omemo_trust(bob.jid, str(new[0].device_id), "verified")
        await me.client.omemo_ready(bob.jid)
        me.client.send_chat(bob.jid, "Both of you, then.", encrypt=True)
        await until(lambda: "Both of you, then." in laptop.bodies(alice.jid), 30,
                    "the laptop opens it")
        await until(lambda: "Both of you, then." in peer.bodies(alice.jid), 30,
                    "the phone opens it")
    finally:
        await laptop.stop()


async def test_a_correction_of_a_sealed_line_goes_sealed(world, connect, peers) -> None:
    """XEP-0308 on OMEMO lines: ours goes sealed like the line (only the
    reference to the line it replaces in clear) and bob's client reads it; his
    sealed correction of his line changes it here."""
    me, peer, alice, bob = await _pair(world, connect, peers)
    sent = me.client.send_chat(bob.jid, "Meet at the north gate.", encrypt=True)
    await until(lambda: "Meet at the north gate." in peer.bodies(alice.jid), 30, "the line")
    assert me.client.sealed_line(sent.id)
    fixed = await me.client.correct_sealed(sent.id, "Meet at the south gate.")
    assert fixed.text == "Meet at the south gate."
    await until(lambda: "Meet at the south gate." in peer.bodies(alice.jid), 30,
                "bob opens the correction")
    raw = peer.raw()
    assert "south gate" not in raw and "urn:xmpp:message-correct:0" in raw

    line_id = await peer.send_encrypted(alice.jid, "The code is 4711.")
    await until(lambda: _line(me, "The code is 4711."), 30, "bob's line")
    row = _line(me, "The code is 4711.")
    await peer.send_encrypted(alice.jid, "The code is 4712.", replace=line_id)
    await until(lambda: me.store.get_message(row.id).text == "The code is 4712.", 30,
                "bob's sealed correction applied")
    assert "4712" not in await _archive_text(world, alice)
