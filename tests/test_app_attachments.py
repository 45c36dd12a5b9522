"""An email's files in the app (issue 19): a text file viewed here, inert and
scrollable (v); opening one with its mailcap entry first, else xdg-open, from a
private copy that goes once a mailcap command returns, else when the app exits.
Driven with Pilot against the real Dovecot and SMTP server."""

from __future__ import annotations

import os
import smtplib
import ssl
import subprocess
import sys
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import pytest
from textual.widgets import OptionList, TextArea

from tests.others import person
from tests.test_app import alice_app, go_to_row, notes, pilot_until
from tests.test_app_mail import row
from tests.test_headless import REPO_ROOT
from tuiclient.screens.attachments import AttachmentsScreen, TextFileScreen
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers

NOTES = "".join(f"line {i} of the notes\n" for i in range(1, 121))
# A terminal would act on these (set its clipboard, ring); shown here they must not.
HOSTILE = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"
PDF = b"%PDF-1.4\n" + b"x" * 300 + b"\n%%EOF\n"


def send_with_files(world, sender, to: str, subject: str, text: str,
                    files: list[tuple[str, str, bytes]]) -> str:
    """Bob's own client (stdlib email + smtplib): an email with several files."""
    msg = EmailMessage()
    msg["From"] = f"{sender.display_name} <{sender.email}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg_id = f"{uuid.uuid4().hex}@{sender.email.partition('@')[2]}"
    msg["Message-ID"] = f"<{msg_id}>"
    msg.set_content(text)
    for name, ctype, data in files:
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with smtplib.SMTP("127.0.0.1", world.ports.submission, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(sender.email, sender.password)
        smtp.send_message(msg)
    return msg_id


def recorder(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A stand-in viewer: writes the path it was given, and whether the file was
    there with its bytes, into a file of its own."""
    seen = tmp_path / f"{name}.seen"
    script = tmp_path / name
    script.write_text(f"#!{sys.executable}\nimport sys, os\np = sys.argv[-1]\n"
                      f"open({str(seen)!r}, 'w').write(p + '\\n' + "
                      "str(os.path.getsize(p) if os.path.exists(p) else -1))\n")
    script.chmod(0o700)
    return script, seen


class NoSuspend:  # Pilot's headless driver cannot hand the terminal over
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


async def open_files(pilot, app) -> AttachmentsScreen:
    await go_to_row(pilot, app, lambda t: t.subject == "Files")
    await pilot.press("enter")
    assert await pilot_until(pilot, lambda: app.screen.query_one(Timeline).current
                             is not None)
    app.screen.query_one(Timeline).focus()
    await pilot.press("s")
    assert await pilot_until(pilot, lambda: isinstance(app.screen, AttachmentsScreen), 20)
    return app.screen


async def choose(pilot, screen: AttachmentsScreen, index: int) -> None:
    listing = screen.query_one(OptionList)
    while listing.highlighted != index:
        await pilot.press("down" if (listing.highlighted or 0) < index else "up")


async def test_view_text_inline_and_open_by_mailcap_then_xdg_open(world, tmp_path,
                                                                  monkeypatch):
    alice, bob = person(world, "alice"), person(world, "bob")
    send_with_files(world, bob, alice.email, "Files", "Two files.",
                    [("notes.txt", "text/plain", (HOSTILE + NOTES).encode()),
                     ("plans.pdf", "application/pdf", PDF)])
    viewer, viewed = recorder(tmp_path, "mailcap-viewer")
    mailcap = tmp_path / "mailcap"
    mailcap.write_text(f"text/plain; {viewer} %s\n")
    monkeypatch.setenv("MAILCAPS", str(mailcap))
    xdg, xdg_seen = recorder(tmp_path, "xdg-open")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "xdg-open").symlink_to(xdg)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":99")  # a desktop: xdg-open would do, mailcap first
    app = alice_app(world, tmp_path, alice, bob)
    monkeypatch.setattr(app, "suspend", NoSuspend)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: row(app, "Files") is not None, 30)

        # v on the text file: shown here, every line, nothing a terminal acts on.
        screen = await open_files(pilot, app)
        await choose(pilot, screen, 0)
        await pilot.press("v")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, TextFileScreen), 20)
        area = app.screen.query_one(TextArea)
        assert area.read_only and area.has_focus
        assert area.text.startswith("line 1 of the notes\n")
        assert "line 120 of the notes" in area.text
        assert "\x1b" not in area.text and "\x07" not in area.text
        await pilot.press("pagedown", "pagedown")
        assert await pilot_until(pilot, lambda: area.scroll_y > 0)
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, TextFileScreen))

        # v on a PDF: not text, said so; the list stays.
        screen = await open_files(pilot, app)
        await choose(pilot, screen, 1)
        await pilot.press("v")
        assert await pilot_until(pilot, lambda: any("Only a text file" in n
                                                    for n in notes(app)))
        assert isinstance(app.screen, AttachmentsScreen)

        # o on the text file: its mailcap entry (not xdg-open), waited for; the
        # private copy was there for it, and is gone once it returned.
        await choose(pilot, app.screen, 0)
        await pilot.press("o")
        assert await pilot_until(pilot, lambda: viewed.exists(), 20)
        path, seen_size = viewed.read_text().split("\n")
        assert int(seen_size) == len((HOSTILE + NOTES).encode())
        assert Path(path).name == "notes.txt" and not Path(path).exists()
        assert not Path(path).parent.exists()
        assert not xdg_seen.exists()
        assert any("with mailcap" in n for n in notes(app)), notes(app)

        # o on the PDF (no mailcap entry): xdg-open, started apart; its copy stays
        # for the viewer to read (it goes when the app exits).
        screen = await open_files(pilot, app)
        await choose(pilot, screen, 1)
        await pilot.press("o")
        assert await pilot_until(pilot, lambda: xdg_seen.exists(), 20)
        path, _ = xdg_seen.read_text().split("\n")
        assert Path(path).read_bytes() == PDF
        assert Path(path).parent.stat().st_mode & 0o777 == 0o700


def test_private_copies_go_when_the_process_exits(tmp_path):
    """What xdg-open was given is removed at exit (atexit), not left in /tmp."""
    done = subprocess.run([sys.executable, "-c",
                           "from tuiclient.screens.attachments import private_folder\n"
                           "f = private_folder(); (f / 'x.pdf').write_bytes(b'x')\n"
                           "print(f)"], capture_output=True, text=True, cwd=REPO_ROOT,
                          check=True)
    folder = Path(done.stdout.strip())
    assert folder.name.startswith("tuiclient-open-") and not folder.exists()
