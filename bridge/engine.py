"""The engine: the one door the app and headless mode talk to.

It wires the parts together and does little else. It owns each account's
transports while running (`start()`/`stop()`): a mail port per account
(bridge.mail.port: the worker thread for sync, IDLE and the outbox flush, and
the on-demand IMAP connection) and an `XmppClient` per XMPP account on the
caller's asyncio loop, seen by policy through its port (bridge.xmpp.port).
Policy gets the ports and the store, never the engine: the outbox
(bridge.outbox, with bridge.delivery's state machine), the handoff
(bridge.handoff: replies on either transport, the one "auto" rule) and the
health monitor (bridge.health). Everything the user can do is a method here;
the front ends call nothing else. Blocking protocol work (imapclient, smtplib)
runs in threads; the caller's loop never waits on it.

The methods come in parts, one module each, mixed into `Engine`; this module
wires (constructor, start, stop, event log) and the parts only delegate:

    engine_reads.py    what a front end may know: conversations, timelines,
                       search, folders, contacts, the outbox's rows, presence
    engine_sending.py  reply, hand off, send, mark, drain and the outbox's buttons
    engine_mail.py     triage, attachments, forward, bounce, drafts
    engine_chat.py     corrections, reactions, rooms, roster, presence
    engine_ports.py    EnginePorts: which transport serves which account
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import errors as refuse
from .config import AccountConfig, Config, SecretError, get_password
from .delivery import KEPT_HERE
from .engine_chat import ChatVerbs, chat_refusal
from .engine_mail import MailVerbs
from .engine_ports import EnginePorts
from .engine_reads import EngineReads
from .engine_sending import SendingVerbs
from .errors import ContactAway, EngineError
from .events import (
    Event,
    EventBus,
    FolderChanged,
    HealthChanged,
    HealthReported,
    SyncProgress,
)
from .handoff.results import ReplyResult
from .health import HealthMonitor, Timings
from .identity import Identity, UnmappedParty
from .reader import default_store_path, dual_domains, sync_config_into_store
from .store import Store

if TYPE_CHECKING:
    from .crypto.outgoing import Protection
    from .handoff.reply import Handoff
    from .mail.actions import MailActions
    from .mail.sync import MailSync
    from .mail.worker import MailWorker
    from .model import ImPlan, OutboxItem
    from .outbox import Outbox
    from .xmpp.client import XmppClient

log = logging.getLogger(__name__)
T = TypeVar("T")


# The three answers a reply can get besides success, importable from one place:
# EngineError (cannot), UnmappedParty (who is X on that transport?), ContactAway
# (they are away: send anyway, defer, or email?). EnginePorts is importable from
# here as before.
__all__ = ["ContactAway", "Engine", "EngineError", "EnginePorts", "ReplyResult",
           "UnmappedParty", "default_store_path"]

# Names this module imported before its parts moved out, importable from here as
# before (the types of the Engine's calls among them); each is imported on first
# use, so that importing the engine loads no protocol library it does not need.
MOVED = {
    **dict.fromkeys(("Occupant", "RosterItem", "XmppClient", "XmppError"), "xmpp.client"),
    "XmppLoginError": "xmpp.session", "XmppTransport": "xmpp.port", "probe_xmpp": "xmpp.port",
    "bare_jid": "xmpp.stanzas", "MailTransport": "mail.port", "MailSender": "mail.send",
    "MailSync": "mail.sync", "MailWorker": "mail.worker", "MailActions": "mail.actions",
    **dict.fromkeys(("Cursor", "Reaction", "Revision", "owner"), "store"),
    "ImPlan": "handoff", "TriageDone": "events", "HealthReport": "model",
    **dict.fromkeys(("normalize_email", "normalize_jid"), "identity"),
    **dict.fromkeys(("ANSWERED", "FLAGGED", "SEEN", "Availability", "Contact",
                     "ContactPresence", "DeliveryState", "Folder", "Message", "OutboxItem",
                     "OutboxLogEntry", "Thread", "Transport"), "model"),
}


def __getattr__(name: str) -> Any:
    if name in MOVED:
        value = getattr(importlib.import_module(f"{__package__}.{MOVED[name]}"), name
                        if name != "bare_jid" else "bare")
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# What a mail port's start imports (`load_stack`).
MAIL_STACK = ("bridge.mail.port",)
# What the engine's policy imports at start, after the mail ports are up: the
# outbox (with the Deferred folder's MIME) and the handoff behind its fallbacks.
POLICY_STACK = ("bridge.outbox", "bridge.handoff.reply")
# How long the chat accounts' start waits for INBOX's newest page (`InboxFirst`):
# a slow or silent IMAP server holds chat back no longer than this.
INBOX_FIRST = 2.0


def load_stack(modules: Sequence[str]) -> None:
    """Import `modules`, in the thread that calls it. The engine runs this in a
    thread of its own before a transport starts: the import of the XMPP stack
    (slixmpp and its plugins) takes ~0.3 s of CPU, which on the
    caller's loop (the app's) held back the event that puts INBOX's newest rows
    on the screen. Python's import locks keep a module from being imported twice
    at once; the loop imports none of these meanwhile."""
    for name in modules:
        importlib.import_module(name)


def load_xmpp(omemo: bool) -> None:
    """`load_stack` for the XMPP client: its modules, the slixmpp plugins its
    session registers (slixmpp imports each at registration, on the loop) and,
    with OMEMO on, our standby plugin (bridge/xmpp/omemo_plugin.py). python-omemo
    itself is loaded at its first need, in a thread of its own
    (bridge/xmpp/omemo.py; docs/DESIGN.md, OMEMO)."""
    from .xmpp.core import PLUGINS

    plugins = [f"slixmpp.plugins.{p}" for p in PLUGINS if p.startswith("xep_")]
    extra = ["slixmpp.plugins.xep_0380", "bridge.xmpp.omemo_plugin"] if omemo else []
    load_stack(["bridge.xmpp.client", *plugins, *extra])


class HandoffFallbacks:
    """The outbox's fallbacks (bridge.outbox.Fallbacks): the handoff's, reached
    through `handoff()` at the first one, so that the outbox is made without the
    handoff (its modules are not the first frame's) and holds no engine."""

    def __init__(self, handoff: Callable[[], Handoff]) -> None:
        self._handoff = handoff

    async def email_instead(self, plan: ImPlan, people: Sequence[str],
                            protection: Protection | None = None) -> str:
        return await self._handoff().email_instead(plan, people, protection)

    async def im_instead(self, item: OutboxItem) -> list[tuple[ImPlan, list[str]]]:
        return await self._handoff().im_instead(item)


class InboxFirst:
    """Until each of these accounts' mail port has stored its INBOX's newest page
    (or its pass failed): `Engine.start` waits for it, at most INBOX_FIRST
    seconds, before the outbox, the handoff and the chat accounts start. The
    XMPP stack's import (slixmpp and its plugins: ~0.3 s of CPU)
    in a thread would otherwise share the interpreter with the worker's login,
    fetch and store of that page (issue 22, row 1; the app draws it after).
    The sign is the sync's own events, heard in the worker's thread: the first
    screen's progress, INBOX's `FolderChanged` (a pass with nothing new), or a
    failed IMAP health."""

    def __init__(self, events: EventBus, accounts: Sequence[str]) -> None:
        self._loop = asyncio.get_running_loop()
        self._names = frozenset(accounts)
        self.waiting = set(accounts)
        self._stored = asyncio.Event()
        self._unsubscribe = events.subscribe(self._heard) if accounts else None

    def _heard(self, event: Event) -> None:  # in the publisher's thread
        if getattr(event, "account", None) not in self._names:
            return
        if (isinstance(event, (SyncProgress, FolderChanged))
                and event.folder.upper() == "INBOX") or \
                (isinstance(event, HealthChanged) and event.service == "imap"
                 and not event.ok):
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self.settle, event.account)

    def settle(self, account: str) -> None:
        """`account`'s INBOX needs no more waiting for (on the loop)."""
        self.waiting.discard(account)
        if not self.waiting:
            self._stored.set()

    async def wait(self, timeout: float) -> None:
        if self._unsubscribe is None:
            return
        try:
            if self.waiting:
                await asyncio.wait_for(self._stored.wait(), timeout)
        except TimeoutError:
            log.info("INBOX of %s not stored after %.0f s; going on",
                     ", ".join(sorted(self.waiting)), timeout)
        finally:
            self._unsubscribe()


class Engine(EngineReads, SendingVerbs, MailVerbs, ChatVerbs):
    def __init__(self, config: Config, store: Store | None = None, *,
                 mail_refresh: float = 300.0, mail_poll: float = 60.0,
                 timings: Timings | None = None, present: bool = True) -> None:
        self.config = config
        # A client (the app, `serve`, `watch`, `run`): its chat sessions announce
        # themselves and it sets the presence other processes ask for
        # (bridge.presence_wanted). A one-shot command's engine does neither.
        self.present = present
        self._presence_follower: asyncio.Task[None] | None = None
        # The health cycle comes from [health]; tests may pass other timings.
        self.timings = timings or Timings(
            health_interval=config.health.interval,
            health_critical=config.health.critical_interval,
            probe_timeout=config.health.timeout)
        self.events = EventBus()
        self.store = store or Store.open(default_store_path())
        self.identity = Identity(config, self.store, roster_named=self._roster_named)
        self.xmpp: dict[str, XmppClient] = {}
        self.mail: dict[str, MailWorker] = {}
        self.mail_refresh, self.mail_poll = mail_refresh, mail_poll
        self.ports = EnginePorts(self)
        # The outbox and the handoff are made on first use (`outbox`, `handoff`
        # below): their modules bring the MIME builder and the crypto planning,
        # which the app's first frame does not need (issue 22, row 6).
        t = self.timings
        self.health = HealthMonitor(self.store, self.events, self.ports, config.accounts,
                                    interval=t.health_interval,
                                    critical_interval=t.health_critical, timeout=t.probe_timeout)
        self.events.subscribe(self._persist_event)
        self._sync_config_into_store()
        self.configure_autocrypt()
        self.identity.dual_domains.update(dual_domains(config))  # bridge.reader's


    @functools.cached_property
    def outbox(self) -> Outbox:
        """The durable sender of chat legs and keeper of deferrals (bridge.outbox),
        made on first use: by `start`, or by the first call that sends. Its
        fallbacks (a chat leg as an email, an email as chat legs) are the
        handoff's, which is made at the first of them."""
        from .outbox import Outbox

        return Outbox(self.store, self.events, self.config, self.identity, self.ports,
                      fallbacks=HandoffFallbacks(lambda: self.handoff))

    @functools.cached_property
    def handoff(self) -> Handoff:
        """Replies on either transport and the moves between them (bridge.handoff),
        made on first use: a reply, a handoff, a timeline read."""
        from .handoff.reply import Handoff

        return Handoff(self.config, self.store, self.identity, self.ports, self.outbox)

    @functools.cached_property
    def mailbox(self) -> MailActions:
        """The mail actions (triage, files, forward, drafts), made on first use:
        they bring the IMAP library, which a read-only verb never needs."""
        from .mail.actions import MailActions

        return MailActions(self.store, self.events, self.account,
                           lambda account, job: self._imap(account, job), self._send_mail)
    def _sync_config_into_store(self) -> None:
        sync_config_into_store(self.config, self.store)  # as a Reader does (bridge.reader)

    # Events worth keeping: `tuiclient watch` follows them from the store, so it
    # sees what every process sharing this store did, in order. Server health is
    # kept as the health monitor's `HealthReported`, and only when a server's state
    # changed (down, back, push stalled, on or off the critical list): not every
    # probe, and not `HealthChanged`, which says the same with less and repeats
    # itself on every retry of a worker.
    # The outbox's own events (OutboxChanged, EmailDelivery, DeferralRetry) are
    # kept by bridge.delivery, in the transaction that moves their row.
    PERSISTED_EVENTS = frozenset({
        "OutboxChanged", "DeliveryChanged", "DeferralRetry", "MessageReceived",
        "EmailDelivery", "PresenceChanged", "HealthReported", "FolderChanged",
        "RoomInvitation", "SubscriptionRequest", "TriageDone",
        "MessageChanged",  # chat: a line corrected, retracted or reacted to
        "RoomHappened"})  # a room's timeline between its lines (kicks, nicks, topics)

    def _persist_event(self, event: Event) -> None:
        kind = type(event).__name__
        if kind not in self.PERSISTED_EVENTS or kind in KEPT_HERE:
            return
        if isinstance(event, HealthReported) and not event.changed:
            return
        try:
            self.store.add_event(kind, dataclasses.asdict(event))
        except Exception:  # a full disk must not break the sender of the event
            log.exception("could not keep a %s event", kind)

    def close(self) -> None:
        self.ports.close()
        self.store.close()

    @property
    def accounts(self) -> tuple[AccountConfig, ...]:
        return self.config.accounts

    def account(self, name: str | None = None) -> AccountConfig:
        """The account called `name`, or the only/first one when None."""
        if name is None:
            if not self.accounts:
                raise EngineError(refuse.no_accounts())
            return self.accounts[0]
        try:
            return self.config.account(name)
        except KeyError:
            raise EngineError(refuse.unknown_account(
                name, [a.name for a in self.accounts])) from None

    # -- running --------------------------------------------------------------------

    async def start(self, *, mail: bool = True, xmpp: bool = True,
                    accounts: Sequence[str] | None = None, timeout: float = 30.0) -> None:
        """Bring every account's transports up; a server that fails is reported
        as a health event and retried in the background, never raised."""
        chosen = [a for a in self.accounts if accounts is None or a.name in accounts]
        chatted = [a for a in chosen if xmpp and a.xmpp and a.jid and a.name not in self.xmpp]
        # Mail first: its worker thread logs in and fetches INBOX's newest page;
        # the outbox and the chat accounts start when that page is stored (see
        # `InboxFirst`). The protocol stacks, the outbox and the handoff are
        # imported in a thread (`load_stack`): this loop is the app's, and an
        # event that brings INBOX's rows must not wait behind an import.
        mailed = [a for a in chosen if mail and a.imap and a.name not in self.mail]
        if mailed:
            await asyncio.to_thread(load_stack, MAIL_STACK)
        # Listening before the workers start: a warm INBOX may be stored at once.
        inbox = InboxFirst(self.events, [a.name for a in mailed] if chatted else [])
        for account in mailed:
            port = self.ports.mail(account.name)
            await port.start()
            if port.worker is not None:
                self.mail[account.name] = port.worker
            else:
                inbox.settle(account.name)
        await inbox.wait(INBOX_FIRST)
        # Before the chat accounts: the outbox hears their presence and receipts.
        await asyncio.to_thread(load_stack, POLICY_STACK)
        if self.outbox._task is None:
            self.outbox.start()
        await asyncio.gather(*(self._start_xmpp(a, timeout) for a in chatted))
        if self.present and chatted and self._presence_follower is None:
            from . import presence_wanted

            self._presence_follower = asyncio.ensure_future(presence_wanted.follow(self))
        for account in chosen:
            await self.outbox.recover(account.name)
        self.health.start()

    async def _start_xmpp(self, account: AccountConfig, timeout: float) -> None:
        try:
            password = await asyncio.to_thread(get_password, account, "xmpp")
        except SecretError as exc:
            self.events.publish(HealthChanged(account.name, "xmpp", False, str(exc)))
            return
        # Imported here, and first in a thread (see `start`): slixmpp is loaded only
        # by a process that goes online for chat, not by the commands that only
        # read the store (`list`, `show`).
        await asyncio.to_thread(load_xmpp, self.config.crypto.omemo)
        from .xmpp.client import XmppClient
        from .xmpp.session import XmppLoginError

        client = XmppClient(account, password, self.store, self.events,
                            ping_interval=self.timings.xmpp_ping_interval,
                            ping_timeout=self.timings.xmpp_ping_timeout,
                            chat_states=self.config.chat.chat_states,
                            omemo=self.config.crypto.omemo, present=self.present)
        self.xmpp[account.name] = client
        try:
            await client.start(timeout)
        except XmppLoginError as exc:
            self.xmpp.pop(account.name, None)
            self.events.publish(HealthChanged(account.name, "xmpp", False, str(exc)))
            return
        self.events.publish(HealthChanged(account.name, "xmpp", True, f"online as {client.own}"))

    async def stop(self) -> None:
        if self._presence_follower is not None:
            self._presence_follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._presence_follower
            self._presence_follower = None
        await self.health.stop()
        if "outbox" in self.__dict__:  # made (`outbox`): by `start` or a send
            await self.outbox.stop()
        clients, self.xmpp = list(self.xmpp.values()), {}
        self.mail = {}
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
        await self.ports.stop_mail()

    def xmpp_client(self, account: str) -> XmppClient:
        client = self.xmpp.get(account)
        if client is None:
            raise EngineError(refuse.no_chat_connection(account))
        return client

    async def _imap(self, account: str, job: Callable[[MailSync], T]) -> T:
        """An IMAP job on the account's on-demand connection (see MailTransport.run)."""
        return await self.ports.mail(account).run(job)

    async def sync(self, account: str | None = None, *, here: bool = False) -> None:
        """One full sync pass now (headless `sync`, the app's refresh): by the
        running worker, or in a thread here (always, with `here`: the caller
        waits for the pass and hears of its errors)."""
        names = [account] if account else [a.name for a in self.accounts if a.imap]
        for name in names:
            port = self.ports.mail(name)
            if here:
                await port.run(lambda s: s.sync_all())
            else:
                await port.sync_now()

    # -- chat (the rest of it: bridge.engine_chat) --
    # The last method of the class: the front ends' branches add their small
    # reads and calls after it.

    def send_chat_state(self, account: str, jid: str, state: str) -> None:
        """Typing, paused, ... (XEP-0085), to contacts whose clients take it."""
        client = self.xmpp.get(account)
        if client is not None:
            client.send_chat_state(jid, state)


@contextlib.contextmanager
def _chat_refusal() -> Iterator[None]:
    """A refusal of the XMPP layer (the server's, a room's, or its own rule) as the
    engine's error, with its reason."""
    with chat_refusal():  # bridge.engine_chat's, kept here for this module's calls
        yield

