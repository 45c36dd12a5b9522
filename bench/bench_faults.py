"""Soak under faults: mixed email and IM sends while the network and servers misbehave.

    .venv/bin/python -m bench.bench_faults [--seconds 150] [--seed 1]

alice's engine reaches the harness's real servers through fault-injecting proxies
(tests/harness/faultproxy.py). For `--seconds`, alice sends emails and IMs to bob
and bob emails alice, while a fault is injected every few seconds at random:
a proxy refusing connections, cutting every open one, stalling, slowing each
chunk, or cutting the next connection after a random number of bytes; the SMTP
server stopped for a while; Prosody restarted. Then every fault ends and the
outbox drains. Printed: sent, delivered, lost (must be 0), duplicated (must be
0) per kind, and the time from the end of each fault until everything sent
before it ended was delivered.

bob reads mail with plain imapclient (duplicates counted by Message-ID in his
INBOX) and chats with our client (which drops copies by origin-id, as receivers
do: what he sees is what is counted). alice's INBOX sync runs through the IMAP
proxy; bob's emails to her are counted in her store.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import imapclient

from bridge.config import load_config
from bridge.engine import Engine
from bridge.health import Timings
from bridge.model import DeliveryState
from bridge.store import Store
from tests.harness.faultproxy import FaultProxy
from tests.harness.servers import CLIENT_CONF, Account, World
from tests.others import send_email

RETRY = '\n[deferral]\nfirst_retry = "0.5s"\ngrowth = 2.0\nceiling = "4s"\n'
TIMINGS = Timings(health_interval=30, health_critical=2, probe_timeout=5, push_check=5,
                  push_timeout=3, xmpp_ping_interval=3, xmpp_ping_timeout=3, smtp_timeout=5)


@dataclass
class Sent:
    kind: str  # email | im | inbound
    key: str  # Message-ID, or the IM's text, or the inbound email's Message-ID
    at: float
    outbox_id: int | None = None
    delivered_at: float | None = None


@dataclass
class Fault:
    what: str
    start: float
    end: float = 0.0
    recovered_in: float | None = None


@dataclass
class Soak:
    world: World
    alice: Account
    bob: Account
    proxies: dict[str, FaultProxy]
    alice_engine: Engine
    bob_engine: Engine
    rng: random.Random
    sent: list[Sent] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    t0: float = 0.0  # when the fault schedule started (monotonic)
    smtp_down: bool = False


def engine_for(world: World, tmp: Path, who: Account, ports: dict[str, int], extra: str = "",
               timings: Timings | None = None) -> Engine:
    folder = tmp / who.name
    folder.mkdir()
    secret = folder / "secret"
    secret.write_text(who.password + "\n")
    secret.chmod(0o600)
    path = folder / "config.toml"
    path.write_text(CLIENT_CONF.format(
        name=who.name, email=who.email, jid=who.jid, display=who.display_name,
        ca=world.ca_file, pwcmd=f"cat {secret}", **ports) + extra)
    return Engine(load_config(path), Store.open(folder / "store.db"), timings=timings)


def bob_inbox_ids(world: World, bob: Account) -> Counter[str]:
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True, ssl_context=ctx,
                               timeout=20) as c:
        c.login(bob.email, bob.password)
        c.select_folder("INBOX", readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    ids: Counter[str] = Counter()
    for v in data.values():
        raw = v[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode(errors="replace")
        ids[raw.partition(":")[2].strip().strip("<>")] += 1
    return ids


def im_bodies(engine: Engine, account: str) -> Counter[str]:
    with engine.store._lock:
        rows = engine.store._conn.execute(
            "SELECT body FROM messages WHERE account = ? AND direction = 'in' AND "
            "transport = 'xmpp'", (account,)).fetchall()
    return Counter(r[0] for r in rows)


def inbound_ids(engine: Engine, account: str) -> Counter[str]:
    with engine.store._lock:
        rows = engine.store._conn.execute(
            "SELECT m.msg_id FROM mail_locations l JOIN messages m ON m.id = l.message "
            "WHERE l.account = ? AND l.folder = 'INBOX'", (account,)).fetchall()
    return Counter(r[0] for r in rows)


# -- the load ---------------------------------------------------------------------------


async def sender(soak: Soak, until: float) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        kind = soak.rng.choice(("email", "im", "im", "inbound"))
        now = time.monotonic()
        try:
            if kind == "email":
                result = await asyncio.wait_for(soak.alice_engine.send_message(
                    soak.alice.name, [soak.bob.email], f"soak email {n}", via="email",
                    subject=f"soak {n}"), 10)
                soak.sent.append(Sent("email", result.email_ids[0], now, result.emails[0]))
            elif kind == "im":
                text = f"soak im {n} {uuid.uuid4().hex[:6]}"
                result = await asyncio.wait_for(soak.alice_engine.send_message(
                    soak.alice.name, [soak.bob.jid], text, when_away="send"), 10)
                soak.sent.append(Sent("im", text, now, result.outbox[0]))
            elif not soak.smtp_down:
                # bob writes to alice with his own mail client, straight to the server.
                msg_id = await asyncio.to_thread(send_email, soak.world, soak.bob,
                                                 [soak.alice.email], [], f"to alice {n}", "hi")
                soak.sent.append(Sent("inbound", msg_id, now))
        except TimeoutError:
            print(f"  !! a {kind} send hung for 10 s (a failure: sends must not block)")
        await asyncio.sleep(soak.rng.uniform(0.2, 0.8))


async def faults(soak: Soak, until: float) -> None:
    rng = soak.rng
    await asyncio.sleep(3)
    while time.monotonic() < until - 5:
        target = rng.choice(("submission", "c2s", "imaps"))
        proxy = soak.proxies[target]
        kind = rng.choice(("refuse", "drop", "stall", "stall-existing", "delay", "cut",
                           "smtp-stop", "prosody-restart"))
        hold = rng.uniform(2, 10)
        fault = Fault(f"{kind} {target}" if kind not in ("smtp-stop", "prosody-restart")
                      else kind, time.monotonic())
        if kind == "refuse":
            proxy.refuse()
            proxy.drop()
        elif kind == "drop":
            proxy.drop()
            hold = 0
        elif kind == "stall":
            proxy.stall()
        elif kind == "stall-existing":
            proxy.stall(existing=True)
        elif kind == "delay":
            proxy.delay(rng.uniform(0.3, 3.0))
        elif kind == "cut":
            n = rng.randint(200, 40_000)
            fault.what += f" after {n} B"
            proxy.cut_after(n)
        elif kind == "smtp-stop":
            soak.smtp_down = True
            await asyncio.to_thread(soak.world.stop_smtp)
        else:
            await asyncio.to_thread(soak.world.restart_prosody)
            hold = 0
        fault.what += f" for {hold:.1f} s" if hold else ""
        await asyncio.sleep(hold)
        if kind == "smtp-stop":
            await asyncio.to_thread(soak.world.start_smtp)
            soak.smtp_down = False
        elif kind != "prosody-restart":
            proxy.pass_()
        fault.end = time.monotonic()
        soak.faults.append(fault)
        print(f"  fault {len(soak.faults):2d} at {fault.start - soak.t0:6.1f} s: {fault.what}",
              flush=True)
        await asyncio.sleep(rng.uniform(2, 6))


async def watcher(soak: Soak, stop: asyncio.Event) -> None:
    """Note when each message is first seen at its receiver."""
    while not stop.is_set():
        now = time.monotonic()
        waiting = [s for s in soak.sent if s.delivered_at is None]
        if waiting:
            ims = im_bodies(soak.bob_engine, soak.bob.name)
            inbound = inbound_ids(soak.alice_engine, soak.alice.name)
            emails: Counter[str] | None = None
            if any(s.kind == "email" for s in waiting):
                try:
                    emails = await asyncio.to_thread(bob_inbox_ids, soak.world, soak.bob)
                except Exception:
                    emails = None  # the server is down right now; try again
            for s in waiting:
                seen = (ims if s.kind == "im" else inbound if s.kind == "inbound"
                        else emails)
                if seen is not None and seen.get(s.key):
                    s.delivered_at = now
        with_timeout = asyncio.ensure_future(stop.wait())
        await asyncio.wait([with_timeout], timeout=0.5)
        with_timeout.cancel()


# -- the run ---------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    with World() as world:
        alice = world.add_account(f"alice{uuid.uuid4().hex[:4]}")
        bob = world.add_account(f"bob{uuid.uuid4().hex[:4]}")
        world.befriend(alice, bob)
        proxies = {"imaps": FaultProxy(world.ports.imaps).start(),
                   "submission": FaultProxy(world.ports.submission).start(),
                   "c2s": FaultProxy(world.ports.c2s).start()}
        tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
        contacts = (f'\n[[contacts]]\nname = "Bob"\nemails = ["{bob.email}"]\n'
                    f'jids = ["{bob.jid}"]\n')
        alice_engine = engine_for(world, tmp, alice, {k: p.port for k, p in proxies.items()},
                                  contacts + RETRY, TIMINGS)
        bob_engine = engine_for(world, tmp, bob, {"imaps": world.ports.imaps,
                                                  "submission": world.ports.submission,
                                                  "c2s": world.ports.c2s})
        await bob_engine.start(mail=False)
        await alice_engine.start()
        soak = Soak(world, alice, bob, proxies, alice_engine, bob_engine, rng)
        soak.t0 = time.monotonic()
        print(f"soak: {args.seconds:.0f} s of mixed sends under random faults (seed "
              f"{args.seed})", flush=True)
        until = soak.t0 + args.seconds
        stop = asyncio.Event()
        watch = asyncio.ensure_future(watcher(soak, stop))
        await asyncio.gather(sender(soak, until), faults(soak, until))
        for p in proxies.values():
            p.pass_()
        if soak.smtp_down:
            world.start_smtp()
        load_end = time.monotonic()
        print(f"faults over after {load_end - soak.t0:.0f} s; draining the outbox", flush=True)
        drain_deadline = load_end + args.drain
        while time.monotonic() < drain_deadline and \
                any(s.delivered_at is None for s in soak.sent):
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # late copies would arrive here
        stop.set()
        await watch

        emails = await asyncio.to_thread(bob_inbox_ids, world, bob)
        ims = im_bodies(bob_engine, bob.name)
        inbound = inbound_ids(alice_engine, alice.name)
        print()
        print(f"{'':<22}{'sent':>6}{'delivered':>11}{'lost':>6}{'duplicated':>12}")
        failed = False
        for kind, seen, label in (("email", emails, "email alice -> bob"),
                                  ("im", ims, "IM alice -> bob"),
                                  ("inbound", inbound, "email bob -> alice")):
            mine = [s for s in soak.sent if s.kind == kind]
            delivered = [s for s in mine if seen.get(s.key)]
            dup = sum(seen[s.key] - 1 for s in mine if seen.get(s.key, 0) > 1)
            lost = len(mine) - len(delivered)
            failed = failed or lost > 0 or dup > 0
            print(f"{label:<22}{len(mine):>6}{len(delivered):>11}{lost:>6}{dup:>12}")
        queued = [(s, s.outbox_id) for s in soak.sent if s.outbox_id is not None]
        rows = [alice_engine.store.outbox_get(row_id) for _, row_id in queued]
        states = Counter(row.state.value if row else "gone" for row in rows)
        print(f"alice's outbox rows: {dict(states)}")
        stuck = [s for (s, _), row in zip(queued, rows, strict=True)
                 if row is None or row.state not in
                 (DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ)]
        if stuck:
            print(f"  unsettled rows: {[(s.kind, s.outbox_id) for s in stuck][:10]}")

        # Time to recover: from the end of a fault until everything sent before the
        # fault ended was delivered.
        print()
        print("time to recover after each fault ended (everything sent before it, delivered):")
        recoveries = []
        for f in soak.faults:
            before = [s for s in soak.sent if s.at <= f.end]
            if not before or any(s.delivered_at is None for s in before):
                f.recovered_in = None
            else:
                f.recovered_in = max(0.0, max(s.delivered_at or 0 for s in before) - f.end)
                recoveries.append(f.recovered_in)
            shown = f"{f.recovered_in:5.1f} s" if f.recovered_in is not None else "  never"
            print(f"  {f.what:<44} {shown}")
        if recoveries:
            print(f"recovery: median {statistics.median(recoveries):.1f} s, "
                  f"max {max(recoveries):.1f} s over {len(recoveries)} faults")
        latencies = [s.delivered_at - s.at for s in soak.sent if s.delivered_at]
        if latencies:
            print(f"send-to-receipt: median {statistics.median(latencies):.1f} s, "
                  f"max {max(latencies):.1f} s")
        print(f"proxies: {sum(p.connections for p in proxies.values())} connections, "
              f"{sum(p.cuts for p in proxies.values())} cut")
        print("RESULT: " + ("FAIL (lost or duplicated)" if failed else
                            "0 lost, 0 duplicated"))
        await alice_engine.stop()
        await bob_engine.stop()
        alice_engine.close()
        bob_engine.close()
        for p in proxies.values():
            p.stop()
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=150.0)
    ap.add_argument("--drain", type=float, default=90.0,
                    help="seconds to wait for the outbox to drain after the faults")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
