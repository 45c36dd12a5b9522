"""Profanity's and Poezio's window keys: Alt+1..9 open the Nth conversation of the
list, Alt+←/→ the one above or below; from the chat input typing goes on in the
conversation opened, the half-typed line staying with its own, and no stray
character lands in the input (a terminal sends ESC then the digit, which Textual
read as macOS's Option characters ¡™£). Rebindable under [keys] (window_1 ...).
alice uses the app against the real Prosody, in Pilot and in tmux as a person's
terminal; bob and dave are plain slixmpp."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from bench.tmux import Tmux
from tests.conftest import password_command
from tests.harness.servers import REPO_ROOT
from tests.others import contacts_toml, person
from tests.test_app import go_to_row, listing, pilot_until
from tests.test_app_focus import app_with
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import line
from tuiclient.widgets.conversation import ChatReply
from tuiclient.widgets.conversation_list import key_of

pytestmark = pytest.mark.servers


async def two_chats(world, xmpp):
    """bob, then dave, write to alice: dave's chat is the list's first row."""
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    world.befriend(alice, dave)
    bob_x = await xmpp(plain(world, bob))
    dave_x = await xmpp(plain(world, dave))
    bob_x.send_xml(line(alice.jid, "From bob")[1])
    await asyncio.sleep(1.1)  # a second apart: the list's order is by date
    dave_x.send_xml(line(alice.jid, "From dave")[1])
    return alice, bob, dave


async def test_alt_digits_switch_conversations_from_the_chat_input(world, tmp_path, running):
    _, xmpp = running
    alice, bob, dave = await two_chats(world, xmpp)
    app = app_with(world, tmp_path, alice, bob, dave, extra='\n[keys]\nwindow_3 = "f3"\n')
    async with app.run_test(size=(120, 40)) as pilot:
        assert await pilot_until(pilot, lambda: [t.snippet for t in listing(app).rows][:2]
                                 == ["From dave", "From bob"], 30)
        dave_key, bob_key = (key_of(t) for t in listing(app).rows[:2])
        main = app.screen
        chat_input = main.query_one(ChatReply)
        await go_to_row(pilot, app, lambda t: t.snippet == "From dave")
        await pilot.press("enter", "i", *"half for dave")
        await pilot.press("alt+2")
        assert await pilot_until(pilot, lambda: main.open_key == bob_key)
        assert chat_input.has_focus and chat_input.value == ""
        await pilot.press(*"for bob")
        await pilot.press("alt+1")
        assert await pilot_until(pilot, lambda: main.open_key == dave_key)
        assert chat_input.has_focus and chat_input.value == "half for dave"
        await pilot.press("alt+right")
        assert await pilot_until(pilot, lambda: main.open_key == bob_key)
        assert chat_input.value == "for bob"
        await pilot.press("alt+left")
        assert await pilot_until(pilot, lambda: main.open_key == dave_key)
        # No third conversation: said, nothing else changes.
        await pilot.press("f3")
        await pilot.pause()
        assert main.open_key == dave_key and chat_input.value == "half for dave"
        # From the list, Alt+2 opens bob's chat as Enter on its row does.
        listing(app).focus()
        await pilot.press("alt+2")
        assert await pilot_until(pilot, lambda: main.open_key == bob_key)


def test_alt_digits_in_a_terminal_type_no_stray_character(world, tmp_path: Path) -> None:
    """In tmux: Alt+2 arrives as ESC 2. It opens the second conversation, and
    neither "™" nor "2" is typed into the chat input."""
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    world.befriend(alice, dave)

    async def write() -> None:
        for who, words in ((bob, "From bob"), (dave, "From dave")):
            x = plain(world, who)
            await x.start()
            try:
                x.send_xml(line(alice.jid, words)[1])
                await asyncio.sleep(1.1)
            finally:
                await x.stop()

    asyncio.run(write())
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(alice, password_command(tmp_path, alice))
                      + contacts_toml(bob, dave))
    env = {k: os.environ[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                      "XDG_STATE_HOME", "HOME", "PATH") if k in os.environ}
    # The pane's size as the app reads it (shutil: COLUMNS and LINES first, and the
    # panes of a tmux started under pytest get 80 and 24 there).
    env |= {"COLUMNS": "120", "LINES": "40"}
    with Tmux(columns=120, lines=40) as tmux:
        tmux.launch("app", [sys.executable, "-m", "tuiclient", "--config", str(config)],
                    env=env, cwd=str(REPO_ROOT))
        tmux.wait_for("app", lambda s: "From bob" in s and "From dave" in s, timeout=60)
        tmux.send("app", "Enter")  # the first row: dave's chat
        tmux.wait_for("app", f"Chat with {dave.display_name}", timeout=30)
        tmux.send("app", "i")
        tmux.wait_for("app", "your message", timeout=30)  # the input, to write in
        tmux.send("app", "-l", "half for dave")
        tmux.wait_for("app", "half for dave", timeout=30)
        tmux.send("app", "M-2")
        tmux.wait_for("app", lambda s: "half for dave" not in s and
                      f"Chat with {bob.display_name}" in s, timeout=30)
        time.sleep(0.5)
        screen = tmux.screen("app")
        assert "™" not in screen, screen
        tmux.send("app", "-l", "for bob")
        tmux.wait_for("app", "for bob", timeout=30)
        tmux.send("app", "M-1")
        tmux.wait_for("app", "half for dave", timeout=30)
        time.sleep(0.5)
        screen = tmux.screen("app")
        assert "half for dave¡" not in screen and "half for dave1" not in screen, screen
        assert "for bob2" not in screen and "™" not in screen, screen
