"""Discarding what is being written is not one reflex key away: after Esc in
compose, d (a vim user's `dd`) discards nothing and says that shift+D does; nor
does Alt+d, which is how a terminal's Esc and d typed at once are read. Against
the real servers (the app logged in as alice)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea

from bench.tmux import Tmux
from tests.conftest import password_command
from tests.harness.servers import REPO_ROOT
from tests.others import contacts_toml, person
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


def test_in_a_terminal_esc_d_at_once_discards_nothing(world, tmp_path: Path) -> None:
    """In tmux, as a person's terminal: Esc and d in one write (M-d, what a fast
    Esc d is), then Esc and dd: the text stays (the app as launched, against the real servers)."""
    alice, bob = person(world, "alice"), person(world, "bob")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(alice, password_command(tmp_path, alice))
                      + contacts_toml(bob))
    env = {k: os.environ[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                      "XDG_STATE_HOME", "HOME", "PATH") if k in os.environ}
    env |= {"COLUMNS": "100", "LINES": "30"}
    with Tmux(columns=100, lines=30) as tmux:
        tmux.launch("app", [sys.executable, "-m", "tuiclient", "--config", str(config)],
                    env=env, cwd=str(REPO_ROOT))
        tmux.wait_for("app", "Conversations", timeout=60)
        tmux.send("app", "c")
        tmux.wait_for("app", "New message", timeout=30)
        tmux.send("app", "-l", bob.email)
        tmux.send("app", "Tab", "Tab")
        tmux.send("app", "-l", "words worth keeping")
        tmux.wait_for("app", "words worth keeping", timeout=30)
        tmux.send("app", "M-d")
        time.sleep(0.5)
        screen = tmux.screen("app")
        assert "words worth keeping" in screen and "New message" in screen, screen
        tmux.send("app", "Escape")
        tmux.wait_for("app", "This message is not sent", timeout=30)
        tmux.send("app", "d", "d")
        tmux.wait_for("app", "shift+D discards", timeout=30)
        screen = tmux.screen("app")
        assert "This message is not sent" in screen, screen
        tmux.send("app", "Escape")
        tmux.wait_for("app", lambda s: "This message is not sent" not in s and
                      "words worth keeping" in s, timeout=30)
