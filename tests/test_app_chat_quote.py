"""The app's quote-reply key (Q on a timeline line, XEP-0461), a room joined with
`/join` listed at once, and a `/me` line's list snippet as the action it is;
driven with Textual's Pilot against the real Prosody, bob a plain slixmpp
client (tests/harness/plain_xmpp.py).
"""

from __future__ import annotations

import uuid

import pytest

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import alice_app, go_to_message, go_to_row, listing, pilot_until
from tests.test_app_chat import command, drawn, status
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import line
from tests.test_xmpp_replies import reply_of
from tuiclient.widgets.conversation import Timeline
from tuiclient.widgets.reply_bar import ChatReply

pytestmark = pytest.mark.servers


def target(app) -> str:
    label = app.screen.query_one("#reply-target")
    return str(label.render()) if label.display else ""


async def test_quote_key_me_snippet_and_a_joined_room_listed_at_once(world, tmp_path,
                                                                     running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        first, stanza = line(alice.jid, "Lunch at noon?")
        bob_x.send_xml(stanza)
        bob_x.send(alice.jid, "/me waves")

        # The list's snippet of a /me line is the action: "* Bob … waves".
        def me_row():
            return next((t for t in listing(app).rows if t.snippet == "/me waves"), None)
        assert await pilot_until(pilot, lambda: me_row() is not None)
        shown = listing(app).row_text(me_row(), 120).plain
        assert "* " in shown and "waves" in shown and "/me" not in shown, shown

        await go_to_row(pilot, app, lambda t: t.snippet == "/me waves")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Lunch at noon?" in x for x in drawn(app)))

        # Q on a line: the input is ready for the answer, the line shown over it.
        await go_to_message(pilot, app, lambda m: m.text == "Lunch at noon?")
        await pilot.press("Q")
        chat_input = app.screen.query_one(ChatReply)
        assert await pilot_until(pilot, lambda: chat_input.has_focus)
        assert chat_input.value == "/quote "
        assert "replying to" in target(app) and "Lunch at noon?" in target(app)
        # Moving on in the timeline does not change which line is answered.
        app.screen.query_one(Timeline).action_last()
        chat_input.focus()
        await pilot.press(*"Noon is fine")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: [m for m in bob_x.stanzas
                                                 if reply_of(m) is not None]), status(app)
        got = next(m for m in bob_x.stanzas if reply_of(m) is not None)
        assert reply_of(got).get("id") == first
        assert got.findtext("{jabber:client}body") == "> Lunch at noon?\nNoon is fine"
        # Sent through the outbox like any line, and the quote bar is gone.
        assert await pilot_until(pilot, lambda: any(
            i.payload["plan"].get("reply") for i in engine.store.outbox_items()))
        assert target(app) == ""
        assert await pilot_until(pilot, lambda: "Noon is fine" in drawn(app)[-1])
        assert "┃" in drawn(app)[-1] and "Lunch at noon?" in drawn(app)[-1]

        # Esc leaves a quote-reply started by mistake.
        await go_to_message(pilot, app, lambda m: m.text == "Lunch at noon?")
        await pilot.press("Q")
        assert await pilot_until(pilot, lambda: "replying to" in target(app))
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: target(app) == "")

        # /join: the new room is in the list and open at once, before any line.
        room = f"fresh{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room], 30)
        assert await pilot_until(pilot, lambda: any(
            room in listing(app).row_text(t, 120).plain for t in listing(app).rows)), \
            status(app)
        chosen = listing(app).current
        assert chosen is not None and room in listing(app).row_text(chosen, 120).plain
        title = str(app.screen.query_one("#chat-title").render())
        assert f"Group chat {room}" in title, title
        # Its first line (bob joins and speaks) lands in that same conversation.
        await bob_x.join(room)
        bob_x.send(room, "Hi all", groupchat=True)
        assert await pilot_until(pilot, lambda: any("Hi all" in x for x in drawn(app)))
        assert len([t for t in listing(app).rows if t.thread_id == chosen.thread_id]) == 1
