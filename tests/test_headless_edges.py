"""Headless commands at the edges: a broken config, signals, a cut connection, a
full disk. Each runs `tuiclient` in a subprocess against the real servers, the way
a script or a service manager would, and checks the exit code and what it says.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import imapclient
import pytest

from bench.mailgen import generate
from bridge.headless.cli import (
    EXIT_CONFIG,
    EXIT_NETWORK,
    EXIT_NOT_DELIVERED,
    EXIT_OK,
    EXIT_STORE,
)
from bridge.store import Store
from tests.conftest import password_command
from tests.harness.faultproxy import FaultProxy
from tests.harness.servers import World
from tests.others import inbox, person, wait_inbox

pytestmark = pytest.mark.servers

# Every kind of command: one-shot ones that log in, one that only reads the
# store, and the three that stay up.
VERBS = {
    "health": ["health"],
    "sync": ["sync"],
    "list": ["list"],
    "send": ["send", "--to", "nobody@example.test", "--via", "email", "hello"],
    "reply": ["reply", "1", "--via", "email", "hello"],
    "outbox-retry": ["outbox", "retry", "1"],
    "serve": ["serve"],
    "watch": ["watch"],
    "run": ["run", "--rules", "rules.toml"],
}
# Commands that never log in do not run the password command, so they cannot know
# that it fails; a CA file that holds no certificate and a command that is not
# there they see like every other command.
LOCAL = {"list"}


def tuiclient(config: Path, *argv: str, stdin: str | None = "",
              timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuiclient", "--config", str(config), *argv],
        input=stdin, capture_output=True, text=True, timeout=timeout, cwd=config.parent)


def broken_config(world: World, tmp: Path, kind: str) -> tuple[Path, str]:
    """A config with one mistake of `kind`; returns it and the `FILE:LINE: key` that
    the error must name."""
    me = person(world, "edge")
    good_command = password_command(tmp, me)
    text = world.client_config(me, good_command)
    (tmp / "rules.toml").write_text("")
    if kind == "garbage-ca":
        garbage = tmp / "garbage-ca.pem"
        garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                           "-----END CERTIFICATE-----\n")
        text = text.replace(f'ca_file = "{world.ca_file}"', f'ca_file = "{garbage}"')
        key = "ca_file"
    elif kind == "failing-command":
        text = text.replace(good_command, "sh -c 'echo locked >&2; exit 1'")
        key = "accounts[0].password_command"
    elif kind == "missing-command":
        text = text.replace(good_command, f"{tmp}/no-such-password-tool --get")
        key = "accounts[0].password_command"
    else:
        assert kind == "no-password"  # no password_command, and nothing in the keyring
        text = text.replace(f'password_command = "{good_command}"\n', "")
        key = "accounts[0]"
    path = tmp / "config.toml"
    path.write_text(text)
    start = "[[accounts]]" if key == "accounts[0]" else key.rpartition(".")[2] + " ="
    line = next(n for n, row in enumerate(text.split("\n"), 1) if row.startswith(start))
    return path, f"{path}:{line}: {key}"


@pytest.mark.parametrize("verb", list(VERBS))
@pytest.mark.parametrize("kind", ["garbage-ca", "failing-command", "missing-command",
                                  "no-password"])
def test_a_broken_ca_file_or_password_command_is_a_config_error_in_every_command(
        world, tmp_path, kind, verb):
    if kind in ("failing-command", "no-password") and verb in LOCAL:
        pytest.skip(f"`{verb}` never logs in, so it never asks for a password")
    config, where = broken_config(world, tmp_path, kind)
    done = tuiclient(config, *VERBS[verb])
    assert done.returncode == EXIT_CONFIG, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tuiclient: config error: {where}: "), lines[0]
    assert done.stdout == ""

    as_json = tuiclient(config, *VERBS[verb], "--json")
    assert as_json.returncode == EXIT_CONFIG, (as_json.stdout, as_json.stderr)
    assert "Traceback" not in as_json.stderr
    error = json.loads(as_json.stdout)
    assert error["code"] == EXIT_CONFIG and error["kind"] == "config"
    assert error["error"].startswith(f"{where}: ")
    assert len(as_json.stdout.splitlines()) == 1


def test_config_check_refuses_a_ca_file_without_a_certificate(world, tmp_path):
    config, where = broken_config(world, tmp_path, "garbage-ca")
    done = tuiclient(config, "config", "check")
    assert done.returncode == EXIT_CONFIG and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"tuiclient: config error: {where}: CA file ")
    assert len(done.stderr.splitlines()) == 1


# -- signals ---------------------------------------------------------------------------


class Running:
    """A long-running command in a subprocess, its stdout lines collected."""

    def __init__(self, config: Path, argv: list[str], stdin_open: bool) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuiclient", "--config", str(config), *argv, "--json"],
            stdin=subprocess.PIPE if stdin_open else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=config.parent,
            env=dict(os.environ))
        self.lines: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def send(self, request: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    async def until(self, condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, (self.proc.returncode, self.stderr())
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.stderr else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


async def wait_until_up(daemon: Running, verb: str) -> None:
    if verb == "serve":
        daemon.send({"id": 1, "argv": ["list"]})
        await daemon.until(lambda: any(x.get("id") == 1 for x in daemon.lines), "serve's answer")
    elif verb == "watch":
        # watch prints what came since it started once it is connected.
        await daemon.until(lambda: any(x.get("event") == "WatchStarted" for x in daemon.lines),
                           "watch to start")
    else:
        await daemon.until(lambda: any(x.get("action") == "started" for x in daemon.lines),
                           "the daemon to start")


@pytest.mark.parametrize("stdin_open", [True, False], ids=["stdin-open", "stdin-closed"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("verb", ["serve", "watch", "run"])
async def test_long_running_commands_stop_on_sigterm_and_sigint(
        world, tmp_path, verb, sig, stdin_open):
    if verb == "serve" and not stdin_open:
        pytest.skip("serve ends at the end of its stdin; see the test below")
    me = person(world, "sig")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(me, password_command(tmp_path, me)))
    (tmp_path / "rules.toml").write_text("")
    argv = ["run", "--rules", "rules.toml"] if verb == "run" else [verb]
    daemon = Running(config, argv, stdin_open)
    try:
        await wait_until_up(daemon, verb)
        daemon.proc.send_signal(sig)
        # Generous: it stops well within a second; this catches "never".
        code = await asyncio.to_thread(daemon.proc.wait, 10)
    finally:
        daemon.kill()
    assert code == EXIT_OK, daemon.stderr()
    assert "Traceback" not in daemon.stderr()


def proxied_config(world: World, tmp: Path, me, proxies: dict[str, FaultProxy]) -> Path:
    text = world.client_config(me, password_command(tmp, me))
    for name, proxy in proxies.items():
        text = text.replace(f"port = {getattr(world.ports, name)}\n", f"port = {proxy.port}\n")
    path = tmp / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture
def stalled(world: World):
    """Proxies to the three servers; the test stalls them (nothing goes through)."""
    made = {k: FaultProxy(getattr(world.ports, k)).start()
            for k in ("imaps", "submission", "c2s")}
    yield made
    for proxy in made.values():
        proxy.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("verb", ["serve", "watch", "run"])
async def test_long_running_commands_stop_while_the_servers_do_not_answer(
        world, tmp_path, stalled, verb, sig):
    me = person(world, "stall")
    config = proxied_config(world, tmp_path, me, stalled)
    (tmp_path / "rules.toml").write_text("")
    for proxy in stalled.values():
        proxy.stall()
    argv = ["run", "--rules", "rules.toml"] if verb == "run" else [verb]
    daemon = Running(config, argv, stdin_open=True)
    try:
        # Still connecting: the TLS handshakes hang on the stalled proxies.
        await daemon.until(lambda: sum(p.connections for p in stalled.values()) >= 2,
                           "connections to the stalled servers")
        await asyncio.sleep(0.5)
        daemon.proc.send_signal(sig)
        # A handshake times out after 30 s; stopping must not wait for that.
        code = await asyncio.to_thread(daemon.proc.wait, 8)
    finally:
        daemon.kill()
    assert code == EXIT_OK, daemon.stderr()


async def test_serve_stopped_during_a_send_answers_it_and_the_email_stays_queued(
        world, tmp_path, stalled):
    me, bob = person(world, "wait"), person(world, "bob")
    config = proxied_config(world, tmp_path, me, stalled)
    serve = Running(config, ["serve"], stdin_open=True)
    try:
        await wait_until_up(serve, "serve")
        stalled["submission"].stall()
        serve.send({"id": 5, "argv": ["send", "--to", bob.email, "--via", "email",
                                      "--subject", "stopped", "--wait", "60", "queued"]})
        await asyncio.sleep(1.0)
        serve.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(serve.proc.wait, 10)
    finally:
        serve.kill()
    assert code == EXIT_OK, serve.stderr()
    answer = next(x for x in serve.lines if x.get("id") == 5)
    # Not delivered yet, and said so; the row waits in the outbox for the next run.
    assert answer["ok"] and answer["code"] == EXIT_NOT_DELIVERED, answer
    states = [i["state"] for i in answer["result"]["outbox"]]
    assert states and all(s in ("queued", "sending") for s in states), answer
    stalled["submission"].pass_()
    listed = await asyncio.to_thread(tuiclient, config, "outbox", "list", "--json")
    assert [i["msg_id"] for i in json.loads(listed.stdout)] == \
        [i["msg_id"] for i in answer["result"]["outbox"]]


async def test_serve_ends_at_the_end_of_stdin(world, tmp_path):
    me = person(world, "eof")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(me, password_command(tmp_path, me)))
    done = await asyncio.to_thread(tuiclient, config, "serve", "--json",
                                   stdin='{"id": 7, "argv": ["list"]}\n', timeout=30)
    assert done.returncode == EXIT_OK, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"id": 7, "ok": True, "code": 0,
                                                        "result": []}


# -- a one-shot sync cut mid-FETCH ------------------------------------------------------


def server_uids(world: World, who, folder: str = "INBOX") -> set[int]:
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True, ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.select_folder(folder, readonly=True)
        return set(c.search())


@pytest.mark.parametrize("cut_at", [40_000, 300_000], ids=["first-fetch", "backfill-fetch"])
async def test_sync_cut_mid_fetch_is_a_network_error_and_the_next_sync_has_everything(
        world, tmp_path, cut_at):
    me = person(world, "cut")
    generate(world.maildir(me), 1500, owner=me.email)
    world.hand_mail_to_dovecot(me)
    with FaultProxy(world.ports.imaps) as imap:
        config = tmp_path / "config.toml"
        config.write_text(world.client_config(me, password_command(tmp_path, me)).replace(
            f"port = {world.ports.imaps}\n", f"port = {imap.port}\n"))
        imap.cut_after(cut_at, once=False)
        done = await asyncio.to_thread(tuiclient, config, "sync")
        assert imap.cuts >= 1
        assert done.returncode == EXIT_NETWORK, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr.splitlines()) == 1 and "IMAP" in done.stderr, done.stderr

        as_json = await asyncio.to_thread(tuiclient, config, "sync", "--json")
        assert as_json.returncode == EXIT_NETWORK, (as_json.stdout, as_json.stderr)
        assert "Traceback" not in as_json.stderr
        assert json.loads(as_json.stdout)["code"] == EXIT_NETWORK

        imap.pass_()
        again = await asyncio.to_thread(tuiclient, config, "sync", "--json")
        assert again.returncode == EXIT_OK, again.stderr
        assert json.loads(again.stdout)["messages"] == 1500

    on_server = server_uids(world, me)
    assert len(on_server) == 1500
    with Store.open(Path(os.environ["XDG_DATA_HOME"]) / "tuiclient" / "store.db") as store:
        assert set(store.folder_uids(me.name, "INBOX")) == on_server
        with store._lock:
            (total, distinct), = store._conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT msg_id) FROM messages WHERE account = ?",
                (me.name,)).fetchall()
    assert total == distinct == 1500


# -- a full or read-only disk -----------------------------------------------------------


class Disk:
    """A small tmpfs of its own for the data folder, to fill or make read-only."""

    def __init__(self, mountpoint: Path) -> None:
        self.path = mountpoint
        self.filler = mountpoint / "filler"

    def fill(self) -> None:
        """Write until the device says it is full (ENOSPC)."""
        # Unbuffered: a buffered file keeps the part of a chunk the device did not
        # take, and closing it raises ENOSPC again (which chunk falls short depends
        # on how much the store happens to use).
        chunk = b"\0" * 65536
        with open(self.filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        # A small write too, so even a partial block is used.
        with contextlib.suppress(OSError), open(self.mountpoint_small, "ab", buffering=0) as f:
            while True:
                f.write(b"\0" * 512)

    @property
    def mountpoint_small(self) -> Path:
        return self.path / "filler-small"

    def free(self) -> None:
        for f in (self.filler, self.mountpoint_small):
            f.unlink(missing_ok=True)

    def read_only(self, yes: bool = True) -> None:
        subprocess.run(["mount", "-o", f"remount,{'ro' if yes else 'rw'}", str(self.path)],
                       check=True, capture_output=True)


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """XDG_DATA_HOME on a 16 MB tmpfs mounted for this test."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs",
                              str(mountpoint)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    monkeypatch.setenv("XDG_DATA_HOME", str(mountpoint / "data"))
    try:
        yield Disk(mountpoint)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mountpoint)], capture_output=True)
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def store_path() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "tuiclient" / "store.db"


ONE_SHOT = {
    "list": ["list"],
    "sync": ["sync"],
    "send": ["send", "--to", "{me}", "--via", "email", "hello"],
    "outbox": ["outbox", "list"],
}


@pytest.mark.parametrize("verb", list(ONE_SHOT))
@pytest.mark.parametrize("how", ["full", "read-only"])
def test_a_full_or_read_only_disk_is_store_not_writable(world, tmp_path, disk, how, verb):
    me = person(world, "disk")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(me, password_command(tmp_path, me)))
    first = tuiclient(config, "sync")
    assert first.returncode == EXIT_OK, first.stderr
    if how == "full":
        disk.fill()
    else:
        disk.read_only()
    argv = [x.format(me=me.email) for x in ONE_SHOT[verb]]
    done = tuiclient(config, *argv)
    assert done.returncode == EXIT_STORE, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert f"store not writable: {store_path()}" in done.stderr
    as_json = tuiclient(config, *argv, "--json")
    assert as_json.returncode == EXIT_STORE
    error = json.loads(as_json.stdout)
    assert error["code"] == EXIT_STORE and error["kind"] == "store"
    assert error["error"].startswith(f"store not writable: {store_path()}")
    # Space back: the same command works, and the store is whole.
    if how == "full":
        disk.free()
    else:
        disk.read_only(False)
    again = tuiclient(config, *argv, "--json")
    assert again.returncode == EXIT_OK, again.stderr


def test_a_sync_that_fills_the_disk_is_store_not_writable_and_loses_nothing(
        world, tmp_path, disk):
    me = person(world, "fill")
    generate(world.maildir(me), 3000, owner=me.email)
    world.hand_mail_to_dovecot(me)
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(me, password_command(tmp_path, me)))
    # Leave a little room: the store opens, then the sync runs out of it.
    empty = tuiclient(config, "list")
    assert empty.returncode == EXIT_OK, empty.stderr
    disk.fill()
    disk.mountpoint_small.unlink()
    disk.filler.write_bytes(disk.filler.read_bytes()[: -1024 * 1024])
    done = tuiclient(config, "sync")
    assert done.returncode == EXIT_STORE, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"store not writable: {store_path()}"), done.stderr
    disk.free()
    again = tuiclient(config, "sync", "--json")
    assert again.returncode == EXIT_OK, again.stderr
    assert json.loads(again.stdout)["messages"] == 3000


async def test_serve_answers_every_send_while_the_disk_is_full_and_loses_or_doubles_none(
        world, tmp_path, disk):
    me, bob = person(world, "full"), person(world, "bob")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(me, password_command(tmp_path, me)))
    serve = Running(config, ["serve"], stdin_open=True)
    answers: dict[int, dict] = {}

    async def ask(rid: int, *argv: str) -> dict:
        serve.send({"id": rid, "argv": list(argv)})
        await serve.until(lambda: any(x.get("id") == rid for x in serve.lines),
                          f"an answer to request {rid}", timeout=60)
        answers[rid] = next(x for x in serve.lines if x.get("id") == rid)
        return answers[rid]

    def send(rid: int) -> list[str]:
        return ["send", "--to", bob.email, "--via", "email", "--subject", f"full-{rid}",
                f"message {rid}"]
    try:
        await wait_until_up(serve, "serve")
        assert (await ask(10, *send(10)))["ok"]
        disk.fill()
        for rid in range(11, 16):
            answer = await ask(rid, *send(rid))
            # Never silence, never a vague failure: ok, or the store's own error.
            assert answer["ok"] or (answer["code"] == EXIT_STORE and answer["error"]
                                    .startswith(f"store not writable: {store_path()}")), answer
        refused = [rid for rid, a in answers.items() if not a["ok"]]
        assert refused, "the full disk refused nothing"
        # Reading still answers.
        assert "code" in await ask(20, "outbox", "list")
        disk.free()
        assert (await ask(30, *send(30)))["ok"]
        serve.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(serve.proc.wait, 20) == EXIT_OK
    finally:
        serve.kill()
    assert "Traceback" not in serve.stderr()

    acknowledged = {f"full-{rid}" for rid, a in answers.items() if a["ok"] and rid != 20}
    await wait_inbox(world, bob, lambda m: str(m["Subject"]) in acknowledged and
                     len({str(x["Subject"]) for x in inbox(world, bob)} & acknowledged)
                     == len(acknowledged), timeout=30)
    await asyncio.sleep(2)  # anything sent twice, or sent after all, would show by now
    subjects = [str(m["Subject"]) for m in inbox(world, bob)]
    assert sorted(subjects) == sorted(acknowledged), (subjects, refused)
