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
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

from .config import AccountConfig, Config, SecretError, get_password
from .delivery import KEPT_HERE
from .errors import EngineError
from .events import Event, EventBus, HealthChanged, HealthReported, TriageDone
from .handoff import Handoff, ImPlan, ReplyResult
from .health import HealthMonitor, Timings
from .identity import Identity, UnmappedParty, normalize_email, normalize_jid
from .mail.actions import MailActions
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
    Folder,
    HealthReport,
    Message,
    OutboxItem,
    OutboxLogEntry,
    Thread,
    Transport,
)
from .outbox import ContactAway, Outbox
from .paths import data_dir, ensure_private_dir
from .store import Cursor, Reaction, Revision, Store, owner
from .xmpp.client import Occupant, RosterItem, XmppClient, XmppError
from .xmpp.port import XmppTransport, probe_xmpp
from .xmpp.session import XmppLoginError
from .xmpp.stanzas import bare as bare_jid

log = logging.getLogger(__name__)
T = TypeVar("T")


# The three answers a reply can get besides success, importable from one place:
# EngineError (cannot), UnmappedParty (who is X on that transport?), ContactAway
# (they are away: send anyway, defer, or email?).
__all__ = ["ContactAway", "Engine", "EngineError", "ReplyResult", "UnmappedParty"]


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
        self.outbox = Outbox(self.store, self.events, config, self.identity, self.ports)
        self.handoff = Handoff(config, self.store, self.identity, self.ports, self.outbox)
        self.outbox.fallbacks = self.handoff
        self.mailbox = MailActions(self.store, self.events, self.account,
                                   lambda account, job: self._imap(account, job),
                                   self._send_mail)
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
        "RoomInvitation", "SubscriptionRequest", "TriageDone",
        "MessageChanged"})  # chat: a line corrected, retracted or reacted to

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
        """A stored message by row id; EngineError when there is none."""
        return self.handoff.message(row_id)

    def timeline(self, account: str, thread_id: str) -> list[Message]:
        """A conversation as one list across both transports, oldest first.

        A message seen through both transports (one message id) appears once: the
        copy with the furthest delivery state and a body wins.
        """
        return self.handoff.timeline(account, thread_id)

    def search(self, query: str, limit: int = 50, account: str | None = None) -> list[Message]:
        """Search mail and chat. A bulk import leaves rows waiting for the full-text
        index; catch up first, so what was just synced is found."""
        self._catch_up_index()
        return self.store.search(query, limit=limit, account=account)

    def _catch_up_index(self) -> None:
        self.handoff.catch_up_index()

    async def fetch_body(self, row_id: int) -> Message:
        """The message with its body, fetched (BODY.PEEK) and cached if needed."""
        return await self.handoff.fetch_body(row_id)

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

    # -- replying and handing off (bridge.handoff) ------------------------------------

    async def reply(self, row_id: int, text: str, *, via: str = "auto",
                    reply_all: bool = False, history: bool = False,
                    attachments: Sequence[str] | str | None = None, mixed: bool = False,
                    separate_chats: bool = False,
                    when_away: str | None = None,
                    headers: dict[str, str] | None = None) -> ReplyResult:
        """Answer a message by email or by IM, whatever transport it came by
        (`via`: "email", "im", or "auto": the one rule, bridge.handoff.auto).
        See `Handoff.reply` for the rest."""
        return await self.handoff.reply(
            row_id, text, via=via, reply_all=reply_all, history=history,
            attachments=attachments, mixed=mixed, separate_chats=separate_chats,
            when_away=when_away, headers=headers)

    async def send_message(self, account: str, to: Sequence[str], text: str, *,
                           via: str = "im", subject: str = "",
                           when_away: str | None = None,
                           attachments: Sequence[Path] = ()) -> ReplyResult:
        """Start a conversation (or continue the chat with someone): by IM to JIDs
        (or email addresses mapped to them), by email, or "auto" (the one rule)."""
        if via == "auto":
            via = self.auto_via(account, to)
        return await self.handoff.send_message(account, to, text, via=via, subject=subject,
                                               when_away=when_away, attachments=attachments)

    def auto_via(self, account: str, to: Sequence[str]) -> str:
        """What "auto" picks for a new message to `to`: "im" or "email"."""
        return self.handoff.auto_for_new(account, to)

    def chat_address(self, account: str, address: str) -> str | None:
        """The JID to chat with for `address`, or None when unmapped."""
        return self.handoff.parties.chat_address(account, address)

    async def send_im_plan(self, plan: ImPlan, skip: frozenset[str] = frozenset()
                           ) -> list[Message]:
        """Send one chat leg now (see XmppTransport.send_leg)."""
        return await self.handoff.send_im_plan(plan, skip)

    async def email_instead(self, plan: ImPlan, people: Sequence[str]) -> str:
        return await self.handoff.email_instead(plan, people)

    async def im_instead(self, item: OutboxItem) -> list[tuple[ImPlan, list[str]]]:
        return await self.handoff.im_instead(item)

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

    # -- reads for the front ends (tui branch) --
    # What a screen needs to know and would otherwise read from the store, the
    # XMPP clients or the identity layer itself: the front ends go through here.

    def outbox_message(self, item: OutboxItem) -> Message | None:
        """The message an outbox row sends (its conversation, its words), when the
        store holds it."""
        return self.store.find_by_msg_id(item.account, item.msg_id)

    def joined_rooms(self, account: str) -> list[str]:
        """The group chats (room JIDs) the account is in right now."""
        client = self.xmpp.get(account)
        return client.rooms() if client is not None else []

    def remembered_rooms(self, account: str) -> list[str]:
        """The group chats the account takes part in across sessions (joined again
        at the next start), joined right now or not."""
        client = self.xmpp.get(account)
        return list(client.state.rooms) if client is not None else []

    def room_occupants(self, account: str, room: str) -> list[tuple[str, str]]:
        """Who is in a group chat the account is in: (bare JID, or "" where the room
        hides it; nick), by nick."""
        client = self.xmpp.get(account)
        if client is None:
            return []
        return [(bare_jid(o.jid) if o.jid else "", o.nick) for o in client.occupants(room)]

    def confirm_address(self, email: str, jid: str) -> None:
        """The user says `email` and `jid` are the same person (an answer to
        `UnmappedParty`): the one write in this block, the identity layer's."""
        self.identity.confirm(email, jid)

    # -- mail triage, attachments, forward, drafts (bridge.mail.actions) ---------------

    def find_message(self, ref: str, account: str | None = None) -> Message:
        """A message by its number (`12`, `#12`) or its Message-ID; LookupError if none."""
        ref = ref.strip().lstrip("#")
        if ref.isdigit():
            m = self.store.get_message(int(ref))
            if m is not None:
                return m
        names = [account] if account else [a.name for a in self.accounts]
        for name in names:
            m = self.store.find_by_msg_id(name, ref.strip("<>"))
            if m is not None:
                return m
        raise LookupError(f"no message {ref!r} (see `tuiclient show`)")

    async def delete(self, row_ids: Sequence[int]) -> TriageDone:
        """To the Trash folder (SPECIAL-USE); expunged when the account's
        `expunge_deletes` says so, or when they are in Trash already."""
        return await self.mailbox.delete(row_ids)

    async def archive(self, row_ids: Sequence[int]) -> TriageDone:
        """To the account's `archive_folder`, else the server's \\Archive."""
        return await self.mailbox.archive(row_ids)

    async def move(self, row_ids: Sequence[int], folder: str) -> TriageDone:
        return await self.mailbox.move(row_ids, folder)

    async def copy(self, row_ids: Sequence[int], folder: str) -> TriageDone:
        return await self.mailbox.move(row_ids, folder, copy=True)

    async def flag(self, row_ids: Sequence[int], on: bool = True) -> TriageDone:
        """Set or clear \\Flagged (the star) on emails, on the server."""
        return await self.mailbox.flags(row_ids, *(([FLAGGED], []) if on else ([], [FLAGGED])))

    async def mark_read(self, row_ids: Sequence[int], read: bool = True) -> TriageDone:
        return await self.mailbox.flags(row_ids, *(([SEEN], []) if read else ([], [SEEN])))

    async def tag(self, row_ids: Sequence[int], add: Sequence[str] = (),
                  remove: Sequence[str] = ()) -> TriageDone:
        """Add and remove tags: IMAP keywords on the server, found by `tag:NAME`."""
        return await self.mailbox.tag(row_ids, add, remove)

    async def undo(self) -> TriageDone:
        """Reverse the newest triage action not undone yet (any process's)."""
        return await self.mailbox.undo()

    async def save_attachments(self, row_id: int, positions: Sequence[int] | None = None,
                               directory: Path | None = None) -> list[Path]:
        """Save files of an email (positions from 0; None: every one)."""
        return await self.mailbox.save(await self.fetch_body(row_id), positions, directory)

    async def forward(self, row_id: int, to: Sequence[str], text: str = "", *,
                      as_attachment: bool = False,
                      files: Sequence[Path] = ()) -> tuple[str, int]:
        """Forward an email (its files kept); returns its msg id and outbox row."""
        return await self.mailbox.forward(self.message(row_id), to, text,
                                          as_attachment=as_attachment, files=files)

    async def bounce(self, row_id: int, to: Sequence[str]) -> tuple[str, int]:
        """Redirect an email as it is, under Resent-* fields."""
        return await self.mailbox.bounce(self.message(row_id), to)

    async def draft_save(self, account: str, to: Sequence[str], subject: str, text: str, *,
                         cc: Sequence[str] = (), files: Sequence[Path] = (),
                         replaces: int | None = None) -> Message:
        """Postpone a message into the account's Drafts folder on the server."""
        return await self.mailbox.draft_save(account, to, subject, text, cc=cc, files=files,
                                             replaces=replaces)

    async def drafts(self, account: str) -> list[Message]:
        return await self.mailbox.drafts(account)

    async def draft_send(self, row_id: int) -> tuple[str, int]:
        """Send a draft as it is on the server; it leaves Drafts once queued."""
        return await self.mailbox.draft_send(row_id)

    async def _send_mail(self, account: str, mail: EmailMessage | bytes, msg_id: str,
                         recipients: Sequence[str] | None) -> int:
        if isinstance(mail, EmailMessage):
            return await self.queue_email(account, mail, msg_id)
        port = self.ports.mail(account)
        outbox_id = port.sender.queue_raw(mail, list(recipients or ()), msg_id)
        await port.send_due()
        return outbox_id

    # -- chat: corrections, reactions, rooms, roster --
    # Issue 20. Each action of a chat client, for every front end; the XMPP layer's
    # refusals (XmppError: not your line, a wrong room password) come out as
    # EngineError with the reason.

    def _chat(self, account: str) -> XmppClient:
        return self.xmpp_client(account)

    def _chat_line(self, row_id: int) -> tuple[Message, XmppClient]:
        message = self.message(row_id)
        if message.transport is not Transport.XMPP:
            raise EngineError(f"#{row_id} is an email, not a chat line")
        return message, self._chat(message.account)

    async def correct(self, row_id: int, text: str) -> Message:
        """Correct our last line of its chat (XEP-0308); the old text is kept."""
        _m, client = self._chat_line(row_id)
        with _chat_refusal():
            return client.correct(row_id, text)

    async def react(self, row_id: int, emoji: str = "", *, remove: bool = False) -> list[str]:
        """Add `emoji` to our reactions to a line, or take it back (`remove`; no
        emoji: all of ours); returns our reactions as sent (XEP-0444)."""
        _m, client = self._chat_line(row_id)
        mine = client.own_reactions(row_id)
        if remove:
            mine = [e for e in mine if emoji and e != emoji]
        elif emoji and emoji not in mine:
            mine.append(emoji)
        with _chat_refusal():
            return client.react(row_id, mine)

    async def retract(self, row_id: int) -> Message:
        """Take back a line we sent (XEP-0424): gone here, and asked of everyone."""
        _m, client = self._chat_line(row_id)
        with _chat_refusal():
            client.retract(row_id)
        return self.message(row_id)

    def reactions(self, row_ids: Sequence[int]) -> dict[int, list[Reaction]]:
        """Who reacted to these lines, and with what."""
        return self.store.reactions(list(row_ids))

    def revisions(self, row_id: int) -> list[Revision]:
        """The texts a corrected line had before, oldest first."""
        return self.store.revisions(row_id)

    async def join_room(self, account: str, room: str, *, nick: str | None = None,
                        password: str | None = None) -> list[Occupant]:
        """Join a room (or accept an invitation to it); its occupants with roles."""
        with _chat_refusal():
            return await self._chat(account).join_room(room, nick, password)

    async def accept_invitation(self, account: str, room: str, *, nick: str | None = None,
                                password: str | None = None) -> list[Occupant]:
        """Join a room we were invited to; without `password`, the one the latest
        invitation to it gave (kept in the event log, so any process saw it)."""
        if password is None:
            invitation = self.store.last_event("RoomInvitation", {
                "$.account": account, "$.room": bare_jid(room)})
            password = (invitation or {}).get("password") or None
        return await self.join_room(account, room, nick=nick, password=password)

    async def leave_room(self, account: str, room: str) -> None:
        with _chat_refusal():
            await self._chat(account).leave_room(room)

    async def invite(self, account: str, room: str, jid: str, reason: str = "", *,
                     direct: bool = False) -> None:
        with _chat_refusal():
            self._chat(account).invite(room, jid, reason, direct=direct)

    async def decline_invitation(self, account: str, room: str, inviter: str,
                                 reason: str = "") -> None:
        with _chat_refusal():
            self._chat(account).decline_invitation(room, inviter, reason)

    def occupants(self, account: str, room: str) -> list[Occupant]:
        """A room's occupants with role and affiliation, as the room shows them."""
        client = self.xmpp.get(account)
        return client.occupants(room) if client is not None else []

    def roster(self, account: str) -> list[RosterItem]:
        return self._chat(account).roster()

    async def roster_add(self, account: str, jid: str, name: str = "",
                         groups: Sequence[str] = ()) -> RosterItem:
        """Add a contact (name, groups) and ask to see their presence."""
        with _chat_refusal():
            return await self._chat(account).add_contact(jid, name, groups)

    async def roster_remove(self, account: str, jid: str) -> None:
        with _chat_refusal():
            await self._chat(account).remove_contact(jid)

    async def roster_approve(self, account: str, jid: str) -> None:
        """Let someone who asked see our presence (never done without being asked)."""
        self._chat(account).approve(jid)

    async def roster_deny(self, account: str, jid: str) -> None:
        self._chat(account).deny(jid)

    async def set_presence(self, account: str, show: str = "", status: str = "") -> None:
        """Our presence: show is "", chat, away, xa or dnd; with a status message."""
        try:
            self._chat(account).set_presence(show, status)
        except ValueError as exc:
            raise EngineError(str(exc)) from None

    def send_chat_state(self, account: str, jid: str, state: str) -> None:
        """Typing, paused, ... (XEP-0085), to contacts whose clients take it."""
        client = self.xmpp.get(account)
        if client is not None:
            client.send_chat_state(jid, state)

    async def older_chat(self, account: str, jid: str, before: str = ""
                         ) -> tuple[int, str | None]:
        """One page of older history with a contact, or of a room, from the server's
        archive (XEP-0313), before the archive id `before` ("" for the newest page):
        how many lines were new here, and the id to ask before next (None: the
        archive has nothing older)."""
        with _chat_refusal():
            return await self._chat(account).fetch_history(jid, before=before)

    async def room_action(self, account: str, room: str, action: str, who: str,
                            reason: str = "") -> None:
        """An act in a room: take another "nick" (`who`), or as a moderator "kick"
        a nick out, or "ban" a JID (or an occupant's nick) for good; the room
        refuses if we may not."""
        client = self._chat(account)
        if action == "nick":
            with _chat_refusal():
                await client.change_nick(room, who)
            return
        if action not in ("kick", "ban"):
            raise EngineError(f"no room action {action!r} (nick, kick or ban)")
        with _chat_refusal():
            await (client.kick if action == "kick" else client.ban)(room, who, reason)

    def room_subject(self, account: str, room: str, subject: str | None = None) -> str:
        """A room's subject (topic); with `subject`, ask the room to change it
        (the change comes back as a RoomSubjectChanged). Returns the one known now."""
        client = self._chat(account)
        if subject is not None:
            with _chat_refusal():
                client.set_subject(room, subject)
        return client.subject(room)


@contextlib.contextmanager
def _chat_refusal() -> Iterator[None]:
    """A refusal of the XMPP layer (the server's, a room's, or its own rule) as the
    engine's error, with its reason."""
    try:
        yield
    except XmppError as exc:
        raise EngineError(str(exc)) from None


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


def default_store_path() -> Path:
    """The store under the XDG data folder, created owner-only."""
    return ensure_private_dir(data_dir()) / "store.db"
