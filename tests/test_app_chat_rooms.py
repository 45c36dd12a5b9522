"""A room (XEP-0045) looks and behaves like a room, as a Profanity user expects,
driven with Textual's Pilot against the real Prosody, bob a plain slixmpp client
(tests/harness/plain_xmpp.py) who made the room:

- joined while nobody spoke there yet, it is a conversation to write in at
  once (`i`, or `c`, the chat input; the line goes type=groupchat to the
  room), its row and title named after the room, opened again too;
- its row and toasts name the room ("bob in <room>"), and the input's label
  says the line goes to the room, whoever said the line answered;
- a reply by email offered on the user's own line names the other side;
- a private line through the room is its own talk with that occupant, said so
  on its row, its title and the input's label, and answered to them alone;
- `list --json` names the room's conversation as the room's.
"""

from __future__ import annotations

import uuid

import pytest

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until
from tests.test_app_chat import command, drawn, status
from tests.test_headless import cli
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import own_room
from tuiclient.widgets.conversation import ChatReply

pytestmark = pytest.mark.servers


def target(app) -> str:
    label = app.screen.query_one("#reply-target")
    return str(label.render()) if label.display else ""


def title(app) -> str:
    return str(app.screen.query_one("#chat-title").render())


def row_of(app, room_id: str) -> str:
    """The list's row of the room's conversation, as drawn."""
    rows = [t for t in listing(app).rows if t.thread_id == room_id]
    assert rows, [listing(app).row_text(t, 120).plain for t in listing(app).rows]
    return listing(app).row_text(rows[0], 120).plain


async def test_a_room_is_a_room_empty_or_not(world, tmp_path, running):
    from tuiclient.screens.compose import ComposeScreen

    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    tag = uuid.uuid4().hex[:6]
    room, name = f"den{tag}@{MUC_DOMAIN}", f"Den of plans {tag}"
    await own_room(bob_x, room, "bob", **{"muc#roomconfig_roomname": name})
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        bob_x.send(alice.jid, "Are you coming to the den?")
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Are you coming to the den?" for t in listing(app).rows))

        # /join of a room where nobody spoke: listed and open, named after it.
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room], 30)
        assert await pilot_until(pilot, lambda: "in the room" in status(app)), status(app)
        room_id = app.screen.opened.key[1]
        assert name in row_of(app, room_id)
        assert f"Group chat {name}" in title(app) and "?" not in title(app), title(app)
        assert "nobody spoke yet" in title(app), title(app)
        assert "write its first line below" in status(app), status(app)
        # The input writes to the room, and says so.
        assert f"IM to the room {name}" in target(app), target(app)
        assert app.screen.query_one(ChatReply).placeholder == "your message"

        # Away and back (Enter on its row): still the room, not "Chat with ?".
        await go_to_row(pilot, app, lambda t: t.snippet == "Are you coming to the den?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "Chat with" in title(app)), title(app)
        assert target(app) == ""
        await go_to_row(pilot, app, lambda t: t.thread_id == room_id)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: f"Group chat {name}" in title(app)), \
            title(app)
        assert "Chat with" not in title(app)

        # i from the list: the chat input, for the room's first line.
        await go_to_row(pilot, app, lambda t: t.thread_id == room_id)
        await pilot.press("i")
        chat_input = app.screen.query_one(ChatReply)
        assert await pilot_until(pilot, lambda: chat_input.has_focus), notes(app)
        assert "Nothing to reply to" not in " ".join(notes(app))
        assert f"IM to the room {name}" in target(app), target(app)
        await pilot.press(*"First!", "enter")
        assert await pilot_until(pilot, lambda: any(
            r.body == "First!" and r.mtype == "groupchat" and r.sender.startswith(room)
            for r in bob_x.received), 20), (status(app), notes(app))
        assert await pilot_until(pilot, lambda: any("First!" in x for x in drawn(app)))
        assert "write its first line" not in status(app), status(app)
        assert len([t for t in listing(app).rows if t.thread_id == room_id]) == 1

        # Bob speaks while alice reads another conversation: the toast and the
        # row name the room, with bob as the speaker.
        await go_to_row(pilot, app, lambda t: t.snippet == "Are you coming to the den?")
        await pilot.press("enter")
        bob_x.send(room, "Hi all", groupchat=True)
        assert await pilot_until(pilot, lambda: any(
            n.title == f"bob in {name}" for n in app._notifications), 20), \
            [(n.title, n.message) for n in app._notifications]
        assert await pilot_until(pilot, lambda: "Hi all" in row_of(app, room_id))
        row = row_of(app, room_id)
        assert name[:20] in row and "bob: Hi all" in row, row

        # i on bob's line: the label says the room, not "IM reply to bob".
        await go_to_row(pilot, app, lambda t: t.thread_id == room_id)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Hi all" in x for x in drawn(app)))
        await pilot.press("i")
        assert await pilot_until(pilot, lambda: f"IM to the room {name}" in target(app)), \
            target(app)
        assert "IM reply to" not in target(app) and "to the sender" not in target(app)
        await pilot.press("escape")

        # r on alice's own line: the offer names the room's people, not alice.
        timeline = app.screen.query_one("#timeline")
        timeline.focus()
        mine = next(i for i, m in enumerate(timeline.messages) if m.text == "First!")
        timeline.highlighted = mine
        await pilot.pause()
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen))
        offer = str(app.screen.query_one("#compose-title").render())
        assert "alice" not in offer.lower() and "on your chat line" in offer, offer
        assert name in offer, offer
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, ComposeScreen))

        # A private line through the room stays bob's alone, and says so.
        nick = alice.jid.partition("@")[0]
        bob_x.send(f"{room}/{nick}", "psst, just us")
        assert await pilot_until(pilot, lambda: any(t.snippet == "psst, just us"
                                                    for t in listing(app).rows))
        private = next(t for t in listing(app).rows if t.snippet == "psst, just us")
        assert private.thread_id != room_id
        shown = listing(app).row_text(private, 120).plain
        assert "bob" in shown and name[:12] not in shown, shown
        await go_to_row(pilot, app, lambda t: t.snippet == "psst, just us")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "Private chat with bob" in title(app)), \
            title(app)
        await pilot.press("i")
        assert await pilot_until(pilot, lambda: "bob, privately" in target(app)), target(app)
        assert "to the room" not in target(app)
        await pilot.press(*"sure", "enter")
        assert await pilot_until(pilot, lambda: any(
            r.body == "sure" and r.mtype == "chat" and r.sender == f"{room}/{nick}"
            for r in bob_x.received), 20), status(app)
        assert not [r for r in bob_x.received if r.body == "sure" and r.mtype == "groupchat"]

    # The command line lists the conversation as the room's.
    code, rows, err = await cli(tmp_path / "config.toml", "list")
    assert code == 0, err
    found = [r for r in rows if r["thread_id"] == room_id]
    assert found and found[0]["room"] == room and found[0]["room_name"] == name, found
    one_to_one = [r for r in rows if r["snippet"] == "Are you coming to the den?"]
    assert one_to_one and one_to_one[0]["room"] == "", one_to_one
