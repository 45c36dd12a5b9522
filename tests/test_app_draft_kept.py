"""Typed text is never lost (a project rule), in the compose screens testers found
leaking it: Esc in an email reply to a chat line and in the Forward screen offers
a draft as every other compose screen does (a forward's draft carries the
forwarded email whole); a resumed draft whose only change is a file taken off
asks before it is left; and the app closing under a resumed draft with files
(ctrl+q, a terminal that hung up) saves it in Drafts with its files, not its
text alone. Driven with Pilot against the real Dovecot and Prosody; bob and dave
are plain slixmpp and stdlib mail clients; Drafts read as another IMAP client
sees it."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest
from textual.widgets import TextArea

from tests.others import person, send_email, wait_inbox
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tests.test_app_draft_files import NOTES, PLAN, attach, drafts_named, files_of, resume_first
from tests.test_app_walk import shown
from tests.test_headless_chat import plain
from tests.test_headless_mail_more import raw_drafts
from tests.test_xmpp_chat import line
from tuiclient.drafts import unsent
from tuiclient.screens.compose import ComposeScreen, ForwardScreen, NewMessageScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import UnsentPrompt
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers


def body_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()


async def esc_and_save(pilot, app) -> None:
    """Esc, and s in the prompt: it must offer to save (a Save button)."""
    await pilot.press("escape")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
    assert app.screen.query("#save"), "the prompt offers no draft"
    await pilot.press("s")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 20)


async def test_esc_in_an_email_reply_to_a_chat_line_saves_it_in_drafts(
        world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        bob_x.send_xml(line(alice.jid, "Can you send me the minutes?")[1])
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Can you send me the minutes?" for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Can you send me the minutes?")
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.current is not None)
        timeline.focus()
        # r: the offer to reply by email to the chat line.
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen))
        app.screen.query_one("#body", TextArea).focus()
        await pilot.press(*"They run long: the gist tonight.")
        await esc_and_save(pilot, app)
        assert any("Saved in Drafts" in n.message for n in app._notifications)
        # In Drafts, as another client sees it: the text, to bob's email address.
        assert await pilot_until(pilot, lambda: len(raw_drafts(world, alice)) == 1, 20)
        (draft,) = raw_drafts(world, alice)
        assert "They run long: the gist tonight." in body_of(draft)
        assert bob.email in str(draft["To"]), str(draft["To"])
        # P lists it, and Enter brings the text back.
        listed = await resume_first(pilot, app, (NewMessageScreen, ComposeScreen))
        assert str(draft["Subject"]) in listed, listed
        assert app.screen.query_one("#body", TextArea).text == \
            "They run long: the gist tonight."


async def test_esc_in_a_forward_saves_a_draft_that_carries_the_email(world, tmp_path):
    alice, bob, dave = (person(world, n) for n in ("alice", "bob", "dave"))
    send_email(world, bob, [alice.email], [], "Minutes", "The minutes, Alice.\n\nBob",
               attachment=("minutes.pdf", "application/pdf", PLAN))
    app = alice_app(world, tmp_path, alice, bob, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            t.subject == "Minutes" for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Minutes")
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.current is not None)
        timeline.focus()
        await pilot.press("f")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ForwardScreen), 20)
        await pilot.press(*dave.email, "tab")
        app.screen.query_one("#body", TextArea).focus()
        await pilot.press(*"Dave, see page 2.")
        await esc_and_save(pilot, app)
        # The toast says what the draft holds.
        assert any("attached whole" in n.message for n in app._notifications)
        # In Drafts: the note, To, "Fwd:", and bob's email whole, his file inside.
        assert await pilot_until(pilot, lambda: len(raw_drafts(world, alice)) == 1, 20)
        (draft,) = raw_drafts(world, alice)
        assert body_of(draft).startswith("Dave, see page 2.")
        assert dave.email in str(draft["To"]) and str(draft["Subject"]) == "Fwd: Minutes"
        (part,) = list(draft.iter_attachments())
        assert part.get_content_type() == "message/rfc822"
        inner = part.get_content()
        assert str(inner["Subject"]) == "Minutes" and "The minutes, Alice." in body_of(inner)
        assert files_of(inner) == {"minutes.pdf": PLAN}

        # Resumed from P, with the email as its file, changed and sent (saved again
        # first): dave gets the note and bob's email, his file inside.
        listed = await resume_first(pilot, app)
        assert "Fwd: Minutes" in listed and "📎 1 file" in listed, listed
        assert "Minutes.eml" in shown(app.screen.query_one("#attached"))
        await pilot.press(*" Thanks.")
        await pilot.press("ctrl+s")
        (got,) = await wait_inbox(world, dave, lambda m: m["Subject"] == "Fwd: Minutes", 30)
        assert body_of(got).startswith("Dave, see page 2. Thanks.")
        (part,) = list(got.iter_attachments())
        assert part.get_content_type() == "message/rfc822"
        inner = part.get_content()
        assert str(inner["Subject"]) == "Minutes" and "The minutes, Alice." in body_of(inner)
        assert files_of(inner) == {"minutes.pdf": PLAN}


async def saved_with_two_files(pilot, app, world, alice, dave, tmp_path) -> None:
    """alice postpones "The walk" to dave with two files; the disk copies go."""
    for name, data in (("walk-notes.txt", NOTES), ("route.pdf", PLAN)):
        (tmp_path / name).write_bytes(data)
    await app.engine.draft_save(alice.name, [dave.email], "The walk", "Notes and the route.",
                                files=[tmp_path / "walk-notes.txt", tmp_path / "route.pdf"])
    for name in ("walk-notes.txt", "route.pdf"):
        (tmp_path / name).unlink()


async def test_a_file_taken_off_a_resumed_draft_is_a_change_esc_asks(world, tmp_path):
    alice, dave = person(world, "alice"), person(world, "dave")
    app = alice_app(world, tmp_path, alice, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await saved_with_two_files(pilot, app, world, alice, dave, tmp_path)
        listed = await resume_first(pilot, app)
        assert "📎 2 files" in listed, listed
        await attach(pilot, app, "-walk-notes.txt")
        assert "walk-notes.txt" not in shown(app.screen.query_one("#attached"))
        # Only the file list changed: Esc asks all the same, and s saves it so.
        await esc_and_save(pilot, app)
        assert await pilot_until(pilot, lambda: [
            files_of(d) for d in drafts_named(world, alice, "The walk")] == [
            {"route.pdf": PLAN}], 20), [files_of(d) for d in raw_drafts(world, alice)]
        # Resumed again: the file taken off stays off.
        await resume_first(pilot, app)
        attached = shown(app.screen.query_one("#attached"))
        assert "walk-notes.txt" not in attached and "route.pdf" in attached, attached


async def test_ctrl_q_under_a_resumed_draft_keeps_its_files(world, tmp_path):
    alice, dave = person(world, "alice"), person(world, "dave")
    app = alice_app(world, tmp_path, alice, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await saved_with_two_files(pilot, app, world, alice, dave, tmp_path)
        await resume_first(pilot, app)
        await pilot.press(*" Bring boots.")
        await pilot.press("ctrl+q")
        for _ in range(200):
            if app.return_code is not None:
                break
            await asyncio.sleep(0.05)
    # One draft in Drafts: the new text, with both files.
    (draft,) = drafts_named(world, alice, "The walk")
    assert "Notes and the route. Bring boots." in body_of(draft)
    assert files_of(draft) == {"walk-notes.txt": NOTES, "route.pdf": PLAN}
    # Not a second copy, without its files, on this machine.
    assert not [u for u in unsent() if "Bring boots" in u.text]


async def test_a_hang_up_under_a_resumed_draft_keeps_its_files(world, tmp_path, monkeypatch):
    import tuiclient.app

    # The app's own end of the process (after hangup.GRACE) would end pytest's.
    monkeypatch.setattr(tuiclient.app, "end_after", lambda *a, **k: None)
    alice, dave = person(world, "alice"), person(world, "dave")
    app = alice_app(world, tmp_path, alice, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await saved_with_two_files(pilot, app, world, alice, dave, tmp_path)
        await resume_first(pilot, app)
        await pilot.press(*" Rain likely.")
        app.terminal_hung_up()
        for _ in range(200):
            if app.return_code is not None:
                break
            await asyncio.sleep(0.05)
        assert app.return_code == 1
    (draft,) = drafts_named(world, alice, "The walk")
    assert "Notes and the route. Rain likely." in body_of(draft)
    assert files_of(draft) == {"walk-notes.txt": NOTES, "route.pdf": PLAN}
    assert not [u for u in unsent() if "Rain likely" in u.text]
