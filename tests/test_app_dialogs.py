"""Dialogs keep their own width (issue 21): the shared `.dialog` frame gives 72
columns only to a dialog that names no width of its own; one that does (the
drafts list's 90, the address prompt's 90) keeps it, whichever stylesheet says it.

No servers: the snapshot tests' fixed store, the engine not started.
"""

from __future__ import annotations

from textual.containers import Vertical

from tests.test_app_snapshots import make_app
from tuiclient.screens.drafts import DraftsScreen
from tuiclient.screens.pickers import Confirm
from tuiclient.screens.prompts import AddressScreen


async def test_each_dialog_keeps_its_own_width(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        widths = {}
        for screen, selector in ((Confirm("Cancel?", "It will not be sent."), "#confirm-dialog"),
                                 (DraftsScreen("alice", [], 0.0), "#drafts-dialog"),
                                 (AddressScreen("xmpp", []), "#address-dialog")):
            app.push_screen(screen)
            await pilot.pause()
            widths[selector] = screen.query_one(selector, Vertical).outer_size.width
            app.pop_screen()
            await pilot.pause()
        assert widths == {"#confirm-dialog": 72, "#drafts-dialog": 90, "#address-dialog": 90}
