"""The handoff stays private (issue 23): a conversation encrypted on one transport
is carried encrypted to the other. bob has gpg (tests/gpg_peer.py) for his mail
and slixmpp-omemo (tests/omemo_peer.py) for his chat, neither of them ours;
Dovecot, the SMTP server and Prosody are the real servers in between, and what
they hold is checked for the text.

(a) bob's OMEMO chat handed to email (with its history) goes PGP/MIME: gpg reads
    the text and the carried lines, Dovecot holds none of it in clear;
(b) bob's encrypted email answered by chat goes OMEMO-encrypted: his client
    opens it, the wire and Prosody's archive hold none of it in clear;
(c) and without bob's OpenPGP key, the chat handed to email is refused, naming
    him, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bridge.errors import EncryptionRefused
from bridge.model import Direction, Transport
from tests.harness.servers import World
from tests.omemo_peer import OmemoPeer
from tests.others import until
from tests.test_crypto_fallback import Pair
from tests.test_crypto_mail import raw_mail
from tests.test_omemo import _archive_text

pytestmark = pytest.mark.servers


@pytest.fixture
def pair(world: World, tmp_path: Path) -> Iterator[Pair]:
    p = Pair(world, tmp_path)
    yield p
    p.close()


@pytest.fixture
def keyless(world: World, tmp_path: Path) -> Iterator[Pair]:
    p = Pair(world, tmp_path, trusting=False)
    yield p
    p.close()


@pytest.fixture
async def bobs_chat(world: World, tmp_path: Path) -> AsyncIterator[list[OmemoPeer]]:
    made: list[OmemoPeer] = []
    yield made
    for p in made:
        await p.stop()


async def _bob_online(world: World, p: Pair, made: list[OmemoPeer]) -> OmemoPeer:
    peer = OmemoPeer(p.peer.jid, p.peer.password, "127.0.0.1", world.ports.c2s,
                     str(world.ca_file), p.tmp / "bob-omemo.json")
    made.append(peer)
    return await peer.start()


async def _omemo_line_from_bob(engine, p: Pair, peer: OmemoPeer, text: str):
    assert any(d.this_device for d in await engine.omemo_devices())
    await peer.send_encrypted(p.me.jid, text)

    def got():
        return [m for t in engine.store.list_threads(p.me.name, limit=50)
                for m in engine.store.thread_messages(t.thread_id, p.me.name)
                if m.text == text]
    await until(got, 30, "bob's OMEMO line")
    (line,) = got()
    assert line.crypto is not None and line.crypto.omemo and line.direction is Direction.IN
    return line


async def test_an_omemo_chat_handed_to_email_goes_pgp_mime(world, pair, bobs_chat,
                                                           running) -> None:
    start, _ = running
    peer = await _bob_online(world, pair, bobs_chat)
    engine = await start(pair.engine())
    line = await _omemo_line_from_bob(engine, pair, peer, "The safe's code is 0451.")

    result = await engine.reply(line.id, "More by email.", via="email", history=True)
    assert result.via == "email"
    await until(lambda: raw_mail(world, pair.peer), 30, "bob's copy")
    (wire,) = raw_mail(world, pair.peer)
    # The words, not "0451" alone: four digits turn up by chance in the armor's
    # base64, the boundary or an id (once in a clean run of the suite).
    assert b"code is 0451" not in wire and b"More by email" not in wire, wire
    opened = pair.decrypt(wire)
    assert b"More by email." in opened and b"0451" in opened
    assert email.message_from_bytes(wire).get_content_type() == "multipart/encrypted"


async def test_an_encrypted_email_answered_by_chat_goes_by_omemo(world, pair, bobs_chat,
                                                                 running) -> None:
    start, _ = running
    peer = await _bob_online(world, pair, bobs_chat)
    pair.encrypted_mail("The meeting moved to the boathouse.")
    engine = await start(pair.engine())
    assert any(d.this_device for d in await engine.omemo_devices())
    await until(lambda: engine.store.find_by_msg_id(pair.me.name, "plans-1@example.net"), 30,
                "bob's encrypted email")
    original = engine.store.find_by_msg_id(pair.me.name, "plans-1@example.net")
    result = await engine.reply(original.id, "Boathouse it is.", via="im")
    assert result.via == "im" and result.outbox
    await until(lambda: "Boathouse it is." in peer.bodies(pair.me.jid), 30, "bob opens it")
    assert "Boathouse" not in peer.raw()
    row = engine.store.outbox_get(result.outbox[0])
    assert row.payload["protection"]["omemo"] is True
    assert "conversation is encrypted" in row.payload["protection"]["why"]
    (ours,) = [m for m in engine.store.thread_messages(original.thread_id, pair.me.name)
               if m.transport is Transport.XMPP and m.text == "Boathouse it is."]
    assert ours.crypto is not None and ours.crypto.omemo
    await asyncio.sleep(0.5)
    assert "Boathouse" not in await _archive_text(world, pair.me)


async def test_without_their_key_the_chat_handed_to_email_is_refused(
        world, keyless, bobs_chat, running) -> None:
    start, _ = running
    peer = await _bob_online(world, keyless, bobs_chat)
    engine = await start(keyless.engine())
    line = await _omemo_line_from_bob(engine, keyless, peer, "Keep this between us.")
    with pytest.raises(EncryptionRefused) as refused:
        await engine.reply(line.id, "By email now.", via="email", history=True)
    assert keyless.peer.email in str(refused.value)
    assert "OMEMO" in str(refused.value)  # why: the chat was encrypted
    await asyncio.sleep(1.0)
    assert raw_mail(world, keyless.peer) == []
