"""The rules daemon, `tuiclient run --rules FILE`, as a real process.

bob runs the daemon; alice uses plain clients (smtplib/imapclient, slixmpp), or a
daemon of her own for the loop test.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.model import Transport
from bridge.store import Store
from tests.conftest import password_command
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import REPO_ROOT, Account, World
from tests.others import contacts_toml, person, send_email, until, wait_inbox

pytestmark = pytest.mark.servers


class Daemon:
    """`tuiclient run --rules` for one account, with its own data folder."""

    def __init__(self, world: World, tmp: Path, me: Account, rules: str,
                 extra: str = "") -> None:
        self.home = tmp / me.name
        self.home.mkdir()
        self.config = self.home / "config.toml"
        self.config.write_text(world.client_config(me, password_command(self.home, me))
                               + extra)
        (self.home / "rules.toml").write_text(rules)
        self.env = dict(os.environ, XDG_DATA_HOME=str(self.home / "data"))
        self.lines: list[dict] = []
        self.proc: subprocess.Popen | None = None
        self.reader: asyncio.Future | None = None

    def start(self) -> Daemon:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuiclient", "--config", str(self.config), "run",
             "--rules", str(self.home / "rules.toml"), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
            env=self.env)

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(json.loads(line))
        self.reader = asyncio.get_running_loop().run_in_executor(None, read)
        return self

    async def started(self) -> None:
        await until(lambda: any(x["action"] == "started" for x in self.lines), 30,
                    "the daemon to start")

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.proc.wait, 30)
        if self.reader is not None:
            await self.reader
        return code

    def actions(self, kind: str) -> list[dict]:
        return [x for x in self.lines if x["action"] == kind]

    def store(self) -> Store:
        return Store.open(self.home / "data" / "tuiclient" / "store.db")


def rules_for(partner: Account) -> str:
    return f"""
[[rules]]
name = "mail to chat"
[rules.match]
transport = "email"
from = ["{partner.email}"]
[rules.action]
reply = "im"
text = "Hi $name, about \\"$subject\\": let's talk here."

[[rules]]
name = "chat to mail"
[rules.match]
transport = "xmpp"
from = ["{partner.jid}"]
[rules.action]
reply = "email"
history = true
text = "Answering your chat by mail: $snippet"
"""


@pytest.fixture
def daemons():
    made: list[Daemon] = []
    yield made
    for d in made:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


async def test_the_daemon_answers_an_email_by_im_and_an_im_by_email(
        world, tmp_path, running, daemons):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    alice_x = await xmpp(PlainXmpp(alice.jid, alice.password, "127.0.0.1", world.ports.c2s,
                                   str(world.ca_file)))
    bob_d = Daemon(world, tmp_path, bob, rules_for(alice), contacts_toml(alice)).start()
    daemons.append(bob_d)
    await bob_d.started()

    root = send_email(world, alice, [bob.email], [], "Lunch plan", "Noon at the usual place?")
    await until(lambda: any(r.sender.startswith(bob.jid) for r in alice_x.received), 30,
                "bob's chat answer")
    answer = next(r for r in alice_x.received if r.sender.startswith(bob.jid))
    assert answer.body == f'Hi {alice.display_name}, about "Lunch plan": let\'s talk here.'
    assert answer.thread == root  # the chat continues the email's thread

    alice_x.send(bob.jid, "Sure. Can you confirm by mail?", thread=root)
    got = await wait_inbox(world, alice, lambda m: "Answering your chat by mail" in
                           m.get_body(("plain",)).get_content(), timeout=30)
    mail = got[0]
    assert root in mail["References"]  # other mail clients thread it under the email
    assert mail["Auto-Submitted"] == "auto-replied"
    body = mail.get_body(("plain",)).get_content()
    assert "Sure. Can you confirm by mail?" in body  # the transcript came along
    assert await bob_d.stop() == 0
    replied = bob_d.actions("replied")
    assert [(r["rule"], r["via"]) for r in replied] == [("mail to chat", "im"),
                                                        ("chat to mail", "email")]


async def test_two_daemons_answering_each_other_stop(world, tmp_path, running, daemons):
    """Each replies by chat to every chat from the other: the loop guard ends it."""
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)

    def echo(partner: Account) -> str:
        return f"""
[[rules]]
name = "echo"
[rules.match]
from = ["{partner.jid}"]
[rules.action]
reply = "im"
text = "Echo: $snippet"
[rules.limit]
per_thread = 100
window = "1h"
"""
    a = Daemon(world, tmp_path, alice, echo(bob), contacts_toml(bob)).start()
    b = Daemon(world, tmp_path, bob, echo(alice), contacts_toml(alice)).start()
    daemons.extend([a, b])
    await a.started()
    await b.started()
    kick = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tuiclient", "--config", str(a.config), "send",
                         "--to", bob.jid, "--via", "im", "Hello, robot"],
        env=a.env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert kick.returncode == 0, kick.stderr

    # Wait until both have gone quiet for a while.
    def count() -> int:
        return len(a.actions("replied")) + len(b.actions("replied"))
    await until(lambda: count() >= 1, 30, "the first answer")
    last, since = count(), time.monotonic()
    while time.monotonic() - since < 4:
        await asyncio.sleep(0.25)
        if count() != last:
            last, since = count(), time.monotonic()
        assert count() <= 8, "the daemons keep answering each other"
    assert await a.stop() == 0 and await b.stop() == 0
    # Per thread, the global cap lets each answer at most 3 times an hour.
    assert 1 <= len(b.actions("replied")) <= 3 and len(a.actions("replied")) <= 3
    assert a.actions("held back") or b.actions("held back")


async def test_sigterm_during_a_send_loses_nothing(world, tmp_path, running, daemons):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    alice_x = await xmpp(PlainXmpp(alice.jid, alice.password, "127.0.0.1", world.ports.c2s,
                                   str(world.ca_file)))
    fast = '\n[deferral]\nfirst_retry = "0.5s"\nceiling = "1s"\n'
    bob_d = Daemon(world, tmp_path, bob, rules_for(alice), contacts_toml(alice) + fast).start()
    daemons.append(bob_d)
    await bob_d.started()
    world.stop_smtp()
    try:
        alice_x.send(bob.jid, "Please mail me the report.")
        await until(lambda: bob_d.actions("replied"), 30, "bob's daemon to answer")
        # The email is in the outbox, waiting for the server: stop the daemon now.
        assert await bob_d.stop() == 0
    finally:
        world.start_smtp()
    with bob_d.store() as store:
        waiting = [i for i in store.outbox_items() if i.transport is Transport.EMAIL]
        assert [i.state.value for i in waiting] in (["queued"], ["sending"])
    # Started again, the daemon sends what waited: once.
    again = Daemon.__new__(Daemon)
    again.__dict__.update(bob_d.__dict__, lines=[], proc=None, reader=None)
    again.start()
    daemons.append(again)
    got = await wait_inbox(world, alice, lambda m: "Answering your chat by mail" in
                           m.get_body(("plain",)).get_content(), timeout=60)
    assert len(got) == 1
    assert await again.stop() == 0
