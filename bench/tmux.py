"""Drive a terminal program the way a user runs it: in tmux, read back from the screen.

The side-by-side bench times our TUI, neomutt and aerc alike: the clock starts at the
launch command (`tmux new-session`), keys go in with `send-keys`, and a moment is over
when `capture-pane` shows the expected text. The polling costs one short `tmux`
process per look (a few ms of CPU); every program pays the same, and the looks thin out
as a moment grows long (every 5 ms at first, then 1% of the time waited so far, at most
every 50 ms), so that on a small machine the looking does not slow down what it times:
the figure is late by at most ~1%, or 5 ms.

Each `Tmux` is a server of its own (`tmux -L <socket> -f /dev/null`), so nothing of the
user's tmux (config, sessions) takes part, and closing it ends only what it started.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping

COLUMNS, LINES = 140, 40


class ScreenTimeout(RuntimeError):
    """The expected text did not come; carries the last screen for the report."""

    def __init__(self, what: str, screen: str) -> None:
        super().__init__(f"{what}; the screen was:\n{screen}")
        self.screen = screen


def screen_has(screen: str, expected: str | re.Pattern[str] | Callable[[str], bool]) -> bool:
    """Whether `screen` (capture-pane's text) shows `expected`: a substring, a regex
    searched in it, or a predicate on the whole screen."""
    if isinstance(expected, str):
        return expected in screen
    if isinstance(expected, re.Pattern):
        return expected.search(screen) is not None
    return expected(screen)


def poll_interval(waited: float) -> float:
    """How long to sleep between two looks, `waited` seconds into a moment."""
    return min(0.05, max(0.005, waited * 0.01))


class Tmux:
    """One private tmux server; each program runs in a session named after it."""

    def __init__(self, columns: int = COLUMNS, lines: int = LINES) -> None:
        self.socket = f"tuibench-{os.getpid()}-{id(self):x}"
        self.columns, self.lines = columns, lines
        # A session that lives as long as we do: the server's own start is never timed.
        self._tmux("new-session", "-d", "-s", "keep", "-x", str(columns), "-y", str(lines),
                   "sleep 100000")
        self._tmux("set-option", "-g", "remain-on-exit", "on")
        self._tmux("set-option", "-g", "history-limit", "0")

    def _tmux(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                             capture_output=True, text=True, check=False)
        if check and out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def launch(self, name: str, argv: list[str], env: Mapping[str, str] | None = None,
               cwd: str | None = None) -> float:
        """Start `argv` in a new session `name` of the server's size; the time just
        before the launch command. The program replaces the shell (`exec`), so the
        pane's pid is the program's. COLUMNS and LINES are taken out of its
        environment unless `env` names them: a tmux started under pytest gives its
        panes 80 and 24 there, which Textual (through shutil) reads before the
        pane's real size."""
        self.kill(name)
        words = ["exec", "env", "-u", "COLUMNS", "-u", "LINES",
                 *(f"{k}={v}" for k, v in (env or {}).items()), *argv]
        command = " ".join(shlex.quote(w) for w in words)
        if cwd:
            command = f"cd {shlex.quote(cwd)} && {command}"
        started = time.perf_counter()
        self._tmux("new-session", "-d", "-s", name, "-x", str(self.columns),
                   "-y", str(self.lines), command)
        return started

    def screen(self, name: str) -> str:
        return self._tmux("capture-pane", "-p", "-t", name, check=False)

    def wait_for(self, name: str, expected: str | re.Pattern[str] | Callable[[str], bool],
                 timeout: float = 60.0) -> float:
        """Poll the screen until it shows `expected`; the time of the look that saw it."""
        began = time.perf_counter()
        deadline = began + timeout
        screen = ""
        while True:
            screen = self.screen(name)
            seen = time.perf_counter()
            if screen_has(screen, expected):
                return seen
            if seen > deadline:
                raise ScreenTimeout(f"{name}: {expected!r} not on screen after {timeout:.0f} s",
                                    screen)
            if self.dead(name):
                # Looked at again: the look above may have come before it ended.
                raise ScreenTimeout(f"{name}: the program ended before {expected!r} showed",
                                    self.screen(name))
            time.sleep(poll_interval(seen - began))

    def press_until(self, name: str, key: str,
                    expected: str | re.Pattern[str] | Callable[[str], bool],
                    settle: float = 0.1, timeout: float = 60.0,
                    max_presses: int = 1000) -> tuple[float, float, int]:
        """Press `key`, and again each time the screen has stood still for `settle`
        seconds without showing `expected` (a user pressing End until the end is
        there). Returns (time of the first press, time it showed, presses)."""
        first = last_press = self.send(name, key)
        presses = 1
        previous, changed = "", last_press
        deadline = first + timeout
        while True:
            screen = self.screen(name)
            seen = time.perf_counter()
            if screen_has(screen, expected):
                return first, seen, presses
            if screen != previous:
                previous, changed = screen, seen
            elif seen - max(changed, last_press) >= settle:
                if presses >= max_presses:
                    raise ScreenTimeout(f"{name}: {expected!r} not on screen after "
                                        f"{presses} presses of {key}", screen)
                last_press = self.send(name, key)
                presses += 1
            if seen > deadline:
                raise ScreenTimeout(f"{name}: {expected!r} not on screen after {timeout:.0f} s "
                                    f"and {presses} presses of {key}", screen)
            time.sleep(min(poll_interval(seen - last_press), settle / 5))

    def send(self, name: str, *keys: str) -> float:
        """`send-keys` (tmux key names: "G", "End", "Enter", or text); the time just
        before it was sent."""
        started = time.perf_counter()
        self._tmux("send-keys", "-t", name, *keys)
        return started

    def pane_pid(self, name: str) -> int:
        return int(self._tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def dead(self, name: str) -> bool:
        out = self._tmux("display-message", "-p", "-t", name, "#{pane_dead}", check=False)
        return out.strip() != "0"

    def kill(self, name: str) -> None:
        self._tmux("kill-session", "-t", name, check=False)

    def close(self) -> None:
        self._tmux("kill-server", check=False)

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rss_mib(pid: int, with_children: bool = False) -> float:
    """VmRSS of `pid` (and, if asked, of its descendants) in MiB, from /proc."""
    pids = [pid, *(_descendants(pid) if with_children else [])]
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return found
    for c in children:
        found += [c, *_descendants(c)]
    return found
