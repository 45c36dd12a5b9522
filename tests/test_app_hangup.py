"""The terminal hangs up under the app (tmux killed, an ssh session dropped): the app
ends instead of running on with nobody to see it, and what was being written is kept
on disk, offered again by `P` as ctrl+q's text is. With the terminal still there,
SIGHUP reads the config again (tests/test_app_reload.py).

Driven in tmux as a person's terminal, against the harness's real servers."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from bench.tmux import Tmux
from tests.conftest import password_command
from tests.harness.servers import REPO_ROOT

pytestmark = pytest.mark.servers


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for the user: it runs nothing any more.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_hung_up_terminal_ends_the_app_and_keeps_the_text(world, tmp_path: Path) -> None:
    account = world.add_account("hana")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(account, password_command(tmp_path, account)))
    env = {k: os.environ[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                      "XDG_STATE_HOME", "HOME", "PATH") if k in os.environ}
    with Tmux(columns=120, lines=32) as tmux:
        tmux.launch("app", [sys.executable, "-m", "tuiclient", "--config", str(config)],
                    env=env, cwd=str(REPO_ROOT))
        tmux.wait_for("app", "synced", timeout=60)
        pid = tmux.pane_pid("app")
        tmux.send("app", "c")
        tmux.wait_for("app", "new message", timeout=30)
        tmux.send("app", "-l", "bob@example.test")
        tmux.wait_for("app", "bob@example.test", timeout=30)
        for _ in range(2):  # past Subject to the text, at a person's pace (a burst
            tmux.send("app", "Tab")  # of keys from tmux can outrun the focus move)
            time.sleep(0.15)
        tmux.send("app", "-l", "half a thought about the budget")
        tmux.wait_for("app", "half a thought", timeout=30)
        # The pane's terminal goes away as when tmux is killed: the program gets
        # SIGHUP and its tty answers nothing any more.
        tmux.kill("app")
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the app ran on after its terminal hung up")
    kept = list((Path(os.environ["XDG_DATA_HOME"]) / "tuiclient" / "unsent").glob("*.json"))
    texts = [json.loads(p.read_text())["text"] for p in kept]
    assert any("half a thought about the budget" in t for t in texts), [p.read_text() for p in kept]


class _Pty:
    """A terminal of the test's own that is not the app's controlling one: when
    it hangs up, the kernel sends the app no SIGHUP (as for a terminal the app
    was handed rather than opened); only its writes and reads fail."""

    def __init__(self, columns: int = 120, lines: int = 32) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.seen = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        os.close(self.slave)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.seen += data

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never drawn; the last drawn: "
                                     f"{bytes(self.seen[-2000:])!r}")
            time.sleep(0.1)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def hang_up(self) -> None:
        os.close(self.master)


def test_a_terminal_that_hangs_up_without_a_signal_ends_the_app(world, tmp_path: Path) -> None:
    """No SIGHUP comes; the terminal's writes fail. Textual's drawing thread dies on
    the first failed write, and its queue of writes (30) then blocked the app's loop
    for good: the app hung, with the text in it. Now the failed write is dropped
    and said, and the app ends as on a hang-up, the text kept."""
    account = world.add_account("hiro")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(account, password_command(tmp_path, account)))
    env = {k: os.environ[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                      "XDG_STATE_HOME", "HOME", "PATH") if k in os.environ}
    env["TERM"] = "xterm-256color"
    term = _Pty()
    proc = subprocess.Popen([sys.executable, "-m", "tuiclient", "--config", str(config)],
                            stdin=term.slave, stdout=term.slave, stderr=term.slave, env=env,
                            cwd=str(REPO_ROOT), start_new_session=True)
    try:
        term.start()
        term.wait_for("synced", timeout=60)
        term.type("c")
        term.wait_for("new message")
        term.type("bob@example.test")
        term.wait_for("bob@example.test")
        for _ in range(2):
            term.type("\t")
            time.sleep(0.3)
        term.type("a note the terminal took with it")
        term.wait_for("took with it")
        term.hang_up()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the app ran on after its terminal hung up") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kept = list((Path(os.environ["XDG_DATA_HOME"]) / "tuiclient" / "unsent").glob("*.json"))
    texts = [json.loads(p.read_text())["text"] for p in kept]
    assert any("a note the terminal took with it" in t for t in texts), texts


def test_textual_s_drawing_thread_lives_through_a_terminal_that_fails() -> None:
    """Unit: through `GoneSafeOutput`, Textual's writer thread takes more writes
    than its queue holds from a stream that fails, and says it once."""
    from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

    from tuiclient.hangup import GoneSafeOutput

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(5, "Input/output error")

    told: list[int] = []
    # A duck-typed stream where Textual types a file (the driver hands it the same).
    writer = WriterThread(GoneSafeOutput(Broken(), lambda: told.append(1)))  # type: ignore[arg-type]
    writer.start()
    done = threading.Event()

    def draw() -> None:
        for _ in range(MAX_QUEUED_WRITES * 4):
            writer.write("\x1b[H frame")
        writer.stop()
        done.set()

    threading.Thread(target=draw, daemon=True).start()
    assert done.wait(10), "the drawing blocked on a full queue"
    assert told == [1]
