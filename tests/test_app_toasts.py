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
