"""The reply screen's To and Cc complete from the store's contacts as the new
message's do, with the same line under them saying who is offered (the email ↔
JID mapping)."""

from __future__ import annotations

from textual.widgets import Input, Static

from tests.test_app_snapshots import make_app
from tuiclient.screens.compose import ComposeScreen

Q3 = ["j", "j", "j", "enter", "g"]  # as in the snapshots: the Q3 thread, first email


async def test_reply_cc_shows_who_the_completion_is(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*Q3, "r")
        assert isinstance(app.screen, ComposeScreen)
        screen = app.screen
        cc = screen.query_one("#reply-cc", Input)
        cc.focus()
        await pilot.press(*"Car")
        await pilot.pause()
        hint = str(screen.query_one("#address-hint", Static).render())
        # (her one address is both her email and her JID: said once)
        assert hint == "Carol: carol@example.test (email and chat)"
        await pilot.press("right")
        assert cc.value == "carol@example.test"
