"""Exactly once, whatever the other side runs and however many of our processes
share one store (the trust issue's "delivery" half).

The people on the other side use clients we did not write: go-sendxmpp (no
receipts, no archive), plain slixmpp (receipts, no duplicate check), stdlib
imapclient for mail. alice runs `tuiclient` one-shot commands and `serve`
daemons in subprocesses, on one store, as a user's scripts and app would.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.headless.cli import EXIT_NOT_DELIVERED, EXIT_OK
from tests.conftest import password_command
from tests.harness.gosendxmpp import Listener
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import REPO_ROOT, Account, World
from tests.others import contacts_toml, inbox, person, until

pytestmark = pytest.mark.servers

QUICK = '\n[deferral]\nfirst_retry = "0.3s"\ngrowth = 1.0\nceiling = "0.3s"\n'


def setup(world: World, tmp: Path, me: Account, *others: Account,
          extra: str = "") -> tuple[Path, dict[str, str]]:
    """alice's config and the environment of her processes (one data folder)."""
    path = tmp / "config.toml"
    path.write_text(world.client_config(me, password_command(tmp, me))
                    + contacts_toml(*others) + extra)
    env = dict(os.environ, XDG_DATA_HOME=str(tmp / "alice-data"))
    return path, env


def run(config: Path, env: dict[str, str], *argv: str,
        timeout: float = 90) -> tuple[int, object, str]:
    done = subprocess.run(
        [sys.executable, "-m", "tuiclient", "--config", str(config), *argv, "--json"],
        capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, env=env)
    try:
        result = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        raise AssertionError(f"not JSON: {done.stdout!r}; {done.stderr}") from None
    return done.returncode, result, done.stderr


async def cli(config: Path, env: dict[str, str], *argv: str) -> tuple[int, object, str]:
    return await asyncio.to_thread(run, config, env, *argv)


def outbox(config: Path, env: dict[str, str]) -> list[dict]:
    code, result, err = run(config, env, "outbox", "list", "--all")
    assert code == EXIT_OK, err
    assert isinstance(result, list)
    return result


async def test_a_receipt_less_peer_gets_each_line_once_however_many_commands_run(
        world, tmp_path):
    """Ten one-shot `send`s to go-sendxmpp, then `sync` and `outbox list`: each
    line reached bob once (today: 55 + 10 copies)."""
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config, env = setup(world, tmp_path, alice, bob)
    listener = Listener(world, bob, tmp_path / "bob-home").start()
    try:
        await until(lambda: run(config, env, "contacts", "list")[0] == EXIT_OK, 30)
        texts = [f"receipt-less line {i}" for i in range(10)]
        for text in texts:
            # A short wait: some processes stop before the server's ack, some after.
            code, _result, err = await cli(config, env, "send", "--via", "im", "--to",
                                           bob.jid, "--when-away", "send", "--wait", "0.5",
                                           text)
            assert code in (EXIT_OK, EXIT_NOT_DELIVERED), err
        for _ in range(2):
            code, _result, err = await cli(config, env, "sync")
            assert code == EXIT_OK, err
        await until(lambda: all(listener.count(t) for t in texts), 30, "every line at bob")
        await asyncio.sleep(2.0)  # a copy, if any went, has arrived by now
        assert [listener.count(t) for t in texts] == [1] * 10, listener.lines
        states = {i["state"] for i in outbox(config, env)}
        assert states == {"sent"}  # the server took each; no receipt will come
    finally:
        listener.stop()


async def test_a_line_stored_for_an_offline_contact_reaches_her_once(world, tmp_path):
    """bob is offline: the server stores the line. alice's later commands do not
    send it again; when bob logs in (a client that answers receipts but does not
    drop copies) he gets it once, and his receipt, archived by the server while
    alice was away, makes it delivered."""
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config, env = setup(world, tmp_path, alice, bob)
    code, _result, err = await cli(config, env, "send", "--via", "im", "--to", bob.jid,
                                   "--when-away", "send", "--wait", "3", "While you slept")
    assert code == EXIT_OK, err
    assert [i["state"] for i in outbox(config, env)] == ["sent"]
    for _ in range(3):
        assert (await cli(config, env, "sync"))[0] == EXIT_OK
    bob_x = await PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                            str(world.ca_file)).start()
    try:
        await until(lambda: "While you slept" in bob_x.bodies(alice.jid), 15, "bob's copy")
        for _ in range(2):
            assert (await cli(config, env, "sync"))[0] == EXIT_OK
        await asyncio.sleep(1.0)
        assert bob_x.bodies(alice.jid).count("While you slept") == 1
        assert [i["state"] for i in outbox(config, env)] == ["delivered"]
    finally:
        await bob_x.stop()


async def test_many_starts_never_send_a_deferred_line_twice(world, tmp_path):
    """A line deferred while bob was away; bob is back (a client that does not
    drop copies). Processes start one after another and side by side: the line
    goes once."""
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config, env = setup(world, tmp_path, alice, bob, extra=QUICK)
    bob_x = await PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                            str(world.ca_file), show="away", status="out").start()
    try:
        code, _result, err = await cli(config, env, "send", "--via", "im", "--to", bob.jid,
                                       "--when-away", "defer", "Deferred, then once")
        assert code == EXIT_NOT_DELIVERED, err
        bob_x.set_presence()  # available again
        await asyncio.sleep(0.5)
        await asyncio.gather(*(cli(config, env, "sync") for _ in range(3)))
        for _ in range(3):
            await cli(config, env, "sync")
        await until(lambda: "Deferred, then once" in bob_x.bodies(alice.jid), 20)
        await asyncio.sleep(1.5)
        assert bob_x.bodies(alice.jid).count("Deferred, then once") == 1
        assert [i["state"] for i in outbox(config, env)] == ["delivered"]
    finally:
        await bob_x.stop()


async def test_two_serve_daemons_on_one_store_send_each_line_and_email_once(
        world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config, env = setup(world, tmp_path, alice, bob)
    bob_x = await PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                            str(world.ca_file)).start()
    try:
        def serve(name: str) -> subprocess.CompletedProcess:
            requests = [{"id": i, "argv": ["send", "--via", "im", "--to", bob.jid,
                                           "--when-away", "send", "--wait", "0",
                                           f"{name} line {i}"]} for i in range(12)]
            requests += [{"id": 100 + i, "argv": ["send", "--via", "email", "--to",
                                                  bob.email, "--subject",
                                                  f"{name} mail {i}", "--wait", "0",
                                                  "one of several"]} for i in range(4)]
            stdin = "".join(json.dumps(r) + "\n" for r in requests)
            return subprocess.run(
                [sys.executable, "-m", "tuiclient", "--config", str(config), "serve"],
                input=stdin, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
                env=env)
        done = await asyncio.gather(asyncio.to_thread(serve, "one"),
                                    asyncio.to_thread(serve, "two"))
        for d in done:
            assert d.returncode == 0, d.stderr
            failed = [x for x in map(json.loads, d.stdout.splitlines()) if x.get("ok") is False]
            assert not failed, failed
        lines = [f"{n} line {i}" for n in ("one", "two") for i in range(12)]
        subjects = [f"{n} mail {i}" for n in ("one", "two") for i in range(4)]
        # Whatever a daemon left unconfirmed when it stopped, the next start settles.
        assert (await cli(config, env, "sync"))[0] == EXIT_OK
        await until(lambda: all(t in bob_x.bodies(alice.jid) for t in lines), 30)

        def mail_subjects() -> list[str]:
            return [str(m["Subject"]) for m in inbox(world, bob)]
        await until(lambda: all(s in mail_subjects() for s in subjects), 30, "the mail")
        await asyncio.sleep(1.5)
        got = bob_x.bodies(alice.jid)
        assert {t: got.count(t) for t in lines} == {t: 1 for t in lines}
        assert sorted(mail_subjects()) == sorted(subjects)
    finally:
        await bob_x.stop()


async def test_a_crash_after_the_smtp_servers_250_resends_with_the_same_message_id(
        world, tmp_path):
    """Killed between the server's 250 and our record of it (RFC 1047's window):
    the next start sends the same bytes again. bob may see two deliveries of one
    Message-ID (the promise is at least once there, see SECURITY.md); alice's
    own store shows the message once."""
    alice, bob = person(world, "alice"), person(world, "bob")
    config, env = setup(world, tmp_path, alice, bob)
    code, _result, _err = await cli(config, dict(env, TUICLIENT_FAILPOINT="after-smtp-250"),
                                    "send", "--via", "email", "--to", bob.email,
                                    "--subject", "Across a crash", "Sent once, recorded late")
    assert code == -9  # killed at the failpoint
    assert (await cli(config, env, "sync"))[0] == EXIT_OK
    await until(lambda: any(str(m["Subject"]) == "Across a crash" for m in inbox(world, bob)
                            if m["Subject"]), 20)
    got = [m for m in inbox(world, bob) if str(m["Subject"]) == "Across a crash"]
    assert 1 <= len(got) <= 2 and len({m["Message-ID"] for m in got}) == 1
    items = outbox(config, env)
    assert [i["state"] for i in items] == ["sent"]
    code, listed, err = await cli(config, env, "list")
    assert code == EXIT_OK, err
    assert isinstance(listed, list)
    assert [t["subject"] for t in listed].count("Across a crash") == 1


async def test_a_chat_sent_while_the_chat_server_is_down_waits_in_the_outbox(
        world, tmp_path):
    """The XMPP server cannot be reached: the line is kept (exit 6, waiting for a
    server), and the next process that reaches the server sends it once."""
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config, env = setup(world, tmp_path, alice, bob)
    down = tmp_path / "down.toml"
    from tests.harness.servers import free_port
    down.write_text(config.read_text().replace(f"port = {world.ports.c2s}",
                                               f"port = {free_port()}"))
    assert down.read_text() != config.read_text()
    code, result, err = await cli(down, env, "send", "--via", "im", "--to", bob.jid,
                                  "--wait", "1", "Kept while the server is away")
    assert code == EXIT_NOT_DELIVERED, (code, result, err)
    assert [i["state"] for i in outbox(config, env)] == ["queued"]
    listener = Listener(world, bob, tmp_path / "bob-home").start()
    try:
        await asyncio.sleep(1.0)
        assert (await cli(config, env, "sync"))[0] == EXIT_OK
        await until(lambda: listener.count("Kept while the server is away"), 20)
        await asyncio.sleep(1.5)
        assert listener.count("Kept while the server is away") == 1
    finally:
        listener.stop()


def deferred_raw(world: World, who: Account) -> list[bytes]:
    """The messages of someone's Deferred folder, over plain IMAP."""
    import ssl

    import imapclient
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        if not c.folder_exists("Deferred"):
            return []
        c.select_folder("Deferred", readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
    return [data[u][b"BODY[]"] for u in sorted(data)]


def append_deferred(world: World, who: Account, raw: bytes) -> None:
    import ssl

    import imapclient
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.append("Deferred", raw)


async def test_a_deferred_line_that_went_out_never_comes_back_from_the_deferred_folder(
        world, tmp_path):
    """Deferred while bob (go-sendxmpp, no receipts) was offline; once he is
    online a later process sends it: the server's ack is enough to remove the
    copy from the Deferred folder. Even if a copy outlived it there (put back by
    hand here) and the local store is lost, the next start asks the server's
    archive and does not send it again."""
    import shutil
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config, env = setup(world, tmp_path, alice, bob, extra=QUICK)
    text = "Deferred for a listener"
    code, _result, err = await cli(config, env, "send", "--via", "im", "--to", bob.jid,
                                   "--when-away", "defer", text)
    assert code == EXIT_NOT_DELIVERED, err
    await until(lambda: deferred_raw(world, alice), 15, "the Deferred copy")
    (kept,) = deferred_raw(world, alice)
    listener = Listener(world, bob, tmp_path / "bob-home").start()
    try:
        await asyncio.sleep(1.0)

        async def sent() -> bool:
            await cli(config, env, "sync")
            return [i["state"] for i in outbox(config, env)] == ["sent"]
        for _ in range(10):
            if await sent():
                break
        assert [i["state"] for i in outbox(config, env)] == ["sent"]
        await until(lambda: listener.count(text), 15, "bob's copy")
        await until(lambda: not deferred_raw(world, alice), 15, "the Deferred copy removed")
        append_deferred(world, alice, kept)
        shutil.rmtree(tmp_path / "alice-data")
        for _ in range(3):
            assert (await cli(config, env, "sync"))[0] == EXIT_OK
        await asyncio.sleep(1.5)
        assert listener.count(text) == 1, listener.lines
        assert [i["state"] for i in outbox(config, env)] == ["sent"]
    finally:
        listener.stop()
