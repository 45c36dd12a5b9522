"""The terminal hangs up under the app (tmux killed, an ssh session dropped): the app
ends instead of running on with nobody to see it, and what was being written is kept
on disk, offered again by `P` as ctrl+q's text is. With the terminal still there,
SIGHUP reads the config again (tests/test_app_reload.py).

Driven in tmux as a person's terminal, against the harness's real servers."""

from __future__ import annotations

import json
import os
import signal
import sys
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
