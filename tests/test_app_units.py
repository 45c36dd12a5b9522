"""The app without servers: crashes, $EDITOR, rebound keys, flag and unread.

Each test runs the app with Pilot on the snapshot tests' fixed store, its engine
not started (so nothing here waits on a network).
"""

from __future__ import annotations

import re
import stat
import sys
import uuid
from pathlib import Path

import pytest
from rich.traceback import Traceback
from textual.binding import Binding
from textual.widgets import Static, TextArea

from bridge.config import load_config
from bridge.engine import Engine
from bridge.model import FLAGGED
from tests.test_app_snapshots import CONFIG, fixed_store, make_app
from tuiclient.app import TuiClientApp
from tuiclient.screens.compose import ComposeScreen, edit_text, editor_command
from tuiclient.screens.help import HelpScreen
from tuiclient.screens.main import MainScreen
from tuiclient.widgets.conversation import ChatReply, Timeline
from tuiclient.widgets.conversation_list import ConversationList

Q3 = ["j", "j", "j", "enter", "g"]  # as in the snapshots: the Q3 thread, first email


# -- a crash does not print secrets --------------------------------------------------------


class Crashing(TuiClientApp):
    BINDINGS = [*TuiClientApp.BINDINGS, Binding("ctrl+k", "crash")]
    secret = ""

    def action_crash(self) -> None:
        password = self.secret  # what a login handler would hold
        raise RuntimeError(f"the handler failed ({len(password)} characters)")


async def test_a_crash_shows_the_traceback_without_local_variables(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    app = Crashing(config, probe_on_start=False, start_engine=False,
                   engine=Engine(config, fixed_store(tmp_path / "store.db")))
    app.secret = f"hunter2-{uuid.uuid4().hex}"
    shown: list[str] = []
    keep = app._print_error_renderables

    def capture() -> None:  # what Textual prints on exit, as text
        with app.console.capture() as cap:
            for r in app._exit_renderables:
                app.console.print(r)
        shown.append(cap.get())
        keep()

    app._print_error_renderables = capture  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="the handler failed") as raised:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+k")
            await pilot.pause()
    printed = "".join(shown) + capsys.readouterr().err
    assert "RuntimeError" in printed and "action_crash" in printed  # a traceback...
    assert app.secret not in printed  # ...without the frame's locals
    # Textual's own (show_locals=True) would have printed it:
    error = raised.value
    with app.console.capture() as cap:
        app.console.print(Traceback.from_exception(type(error), error, error.__traceback__,
                                                   show_locals=True))
    assert app.secret in cap.get()


# -- $EDITOR ------------------------------------------------------------------------------


def editor_script(tmp: Path, body: str, status: int = 0) -> Path:
    """A stand-in for vi: appends `body` to the file it is given."""
    script = tmp / "fake-editor"
    script.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"with open(sys.argv[-1], 'a') as f:\n    f.write({body!r})\n"
                      f"sys.exit({status})\n")
    script.chmod(0o700)
    return script


def test_editor_command_follows_visual_then_editor(monkeypatch):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "code --wait")
    assert editor_command() == ["code", "--wait"]
    monkeypatch.setenv("VISUAL", "'/opt/my editor/bin/ed' -s")
    assert editor_command() == ["/opt/my editor/bin/ed", "-s"]
    monkeypatch.delenv("VISUAL")
    monkeypatch.delenv("EDITOR")
    assert editor_command() == ["vi"]


def test_edit_text_reads_back_what_the_editor_saved(tmp_path):
    seen: list[Path] = []
    spy = tmp_path / "spy"
    spy.write_text(f"#!{sys.executable}\nimport sys, os, stat\n"
                   f"open({str(tmp_path / 'where')!r}, 'w').write(sys.argv[-1] + ' ' + "
                   "oct(stat.S_IMODE(os.stat(sys.argv[-1]).st_mode)))\n"
                   "open(sys.argv[-1], 'a').write('and more')\n")
    spy.chmod(0o700)
    assert edit_text("Draft: ", [str(spy)]) == "Draft: and more"
    where, mode = (tmp_path / "where").read_text().split()
    seen.append(Path(where))
    assert mode == oct(stat.S_IRUSR | stat.S_IWUSR)  # the draft is private
    assert not seen[0].exists()  # and gone afterwards
    # An editor that gives up (vi's :cq) leaves the text as it was.
    assert edit_text("Draft", [str(editor_script(tmp_path, "x", status=1))]) is None


async def test_ctrl_e_writes_the_body_in_the_editor(tmp_path, monkeypatch):
    """The compose screen hands the terminal to $EDITOR (App.suspend) and takes
    back what it saved. Pilot's headless driver cannot suspend: first the app says
    so, then, with suspend made a no-op, the whole round trip runs."""
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor_script(tmp_path, "\nWritten in the editor.\n")))
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*Q3, "r", *"Hi Bob,")
        assert isinstance(app.screen, ComposeScreen)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert any("cannot be handed over" in n.message for n in app._notifications)
        assert app.screen.query_one("#body", TextArea).text == "Hi Bob,"

        suspended: list[bool] = []

        class Suspend:
            def __enter__(self):
                suspended.append(True)

            def __exit__(self, *exc):
                return False
        monkeypatch.setattr(app, "suspend", Suspend)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert suspended == [True]
        body = app.screen.query_one("#body", TextArea)
        assert body.text == "Hi Bob,\nWritten in the editor."
        assert body.has_focus


# -- [keys] -------------------------------------------------------------------------------


async def test_a_rebound_key_works_and_the_help_shows_it(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + '\n[keys]\nreply_im = "m"\ndown = ["j", "ctrl+n"]\n')
    config = load_config(path)
    app = TuiClientApp(config, probe_on_start=False, start_engine=False,
                       engine=Engine(config, fixed_store(tmp_path / "store.db")))
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        await pilot.press("ctrl+n", "ctrl+n", "j", "enter")
        assert listing.cursor == 3
        await pilot.press("i")  # no longer reply by IM
        assert not app.screen.query_one(ChatReply).has_focus
        await pilot.press("m")
        assert app.screen.query_one(ChatReply).has_focus
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help Static", Static).render())
        im = next(line for line in text.splitlines() if "[keys] reply_im" in line)
        assert im.split()[0] == "m"
        down = next(line for line in text.splitlines() if "[keys] down" in line)
        assert down.split("next line")[0].strip() == "j, ctrl+n"


# -- flag and unread, without servers -----------------------------------------------------


async def test_flag_and_unread_keys_on_a_chat_line(tmp_path):
    """Opening the unread chat reads it; N makes it unread again (and opening it
    does not undo that while it stays open); F flags it. Without an XMPP
    connection the engine marks the store only."""
    app = make_app(tmp_path)
    engine = app.engine
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        coffee = next(i for i, t in enumerate(listing.rows) if t.snippet == "Coffee at 3?")
        assert listing.rows[coffee].unread_count == 1
        while listing.cursor != coffee:
            await pilot.press("j")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        row = lambda: next(t for t in listing.rows if t.snippet == "Coffee at 3?")  # noqa: E731
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert row().unread_count == 0
        line = screen.query_one(Timeline).current
        assert line is not None and not line.unread
        assert not engine.message(line.id).unread

        await pilot.press("N")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert engine.message(line.id).unread and row().unread_count == 1
        assert "● unread" in str(screen.query_one("#email-head", Static).render())
        await pilot.press("F")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert FLAGGED in engine.message(line.id).flags
        assert "⚑ flagged" in str(screen.query_one("#email-head", Static).render())
        assert engine.message(line.id).unread  # still: kept unread while open

        # From the list, N on a conversation with unread messages reads it.
        listing.focus()
        await pilot.press("N")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert row().unread_count == 0
        await pilot.press("F")  # unflag (the list means the last message)
        await app.workers.wait_for_complete()
        assert FLAGGED not in engine.message(line.id).flags


# -- the inline reply says whom it goes to; the help's columns hold ------------------------


async def test_reply_to_all_names_everyone_and_says_how_to_send(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*Q3, "I")
        screen = app.screen
        chat_input = screen.query_one(ChatReply)
        target = str(screen.query_one("#reply-target", Static).render())
        # The first Q3 email: from Bob to Alice (the user), Carol in copy.
        assert "IM reply to Bob, Carol (to all)" in target
        assert "enter: send" in target and "esc: leave" in target
        assert chat_input.has_focus and chat_input.placeholder == "your message"
        await pilot.press("escape")
        assert chat_input.placeholder == "press i to reply by IM"
        await pilot.press("question_mark")
        text = str(app.screen.query_one("#help Static", Static).render())
        for line in text.splitlines():
            if line.strip().startswith(("s / d / e", "ctrl+s / ctrl+e")):
                columns = re.split(r"\s{2,}", line.strip())
                assert len(columns) == 3 and columns[2] in ("defer prompt", "compose"), line
