"""Deferred chats are retried by `tuiclient run`, exactly as the hint names it.

alice sends a chat to bob, who is busy: `tuiclient send` defers it and prints
which command retries it. That command, run as printed (split as a shell would,
with the venv's `tuiclient` on PATH, the config at its default place), starts with no
rules file, stays up, retries on the schedule and delivers the line the moment bob
is available. bob is a plain slixmpp client.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.paths import default_config_path
from tests.conftest import password_command
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import REPO_ROOT
from tests.others import contacts_toml, person, until

pytestmark = pytest.mark.servers

FAST = '\n[deferral]\nfirst_retry = "0.5s"\ngrowth = 1.0\nceiling = "0.5s"\n'
BIN = str(Path(sys.executable).parent)


def as_given(command: str) -> subprocess.Popen:
    """The command line as a shell would run it, with the venv's bin first on PATH
    (exec'd directly, so that SIGTERM reaches it and not a shell)."""
    path = BIN + os.pathsep + os.environ.get("PATH", "")
    argv = shlex.split(command)
    argv[0] = shutil.which(argv[0], path=path) or argv[0]
    return subprocess.Popen(argv, env=dict(os.environ, PATH=path), cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_the_deferral_hint_names_a_command_that_retries_and_delivers(
        world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = default_config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(world.client_config(alice, password_command(tmp_path, alice))
                      + contacts_toml(bob) + FAST)
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file), show="dnd", status="Presenting"))

    sent = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tuiclient", "send", "--to", bob.jid, "--via",
                         "im", "--when-away", "defer", "Lunch after your talk?"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert sent.returncode == 6, sent.stdout + sent.stderr
    hint = next(line for line in sent.stdout.splitlines() if "retried" in line)
    command = re.search(r"`([^`]*)`", hint).group(1)  # the first command it names
    assert command == "tuiclient run", hint

    daemon = as_given(command)
    lines: list[str] = []

    def read() -> None:
        assert daemon.stdout is not None
        for line in daemon.stdout:
            lines.append(line)
    reader = asyncio.get_running_loop().run_in_executor(None, read)
    try:
        await until(lambda: any(" started " in x for x in lines) or daemon.poll() is not None,
                    30, "`tuiclient run` to start")
        assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""

        def log() -> list[dict]:
            done = subprocess.run([sys.executable, "-m", "tuiclient", "outbox", "list", "--all",
                                   "--log", "--json"], capture_output=True, text=True,
                                  timeout=60, cwd=REPO_ROOT)
            return json.loads(done.stdout)
        # It retries while bob is busy (each retry is in the outbox's log) ...
        await until(lambda: sum(e["event"] == "retry" for row in log() for e in row["log"])
                    >= 2, 30, "retries by `tuiclient run`")
        assert bob_x.bodies() == []
        # ... and delivers when he is available, staying up afterwards.
        bob_x.set_presence()
        await until(lambda: "Lunch after your talk?" in bob_x.bodies(alice.jid), 30,
                    "the deferred line delivered")
        await until(lambda: log()[0]["item"]["state"] == "delivered", 30, "state delivered")
        await asyncio.sleep(1.0)
        assert daemon.poll() is None
        assert bob_x.bodies(alice.jid) == ["Lunch after your talk?"]
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(daemon.wait, 30)
        await reader
    assert code == 0
