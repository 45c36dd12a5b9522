"""OMEMO on demand: a slixmpp plugin of ours that does, from login, what an
account with OMEMO on must do without python-omemo's stack, and loads the stack
(slixmpp-omemo's plugin, `omemo_stack.py`) the first time the account needs it.

Why: the stack (cryptography, pydantic, protobuf, xmlschema and the six schemas
oldmemo and twomemo build) is 35 MiB of a 108 MiB app, and slixmpp-omemo builds
it at login (its `session_bind`) to validate every device list against its
schemas. Most sessions never seal or open a line; they pay it for nothing.

What the account does from login, without the stack:

- It says it wants both device-list nodes (XEP-0163 `+notify` for
  `eu.siacs.conversations.axolotl.devicelist` and `urn:xmpp:omemo:2:devices`,
  through slixmpp's xep_0163, as slixmpp-omemo does, but at each bind: slixmpp
  keeps disco features per bound JID, and slixmpp-omemo's `plugin_init`, run
  before the bind, announced nothing), so the server sends each contact's list
  at login and every change after, and maps both nodes to the events
  slixmpp-omemo's plugin listens to (xep_0060's `map_node_event`).
- It keeps each contact's latest list (the stanza as it came, per contact and
  node: a list replaces the one before it) and who changed their presence
  subscription, and hands them to the stack when it loads, in the order they
  came, through the stack's own handlers: python-omemo then knows exactly what
  it would have known had it been there from login (it only stores a contact's
  list; nothing goes on the wire for it).
- It makes sure peers can encrypt to this device: at each login it reads our own
  two lists (two IQs, as python-omemo's start does) and loads the stack, which
  publishes the device and its bundle, when either list lacks this device, when
  there are no keys yet (the first login), and when one of our other clients
  later publishes a list without it. While the server's lists name this device
  its bundle is there (python-omemo publishes the bundle before the list).

The stack is loaded at the first of: an OMEMO line coming (`Omemo._open` waits
for it, so a line that comes first is opened and stored once, after); a line to
be sealed (the send waits, and goes sealed or fails, never in clear); `keys`
(the devices, a trust decision); and our own device missing from the server, as
above. Its import runs in a thread (a third of a second of CPU that would hold
the app's loop), then its plugin is registered and built (its `session_bind`),
and what was kept is replayed before anything else reaches it.

Reading a device list here is hand-written (which device ids an item names):
the library's own parser is what needs xmlschema, which is what we defer; the
library reads and validates the same stanza again when it is replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp.plugins.base import BasePlugin, register_plugin

log = logging.getLogger(__name__)

NS_OLDMEMO = "eu.siacs.conversations.axolotl"
NS_TWOMEMO = "urn:xmpp:omemo:2"
OLDMEMO_DEVICE_LIST_NODE = NS_OLDMEMO + ".devicelist"
TWOMEMO_DEVICE_LIST_NODE = NS_TWOMEMO + ":devices"
# The node of each list -> the event slixmpp-omemo's plugin listens to for it.
DEVICE_LIST_EVENTS = {TWOMEMO_DEVICE_LIST_NODE: "twomemo_device_list",
                      OLDMEMO_DEVICE_LIST_NODE: "oldmemo_device_list"}
# The element that holds a list's devices, per node.
_LIST_TAGS = {TWOMEMO_DEVICE_LIST_NODE: f"{{{NS_TWOMEMO}}}devices",
              OLDMEMO_DEVICE_LIST_NODE: f"{{{NS_OLDMEMO}}}list"}
NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
# The module whose import is the stack (slixmpp-omemo, python-omemo and theirs).
STACK_MODULE = "bridge.xmpp.omemo_stack"
STACK_PLUGIN = "tuiclient_omemo"


def device_ids(node: str, item: ET.Element | None) -> set[int]:
    """The device ids a published list item names (see the module doc on why
    this is read by hand); an empty set for an empty or malformed list."""
    found = item.find(_LIST_TAGS[node]) if item is not None else None
    if found is None:
        return set()
    ids = set()
    for device in found:
        if device.tag.endswith("}device"):
            try:
                ids.add(int(device.get("id") or ""))
            except ValueError:
                continue
    return ids


def own_device_id(path: Path) -> int | None:
    """This device's id, from the keys' file python-omemo keeps (`JsonStorage`:
    its key "/own_device_id"), or None when there are no keys yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("/own_device_id") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


class OmemoStandby(BasePlugin):
    """OMEMO from login without its stack; the stack at first need (see the
    module doc). Config: `path`, the account's keys file; `on_blind_trust`,
    handed to the stack's plugin. `await plugin.stack(why)` is the loaded
    slixmpp-omemo plugin."""

    name = "tuiclient_omemo_standby"
    description = "OMEMO until it is needed (ours)"
    dependencies = {"xep_0060", "xep_0163"}
    default_config = {"path": None, "on_blind_trust": None}

    def plugin_init(self) -> None:
        config: Any = self
        if not config.path:
            raise ValueError("the OMEMO plugin needs the path of its data file")
        self.path = Path(config.path)
        self.on_blind_trust: Callable[[Any], None] | None = config.on_blind_trust
        # Kept for the stack: each contact's latest list, and who changed a
        # presence subscription (dicts keep the order they came in).
        self._lists: dict[tuple[str, str], Any] = {}
        self._subscriptions: dict[str, Any] = {}
        self._plugin: Any = None  # the stack's plugin, once loaded
        self._loading: asyncio.Task[Any] | None = None
        self.why_loaded = ""  # what loaded the stack ("" while it is not)
        self.checked = asyncio.Event()  # our own lists read since the last login
        self._tasks: set[asyncio.Task[None]] = set()
        pubsub = self.xmpp.plugin["xep_0060"]
        for node, event in DEVICE_LIST_EVENTS.items():
            pubsub.map_node_event(node, event)
            self.xmpp.add_event_handler(f"{event}_publish", self._on_list)
        self.xmpp.add_event_handler("changed_subscription", self._on_subscription)
        self.xmpp.add_event_handler("session_start", self._on_session_start)

    def session_bind(self, jid: Any) -> None:
        # Disco data is kept per bound JID (see XmppClient._announce_features):
        # the interest is said at each bind, before the presence carries our caps.
        for node in DEVICE_LIST_EVENTS:
            self.xmpp.plugin["xep_0163"].add_interest(node)

    def plugin_end(self) -> None:
        for event in DEVICE_LIST_EVENTS.values():
            self.xmpp.del_event_handler(f"{event}_publish", self._on_list)
        self.xmpp.del_event_handler("changed_subscription", self._on_subscription)
        self.xmpp.del_event_handler("session_start", self._on_session_start)
        for task in self._tasks:
            task.cancel()

    @property
    def loaded(self) -> bool:
        return self._plugin is not None

    async def settle(self, timeout: float) -> None:
        """Let a load under way finish (at most `timeout` s) before the stream
        closes: a first login's load publishes our keys, and a process that ends
        halfway (a one-shot `send`) leaves a device list naming a bundle not
        there yet, which every peer then fails to fetch until the next login."""
        loading = self._loading
        if loading is None or loading.done():
            return
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(loading), timeout)

    # -- from login ----------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_session_start(self, _event: Any) -> None:
        self.checked.clear()
        if not self.loaded:
            self._spawn(self._check_own())

    async def _check_own(self) -> None:
        """Load the stack unless the server's two lists name this device."""
        try:
            own = own_device_id(self.path)
            if own is None:
                await self._load_for("no OMEMO keys yet: they are made and published")
                return
            pubsub = self.xmpp.plugin["xep_0060"]
            me = self.xmpp.boundjid.bare
            for node in DEVICE_LIST_EVENTS:
                try:
                    iq = await pubsub.get_items(me, node, max_items=1, timeout=30)
                    items = [i.xml for i in iq["pubsub"]["items"]]
                except Exception as exc:  # item-not-found: nothing published there
                    log.info("%s: our OMEMO list %s not read: %r", me, node, exc)
                    items = []
                if own not in device_ids(node, items[0] if items else None):
                    await self._load_for(f"the server's {node} lacks this device")
                    return
        finally:
            self.checked.set()

    async def _load_for(self, why: str) -> None:
        try:
            await self.stack(why)
        except Exception:
            log.exception("%s: the OMEMO stack could not be loaded (%s)",
                          self.xmpp.boundjid.bare, why)

    async def _on_list(self, msg: Any) -> None:
        if self._plugin is not None:
            await self._plugin._on_device_list_update(msg)
            return
        item = msg.xml.find(f"{{{NS_PUBSUB_EVENT}}}event/{{{NS_PUBSUB_EVENT}}}items")
        node = item.get("node") if item is not None else None
        if node not in DEVICE_LIST_EVENTS:
            return
        sender = msg["from"].bare
        self._lists.pop((sender, node), None)
        self._lists[(sender, node)] = msg  # the latest replaces, and goes last
        if sender == self.xmpp.boundjid.bare and self._loading is None:
            own = own_device_id(self.path)
            listed = device_ids(node, item.find(f"{{{NS_PUBSUB_EVENT}}}item"))
            if own is not None and own not in listed:
                # One of our other clients published a list without us.
                self._spawn(self._load_for(f"our {node} was published without this device"))

    async def _on_subscription(self, presence: Any) -> None:
        if self._plugin is not None:
            await self._plugin._on_subscription_changed(presence)
            return
        jid = presence["from"].bare
        self._subscriptions.pop(jid, None)
        self._subscriptions[jid] = presence

    # -- the stack -----------------------------------------------------------------

    async def stack(self, why: str) -> Any:
        """slixmpp-omemo's plugin for this account, loaded (and its session
        manager built) the first time; `why`: what needs it, logged."""
        if self._plugin is not None:
            return self._plugin
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load(why))
        loading = self._loading
        try:
            return await asyncio.shield(loading)
        except BaseException:
            if loading.done() and self._loading is loading:
                self._loading = None  # failed: the next need tries again
            raise

    async def _load(self, why: str) -> Any:
        log.info("%s: loading OMEMO: %s", self.xmpp.boundjid.bare, why)
        # Off the loop: the import alone is a third of a second of CPU.
        await asyncio.to_thread(importlib.import_module, STACK_MODULE)
        registry: Any = self.xmpp.plugin  # slixmpp types it with its own plugins only
        if STACK_PLUGIN not in registry:
            self.xmpp.register_plugin(STACK_PLUGIN, {"path": str(self.path),
                                                     "on_blind_trust": self.on_blind_trust})
        plugin = registry[STACK_PLUGIN]
        # Its updates reach it through us from now on, in the order they came.
        for event in DEVICE_LIST_EVENTS.values():
            self.xmpp.del_event_handler(f"{event}_publish", plugin._on_device_list_update)
        self.xmpp.del_event_handler("changed_subscription", plugin._on_subscription_changed)
        await plugin.get_session_manager()
        while self._lists or self._subscriptions:
            try:
                if self._lists:
                    await plugin._on_device_list_update(
                        self._lists.pop(next(iter(self._lists))))
                else:
                    await plugin._on_subscription_changed(
                        self._subscriptions.pop(next(iter(self._subscriptions))))
            except Exception:  # one contact's list, not the stack
                log.exception("%s: a kept OMEMO update could not be replayed",
                              self.xmpp.boundjid.bare)
        self.why_loaded = why
        self._plugin = plugin
        return plugin


register_plugin(OmemoStandby)
