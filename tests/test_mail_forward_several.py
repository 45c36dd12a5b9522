"""Forward of several messages as one email, each attached whole as message/rfc822
with its own files inside (mutt's mime_forward of tagged messages): `f` on marked
conversations in the TUI and `forward ID ID... --to X` on the command line, checked
in the recipient's inbox on the real Dovecot, read by the stdlib."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input, TextArea

from bridge.headless.cli import EXIT_OK
from tests.others import person, send_email, wait_inbox
from tests.test_app import alice_app, pilot_until
from tests.test_app_mail import row
from tests.test_app_mail_marks import mark
from tests.test_headless import cli
from tests.test_headless_mail_more import config_with, rows_by_subject
from tuiclient.screens.compose import ForwardScreen

pytestmark = pytest.mark.servers

PDF = b"%PDF-1.4\n" + b"y" * 200 + b"\n%%EOF\n"


def attached(mail) -> list[tuple[str, str, list[str]]]:
    """Each message/rfc822 part: its subject, its text, its own files."""
    out = []
    for part in mail.iter_attachments():
        assert part.get_content_type() == "message/rfc822"
        inner = part.get_content()
        out.append((str(inner["Subject"]),
                    inner.get_body(("plain",)).get_content().strip(),
                    [p.get_filename() for p in inner.iter_attachments()]))
    return out


async def test_cli_forward_of_several_ids_is_one_email_of_message_parts(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    config = config_with(world, tmp_path, alice, "")
    send_email(world, bob, [alice.email], [], "Plans", "The plans.",
               ("plans.pdf", "application/pdf", PDF))
    send_email(world, bob, [alice.email], [], "Costs", "The costs.")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Costs")
    rows = await rows_by_subject(config)
    # The note may come right after the IDs.
    code, sent, err = await cli(config, "forward", str(rows["Plans"]), str(rows["Costs"]),
                                "Both, for you.", "--to", carol.email)
    assert code == EXIT_OK and sent["state"] == "sent", err
    (got,) = await wait_inbox(world, carol, lambda m: "Plans" in str(m["Subject"]), 30)
    assert str(got["Subject"]) == "Fwd: Plans (+1 more)"
    assert "Both, for you." in got.get_body(("plain",)).get_content()
    assert attached(got) == [("Plans", "The plans.", ["plans.pdf"]),
                             ("Costs", "The costs.", [])]
    # One ID: as before, inline with its file kept.
    code, sent, err = await cli(config, "forward", str(rows["Plans"]), "--to", carol.email)
    assert code == EXIT_OK, err
    (one,) = await wait_inbox(world, carol, lambda m: m["Subject"] == "Fwd: Plans", 30)
    assert [p.get_filename() for p in one.iter_attachments()] == ["plans.pdf"]


async def test_f_on_marked_conversations_forwards_them_in_one_email(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    send_email(world, bob, [alice.email], [], "Plans", "The plans.",
               ("plans.pdf", "application/pdf", PDF))
    send_email(world, bob, [alice.email], [], "Costs", "The costs.")
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: row(app, "Plans") and row(app, "Costs"), 30)
        await mark(pilot, app, "Costs", "Plans")
        await pilot.press("f")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ForwardScreen), 20)
        screen = app.screen
        tick = screen.query_one("#as-attachment", Checkbox)
        assert tick.value and tick.disabled
        assert "Forward 2 emails" in str(screen.query_one("#compose-title").render())
        screen.query_one("#to", Input).value = carol.email
        screen.query_one("#body", TextArea).text = "Both."
        await pilot.press("ctrl+s")
        (got,) = await wait_inbox(world, carol, lambda m: "more" in str(m["Subject"]), 30)
    assert "Both." in got.get_body(("plain",)).get_content()
    assert sorted(attached(got)) == [("Costs", "The costs.", []),
                                     ("Plans", "The plans.", ["plans.pdf"])]
