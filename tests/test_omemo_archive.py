"""OMEMO lines read from the archive by a process that does not hold the keys
(a one-shot command while the app runs), against the real Prosody with a plain
slixmpp-omemo peer (tests/omemo_peer.py):

- an empty OMEMO message (the peer's library completing our key exchange: key
  material, no payload) is no line, for the holder nor for the command; before,
  the command stored it as a "cannot read" line from Bob, unread, the
  conversation's preview; the holder opens it as it comes, for its keys (before,
  it let it pass, and its next line still carried the key exchange);
- a line the holder stored already is one row, not two;
- a line the holder has not seen is stored unopened by the command, then
  opened by the holder when it reads the archive (even after a restart: the
  command leaves the archive's mark before it), and the row gets its text.
"""

from __future__ import annotations

import asyncio
import base64

import oldmemo.etree
import oldmemo.oldmemo
import pytest
import twomemo.etree
import twomemo.twomemo
from omemo.message import Message as OmemoMessage

from bridge.config import load_config
from bridge.crypto.status import UNREADABLE
from bridge.engine import Engine
from bridge.model import Direction, Message
from bridge.paths import data_dir
from bridge.xmpp.omemo_words import NS_OLDMEMO, hold, omemo_empty
from tests.harness.servers import MUC_DOMAIN
from tests.omemo_peer import peers
from tests.others import contacts_toml, person, until
from tests.test_headless import cli, write_config

__all__ = ["peers"]  # the fixture, used by name


def _chat(engine: Engine, account: str) -> list[Message]:
    return [m for t in engine.store.list_threads(account, limit=100)
            for m in engine.store.thread_messages(t.thread_id, account)]


def _unreadable(engine: Engine, account: str) -> list[Message]:
    return [m for m in _chat(engine, account) if UNREADABLE in m.text
            or (m.crypto is not None and m.crypto.omemo and not m.crypto.decrypted)]


@pytest.mark.parametrize("empty", [True, False])
def test_empty_is_the_libraries_empty(empty: bool) -> None:
    """`omemo_empty` says what python-omemo's Content.empty says of a message
    its own serializers (oldmemo's, twomemo's) wrote."""
    old = oldmemo.oldmemo.ContentImpl.make_empty() if empty else \
        oldmemo.oldmemo.ContentImpl(b"sealed words", b"\0" * 12)
    element = oldmemo.etree.serialize_message(
        OmemoMessage(oldmemo.oldmemo.NAMESPACE, "bob@example.test", 7, old, frozenset()))
    assert omemo_empty(_in_stanza(element)) is old.empty is empty
    new = twomemo.twomemo.ContentImpl.make_empty() if empty else \
        twomemo.twomemo.ContentImpl(b"sealed words")
    element = twomemo.etree.serialize_message(
        OmemoMessage(twomemo.twomemo.NAMESPACE, "bob@example.test", 7, new, frozenset()))
    assert omemo_empty(_in_stanza(element)) is new.empty is empty
    assert omemo_empty(_in_stanza(None)) is False


def _in_stanza(element):
    from xml.etree import ElementTree as ET

    stanza = ET.Element("{jabber:client}message", {"type": "chat"})
    ET.SubElement(stanza, "{jabber:client}body").text = base64.b64encode(b"x").decode()
    if element is not None:
        stanza.append(element)
    return stanza


@pytest.mark.servers
async def test_a_command_beside_the_app_adds_no_cannot_read_line(
        world, tmp_path, peers, running) -> None:
    start, _ = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    # The app: it holds the keys, in the same store as the commands.
    app = await start(Engine(load_config(config)))
    assert any(d.this_device for d in await app.omemo_devices())

    await app.send_message(alice.name, [bob.jid], "secret ping", via="im", encrypt=True)
    await until(lambda: "secret ping" in peer.bodies(alice.jid), 30, "bob opens it")
    # Bob's library answers our key exchange with an empty OMEMO message; the
    # app opens it as it comes (for its keys: the exchange is complete), so
    # its next line carries no key exchange any more.
    await asyncio.sleep(1.5)
    await app.send_message(alice.name, [bob.jid], "are you there?", via="im", encrypt=True)
    await until(lambda: "are you there?" in peer.bodies(alice.jid), 30, "bob opens it")
    (second,) = [m for m in peer.stanzas if m.find(f"{{{NS_OLDMEMO}}}encrypted") is not None
                 and m.find(f".//{{{NS_OLDMEMO}}}payload") is not None][-1:]
    keys = second.findall(f".//{{{NS_OLDMEMO}}}key")
    assert keys and not [k for k in keys if k.get("prekey") in ("true", "1")]
    await peer.send_encrypted(alice.jid, "secret pong")
    await until(lambda: any(m.text == "secret pong" for m in _chat(app, alice.name)), 30,
                "bob's answer, opened by the app")
    # Bob's library answered our key exchange with an empty OMEMO message first.
    await asyncio.sleep(1.0)
    assert _unreadable(app, alice.name) == []

    # A one-shot command logs in and reads the archive: the empty message and
    # Bob's answer are in it.
    code, _result, err = await cli(config, "rooms", MUC_DOMAIN)
    assert code == 0, err
    lines = _chat(app, alice.name)
    assert _unreadable(app, alice.name) == [], [(m.text, m.crypto) for m in lines]
    assert [m.text for m in lines if m.direction is Direction.IN] == ["secret pong"]
    (thread,) = app.store.list_threads(alice.name, limit=10)
    assert thread.snippet == "secret pong" and thread.last_sender


@pytest.mark.servers
async def test_a_line_the_app_did_not_see_is_opened_when_it_reads_it(
        world, tmp_path, peers, running) -> None:
    start, _ = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    app = Engine(load_config(config))
    try:
        await app.start()
        assert any(d.this_device for d in await app.omemo_devices())
        await app.send_message(alice.name, [bob.jid], "secret ping", via="im", encrypt=True)
        await until(lambda: "secret ping" in peer.bodies(alice.jid), 30, "bob opens it")
        await asyncio.sleep(1.0)
    finally:
        await app.stop()
        app.close()

    # The keys are held elsewhere (an app that is away: asleep, offline) while
    # Bob answers and a command reads the archive.
    (lock,) = data_dir().rglob(f"{alice.name}.omemo.lock")
    held = hold(lock)
    assert held is not None
    await peer.send_encrypted(alice.jid, "meet at noon")
    await asyncio.sleep(0.5)
    code, _result, err = await cli(config, "rooms", MUC_DOMAIN)
    assert code == 0, err
    code, _result, err = await cli(config, "rooms", MUC_DOMAIN)  # a second one, too
    assert code == 0, err
    seen = Engine(load_config(config))
    (waiting,) = _unreadable(seen, alice.name)
    assert waiting.crypto is not None and "opens this line there" in waiting.crypto.error
    seen.close()
    held.close()

    # The app again, holding the keys: the line is read from the archive again
    # and opened, in its row.
    again = await start(Engine(load_config(config)))
    await until(lambda: any(m.text == "meet at noon" for m in _chat(again, alice.name)), 30,
                "the line opened by the app")
    assert _unreadable(again, alice.name) == []
    (line,) = [m for m in _chat(again, alice.name) if m.direction is Direction.IN]
    assert line.id == waiting.id and line.crypto is not None and line.crypto.decrypted
