"""The side-by-side bench's tmux driver (bench/tmux.py): it sees what a program shows,
presses a key again while the screen stands still short of the goal, and reports a
program that ended instead of hanging. No timings are asserted."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest

from bench.tmux import ScreenTimeout, Tmux, poll_interval, rss_mib, screen_has

# A program that shows a counter and moves it one step per Enter; at 3 it shows "top".
COUNTER = ("import sys\n"
           "n = 0\n"
           "while True:\n"
           "    print('at', n, 'top' if n >= 3 else '', flush=True)\n"
           "    sys.stdin.readline()\n"
           "    n += 1\n")


def test_screen_has_substring_regex_and_predicate() -> None:
    screen = "INBOX 12\nRe: Budget review #41\n"
    assert screen_has(screen, "Budget review")
    assert screen_has(screen, re.compile(r"#\d+"))
    assert screen_has(screen, lambda s: s.count("\n") == 2)
    assert not screen_has(screen, "Oldest")


def test_looks_thin_out_as_a_moment_grows_long() -> None:
    assert poll_interval(0.0) == 0.005  # short moments: a look every 5 ms
    assert poll_interval(2.0) == pytest.approx(0.02)  # late by at most 1%
    assert poll_interval(600.0) == 0.05


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    with Tmux(columns=60, lines=10) as t:
        yield t


def test_wait_for_sees_the_program_and_its_pid(tmux: Tmux) -> None:
    start = tmux.launch("counter", [sys.executable, "-c", COUNTER])
    shown = tmux.wait_for("counter", "at 0", timeout=20)
    assert shown >= start
    assert rss_mib(tmux.pane_pid("counter")) > 1  # the pane's pid is the program's


def test_press_until_presses_again_while_short_of_the_goal(tmux: Tmux) -> None:
    tmux.launch("counter", [sys.executable, "-c", COUNTER])
    tmux.wait_for("counter", "at 0", timeout=20)
    first, shown, presses = tmux.press_until("counter", "Enter", "top", settle=0.3,
                                             timeout=20)
    # Three presses reach "top"; a loaded machine answering slower than `settle` can
    # draw one more, never fewer.
    assert presses >= 3 and shown >= first


def test_a_program_that_ends_is_reported_not_waited_for(tmux: Tmux) -> None:
    tmux.launch("gone", [sys.executable, "-c", "print('bye')"])
    with pytest.raises(ScreenTimeout, match="ended") as caught:
        tmux.wait_for("gone", "never shown", timeout=20)
    assert "Pane is dead" in caught.value.screen  # the last screen comes with it
