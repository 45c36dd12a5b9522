"""The new-message screen's address fields, as mutt's compose menu has them (issue
19): From (the account's address or an alias), To, Cc and Bcc, completion from the
store's contacts with their email ↔ JID mapping shown, and drafts that keep all of
them both ways; driven with Pilot against the real Dovecot and SMTP server, and
checked as the recipients' own clients see their mail."""

from __future__ import annotations

import email
import email.policy
import ssl

import imapclient
import pytest
from textual.widgets import Input, Select, Static, TextArea

from bridge.config import load_config
from tests.conftest import password_command
from tests.harness.servers import World
from tests.others import inbox, person, wait_inbox
from tests.test_app import pilot_until
from tuiclient.app import TuiClientApp
from tuiclient.drafts import keep_unsent, unsent
from tuiclient.screens.compose import NewMessageScreen
from tuiclient.screens.drafts import DraftsScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import UnsentPrompt

pytestmark = pytest.mark.servers

BOB_JID = "bob.builder@chat.example.test"


def app_with_alias(world: World, tmp_path, me, alias: str, *contacts) -> TuiClientApp:
    """`me` with one alias; Bob Builder's mail and chat addresses mapped in the
    address book, the other `contacts` by email only."""
    text = world.client_config(me, password_command(tmp_path, me))
    head, sep, rest = text.partition("password_command = ")
    line, nl, tail = rest.partition("\n")
    bob, *others = contacts
    book = (f'\n[[contacts]]\nname = "Bob Builder"\nemails = ["{bob.email}"]\n'
            f'jids = ["{BOB_JID}"]\n')
    book += "".join(f'\n[[contacts]]\nname = "{p.display_name}"\nemails = ["{p.email}"]\n'
                    for p in others)
    path = tmp_path / "config.toml"
    path.write_text(f'{head}{sep}{line}{nl}aliases = ["{alias}"]\n{tail}{book}')
    return TuiClientApp(load_config(path), probe_on_start=False)


def drafts_raw(world: World, who) -> list[email.message.EmailMessage]:
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        if not c.folder_exists("Drafts"):
            return []
        c.select_folder("Drafts", readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
    return [email.message_from_bytes(d[b"BODY[]"], policy=email.policy.default)
            for d in data.values()]


def hint(screen) -> str:
    return str(screen.query_one("#address-hint", Static).render())


async def fill(pilot, screen, alias: str, cc: str, bcc: str, subject: str,
               text: str) -> None:
    """Cc and Bcc come out of hiding with ctrl+b (the tab order stays To, Subject)."""
    assert not screen.query_one("#copies").display
    await pilot.press("ctrl+b")
    assert screen.query_one("#copies").display
    assert screen.focused is screen.query_one("#cc", Input)
    await pilot.press(*cc)
    assert screen.query_one("#cc", Input).value == cc
    screen.query_one("#bcc", Input).value = bcc
    screen.query_one("#from", Select).value = alias
    screen.query_one("#subject", Input).value = subject
    screen.query_one("#body", TextArea).text = text
    await pilot.pause()


async def test_new_message_completes_from_the_store_and_sends_cc_bcc_from_an_alias(
        world, tmp_path):
    alice, bob, carol, dave = (person(world, n) for n in ("alice", "bob", "carol", "dave"))
    alias = f"sales-{alice.email}"
    app = app_with_alias(world, tmp_path, alice, alias, bob, carol, dave)
    async with app.run_test(size=(140, 45)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        # It opens on To, not on the email/IM choice.
        assert screen.focused is screen.query_one("#to", Input)
        # From offers the account's address, then its alias.
        options = [value for _label, value in screen.query_one("#from", Select)._options]
        assert options[-2:] == [alice.email, alias]

        # "Bob B" completes to Bob's email address, his chat address shown beside it.
        await pilot.press(*"Bob B")
        assert await pilot_until(pilot, lambda: f"{bob.email} ↔ {BOB_JID}" in hint(screen))
        assert "Bob Builder" in hint(screen)
        to = screen.query_one("#to", Input)
        assert await pilot_until(pilot, lambda: to._suggestion == bob.email)
        await pilot.press("right")
        assert to.value == bob.email

        await fill(pilot, screen, alias, carol.email, dave.email, "Prices", "Ten for 100.")
        await pilot.press("ctrl+s")
        for who in (bob, carol, dave):
            (got,) = await wait_inbox(world, who, lambda m: m["Subject"] == "Prices", 30)
            assert alias in got["From"]
            assert bob.email in got["To"] and carol.email in got["Cc"]
            assert got["Bcc"] is None


async def test_a_draft_keeps_cc_bcc_and_from_both_ways(world, tmp_path):
    alice, bob, carol, dave = (person(world, n) for n in ("alice", "bob", "carol", "dave"))
    alias = f"sales-{alice.email}"
    app = app_with_alias(world, tmp_path, alice, alias, bob, carol, dave)
    async with app.run_test(size=(140, 45)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        await pilot.press(*bob.email)
        await fill(pilot, screen, alias, carol.email, dave.email, "Later", "Half of it.")
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 20)
        (draft,) = drafts_raw(world, alice)
        assert alias in draft["From"] and carol.email in draft["Cc"]
        assert dave.email in draft["Bcc"]

        # Resumed (P, enter): every field as it was saved.
        await pilot.press("P")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, DraftsScreen), 20)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen), 20)
        screen = app.screen
        assert screen.query_one("#copies").display  # they hold addresses: shown
        assert screen.query_one("#to", Input).value == bob.email
        assert screen.query_one("#cc", Input).value == carol.email
        assert screen.query_one("#bcc", Input).value == dave.email
        assert screen.query_one("#from", Select).value == alias
        screen.query_one("#body", TextArea).text = "All of it, now."
        await pilot.press("ctrl+s")
        for who in (bob, carol, dave):
            (got,) = await wait_inbox(world, who, lambda m: m["Subject"] == "Later", 30)
            assert alias in got["From"] and got["Bcc"] is None
            assert "All of it, now." in got.get_body(("plain",)).get_content()
        assert await pilot_until(pilot, lambda: drafts_raw(world, alice) == [], 20)
    assert not [m for m in inbox(world, bob) if dave.email in str(m["Cc"] or "")]


def test_text_kept_on_disk_keeps_cc_bcc_and_from(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    keep_unsent("work", ["bob@x.test"], "Hi", "Words.", cc=["carol@x.test"],
                bcc=["dave@x.test"], sender="sales@x.test")
    (kept,) = unsent()
    assert (kept.to, kept.cc, kept.bcc, kept.sender) == (
        ["bob@x.test"], ["carol@x.test"], ["dave@x.test"], "sales@x.test")


# -- $EDITOR with the header fields (mutt's edit_headers) ----------------------------------


def rewriting_editor(tmp_path, script: str):
    """A stand-in for vi that runs `script` on the file's text (`text`) and
    writes back what it leaves in `text`."""
    import sys
    path = tmp_path / "fake-editor"
    path.write_text(f"#!{sys.executable}\nimport sys\np = sys.argv[-1]\n"
                    "text = open(p, encoding='utf-8').read()\n"
                    f"open({str(tmp_path / 'seen.txt')!r}, 'w', encoding='utf-8')"
                    ".write(text)\n"
                    f"{script}\nopen(p, 'w', encoding='utf-8').write(text)\n")
    path.chmod(0o700)
    return path


def test_the_header_block_is_read_back_by_the_stdlib_parser():
    from tuiclient.screens.compose import read_headers, with_headers
    text = with_headers([("To", "bob@x.test"), ("Cc", ""), ("Subject", "Héllo")], "Body.\n")
    assert text == "To: bob@x.test\nCc: \nSubject: Héllo\n\nBody.\n"
    names = ["To", "Cc", "Subject"]
    edited = text.replace("Cc: \n", 'Cc: "Doe, Jo" <jo@y.test>\n').replace(
        "Subject: Héllo\n", "")
    assert read_headers(edited, names) == (
        {"To": "bob@x.test", "Cc": '"Doe, Jo" <jo@y.test>', "Subject": ""}, "Body.\n")
    # The block removed: the fields stay as they were, no body line taken for one.
    assert read_headers("Note: this is the body\n", names) == (
        None, "Note: this is the body\n")


async def test_editor_gets_to_cc_bcc_subject_above_the_body_and_they_are_sent(
        world, tmp_path, monkeypatch):
    alice, bob, carol, dave = (person(world, n) for n in ("alice", "bob", "carol", "dave"))
    editor = rewriting_editor(tmp_path, (
        f"text = text.replace('Cc: \\n', 'Cc: {carol.email}\\n')"
        f".replace('Bcc: \\n', 'Bcc: {dave.email}\\n')"
        ".replace('Subject: \\n', 'Subject: Written in vi\\n') + 'From the editor.\\n'"))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))
    app = app_with_alias(world, tmp_path, alice, f"sales-{alice.email}", bob, carol)

    class Suspend:  # Pilot's headless driver cannot hand the terminal over
        def __enter__(self):
            return None

        def __exit__(self, *exc):
            return False
    monkeypatch.setattr(app, "suspend", Suspend)
    async with app.run_test(size=(140, 45)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        await pilot.press(*bob.email)
        await pilot.press("ctrl+e")
        await pilot.pause()
        seen = (tmp_path / "seen.txt").read_text(encoding="utf-8")
        assert seen == f"To: {bob.email}\nCc: \nBcc: \nSubject: \n\n"
        assert screen.query_one("#cc", Input).value == carol.email
        assert screen.query_one("#bcc", Input).value == dave.email
        assert screen.query_one("#copies").display  # Cc and Bcc hold addresses now
        assert screen.query_one("#subject", Input).value == "Written in vi"
        assert screen.query_one("#body", TextArea).text == "From the editor."
        await pilot.press("ctrl+s")
        for who in (bob, carol, dave):
            (got,) = await wait_inbox(world, who, lambda m: m["Subject"] == "Written in vi",
                                      30)
            assert carol.email in got["Cc"] and got["Bcc"] is None
            assert "From the editor." in got.get_body(("plain",)).get_content()
