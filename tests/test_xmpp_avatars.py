"""Avatars against the real Prosody: a contact's PEP avatar (XEP-0084) fetched
into the cache under its hash, a vCard photo (XEP-0153) as the fallback, ours
published both ways from a file, and `avatar set|get --json` on the command
line. The other side is plain slixmpp (tests/harness/plain_xmpp.py) with
slixmpp's own xep_0084 and xep_0054, as another client publishes and reads.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import zlib
from pathlib import Path

import pytest

from bridge.events import RosterChanged
from bridge.headless.outcome import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from bridge.xmpp.avatars import image_type
from tests import test_xmpp_client
from tests.others import person, plain
from tests.test_app import alice_app, pilot_until
from tests.test_app_chat import command, status
from tests.test_headless import cli, write_config
from tests.test_xmpp_client import until
from tuiclient.screens.roster import AVATAR_MARK, RosterScreen
from tuiclient.widgets.reply_bar import ChatReply

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect  # the fixture: our engine's XmppClient on an account

NS_VCARD_UPDATE = "vcard-temp:x:update"


def png(r: int, g: int, b: int) -> bytes:
    """A 1x1 PNG of one colour: a real image, as a user's file would be."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"\x00" + bytes((r, g, b))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Avatars of a store in the default data directory go to the XDG cache: the
    test's own, never the home directory's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


async def with_avatar_plugins(x):
    for plugin in ("xep_0084", "xep_0054"):
        x.xmpp.register_plugin(plugin)
    return x


async def test_avatars_both_ways_pep_and_vcard(world, connect, running):
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    world.befriend(alice, carol)
    bob_x = await with_avatar_plugins(await xmpp(plain(world, bob)))
    a = await connect(alice)

    # bob publishes a PEP avatar as his client does: data, then metadata.
    picture = png(200, 30, 30)
    bob_id = hashlib.sha1(picture).hexdigest()
    x84 = bob_x.xmpp.plugin["xep_0084"]
    await x84.publish_avatar(picture, timeout=10)
    await x84.publish_avatar_metadata({"id": bob_id, "type": "image/png",
                                       "bytes": len(picture)}, timeout=10)
    await until(lambda: a.client.avatar(bob.jid) is not None, timeout=15,
                what="bob's avatar in the cache")
    path = a.client.avatar(bob.jid)
    assert path.name == f"{bob_id}.png" and path.read_bytes() == picture
    assert path.parent == a.client.avatar_dir
    assert any(isinstance(e, RosterChanged) and e.jid == bob.jid for e in a.events)

    # A lie is dropped: metadata naming an id its data does not hash to.
    fake = png(0, 0, 0)
    await x84.publish_avatar(fake, timeout=10)
    await x84.publish_avatar_metadata({"id": "0" * 40, "type": "image/png",
                                       "bytes": len(fake)}, timeout=10)
    await x84.publish_avatar_metadata({"id": bob_id, "type": "image/png",
                                       "bytes": len(picture)}, timeout=10)
    await asyncio.sleep(1.0)  # the fetches of both have run
    assert not (a.client.avatar_dir / f"{'0' * 40}.png").exists()
    assert a.client.avatar(bob.jid) == path

    # Ours, from a file: PEP data bob can read under its hash, the vCard photo for
    # older clients, and the photo's hash in our presence (XEP-0153).
    mine = png(30, 30, 200)
    mine_id = await a.client.set_avatar(mine)
    assert mine_id == hashlib.sha1(mine).hexdigest()
    got = await x84.retrieve_avatar(alice.jid, mine_id, timeout=10)
    data = got.xml.find(".//{urn:xmpp:avatar:data}data")
    assert base64.b64decode(data.text) == mine
    card = await bob_x.xmpp.plugin["xep_0054"].get_vcard(alice.jid, cached=False, timeout=10)
    assert card["vcard_temp"]["PHOTO"]["BINVAL"] == mine
    await until(lambda: any(
        p.findtext(f"{{{NS_VCARD_UPDATE}}}x/{{{NS_VCARD_UPDATE}}}photo") == mine_id
        for p in bob_x.presences if (p.get("from") or "").startswith(alice.jid)),
        what="alice's presence naming her photo")
    assert a.client.avatar(alice.jid).read_bytes() == mine
    with pytest.raises(Exception, match="PNG, JPEG"):
        await a.client.set_avatar(b"not an image")

    # carol's client knows only vCard avatars: her photo's hash in her presence.
    carol_x = await with_avatar_plugins(await xmpp(plain(world, carol)))
    face = png(30, 200, 30)
    face_id = hashlib.sha1(face).hexdigest()
    vcard = carol_x.xmpp.plugin["xep_0054"].make_vcard()
    vcard["PHOTO"]["TYPE"] = "image/png"
    vcard["PHOTO"]["BINVAL"] = face
    await carol_x.xmpp.plugin["xep_0054"].publish_vcard(vcard, timeout=10)
    carol_x.send_xml(f"<presence><x xmlns='{NS_VCARD_UPDATE}'><photo>{face_id}</photo>"
                     "</x></presence>")
    await until(lambda: a.client.avatar(carol.jid) is not None, timeout=15,
                what="carol's vCard avatar")
    assert a.client.avatar(carol.jid).read_bytes() == face
    assert image_type(face) == "image/png"

    # Nobody's vCard service: a vCard request to our client is refused at once.
    iq = bob_x.xmpp.make_iq_get(ito=a.client.session.boundjid.full)
    iq.append(bob_x.xmpp.plugin["xep_0054"].make_vcard())
    with pytest.raises(Exception) as refused:
        await iq.send(timeout=10)
    assert "service-unavailable" in str(getattr(refused.value, "condition", refused.value))


async def test_avatar_set_and_get_from_the_command_line(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await with_avatar_plugins(await xmpp(plain(world, bob)))
    picture = png(10, 120, 240)
    bob_id = hashlib.sha1(picture).hexdigest()
    x84 = bob_x.xmpp.plugin["xep_0084"]
    await x84.publish_avatar(picture, timeout=10)
    await x84.publish_avatar_metadata({"id": bob_id, "type": "image/png",
                                       "bytes": len(picture)}, timeout=10)

    code, got, err = await cli(config, "avatar", "get", bob.jid)
    assert code == EXIT_OK, err
    assert Path(got["path"]).read_bytes() == picture and Path(got["path"]).name == \
        f"{bob_id}.png"
    assert str(tmp_path / "xdg-cache") in got["path"]

    mine = tmp_path / "me.png"
    mine.write_bytes(png(1, 2, 3))
    code, done, err = await cli(config, "avatar", "set", str(mine))
    assert code == EXIT_OK, err
    assert done["id"] == hashlib.sha1(mine.read_bytes()).hexdigest()
    answer = await x84.retrieve_avatar(alice.jid, done["id"], timeout=10)
    assert answer.xml.find(".//{urn:xmpp:avatar:data}data") is not None

    code, _usage, _ = await cli(config, "avatar", "set", str(tmp_path / "nothing.png"))
    assert code == EXIT_USAGE
    nobody = person(world, "nobody")
    world.befriend(alice, nobody)
    code, none, _ = await cli(config, "avatar", "get", nobody.jid)
    assert code == EXIT_FAILED and none["path"] is None


async def test_the_roster_marks_an_avatar_and_opens_it(world, tmp_path, running, monkeypatch):
    """The app: ▣ in the roster for a contact with an avatar, v opens it with the
    system's viewer (here a stand-in xdg-open that records its argument), and
    `/avatar set PATH` publishes ours."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await with_avatar_plugins(await xmpp(plain(world, bob)))
    picture = png(250, 200, 0)
    x84 = bob_x.xmpp.plugin["xep_0084"]
    await x84.publish_avatar(picture, timeout=10)
    await x84.publish_avatar_metadata({"id": hashlib.sha1(picture).hexdigest(),
                                       "type": "image/png", "bytes": len(picture)}, timeout=10)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {seen}\n')
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":99")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: app.screen.query_one(ChatReply) is not None)
        assert await pilot_until(pilot, lambda: engine.avatar_path(alice.name, bob.jid)
                                 is not None, 30)
        await command(pilot, app, "/roster")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RosterScreen))
        table = app.screen.query_one("#roster-table")
        row = next(i for i, (_, jid) in enumerate(app.screen.rows) if jid == bob.jid)
        assert str(table.get_row_at(row)[1]) == AVATAR_MARK
        table.move_cursor(row=row)
        await pilot.press("v")
        assert await pilot_until(pilot, lambda: seen.exists() and seen.read_text(), 20)
        assert Path(seen.read_text()).read_bytes() == picture
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, RosterScreen))

        mine = tmp_path / "me.png"
        mine.write_bytes(png(9, 9, 9))
        await command(pilot, app, f"/avatar set {mine}")
        assert await pilot_until(pilot, lambda: "your avatar is now me.png" in status(app),
                                 20), status(app)
        assert engine.avatar_path(alice.name, alice.jid).read_bytes() == mine.read_bytes()
        await command(pilot, app, "/avatar show x")
        assert await pilot_until(pilot, lambda: "/avatar takes set or open" in status(app))
