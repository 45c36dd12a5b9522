"""What happens in a room is kept in its timeline, as Profanity and Poezio keep
it in the room's window, driven with Textual's Pilot against the real Prosody;
bob (a plain slixmpp client, tests/harness/plain_xmpp.py) owns the room and
moderates it, carol (another) comes and goes:

- someone joining, being kicked (by whom, why), our own nick change and a topic
  change are dim lines between the room's lines, in order, not a status line
  the next one replaces (people coming in together are one line); they are in
  the store (the next run of the app shows them, `show --json` lists them);
- after `/nick ally` our lines in the room are named ally;
- a line naming our nick stands out in the timeline, and its toast too, even
  with the room muted (a muted room still tells a mention);
- opening a room whose title takes two lines shows its newest line, and marks
  read only what it shows; a room where nobody spoke yet shows what happened.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tests.test_app_chat import command, drawn, status
from tests.test_headless import cli
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import own_room
from tuiclient.screens.marking import lines_in_view
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers


def line_with(app, words: str) -> str:
    return next((x for x in drawn(app) if words in x), "")


def toasts(app) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in app._notifications]


async def test_kicks_nicks_topics_and_mentions_stay_in_the_room(world, tmp_path, running):
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    erin = person(world, "erin")
    world.befriend(alice, bob)
    bob_x, carol_x = await xmpp(plain(world, bob)), await xmpp(plain(world, carol))
    erin_x = await xmpp(plain(world, erin))
    tag = uuid.uuid4().hex[:6]
    room, name = f"den{tag}@{MUC_DOMAIN}", f"Den {tag}"
    await own_room(bob_x, room, "bob", **{"muc#roomconfig_roomname": name})
    muc = bob_x.xmpp.plugin["xep_0045"]
    cnick, enick = carol.jid.partition("@")[0], erin.jid.partition("@")[0]
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        bob_x.send(alice.jid, "Meet in the den?")
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Meet in the den?" for t in listing(app).rows))
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room], 30)
        assert await pilot_until(pilot, lambda: "in the room" in status(app)), status(app)
        room_id = app.screen.opened.key[1]
        await command(pilot, app, "First!")
        assert await pilot_until(pilot, lambda: line_with(app, "First!"))
        for n in range(6):
            bob_x.send(room, f"chatter {n}", groupchat=True)
        bob_x.send(room, "hello all", groupchat=True)
        assert await pilot_until(pilot, lambda: line_with(app, "hello all"))

        # carol and erin come in at once (one line), bob kicks carol: in order.
        await asyncio.gather(carol_x.join(room), erin_x.join(room))
        assert await pilot_until(pilot, lambda: line_with(app, "joined") and all(
            n in line_with(app, "joined") for n in (cnick, enick))), drawn(app)
        came = [x for x in line_with(app, "joined").splitlines() if "joined" in x]
        assert len(came) == 1 and came[0].count("→") == 1, came
        await muc.set_role(room, cnick, "none", reason="spam")
        assert await pilot_until(pilot, lambda: line_with(
            app, f"{cnick} was kicked by bob: spam")), drawn(app)
        shown = drawn(app)[-1]
        assert shown.index("hello all") < shown.index("joined") \
            < shown.index("was kicked"), shown

        # Our nick: said in the timeline, and our lines named by it.
        await command(pilot, app, "/nick ally")
        assert await pilot_until(pilot, lambda: line_with(app, "you are now known as ally")), \
            drawn(app)
        mine = line_with(app, "First!")
        assert "ally (you)" in mine and alice.display_name not in mine, mine
        # bob changes the topic: a line with who did it, kept when a status comes.
        muc.set_subject(room, "Launch party")
        assert await pilot_until(pilot, lambda: line_with(
            app, "bob changed the topic to: Launch party")), drawn(app)
        # Under the newest line, in view: the timeline stays at its end.
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.max_scroll_y > 0
                                 and timeline.scroll_y == timeline.max_scroll_y), \
            (timeline.scroll_y, timeline.max_scroll_y)
        await command(pilot, app, "/topic")
        assert await pilot_until(pilot, lambda: status(app) == "topic: Launch party")
        assert line_with(app, f"{cnick} was kicked by bob: spam")
        assert line_with(app, "you are now known as ally")

        # Muted (M on its row), the room tells a line that names us, and only that.
        await go_to_row(pilot, app, lambda t: t.thread_id == room_id)
        await pilot.press("M")
        assert await pilot_until(pilot, lambda: f"Muted: {name}" in [
            m for _, m, _ in toasts(app)]), toasts(app)
        await go_to_row(pilot, app, lambda t: t.snippet == "Meet in the den?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "Chat with" in str(
            app.screen.query_one("#chat-title").render()))
        bob_x.send(room, "nobody needs you lot", groupchat=True)
        bob_x.send(room, f"{cnick}: Ally: are you there? need you", groupchat=True)
        assert await pilot_until(pilot, lambda: any(
            "mentioned you" in title for title, _, _ in toasts(app)), 20), toasts(app)
        told = next(t for t in toasts(app) if "mentioned you" in t[0])
        assert told == (f"bob mentioned you in {name}",
                        f"{cnick}: Ally: are you there? need you", "warning"), told
        assert not [t for t in toasts(app) if "nobody needs" in t[1]], toasts(app)
        # In the room, the line stands out; the one that does not name us does not.
        await go_to_row(pilot, app, lambda t: t.thread_id == room_id)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: line_with(app, "are you there"))
        assert "mentions you" in line_with(app, "are you there")
        assert "mentions you" not in line_with(app, "nobody needs")

    # Kept in the store: the next run of the app shows them again ...
    again = alice_app(world, tmp_path, alice, bob)
    async with again.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            t.thread_id == room_id for t in listing(again).rows))
        await go_to_row(pilot, again, lambda t: t.thread_id == room_id)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: line_with(
            again, f"{cnick} was kicked by bob: spam")), drawn(again)
        assert line_with(again, "bob changed the topic to: Launch party")
    # ... and the command line shows them with the room's lines.
    code, shown_json, err = await cli(tmp_path / "config.toml", "show", room_id, "--no-fetch")
    assert code == 0, err
    events = [(e["what"], e["nick"], e["by"], e["reason"], e["new"], e["ours"])
              for e in shown_json["events"]]
    assert ("joined", cnick, "", "", "", False) in events, events
    assert ("joined", enick, "", "", "", False) in events, events
    assert ("kicked", cnick, "bob", "spam", "", False) in events, events
    assert ("topic", "bob", "", "", "Launch party", False) in events, events
    assert any(e[0] == "nick" and e[4] == "ally" and e[5] for e in events), events
    assert not [m for m in shown_json["messages"] if "kicked" in m["text"]]
    # And its text, in order with the lines.
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "tuiclient", "--config", str(tmp_path / "config.toml"),
        "show", room_id, "--no-fetch"], capture_output=True, text=True, timeout=60)
    text = done.stdout
    assert done.returncode == 0, done.stderr
    assert text.index("hello all") < text.index(f"{cnick} was kicked by bob: spam") \
        < text.index("bob set the topic: Launch party") < text.index("are you there"), text
    assert "you left" not in text, text  # quitting the app is not leaving the room


async def test_opening_a_room_shows_its_newest_line_whatever_its_title(
        world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    tag = uuid.uuid4().hex[:6]
    room = f"planning-the-long-weekend-{tag}@{MUC_DOMAIN}"
    name = f"Planning the long weekend away {tag}"
    await own_room(bob_x, room, "bob", **{"muc#roomconfig_roomname": name})
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 30)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        bob_x.send(alice.jid, "Seen the plan?")
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Seen the plan?" for t in listing(app).rows))
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: engine.joined_rooms(alice.name) == [room], 30)
        assert await pilot_until(pilot, lambda: "in the room" in status(app)), status(app)
        room_id = app.screen.opened.key[1]
        bob_x.xmpp.plugin["xep_0045"].set_subject(
            room, "where we go, when we leave, who drives, and what we bring along")
        # Nobody spoke yet: what happened is there all the same.
        assert await pilot_until(pilot, lambda: line_with(
            app, "bob changed the topic to: where we go")), drawn(app)
        for n in range(10):
            bob_x.send(room, f"line {n}", groupchat=True)
        assert await pilot_until(pilot, lambda: line_with(app, "line 9"))
        # Read up to here (scrolled through, as the tester had).
        for m in engine.timeline(alice.name, room_id):
            if m.unread:
                await engine.mark(m.id, "read", True, tell=False)
        await go_to_row(pilot, app, lambda t: t.snippet == "Seen the plan?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "Chat with" in str(
            app.screen.query_one("#chat-title").render()))
        bob_x.send(room, "newest line: can anyone see me?", groupchat=True)
        assert await pilot_until(pilot, lambda: any(
            t.thread_id == room_id and t.unread_count for t in listing(app).rows))
        # The room, from the list's first place (alt+1): its title takes two lines.
        await pilot.press("escape")
        await pilot.press("alt+1")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: app.screen.opened.key == (alice.name, room_id))
        await pilot.pause(0.5)
        assert app.screen.query_one("#chat-title").size.height >= 2
        newest = len(timeline.messages) - 1
        assert timeline.messages[newest].text == "newest line: can anyone see me?"
        assert await pilot_until(pilot, lambda: newest in lines_in_view(timeline), 5), \
            (lines_in_view(timeline), timeline.scroll_y, timeline.max_scroll_y,
             timeline.highlighted, timeline.size, [m.unread for m in timeline.messages])
        # What is read is what was shown.
        assert await pilot_until(pilot, lambda: not any(
            m.unread for m in engine.timeline(alice.name, room_id)))
