"""Presence-aware deferral and the one outbox, against the real servers.

alice uses our engine; bob is a plain XMPP client (slixmpp, with receipts) and a
plain IMAP mailbox, except where a test needs a receiver that drops duplicates
by origin-id, which is what our own client does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import imapclient
import pytest

from bridge.config import load_config
from bridge.engine import Engine
from bridge.events import Event, EventBus
from bridge.handoff.text import HISTORY_END, HISTORY_TAIL
from bridge.model import DeliveryState, Direction, Transport
from bridge.outbox import DEFERRED_FOLDER, ContactAway, DeferralRetry, OutboxChanged
from bridge.store import Store
from bridge.xmpp.availability import Availability
from bridge.xmpp.client import XmppClient
from tests.conftest import password_command
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import REPO_ROOT, Account, World
from tests.others import contacts_toml, inbox, person, send_email, until, wait_inbox

pytestmark = pytest.mark.servers

FAST = '\n[deferral]\nfirst_retry = "0.3s"\ngrowth = 1.0\nceiling = "0.3s"\n'
AWAY = "In meetings until 3pm"


def config_path(world: World, tmp: Path, me: Account, extra: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(world.client_config(me, password_command(tmp, me)) + extra)
    return path


def new_engine(path: Path, tmp: Path) -> Engine:
    return Engine(load_config(path), Store.open(tmp / "data" / "store.db"))


def deferred_folder(world: World, who: Account) -> list[str]:
    """Message-IDs in someone's Deferred folder, over plain IMAP."""
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        if not c.folder_exists(DEFERRED_FOLDER):
            return []
        c.select_folder(DEFERRED_FOLDER, readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    return [v[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip()
            .strip("<>") for v in data.values()]


async def test_a_chat_to_an_away_contact_is_deferred_retried_and_delivered(
        world, tmp_path, running):
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file), show="away", status=AWAY))
    engine = await start(new_engine(config_path(world, tmp_path, alice,
                                                contacts_toml(bob) + FAST), tmp_path))
    events: list[Event] = []
    engine.events.subscribe(events.append)
    await until(lambda: engine.availability(alice.name, bob.jid).availability
                is Availability.AWAY, what="bob's away presence")
    root = send_email(world, bob, [alice.email], [], "Launch", "When do we launch?")
    await until(lambda: engine.store.find_by_msg_id(alice.name, root))
    original = engine.store.find_by_msg_id(alice.name, root)

    # Asked first: the prompt carries bob's away message, and nothing is sent.
    with pytest.raises(ContactAway) as asked:
        await engine.reply(original.id, "Monday at nine.", via="im", when_away="ask")
    assert AWAY in str(asked.value) and asked.value.presences[0].jid == bob.jid
    assert engine.store.outbox_items() == []

    result = await engine.reply(original.id, "Monday at nine.", via="im", when_away="defer")
    assert result.deferred and len(result.outbox) == 1
    outbox_id = result.outbox[0]
    item = engine.store.outbox_get(outbox_id)
    assert item.state is DeliveryState.DEFERRED
    msg_id = item.msg_id
    # Mirrored in the mail store, visible from any other machine.
    await until(lambda: msg_id in deferred_folder(world, alice), what="the Deferred copy")

    # Retries on the (shortened) schedule, each an event and a log line.
    await until(lambda: len([e for e in events if isinstance(e, DeferralRetry)]) >= 3,
                what="three retries")
    retries = [e for e in events if isinstance(e, DeferralRetry)]
    assert all(e.outcome == f"still away: {AWAY}" and e.msg_id == msg_id for e in retries)
    assert [e.attempt for e in retries[:3]] == [1, 2, 3]
    logged = [h for h in engine.store.outbox_history(outbox_id) if h.event == "retry"]
    assert len(logged) >= 3 and AWAY in logged[0].detail
    assert bob_x.bodies() == []  # still nothing at bob's

    # bob comes back: delivered at once, with a receipt, and gone from Deferred.
    back_at = time.monotonic()
    bob_x.set_presence()
    await until(lambda: engine.store.outbox_get(outbox_id).state is DeliveryState.DELIVERED,
                what="delivery after bob's presence")
    print(f"\ndelivered {time.monotonic() - back_at:.2f}s after bob became available")
    assert bob_x.bodies(alice.jid) == ["Monday at nine."]
    line = next(r for r in bob_x.received if r.body == "Monday at nine.")
    assert line.thread == root and line.origin_id == msg_id
    assert engine.store.find_by_msg_id(alice.name, msg_id).delivery is DeliveryState.DELIVERED
    await until(lambda: msg_id not in deferred_folder(world, alice),
                what="the Deferred copy removed")
    states = [e.state for e in events if isinstance(e, OutboxChanged) and e.msg_id == msg_id]
    assert states[0] == "deferred" and states[-1] == "delivered" and "sending" in states


async def test_an_offline_contact_gets_the_deferred_message_by_email(
        world, tmp_path, running):
    start, _xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    engine = await start(new_engine(config_path(world, tmp_path, alice,
                                                contacts_toml(bob, carol)), tmp_path))
    await until(lambda: engine.availability(alice.name, bob.jid).availability
                is Availability.OFFLINE, what="bob offline")
    plan_pdf = b"%PDF-1.4 plan " + os.urandom(800)
    root = send_email(world, carol, [alice.email], [bob.email], "Plan",
                      "The plan is attached.", ("plan.pdf", "application/pdf", plan_pdf))
    await until(lambda: engine.store.find_by_msg_id(alice.name, root))
    original = engine.store.find_by_msg_id(alice.name, root)
    # alice answers bob alone by chat (he was in Cc), with history and the file.
    bob_line = await engine.send_message(alice.name, [bob.jid], "warm-up", when_away="defer")
    await engine.outbox_cancel(bob_line.outbox[0])
    assert engine.store.outbox_get(bob_line.outbox[0]).state is DeliveryState.CANCELLED

    result = await engine.reply(original.id, "Bob, see the plan.", via="im", reply_all=True,
                                history=True, attachments=["plan.pdf"], when_away="defer",
                                separate_chats=True)
    assert result.deferred
    # carol is not in the roster: unknown availability, deferred as well.
    by_target = {engine.store.outbox_get(i).parties[0].address: i for i in result.outbox}
    assert set(by_target) == {bob.jid, carol.jid}
    msg_id = await engine.outbox_email(by_target[bob.jid])
    got = await wait_inbox(world, bob, lambda m: m["Message-ID"] == f"<{msg_id}>")
    assert len(got) == 1
    mail = got[0]
    assert root in mail["References"] and mail["Subject"] == "Re: Plan"
    body = mail.get_body(("plain",)).get_content()
    assert body.startswith("Bob, see the plan.")
    assert "The plan is attached." in body  # the history came along
    # Below the new text, the history ends there: no new message promised after it.
    assert body.rstrip().endswith(HISTORY_END) and HISTORY_TAIL not in body, body
    assert {p.get_filename(): p.get_payload(decode=True) for p in mail.iter_attachments()} \
        == {"plan.pdf": plan_pdf}
    item = engine.store.outbox_get(by_target[bob.jid])
    assert item.state is DeliveryState.FELL_BACK_TO_EMAIL
    assert engine.store.outbox_get(by_target[carol.jid]).state is DeliveryState.DEFERRED
    await until(lambda: item.msg_id not in deferred_folder(world, alice))


async def test_an_email_waits_while_smtp_is_down(world, tmp_path, running):
    start, _xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    engine = await start(new_engine(config_path(world, tmp_path, alice, FAST), tmp_path))
    world.stop_smtp()
    try:
        result = await engine.send_message(alice.name, [bob.email], "Sent while down",
                                           via="email", subject="Outage")
        outbox_id = result.emails[0]
        await until(lambda: any(h.event == "retry later" for h in
                                engine.store.outbox_history(outbox_id)),
                    what="a failed attempt")
        assert engine.store.outbox_get(outbox_id).state in (DeliveryState.QUEUED,
                                                             DeliveryState.SENDING)
        assert not [m for m in inbox(world, bob) if m["Subject"] == "Outage"]
    finally:
        world.start_smtp()
    await until(lambda: engine.store.outbox_get(outbox_id).state is DeliveryState.SENT,
                timeout=30, what="the email sent after the server came back")
    got = await wait_inbox(world, bob, lambda m: m["Subject"] == "Outage")
    assert len(got) == 1


async def test_a_deferred_message_survives_the_loss_of_the_local_store(
        world, tmp_path, running):
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file), show="xa", status="On holiday"))
    path = config_path(world, tmp_path, alice, contacts_toml(bob))
    first = new_engine(path, tmp_path)
    await first.start()
    await until(lambda: first.availability(alice.name, bob.jid).availability
                is Availability.AWAY)
    sent = await first.send_message(alice.name, [bob.jid], "Welcome back!", when_away="defer")
    msg_id = first.store.outbox_get(sent.outbox[0]).msg_id
    await until(lambda: msg_id in deferred_folder(world, alice))
    await first.stop()
    first.close()
    shutil.rmtree(tmp_path / "data")  # the local store, its files, the XMPP state

    second = await start(new_engine(path, tmp_path))
    await until(lambda: [i for i in second.store.outbox_items() if i.msg_id == msg_id],
                what="the deferred message recovered")
    item = next(i for i in second.store.outbox_items() if i.msg_id == msg_id)
    assert item.state is DeliveryState.DEFERRED
    assert item.transport is Transport.XMPP
    bob_x.set_presence()
    await until(lambda: second.store.outbox_get(item.id).state is DeliveryState.DELIVERED,
                what="delivery of the recovered message")
    assert bob_x.bodies(alice.jid) == ["Welcome back!"]


DRIVER = [sys.executable, "-m", "tests.harness.outbox_driver"]


@pytest.mark.parametrize("failpoint", ["after-outbox-row", "after-stanza", "before-receipt"])
async def test_a_send_killed_at_any_step_is_delivered_exactly_once(world, tmp_path, failpoint):
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    path = config_path(world, tmp_path, alice, contacts_toml(bob))
    (tmp_path / "bob").mkdir()
    bob_cfg = load_config(config_path(world, tmp_path / "bob", bob, ""))
    bob_store = Store.open(tmp_path / "bob" / "store.db")
    bob_client = XmppClient(bob_cfg.account(bob.name), bob.password, bob_store, EventBus())
    await bob_client.start()
    try:
        env = dict(os.environ, TUICLIENT_FAILPOINT=failpoint,
                   XDG_DATA_HOME=str(tmp_path / "alice-data"))
        first = await asyncio.to_thread(
            subprocess.run, [*DRIVER, "send", str(path), bob.jid, "Exactly once"],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert first.returncode == -9, first.stderr  # killed at the failpoint
        del env["TUICLIENT_FAILPOINT"]
        second = await asyncio.to_thread(
            subprocess.run, [*DRIVER, "settle", str(path)], env=env, cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "delivered" in second.stdout

        def lines() -> list:
            return [m for t in bob_store.list_threads(bob.name, limit=100)
                    for m in bob_store.thread_messages(t.thread_id, bob.name)
                    if m.text == "Exactly once" and m.direction is Direction.IN]
        await until(lambda: lines(), what="the message at bob's")
        await asyncio.sleep(0.5)  # a duplicate, if any, would arrive by now
        assert len(lines()) == 1
    finally:
        await bob_client.stop()
        bob_store.close()


async def test_at_the_maximum_age_the_policy_drops_the_message_with_a_notice(
        world, tmp_path, running):
    start, _xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    policy = ('\n[deferral]\nfirst_retry = "0.2s"\nceiling = "0.2s"\nmax_age = "1s"\n'
              'on_max_age = "drop"\n')
    engine = await start(new_engine(config_path(world, tmp_path, alice,
                                                contacts_toml(bob) + policy), tmp_path))
    events: list[Event] = []
    engine.events.subscribe(events.append)
    await until(lambda: engine.availability(alice.name, bob.jid).availability
                is Availability.OFFLINE)
    sent = await engine.send_message(alice.name, [bob.jid], "Too late?", when_away="defer")
    outbox_id = sent.outbox[0]
    await until(lambda: engine.store.outbox_get(outbox_id).state is DeliveryState.CANCELLED,
                what="the message dropped at its maximum age")
    notice = [e for e in events if isinstance(e, OutboxChanged) and e.state == "cancelled"]
    assert notice and "dropped after 1.0s (still offline)" in notice[0].detail
    assert any(h.event == "expired" for h in engine.store.outbox_history(outbox_id))
