"""The walk of the app's issue, by keyboard, against the real servers, asserting on
what the screen shows: open an email, see its inline responses, reply to all by IM
with the history and an attachment, bob is away, defer, bob comes back, delivered;
then bob's chat line answered by email with the transcript.

alice uses the app; bob and carol use other clients (plain slixmpp, smtplib and
imapclient), so what they get is what anyone would see.
"""

from __future__ import annotations

import pytest
from textual.strip import Strip
from textual.widget import Widget

from bridge.config import load_config
from bridge.handoff import HISTORY_HEAD
from bridge.model import DeliveryState
from tests.conftest import password_command
from tests.harness.plain_xmpp import PlainXmpp, fetch
from tests.others import contacts_toml, person, send_email, wait_inbox
from tests.test_app import go_to_message, go_to_row, pilot_until
from tuiclient.app import TuiClientApp
from tuiclient.screens.compose import ComposeScreen
from tuiclient.screens.prompts import DeferScreen, ReplyOptionsScreen
from tuiclient.widgets.conversation import ChatReply, ResponseCard, Timeline
from tuiclient.widgets.conversation_list import ConversationList

pytestmark = pytest.mark.servers

AWAY = "At the dentist, back at 4"


def shown(widget: Widget) -> str:
    """The text in a widget's part of the screen as drawn now (children, borders and
    all), line by line: the screen's full render, cropped to the widget's region."""
    update = widget.screen._compositor.render_update(full=True)
    region = widget.region
    lines = []
    for y in range(region.y, region.bottom):
        row = Strip.join(update.strips[y])
        lines.append(row.crop(region.x, region.right).text.rstrip())
    return "\n".join(lines)


def words(widget: Widget) -> str:
    """What a widget shows as one line of words: wrapping and box borders aside."""
    text = shown(widget).translate({ord(c): " " for c in "│┃╭╮╰╯─━▎▊"})
    return " ".join(text.split())


async def test_the_whole_walk_by_keyboard(world, tmp_path, running):
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    for other in (bob, carol):
        world.befriend(alice, other)
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file), show="away", status=AWAY))
    carol_x = await xmpp(PlainXmpp(carol.jid, carol.password, "127.0.0.1", world.ports.c2s,
                                   str(world.ca_file)))
    pdf = b"%PDF-1.4\n% venue plan\n" + b"0123456789" * 80 + b"\n%%EOF\n"
    root = send_email(world, bob, [alice.email], [carol.email], "Offsite venue",
                      "Hi both,\nthe venue plan is attached. Which room do we take?\n\nBob",
                      ("venue.pdf", "application/pdf", pdf))
    send_email(world, carol, [bob.email, alice.email], [], "Re: Offsite venue",
               "The big room, the small one has no windows.", in_reply_to=root)

    path = tmp_path / "config.toml"
    # One chat each (not a room), so that each contact's receipt says "delivered".
    path.write_text(world.client_config(alice, password_command(tmp_path, alice))
                    + contacts_toml(bob, carol) + '\n[handoff]\ngroup_chats = "separate"\n')
    app = TuiClientApp(load_config(path), probe_on_start=False)
    async with app.run_test(size=(160, 45)) as pilot:
        listing = app.screen.query_one(ConversationList)
        assert await pilot_until(pilot, lambda: any(t.subject == "Offsite venue"
                                                    for t in listing.rows))
        # 1. Open the email: its inline responses pop up beside it.
        await go_to_row(pilot, app, lambda t: t.subject == "Offsite venue")
        await pilot.press("enter")
        await pilot_until(pilot, lambda: app.screen.query(Timeline).first().messages)
        await go_to_message(pilot, app, lambda m: m.msg_id == root)
        assert await pilot_until(pilot, lambda: "venue plan is attached" in
                                 words(app.screen.query_one("#email-body")))
        assert await pilot_until(pilot, lambda: any(
            "small one has no windows" in words(c) for c in app.screen.query(ResponseCard))), \
            [words(c) for c in app.screen.query(ResponseCard)]
        card = next(c for c in app.screen.query(ResponseCard)
                    if "no windows" in words(c))
        assert carol.display_name in words(card)

        # 2. Reply to all by IM, with the history and the PDF: I, ctrl+o, the options.
        await pilot.press("I")
        assert app.screen.query_one(ChatReply).has_focus
        await pilot.press("ctrl+o")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ReplyOptionsScreen))
        await pilot.pause()
        await pilot.press("space", "tab", "space", "ctrl+s")  # history, the first file
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, ReplyOptionsScreen))
        await pilot.press(*"The big room it is.", "enter")

        # 3. bob is away: the prompt shows his away message; defer.
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen))
        assert AWAY in words(app.screen)
        await pilot.pause(0.5)  # (a key right after the Enter is still typing)
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, DeferScreen))
        assert await pilot_until(pilot, lambda: app.engine.store.outbox_items(["deferred"]))
        # carol was available: she has it already, with the digest before it.
        assert await pilot_until(pilot, lambda: "The big room it is." in carol_x.bodies())
        assert bob_x.bodies() == []
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: any(
            m.text == "The big room it is." and m.delivery is DeliveryState.DEFERRED
            for m in timeline.messages))
        # The cursor on bob's copy brings it into view: it says deferred.
        await go_to_message(pilot, app, lambda m: m.text == "The big room it is." and
                            m.delivery is DeliveryState.DEFERRED)
        assert await pilot_until(pilot, lambda: "deferred" in shown(timeline)), \
            shown(timeline)

        # 4. bob comes back: his copy goes at once, and the screen says delivered.
        bob_x.set_presence()
        assert await pilot_until(pilot, lambda: "The big room it is." in bob_x.bodies())
        bodies = bob_x.bodies()
        assert any(b.startswith(HISTORY_HEAD) for b in bodies), (bodies, carol_x.bodies())
        digest = next(b for b in bodies if b.startswith(HISTORY_HEAD))
        assert "venue plan is attached" in digest and "no windows" in digest
        assert bodies.index(digest) < bodies.index("The big room it is.")
        assert await pilot_until(pilot, lambda: any(r.oob for r in bob_x.received)), \
            (bob_x.bodies(), carol_x.bodies())
        link = next(r for r in bob_x.received if r.oob)
        assert fetch(link.oob[0], str(world.ca_file)) == pdf
        assert all(r.thread == root for r in bob_x.received)
        def mine() -> list:
            return [m for m in app.engine.timeline(alice.name, root)
                    if m.text == "The big room it is."]
        # Both copies, carol's and bob's, settled by their receipts.
        assert await pilot_until(pilot, lambda: len(mine()) == 2 and all(
            m.delivery is DeliveryState.DELIVERED for m in mine())), mine()
        await go_to_message(pilot, app, lambda m: m.id == mine()[-1].id)
        assert await pilot_until(pilot, lambda: "deferred" not in shown(timeline) and
                                 "✓✓ delivered" in shown(timeline)), shown(timeline)

        # 5. bob answers in the chat; alice answers that line by email, with the
        # transcript of the chat below her text.
        bob_x.send(alice.jid, "Booked. I'll send the invite.", thread=root)
        assert await pilot_until(pilot, lambda: any(
            m.text == "Booked. I'll send the invite." for m in timeline.messages))
        await go_to_message(pilot, app, lambda m: m.text == "Booked. I'll send the invite.")
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen))
        compose = app.screen
        await pilot.pause()
        history = compose.query_one("#history")
        while not history.has_focus:
            await pilot.press("shift+tab")
        await pilot.press("space")
        assert history.value
        await pilot.press("tab")
        while not compose.query_one("#body").has_focus:
            await pilot.press("tab")
        await pilot.press(*"Thanks, invite received soon then.", "ctrl+s")
        got = await wait_inbox(world, bob, lambda m: "invite received soon" in str(
            m.get_body(("plain",)).get_content()))
        mail = got[0]
        text = str(mail.get_body(("plain",)).get_content())
        assert text.index("invite received soon") < text.index("Booked. I'll send the invite.")
        assert "The big room it is." in text  # alice's own line, in the transcript
        assert root in mail["References"]
