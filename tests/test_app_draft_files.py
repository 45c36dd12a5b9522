"""A draft's files come back with it (as mutt's postponed messages and aerc's
drafts bring theirs): resumed from P, the compose lists them (copied from the
server's draft, not from the disk they were attached from); saved again, the new
Drafts copy holds them; sent, the recipient gets them; `-NAME` takes one off. A
reply's draft too, and the headless `draft save --replace`. The P list says
which drafts carry files. Driven with Pilot and the command line against the real
Dovecot and SMTP server, checked as another mail client sees the servers."""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from bridge.headless.cli import EXIT_OK
from tests.others import person, send_email, wait_inbox
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tests.test_app_walk import shown
from tests.test_headless import cli
from tests.test_headless_mail_more import config_with, raw_drafts, rows_by_subject
from tuiclient.screens.compose import ComposeScreen, NewMessageScreen
from tuiclient.screens.drafts import DraftsScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import UnsentPrompt

pytestmark = pytest.mark.servers

NOTES = b"Walk: 5 km, 2 hills, 1 cafe stop.\n"
PLAN = b"%PDF-1.4 the route\n%%EOF\n"


def files_of(mail) -> dict[str, bytes]:
    """The attachments of a parsed email, name -> bytes (the stdlib's reading)."""
    return {part.get_filename(): part.get_content() if isinstance(part.get_content(), bytes)
            else part.get_content().encode() for part in mail.iter_attachments()}


def drafts_named(world, who, subject: str) -> list:
    return [m for m in raw_drafts(world, who) if m["Subject"] == subject]


async def attach(pilot, app, path) -> None:
    field = app.screen.query_one("#attach-path", Input)
    field.focus()
    field.value = str(path)
    await pilot.press("enter")
    await pilot.pause()


async def save_as_draft(pilot, app) -> None:
    await pilot.press("escape")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
    await pilot.press("s")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 20)


async def resume_first(pilot, app, screen_type=NewMessageScreen) -> DraftsScreen:
    await pilot.press("P")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen), 20)
    drafts = app.screen
    await pilot.pause()
    listed = shown(drafts)
    await pilot.press("enter")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, screen_type), 20)
    await pilot.pause()
    return listed


async def test_a_resumed_draft_keeps_its_file_saved_again_and_sent(world, tmp_path):
    alice, dave = person(world, "alice"), person(world, "dave")
    notes_file = tmp_path / "walk-notes.txt"
    notes_file.write_bytes(NOTES)
    app = alice_app(world, tmp_path, alice, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        await pilot.press(*dave.email, "tab")
        app.screen.query_one("#subject", Input).value = "Budget notes"
        app.screen.query_one("#body", TextArea).text = "Dave, my notes are attached."
        await attach(pilot, app, notes_file)
        assert "+ walk-notes.txt" in shown(app.screen.query_one("#attached"))
        await save_as_draft(pilot, app)
        (first,) = drafts_named(world, alice, "Budget notes")
        assert files_of(first) == {"walk-notes.txt": NOTES}
        # The file is gone from the disk: the draft's copy is what comes back.
        notes_file.unlink()

        # P says the draft carries a file; enter resumes it with the file listed.
        listed = await resume_first(pilot, app)
        assert "Budget notes" in listed and "📎 1 file" in listed, listed
        compose = app.screen
        assert "+ walk-notes.txt" in shown(compose.query_one("#attached")), \
            shown(compose.query_one("#attached"))
        # The cursor is after the text: what is typed goes on from there.
        await pilot.press(*" See you")
        body = compose.query_one("#body", TextArea).text
        assert body == "Dave, my notes are attached. See you", body
        await save_as_draft(pilot, app)
        # The new Drafts copy, as another client sees it, holds the file.
        (second,) = drafts_named(world, alice, "Budget notes")
        assert "See you" in second.get_body(("plain",)).get_content()
        assert files_of(second) == {"walk-notes.txt": NOTES}

        # Resumed again and sent (changed): dave gets the file.
        await resume_first(pilot, app)
        assert "+ walk-notes.txt" in shown(app.screen.query_one("#attached"))
        await pilot.press(*" Bye.")
        await pilot.press("ctrl+s")
        (got,) = await wait_inbox(world, dave, lambda m: m["Subject"] == "Budget notes", 30)
        assert files_of(got) == {"walk-notes.txt": NOTES}
        assert "See you Bye." in got.get_body(("plain",)).get_content()
        assert await pilot_until(pilot, lambda: not drafts_named(world, alice,
                                                                 "Budget notes"), 20)


async def test_a_file_taken_off_a_resumed_draft_is_not_sent(world, tmp_path):
    alice, dave = person(world, "alice"), person(world, "dave")
    for name, data in (("walk-notes.txt", NOTES), ("route.pdf", PLAN)):
        (tmp_path / name).write_bytes(data)
    app = alice_app(world, tmp_path, alice, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        await pilot.press(*dave.email, "tab")
        app.screen.query_one("#subject", Input).value = "The walk"
        app.screen.query_one("#body", TextArea).text = "Notes and the route."
        await attach(pilot, app, tmp_path / "walk-notes.txt")
        await attach(pilot, app, tmp_path / "route.pdf")
        await save_as_draft(pilot, app)
        listed = await resume_first(pilot, app)
        assert "📎 2 files" in listed, listed
        attached = shown(app.screen.query_one("#attached"))
        assert "+ walk-notes.txt" in attached and "+ route.pdf" in attached, attached
        await attach(pilot, app, "-walk-notes.txt")
        attached = shown(app.screen.query_one("#attached"))
        assert "walk-notes.txt" not in attached and "+ route.pdf" in attached, attached
        await pilot.press("ctrl+s")
        (got,) = await wait_inbox(world, dave, lambda m: m["Subject"] == "The walk", 30)
        assert files_of(got) == {"route.pdf": PLAN}


async def test_a_resumed_reply_draft_sends_its_file(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    notes_file = tmp_path / "walk-notes.txt"
    notes_file.write_bytes(NOTES)
    send_email(world, bob, [alice.email], [], "Walk on Sunday", "Notes?\n\nBob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            t.subject == "Walk on Sunday" for t in listing(app).rows), 30)
        row = next(t for t in listing(app).rows if t.subject == "Walk on Sunday")
        (original,) = app.engine.timeline(row.account, row.thread_id)
        # Another machine postponed the reply with a file; here it is no more.
        await app.engine.draft_save(alice.name, [], "", "Here they are, attached.",
                                    answering=original.id, files=[notes_file])
        notes_file.unlink()
        await go_to_row(pilot, app, lambda t: t.subject == "Walk on Sunday")
        listed = await resume_first(pilot, app, ComposeScreen)
        assert "📎 1 file" in listed, listed
        compose = app.screen
        assert "+ walk-notes.txt" in shown(compose.query_one("#attached"))
        await pilot.press(*" Enjoy.")
        assert compose.query_one("#body", TextArea).text == \
            "Here they are, attached. Enjoy."
        await pilot.press("ctrl+s")
        (got,) = await wait_inbox(world, bob, lambda m: m["Subject"] == "Re: Walk on Sunday",
                                  30)
        assert files_of(got) == {"walk-notes.txt": NOTES}
        assert await pilot_until(pilot, lambda: not raw_drafts(world, alice), 20)


async def test_headless_draft_replace_keeps_the_files_of_the_draft(world, tmp_path):
    alice, dave = person(world, "alice"), person(world, "dave")
    config = config_with(world, tmp_path, alice, "")
    for name, data in (("walk-notes.txt", NOTES), ("route.pdf", PLAN)):
        (tmp_path / name).write_bytes(data)
    code, saved, err = await cli(config, "draft", "--json", "save", "--to", dave.email,
                                 "--subject", "Budget notes", "--file",
                                 str(tmp_path / "walk-notes.txt"), "--file",
                                 str(tmp_path / "route.pdf"), "Attached.")
    assert code == EXIT_OK, err
    for name in ("walk-notes.txt", "route.pdf"):
        (tmp_path / name).unlink()
    code, listed, err = await cli(config, "draft", "list")
    assert code == EXIT_OK, err
    assert [[a["filename"] for a in d["attachments"]] for d in listed] == \
        [["walk-notes.txt", "route.pdf"]], listed
    # Replaced with a new text: its files stay, from the server.
    code, again, err = await cli(config, "draft", "--json", "save", "--to", dave.email,
                                 "--subject", "Budget notes", "--replace",
                                 str(saved["id"]), "Attached, both.")
    assert code == EXIT_OK, err
    (draft,) = drafts_named(world, alice, "Budget notes")
    assert files_of(draft) == {"walk-notes.txt": NOTES, "route.pdf": PLAN}
    # --drop-file leaves one out.
    code, third, err = await cli(config, "draft", "--json", "save", "--to", dave.email,
                                 "--subject", "Budget notes", "--replace",
                                 str(again["id"]), "--drop-file", "route.pdf",
                                 "The notes only.")
    assert code == EXIT_OK, err
    (draft,) = drafts_named(world, alice, "Budget notes")
    assert files_of(draft) == {"walk-notes.txt": NOTES}
    code, _, err = await cli(config, "draft", "send", str(third["id"]))
    assert code == EXIT_OK, err
    (got,) = await wait_inbox(world, dave, lambda m: m["Subject"] == "Budget notes", 30)
    assert files_of(got) == {"walk-notes.txt": NOTES}


async def test_headless_draft_save_forward_carries_the_email(world, tmp_path):
    """`draft save --forward ID`: the app's Esc in a forward, for scripts. The
    draft carries the email whole (message/rfc822), and sent it is a forward."""
    alice, bob, dave = (person(world, n) for n in ("alice", "bob", "dave"))
    send_email(world, bob, [alice.email], [], "Minutes", "The minutes.\n\nBob")
    config = config_with(world, tmp_path, alice, "")
    rows = await rows_by_subject(config)
    code, saved, err = await cli(config, "draft", "--json", "save", "--to", dave.email,
                                 "--forward", str(rows["Minutes"]), "See page 2.")
    assert code == EXIT_OK, err
    (draft,) = raw_drafts(world, alice)
    assert str(draft["Subject"]) == "Fwd: Minutes" and dave.email in str(draft["To"])
    (part,) = list(draft.iter_attachments())
    assert part.get_content_type() == "message/rfc822"
    assert str(part.get_content()["Subject"]) == "Minutes"
    code, _, err = await cli(config, "draft", "send", str(saved["id"]))
    assert code == EXIT_OK, err
    (got,) = await wait_inbox(world, dave, lambda m: m["Subject"] == "Fwd: Minutes", 30)
    assert "See page 2." in got.get_body(("plain",)).get_content()
    (part,) = list(got.iter_attachments())
    assert "The minutes." in part.get_content().get_body(("plain",)).get_content()


def test_the_headless_draft_line_says_how_many_files():
    """`draft list` without --json: a draft with files says so (a unit test beside
    the real one above, which reads the --json list)."""
    from bridge.headless.mail_verbs import _draft_line
    from bridge.model import Attachment, Message, Party
    m = Message("d1@x.test", "work", "email", "out", "d1@x.test", 1_700_000_000.0,
                Party("me@x.test"), [Party("dave@x.test", "", "to")], "Budget notes",
                attachments=[Attachment("walk-notes.txt", "text/plain", 35),
                             Attachment("route.pdf", "application/pdf", 25)], id=7)
    assert _draft_line(m).endswith("Budget notes  [+2 files]")
    m.attachments = m.attachments[:1]
    assert _draft_line(m).endswith("Budget notes  [+1 file]")
    m.attachments = []
    assert _draft_line(m).endswith("Budget notes")
