"""The list's flag (star) column and the triage keys on marked conversations
(issue 19), driven with Pilot against the real Dovecot, checked as another IMAP
client sees the server."""

from __future__ import annotations

import pytest

from tests.others import person, send_email
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tests.test_app_mail import imap, label, on_server, row

pytestmark = pytest.mark.servers


def star(app, subject: str) -> str:
    """The cell after the transport marks in the row of `subject`."""
    return listing(app).row_text(row(app, subject), 120).plain[4]


async def test_the_star_shows_in_the_list_row_and_keeps_the_row_width(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    for s in ("Star one", "Star two"):
        send_email(world, bob, [alice.email], [], s, f"About {s}.")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: row(app, "Star one") and row(app, "Star two"),
                                 30)
        plain = listing(app).row_text(row(app, "Star one"), 120).plain
        assert star(app, "Star one") == " "
        await go_to_row(pilot, app, lambda t: t.subject == "Star one")
        await pilot.press("F")
        assert await pilot_until(pilot, lambda: "\\Flagged" in
                                 on_server(world, alice, "INBOX").get("Star one", set()))
        assert await pilot_until(pilot, lambda: star(app, "Star one") == "⚑")
        flagged = listing(app).row_text(row(app, "Star one"), 120).plain
        # Only the star's cell changed: the columns stay where they were.
        assert len(flagged) == len(plain) == 120
        assert flagged[:4] + flagged[5:] == plain[:4] + plain[5:]
        assert star(app, "Star two") == " "
        # Flagged by another client: the star comes with the next sync.
        with imap(world, alice) as c:
            c.select_folder("INBOX")
            uid = c.search(["SUBJECT", "Star two"])[0]
            c.add_flags([uid], [b"\\Flagged"])
        await pilot.press("ctrl+r")  # fetch now
        assert await pilot_until(pilot, lambda: star(app, "Star two") == "⚑", 30)
        # F again takes it off, on the server and in the row.
        await go_to_row(pilot, app, lambda t: t.subject == "Star one")
        await pilot.press("F")
        assert await pilot_until(pilot, lambda: "\\Flagged" not in
                                 on_server(world, alice, "INBOX").get("Star one", set()))
        assert await pilot_until(pilot, lambda: star(app, "Star one") == " ")
        assert getattr(label(app, "Star one"), "tags", ()) == ()
