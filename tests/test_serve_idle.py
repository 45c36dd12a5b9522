"""Client State Indication (XEP-0352) when `serve` goes idle: after SERVE_IDLE
without a command it tells the server nobody is looking, and the next command
makes it active again. Read from Prosody itself (its admin shell's CSI column,
`prosodyctl shell`), not from anything of ours. Slow by nature: SERVE_IDLE is
a minute."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from bridge.headless.serve import SERVE_IDLE
from tests.harness.servers import REPO_ROOT
from tests.others import person
from tests.test_headless import write_config

pytestmark = pytest.mark.servers


def shell(world) -> str:
    """Prosody's sessions with their CSI state, as its admin shell lists them."""
    proc = world.prosody_user.popen(
        ["prosodyctl", "--config", str(world.prosody_dir / "prosody.cfg.lua"), "shell",
         "c2s:show(nil, 'jid csi')"], world.prosody_dir,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=30)
    return out


def csi_state(world, jid: str) -> str | None:
    """The CSI state Prosody holds for `jid`'s session ("" while never told; None:
    no session seen)."""
    for line in shell(world).splitlines():
        if jid in line and "|" in line:
            return line.rsplit("|", 1)[1].strip().lower()
    return None


async def test_serve_tells_the_server_when_nobody_asks(world, tmp_path):
    alice = person(world, "alice")
    config = write_config(world, tmp_path, alice)
    serve = subprocess.Popen(
        [sys.executable, "-m", "tuiclient", "--config", str(config), "serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO_ROOT)
    assert serve.stdin is not None and serve.stdout is not None
    loop = asyncio.get_running_loop()

    async def ask(n: int, argv: list[str]) -> dict:
        serve.stdin.write(json.dumps({"id": n, "argv": argv}) + "\n")
        serve.stdin.flush()
        line = await loop.run_in_executor(None, serve.stdout.readline)
        return json.loads(line)

    async def state_becomes(wanted: str, within: float) -> bool:
        deadline = loop.time() + within
        while loop.time() < deadline:
            if await asyncio.to_thread(csi_state, world, alice.jid) == wanted:
                return True
            await asyncio.sleep(2)
        return False

    try:
        answer = await ask(1, ["roster", "list"])
        assert answer["id"] == 1, answer
        # A new session is active until told otherwise: nothing to tell yet.
        assert await state_becomes("", 10), await asyncio.to_thread(shell, world)
        assert await state_becomes("inactive", SERVE_IDLE + 20)
        answer = await ask(2, ["roster", "list"])
        assert answer["id"] == 2, answer
        assert await state_becomes("active", 10)
    finally:
        serve.stdin.close()
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
