"""Legacy bookmarks (XEP-0048 in XEP-0049 private storage), against the real
Prosody, written by plain slixmpp's own xep_0048 plugin as an older client would.

On legacy.example.test, Prosody runs without mod_bookmarks: no
`urn:xmpp:bookmarks:1#compat`, nothing converts private storage to XEP-0402. With
the PEP node empty we read the legacy bookmarks, join the autojoin ones at login,
and the user's next change writes them all to XEP-0402. On example.test,
mod_bookmarks converts what the older client wrote to XEP-0402 itself: we read
it from the PEP node like any other bookmark.
"""

from __future__ import annotations

import uuid

import pytest
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048.stanza import Bookmarks

from bridge.xmpp.bookmarks import Bookmark
from tests import test_xmpp_client
from tests.harness.servers import LEGACY_BOOKMARKS_DOMAIN, MUC_DOMAIN
from tests.others import plain
from tests.test_xmpp_chat import own_room
from tests.test_xmpp_client import person, until

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect
NS_BOOKMARKS = "urn:xmpp:bookmarks:1"


def new_room(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"


async def write_legacy(x, *marks: tuple[str, str, str, bool]) -> None:
    """An older client's bookmarks: (room, nick, name, autojoin), to private storage."""
    x.xmpp.register_plugin("xep_0048")
    storage = Bookmarks()
    for room, nick, name, autojoin in marks:
        storage.add_conference(room, nick, name=name, autojoin=autojoin)
    await x.xmpp.plugin["xep_0048"].set_bookmarks(storage, method="xep_0049")


async def pep_bookmarks(x, jid: str) -> dict[str, tuple[str, bool]] | None:
    """The XEP-0402 node as another client reads it: room -> (name, autojoin);
    None when it does not exist."""
    try:
        result = await x.xmpp.plugin["xep_0060"].get_items(jid, NS_BOOKMARKS)
    except IqError as exc:
        assert exc.condition == "item-not-found", exc
        return None
    found = {}
    for item in result["pubsub"]["items"]["substanzas"]:
        conf = item.xml.find(f"{{{NS_BOOKMARKS}}}conference")
        found[item.xml.get("id")] = (conf.get("name") or "",
                                     conf.get("autojoin") in ("1", "true"))
    return found


async def server_features(x, jid: str) -> set[str]:
    info = await x.xmpp.plugin["xep_0030"].get_info(jid=jid)
    return set(info["disco_info"]["features"])


async def test_legacy_bookmarks_are_read_joined_and_moved_to_pep(world, connect, running):
    _, xmpp = running
    tag = uuid.uuid4().hex[:6]
    dave = world.add_account(f"dave{tag}", jid=f"dave{tag}@{LEGACY_BOOKMARKS_DOMAIN}")
    bob = person(world, "bob")
    bob_x = await xmpp(plain(world, bob))
    one, two, three = new_room("one"), new_room("two"), new_room("three")
    await own_room(bob_x, one, "bob")
    older = await xmpp(plain(world, dave))  # dave's older client
    assert f"{NS_BOOKMARKS}#compat" not in await server_features(older, dave.jid)
    await write_legacy(older, (one, "D", "One", True), (two, "D2", "Two", False))
    assert await pep_bookmarks(older, dave.jid) is None  # nothing converted them

    ours = await connect(dave)
    assert one in ours.client.rooms() and two not in ours.client.rooms()
    assert f"{one}/D" in {p.get("from") for p in bob_x.presences}
    assert await ours.client.bookmarks() == [Bookmark(one, "One", "D", True),
                                             Bookmark(two, "Two", "D2", False)]
    assert await pep_bookmarks(older, dave.jid) is None  # reading writes nothing

    # The user's next change: XEP-0402 gets every bookmark, the change too.
    await ours.client.bookmark(three, name="Three", autojoin=False)
    assert await pep_bookmarks(older, dave.jid) == {
        one: ("One", True), two: ("Two", False), three: ("Three", False)}
    assert [b.room for b in await ours.client.bookmarks()] == sorted([one, two, three])
    # A removal is one too, and the older client's private storage is left as it was.
    await ours.client.unbookmark(two)
    assert set(await pep_bookmarks(older, dave.jid) or {}) == {one, three}
    legacy = await older.xmpp.plugin["xep_0048"].get_bookmarks(method="xep_0049")
    assert {c.xml.get("jid") for c in legacy["private"]["bookmarks"]["conferences"]} \
        == {one, two}


async def test_prosody_converts_legacy_bookmarks_where_it_has_mod_bookmarks(
        world, connect, running):
    _, xmpp = running
    erin = person(world, "erin")
    room = new_room("conv")
    older = await xmpp(plain(world, erin))
    assert f"{NS_BOOKMARKS}#compat" in await server_features(older, erin.jid)
    await write_legacy(older, (room, "E", "Converted", True))
    # mod_bookmarks wrote it to the XEP-0402 node itself.
    assert await pep_bookmarks(older, erin.jid) == {room: ("Converted", True)}
    ours = await connect(erin)
    assert await ours.client.bookmarks() == [Bookmark(room, "Converted", "E", True)]
    await until(lambda: room in ours.client.rooms(), what="joined from the bookmark")
