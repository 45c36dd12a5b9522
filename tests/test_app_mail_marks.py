"""The list's flag (star) column and the triage keys d m C T N on marked
conversations (issue 19; a and F on marks are in test_app_mail.py), driven with
Pilot against the real Dovecot, checked as another IMAP client sees the server."""

from __future__ import annotations

import pytest

from tests.others import person, send_email
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tests.test_app_mail import imap, label, on_server, row
from tuiclient.screens.pickers import FolderPicker, TagPrompt

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


async def mark(pilot, app, *subjects: str) -> None:
    for subject in subjects:
        await go_to_row(pilot, app, lambda t, s=subject: t.subject == s)
        await pilot.press("space")
    assert len(listing(app).marked) == len(subjects)


async def test_d_m_c_t_n_act_on_every_marked_conversation(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    subjects = [f"Mk {c}" for c in "abcdefgh"]
    for s in subjects:
        send_email(world, bob, [alice.email], [], s, f"About {s}.")
    with imap(world, alice) as c:
        c.create_folder("Projects")
        c.create_folder("Keep")
    app = alice_app(world, tmp_path, alice, bob)

    def inbox() -> dict[str, set[str]]:
        return on_server(world, alice, "INBOX")
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: all(row(app, s) for s in subjects), 30)
        assert await pilot_until(pilot, lambda: bool(app.engine.folders(alice.name)))

        # d: both to Trash.
        await mark(pilot, app, "Mk a", "Mk b")
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: {"Mk a", "Mk b"} <=
                                 set(on_server(world, alice, "Trash")))
        assert not {"Mk a", "Mk b"} & set(inbox())
        assert await pilot_until(pilot, lambda: not listing(app).marked)

        # m: both to the folder picked.
        await mark(pilot, app, "Mk c", "Mk d")
        await pilot.press("m")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, FolderPicker))
        await pilot.press(*"Projects", "enter")
        assert await pilot_until(pilot, lambda: {"Mk c", "Mk d"} <=
                                 set(on_server(world, alice, "Projects")))
        assert not {"Mk c", "Mk d"} & set(inbox())
        assert await pilot_until(pilot, lambda: not listing(app).marked)

        # C: both copied, both still in INBOX.
        await mark(pilot, app, "Mk e", "Mk f")
        await pilot.press("C")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, FolderPicker))
        await pilot.press(*"Keep", "enter")
        assert await pilot_until(pilot, lambda: {"Mk e", "Mk f"} <=
                                 set(on_server(world, alice, "Keep")))
        assert {"Mk e", "Mk f"} <= set(inbox())
        assert await pilot_until(pilot, lambda: not listing(app).marked)

        # T: the tag on both.
        await mark(pilot, app, "Mk g", "Mk h")
        await pilot.press("T")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, TagPrompt))
        await pilot.press(*"+work", "enter")
        assert await pilot_until(pilot, lambda: all("work" in inbox()[s]
                                                    for s in ("Mk g", "Mk h")))
        assert await pilot_until(pilot, lambda: not listing(app).marked)

        # N: both read (they were unread), then both unread again.
        assert not any("\\Seen" in inbox()[s] for s in ("Mk g", "Mk h"))
        await mark(pilot, app, "Mk g", "Mk h")
        await pilot.press("N")
        assert await pilot_until(pilot, lambda: all("\\Seen" in inbox()[s]
                                                    for s in ("Mk g", "Mk h")))
        assert await pilot_until(pilot, lambda: not listing(app).marked)
        await mark(pilot, app, "Mk g", "Mk h")
        await pilot.press("N")
        assert await pilot_until(pilot, lambda: not any("\\Seen" in inbox()[s]
                                                        for s in ("Mk g", "Mk h")))
        # Nothing else was touched.
        assert "\\Seen" not in inbox()["Mk e"] and "work" not in inbox()["Mk e"]
