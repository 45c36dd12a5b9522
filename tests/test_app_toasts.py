"""Where toasts go on the main screen (issue 21): bottom left over the sidebar's
contacts, never over the list's right column (dates, counts), the message or the
chat being read, its reply line or the status bar; three at once stack there.

No servers: the snapshot tests' fixed store, the engine not started (the burst
of real chat lines is tests/test_app_focus.py's).
"""

from __future__ import annotations

import time

from textual.geometry import Region
from textual.widgets._toast import Toast

from tests.test_app_snapshots import NARROW, Q3, WIDE, make_app

NOTES = ("3 new emails in INBOX",
         "To carol@example.test: still away: In meetings until 3pm; tried 2 times, "
         "next try in 2 min.",
         "alice smtp: cannot connect to 127.0.0.1:9: Connection refused")


async def test_toasts_leave_the_dates_and_the_conversation_being_read_alone(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await pilot.press(*Q3)
        await pilot.pause()
        for text in NOTES:
            app.notify(text, timeout=30)
        await pilot.pause(0.3)
        screen = app.screen
        toasts = [t.region for t in screen.query(Toast)]
        assert len(toasts) == 3
        listing = screen.query_one("#conversations").region
        dates = Region(listing.right - 30, listing.y, 30, listing.height)  # counts, dates
        kept = [dates, *(screen.query_one(s).region for s in
                         ("#email-view", "#cards", "#timeline", "#chat-input", "#status"))]
        assert not [(t, k) for t in toasts for k in kept if t.overlaps(k)]
        sidebar = screen.query_one("#sidebar").region
        assert all(sidebar.contains_region(t) for t in toasts), (toasts, sidebar)


async def test_on_a_narrow_terminal_toasts_keep_to_the_left_half(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await pilot.pause()
        app.notify(NOTES[0], timeout=30)
        await pilot.pause(0.3)
        (toast,) = [t.region for t in app.screen.query(Toast)]
        assert toast.right <= NARROW[0] // 2 + 1
        assert not toast.overlaps(app.screen.query_one("#status").region)


def test_toasts_snapshot(snap_compare, tmp_path, monkeypatch):
    """The Q3 email open, three toasts at once: over the sidebar's contacts only."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()

    async def toasts(pilot) -> None:
        await pilot.press(*Q3)
        for text in NOTES:
            pilot.app.notify(text, timeout=60)
        await pilot.pause()
    assert snap_compare(make_app(tmp_path), run_before=toasts, terminal_size=WIDE)


async def test_the_command_line_leaves_a_toast_drawn_once_where_it_was(tmp_path):
    """`:` over a toast: the line is see-through, so the main screen's toast shows
    through it; the line drew its own copy too (bottom right, Textual's place), and
    the user saw the notification twice. Once, in its place, with the line open
    and after it closed; one told while it is open shows at once."""
    from tests.screen import drawn_text

    app = make_app(tmp_path)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await pilot.pause()
        app.notify(NOTES[0], timeout=30)
        await pilot.pause(0.3)
        (where,) = [t.region for t in app.screen.query(Toast)]

        def drawn() -> int:
            return drawn_text(app.export_screenshot()).count(NOTES[0])
        assert drawn() == 1
        await pilot.press("colon")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "CommandLine"
        assert drawn() == 1
        shown = [t.region for s in app.screen_stack for t in s.query(Toast)
                 if t.region.area]  # laid out, so drawn
        assert shown == [where], shown
        app.notify("Told now", timeout=30)  # told with the line open: at once, once
        await pilot.pause(0.3)
        assert drawn_text(app.export_screenshot()).count("Told now") == 1
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "MainScreen"
        assert drawn() == 1
