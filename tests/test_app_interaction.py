"""The interaction model's remaining points (issue 21), with Pilot against the real
servers: Enter on a chat line enters the chat input and a stray `j` on the timeline
is never typed nor sent; a line that did not go comes back to its own conversation
with its options; cancelling a prompt keeps what was chosen.

alice uses the app; bob uses a plain slixmpp client (what he receives is what
any client would), carol sends her email with smtplib.
"""

from __future__ import annotations

import gc
import uuid
import warnings

import pytest

from bridge.config import load_config
from bridge.events import SyncProgress
from tests.conftest import password_command
from tests.harness.servers import MUC_DOMAIN
from tests.others import contacts_toml, person, plain, send_email
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until, wait_until
from tests.test_xmpp_chat import own_room
from tuiclient.app import TuiClientApp
from tuiclient.screens.main import MainScreen
from tuiclient.screens.prompts import DeferScreen, ReplyOptionsScreen
from tuiclient.widgets.conversation import ChatReply, Timeline
from tuiclient.widgets.conversation_list import key_of

pytestmark = pytest.mark.servers


def main_of(app) -> MainScreen:
    main = app.main_screen()
    assert main is not None
    return main


async def test_enter_on_a_chat_line_enters_the_input_and_stray_j_is_never_sent(
        world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        bob_x.send(alice.jid, "Lunch today?")
        bob_x.send(alice.jid, "Or tomorrow?")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Or tomorrow?"
                                                    for t in listing(app).rows))
        await go_to_row(pilot, app, lambda t: t.snippet == "Or tomorrow?")
        await pilot.press("enter")
        main = main_of(app)
        timeline, chat_input = main.query_one(Timeline), main.query_one(ChatReply)
        assert await pilot_until(pilot, lambda: timeline.has_focus
                                 and len(timeline.messages) == 2)
        # Stray navigation keys on the timeline: they move, they never type.
        await pilot.press("j", "j", "k", "g", "G", "j", "k", "k")
        await pilot.pause()
        assert timeline.has_focus and chat_input.value == ""
        assert timeline.current is not None and timeline.current.text == "Lunch today?"
        # Enter on the line: the chat input, replying to it.
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: chat_input.has_focus)
        assert main.draft is not None and main.draft.message.text == "Lunch today?"
        await pilot.press(*"yes", "enter")
        assert await wait_until(lambda: bob_x.bodies() == ["yes"]), bob_x.bodies()
        # Esc leaves the input; j there moves again and sends nothing.
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: timeline.has_focus)
        await pilot.press("j", "k", "j")
        await pilot.pause(1.0)
        assert bob_x.bodies() == ["yes"] and chat_input.value == ""


async def test_a_line_not_sent_comes_back_to_its_own_conversation_with_its_options(
        world, tmp_path, running):
    """bob is away: the defer prompt; the user has meanwhile opened carol's
    conversation; Esc: carol's input stays empty, bob's gets the line back, and
    the history chosen for it is still chosen."""
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    bob_x.set_presence("away", "At the dentist")
    send_email(world, carol, [alice.email], [], "Minutes", "The minutes are attached.")
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        bob_x.send(alice.jid, "Call me back?")
        assert await pilot_until(pilot, lambda: {"Call me back?", "Minutes"} <= {
            x for t in listing(app).rows for x in (t.snippet, t.subject)}, 30)
        rows = listing(app).rows
        bob_row = next(t for t in rows if t.snippet == "Call me back?")
        carol_row = next(t for t in rows if t.subject == "Minutes")
        await go_to_row(pilot, app, lambda t: t is bob_row or t.snippet == "Call me back?")
        await pilot.press("enter")
        main = main_of(app)
        chat_input = main.query_one(ChatReply)
        assert await pilot_until(pilot, lambda: main.query_one(Timeline).has_focus)
        await pilot.press("i")
        assert chat_input.has_focus
        # Options first: with the history. Then Esc on a second visit keeps it.
        await pilot.press("ctrl+o")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ReplyOptionsScreen))
        await pilot.pause()
        await pilot.press("space", "ctrl+s")  # history
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, ReplyOptionsScreen))
        assert main.draft is not None and main.draft.history
        await pilot.press(*"at five")
        await pilot.press("ctrl+o")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ReplyOptionsScreen))
        await pilot.pause()
        await pilot.press("space")  # unticked here, then cancelled
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, ReplyOptionsScreen))
        assert main.draft is not None and main.draft.history
        assert chat_input.value == "at five" and chat_input.has_focus

        # Cancelled with bob's conversation open: the line and its history stay.
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen))
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, DeferScreen))
        assert await pilot_until(pilot, lambda: chat_input.value == "at five")
        assert main.draft is not None and main.draft.history
        assert bob_x.bodies() == []

        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DeferScreen))
        # The send waits on the prompt; the user is elsewhere by now (the prompt
        # of a send begun before moving on): carol's conversation is open.
        main.open_thread(carol_row)
        await pilot.pause()
        assert main.open_key == key_of(carol_row) and chat_input.value == ""
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: "Reply not sent. The line is back in its "
                                 "chat's input." in notes(app))
        await pilot.pause()
        assert main.open_key == key_of(carol_row)
        assert chat_input.value == ""  # not in carol's input
        main.open_thread(bob_row)
        assert await pilot_until(pilot, lambda: chat_input.value == "at five")
        assert bob_x.bodies() == []


async def test_a_real_sync_of_new_mail_ends_in_synced(world, tmp_path):
    """New mail while the app runs: IMAP IDLE tells, the engine resyncs INBOX and
    says "1/1" as it stores it; the status bar then reads "synced INBOX", not
    "sync INBOX 1/1" for ever (a resync tells nothing after its last batch)."""
    alice, bob = person(world, "alice"), person(world, "bob")
    send_email(world, bob, [alice.email], [], "Before", "Already there.")
    app = alice_app(world, tmp_path, alice, bob)
    phases: list[tuple[str, int, int, str]] = []
    note = app.note

    def noting(event) -> None:
        note(event)
        if isinstance(event, SyncProgress) and event.account == alice.name:
            phases.append((event.phase, event.done, event.total,
                           app.sync_state[alice.name]))

    app.note = noting  # type: ignore[method-assign]  # the events as the app keeps them
    async with app.run_test(size=(150, 30)) as pilot:
        bar = lambda: str(main_of(app).query_one("#status").render())  # noqa: E731
        assert await pilot_until(pilot, lambda: any(t.subject == "Before"
                                                    for t in listing(app).rows), 30)
        assert await pilot_until(pilot, lambda: "synced Archive" in bar(), 30), (bar(), phases)
        phases.clear()
        send_email(world, bob, [alice.email], [], "After", "Just came.")
        assert await pilot_until(pilot, lambda: any(t.subject == "After"
                                                    for t in listing(app).rows), 30)
        assert await pilot_until(pilot, lambda: any(
            p[0] == "resync" and p[1] == p[2] for p in phases)), phases
        # The last word of the real sync: synced, on the bar as in the app.
        assert await pilot_until(pilot, lambda: "synced INBOX" in bar()), (bar(), phases)
        assert app.sync_state[alice.name] == "synced INBOX"
        assert "sync INBOX 1/1" not in bar()


async def test_a_thread_under_two_accounts_says_which_in_its_title(world, tmp_path):
    """bob writes to both of the user's addresses (two accounts in one app): the
    same conversation is under each; its title says which account it is; a
    conversation under one account only says nothing more."""
    alice, dana, bob = person(world, "alice"), person(world, "dana"), person(world, "bob")
    send_email(world, bob, [alice.email, dana.email], [], "Both of you", "Read this.")
    send_email(world, bob, [alice.email], [], "Only alice", "Just you.")
    path = tmp_path / "config.toml"
    second = world.client_config(dana, password_command(tmp_path, dana))
    second = second[second.index("[[accounts]]"):]
    path.write_text(world.client_config(alice, password_command(tmp_path, alice)) + "\n"
                    + second + contacts_toml(bob))
    app = TuiClientApp(load_config(path), probe_on_start=False)
    async with app.run_test(size=(150, 40)) as pilot:
        assert await pilot_until(pilot, lambda: sum(
            t.subject == "Both of you" for t in listing(app).rows) == 2, 30)
        main = main_of(app)
        title = lambda: str(main.query_one("#chat-title").render())  # noqa: E731
        for who in (alice, dana):
            row = next(t for t in listing(app).rows
                       if t.subject == "Both of you" and t.account == who.name)
            main.open_thread(row)
            assert await pilot_until(pilot, lambda who=who: f"in {who.name} ({who.email})"
                                     in title()), title()
        row = next(t for t in listing(app).rows if t.subject == "Only alice")
        main.open_thread(row)
        assert await pilot_until(pilot, lambda: "Only alice" in title())
        assert " · in " not in title()


async def test_status_with_no_conversation_open_answers_in_a_toast(world, tmp_path):
    alice = person(world, "alice")
    app = alice_app(world, tmp_path, alice)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name))
        assert main_of(app).open_key is None
        await pilot.press("colon", *"status away lunch", "enter")
        assert await pilot_until(pilot, lambda: "you are away: lunch" in notes(app)), \
            notes(app)
        own = app.engine.own_presence(alice.name)
        assert own is not None and own.availability.value == "away"


async def test_a_new_row_at_the_top_keeps_the_cursor_on_its_conversation(world, tmp_path):
    """The cursor on the third row, about to press Enter: new mail comes (a row at
    the top); the cursor stays on the same conversation, and Enter opens it."""
    alice, bob = person(world, "alice"), person(world, "bob")
    for subject in ("First", "Second", "Third", "Fourth"):
        send_email(world, bob, [alice.email], [], subject, f"{subject} words.")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: len(listing(app).rows) == 4, 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Second")
        chosen = listing(app).current
        assert chosen is not None and chosen.subject == "Second"
        at = listing(app).cursor
        send_email(world, bob, [alice.email], [], "Newest", "On top.")
        assert await pilot_until(pilot, lambda: listing(app).rows[0].subject == "Newest", 30)
        await pilot.pause()
        assert listing(app).current is not None
        assert listing(app).current.subject == "Second"
        assert listing(app).cursor == at + 1
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: main_of(app).open_key == key_of(chosen))


async def test_the_palette_lists_the_joined_rooms_and_opens_one(world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name))
        main = main_of(app)
        assert not any(c.title.startswith("Room:") for c in app.get_system_commands(main))
        await pilot.press("colon", *f"join {room}", "enter")
        assert await pilot_until(pilot, lambda: app.engine.joined_rooms(alice.name) == [room])
        # Another conversation open (bob's chat), then the room from the palette.
        bob_x.send(alice.jid, "See you in the den")
        assert await pilot_until(pilot, lambda: any(t.snippet == "See you in the den"
                                                    for t in listing(app).rows))
        main.open_thread(next(t for t in listing(app).rows
                              if t.snippet == "See you in the den"))
        await pilot.pause()
        assert room not in str(main.query_one("#chat-title").render())
        listed = {c.title: c for c in app.get_system_commands(main)}
        assert f"Room: {room}" in listed, sorted(listed)
        listed[f"Room: {room}"].callback()
        assert await pilot_until(pilot, lambda: room in str(
            main.query_one("#chat-title").render()))


async def test_enter_on_a_contact_without_a_chat_address_falls_back_to_email(
        world, tmp_path):
    """carol and dan have no JID in the contacts (unmapped): Enter on carol opens
    her email conversation; on dan (nothing yet) a new message, by email."""
    from tuiclient.screens.compose import NewMessageScreen
    from tuiclient.widgets.sidebar import Sidebar

    alice, carol, dan = person(world, "alice"), person(world, "carol"), person(world, "dan")
    send_email(world, carol, [alice.email], [], "Budget", "The numbers are in.")
    path = tmp_path / "config.toml"
    path.write_text(world.client_config(alice, password_command(tmp_path, alice)) + "".join(
        f'\n[[contacts]]\nname = "{p.display_name}"\nemails = ["{p.email}"]\n'
        for p in (carol, dan)))
    app = TuiClientApp(load_config(path), probe_on_start=False)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(t.subject == "Budget"
                                                    for t in listing(app).rows), 30)
        main = main_of(app)
        sidebar = main.query_one(Sidebar)
        assert await pilot_until(pilot, lambda: sidebar.get_option_index(
            f"contact:{carol.email}") is not None)
        sidebar.focus()
        sidebar.highlighted = sidebar.get_option_index(f"contact:{carol.email}")
        await pilot.press("enter")
        timeline = main.query_one(Timeline)
        assert await pilot_until(pilot, lambda: [m.subject for m in timeline.messages]
                                 == ["Budget"])
        sidebar.focus()
        sidebar.highlighted = sidebar.get_option_index(f"contact:{dan.email}")
        await pilot.press("enter")
        # The new message's fields laid out, not only its screen pushed (under load
        # its children mount a few frames later).
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen)
                                 and bool(app.screen.query("#via-im")))
        compose = app.screen
        assert isinstance(compose, NewMessageScreen) and compose.by_email()
        await pilot.pause()
        assert dan.email in compose.query_one("#to").value


async def test_on_a_narrow_chat_pane_toasts_leave_the_reply_line_and_newest_lines(
        world, tmp_path, running):
    """80 columns, the chat pane alone: "Sent by IM." and bob's answer told while
    typing go over the oldest lines at the top, never over the reply line or the
    newest lines above it."""
    from textual.widgets._toast import Toast

    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(80, 30), notifications=True) as pilot:
        bob_x.send(alice.jid, "Lunch today?")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Lunch today?"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Lunch today?")
        await pilot.press("enter")
        main = main_of(app)
        assert await pilot_until(pilot, lambda: main.pane == "chat"
                                 and main.query_one(Timeline).has_focus)
        await pilot.press("enter", *"yes", "enter")
        assert await wait_until(lambda: bob_x.bodies() == ["yes"])
        assert await pilot_until(pilot, lambda: bool(list(app.screen.query(Toast))))
        await pilot.pause()
        toasts = [t.region for t in app.screen.query(Toast)]
        chat_input = main.query_one(ChatReply).region
        timeline = main.query_one(Timeline).region
        newest = timeline.intersection(timeline.translate((0, timeline.height // 2)))
        assert not [t for t in toasts if t.overlaps(chat_input) or t.overlaps(newest)], \
            (toasts, chat_input, newest)
        # bob's client answers the receipt: the line's ticks say delivered, and no
        # toast says it again (one toast per line sent is noise).
        from bridge.model import DeliveryState
        timeline_widget = main.query_one(Timeline)
        assert await pilot_until(pilot, lambda: any(
            m.text == "yes" and m.delivery in (DeliveryState.DELIVERED, DeliveryState.READ)
            for m in timeline_widget.messages), 30)
        await pilot.pause(0.5)
        told = [n.message for n in app._notifications]
        assert not [t for t in told if "delivered" in t], told


async def test_a_thread_under_two_accounts_says_which_in_its_row(world, tmp_path):
    """The list's rows say it too: each of the two rows of a conversation under both
    accounts names its account (in the row's tail, the subject giving way: every row
    keeps the list's width); a conversation under one account names none."""
    alice, dana, bob = person(world, "alice"), person(world, "dana"), person(world, "bob")
    send_email(world, bob, [alice.email, dana.email], [], "Both of you", "Read this.")
    send_email(world, bob, [alice.email], [], "Only alice", "Just you.")
    path = tmp_path / "config.toml"
    second = world.client_config(dana, password_command(tmp_path, dana))
    second = second[second.index("[[accounts]]"):]
    path.write_text(world.client_config(alice, password_command(tmp_path, alice)) + "\n"
                    + second + contacts_toml(bob))
    app = TuiClientApp(load_config(path), probe_on_start=False)
    async with app.run_test(size=(150, 40)) as pilot:
        lst = listing(app)
        assert await pilot_until(pilot, lambda: sum(
            t.subject == "Both of you" for t in lst.rows) == 2, 30)
        assert await pilot_until(pilot, lambda: len(lst.shared) == 2), lst.shared
        width = lst.scrollable_content_region.width
        for who in (alice, dana):
            row = next(t for t in lst.rows
                       if t.subject == "Both of you" and t.account == who.name)
            text = lst.row_text(row, width)
            assert f"@{who.name}" in text.plain, text.plain
            assert text.cell_len == width
        only = next(t for t in lst.rows if t.subject == "Only alice")
        text = lst.row_text(only, width)
        assert "@" not in text.plain.replace(alice.email, ""), text.plain
        assert text.cell_len == width


async def test_opening_threads_in_a_burst_leaves_no_coroutine_unawaited(world, tmp_path):
    """Conversations opened faster than their bodies come (each open cancels the
    last open's body fetch, an exclusive worker, often before it began): no
    "coroutine ... was never awaited", and the last one opened gets its bodies."""
    alice, carol = person(world, "alice"), person(world, "carol")
    for n in range(6):
        send_email(world, carol, [alice.email], [], f"Burst {n}", f"Body {n}.")
    app = alice_app(world, tmp_path, alice, carol)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with app.run_test(size=(140, 40)) as pilot:
            lst = listing(app)
            assert await pilot_until(pilot, lambda: sum(
                t.subject.startswith("Burst") for t in lst.rows) == 6, 30)
            main = main_of(app)
            rows = [t for t in lst.rows if t.subject.startswith("Burst")]
            for _ in range(3):
                for row in rows:
                    main.open_thread(row)
                    main.opened.choose(main.opened.messages[-1])
                app.probe()
            last = rows[-1]
            assert await pilot_until(pilot, lambda: any(
                m.text for m in main.opened.messages)), main.opened.messages
            assert main.opened.key == key_of(last)
        gc.collect()
    unawaited = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
                 and "never awaited" in str(w.message)]
    assert unawaited == []


async def test_a_line_read_as_it_arrives_is_not_shown_unread(world, tmp_path, running):
    """Writing in a chat, bob's answer arrives and is read at once (it is in view):
    the message pane's head, showing that line, does not keep saying "unread"."""
    from bridge.model import Transport
    from tuiclient.widgets.email_view import EmailView

    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        bob_x.send(alice.jid, "Coffee at 3?")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Coffee at 3?"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Coffee at 3?")
        await pilot.press("enter", "i")
        main = main_of(app)
        assert await pilot_until(pilot, lambda: main.query_one(ChatReply).has_focus)
        await pilot.press(*"on my way", "enter")
        assert await wait_until(lambda: bob_x.bodies() == ["on my way"])
        bob_x.send(alice.jid, "Noted")
        view = main.query_one(EmailView)
        assert await pilot_until(pilot, lambda: view.shown is not None
                                 and view.shown.text == "Noted", 30)
        line = view.shown
        assert line.transport is Transport.XMPP
        assert await pilot_until(pilot, lambda: not any(
            m.unread for m in app.engine.timeline(*main.opened.key))), "never read"
        head = lambda: str(main.query_one("#email-head").render())  # noqa: E731
        assert await pilot_until(pilot, lambda: "unread" not in head()), head()


async def test_a_settled_outbox_row_is_not_offered_to_cancel(world, tmp_path, running):
    """The outbox showing settled rows too (a): x on an email already sent does not
    ask "will not be sent. This cannot be undone." (it went); it says it went, and
    nothing changes."""
    from tuiclient.screens.outbox import OutboxScreen
    from tuiclient.screens.pickers import Confirm

    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app.main_screen() is not None, 30)
        result = await app.engine.send_message(alice.name, [bob.email], "See you.",
                                               via="email", subject="Tomorrow")
        (email_id,) = result.emails
        assert await pilot_until(pilot, lambda: any(
            i.id == email_id and i.state.value == "sent"
            for i in app.engine.outbox_items(None)), 30)
        await pilot.press("O")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        outbox = app.screen
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: any(i.id == email_id for i in outbox.items))
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, Confirm)
        assert await pilot_until(pilot, lambda: "Already sent: nothing to cancel." in
                                 notes(app)), notes(app)
        assert any(i.id == email_id and i.state.value == "sent"
                   for i in app.engine.outbox_items(None))


async def test_the_occupant_list_leaves_the_timeline_readable(world, tmp_path, running):
    """At 120 columns the occupant list beside a room's timeline is as wide as its
    words and takes at most a third of the pane (once it took 24 columns of 34: the
    timeline was 8 columns, its border title "Tim…")."""
    from tests.test_app_chat import command
    from tuiclient.widgets.occupants import Occupants

    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"narrow{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 34)) as pilot:
        bob_x.send(alice.jid, "Join us")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Join us"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Join us")
        await pilot.press("enter")
        await command(pilot, app, f"/join {room}")
        main = main_of(app)
        pane, timeline = main.query_one(Occupants), main.query_one(Timeline)
        assert await pilot_until(pilot, lambda: pane.display and "bob" in {
            o.nick for o in pane.occupants}, 30)
        await pilot.pause()
        body = timeline.parent.size.width
        assert pane.outer_size.width <= body * 0.35 + 1, (pane.outer_size.width, body)
        assert timeline.outer_size.width >= body * 0.6, (timeline.outer_size.width, body)


async def test_an_emails_opening_in_the_timeline_leaves_out_what_it_quotes(world, tmp_path):
    """An answer quoting the mail before it (the attribution line right above the
    quote, as most clients write it): the timeline's line under the subject says the
    answer's own words, not "On Fri, … wrote: > …" flattened after them."""
    from tests.test_app_chat import drawn

    alice, carol = person(world, "alice"), person(world, "carol")
    send_email(world, carol, [alice.email], [], "Lunch",
               "Sounds good.\nOn Fri, 04 Dec 2026, Alice wrote:\n> Lunch on Friday?\n> At noon?")
    send_email(world, carol, [alice.email], [], "Dinner",
               "On Fri, 04 Dec 2026, Alice wrote:\n\n> Dinner too?\n\nYes, at eight.")
    app = alice_app(world, tmp_path, alice, carol)
    async with app.run_test(size=(160, 40)) as pilot:
        for subject, own in (("Lunch", "Sounds good."), ("Dinner", "Yes, at eight.")):
            assert await pilot_until(pilot, lambda s=subject: any(
                t.subject == s for t in listing(app).rows), 30)
            await go_to_row(pilot, app, lambda t, s=subject: t.subject == s)
            await pilot.press("enter")
            assert await pilot_until(pilot, lambda o=own: any(o in x for x in drawn(app))), \
                drawn(app)
            line = next(x for x in drawn(app) if own in x)
            assert "wrote" not in line and ">" not in line and "noon" not in line, line
