"""What the app shows and what showing it does, with Pilot against the real
servers (issue 21): a folder opened from the sidebar is a list to act in; reading
marks read only what was on screen; cancelling an outbox row asks first, and its
answers are in plain words; presence has a shape as well as a colour.

alice uses the app; bob uses a plain slixmpp client and the standard library's
smtplib, and the IMAP server is looked at with plain imapclient.
"""

from __future__ import annotations

import pytest
from textual.widgets import Static

from bridge.model import DeliveryState
from tests.others import person, plain, send_email
from tests.test_app import alice_app, go_to_row, listing, pilot_until, wait_until
from tests.test_app_mail import imap, on_server
from tuiclient.format import PRESENCE_DOT
from tuiclient.screens.main import MainScreen
from tuiclient.screens.outbox import OutboxScreen
from tuiclient.screens.pickers import Confirm
from tuiclient.widgets.sidebar import ContactRow, Sidebar, contact_label
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers


def subjects(app) -> set[str]:
    return {t.subject for t in listing(app).rows}


async def test_enter_on_a_folder_lists_its_conversations_to_act_in(world, tmp_path):
    """Enter on "Projects" in the sidebar: the list holds that folder's
    conversations (not a search), its frame says so, d acts there on the server,
    new mail elsewhere stays out, and Esc goes back to the whole list."""
    alice, bob = person(world, "alice"), person(world, "bob")
    for s in ("Inbox only", "Project plan", "Project budget"):
        send_email(world, bob, [alice.email], [], s, f"About {s}.")
    with imap(world, alice) as c:
        c.create_folder("Projects")
        c.select_folder("INBOX")
        c.move(c.search(["SUBJECT", "Project"]), "Projects")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        everything = {"Inbox only", "Project plan", "Project budget"}
        assert await pilot_until(pilot, lambda: everything <= subjects(app), 30)
        main = app.screen
        assert isinstance(main, MainScreen)
        sidebar = main.query_one(Sidebar)
        folder = f"folder:{alice.name}:Projects"
        assert await pilot_until(pilot, lambda: any(
            o.id == folder for o in sidebar.options)), [o.id for o in sidebar.options]
        sidebar.focus()
        sidebar.highlighted = sidebar.get_option_index(folder)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: subjects(app) == {"Project plan",
                                                                  "Project budget"})
        assert isinstance(app.screen, MainScreen)  # a list, not the search screen
        assert listing(app).has_focus
        assert "Folder Projects" in str(listing(app).border_title)
        # Newest first, as the whole list.
        assert [t.last_date for t in listing(app).rows] == sorted(
            (t.last_date for t in listing(app).rows), reverse=True)

        # The triage keys act there: d sends the highlighted one to Trash.
        await go_to_row(pilot, app, lambda t: t.subject == "Project plan")
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: "Project plan" in on_server(
            world, alice, "Trash"))
        assert set(on_server(world, alice, "Projects")) == {"Project budget"}

        # New mail in INBOX is not one of the folder's conversations.
        send_email(world, bob, [alice.email], [], "Later inbox", "Came later.")
        assert await wait_until(lambda: any(t.subject == "Later inbox" for t in
                                            app.engine.conversations(alice.name)), 30)
        await pilot.pause(0.5)
        assert "Later inbox" not in subjects(app)
        assert "Inbox only" not in subjects(app)

        # Esc in the list: the whole list again.
        listing(app).focus()
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: {"Inbox only", "Later inbox",
                                                 "Project budget"} <= subjects(app))
        assert listing(app).border_title == "Conversations"


async def test_opening_marks_read_only_what_was_shown(world, tmp_path, running):
    """A long chat: opening it reads the lines on screen, not the 40 below them;
    G (to its end) reads the last ones, and the middle stays unread. An email
    thread: the email opened is read, the other one when it is opened."""
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    root = send_email(world, bob, [alice.email], [], "Two parts", "The first part.")
    send_email(world, bob, [alice.email], [], "Re: Two parts", "The second part.",
               in_reply_to=root)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app._started)
        assert await wait_until(lambda: alice.name in app.engine.xmpp and
                                app.engine.xmpp[alice.name].connected)
        for i in range(60):
            bob_x.send(alice.jid, f"line {i}")

        def chat():
            return next((t for t in listing(app).rows if t.snippet == "line 59"), None)
        assert await pilot_until(pilot, lambda: chat() is not None and
                                 chat().unread_count == 60, 30)

        def unread() -> list[str]:
            return [m.text for m in app.engine.timeline(alice.name, chat().thread_id)
                    if m.unread]

        await go_to_row(pilot, app, lambda t: t.snippet == "line 59")
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: "line 0" not in unread())
        await pilot.pause(0.5)
        left = unread()
        assert 0 < len(left) < 60 and "line 59" in left, left
        assert "line 30" in left  # far below what the pane shows

        timeline.focus()
        await pilot.press("G")
        assert await pilot_until(pilot, lambda: "line 59" not in unread())
        await pilot.pause(0.5)
        assert "line 30" in unread()  # never on screen: still unread
        assert await pilot_until(pilot, lambda: chat().unread_count == len(unread()))

        # The email thread: the first email opened is read, the second not yet.
        def mail():
            return next((t for t in listing(app).rows if t.subject == "Two parts"), None)
        assert await pilot_until(pilot, lambda: mail() is not None and
                                 mail().unread_count == 2, 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Two parts")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: mail().unread_count == 1)
        await pilot.pause(0.5)
        assert mail().unread_count == 1
        timeline.focus()
        await pilot.press("j")
        assert await pilot_until(pilot, lambda: mail().unread_count == 0)


async def test_cancelling_an_outbox_row_asks_and_says_it_plainly(world, tmp_path):
    """x in the outbox asks first (n keeps the message); y cancels it. The
    engine's answer to cancelling it again names whom it was to, not a row
    number or a state's name."""
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    world.stop_smtp()
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            assert await pilot_until(pilot, lambda: app._started)
            result = await app.engine.send_message(alice.name, [bob.email], "See you at 4.",
                                                   via="email", subject="Meeting")
            (email_id,) = result.emails
            await pilot.press("O")
            assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
            outbox = app.screen
            assert await pilot_until(pilot, lambda: [i.id for i in outbox.items] == [email_id])
            await pilot.press("x")
            assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
            question = str(app.screen.query_one(".dialog-help", Static).render())
            assert bob.email in question and "cannot be undone" in question
            await pilot.press("n")  # kept
            assert await pilot_until(pilot, lambda: app.screen is outbox)
            await pilot.pause(0.3)
            assert app.engine.outbox_item(email_id).state is not DeliveryState.CANCELLED
            await pilot.press("x")
            assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("y")
            assert await pilot_until(pilot, lambda: app.engine.outbox_item(email_id).state
                                     is DeliveryState.CANCELLED)
            assert await pilot_until(pilot, lambda: outbox.items == [])
            # ... and the title says so in words, not "0 messages waiting".
            title = lambda: str(outbox.query_one("#outbox-title", Static).render())  # noqa: E731
            assert await pilot_until(pilot, lambda: title() == "Nothing waiting"), title()

            with pytest.raises(ValueError) as refused:
                await app.engine.outbox_cancel(email_id)
            words = str(refused.value)
            assert words == (f"your email to {bob.email} is already cancelled: "
                             "there is nothing left to cancel"), words
            assert "outbox item" not in words and "cancelled:" in words
    finally:
        world.start_smtp()


def test_presence_has_a_shape_as_well_as_a_colour():
    """Each availability has its own glyph (offline and unknown alike: nothing is
    known), and the sidebar says it in a word too."""
    shapes = {k: dot for k, (dot, _) in PRESENCE_DOT.items()}
    assert len({shapes[k] for k in ("available", "away", "busy", "offline", "blocked")}) == 5
    rows = [ContactRow("Bob", "bob@example.test", "away", "In meetings"),
            ContactRow("Carol", "carol@example.test", "busy")]
    texts = [contact_label(r).plain for r in rows]
    assert texts[0].startswith(f"{shapes['away']} Bob") and "away: In meetings" in texts[0]
    assert texts[1].startswith(f"{shapes['busy']} Carol") and "busy" in texts[1]


async def test_a_long_status_is_cut_at_the_sidebar_s_edge(tmp_path):
    """A status longer than the sidebar is cut with an ellipsis on its own line (it
    wrapped and went on in the first column, under the presence dots)."""
    from tests.screen import drawn_text
    from tests.test_app_snapshots import make_app

    app = make_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        sidebar = app.screen.query_one(Sidebar)
        sidebar.show(sidebar.accounts, [ContactRow(
            "Carol", "carol@example.test", "away", "In meetings until 3pm, then the dentist")])
        await pilot.pause()
        lines = [line for line in drawn_text(app.export_screenshot()).splitlines()
                 if "meetings" in line
                 or "dentist" in line or "3pm" in line]
        assert lines, "the status is not drawn"
        assert not any("dentist" in line for line in lines), lines
        assert any("In meetings" in line and "…" in line for line in lines), lines
