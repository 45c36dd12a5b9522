"""The app's reply drafts, files from disk on a reply, the list's limit (l) and
the next unread conversation (J), driven with Pilot against the real Dovecot and
SMTP server, checked as another mail client sees them."""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from tests.others import person, send_email, wait_inbox
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until
from tests.test_app_mail import on_server, row
from tuiclient.screens.compose import ComposeScreen
from tuiclient.screens.drafts import DraftsScreen
from tuiclient.screens.limit import LimitPrompt
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import UnsentPrompt
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers


async def test_a_reply_saved_with_esc_resumes_as_a_reply_with_a_file(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    first = send_email(world, bob, [alice.email], [], "Quarter", "Numbers by Friday?")
    sheet = tmp_path / "numbers.csv"
    sheet.write_text("q,total\n3,42\n")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: row(app, "Quarter") is not None, 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Quarter")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: app.screen.query_one(Timeline).current
                                 is not None)
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen), 20)
        app.screen.query_one("#body", TextArea).text = "Half of the numbers."
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 20)
        assert "Re: Quarter" in on_server(world, alice, "Drafts")

        # P, enter: the reply compose again (not a new message), its words kept.
        await pilot.press("P")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen), 20)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen), 20)
        compose = app.screen
        assert compose.resumed is not None and compose.sub_title == "draft"
        assert compose.query_one("#body", TextArea).text == "Half of the numbers."
        compose.query_one("#body", TextArea).text = "All the numbers."
        # A file from disk, by its path, on the reply.
        compose.query_one("#attach-path", Input).focus()
        await pilot.press(*str(sheet), "enter")
        assert [p.name for p in compose.query_one("#local-files").paths] == ["numbers.csv"]
        await pilot.press("ctrl+s")
        (got,) = await wait_inbox(world, bob, lambda m: m["Subject"] == "Re: Quarter", 30)
        assert got["In-Reply-To"] == f"<{first}>" and f"<{first}>" in got["References"]
        assert "All the numbers." in got.get_body(("plain",)).get_content()
        assert [(p.get_filename(), p.get_payload(decode=True))
                for p in got.iter_attachments()] == [("numbers.csv", b"q,total\n3,42\n")]
        # Sent as a reply, the draft leaves Drafts.
        assert await pilot_until(pilot, lambda: on_server(world, alice, "Drafts") == {}, 20)
        assert not any("stays in Drafts" in n for n in notes(app)), notes(app)


async def test_limit_and_next_unread(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    for sender, subject in ((bob, "Lim one"), (carol, "Lim two"), (bob, "Lim three")):
        send_email(world, sender, [alice.email], [], subject, f"About {subject}.")
    subjects = {"Lim one", "Lim two", "Lim three"}
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: all(row(app, s) for s in subjects), 30)
        shown = lambda: {t.subject for t in listing(app).rows}  # noqa: E731

        # l: a search in the prompt; only what it finds, and the title says so.
        await pilot.press("l")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, LimitPrompt))
        await pilot.press(*f"from:{bob.email}", "enter")
        assert await pilot_until(pilot, lambda: shown() == {"Lim one", "Lim three"})
        assert f"limit: from:{bob.email}" in str(listing(app).border_title)

        # New mail: what matches comes in, the rest stays out.
        send_email(world, carol, [alice.email], [], "Lim four", "Not bob.")
        send_email(world, bob, [alice.email], [], "Lim five", "Bob again.")
        assert await pilot_until(pilot, lambda: "Lim five" in shown(), 40)
        assert "Lim four" not in shown() and "Lim two" not in shown()

        # A filter the search cannot use: said, and the limit stays.
        await pilot.press("l")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, LimitPrompt))
        app.screen.query_one("#limit", Input).value = "after:someday"
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Limit not changed" in n
                                                    for n in notes(app)))
        assert "Lim five" in shown() and "Lim two" not in shown()

        # An empty limit: every conversation again, and the plain title.
        await pilot.press("l")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, LimitPrompt))
        app.screen.query_one("#limit", Input).value = ""
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: {"Lim two", "Lim four"} <= shown(), 20)
        assert listing(app).border_title == "Conversations"

        # J: the next conversation with something unread, past the read ones.
        listing(app).focus()
        rows = listing(app).rows
        lims = [i for i, t in enumerate(rows) if t.subject.startswith("Lim")]
        skipped = rows[lims[1]]
        m = next(x for x in app.engine.timeline(skipped.account, skipped.thread_id))
        await app.engine.mark_read([m.id])
        assert await pilot_until(pilot, lambda: row(app, skipped.subject).unread_count == 0)
        await go_to_row(pilot, app, lambda t: t.subject == rows[lims[0]].subject)
        await pilot.press("J")
        assert listing(app).current.subject == rows[lims[2]].subject
        # Reading a conversation, J opens the next unread one.
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: not listing(app).has_focus)
        await pilot.press("J")
        nxt = rows[lims[3]]
        assert await pilot_until(pilot, lambda: app.screen.opened.key ==
                                 (nxt.account, nxt.thread_id))
        # Read all: J says there is nothing unread, the cursor stays.
        for t in list(listing(app).rows):
            ids = [x.id for x in app.engine.timeline(t.account, t.thread_id) if x.unread]
            if ids:
                await app.engine.mark_read(ids)
        assert await pilot_until(pilot, lambda: not any(t.unread_count
                                                        for t in listing(app).rows), 20)
        at = listing(app).cursor
        await pilot.press("J")
        assert listing(app).cursor == at
        assert any("No unread conversations" in n for n in notes(app)), notes(app)
