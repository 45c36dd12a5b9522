"""The help screen names every key of the screens it does not list from the config:
compose (new message, reply, forward), the files of an email, the bounce prompt and
the "Nothing is attached" question (tuiclient.screens.help.EXTRA)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Static

from tests.test_app_snapshots import make_app
from tuiclient.screens.attachments import AttachmentsScreen
from tuiclient.screens.compose import NewMessageScreen
from tuiclient.screens.compose_base import ComposeBase, OpenPGPToggle
from tuiclient.screens.help import EXTRA, HelpScreen


def rows(where: str) -> set[str]:
    """The keys the help gives for `where` (one row's "a / b" is two keys)."""
    return {k.strip() for w, keys, _what in EXTRA if w.startswith(where)
            for k in keys.split(" / ")}


def keys_of(*screens: type) -> set[str]:
    return {k for s in screens for b in s.BINDINGS if isinstance(b, Binding)
            and b.show and b.key != "escape" for k in b.key.split(",")}


def test_every_compose_and_files_key_has_a_help_row():
    compose = {k for w, keys, _ in EXTRA if w == "compose" for k in keys.split(" / ")}
    assert keys_of(ComposeBase, OpenPGPToggle, NewMessageScreen) <= compose
    assert keys_of(AttachmentsScreen) <= rows("files of an email")
    assert {"y", "n"} <= rows("nothing-attached prompt")
    assert rows("bounce prompt (b)")
    from tuiclient.screens.keys import KeysScreen
    from tuiclient.screens.outbox import RefusedScreen
    assert keys_of(RefusedScreen) <= rows("outbox, no key (e)")
    assert keys_of(KeysScreen) - {"ctrl+r"} <= rows("keys (K)")
    from tuiclient.screens.quitting import QuitScreen
    assert keys_of(QuitScreen) <= rows("quit, outbox not empty")


async def test_the_help_screen_shows_the_new_rows(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help Static", Static).render())
    for words in ("view a text file here", "show or hide Cc and Bcc",
                  "redirect the email as it is", "send it anyway / back to attach",
                  "forward the marked as one email"):
        assert words in text, words


async def test_the_command_column_leaves_the_descriptions_room(tmp_path):
    """The `:` commands' descriptions start a third of the way in at most (a long
    name takes a line of its own): at 120 columns they were pushed past the keys'
    notes (column 80) and wrapped in what was left, three words a line."""
    for size in ((120, 40), (80, 24)):
        app = make_app(tmp_path)
        async with app.run_test(size=size) as pilot:
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.pause()
            text = str(app.screen.query_one("#help Static", Static).render())
            width = app.screen.query_one("#help Static").content_region.width
        lines = text.split("\nCommands (type : then the name")[1].splitlines()
        search = next(line for line in lines if line.startswith("  :search [query] "))
        column = search.index("search mail and chat")
        assert column <= width // 3 + 2, (size, search)
        assert all(len(line) <= width for line in lines), size
        if size[0] == 120:
            assert any(line.startswith("  :mark ") and line.endswith(
                "mark the conversation (the triage commands act on all marked)")
                for line in lines), lines
