"""The open conversation has the width a chat reader needs: at 120x40 a chat (or a
room) gets most of the screen beside the list, as Profanity and aerc give it, so a
line's head (time, name, delivery mark) is drawn whole on its row and a room's
occupants pane is as wide as its words; at 80x24 (one pane at a time) the same
holds. alice uses the app against the real Prosody; bob is plain slixmpp (he
acknowledges receipts, as most clients do) and owns the room."""

from __future__ import annotations

import uuid

import pytest

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.screen import drawn_text
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tests.test_app_chat import asked
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import line, own_room
from tuiclient.widgets.conversation import ChatReply
from tuiclient.widgets.occupants import Occupants

pytestmark = pytest.mark.servers


def rows(app) -> list[str]:
    """The screen's rows as a person reads them."""
    return drawn_text(app.export_screenshot()).splitlines()


def row_with(app, words: str) -> str:
    return next((r for r in rows(app) if words in r), "")


async def test_a_chat_line_s_delivery_mark_and_a_room_s_roles_are_drawn_whole(
        world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 40)) as pilot:
        bob_x.send_xml(line(alice.jid, "Lunch today?")[1])
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Lunch today?" for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Lunch today?")
        await pilot.press("enter", "i", *"Noon at the usual place", "enter")
        assert await pilot_until(pilot, lambda: "Noon at the usual place" in bob_x.bodies())
        # bob's client acknowledged it: the mark, whole, on the row of its time and name.
        assert await pilot_until(pilot, lambda: "✓✓ delivered" in row_with(app, "(you)"),
                                 30), rows(app)
        assert "Noon at the usual place" in row_with(app, "Noon at")

        # A room: the occupants pane beside the timeline, its headings whole.
        bob_x.xmpp.plugin["xep_0045"].invite(room, alice.jid, "come in")
        assert await pilot_until(pilot, lambda: asked(app, "invitation"), 30)
        await pilot.press("a")
        bob_x.send(room, "Welcome in, everyone", groupchat=True)
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Welcome in, everyone" for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Welcome in, everyone")
        await pilot.press("enter")
        pane = app.screen.query_one(Occupants)
        assert await pilot_until(pilot, lambda: pane.display and len(pane.occupants) == 2)
        await pilot.pause(0.2)
        for heading in ("moderators", "participants"):
            assert any(r.rstrip().endswith(heading) or f"{heading} " in r
                       for r in rows(app)), (heading, rows(app))
        assert "Welcome in, everyone" in row_with(app, "Welcome in")

        # 80x24: one pane at a time; the chat's line head is whole there too.
        await go_to_row(pilot, app, lambda t: t.snippet == "Noon at the usual place")
        await pilot.press("enter")
        await pilot.resize_terminal(80, 24)
        app.screen.query_one(ChatReply).focus()
        assert await pilot_until(pilot, lambda: "✓✓ delivered" in row_with(app, "(you)")), \
            rows(app)
