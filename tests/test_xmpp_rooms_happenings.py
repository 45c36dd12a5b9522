"""What happens in a room, as our XMPP client tells it (`RoomHappened`), against
the real Prosody; bob (a plain slixmpp client) owns and moderates the room,
carol and erin (plain slixmpp too) come and go:

- the occupants the room lists on our join, and the subject it tells then, are
  no happenings; someone coming in after is;
- leaving with a status says it; a ban says by whom and why; a nick change
  names the new nick (and is no one leaving or coming); a topic change says who.
"""

from __future__ import annotations

import uuid

import pytest

from bridge.events import RoomHappened
from tests import test_xmpp_client
from tests.harness.servers import MUC_DOMAIN
from tests.others import plain
from tests.test_xmpp_chat import own_room
from tests.test_xmpp_client import person, until

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect  # the fixture: our engine's XmppClient on an account


async def test_comings_goings_bans_nicks_and_topics_are_told(world, connect, running):
    _, xmpp = running
    alice, bob, carol, erin = (person(world, n) for n in ("alice", "bob", "carol", "erin"))
    bob_x, carol_x, erin_x = [await xmpp(plain(world, p)) for p in (bob, carol, erin)]
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    muc = bob_x.xmpp.plugin["xep_0045"]
    muc.set_subject(room, "Old news")
    a = await connect(alice)
    await a.client.join_room(room, "ally")
    assert a.client.subject(room) == "Old news"

    def told() -> list[tuple[str, str, str, str, str, bool]]:
        return [(e.what, e.nick, e.by, e.reason, e.new, e.ours) for e in a.of(RoomHappened)]

    cnick, enick = carol.jid.partition("@")[0], erin.jid.partition("@")[0]
    await carol_x.join(room)
    await until(lambda: ("joined", cnick, "", "", "", False) in told(), what="carol came")
    carol_x.xmpp.plugin["xep_0045"].leave_muc(room, cnick, "off to lunch")
    await until(lambda: ("left", cnick, "", "off to lunch", "", False) in told(),
                what="carol left")
    await erin_x.join(room)
    await until(lambda: ("joined", enick, "", "", "", False) in told(), what="erin came")
    await muc.set_affiliation(room, "outcast", jid=erin.jid, reason="trolling")
    await until(lambda: ("banned", enick, "bob", "trolling", "", False) in told(),
                what="erin banned")
    bob_x.xmpp.send_presence(pto=f"{room}/robert")
    await until(lambda: ("nick", "bob", "", "", "robert", False) in told(), what="bob renamed")
    muc.set_subject(room, "Launch party")
    await until(lambda: ("topic", "robert", "", "", "Launch party", False) in told(),
                what="the topic")
    # bob's presence under his new nick was no one coming; our join told nothing.
    assert [t for t in told() if t[0] == "joined"] == [
        ("joined", cnick, "", "", "", False), ("joined", enick, "", "", "", False)], told()
    assert not [t for t in told() if t[1] == "ally" or (t[0] == "topic" and t[4] == "Old news")]
