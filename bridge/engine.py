"""The engine: the one facade the app and headless mode talk to.

It owns each account's transports while running (`start()`/`stop()`): a
`MailWorker` thread per IMAP account (sync, IDLE, outbox flush) and an
`XmppClient` per XMPP account on the caller's asyncio loop. Everything the user
can do is a method here: read (conversations, timeline, search, availability),
reply on either transport, and move a conversation between them (see
`bridge.handoff` for the text that goes along). Blocking protocol work
(imapclient, smtplib) runs in threads; the caller's loop never waits on it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import logging
import mimetypes
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import TypeVar

from .config import AccountConfig, Config, SecretError, get_password
from .delivery import KEPT_HERE
from .errors import EngineError
from .events import Event, EventBus, HealthChanged, HealthReported
from .handoff import (
    ImPlan,
    chat_digest,
    chat_thread_attachments,
    chat_transcript,
    email_body,
    pick_attachments,
)
from .health import HealthMonitor, Timings
from .identity import Identity, Resolution, UnmappedParty, normalize_email, normalize_jid
from .mail.compose import build_email, reply_headers, reply_subject
from .mail.mime import parse_message, to_message
from .mail.port import MailTransport
from .mail.send import MailSender
from .mail.sync import MailSync
from .mail.worker import MailWorker
from .model import (
    ANSWERED,
    FLAGGED,
    SEEN,
    Availability,
    Contact,
    ContactPresence,
    DeliveryState,
    Direction,
    Folder,
    HealthReport,
    Message,
    OutboxItem,
    OutboxLogEntry,
    Party,
    Thread,
    Transport,
    new_message_id,
)
from .outbox import WHEN_AWAY, ContactAway, Outbox, describe_presence, sender_party
from .paths import data_dir, ensure_private_dir
from .store import Cursor, Store, owner
from .xmpp.client import XmppClient
from .xmpp.session import XmppLoginError
from .xmpp.stanzas import bare as bare_jid
from .xmpp.stanzas import default_thread_id
from .xmpp_port import XmppTransport, probe_xmpp

log = logging.getLogger(__name__)
T = TypeVar("T")


# The three answers a reply can get besides success, importable from one place:
# EngineError (cannot), UnmappedParty (who is X on that transport?), ContactAway
# (they are away: send anyway, defer, or email?).
__all__ = ["ContactAway", "Engine", "EngineError", "ReplyResult", "UnmappedParty"]


@dataclass
class ReplyResult:
    """What a reply or handoff sent: chat messages, queued emails, the room used."""

    via: str
    chat: list[Message] = field(default_factory=list)
    emails: list[int] = field(default_factory=list)  # outbox ids
    email_ids: list[str] = field(default_factory=list)  # their message ids
    room: str | None = None
    outbox: list[int] = field(default_factory=list)  # chat legs' outbox rows
    deferred: bool = False
    thread_id: str = ""
    mapped: dict[str, str] = field(default_factory=dict)
    unmapped: list[Resolution] = field(default_factory=list)

class Engine:
    def __init__(self, config: Config, store: Store | None = None, *,
                 mail_refresh: float = 300.0, mail_poll: float = 60.0,
                 timings: Timings | None = None) -> None:
        self.config = config
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
        self.outbox = Outbox(self.store, self.events, config, self.identity, self.ports,
                             fallbacks=self)
        t = self.timings
        self.health = HealthMonitor(self.store, self.events, self.ports, config.accounts,
                                    interval=t.health_interval,
                                    critical_interval=t.health_critical, timeout=t.probe_timeout)
        self.events.subscribe(self._persist_event)
        self._sync_config_into_store()
        for account in config.accounts:
            # "A JID equal to an email address on a server that has both."
            if account.email and account.jid and \
                    account.email.rpartition("@")[2].lower() == \
                    account.jid.rpartition("@")[2].lower():
                self.identity.dual_domains.add(account.email.rpartition("@")[2].lower())

    def _sync_config_into_store(self) -> None:
        for account in self.config.accounts:
            self.store.upsert_account(account.name, account.email, account.jid)
        for contact in self.config.contacts:
            self.store.add_contact(contact.name, contact.emails, contact.jids, source="config")

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
        "RoomInvitation", "SubscriptionRequest"})

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

    async def mark(self, row_id: int, flag: str, on: bool = True, *,
                   tell: bool = True) -> None:
        """Set or clear a flag (read, flagged, answered) on a message, on the server
        too for an email; marking a chat line read tells its sender (XEP-0333),
        unless `tell` is False: a displayed marker covers every earlier line of its
        chat, so when several lines are read at once only the newest is told."""
        names = {"read": SEEN, "seen": SEEN, "flagged": FLAGGED, "answered": ANSWERED}
        if flag.lower() not in names:
            raise EngineError(f"flag must be read, flagged or answered, not {flag!r}")
        system = names[flag.lower()]
        m = self.message(row_id)
        chat = self.ports.chat(m.account)
        if m.transport is Transport.EMAIL and m.folder and m.uid is not None:
            await self.ports.mail(m.account).set_flag(m.folder, m.uid, system, on)
        elif m.transport is Transport.XMPP and system == SEEN and on and chat is not None:
            await chat.mark_read(row_id, tell=tell)
        else:
            flags = set(m.flags)
            (flags.add if on else flags.discard)(system)
            self.store.set_flags(row_id, flags)

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
                raise EngineError("no accounts are configured")
            return self.accounts[0]
        try:
            return self.config.account(name)
        except KeyError as exc:
            raise EngineError(str(exc.args[0]) if exc.args else str(exc)) from None

    # -- running --------------------------------------------------------------------

    async def start(self, *, mail: bool = True, xmpp: bool = True,
                    accounts: Sequence[str] | None = None, timeout: float = 30.0) -> None:
        """Bring every account's transports up; a server that fails is reported
        as a health event and retried in the background, never raised."""
        chosen = [a for a in self.accounts if accounts is None or a.name in accounts]
        if self.outbox._task is None:
            self.outbox.start()
        jobs = []
        for account in chosen:
            if xmpp and account.xmpp and account.jid and account.name not in self.xmpp:
                jobs.append(self._start_xmpp(account, timeout))
            if mail and account.imap and account.name not in self.mail:
                port = self.ports.mail(account.name)
                await port.start()
                if port.worker is not None:
                    self.mail[account.name] = port.worker
        await asyncio.gather(*jobs)
        for account in chosen:
            await self.outbox.recover(account.name)
        self.health.start()

    async def _start_xmpp(self, account: AccountConfig, timeout: float) -> None:
        try:
            password = await asyncio.to_thread(get_password, account, "xmpp")
        except SecretError as exc:
            self.events.publish(HealthChanged(account.name, "xmpp", False, str(exc)))
            return
        client = XmppClient(account, password, self.store, self.events,
                            ping_interval=self.timings.xmpp_ping_interval,
                            ping_timeout=self.timings.xmpp_ping_timeout)
        self.xmpp[account.name] = client
        try:
            await client.start(timeout)
        except XmppLoginError as exc:
            self.xmpp.pop(account.name, None)
            self.events.publish(HealthChanged(account.name, "xmpp", False, str(exc)))
            return
        self.events.publish(HealthChanged(account.name, "xmpp", True, f"online as {client.own}"))

    async def stop(self) -> None:
        await self.health.stop()
        await self.outbox.stop()
        clients, self.xmpp = list(self.xmpp.values()), {}
        self.mail = {}
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
        await self.ports.stop_mail()

    def xmpp_client(self, account: str) -> XmppClient:
        client = self.xmpp.get(account)
        if client is None:
            raise EngineError(f"account {account!r} has no XMPP connection (not started, "
                              "no [accounts.xmpp], or its login failed)")
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

    # -- reading --------------------------------------------------------------------

    def conversations(self, account: str | None = None, limit: int = 50,
                      before: float | Cursor | None = None) -> list[Thread]:
        """A page of conversations of both transports, most recent first."""
        return self.store.list_threads(account, limit=limit, before=before)

    def folders(self, account: str) -> list[Folder]:
        """The account's folders. `unread` is what the store holds unread there once
        a sync pass of the folder completed (so it follows reading, new mail and
        flags changed elsewhere at once); before that, the server's last count."""
        folders = self.store.folders(account)
        if not any(f.uidnext is not None for f in folders):
            return folders
        counts = self.store.unread_by_folder(account)
        return [dataclasses.replace(f, unread=counts.get(f.name, 0))
                if f.uidnext is not None else f for f in folders]

    def thread(self, account: str, thread_id: str) -> Thread | None:
        """One conversation's summary (subject, counts, transports)."""
        return self.store.get_thread(account, thread_id)

    def contacts(self) -> list[Contact]:
        return self.store.contacts()

    def outbox_items(self, states: Sequence[DeliveryState | str] | None = None
                     ) -> list[OutboxItem]:
        """What waits or was sent through the outbox, oldest first."""
        return self.store.outbox_items(states=states)

    def outbox_log(self, outbox_id: int) -> list[OutboxLogEntry]:
        return self.store.outbox_history(outbox_id)

    @staticmethod
    def outbox_text(item: OutboxItem) -> str:
        """The words of an outbox row, whichever transport it waits for."""
        plan = item.payload.get("plan") if item.payload else None
        if isinstance(plan, dict):
            return str(plan.get("text", ""))
        return ""

    def message(self, row_id: int) -> Message:
        m = self.store.get_message(row_id)
        if m is None:
            raise EngineError(f"no message {row_id}")
        return m

    def timeline(self, account: str, thread_id: str) -> list[Message]:
        """A conversation as one list across both transports, oldest first.

        A message seen through both transports (one message id) appears once: the
        copy with the furthest delivery state and a body wins.
        """
        seen: dict[str, Message] = {}
        for m in self.store.thread_messages(thread_id, account):
            old = seen.get(m.msg_id)
            if old is None or (not old.text and m.text):
                seen[m.msg_id] = m
        return sorted(seen.values(), key=lambda m: (m.date, m.id or 0))

    def search(self, query: str, limit: int = 50, account: str | None = None) -> list[Message]:
        """Search mail and chat. A bulk import leaves rows waiting for the full-text
        index; catch up first, so what was just synced is found."""
        self._catch_up_index()
        return self.store.search(query, limit=limit, account=account)

    def _catch_up_index(self) -> None:
        while self.store.index_pending() and self.store.index_backlog():
            pass

    async def fetch_body(self, row_id: int) -> Message:
        """The message with its body, fetched (BODY.PEEK) and cached if needed."""
        m = self.message(row_id)
        if m.transport is Transport.EMAIL and m.uid is not None and \
                not self.store.has_body(row_id):
            await self.ports.mail(m.account).fetch_body(row_id)
            m = self.message(row_id)
        return m

    async def fetch_headers(self, row_id: int, names: Sequence[str]) -> dict[str, str]:
        """Named header fields of an email, read from the IMAP server (the store
        keeps only the ones threading and display need)."""
        m = self.message(row_id)
        if m.transport is not Transport.EMAIL or m.uid is None:
            return {}
        return await self.ports.mail(m.account).fetch_headers(row_id, names)

    def availability(self, account: str, address: str) -> ContactPresence:
        """A contact's availability by JID or by email address (mapped to its JID)."""
        jid = normalize_jid(address) if "@" in address else address
        if "@" in address and normalize_email(address):
            r = self.identity.jid_for(address)
            if r.address:
                jid = r.address
        client = self.xmpp.get(account)
        if client is None or not jid:
            return ContactPresence(jid or address, Availability.UNKNOWN)
        return client.availability(jid)

    def _roster_named(self, name: str) -> list[str]:
        wanted = name.casefold()
        return [item.jid for client in self.xmpp.values() for item in client.roster()
                if item.name and item.name.casefold() == wanted]

    # -- sending ----------------------------------------------------------------------

    def _sender(self, account: str) -> MailSender:
        return self.ports.mail(account).sender

    async def queue_email(self, account: str, mail: EmailMessage, msg_id: str) -> int:
        """Put an email in the outbox (durably) and send it as soon as possible."""
        return await self.ports.mail(account).send_leg(mail, msg_id)

    def _me(self, account: AccountConfig) -> list[str]:
        return [a for a in (account.email, account.jid) if a]

    def _from(self, account: AccountConfig) -> Party:
        return sender_party(account)

    async def reply(self, row_id: int, text: str, *, via: str = "auto",
                    reply_all: bool = False, history: bool = False,
                    attachments: Sequence[str] | str | None = None, mixed: bool = False,
                    separate_chats: bool = False,
                    when_away: str | None = None,
                    headers: dict[str, str] | None = None) -> ReplyResult:
        """Answer a message by email or by IM, whatever transport it came by.

        `via`: "email", "im", or "auto" (IM when every party is mapped and
        available, email otherwise). `history` carries the earlier messages along
        (a digest to chat, a transcript or quote to email); `attachments` names
        the thread's files to send along ("all" for every one). Parties that
        cannot be reached on the chosen transport raise `UnmappedParty`, unless
        `mixed`: then they get their part on the other transport, in the same
        thread. Several chat parties share one new room unless `separate_chats`.

        `when_away` decides for a chat to someone not available: "ask" raises
        `ContactAway` (with their status texts) before anything is sent, "send"
        sends anyway, "defer" keeps it in the outbox until they are available,
        "email" sends it by email instead. None: the config's deferral policy.
        """
        # Backfilled mail keeps its recipients aside until the index catches up;
        # reply-all needs them.
        self._catch_up_index()
        original = self.message(row_id)
        if via not in ("email", "im", "auto"):
            raise EngineError(f"--via must be email, im or auto, not {via!r}")
        if via == "auto":
            via = self._auto_via(original, reply_all)
        when_away = when_away or self.config.deferral.policy
        if when_away not in WHEN_AWAY:
            raise EngineError(f"when_away must be one of {', '.join(WHEN_AWAY)}")
        if via == "im":
            return await self._reply_by_im(original, text, reply_all, history, attachments,
                                           mixed, separate_chats, when_away, headers)
        return await self._reply_by_email(original, text, reply_all, history, attachments,
                                          mixed, headers)

    def _auto_via(self, original: Message, reply_all: bool) -> str:
        account = self.account(original.account)
        if account.name not in self.xmpp:
            return "email"
        if original.transport is Transport.XMPP:
            jids = self._chat_parties(original, reply_all)
        else:
            mapped, unresolved = self.identity.map_parties(
                [p.address for p in self._email_parties(original, reply_all)], "xmpp")
            if unresolved:
                return "email"
            jids = list(mapped.values())
        if not jids:
            return "email"
        client = self.xmpp[account.name]
        ok = all(client.availability(j).availability is Availability.AVAILABLE for j in jids)
        return "im" if ok else "email"

    # -- the parties of a reply ---------------------------------------------------------

    def _email_parties(self, original: Message, reply_all: bool) -> list[Party]:
        account = self.account(original.account)
        if original.transport is Transport.EMAIL:
            h = reply_headers(original, self._me(account), reply_all)
            return [*h.to, *h.cc]
        raise AssertionError("email parties of a chat message are mapped from its JIDs")

    def _room_of(self, m: Message) -> str | None:
        if m.transport is not Transport.XMPP or not m.recipients:
            return None
        target = normalize_jid(m.recipients[0].address)
        client = self.xmpp.get(m.account)
        if client is not None and (target in client.rooms() or target in client.state.rooms):
            return target
        return None

    def _chat_parties(self, original: Message, reply_all: bool) -> list[str]:
        """The bare JIDs a reply to a chat message goes to (never our own)."""
        account = self.account(original.account)
        own = normalize_jid(account.jid or "")
        room = self._room_of(original)
        people: list[str] = []
        if original.direction is Direction.IN:
            people.append(normalize_jid(original.sender.address))
        else:
            people.extend(normalize_jid(p.address) for p in original.recipients)
        if room is not None:
            people = [p for p in people if p != room]
            if reply_all:
                client = self.xmpp.get(original.account)
                if client is not None:
                    people.extend(normalize_jid(o.jid) for o in client.occupants(room) if o.jid)
                for m in self.store.thread_messages(original.thread_id, original.account):
                    if m.transport is Transport.XMPP and self._room_of(m) == room:
                        people.append(normalize_jid(m.sender.address))
        out: list[str] = []
        for p in people:
            if p and p != own and p != room and p not in out:
                out.append(p)
        return out

    # -- email -> chat ----------------------------------------------------------------

    async def _reply_by_im(self, original: Message, text: str, reply_all: bool,
                           history: bool, attachments: Sequence[str] | str | None,
                           mixed: bool, separate_chats: bool, when_away: str,
                           headers: dict[str, str] | None = None) -> ReplyResult:
        account = self.account(original.account)
        client = self.xmpp_client(account.name)
        thread = await self._thread_with_bodies(original, history or bool(attachments))
        result = ReplyResult("im", thread_id=original.thread_id)
        leftover: list[Party] = []
        if original.transport is Transport.XMPP:
            room = self._room_of(original)
            targets = [room] if room else self._chat_parties(original, reply_all)
        else:
            parties = self._email_parties(original, reply_all)
            if not parties:
                raise EngineError("nobody to reply to: the message has no other party")
            mapped, unresolved = self.identity.map_parties(
                [p.address for p in parties], "xmpp")
            result.mapped, result.unmapped = mapped, unresolved
            if unresolved and not mixed:
                raise UnmappedParty("xmpp", unresolved)
            unresolved_set = {r.query for r in unresolved}
            leftover = [p for p in parties if normalize_email(p.address) in unresolved_set]
            targets = list(dict.fromkeys(mapped.values()))
        if not targets and not leftover:
            raise EngineError("nobody to reply to by chat")
        files = await self._gather_files(thread, attachments)
        earlier = thread  # the digest covers the thread up to and including the original
        already_in_chat = {normalize_jid(p.address) for m in thread
                           if m.transport is Transport.XMPP for p in (m.sender, *m.recipients)}
        plans: list[ImPlan] = []
        domain = client.domain
        separate_chats = separate_chats or self.config.handoff.group_chats == "separate"
        use_room = original.transport is Transport.EMAIL and len(targets) > 1 \
            and not separate_chats
        if original.transport is Transport.XMPP and targets and self._room_of(original):
            plans.append(self._plan(account.name, targets[0], original.thread_id, text, domain,
                                    room=True))
        elif use_room:
            room = await self._room_for(client, original.thread_id)
            plans.append(self._plan(account.name, room, original.thread_id, text, domain,
                                    room=True, invite=targets,
                                    room_name=original.subject or "conversation"))
        else:
            plans.extend(self._plan(account.name, t, original.thread_id, text, domain)
                         for t in targets)
        people: list[list[str]] = []
        for plan in plans:
            # History goes once: a chat that already has this thread needs none.
            if history and earlier and plan.to not in already_in_chat:
                plan.history = chat_digest(earlier)
                plan.history_id = new_message_id(domain)
            plan.files = [dict(f, id=new_message_id(domain)) for f in files]
            people.append(list(plan.invite) if plan.room else [plan.to])
        away = [p for plan, who in zip(plans, people, strict=True)
                for p in self.outbox.unavailable(self.outbox.presences(plan, who))]
        if away and when_away == "ask":
            raise ContactAway(away)
        for plan, who in zip(plans, people, strict=True):
            if away and when_away == "email":
                result.email_ids.append(await self.email_instead(plan, who))
                continue
            outbox_id = await self.outbox.submit(
                plan, who, defer=bool(away) and when_away == "defer",
                reason="; ".join(describe_presence(p) for p in away))
            result.outbox.append(outbox_id)
            message = self.store.find_by_msg_id(plan.account, plan.msg_id)
            if message is not None:
                result.chat.append(message)
            if plan.room:
                result.room = plan.to
        if away and when_away == "email":
            result.via = "email"
        elif away and when_away == "defer":
            result.deferred = True
        if leftover:
            outbox_id, msg_id = await self._email_leg(original, leftover, text, headers)
            result.emails.append(outbox_id)
            result.email_ids.append(msg_id)
        return result

    def _plan(self, account: str, to: str, thread_id: str, text: str, domain: str, *,
              room: bool = False, invite: Sequence[str] = (), room_name: str = "") -> ImPlan:
        return ImPlan(account=account, to=to, thread_id=thread_id, text=text,
                      msg_id=new_message_id(domain), room=room, invite=list(invite),
                      room_name=room_name)

    async def _room_for(self, client: XmppClient, thread_id: str) -> str:
        """The room of a thread: named after it, so a second handoff finds it again."""
        for jid, bound in client.state.threads.items():
            if bound == thread_id and jid in client.state.rooms:
                return jid
        service = await client.muc_service()
        digest = hashlib.sha256(thread_id.encode()).hexdigest()[:12]
        return f"thread-{digest}@{service}"

    async def send_im_plan(self, plan: ImPlan, skip: frozenset[str] = frozenset()
                           ) -> list[Message]:
        """Send one chat leg: join or create the room, invite, then the history,
        the new text and the files, each with the thread id and its own fixed id.
        The parts whose ids are in `skip` (the server already holds them) are not
        sent again."""
        self.xmpp_client(plan.account)  # an EngineError when there is no connection
        chat = self.ports.chat(plan.account)
        assert chat is not None
        return await chat.send_leg(plan, skip)

    async def _thread_with_bodies(self, original: Message, needed: bool) -> list[Message]:
        """The thread's timeline; with every email body fetched when history or
        files go along (header sync alone knows neither the text nor the files)."""
        thread = self.timeline(original.account, original.thread_id)
        if not needed:
            return thread
        missing = [m.id for m in thread if m.transport is Transport.EMAIL
                   and m.uid is not None and m.id is not None
                   and not self.store.has_body(m.id)]
        for row_id in missing:
            await self.fetch_body(row_id)
        return self.timeline(original.account, original.thread_id) if missing else thread

    async def _gather_files(self, thread: list[Message],
                            wanted: Sequence[str] | str | None) -> list[dict[str, str | int]]:
        """The chosen files of a thread, with their bytes in the store's blobs."""
        chosen = pick_attachments(chat_thread_attachments(thread), wanted)
        files: list[dict[str, str | int]] = []
        for m, a in chosen:
            if a.sha256 is None:
                assert m.id is not None
                row, index = m.id, m.attachments.index(a)
                if m.transport is Transport.EMAIL:
                    m = await self.fetch_body(row)
                    if index < len(m.attachments) and m.attachments[index].sha256 is None \
                            and m.uid is not None:
                        # Over the body limit: the files come one by one.
                        await self.ports.mail(m.account).fetch_part(row, index)
                        m = self.message(row)
                else:
                    m.attachments = await self.xmpp_client(m.account).download(row)
                if index >= len(m.attachments) or m.attachments[index].sha256 is None:
                    raise EngineError(f"the file {a.filename!r} could not be fetched")
                a = m.attachments[index]
            ctype = a.content_type
            if not ctype or ctype == "application/octet-stream":
                ctype = mimetypes.guess_type(a.filename)[0] or "application/octet-stream"
            files.append({"name": a.filename, "type": ctype, "sha256": a.sha256 or "",
                          "size": a.size})
        return files

    async def _email_leg(self, original: Message, parties: Sequence[Party], text: str,
                         headers: dict[str, str] | None = None) -> tuple[int, str]:
        """The email part of a mixed reply: same text, same thread, to `parties`."""
        account = self.account(original.account)
        h = reply_headers(original, self._me(account), False)
        msg_id = new_message_id(self._domain(account))
        mail = build_email(self._from(account), [Party(p.address, p.name, "to")
                                                 for p in parties[:1]],
                           [Party(p.address, p.name, "cc") for p in parties[1:]],
                           h.subject, text, msg_id=msg_id, in_reply_to=h.in_reply_to,
                           references=h.references, extra_headers=headers)
        return await self.queue_email(account.name, mail, msg_id), msg_id

    @staticmethod
    def _domain(account: AccountConfig) -> str:
        address = account.email or account.jid or "tuiclient.invalid"
        return address.rpartition("@")[2]

    async def email_instead(self, plan: ImPlan, people: Sequence[str]) -> str:
        """A chat leg sent as one email: its text, history and files, to the
        people's email addresses, in the same thread. Returns the email's id."""
        account = self.account(plan.account)
        jids = [p for p in people if p] or [plan.to]
        mapped, unresolved = self.identity.map_parties(jids, "email")
        if unresolved:
            raise UnmappedParty("email", unresolved)
        addresses = list(dict.fromkeys(mapped.values()))
        thread = self.timeline(plan.account, plan.thread_id)
        emails = [m for m in thread if m.transport is Transport.EMAIL]
        if emails:
            h = reply_headers(emails[-1], [], False)
            subject, in_reply_to, references = h.subject, h.in_reply_to, h.references
        else:
            subject = reply_subject(f"Chat with {', '.join(addresses)}")
            in_reply_to, references = plan.thread_id, [plan.thread_id]
        body = plan.text.rstrip() + "\n"
        if plan.history:
            body += "\n" + plan.history + "\n"
        files = [(str(f["name"]), str(f["type"]),
                  self.store.blob_path(str(f["sha256"])).read_bytes()) for f in plan.files]
        msg_id = new_message_id(self._domain(account))
        mail = build_email(self._from(account),
                           [Party(a, self._name_of(a), "to") for a in addresses[:1]],
                           [Party(a, self._name_of(a), "cc") for a in addresses[1:]],
                           subject, body, msg_id=msg_id, in_reply_to=in_reply_to,
                           references=references, attachments=files)
        await self.queue_email(plan.account, mail, msg_id)
        return msg_id

    async def im_instead(self, item: OutboxItem) -> list[tuple[ImPlan, list[str]]]:
        """The chat legs of a queued email that goes by chat instead: to the JIDs
        of its To and Cc (one room for several, or one chat each by config), a
        chat each for its Bcc (a room would show them), with the subject above
        the text, its files, and its thread. Nothing is written here."""
        client = self.xmpp_client(item.account)
        if not client.connected:
            raise EngineError(f"account {item.account!r}: the XMPP server is not connected "
                              "either")
        raw = base64.b64decode(item.payload["raw"])
        mail = to_message(parse_message(raw), account=item.account, folder=None, uid=None,
                          direction=Direction.OUT, put_blob=self.store.store_blob)
        stored = self.store.find_by_msg_id(item.account, item.msg_id)
        thread_id = stored.thread_id if stored is not None else mail.thread_id
        envelope = [normalize_email(a) for a in item.payload.get("recipients", [])]
        mapped, unresolved = self.identity.map_parties(envelope, "xmpp")
        if unresolved:
            raise UnmappedParty("xmpp", unresolved)
        shown = {normalize_email(p.address) for p in mail.recipients}
        group = list(dict.fromkeys(j for a, j in mapped.items() if a in shown))
        hidden = [j for a, j in mapped.items() if a not in shown and j not in group]
        text = mail.text.strip()
        subject = (mail.subject or "").strip()
        if subject and reply_subject(subject) != subject:
            text = f"{subject}\n\n{text}" if text else subject
        files: list[dict[str, str | int]] = [
            {"name": a.filename, "type": a.content_type or "application/octet-stream",
             "sha256": a.sha256 or "", "size": a.size} for a in mail.attachments if a.sha256]
        domain = client.domain
        legs: list[tuple[ImPlan, list[str]]] = []
        if len(group) > 1 and self.config.handoff.group_chats != "separate":
            room = await self._room_for(client, thread_id)
            legs.append((self._plan(item.account, room, thread_id, text, domain, room=True,
                                    invite=group, room_name=subject or "conversation"),
                         group))
        else:
            legs.extend((self._plan(item.account, j, thread_id, text, domain), [j])
                        for j in group)
        legs.extend((self._plan(item.account, j, thread_id, text, domain), [j])
                    for j in hidden)
        for plan, _who in legs:
            plan.files = [dict(f, id=new_message_id(domain)) for f in files]
        if not legs:
            raise EngineError("the email has nobody to send a chat message to")
        return legs

    async def send_message(self, account: str, to: Sequence[str], text: str, *,
                           via: str = "im", subject: str = "",
                           when_away: str | None = None,
                           attachments: Sequence[Path] = ()) -> ReplyResult:
        """Start a conversation (or continue the chat with someone): by IM to JIDs
        (or email addresses mapped to them), or by email."""
        cfg = self.account(account)
        when_away = when_away or self.config.deferral.policy
        if via == "email":
            addresses = []
            for address in to:
                # A JID we know maps to its email address; anything else that looks
                # like an address is taken as an email address.
                mapped = self.identity.email_for(address).address
                email_address = mapped or normalize_email(address)
                if not email_address:
                    raise EngineError(f"not an email address: {address!r}")
                addresses.append(email_address)
            msg_id = new_message_id(self._domain(cfg))
            files = [(p.name, mimetypes.guess_type(p.name)[0] or "application/octet-stream",
                      p.read_bytes()) for p in attachments]
            mail = build_email(self._from(cfg), [Party(a, "", "to") for a in addresses], [],
                               subject, text, msg_id=msg_id, attachments=files)
            result = ReplyResult("email", thread_id=msg_id)
            result.emails.append(await self.queue_email(account, mail, msg_id))
            result.email_ids.append(msg_id)
            return result
        # With the chat server out of reach there is no client, or one that waits
        # to reconnect: the line is kept in the outbox like an email, and goes
        # once a process of ours reaches the server (the caller hears "queued").
        client = self.xmpp.get(account)
        online = client is not None and client.connected
        own = client.own if client is not None else bare_jid(cfg.jid or "")
        domain = client.domain if client is not None else self._domain(cfg)
        threads = client.state.threads if client is not None else {}
        jids = []
        unresolved = []
        for address in to:
            jid = normalize_jid(address)
            if not jid:
                raise EngineError(f"not a JID or an email address: {address!r}")
            found = self.chat_address(account, address)
            if found:
                jids.append(found)
            else:
                unresolved.append(self.identity.jid_for(address))
        if unresolved:
            raise UnmappedParty("xmpp", unresolved)
        result = ReplyResult("im")
        for jid in jids:
            plan = self._plan(account, jid, threads.get(jid) or
                              default_thread_id(own, jid), text, domain)
            for path in attachments:
                data = path.read_bytes()
                plan.files.append({"name": path.name, "type": mimetypes.guess_type(
                    path.name)[0] or "application/octet-stream",
                    "sha256": self.store.store_blob(data), "size": len(data),
                    "id": new_message_id(domain)})
            if not online:
                result.thread_id = plan.thread_id
                result.outbox.append(await self.outbox.submit(
                    plan, [jid], defer=False, reason="no connection to the chat server"))
                continue
            away = self.outbox.unavailable(self.outbox.presences(plan, [jid]))
            if away and when_away == "ask":
                raise ContactAway(away)
            if away and when_away == "email":
                result.email_ids.append(await self.email_instead(plan, [jid]))
                continue
            result.thread_id = plan.thread_id
            result.outbox.append(await self.outbox.submit(
                plan, [jid], defer=bool(away) and when_away == "defer",
                reason="; ".join(describe_presence(p) for p in away)))
            result.deferred = result.deferred or (bool(away) and when_away == "defer")
        return result

    def chat_address(self, account: str, address: str) -> str | None:
        """The JID to chat with for `address`: its mapping, or the address itself
        when it is written `xmpp:...` or known as a JID; None when unmapped.

        An address with no mapping is an email address until something says it is
        a JID: taking it as one would chat whoever holds that name on that server.
        """
        jid = normalize_jid(address)
        if not jid:
            return None
        r = self.identity.jid_for(address)
        if r.address:
            return r.address
        client = self.xmpp.get(account)
        if address.strip().lower().startswith("xmpp:") or (
                client is not None and self._known_jid(client, jid)):
            return jid
        return None

    def _known_jid(self, client: XmppClient, jid: str) -> bool:
        """Whether `jid` is known as a JID: a roster entry, a contact's JID (config
        or store), or someone this account already chats with."""
        if any(item.jid == jid for item in client.roster()):
            return True
        if any(jid in {normalize_jid(j) for j in c.jids} for c in self.config.contacts):
            return True
        contact = self.store.contact_for(jid)
        if contact is not None and jid in {normalize_jid(j) for j in contact.jids}:
            return True
        return jid in client.state.threads

    # -- the outbox -------------------------------------------------------------------

    async def drain(self, timeout: float = 10.0) -> None:
        """Before a process stops: send the emails that are due now, and wait (up to
        `timeout`) for the server's ack of the chat lines this process has on the
        wire, so what a command or `serve` accepted does not wait for the next
        process. Whatever is left stays in the outbox for the next one."""
        for account in self.accounts:
            if account.smtp is not None:
                await self.ports.mail(account.name).flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        me = owner.me()
        while loop.time() < deadline and any(
                i.owner == me for i in self.store.outbox_items(states=[DeliveryState.SENDING])):
            await asyncio.sleep(0.05)

    async def outbox_retry(self, outbox_id: int) -> None:
        """Send a waiting message now (a deferred chat goes whatever the presence)."""
        await self.outbox.retry_now(outbox_id)

    async def outbox_cancel(self, outbox_id: int) -> None:
        await self.outbox.cancel(outbox_id)

    async def outbox_email(self, outbox_id: int) -> str:
        """Stop deferring a chat message and send it by email instead."""
        return await self.outbox.send_by_email(outbox_id)

    async def outbox_im(self, outbox_id: int) -> list[int]:
        """Stop waiting for the mail server: send a queued email by chat instead."""
        return await self.outbox.send_by_im(outbox_id)

    # -- chat -> email ------------------------------------------------------------------

    async def _reply_by_email(self, original: Message, text: str, reply_all: bool,
                              history: bool, attachments: Sequence[str] | str | None,
                              mixed: bool, headers: dict[str, str] | None = None) -> ReplyResult:
        account = self.account(original.account)
        thread = await self._thread_with_bodies(original, history or bool(attachments))
        result = ReplyResult("email", thread_id=original.thread_id)
        msg_id = new_message_id(self._domain(account))
        if original.transport is Transport.EMAIL:
            files = await self._gather_files(thread, attachments)
            h = reply_headers(original, self._me(account), reply_all)
            to, cc, subject = h.to, h.cc, h.subject
            in_reply_to, references = h.in_reply_to, h.references
            body = text
            if history:
                quoted = "\n".join("> " + line for line in original.text.splitlines())
                body = (f"{text.rstrip()}\n\nOn {_date(original.date)}, "
                        f"{original.sender.name or original.sender.address} wrote:\n{quoted}")
        else:
            jids = self._chat_parties(original, reply_all)
            if not jids:
                raise EngineError("nobody to reply to: the chat has no other party")
            mapped, unresolved = self.identity.map_parties(jids, "email")
            result.mapped, result.unmapped = mapped, unresolved
            if unresolved and not mixed:
                raise UnmappedParty("email", unresolved)
            addresses = list(dict.fromkeys(mapped[j] for j in jids if j in mapped))
            names = {mapped[j]: self._name_of(j) for j in jids if j in mapped}
            to = [Party(addresses[0], names.get(addresses[0], ""), "to")] if addresses else []
            cc = [Party(a, names.get(a, ""), "cc") for a in addresses[1:]]
            subject, in_reply_to, references = self._email_thread_link(thread, original)
            # The transcript and the files carry only chat lines every recipient
            # of this email took part in: a private line stays private.
            shared = self._shared_with(thread, [p.address for p in (*to, *cc)])
            files = await self._gather_files(shared, attachments)
            body = email_body(text, chat_transcript(shared) if history else None)
            if unresolved:
                # The mixed case: whoever has no email address gets the text by chat.
                leftovers = [r.query for r in unresolved]
                client = self.xmpp_client(account.name)
                for jid in leftovers:
                    plan = self._plan(account.name, jid, original.thread_id, text, client.domain)
                    result.chat.extend(await self.send_im_plan(plan))
        if not to and not cc:
            return result
        blobs = [(str(f["name"]), str(f["type"]),
                  self.store.blob_path(str(f["sha256"])).read_bytes()) for f in files]
        mail = build_email(self._from(account), to, cc, subject, body, msg_id=msg_id,
                           in_reply_to=in_reply_to or None, references=references,
                           attachments=blobs, extra_headers=headers)
        result.emails.append(await self.queue_email(account.name, mail, msg_id))
        result.email_ids.append(msg_id)
        return result

    def _shared_with(self, thread: list[Message], emails: Sequence[str]) -> list[Message]:
        """The messages of a thread that every one of `emails` took part in: emails
        as they are, a 1:1 chat line only if its peer is the one recipient, a room
        line only if every recipient is in the room (an occupant, or wrote there)."""
        wanted = {normalize_email(e) for e in emails} - {""}
        own = set()
        for acct in self.accounts:
            own |= {normalize_email(acct.email or ""), normalize_jid(acct.jid or "")}
        rooms: dict[str, set[str]] = {}
        for m in thread:
            room = self._room_of(m)
            if room is not None:
                people = rooms.setdefault(room, set())
                people.add(normalize_jid(m.sender.address))
                client = self.xmpp.get(m.account)
                if client is not None:
                    people.update(normalize_jid(o.jid) for o in client.occupants(room) if o.jid)
        kept = []
        for m in thread:
            if m.transport is not Transport.XMPP:
                kept.append(m)
                continue
            room = self._room_of(m)
            jids = rooms[room] if room is not None else {
                normalize_jid(p.address) for p in (m.sender, *m.recipients)}
            audience = {self.identity.email_for(j).address or j for j in jids if j} | jids
            if wanted <= audience | own:
                kept.append(m)
        return kept

    def _name_of(self, jid: str) -> str:
        contact = self.store.contact_for(jid)
        return contact.name if contact is not None else ""

    def _email_thread_link(self, thread: list[Message],
                           original: Message) -> tuple[str, str, list[str]]:
        """Subject, In-Reply-To and References that put an email continuing a
        chat into the email chain it came from (or into the chat's own thread)."""
        emails = [m for m in thread if m.transport is Transport.EMAIL]
        if emails:
            last = emails[-1]
            h = reply_headers(last, [], False)
            return h.subject, h.in_reply_to, h.references
        peer = original.sender.name or normalize_jid(original.sender.address) \
            if original.direction is Direction.IN else normalize_jid(
                original.recipients[0].address if original.recipients else "")
        room = self._room_of(original)
        subject = f"Chat in {room}" if room else f"Chat with {peer}"
        return reply_subject(subject), original.thread_id, [original.thread_id]


class EnginePorts:
    """The engine's transports as ports (bridge.ports.Ports): the one place
    that knows which class serves which account."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._mail: dict[str, MailTransport] = {}
        self._lock = threading.Lock()

    def mail(self, account: str) -> MailTransport:
        with self._lock:
            port = self._mail.get(account)
            if port is None:
                e = self._engine
                t = e.timings
                port = MailTransport(e.account(account), e.store, e.events,
                                     retry_delay=e.config.deferral.delay,
                                     refresh=e.mail_refresh, poll=e.mail_poll,
                                     push_check=t.push_check, push_timeout=t.push_timeout,
                                     smtp_timeout=t.smtp_timeout)
                self._mail[account] = port
            return port

    def chat(self, account: str) -> XmppTransport | None:
        client = self._engine.xmpp.get(account)
        if client is None:
            return None
        return XmppTransport(client, self._engine.account(account), self._engine.store)

    async def probe_chat(self, account: str, timeout: float) -> HealthReport:
        return await probe_xmpp(self._engine.account(account),
                                self._engine.xmpp.get(account), timeout)

    async def stop_mail(self) -> None:
        await asyncio.gather(*(port.stop() for port in list(self._mail.values())))

    def close(self) -> None:
        for port in list(self._mail.values()):
            port.close()


def _date(ts: float) -> str:
    return formatdate(ts, localtime=True)


def default_store_path() -> Path:
    """The store under the XDG data folder, created owner-only."""
    return ensure_private_dir(data_dir()) / "store.db"
