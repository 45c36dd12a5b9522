"""The app's chat client, more of it, driven with Textual's Pilot against the real
Prosody: replies (XEP-0461) sent with `/quote` on the chosen line and shown with
the line they answer, bookmarks (`/bookmark`), a private line to a room occupant
(`/msg`), the app's focus told to the server (XEP-0352), and `:me` from the
command line. bob uses plain slixmpp (tests/harness/plain_xmpp.py), his side
written out as other clients send it.
"""

from __future__ import annotations

import uuid

import pytest
from textual import events

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import alice_app, go_to_message, go_to_row, listing, pilot_until
from tests.test_app_chat import command, drawn, status
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import line, own_room
from tests.test_xmpp_replies import NS_FALLBACK, NS_REPLY, reply_of
from tuiclient.widgets.conversation import Timeline

pytestmark = pytest.mark.servers


async def test_replies_bookmarks_private_lines_and_focus(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"pm{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        first, stanza = line(alice.jid, "Lunch at noon?")
        bob_x.send_xml(stanza)
        bob_x.send(alice.jid, "Or later?")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Or later?"
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.snippet == "Or later?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Or later?" in x for x in drawn(app)))

        # /quote answers the chosen line (not the last): bob's client reads which.
        await go_to_message(pilot, app, lambda m: m.text == "Lunch at noon?")
        await command(pilot, app, "/quote Noon is fine")
        assert await pilot_until(pilot, lambda: [m for m in bob_x.stanzas
                                                 if reply_of(m) is not None])
        got = next(m for m in bob_x.stanzas if reply_of(m) is not None)
        assert reply_of(got).get("id") == first
        assert got.findtext("{jabber:client}body") == "> Lunch at noon?\nNoon is fine"
        # Shown with the line it answers above it, once; the quote is not its text.
        assert await pilot_until(pilot, lambda: "Noon is fine" in drawn(app)[-1])
        assert "┃" in drawn(app)[-1] and "Lunch at noon?" in drawn(app)[-1]
        assert "> Lunch" not in drawn(app)[-1]

        # bob answers that: his quote for other clients is cut, our line shown.
        timeline = app.screen.query_one(Timeline)
        ours = timeline.messages[-1]
        quote = "> Noon is fine\n"
        bob_x.send_xml(line(alice.jid, quote + "Great", (
            f"<reply xmlns='{NS_REPLY}' to='{alice.jid}' id='{ours.msg_id}'/>"
            f"<fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'>"
            f"<body start='0' end='{len(quote)}'/></fallback>"))[1])
        assert await pilot_until(pilot, lambda: "Great" in drawn(app)[-1])
        shown = drawn(app)[-1]
        assert "┃" in shown and "Noon is fine" in shown and "> Noon" not in shown

        # Bookmarks: joining keeps the room; /bookmark lists, forgets, keeps.
        await command(pilot, app, "/bookmark list")
        assert await pilot_until(pilot, lambda: status(app) == "no bookmarks"), status(app)
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room])
        await command(pilot, app, "/bookmark list")
        assert await pilot_until(pilot, lambda: status(app) ==
                                 f"bookmarks: {room} (autojoin)"), status(app)
        await command(pilot, app, f"/bookmark remove {room}")
        assert await pilot_until(pilot, lambda: "forgot the bookmark" in status(app))
        await command(pilot, app, "/bookmark list")
        assert await pilot_until(pilot, lambda: status(app) == "no bookmarks"), status(app)
        await command(pilot, app, f"/bookmark {room}")
        assert await pilot_until(pilot, lambda: status(app).startswith("bookmarked"))
        assert [b.room for b in await engine.bookmarks(alice.name)] == [room]

        # In the room: /msg writes to one occupant only.
        bob_x.send(room, "Anyone here?", groupchat=True)
        assert await pilot_until(pilot, lambda: any(t.snippet == "Anyone here?"
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.snippet == "Anyone here?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Anyone here?" in x for x in drawn(app)))
        await command(pilot, app, "/msg bob just between us")
        nick = alice.jid.partition("@")[0]
        assert await pilot_until(pilot, lambda: [
            r for r in bob_x.received if r.body == "just between us"
            and r.sender == f"{room}/{nick}" and r.mtype == "chat"]), status(app)
        await command(pilot, app, "/msg nobody hello")
        assert await pilot_until(pilot, lambda: "/msg:" in status(app)
                                 and "nobody" in status(app)), status(app)

        # The terminal loses focus: the server is told nobody looks (XEP-0352).
        client = engine.xmpp[alice.name]
        assert client.client_state_offered and client.client_state == "active"
        app.post_message(events.AppBlur())
        assert await pilot_until(pilot, lambda: client.client_state == "inactive")
        app.post_message(events.AppFocus())
        assert await pilot_until(pilot, lambda: client.client_state == "active")


async def test_me_from_the_colon_line_sends_the_action_line(world, tmp_path, running):
    """`:me waves` (the help lists it with the chat commands) goes to the open chat
    as `/me waves` typed in its input goes (XEP-0245: bob's client shows an
    action); it took the app down (no such command to run). Words typed in the
    reply line and not sent stay there: `:me` asks to send them first."""
    from tests.test_app import notes
    from tuiclient.widgets.conversation import ChatReply

    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name), 30)
        bob_x.send(alice.jid, "Anyone there?")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Anyone there?"
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.snippet == "Anyone there?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Anyone there?" in x for x in drawn(app)))
        await pilot.press("escape")  # back to the list: the chat stays open
        await pilot.press("colon", *"me waves", "enter")
        assert await pilot_until(pilot, lambda: "/me waves" in bob_x.bodies())
        assert app.return_code is None
        assert await pilot_until(pilot, lambda: any("waves" in x for x in drawn(app)))

        chat_input = app.screen.query_one(ChatReply)
        chat_input.value = "half a thought"
        await pilot.press("escape", "colon", *"me nods", "enter")
        assert await pilot_until(pilot, lambda: any(n.startswith(":me: ")
                                                    for n in notes(app))), notes(app)
        assert chat_input.value == "half a thought"
        assert "/me nods" not in bob_x.bodies()
