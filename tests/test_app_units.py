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


# -- the list keeps its cursor when the rows change ---------------------------------------


async def test_the_list_cursor_goes_to_the_top_when_its_conversation_is_gone(tmp_path):
    """New rows without the highlighted conversation (another account chosen in the
    sidebar) put the cursor on the first row; they used to set it to None and crash."""
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        await pilot.press("j", "j")
        kept = listing.current
        assert kept is not None and listing.cursor == 2
        listing.set_rows(listing.rows, exhausted=True)
        assert listing.current == kept
        listing.set_rows([t for t in listing.rows if t != kept], exhausted=True)
        await pilot.pause()
        assert listing.cursor == 0


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


# -- hard-wrapped email bodies are reflowed for the pane ---------------------------------

PROSE = ("The figures in section 2 come from the finance export of last Monday, "
         "which still had the old exchange rates; the totals are a little low. "
         "I will send a corrected table tomorrow morning, before the review meeting, "
         "so that everyone can look at it first.")


def test_reflow_joins_a_paragraph_the_sender_wrapped_at_72_columns():
    import textwrap

    from tuiclient.format import reflow
    wrapped = textwrap.fill(PROSE, 72)
    assert wrapped.count("\n") >= 3
    text = f"Hi Alice,\n\n{wrapped}\n\n{textwrap.fill(PROSE, 72)}\n\nThanks,\nBob"
    assert reflow(text) == f"Hi Alice,\n\n{PROSE}\n\n{PROSE}\n\nThanks,\nBob"
    # The sender's wrap width is read from the text: at 66 columns too.
    assert reflow(textwrap.fill(PROSE, 66)) == PROSE
    # The demo's two-line paragraph (wrapped at ~60).
    q3 = ("attached is the draft of the Q3 report. Could you check the\n"
          "numbers in section 2 before Friday?")
    assert reflow(f"Hi Alice,\n\n{q3}\n\nThanks,\nBob") == \
        f"Hi Alice,\n\n{q3.replace(chr(10), ' ')}\n\nThanks,\nBob"


async def test_the_email_view_reflows_a_hard_wrapped_body_and_the_store_keeps_it(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*Q3)
        await pilot.pause()
        m = app.screen.query_one(Timeline).current
        assert m is not None and m.subject == "Q3 report draft"
        body = str(app.screen.query_one("#email-body", Static).render())
        assert "Could you check the numbers in section 2 before Friday?" in body
        assert "Hi Alice,\n\n" in body and "\n\nThanks,\nBob" in body
        assert "Could you check the\nnumbers" in app.engine.message(m.id).text


def test_reflow_leaves_quotes_lists_code_short_lines_and_signatures_alone():
    import textwrap

    from tuiclient.format import reflow
    wrapped = textwrap.fill(PROSE, 72)
    quoted = "\n".join("> " + line for line in wrapped.split("\n"))
    listed = ("We need three things before the release on Friday, in this order:\n"
              "- the corrected numbers for section 2 of the report, from finance\n"
              "- a legend on the chart on page 3\n"
              "1. and the sign-off from the QA team, who are waiting on the build")
    code = ("Run this on the server and send me what it prints, all of it please:\n"
            "    tuiclient --config ~/.config/tuiclient/config.toml sync --verbose\n"
            "    tuiclient health")
    short = ("Thanks for the quick answer on the report this afternoon, Bob.\n"
             "See you on Monday, in the big room at 10.")
    signature = (f"{wrapped}\n\n-- \nBob Example, Head of Reporting, Example Corporation "
                 "Ltd, 1 Long Street\nSomewhere Town, Nowhere County, Postcode 12345")
    for text in (quoted, listed, code, short):
        assert reflow(text) == text, text
    assert reflow(signature) == signature.replace(wrapped, PROSE)
    # Text the sender did not wrap (a line per paragraph) is left as it is.
    long_lines = f"{PROSE}\n{PROSE}\nCheers"
    assert reflow(long_lines) == long_lines
    # In a wrapped paragraph, a line much shorter than the width that ends a
    # sentence ends its line on purpose.
    assert reflow(f"{wrapped}\nSee you on Monday.\nBob") == \
        f"{PROSE}\nSee you on Monday.\nBob"
    # A sign-off right under the one long line is not a wrapped word.
    assert reflow("See you at the meeting tomorrow at ten o'clock\nCheers") == \
        "See you at the meeting tomorrow at ten o'clock\nCheers"
    # A quote in reply keeps its own lines; the new text above it is reflowed.
    reply = f"{wrapped}\n\nOn Monday, Bob wrote:\n{quoted}"
    assert reflow(reply) == f"{PROSE}\n\nOn Monday, Bob wrote:\n{quoted}"


# -- tick boxes read without colour -------------------------------------------------------


async def test_reply_option_boxes_show_their_state_in_the_glyph(tmp_path):
    """Textual draws a ticked and an unticked box alike ('X'), by colour only:
    here they read [x] and [ ], in the options dialog and its file checklist."""
    from textual.widgets import Checkbox

    from tuiclient.screens.prompts import ReplyOptionsScreen
    from tuiclient.widgets.ticks import Checklist

    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*Q3, "i", "ctrl+o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplyOptionsScreen)
        history = screen.query_one("#history", Checkbox)
        drawn = lambda widget: str(widget.render())  # noqa: E731
        assert drawn(history).startswith("[ ] Include history")
        assert drawn(screen.query_one("#reply-all", Checkbox)).startswith("[ ] Reply to all")
        await pilot.press("space")
        assert history.value and drawn(history).startswith("[x] Include history")
        files = screen.query_one(Checklist)
        assert files.render_line(0).text.startswith("[ ] q3-report.pdf")
        files.select_all()
        await pilot.pause()
        assert files.render_line(0).text.startswith("[x] q3-report.pdf")


# -- the search screen: q is text, the footer offers what applies --------------------------


async def test_search_takes_q_as_text_and_its_footer_shows_its_keys(tmp_path):
    from textual.widgets import Input
    from textual.widgets._footer import FooterKey

    from tuiclient.screens.search import SearchScreen

    app = make_app(tmp_path)

    async def footer() -> dict[str, str]:
        await pilot.pause()
        return {k.key: k.description for k in app.screen.query(FooterKey)}

    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("slash", "q")
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        query = screen.query_one("#query", Input)
        assert query.has_focus and query.value == "q"
        keys = await footer()
        assert keys.get("escape") == "back" and keys.get("enter") == "search"
        assert "q" not in keys
        await pilot.press("ctrl+u", *"section", "enter")
        assert screen.results and not query.has_focus  # the results have the keys now
        keys = await footer()
        assert keys.get("escape") == "back" and keys.get("enter") == "open"
        assert "quit" not in keys.values() and "q" not in keys
        await pilot.press("q")  # among the results, q leaves the search, not the app
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, MainScreen)


# -- a chat line's To: names people, not JIDs ----------------------------------------------


async def test_chat_lines_say_to_you_and_name_the_group_chat(tmp_path):
    """Lines as the XMPP client stores them: a 1:1 line comes to our own JID (no
    name), a group chat line to the room's JID (thread-…@conference…)."""
    from bridge.model import Direction, Message, Party, Transport
    from tests.test_app_snapshots import ME, NOW

    room = "thread-5f2a9c@conference.example.test"
    app = make_app(tmp_path)

    def line(n: int, sender: Party, to: str, text: str, ago: float, thread: str,
             out: bool = False) -> Message:
        return Message(msg_id=f"g{n}@example.test", account=ME, transport=Transport.XMPP,
                       direction=Direction.OUT if out else Direction.IN, thread_id=thread,
                       date=NOW - ago, sender=sender, recipients=[Party(to, "", "to")],
                       text=text, flags={"\\Seen"})

    app.engine.store.insert_messages([
        line(1, Party("bob@example.test", "bob", "from"), room, "Friday works for me.",
             600, "launch"),
        line(2, Party(f"{room}/carol", "carol", "from"), room, "For me too.", 500, "launch"),
        line(3, Party("alice@example.test", "Alice", "from"), room, "Friday it is.", 400,
             "launch", out=True),
        line(4, Party("bob@example.test", "", "from"), "alice@example.test",
             "Are you around?", 300, "chat-bob"),
    ])
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        head = lambda: str(app.screen.query_one("#email-head", Static).render())  # noqa: E731
        to = lambda: next(ln for ln in head().splitlines() if ln.startswith("To: "))  # noqa: E731
        for thread, expected in (
                ("launch", ["To: the group chat with Bob, carol"] * 3),
                ("chat-bob", ["To: Alice"])):
            row = next(i for i, t in enumerate(listing.rows) if t.thread_id == thread)
            listing.focus()
            while listing.cursor != row:
                await pilot.press("j" if listing.cursor < row else "k")
            await pilot.press("enter")
            await pilot.pause()
            timeline = app.screen.query_one(Timeline)
            seen = []
            for i in range(len(timeline.messages)):
                timeline.highlighted = i
                await pilot.pause()
                seen.append(to())
                assert "@" not in to()
            assert seen == expected, seen


async def test_the_email_view_head_follows_a_delivery_change(tmp_path):
    """A chat line shown in the email view gets its new delivery mark there too,
    as in the timeline beside it (it stayed at '… sending')."""
    from bridge.model import DeliveryState

    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*Q3, "G")
        await pilot.pause()
        screen = app.screen
        line = screen.query_one(Timeline).current
        assert line is not None and line.text.startswith("Yes, reading it now")
        head = lambda: str(screen.query_one("#email-head", Static).render())  # noqa: E731
        assert "✓✓ read" in head()
        app.engine.store.set_delivery(line.id, DeliveryState.FAILED)
        screen.refresh_open()
        await pilot.pause()
        assert "✖ failed" in head()


async def test_page_up_and_down_while_typing_page_the_timeline_and_keep_the_text(tmp_path):
    """As in Profanity: PageUp in the chat input pages the conversation; the
    input keeps the focus and the half-typed line."""
    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*Q3, "G")
        await pilot.pause()
        screen = app.screen
        timeline = screen.query_one(Timeline)
        last = timeline.highlighted
        assert last is not None and last > 0
        await pilot.press("i", *"half a line")
        chat_input = screen.query_one(ChatReply)
        assert chat_input.has_focus
        await pilot.press("pageup")
        await pilot.pause()
        assert timeline.highlighted is not None and timeline.highlighted < last
        assert chat_input.has_focus and chat_input.value == "half a line"
        await pilot.press("pagedown")
        await pilot.pause()
        assert timeline.highlighted == last
        assert chat_input.has_focus and chat_input.value == "half a line"


async def test_the_email_view_shows_a_corrected_line_as_the_timeline_does(tmp_path):
    """A correction of the line the email view shows changes its text there too
    (it kept the old text while the timeline had the new one); a `/me` line
    reads as the action in both."""
    import time

    app = make_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*Q3, "G")
        await pilot.pause()
        screen = app.screen
        line = screen.query_one(Timeline).current
        assert line is not None and line.id is not None
        body = lambda: str(screen.query_one("#email-body", Static).render())  # noqa: E731
        assert "Yes, reading it now" in body()
        app.engine.store.correct_message(line.id, "Yes, after lunch then", time.time())
        screen.refresh_open()
        await pilot.pause()
        assert "Yes, after lunch then" in body() and "reading it now" not in body()
        app.engine.store.correct_message(line.id, "/me waves", time.time())
        screen.refresh_open()
        await pilot.pause()
        assert body().startswith("* ") and "waves" in body() and "/me" not in body()


async def test_j_on_the_newest_line_stays_there(tmp_path):
    """j past the newest line of a conversation stays on it (OptionList wrapped to
    the oldest line: a Profanity user pressing j once too often lost her place)."""
    from bridge.model import Direction, Message, Party, Transport
    from tests.test_app_snapshots import ME, NOW

    app = make_app(tmp_path)
    app.engine.store.insert_messages([
        Message(msg_id=f"j{n}@example.test", account=ME, transport=Transport.XMPP,
                direction=Direction.IN, thread_id="chat-bob", date=NOW - 100 + n,
                sender=Party("bob@example.test", "Bob", "from"),
                recipients=[Party("alice@example.test", "", "to")],
                text=f"line {n}", flags={"\\Seen"})
        for n in range(3)])
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        listing.focus()
        await pilot.press("enter")
        await pilot.pause()
        timeline = app.screen.query_one(Timeline)
        timeline.focus()
        timeline.highlighted = len(timeline.messages) - 1
        await pilot.press("j", "j")
        assert timeline.current is not None and timeline.current.text == "line 2"
        await pilot.press("k")
        assert timeline.current is not None and timeline.current.text == "line 1"
