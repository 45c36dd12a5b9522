"""At 80 columns (mutt's users' terminal): the outbox's table needs no sideways
scrolling, its "tries" and "written" columns show whole, the message and the
addresses give way; the status line keeps "outbox: N waiting" whole, the sync's
progress and the round trips giving way first. A new message at 80x24 leaves the
body most of the screen: its fields are one line each, as in aerc's compose."""

from __future__ import annotations

import re

from textual.widgets import DataTable, TextArea

from bridge.model import Transport
from tests.test_app_snapshots import make_app
from tuiclient.screens.compose import NewMessageScreen
from tuiclient.screens.outbox import OutboxScreen
from tuiclient.server_health import ServerHealth
from tuiclient.widgets.status_bar import StatusReport, status_text


def screen_text(app) -> str:
    return re.sub(r"<[^>]+>", "", app.export_screenshot()).replace("&#160;", " ")


async def test_the_outbox_table_fits_80_columns(tmp_path) -> None:
    app = make_app(tmp_path)
    store = app.engine.store
    store.outbox_add("<long@x>", "alice", Transport.EMAIL, payload={
        "to": ["a.very.long.address.of.someone@a-long-domain.example.org",
               "another.long.address@example.org"],
        "subject": "A subject long enough to fill the whole row of the table by itself"})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("O")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        table = app.screen.query_one(DataTable)
        await pilot.pause()
        assert table.virtual_size.width <= table.scrollable_content_region.width, (
            table.virtual_size, table.scrollable_content_region,
            [(c.label.plain, c.get_render_width(table)) for c in table.columns.values()])
        text = screen_text(app)
        assert "tries" in text and "written" in text, text


def test_the_status_line_keeps_the_outbox_count_at_80_columns() -> None:
    report = StatusReport(
        accounts=(("alice", ("imap", "smtp", "xmpp")),),
        health={("alice", s): ServerHealth("alice", s, True, "ok", 0.0)
                for s in ("imap", "smtp", "xmpp")},
        sync={"alice": "synced Archive, 3 of 12 folders"}, waiting=2,
        presence={"alice": ("away", "in meetings until 3pm, back after")})
    wide = status_text(report).plain
    assert "synced Archive" in wide and "in meetings" in wide
    for width in (78, 60):
        said = status_text(report, width=width).plain
        assert len(said) <= width and said.endswith("outbox: 2 waiting"), said
    assert "● imap" in status_text(report, width=60).plain


async def test_a_new_message_at_80x24_leaves_the_body_most_lines(tmp_path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, NewMessageScreen)
        await pilot.pause()
        body = app.screen.query_one("#body", TextArea)
        assert body.content_region.height >= 8, body.content_region
        for field in ("#to", "#subject", "#from"):
            assert app.screen.query_one(field).region.height == 1, field
        # Nothing scrolled away: the buttons are on screen too.
        assert app.screen.query_one("#send").region.bottom <= 23


async def test_an_unfolded_message_is_selected_and_acted_on(tmp_path) -> None:
    """z unfolds a conversation; j goes onto its messages one by one, k back up to
    its row; Enter on a message opens the conversation at that message, and r (a
    reply from the list) answers that message, not the conversation's newest."""
    from tuiclient.screens.main import MainScreen
    from tuiclient.widgets.conversation import Timeline
    from tuiclient.widgets.conversation_list import ConversationList

    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        listing = app.screen.query_one(ConversationList)
        listing.focus()
        await pilot.pause()
        row = next(i for i, t in enumerate(listing.rows) if t.message_count >= 3)
        listing.cursor = row
        thread = listing.current
        await pilot.press("z")
        await pilot.pause()
        messages = listing.expanded[(thread.account, thread.thread_id)]
        assert len(messages) >= 3
        await pilot.press("j")
        assert listing.current_message == messages[0] and listing.current == thread
        await pilot.press("j")
        assert listing.current_message == messages[1]
        # The cursor's line is drawn as the cursor: that message's, not the row's.
        at = listing.line_of(row) + 2 - int(listing.scroll_y)
        cursor = listing.get_component_rich_style("conversation-list--cursor")
        assert any(seg.style and cursor.bgcolor == seg.style.bgcolor
                   for seg in listing.render_line(at)), "the message line is not the cursor"
        await pilot.press("k", "k")
        assert listing.current_message is None and listing.cursor == row
        await pilot.press("k")  # the row above: its own line, folded
        assert listing.cursor == row - 1 and listing.current_message is None
        await pilot.press("j", "j", "j")
        assert listing.current_message == messages[1]
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        await pilot.pause()
        assert timeline.current is not None and timeline.current.id == messages[1].id
        # From the list again, r answers the message the cursor is on.
        listing.focus()
        await pilot.pause()
        await pilot.press("k")
        assert listing.current_message == messages[0]
        assert app.screen.replying.target().id == messages[0].id


async def test_the_sidebar_highlight_stays_on_its_contact_when_rows_come(tmp_path) -> None:
    """A folder found (or a contact added) above the highlighted contact: the
    highlight stays on that contact, so Enter opens whom the user chose (it kept
    the row number before, and moved to someone else)."""
    from tuiclient.widgets.sidebar import ContactRow, Sidebar

    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        sidebar = app.screen.query_one(Sidebar)
        accounts, contacts = list(sidebar.accounts), list(sidebar.contacts)
        assert contacts, "the fixed store has contacts"
        last = contacts[-1]
        sidebar.highlighted = sidebar.get_option_index(f"contact:{last.address}")
        sidebar.show(accounts, [ContactRow("Aaron", "aaron@example.test", "offline"),
                                *contacts])
        assert sidebar.highlighted == sidebar.get_option_index(f"contact:{last.address}")
