"""Discarding what is being written is not one reflex key away: after Esc in
compose, d (a vim user's `dd`) discards nothing and says that shift+D does; nor
does Alt+d, which is how a terminal's Esc and d typed at once are read. Against
the real servers (the app logged in as alice)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from tests.others import person
from tests.test_app import alice_app, notes, pilot_until
from tuiclient.screens.compose import NewMessageScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import UnsentPrompt

pytestmark = pytest.mark.servers


async def test_esc_dd_and_alt_d_discard_nothing(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 32)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        compose = app.screen
        compose.query_one("#to", Input).value = bob.email
        body = compose.query_one("#body", TextArea)
        body.focus()
        await pilot.press(*"three paragraphs of thought")
        # Alt+d (Esc and d at once) in the text: nothing leaves.
        await pilot.press("alt+d")
        await pilot.pause()
        assert app.screen is compose and "three paragraphs of thought" in body.text
        # Esc, then the vim reflex dd: the prompt stays, and says which key discards.
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
        prompt = app.screen
        await pilot.press("d", "d", "alt+d")
        await pilot.pause()
        assert app.screen is prompt
        assert any("shift+D discards" in n for n in notes(app))
        assert "shift+d" in str(prompt.query_one("#discard").render()).lower()
        await pilot.press("escape")  # keep editing: the text is all there
        assert await pilot_until(pilot, lambda: app.screen is compose)
        assert "three paragraphs of thought" in body.text
        # shift+D, asked for, discards.
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, UnsentPrompt))
        await pilot.press("D")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
