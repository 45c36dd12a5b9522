"""The app's mail keys, driven with Pilot against the real Dovecot and SMTP
server, and checked as another mail client sees the servers (plain imapclient,
the stdlib's email): triage with marks and undo, tags, drafts, files, forward,
bounce, files from disk and the "attached" warning."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import imapclient
import pytest
from textual.widgets import Input, TextArea

from bridge.config import load_config
from tests.conftest import password_command
from tests.harness.servers import World
from tests.others import contacts_toml, person, send_email, wait_inbox
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until
from tuiclient.app import TuiClientApp
from tuiclient.screens.attachments import AttachmentsScreen
from tuiclient.screens.compose import ForwardScreen, NewMessageScreen
from tuiclient.screens.drafts import DraftsScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import Confirm, FolderPicker, TagPrompt, ToPrompt, UnsentPrompt
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers


def imap(world: World, who) -> imapclient.IMAPClient:
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    c = imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True, ssl_context=ctx)
    c.login(who.email, who.password)
    return c


def on_server(world: World, who, folder: str) -> dict[str, set[str]]:
    """Subject -> flags of every message in `folder`, as any client sees them."""
    with imap(world, who) as c:
        if not c.folder_exists(folder):
            return {}
        c.select_folder(folder, readonly=True)
        uids = c.search(["ALL"])
        data = c.fetch(uids, [b"ENVELOPE", b"FLAGS"]) if uids else {}
        return {(d[b"ENVELOPE"].subject or b"").decode(): {f.decode() for f in d[b"FLAGS"]}
                for d in data.values()}


def signed_app(world: World, tmp: Path, me, *contacts, signature: str) -> TuiClientApp:
    """The app for `me` with a signature in the account's config."""
    text = world.client_config(me, password_command(tmp, me))
    head, sep, rest = text.partition("password_command = ")
    line, nl, tail = rest.partition("\n")
    path = tmp / "config.toml"
    path.write_text(f'{head}{sep}{line}{nl}signature = "{signature}"\n{tail}'
                    + contacts_toml(*contacts))
    return TuiClientApp(load_config(path), probe_on_start=False)


def row(app, subject: str):
    return next((t for t in listing(app).rows if t.subject == subject), None)


def label(app, subject: str):
    t = row(app, subject)
    return listing(app).labels.get((t.account, t.thread_id)) if t else None


async def test_triage_keys_marks_tags_and_undo_on_the_server(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    subjects = ["Tri one", "Tri two", "Tri three", "Tri four"]
    for s in subjects:
        send_email(world, bob, [alice.email], [], s, f"About {s}.")
    with imap(world, alice) as c:
        c.create_folder("Projects")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: all(row(app, s) for s in subjects), 30)
        assert await pilot_until(pilot, lambda: bool(app.engine.folders(alice.name)))

        # d: to Trash on the server; the row says so; u brings it back.
        await go_to_row(pilot, app, lambda t: t.subject == "Tri one")
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: "Tri one" in on_server(world, alice, "Trash"))
        assert "Tri one" not in on_server(world, alice, "INBOX")
        assert await pilot_until(pilot, lambda: getattr(label(app, "Tri one"), "where", "")
                                 == "Trash"), (row(app, "Tri one"), listing(app).labels,
                                               listing(app).keys_near_view(), notes(app))
        assert any("Deleted 1 email" in n for n in notes(app)), notes(app)
        await pilot.press("u")
        assert await pilot_until(pilot, lambda: "Tri one" in on_server(world, alice, "INBOX"))
        assert "Tri one" not in on_server(world, alice, "Trash")
        assert await pilot_until(pilot, lambda: label(app, "Tri one") is None)

        # Marks: space on two rows (a visible mark), then a archives both; marks clear.
        await go_to_row(pilot, app, lambda t: t.subject == "Tri two")
        await pilot.press("space")
        await go_to_row(pilot, app, lambda t: t.subject == "Tri three")
        await pilot.press("t")
        assert len(listing(app).marked) == 2
        t2 = row(app, "Tri two")
        assert "*" in listing(app).row_text(t2, 100).plain[:3]
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: {"Tri two", "Tri three"} <=
                                 set(on_server(world, alice, "Archive")))
        assert await pilot_until(pilot, lambda: not listing(app).marked)
        assert await pilot_until(pilot, lambda: getattr(label(app, "Tri two"), "where", "")
                                 == "Archive")

        # m: the folder picker filters as one types; enter moves there.
        await go_to_row(pilot, app, lambda t: t.subject == "Tri four")
        await pilot.press("m")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, FolderPicker))
        await pilot.press(*"proj")
        picker = app.screen
        assert [str(o.prompt) for o in picker.query_one("#folder-list")._options] == \
            ["Projects"]
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "Tri four" in
                                 on_server(world, alice, "Projects"))
        assert "Tri four" not in on_server(world, alice, "INBOX")

        # C copies: in both places.
        await go_to_row(pilot, app, lambda t: t.subject == "Tri one")
        await pilot.press("C")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, FolderPicker))
        await pilot.press(*"Projects", "enter")
        assert await pilot_until(pilot, lambda: "Tri one" in
                                 on_server(world, alice, "Projects"))
        assert "Tri one" in on_server(world, alice, "INBOX")

        # T: a tag is an IMAP keyword on the server, and shows in the row.
        await go_to_row(pilot, app, lambda t: t.subject == "Tri one")
        await pilot.press("T")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, TagPrompt))
        await pilot.press(*"+work", "enter")
        assert await pilot_until(pilot, lambda: "work" in
                                 on_server(world, alice, "INBOX").get("Tri one", set()))
        assert await pilot_until(pilot, lambda: "work" in
                                 getattr(label(app, "Tri one"), "tags", ()))
        assert "+work" in listing(app).row_text(row(app, "Tri one"), 120).plain

        # A refusal: a folder that does not exist. One line, nothing changed.
        await pilot.press("m")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, FolderPicker))
        await pilot.press(*"No Such Folder", "enter")
        assert await pilot_until(pilot, lambda: any("Not done, nothing changed" in n
                                                    for n in notes(app)), 20), notes(app)
        assert "Tri one" in on_server(world, alice, "INBOX")
        assert app.engine.message(row_id_of(app, "Tri one")).folder == "INBOX"
        assert getattr(label(app, "Tri one"), "where", "") == ""

        # F on marked conversations flags every one of them, wherever they are.
        for subject in ("Tri one", "Tri four"):
            await go_to_row(pilot, app, lambda t, s=subject: t.subject == s)
            await pilot.press("space")
        await pilot.press("F")
        assert await pilot_until(pilot, lambda: "\\Flagged" in
                                 on_server(world, alice, "INBOX").get("Tri one", set()) and
                                 "\\Flagged" in
                                 on_server(world, alice, "Projects").get("Tri four", set()))
        assert await pilot_until(pilot, lambda: not listing(app).marked)

        # d on what is in Trash already asks, then deletes for good: the row goes.
        await go_to_row(pilot, app, lambda t: t.subject == "Tri two")
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: "Tri two" in on_server(world, alice, "Trash"))
        assert await pilot_until(pilot, lambda: getattr(label(app, "Tri two"), "where", "")
                                 == "Trash")
        await go_to_row(pilot, app, lambda t: t.subject == "Tri two")
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        assert await pilot_until(pilot, lambda: row(app, "Tri two") is None)
        assert "Tri two" not in on_server(world, alice, "Trash")
        assert any("Deleted 1 email for good" in n for n in notes(app)), notes(app)


def row_id_of(app, subject: str) -> int:
    t = row(app, subject)
    (m,) = [m for m in app.engine.timeline(t.account, t.thread_id) if m.folder == "INBOX"]
    return m.id


async def test_esc_in_compose_saves_a_draft_that_p_resumes_and_sends(world, tmp_path):
    """With the account's signature: shown in compose, under the text once in the
    draft and in the mail sent, never in the text resumed."""
    alice, bob = person(world, "alice"), person(world, "bob")
    app = signed_app(world, tmp_path, alice, bob, signature="Alice at the desk")
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        await pilot.press(*bob.email, "tab")
        app.screen.query_one("#subject", Input).value = "Later, perhaps"
        app.screen.query_one("#body", TextArea).text = "Half a thought."
        signature = app.screen.query_one("#signature")
        assert signature.display and "-- Alice at the desk" in str(signature.render())
        # Esc asks; "keep editing" keeps every word.
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        assert app.screen.query_one("#body", TextArea).text == "Half a thought."
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 20)
        drafts = on_server(world, alice, "Drafts")
        assert "\\Draft" in drafts["Later, perhaps"], drafts

        # P lists it; enter resumes it in compose, the words as they were.
        await pilot.press("P")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen), 20)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen), 20)
        compose = app.screen
        assert compose.query_one("#body", TextArea).text == "Half a thought."
        assert compose.query_one("#to", Input).value == bob.email
        compose.query_one("#body", TextArea).text = "A whole thought, now."
        await pilot.press("ctrl+s")
        got = await wait_inbox(world, bob, lambda m: m["Subject"] == "Later, perhaps", 30)
        body = got[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert "A whole thought, now." in body
        assert body.count("-- \nAlice at the desk") == 1, body
        assert await pilot_until(pilot, lambda: on_server(world, alice, "Drafts") == {}, 20)


async def test_files_forward_bounce_and_attaching_from_disk(world, tmp_path, monkeypatch):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    downloads = tmp_path / "dl"
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(downloads))
    pdf = b"%PDF-1.4\n" + b"x" * 300 + b"\n%%EOF\n"
    send_email(world, bob, [alice.email], [], "Plans", "The plans are attached.",
               ("plans.pdf", "application/pdf", pdf))
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: row(app, "Plans") is not None, 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Plans")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: app.screen.query_one(Timeline).current
                                 is not None)
        app.screen.query_one(Timeline).focus()

        # s: the files of the email; s again saves them all, and says where.
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, AttachmentsScreen), 20)
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: (downloads / "plans.pdf").exists(), 20)
        assert (downloads / "plans.pdf").read_bytes() == pdf
        assert any(str(downloads) in n and "plans.pdf" in n for n in notes(app)), notes(app)

        # o opens one with the desktop's handler (here a stand-in xdg-open that
        # records what it was given): a private copy, never the downloads folder.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        seen = tmp_path / "opened.txt"
        opener = bin_dir / "xdg-open"
        opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {seen}\n')
        opener.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        monkeypatch.setenv("DISPLAY", ":99")
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, AttachmentsScreen), 20)
        await pilot.press("o")
        assert await pilot_until(pilot, lambda: seen.exists() and seen.read_text(), 20)
        opened = Path(seen.read_text())
        assert opened.name == "plans.pdf" and opened.read_bytes() == pdf
        assert opened.parent != downloads and opened.parent.stat().st_mode & 0o777 == 0o700

        # f: forward inline to carol with a note; the file goes along.
        await pilot.press("f")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ForwardScreen), 20)
        await pilot.press(*carol.email)
        app.screen.query_one("#body", TextArea).text = "For you, Carol."
        await pilot.press("ctrl+s")
        got = await wait_inbox(world, carol, lambda m: "Plans" in str(m["Subject"]), 30)
        fwd = got[0]
        assert str(fwd["Subject"]).lower().startswith("fwd")
        assert "For you, Carol." in fwd.get_body(("plain",)).get_content()
        assert [p.get_filename() for p in fwd.iter_attachments()] == ["plans.pdf"]

        # b: bounce to carol, as it is, under Resent-* fields.
        await pilot.press("b")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ToPrompt))
        await pilot.press(*carol.email, "enter")
        got = await wait_inbox(world, carol, lambda m: m["Resent-From"] is not None, 30)
        assert alice.email in str(got[0]["Resent-From"])
        assert str(got[0]["Subject"]) == "Plans"

        # A new message that says "attached" with nothing attached asks first; a file
        # from disk by its path goes along.
        note = tmp_path / "notes.txt"
        note.write_text("the notes\n")
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        compose = app.screen
        await pilot.press(*carol.email)
        compose.query_one("#subject", Input).value = "Notes"
        compose.query_one("#body", TextArea).text = "The notes are attached."
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("n")
        assert await pilot_until(pilot, lambda: app.screen is compose)
        compose.query_one("#attach-path", Input).focus()
        await pilot.press(*str(note), "enter")
        assert [p.name for p in compose.query_one("#local-files").paths] == ["notes.txt"]
        assert "text/plain" in str(compose.query_one("#attached").render())
        await pilot.press("ctrl+s")
        got = await wait_inbox(world, carol, lambda m: str(m["Subject"]) == "Notes", 30)
        files = {p.get_filename(): p.get_payload(decode=True)
                 for p in got[0].iter_attachments()}
        assert files == {"notes.txt": b"the notes\n"}


async def test_quitting_under_compose_keeps_the_text_and_p_offers_it(world, tmp_path):
    """ctrl+q (Textual's quit, at once) under a compose screen: the words are kept
    on disk (0600), and P in the next session puts them back into compose."""
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        await pilot.press(*bob.email, "tab")
        await pilot.press(*"Unfinished", "tab")
        await pilot.press(*"Words I want to keep")
        await pilot.press("ctrl+q")
    from tuiclient.drafts import unsent
    (kept,) = unsent()
    assert (kept.to, kept.subject, kept.text) == ([bob.email], "Unfinished",
                                                   "Words I want to keep")
    assert kept.path.stat().st_mode & 0o777 == 0o600

    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("P")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen), 20)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        assert app.screen.query_one("#body", TextArea).text == "Words I want to keep"
        assert app.screen.query_one("#subject", Input).value == "Unfinished"
        # Esc still asks: the text is at stake again.
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
        await pilot.press("D")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
    assert unsent() == []
