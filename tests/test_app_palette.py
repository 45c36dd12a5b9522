"""The command palette lists every action (issue 21): the screens, every `:`
command (so :reload and :status), presence, each folder and each contact by
name, each one running what its key or the sidebar runs. No servers: the
snapshot tests' fixed store, the engine not started.
"""

from __future__ import annotations

from tests.test_app_snapshots import make_app
from tuiclient.screens.main import MainScreen


async def test_the_palette_lists_presence_folders_contacts_and_every_command(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        listed = {c.title: c for c in app.get_system_commands(main)}
        assert {"Outbox", "Search", ":reload", ":status", ":join", ":folder", ":limit",
                "Presence: away", "Presence: busy (do not disturb)",
                "Folder: INBOX (alice)", "Folder: Sent (alice)",
                "Contact: Bob", "Contact: Carol"} <= set(listed), sorted(listed)
        listed["Folder: Sent (alice)"].callback()
        await pilot.pause()
        assert main.overview.folder == ("alice", "Sent")


async def test_a_new_message_switches_email_and_im_with_one_key(tmp_path):
    """ctrl+t from any field of a new message, offered in its footer."""
    from tuiclient.screens.compose import NewMessageScreen

    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NewMessageScreen) and screen.by_email()
        assert any(b.binding.description == "email ↔ IM" and b.binding.show
                   for b in screen.active_bindings.values() if b.binding.key == "ctrl+t")
        await pilot.press(*"bob@example.test", "ctrl+t")
        assert not screen.by_email()
        await pilot.press("ctrl+t")
        assert screen.by_email()
