"""Tab in the chat input, as words (no server): a command's name, then each of
its arguments from what the screen offers (rooms, nicks, contacts, choices);
and auto-away's rules on a clock of our own."""

from __future__ import annotations

import asyncio

from bridge.config import ChatPolicy
from tuiclient.chat_commands import COMMANDS, complete_line, parse
from tuiclient.idle import AutoAway

WORDS = {"room": ["den@muc.example", "Lab@muc.example"], "joined": ["den@muc.example"],
         "nick": ["alice", "Bob"], "jid": ["bob@example", "bill@example"],
         "blocked": ["spam@example"],
         "msg": ["alice", "Bob"]}  # (in a room its nicks; elsewhere the roster's JIDs)


def test_tab_completes_names_then_arguments():
    assert complete_line("/inv", WORDS) == ["/invite "]
    assert complete_line("/invite b", WORDS) == ["/invite bob@example ", "/invite bill@example "]
    assert complete_line("/join l", WORDS) == ["/join Lab@muc.example "]  # any case
    assert complete_line("/join den@muc.example A", WORDS) == []  # a nick: anything
    assert complete_line("/leave ", WORDS) == ["/leave den@muc.example "]
    assert complete_line("/msg b", WORDS) == ["/msg Bob "]
    assert complete_line("/msg Bob hel", WORDS) == []  # the text is the user's
    assert complete_line("/msg b", {"msg": WORDS["jid"]}) == [
        "/msg bob@example ", "/msg bill@example "]  # outside a room: whom to chat with
    assert complete_line("/status x", WORDS) == ["/status xa "]
    assert complete_line("/bookmark add d", WORDS) == ["/bookmark add den@muc.example "]
    assert complete_line("/unblock ", WORDS) == ["/unblock spam@example "]
    assert complete_line("/nosuch x", WORDS) == [] and complete_line("hello", WORDS) == []
    assert complete_line("/invite b") == []  # nothing offered: nothing to complete


def test_tab_on_a_line_completes_the_rooms_nicks_as_profanity_does():
    # At the start of the line a nick is whom the line is said to ("Bob: ").
    assert complete_line("b", WORDS) == ["Bob: "]
    assert complete_line("A", WORDS) == ["alice: "]
    # Further on, the nick as a word; the words before it are kept as typed.
    assert complete_line("hey  b", WORDS) == ["hey  Bob "]
    assert complete_line("thanks al", WORDS) == ["thanks alice "]
    # Nothing to complete: after a space, a word no nick starts with, no room open.
    assert complete_line("hey ", WORDS) == []
    assert complete_line("zed", WORDS) == []
    assert complete_line("b", {**WORDS, "nick": []}) == []
    assert complete_line("b") == []


def test_new_commands_parse():
    assert parse("/join den@muc.example Ally s3cret").args == (
        "den@muc.example", "Ally", "s3cret")
    assert parse("/name bob@example Bob the Builder").args == (
        "bob@example", "Bob the Builder")
    assert parse("/group bob@example Work, Pals").args == ("bob@example", "Work, Pals")
    assert parse("/block").args == () and parse("/block bob@example").args == ("bob@example",)
    assert parse("/status invisible").args == ("invisible",)
    assert {"block", "unblock", "blocked", "name", "group", "unsubscribe"} <= set(COMMANDS)


class Engine:
    """What AutoAway reads and calls of the engine."""

    def __init__(self) -> None:
        self.accounts = [type("A", (), {"name": "me", "jid": "me@example"})()]
        self.shown = ("", "")
        self.sent: list[tuple[str, str]] = []

    def presence_as_set(self, account: str) -> tuple[str, str]:
        return self.shown

    async def set_presence(self, account: str, show: str, status: str) -> None:
        self.shown = (show, status)
        self.sent.append((show, status))


def test_auto_away_goes_away_then_xa_and_comes_back_as_it_was():
    now = [0.0]
    engine = Engine()
    engine.shown = ("chat", "here")
    loop = asyncio.new_event_loop()
    idle = AutoAway(engine, ChatPolicy(auto_away=60, auto_xa=300, auto_away_message="afk"),
                    loop.run_until_complete, clock=lambda: now[0])
    now[0] = 59
    idle.check()
    assert engine.sent == []
    now[0] = 61
    idle.check()
    idle.check()
    assert engine.sent == [("away", "afk")]
    now[0] = 301
    idle.check()
    assert engine.sent[-1] == ("xa", "afk")
    idle.touched()
    assert engine.sent[-1] == ("chat", "here") and idle.level == ""
    # A presence the user chose (dnd) is left alone.
    engine.shown, engine.sent = ("dnd", "busy"), []
    now[0] = 1000
    idle.check()
    idle.touched()
    assert engine.sent == []
    loop.close()


def test_correct_completes_the_last_line_and_slips_and_breaks_read_as_meant():
    from tuiclient.widgets.reply_bar import meant, shown, slip

    last = {"last": ["at the staton"]}
    assert complete_line("/correct ", last) == ["/correct at the staton"]  # no space after
    assert complete_line("/correct at", last) == ["/correct at the staton"]
    assert complete_line("/correct at the", last) == []  # words being typed: the user's
    assert complete_line("/correct ", {}) == []
    # A known command after one stray character is a slip; a sed-style fix is not.
    assert "/omemo" in slip("i/omemo on", False) and slip("x/join", False)
    assert slip("s/join/leave/", False) == "" and slip("i/o is slow", False) == ""
    assert slip("iDave, hi", False) == "" and "not sent" in slip("iDave, hi", True)
    # A multi-line text in the one-line input and back, every line kept.
    assert shown("eggs\r\nflour\n\nsugar") == "eggs↵flour↵↵sugar"
    assert meant(shown("a\nb\n\nc")) == "a\nb\n\nc" and shown("one line") == "one line"
