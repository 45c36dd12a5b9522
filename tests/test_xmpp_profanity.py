"""Chat with Profanity on the other side: a console client we did not write, driven
in tmux as a person drives it (tests/harness/profanity.py). What it shows on its
screen is what another real client makes of our stanzas; what it sends is what a
real client sends, not what our tests think one sends.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bridge.events import ChatStateChanged, RoomInvitation, SubscriptionRequest
from bridge.model import DeliveryState
from tests import test_xmpp_client
from tests.harness.profanity import Profanity
from tests.harness.servers import MUC_DOMAIN
from tests.test_xmpp_client import person, until

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect  # the fixture: our engine's XmppClient on an account


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


async def test_lines_receipts_and_corrections_both_ways_with_profanity(
        world, connect, profanity):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    p = await profanity(bob)
    await asyncio.sleep(0.5)
    sent = a.client.send_chat(bob.jid, "Meet at the statoin")
    await p.shows("(win 2)")
    p.type("/win 2")
    await p.shows("Meet at the statoin")
    # Profanity answers the receipt request: the line is delivered, as a user sees it.
    await until(lambda: a.store.get_message(sent.id).delivery is DeliveryState.DELIVERED,
                what="profanity's receipt")
    # Our correction replaces the line on profanity's screen (marked "+"), not a second one.
    a.client.correct(sent.id, "Meet at the station")
    screen = await p.shows("Meet at the station")
    assert "statoin" not in screen

    # Typing without sending: profanity tells us, since every line of ours (the
    # correction too) says we take chat states. (Profanity stops at the first
    # message of ours without one, a bare receipt included, so this comes first.)
    subprocess.run(["tmux", "send-keys", "-t", p.session, "-l", "still typ"], check=True)
    await until(lambda: [e for e in a.of(ChatStateChanged)
                         if e.state == "composing" and e.jid == bob.jid],
                what="profanity's composing")
    subprocess.run(["tmux", "send-keys", "-t", p.session, "C-u"], check=True)

    # Profanity's user answers, then corrects it with /correct.
    p.type("Lunch at non?")
    await until(lambda: a.with_text("Lunch at non?"), what="profanity's line")
    line = a.with_text("Lunch at non?")[0]
    p.type("/correct Lunch at noon?")
    await until(lambda: a.store.get_message(line.id).text == "Lunch at noon?",
                what="profanity's correction")
    assert a.store.get_message(line.id).edited is not None
    assert [r.body for r in a.store.revisions(line.id)] == ["Lunch at non?"]
    await asyncio.sleep(0.3)
    texts = [m.text for m in a.messages()]
    assert texts.count("Lunch at noon?") == 1 and "Lunch at non?" not in texts



async def test_profanity_invites_us_to_a_room_and_we_talk_there(world, connect, profanity):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    a = await connect(alice)
    p = await profanity(bob)
    room = f"cafe{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    p.type("/presence room all")  # show joins and leaves in the room
    p.type(f"/join {room} nick bobby")
    await p.shows("Room locked")  # a new room: profanity's user takes the defaults
    p.type("/room accept")
    await p.shows("Room unlocked")
    p.type(f"/invite send {alice.jid} coffee?")
    await until(lambda: a.of(RoomInvitation), what="profanity's invitation")
    invitation = a.of(RoomInvitation)[0]
    assert invitation.room == room
    # Nothing is joined until the user says so.
    await asyncio.sleep(0.3)
    assert a.client.rooms() == []
    occupants = await a.client.join_room(room, "Ally")
    assert {"bobby", "Ally"} <= {o.nick for o in occupants}
    await p.shows("-> Ally has joined the room, role: participant")
    a.client.send_room(room, "Hello room")
    await p.shows("Hello room")
    p.type("Welcome, Ally")
    await until(lambda: a.with_text("Welcome, Ally"), what="profanity's room line")
    await a.client.leave_room(room)
    await p.shows("<- Ally has left the room")


async def test_profanity_asks_to_subscribe_and_only_the_user_answers(world, connect, profanity):
    alice, bob = person(world, "alice"), person(world, "bob")
    a = await connect(alice)
    p = await profanity(bob)
    p.type(f"/sub request {alice.jid}")
    await until(lambda: [e for e in a.of(SubscriptionRequest) if e.jid == bob.jid],
                what="profanity's request")
    await asyncio.sleep(0.5)
    p.type(f"/sub show {alice.jid}")
    await p.shows("request pending")  # not answered by itself
    assert "Subscription received from" not in p.screen()
    a.client.approve(bob.jid)
    await p.shows(f"Subscription received from {alice.jid}")
    p.type(f"/sub show {alice.jid}")
    await p.shows("subscription status: to")
