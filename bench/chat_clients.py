"""The other sides of the chat bench: a wire-floor client, the archive filler,
Profanity in the bench's tmux, and an asyncio loop the bench's threads can use.

- `Loop`: one asyncio loop in a thread of its own, so the bench can drive tmux
  (blocking) while slixmpp clients (asyncio) stay connected. `loop.run(coro)`
  runs a coroutine there and returns its result.
- `Wire`: the floor. A bare slixmpp ClientXMPP with no plugin of ours and no store:
  log in, ask the archive (XEP-0313) or the roster, count what came. The MAM query
  is written out by hand (one IQ, RSM `<before/>` paging back, XEP-0059 §2.5):
  slixmpp's `xep_0313.retrieve` cannot ask for the newest page (it turns every RSM
  value into a string), and a floor must be the least a client can do on the wire.
- `fill_archive`: Prosody's mod_mam filled the way it fills in life: a peer sends
  the lines to our account while one of our devices is online (so they are archived
  and not queued as offline messages), and some lines go the other way.
- `Profanity`: Profanity 0.13 in the bench's tmux server (bench/tmux.py), with a
  private HOME as tests/harness/profanity.py sets it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from xml.etree import ElementTree as ET

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from slixmpp.xmlstream.stanzabase import StanzaBase

from tests.harness.servers import Account, World

T = TypeVar("T")
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"


class Loop:
    """An asyncio loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-loop",
                                       daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 600.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Cancel what is still running there (the stream tasks of clients that
        disconnected), then stop the loop: nothing is left to complain at exit."""
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):  # one that will not end must not hide the table
            self.run(drain(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Wire:
    """The least a client does: log in, then one thing on the wire."""

    def __init__(self, world: World, account: Account, resource: str = "wire") -> None:
        x = self.xmpp = slixmpp.ClientXMPP(f"{account.jid}/{resource}", account.password)
        x.register_plugin("xep_0030")
        x.ssl_context = ssl.create_default_context(cafile=str(world.ca_file))
        x.enable_direct_tls = False
        x.enable_starttls = True
        x.enable_plaintext = False
        x.auto_authorize = None  # leave subscriptions alone
        self.host, self.port = "127.0.0.1", world.ports.c2s
        self.own = account.jid
        self.results = 0  # MAM results counted so far
        self.received: list[tuple[float, ET.Element]] = []  # (when, <message>) of chats
        self._ready: asyncio.Future[None] | None = None
        x.add_event_handler("session_start", self._on_start)
        x.add_event_handler("message", self._on_message)
        x.register_handler(Callback("mam results", MatchXPath(
            f"{{jabber:client}}message/{{{NS_MAM}}}result"), self._on_result))

    async def start(self, *, presence: bool = True, roster: bool = False) -> Wire:
        """Connect and authenticate; with `presence`, be online (and get pushes)."""
        self._presence, self._roster = presence, roster
        self._ready = asyncio.get_running_loop().create_future()
        self.xmpp.connect(self.host, self.port)
        await asyncio.wait_for(self._ready, 60)
        return self

    async def _on_start(self, _event: object) -> None:
        if self._roster:
            await self.xmpp.get_roster()
        if self._presence:
            self.xmpp.send_presence()
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _on_message(self, msg: slixmpp.Message) -> None:
        if msg.xml.find("{jabber:client}body") is not None:
            self.received.append((time.perf_counter(), msg.xml))

    def _on_result(self, _msg: StanzaBase) -> None:
        self.results += 1

    def bodies(self) -> list[str]:
        return [(m.findtext("{jabber:client}body") or "") for _t, m in self.received]

    def roster_size(self) -> int:
        return sum(1 for jid in self.xmpp.client_roster if jid != self.own)

    async def mam_page(self, with_jid: str, limit: int, before: str = "") -> tuple[str, bool]:
        """One page of our archive with `with_jid`, newest first (`before` an archive
        id, "" for the newest page); returns (RSM <first>, complete)."""
        iq = self.xmpp.make_iq_set()
        query = ET.SubElement(iq.xml, f"{{{NS_MAM}}}query", {"queryid": iq["id"]})
        form = ET.SubElement(query, "{jabber:x:data}x", {"type": "submit"})
        for var, value in (("FORM_TYPE", NS_MAM), ("with", with_jid)):
            field = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
            ET.SubElement(field, "{jabber:x:data}value").text = value
        rsm = ET.SubElement(query, f"{{{NS_RSM}}}set")
        ET.SubElement(rsm, f"{{{NS_RSM}}}max").text = str(limit)
        ET.SubElement(rsm, f"{{{NS_RSM}}}before").text = before or None
        answer = await iq.send(timeout=120)
        fin = answer.xml.find(f"{{{NS_MAM}}}fin")
        assert fin is not None, ET.tostring(answer.xml)
        first = fin.findtext(f"{{{NS_RSM}}}set/{{{NS_RSM}}}first") or ""
        return first, fin.get("complete") in ("true", "1")

    async def whole_archive(self, with_jid: str, limit: int) -> int:
        """Page back through the whole archive with `with_jid`; pages asked."""
        before, pages = "", 0
        while True:
            first, complete = await self.mam_page(with_jid, limit, before)
            pages += 1
            if complete or not first:
                return pages
            before = first

    def send(self, to: str, body: str, oob: str | None = None) -> None:
        msg = self.xmpp.make_message(mto=to, mbody=body, mtype="chat")
        if oob:
            x = ET.SubElement(msg.xml, "{jabber:x:oob}x")
            ET.SubElement(x, "{jabber:x:oob}url").text = oob
        msg.send()

    async def stop(self) -> None:
        await self.xmpp.disconnect(wait=2.0)


async def fill_archive(world: World, me: Account, peer: Account, lines: int,
                       newest: str, every_mine: int = 5) -> float:
    """`lines` chat lines between `me` and `peer` into Prosody's archive, the
    last one (from `peer`) reading `newest`; one in `every_mine` goes from `me`.
    Both are online meanwhile (an "old device" of ours), so nothing waits as an
    offline message for the new device. Returns the seconds it took."""
    t0 = time.perf_counter()
    old = await Wire(world, me, "old-device").start()
    other = await Wire(world, peer, "peer").start()
    for i in range(lines - 1):
        if i % every_mine == every_mine - 1:
            old.send(peer.jid, f"line {i + 1} from me: the usual chatter")
        else:
            other.send(me.jid, f"line {i + 1}: the usual chatter about plans")
        if i % 200 == 199:  # let the stream drain now and then
            await asyncio.sleep(0.05)
    other.send(me.jid, newest)
    deadline = time.monotonic() + 600
    while newest not in old.bodies():
        if time.monotonic() > deadline:
            raise TimeoutError("the archive filler's last line never arrived")
        await asyncio.sleep(0.05)
    await old.stop()
    await other.stop()
    return time.perf_counter() - t0


def fake_contacts(n: int, domain: str = "chat.corp.test") -> list[Account]:
    """`n` roster entries that need no account of their own (Prosody keeps roster
    items for any JID; their presence probes go unanswered, as for offline people)."""
    return [Account(f"c{i:04d}", f"contact{i:04d}@{domain}", f"contact{i:04d}@{domain}",
                    "", f"Contact {i:04d}") for i in range(n)]


def give_roster(world: World, owner: Account, contacts: list[Account]) -> None:
    """A roster of `contacts` for `owner`, with mutual subscriptions, written into
    Prosody's storage before `owner` logs in (the harness's own writer)."""
    world._add_roster_items(owner, contacts)


class Profanity:
    """Profanity in the bench's tmux: a private HOME, one account, TLS policy
    `trust` (the harness's CA is in no system store and Profanity takes no CA
    file; tests/harness/profanity.py does the same)."""

    def __init__(self, world: World, account: Account, home: Path) -> None:
        self.account, self.home = account, home
        data = home / ".local" / "share" / "profanity"
        conf = home / ".config" / "profanity"
        data.mkdir(parents=True, exist_ok=True)
        conf.mkdir(parents=True, exist_ok=True)
        a = account
        (data / "accounts").write_text(
            f"[{a.jid}]\nenabled=true\njid={a.jid}\nserver=127.0.0.1\n"
            f"port={world.ports.c2s}\nresource=profanity\npassword={a.password}\n"
            "tls.policy=trust\n")
        (data / "accounts").chmod(0o600)
        (conf / "profrc").write_text(
            "[notifications]\nmessage=false\nroom=false\ninvite=false\nsub=false\n")

    def argv(self) -> list[str]:
        return ["profanity", "-a", self.account.jid]

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_DATA_HOME": str(self.home / ".local" / "share"),
                "TERM": "screen-256color", "LANG": "C.UTF-8",
                "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
