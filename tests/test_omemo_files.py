"""Encrypted files in OMEMO chats (XEP-0454, `aesgcm://`), against the harness's
real Prosody and its mod_http_file_share, with a plain slixmpp-omemo peer
(tests/omemo_peer.py, using slixmpp's own xep_0454 cipher) on the other side:
ours goes sealed and the peer opens it; theirs is fetched, opened and stored;
the upload service holds ciphertext only, and the link (which carries the key)
is never on the wire in clear; handed to email, the file goes inside the
PGP/MIME.
"""

from __future__ import annotations

import email
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bridge.model import Message
from tests.harness.servers import UPLOAD_DOMAIN, World
from tests.omemo_peer import OmemoPeer
from tests.others import person
from tests.test_omemo import _pair, peers
from tests.test_xmpp_client import Running, connect, until

pytestmark = pytest.mark.servers
__all__ = ["connect", "peers"]  # the fixtures, used by name

PLAN = b"FLOOR PLAN: vault behind the third pillar. " * 40


def _server_holds(world: World, data: bytes) -> tuple[bool, int]:
    """(whether any file of Prosody's data holds `data`, how many uploads it keeps)."""
    from tests.harness.servers import prosody_path_encode

    root = world.prosody_dir / "data"
    files = [p for p in root.rglob("*") if p.is_file()]
    uploads = [p for p in files if prosody_path_encode(UPLOAD_DOMAIN) in str(p)]
    return any(data[:60] in p.read_bytes() for p in files), len(uploads)


def _line_with(me: Running, prefix: str) -> Message | None:
    return next((m for m in me.messages() if m.text.startswith(prefix)), None)


async def test_a_file_goes_sealed_and_the_server_holds_only_ciphertext(
        world, connect, peers) -> None:
    me, peer, alice, bob = await _pair(world, connect, peers)
    _before, uploads_before = _server_holds(world, PLAN)
    sent = await me.client.send_file(bob.jid, PLAN, "floor-plan.txt", "text/plain",
                                     encrypt=True)
    assert sent.crypto is not None and sent.crypto.omemo
    await until(lambda: any(b.startswith("aesgcm://") for b in peer.bodies(alice.jid)), 30,
                "bob opens the line")
    (link,) = [b for b in peer.bodies(alice.jid) if b.startswith("aesgcm://")]
    assert await peer.fetch_sealed(link) == PLAN
    # The link (and so the key) only inside the sealed line; no OOB in clear.
    raw = peer.raw()
    assert "aesgcm" not in raw and link.partition("#")[0][len("aesgcm://"):] not in raw
    assert "jabber:x:oob" not in raw
    holds, uploads = _server_holds(world, PLAN)
    assert uploads > uploads_before and not holds
    # Ours keeps the file's bytes as sent.
    row = me.store.get_message(sent.id)
    assert row.attachments[0].sha256 == hashlib.sha256(PLAN).hexdigest()


async def test_a_sealed_file_is_fetched_opened_and_stored(world, connect, peers) -> None:
    me, peer, alice, _bob = await _pair(world, connect, peers)
    link = await peer.upload_sealed(PLAN, "plan.txt", UPLOAD_DOMAIN)
    await peer.send_encrypted(alice.jid, link)
    await until(lambda: _line_with(me, "aesgcm://"), 30, "bob's file line opened")
    line = _line_with(me, "aesgcm://")
    assert line.crypto is not None and line.crypto.decrypted
    (attachment,) = line.attachments
    assert attachment.url == link and attachment.filename.endswith(".txt")
    fetched = await me.client.download(line.id)
    assert fetched[0].sha256 == hashlib.sha256(PLAN).hexdigest()
    assert fetched[0].content_type == "text/plain" and fetched[0].size == len(PLAN)
    assert me.store.blob_path(fetched[0].sha256).read_bytes() == PLAN
    assert not _server_holds(world, PLAN)[0]


@pytest.fixture
def pair(world: World, tmp_path: Path) -> Iterator:
    from tests.test_crypto_fallback import Pair

    p = Pair(world, tmp_path)
    yield p
    p.close()


@pytest.fixture
async def bobs_chat() -> AsyncIterator[list[OmemoPeer]]:
    made: list[OmemoPeer] = []
    yield made
    for p in made:
        await p.stop()


async def test_a_sealed_file_handed_to_email_goes_inside_the_pgp_mime(
        world, pair, bobs_chat, running) -> None:
    from tests.test_crypto_mail import raw_mail

    start, _ = running
    peer = OmemoPeer(pair.peer.jid, pair.peer.password, "127.0.0.1", world.ports.c2s,
                     str(world.ca_file), pair.tmp / "bob-omemo.json")
    bobs_chat.append(peer)
    await peer.start()
    engine = await start(pair.engine())
    assert any(d.this_device for d in await engine.omemo_devices())
    link = await peer.upload_sealed(PLAN, "plan.txt", UPLOAD_DOMAIN)
    await peer.send_encrypted(pair.me.jid, link)

    def got() -> list[Message]:
        return [m for t in engine.store.list_threads(pair.me.name, limit=50)
                for m in engine.store.thread_messages(t.thread_id, pair.me.name)
                if m.text.startswith("aesgcm://")]
    await until(got, 30, "bob's file line")
    (line,) = got()
    name = line.attachments[0].filename
    result = await engine.reply(line.id, "The plan, by email.", via="email", history=True,
                                attachments=[name])
    assert result.via == "email"
    await until(lambda: raw_mail(world, pair.peer), 30, "bob's copy")
    (wire,) = raw_mail(world, pair.peer)
    assert PLAN[:40] not in wire and b"aesgcm" not in wire
    assert email.message_from_bytes(wire).get_content_type() == "multipart/encrypted"
    opened = email.message_from_bytes(pair.decrypt(wire))
    carried = [part.get_payload(decode=True) for part in opened.walk()
               if part.get_filename() == name]
    assert carried == [PLAN]



async def test_a_sealed_file_is_saved_opened_into_the_downloads_folder(
        world, connect, peers, tmp_path) -> None:
    """`s` / `save ROW` on an OMEMO line's file (the engine's save of a chat
    line, bridge/chat_files.py): the opened bytes are written, never the
    ciphertext, under the file's own name; the link's key never reaches disk."""
    from bridge.chat_files import save_linked

    me, peer, alice, _bob = await _pair(world, connect, peers)
    link = await peer.upload_sealed(PLAN, "plan.txt", UPLOAD_DOMAIN)
    await peer.send_encrypted(alice.jid, link)
    await until(lambda: _line_with(me, "aesgcm://"), 30, "bob's file line opened")
    line = _line_with(me, "aesgcm://")
    assert line is not None
    (path,) = await save_linked(me.store, me.client.account, line, None, tmp_path / "dl")
    assert path.parent == tmp_path / "dl" and path.suffix == ".txt"
    assert path.read_bytes() == PLAN


async def test_a_file_sent_alone_to_an_omemo_chat_goes_sealed(
        world, tmp_path, peers, running) -> None:
    """What `/sendfile PATH` asks of the engine in a chat with /omemo on: the
    file alone, as one sealed line (its aesgcm:// link), none in clear."""
    from tests.others import contacts_toml, engine_for
    from tests.test_omemo_engine import _ready

    start, _ = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    engine = await start(engine_for(world, tmp_path, alice, contacts_toml(bob)))
    await _ready(engine, alice.name)
    engine.omemo_prefer(bob.jid, True)
    path = tmp_path / "floor-plan.txt"
    path.write_bytes(PLAN)
    result = await engine.send_message(alice.name, [bob.jid], "", via="im",
                                       attachments=[path], when_away="send")
    assert result.outbox and not result.deferred
    await until(lambda: any(b.startswith("aesgcm://") for b in peer.bodies(alice.jid)), 30,
                "bob opens the file line")
    (link,) = peer.bodies(alice.jid)  # one line: the file, no empty one before it
    assert await peer.fetch_sealed(link) == PLAN
    assert peer.bodies(alice.jid, encrypted=False) == [] and "jabber:x:oob" not in peer.raw()
    # Ours shows one line, the file's, sealed (no empty line of ours before it).
    mine = [m for t in engine.store.list_threads(alice.name, limit=10)
            for m in engine.store.thread_messages(t.thread_id, alice.name)]
    assert len(mine) == 1 and mine[0].crypto is not None and mine[0].crypto.omemo, mine
    assert [a.filename for a in mine[0].attachments] == ["floor-plan.txt"]
