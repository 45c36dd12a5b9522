"""j/k/g/G in every list and pane (issue 21), with Pilot against the real servers:
each screen opened as a user opens it, with rows in it, and the cursor checked
after each key; and the drafts list discarding a draft from the server's Drafts.

alice uses the app; bob writes with the standard library's smtplib and a plain
slixmpp client.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate

import pytest
from textual.widgets import Button, DataTable, OptionList

from tests.harness.servers import World
from tests.others import Account, person, plain
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until, wait_until
from tests.test_app_mail import on_server
from tuiclient.drafts import keep_unsent, unsent
from tuiclient.screens.attachments import AttachmentsScreen
from tuiclient.screens.drafts import DraftsScreen
from tuiclient.screens.health import HealthScreen
from tuiclient.screens.links import LinksScreen
from tuiclient.screens.outbox import OutboxScreen
from tuiclient.screens.pickers import Confirm, FolderPicker
from tuiclient.screens.prompts import ReplyOptionsScreen
from tuiclient.screens.roster import RosterScreen
from tuiclient.widgets.conversation import ChatReply
from tuiclient.widgets.conversation_list import ConversationList
from tuiclient.widgets.ticks import Checklist, Tick

pytestmark = pytest.mark.servers

TEXT = """Hi Alice,

the agenda: https://example.org/agenda
the venue: https://example.org/venue
the menu: https://example.org/menu

Bob"""


def mail_with_files(world: World, sender: Account, to: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = f"{sender.display_name} <{sender.email}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.email.partition('@')[2]}>"
    msg.set_content(TEXT)
    msg.add_attachment(b"%PDF-1.4\n% plan\n%%EOF\n", maintype="application",
                       subtype="pdf", filename="plan.pdf")
    msg.add_attachment(b"name,seat\nbob,1\n", maintype="text", subtype="csv",
                       filename="seats.csv")
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with smtplib.SMTP("127.0.0.1", world.ports.submission, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(sender.email, sender.password)
        smtp.send_message(msg)


async def walk_list(pilot, widget: OptionList) -> None:
    """j, k, G, g on a list of two rows or more, each moving its cursor."""
    n = widget.option_count
    assert n >= 2, n
    assert widget.has_focus
    widget.highlighted = 0
    await pilot.press("j")
    assert widget.highlighted == 1
    await pilot.press("k")
    assert widget.highlighted == 0
    await pilot.press("G")
    assert widget.highlighted == n - 1
    await pilot.press("g")
    assert widget.highlighted == 0


async def walk_table(pilot, table: DataTable) -> None:
    n = table.row_count
    assert n >= 2, n
    assert table.has_focus
    table.move_cursor(row=0)
    await pilot.press("j")
    assert table.cursor_row == 1
    await pilot.press("k")
    assert table.cursor_row == 0
    await pilot.press("G")
    assert table.cursor_row == n - 1
    await pilot.press("g")
    assert table.cursor_row == 0


async def test_j_k_g_G_move_in_every_list(world, tmp_path, running):
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    world.befriend(alice, carol)
    bob_x = await xmpp(plain(world, bob))
    bob_x.set_presence("away", "Out")
    mail_with_files(world, bob, alice.email, "Offsite plans")
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(150, 45)) as pilot:
        assert await pilot_until(pilot, lambda: any(t.subject == "Offsite plans"
                                                    for t in listing(app).rows), 30)
        engine = app.engine
        for n in (1, 2):
            await engine.draft_save(alice.name, [bob.email], f"Later {n}", f"draft {n}")
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "away")
        for words in ("First deferred", "Second deferred"):
            await engine.send_message(alice.name, [bob.jid], words, via="im",
                                      when_away="defer")

        await go_to_row(pilot, app, lambda t: t.subject == "Offsite plans")
        await pilot.press("enter")
        await pilot.pause()

        # The links (L).
        await pilot.press("L")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, LinksScreen))
        await pilot.pause()
        await walk_list(pilot, app.screen.query_one("#link-list", OptionList))
        await pilot.press("escape")

        # The email's files (s).
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, AttachmentsScreen))
        await pilot.pause()
        await walk_list(pilot, app.screen.query_one("#attachment-list", OptionList))
        await pilot.press("escape")

        # The folder picker (m): Tab from the filter to the list, j/k/g/G there.
        await pilot.press("m")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, FolderPicker))
        await pilot.pause()
        await pilot.press("tab")
        await walk_list(pilot, app.screen.query_one("#folder-list", OptionList))
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, FolderPicker))

        # The reply options (o): j/k from box to box, into the files' list.
        await pilot.press("o")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ReplyOptionsScreen))
        await pilot.pause()
        options = app.screen
        assert options.query_one("#history", Tick).has_focus
        await pilot.press("j")
        files = options.query_one(Checklist)
        assert files.has_focus and files.option_count == 2
        files.highlighted = 0
        await pilot.press("j")
        assert files.highlighted == 1
        await pilot.press("g")
        assert files.highlighted == 0
        options.query_one("#history", Tick).focus()
        await pilot.press("G")
        assert isinstance(app.focused, Button)
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, ReplyOptionsScreen))
        app.screen.query_one(ChatReply).action_leave()
        await pilot.pause()

        # The drafts (P).
        await pilot.press("P")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen))
        await pilot.pause()
        await walk_list(pilot, app.screen.query_one("#draft-list", OptionList))
        await pilot.press("escape")

        # The servers (H).
        await pilot.press("H")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, HealthScreen))
        await pilot.pause()
        servers = app.screen.query_one("#servers", DataTable)
        servers.focus()
        await walk_table(pilot, servers)
        await pilot.press("escape")

        # The outbox (O): the table, then its log (Tab), which scrolls.
        await pilot.press("O")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        assert await pilot_until(pilot, lambda: len(app.screen.items) == 2)
        await pilot.pause()
        await walk_table(pilot, app.screen.query_one("#outbox-table", DataTable))
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#outbox-log-pane")
        await pilot.press("escape")

        # The roster (/roster in the chat input).
        chat_input = app.screen.query_one(ChatReply)
        chat_input.focus()
        chat_input.value = "/roster"
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RosterScreen))
        table = app.screen.query_one(DataTable)
        assert await pilot_until(pilot, lambda: table.row_count >= 2)
        table.focus()
        await walk_table(pilot, table)
        await pilot.press("escape")


async def test_the_drafts_list_discards_a_draft_from_the_server(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app._started)
        for subject in ("Keep me", "Throw me away"):
            await app.engine.draft_save(alice.name, [bob.email], subject, "words")
        assert set(on_server(world, alice, "Drafts")) == {"Keep me", "Throw me away"}
        await pilot.press("ctrl+r")  # synced: the drafts are rows of the list too
        assert await pilot_until(pilot, lambda: {"Keep me", "Throw me away"} <= {
            t.subject for t in listing(app).rows}, 30), [t.subject for t in listing(app).rows]
        keep_unsent(alice.name, [bob.email], "Kept here", "kept words")
        assert [u.subject for u in unsent()] == ["Kept here"]

        await pilot.press("P")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen))
        await pilot.pause()
        drafts = app.screen
        listing_ = drafts.query_one("#draft-list", OptionList)
        assert listing_.option_count == 3
        at = next(i for i in range(3) if "Throw me away" in str(
            listing_.get_option_at_index(i).prompt))
        listing_.highlighted = at
        await pilot.press("d")  # asks first: n keeps it
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("n")
        assert await pilot_until(pilot, lambda: app.screen is drafts)
        assert listing_.option_count == 3
        assert set(on_server(world, alice, "Drafts")) == {"Keep me", "Throw me away"}
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        assert await pilot_until(pilot, lambda: listing_.option_count == 2)
        assert await wait_until(lambda: set(on_server(world, alice, "Drafts")) == {"Keep me"})
        assert "Draft discarded." in notes(app)
        # Its row goes from the list at once, not at the next sync.
        main = app.main_screen()
        assert main is not None
        rows = lambda: {t.subject for t in main.query_one(ConversationList).rows}  # noqa: E731
        assert await pilot_until(pilot, lambda: "Throw me away" not in rows()), rows()
        assert "Keep me" in rows()

        # The text kept on this machine: its file goes.
        at = next(i for i in range(2) if "Kept here" in str(
            listing_.get_option_at_index(i).prompt))
        listing_.highlighted = at
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        assert await pilot_until(pilot, lambda: listing_.option_count == 1)
        assert unsent() == []
        assert set(on_server(world, alice, "Drafts")) == {"Keep me"}
