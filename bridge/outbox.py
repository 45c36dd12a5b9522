"""One durable outbox for both transports, and presence-aware deferral of chat.

Every chat leg (`ImPlan`) becomes an outbox row before anything goes on the wire,
written in one SQLite transaction with the outgoing message itself: a reply, a
handoff, a new message, and a reply to one line (XEP-0461, its quote in the plan)
or a private line to a room's occupant (room/nick) alike. Then:

- available contact (or "send anyway"): sent at once; the server's ack makes it
  `sent`, the contact's receipt `delivered` (a room has no receipts: `sent` is final);
- away, busy, offline, unknown or blocked, and the user chose to defer: the row is
  `deferred`, mirrored as an email in the IMAP folder `Deferred` (text, history,
  files, and the plan as JSON), retried the moment the contact's presence turns
  available and on the configured backoff in between. Every retry and its outcome
  ("still away: In meetings") is logged on the row and published as an event;
- the user gives up: cancel, or send it by email instead (its text, history and
  files, to the contacts' email addresses, in the same thread; a reply to a line
  with that line quoted above it, `with_quote`);
- at the maximum age the policy applies: ask, email, or drop with a notice.

What a row must be (signed, encrypted) is fixed when it is planned
(bridge.handoff.protection, kept as `payload["protection"]`); every email it
becomes is sealed as that says or refused naming who (`EncryptionRefused`): the
row then stays where it was, its text kept, and the user chooses. A row that
must be encrypted is not copied to the Deferred folder (its text would sit on
the server in clear).

Emails use the same rows (`MailSender`); this loop wakes the mail worker when one
is due again. At start-up unsettled rows are sent again with the same ids
(receivers drop the copies), and the `Deferred` folder is reconciled with the
rows (bridge.outbox_mirror), so a deferred message survives the loss of the
local store. Every move of a row is one transition of bridge.delivery.

Why over 600 lines: sending, the adoption of orphaned rows, deferral and the two
fallbacks are one loop over one table of rows, and share its claims and its
`_busy` set; split, each part would reach into the others' state.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from . import failpoints
from .config import AccountConfig, Config
from .crypto import outgoing
from .delivery import SETTLED, Deliveries, allowed
from .errors import (
    CLI_HINTS,
    WHEN_AWAY,
    ContactAway,
    EncryptionRefused,
    EngineError,
    Hint,
    describe_presence,
    no_chat_connection,
)
from .events import (
    DeferralRetry,
    DeliveryChanged,
    Event,
    EventBus,
    OutboxChanged,
    PresenceChanged,
    RoomOccupantsChanged,
)
from .handoff import protection as planned
from .handoff.reply import sender_party
from .identity import Identity, UnmappedParty
from .mail.deferred_names import DEFERRED_FOLDER
from .model import (
    Attachment,
    Availability,
    ContactPresence,
    DeliveryState,
    Direction,
    ImPlan,
    Message,
    OutboxItem,
    Party,
    Transport,
)
from .outbox_mirror import DeferredMirror, account_config, outbox_row, with_quote
from .ports import ChatPort, Ports
from .store import Store, owner

log = logging.getLogger(__name__)

TICK = 1.0

_STILL = {Availability.UNKNOWN: "of unknown availability",
          Availability.BLOCKED: "blocked or refusing messages"}


def still_away(presences: Sequence[ContactPresence]) -> str:
    """Why a deferred chat message waits on, in words ("still away: In meetings");
    with several people, each named."""
    parts = []
    for p in presences:
        word = "still " + _STILL.get(p.availability, p.availability.value)
        if len(presences) > 1:
            word = f"{p.jid} {word}"
        parts.append(f"{word}: {p.status}" if p.status else word)
    return "; ".join(parts)


class Fallbacks(Protocol):
    """A chat leg as an email, and a queued email as chat legs (bridge.handoff)."""

    async def email_instead(self, plan: ImPlan, people: Sequence[str],
                            protection: outgoing.Protection | None = None) -> str: ...

    async def im_instead(self, item: OutboxItem) -> list[tuple[ImPlan, list[str]]]: ...


class Outbox:
    """The sender of chat legs and keeper of deferrals. It receives the store,
    the config, the ports of the transports and the handoff's fallbacks; every
    move of a row goes through bridge.delivery."""

    def __init__(self, store: Store, events: EventBus, config: Config, identity: Identity,
                 ports: Ports, fallbacks: Fallbacks | None = None) -> None:
        self.store = store
        self.events = events
        self.config = config
        self.identity = identity
        self.ports = ports
        # The handoff, wired in by the engine once both exist (each needs the other).
        self._fallbacks = fallbacks
        self.policy = config.deferral
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._stopping = False
        self._busy: set[int] = set()  # rows being sent right now
        self.deliveries = Deliveries(store, events)
        self.mirror = DeferredMirror(store, config, identity, ports, self.deliveries)
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._unsubscribe = self.events.subscribe(self._on_event)
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stopping = True
        for task in [self._task, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = None

    def wake(self) -> None:
        if self._loop is None or self._wake is None:
            return
        wake = self._wake
        try:
            if asyncio.get_running_loop() is self._loop:
                wake.set()
                return
        except RuntimeError:
            pass
        self._loop.call_soon_threadsafe(wake.set)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


    # -- submitting -------------------------------------------------------------------

    def presences(self, plan: ImPlan, targets: Sequence[str]) -> list[ContactPresence]:
        """The availability of everyone a chat leg is for."""
        client = self.ports.chat(plan.account)
        if plan.room and not targets:
            return []  # a line in a room we are in: the room takes it, whoever is there
        people = list(targets) or [plan.to]
        if client is None:
            return [ContactPresence(j, Availability.UNKNOWN) for j in people]
        return [client.availability(j) for j in people]

    @staticmethod
    def unavailable(presences: Sequence[ContactPresence]) -> list[ContactPresence]:
        return [p for p in presences if p.availability is not Availability.AVAILABLE]

    async def submit(self, plan: ImPlan, targets: Sequence[str], *, defer: bool,
                     reason: str = "", email_to: Sequence[str] = ()) -> int:
        """Write the outbox row (and the message) in one transaction, then send it
        now or keep it deferred. Returns the outbox id. `email_to`: whom its
        email fallback goes to, when not `targets` (a room occupant's real JID
        for a private line through the room)."""
        state = DeliveryState.DEFERRED if defer else DeliveryState.QUEUED
        extra = {"email_to": list(email_to)} if email_to else {}
        await planned.open_last_email(self.store, self.ports, plan.account, plan.thread_id)
        outbox_id = self.store.outbox_add(**self._row(plan, targets, state, **extra))
        failpoints.hit(failpoints.OUTBOX_ROW_WRITTEN)
        if defer:
            self.deliveries.created(outbox_id, reason)
            await self._mirror(outbox_id)
        else:
            await self._send(outbox_id)
        return outbox_id

    def _row(self, plan: ImPlan, targets: Sequence[str], state: DeliveryState,
             **extra: Any) -> dict[str, Any]:
        """The outbox row of a chat leg, with its outgoing message: the arguments
        of `Store.outbox_add`."""
        account = self._account(plan.account)
        now = time.time()
        message = Message(
            msg_id=plan.msg_id, account=plan.account, transport=Transport.XMPP,
            direction=Direction.OUT, thread_id=plan.thread_id, date=now,
            sender=Party((account.jid or "").partition("/")[0], account.display_name or "",
                         "from"),
            recipients=[Party(plan.to, "", "to")], text=plan.text, origin_id=plan.msg_id,
            delivery=state, in_reply_to=(plan.reply or {}).get("line") or None,
            # A leg of one file and no words: its line is the file's.
            attachments=[Attachment(str(f["name"]), str(f["type"]), int(f["size"]),
                                    sha256=str(f["sha256"])) for f in plan.files[:1]]
            if plan.file_only else [])
        exists = self.store.find_by_msg_id(plan.account, plan.msg_id) is not None
        deferred = state is DeliveryState.DEFERRED
        people = list(extra.get("email_to") or targets or [plan.to])
        protection = planned.requirement(self.config, self.store, self.identity,
                                         plan.account, plan.thread_id, people)
        return {"msg_id": plan.msg_id, "account": plan.account, "transport": Transport.XMPP,
                "payload": {"plan": plan.to_payload(), "targets": list(targets),
                            "protection": protection.to_payload(), **extra},
                "parties": [Party(t, "", "to") for t in (targets or [plan.to])],
                "state": state,
                "next_attempt": now + self.policy.delay(0) if deferred else now,
                "message": None if exists else message}

    # -- sending ------------------------------------------------------------------------

    async def _send(self, outbox_id: int, why: str = "", *,
                    adopted: OutboxItem | None = None, skip: frozenset[str] = frozenset()
                    ) -> None:
        """Claim a waiting row and send its chat leg. The claim is a compare-and-set
        in the store with this process's name (`Store.outbox_claim`): of every
        process on the store and every path in this one (a retry, a presence, the
        user's "send now"), exactly one sends it. `adopted` is an orphan this
        process already claimed (see `_adopt`); `skip` the parts of its plan that
        the server already holds."""
        if outbox_id in self._busy:
            return
        self._busy.add(outbox_id)
        try:
            item = adopted or self.deliveries.transition(
                outbox_id, DeliveryState.SENDING,
                only_from=(DeliveryState.QUEUED, DeliveryState.DEFERRED), claim=True,
                quiet=True)
            if item is None:
                return  # another process holds it, or it moved on meanwhile
            plan = planned.chat_leg(ImPlan.from_payload(item.payload["plan"]), item.payload)
            if item.payload.get("recovered") and not adopted:
                # Back from the Deferred folder after the store was lost: it may have
                # gone out before (and the folder copy outlived it). The archive says.
                skip = await self._held_parts(item, plan) or skip
                if plan.msg_id in skip:
                    self.deliveries.transition(
                        outbox_id, DeliveryState.SENT, "it went out before the store was "
                        "lost: not sent again", log="on the server",
                        event_detail="the server's archive holds it",
                        payload_set={"recovered": False})
                    return
            self.deliveries.transition(outbox_id, DeliveryState.SENDING, why, attempt=True,
                                       next_attempt=None)
            try:
                chat = self.ports.chat(plan.account)
                if chat is None:
                    raise EngineError(no_chat_connection(plan.account))
                await chat.send_leg(plan, skip)
            except EncryptionRefused as exc:  # cannot go as planned (OMEMO): no retry
                # What happened (its reason), in no front end's words: what to do is
                # each one's to say (bridge.errors.Hint), when the user acts on it.
                self.deliveries.transition(outbox_id, DeliveryState.FAILED, exc.reason,
                                           log="refused", event_detail=exc.reason)
                return
            except Exception as exc:  # server down, room refused, upload failed
                wait = self.policy.delay(item.attempts)
                self.deliveries.transition(outbox_id, DeliveryState.QUEUED,
                                           f"{exc}; next try in {wait:.0f}s",
                                           log="retry later", event_detail=str(exc),
                                           next_attempt=time.time() + wait)
                return
            if failpoints.armed(failpoints.STANZA_SENT):
                await asyncio.sleep(0.5)  # let the stanza leave the socket first
                failpoints.hit(failpoints.STANZA_SENT)
            message = self.store.find_by_msg_id(plan.account, plan.msg_id)
            if message is not None and message.delivery in (
                    DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ):
                # The ack (or receipt) of a resend may have come before we got here.
                self._settle(item, message.delivery)
        finally:
            self._busy.discard(outbox_id)

    async def _adopt(self, now: float) -> None:
        """Chat rows left `sending` or `sent` by a process that is gone (a one-shot
        command that exited, a crash): the server may or may not have them. Our
        own archive (XEP-0313) says which of their stanzas it holds; those never
        go again. The rest:

        - `sending` (the server never acked it): the missing stanzas go again,
          same ids;
        - `sent` (acked, but no receipt yet): a copy goes only if the server does
          not hold it, the contact's client answers receipts (disco/caps), within
          the port's resend window of the ack and resend tries; a contact who is
          offline had it stored by the server, and a client that sends no
          receipts could only show a copy as a second message.

        A row held by a live process is that process's, and is never looked at."""
        for item in self.store.outbox_items(states=[DeliveryState.SENDING,
                                                    DeliveryState.SENT]):
            if item.transport is not Transport.XMPP or item.id in self._busy \
                    or owner.alive(item.owner):
                continue
            client = self.ports.chat(item.account)
            if client is None or not client.connected:
                continue
            plan = ImPlan.from_payload(item.payload["plan"])
            if item.state is DeliveryState.SENT:
                if plan.room:
                    self._settle(item, DeliveryState.DELIVERED, "the room took it")
                    continue
                if now - item.updated > client.resend_window or \
                        int(item.payload.get("resends", 0)) >= client.resend_tries:
                    continue  # the server's ack stands: sent
                if client.availability(plan.to).availability is not Availability.AVAILABLE:
                    continue  # offline: the server keeps it for them; looked at again later
            claimed = self.deliveries.claim(item, (item.state,), orphan=True)
            if claimed is None:
                continue
            self._busy.add(item.id)
            try:
                await self._examine(client, claimed, plan)
            finally:
                self._busy.discard(item.id)

    async def _held_parts(self, item: OutboxItem, plan: ImPlan) -> frozenset[str]:
        client = self.ports.chat(item.account)
        if client is None or not client.connected:
            return frozenset()
        held = await client.on_server(plan.to, _parts(plan), item.created - 86400 * 30,
                                      room=plan.room)
        return frozenset(held or ())

    async def _examine(self, client: ChatPort, item: OutboxItem, plan: ImPlan) -> None:
        parts = _parts(plan)
        held = await client.on_server(plan.to, parts, item.created, room=plan.room)
        missing = [p for p in parts if held is None or p not in held]
        if not missing:
            self.deliveries.note(item, "on the server",
                                 "the server's archive holds it: not sent again")
            self._settle(item, DeliveryState.SENT, "the server's archive holds it")
            return
        if item.state is DeliveryState.SENT:
            if not await client.answers_receipts(plan.to):
                self.deliveries.note(item, "not sent again",
                                     "the server took it and their client sends no "
                                     "receipts: a copy would arrive twice")
                return
            self.store.outbox_update(item.id, payload_set={
                "resends": int(item.payload.get("resends", 0)) + 1})
        why = ("the process that sent it stopped before the server answered"
               if item.state is DeliveryState.SENDING else
               "the server acked it but does not hold it, and no receipt came")
        await self._send(item.id, f"sending again: {why}", adopted=item,
                         skip=frozenset(p for p in parts if p not in missing))

    def _on_event(self, event: Event) -> None:
        if (isinstance(event, PresenceChanged) and event.availability == "available") \
                or isinstance(event, RoomOccupantsChanged):
            # Someone is back: in the roster, or in a room (a private line waits
            # for its occupant).
            self.wake()
        elif isinstance(event, DeliveryChanged):
            self._on_delivery(event)

    def _on_delivery(self, event: DeliveryChanged) -> None:
        state = DeliveryState(event.state)
        for item in self.store.outbox_items(states=[DeliveryState.SENDING, DeliveryState.SENT,
                                                    DeliveryState.QUEUED]):
            if item.msg_id == event.msg_id and item.account == event.account \
                    and item.transport is Transport.XMPP:
                if state is DeliveryState.SENT and failpoints.armed(failpoints.BEFORE_RECEIPT):
                    self.deliveries.transition(item, DeliveryState.SENT, event.detail)
                    failpoints.hit(failpoints.BEFORE_RECEIPT)
                self._settle(item, state, event.detail)

    def _settle(self, item: OutboxItem, state: DeliveryState, detail: str = "") -> None:
        """What the wire said of a chat row (ack, receipt, error): a transition, if
        the table allows it from where the row is now."""
        if state is DeliveryState.FAILED:
            self.deliveries.transition(item.id, state, detail, next_attempt=None)
            return
        plan = ImPlan.from_payload(item.payload["plan"])
        if state is DeliveryState.SENT and plan.room:
            # No receipts in rooms: the server took it, everyone there gets it.
            state = DeliveryState.DELIVERED
        # Never backwards: a late ack after the receipt moves nothing.
        later = {DeliveryState.SENT: (DeliveryState.QUEUED, DeliveryState.SENDING),
                 DeliveryState.DELIVERED: (DeliveryState.QUEUED, DeliveryState.SENDING,
                                           DeliveryState.SENT),
                 DeliveryState.READ: (DeliveryState.QUEUED, DeliveryState.SENDING,
                                      DeliveryState.SENT)}.get(state)
        if later is None or self.deliveries.transition(
                item.id, state, detail or _words(state), only_from=later) is None:
            return
        if (state in SETTLED or state is DeliveryState.SENT) and item.payload.get("mirrored"):
            # Handed to the server is enough: a copy kept in the folder would come
            # back as a line to send if this store were lost.
            self._spawn(self._unmirror(item.id))

    # -- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            try:
                await self.tick()
            except Exception:
                log.exception("outbox pass failed")
            # Not wait_for: on Python 3.11 it can swallow a cancellation that races
            # with the wake-up, and this loop would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()
            self._wake.clear()

    async def tick(self) -> None:
        """One pass: deferred rows whose contact is back, or whose retry is due;
        queued chat rows that failed to send; emails due again."""
        now = time.time()
        await self._adopt(now)
        await self._transport_down(now)
        await self._mail_down(now)
        for item in self.store.outbox_items(states=[DeliveryState.DEFERRED,
                                                    DeliveryState.QUEUED]):
            if item.transport is Transport.EMAIL:
                if item.state is DeliveryState.QUEUED and (item.next_attempt or 0) <= now:
                    self.ports.mail(item.account).wake()
                continue
            if self.ports.chat(item.account) is None:
                continue
            if item.state is DeliveryState.QUEUED:
                if (item.next_attempt or 0) <= now:
                    await self._send(item.id, "retrying")
                continue
            await self._retry_deferred(item, now)

    async def _transport_down(self, now: float) -> None:
        """A chat line still unsent after `max_age` because the XMPP server is down
        goes by email, if the policy says so (`on_max_age = "email"`): the user
        agreed to it. It is taken back from the client first, so it cannot also
        go as a chat line when the server returns."""
        if self.policy.on_max_age != "email":
            return
        for item in self.store.outbox_items(states=[DeliveryState.QUEUED,
                                                    DeliveryState.SENDING]):
            if item.transport is not Transport.XMPP or item.id in self._busy or \
                    now - item.created < self.policy.max_age or item.payload.get("no_email") \
                    or (item.owner != owner.me() and owner.alive(item.owner)):
                continue
            client = self.ports.chat(item.account)
            if client is not None and client.connected:
                continue
            plan = ImPlan.from_payload(item.payload["plan"])
            if client is not None:
                client.forget(i for i in (plan.msg_id, plan.history_id,
                                          *(str(f.get("id", "")) for f in plan.files)) if i)
            self.deliveries.note(item, "transport down",
                                  f"no XMPP connection for {_secs(self.policy.max_age)}: "
                                  "sending by email")
            try:
                await self.send_by_email(item.id)
            except Exception as exc:  # no email address for them: keep it for chat
                self.deliveries.note(item, "email failed", str(exc),
                                     payload_set={"no_email": True})

    async def _mail_down(self, now: float) -> None:
        """An email its SMTP server has refused for `email_by_im_after` (counted
        from its first failed try) goes by chat instead, when the user agreed to
        it in the config and everyone it is for has a JID."""
        after = self.policy.email_by_im_after
        if not after:
            return
        for item in self.store.outbox_items(states=[DeliveryState.QUEUED]):
            if item.transport is not Transport.EMAIL or item.attempts < 1 or \
                    item.payload.get("no_im") or item.payload.get("im_retry_at", 0) > now \
                    or now - self._first_failure(item) < after:
                continue
            client = self.ports.chat(item.account)
            if client is None or not client.connected:
                continue  # both down: it waits for whichever comes back
            try:
                await self.send_by_im(item.id, f"the mail server refused it for "
                                               f"{_secs(now - self._first_failure(item))}")
            except EncryptionRefused as exc:  # encrypted: never by chat in clear
                self.deliveries.note(item, "cannot go by chat", exc.reason,
                                     payload_set={"no_im": True})
            except UnmappedParty as exc:  # no JID for someone: it stays an email
                self.deliveries.note(item, "cannot go by chat",
                                     f"{exc} It waits for the mail server, or to be sent "
                                     "by chat again once they have a chat address.",
                                     payload_set={"no_im": True})
            except Exception as exc:  # the chat side failed, or the worker took it
                wait = self.policy.delay(0)
                self.deliveries.note(item, "not by chat yet",
                                     f"{exc}; next try in {_secs(wait)}",
                                     payload_set={"im_retry_at": now + wait})

    def _first_failure(self, item: OutboxItem) -> float:
        for entry in self.store.outbox_history(item.id):
            if entry.event == "retry later":
                return entry.at
        return item.updated

    async def _retry_deferred(self, item: OutboxItem, now: float) -> None:
        plan = ImPlan.from_payload(item.payload["plan"])
        presences = self.presences(plan, item.payload.get("targets") or [])
        away = self.unavailable(presences)
        attempt = int(item.payload.get("retries", 0)) + 1
        if not away:
            outcome = "available: sending"
            self.deliveries.note(item, "retry", outcome, event=DeferralRetry(
                item.account, item.id, item.msg_id, attempt, outcome, None))
            await self._send(item.id, outcome)
            return
        if item.next_attempt is None or item.next_attempt > now:
            return  # not due; presence will wake us
        if now - item.created >= self.policy.max_age:
            await self._expired(item, still_away(away))
            return
        wait = self.policy.delay(attempt)
        outcome = still_away(away)
        self.deliveries.note(item, "retry", f"{outcome}; next try in {_secs(wait)}",
                             event=DeferralRetry(item.account, item.id, item.msg_id, attempt,
                                                 outcome, wait),
                             payload_set={"retries": attempt}, next_attempt=now + wait)

    async def _expired(self, item: OutboxItem, outcome: str) -> None:
        age = _secs(self.policy.max_age)
        policy = self.policy.on_max_age
        if policy == "email":
            self.deliveries.note(item, "expired", f"{outcome} after {age}: sending by email")
            try:
                await self.send_by_email(item.id)
            except EncryptionRefused as exc:
                # Not in clear by itself: it waits, as "ask" would, for the user.
                detail = f"{exc.reason}: send anyway, send by email, or cancel?"
                self.deliveries.note(item, "expired", detail, event=DeferralRetry(
                    item.account, item.id, item.msg_id,
                    int(item.payload.get("retries", 0)), detail, None), next_attempt=None)
        elif policy == "drop":
            self.deliveries.note(item, "expired", f"{outcome} after {age}: dropped")
            await self.cancel(item.id, f"dropped after {age} ({outcome})")
        else:
            detail = f"{outcome} after {age}: send anyway, send by email, or cancel?"
            self.deliveries.note(item, "expired", detail, event=DeferralRetry(
                item.account, item.id, item.msg_id, int(item.payload.get("retries", 0)),
                detail, None), next_attempt=None)

    # -- the user's choices -------------------------------------------------------------

    async def retry_now(self, outbox_id: int) -> None:
        """Send a deferred or queued message now, whatever the contact's presence."""
        item = self._get(outbox_id)
        if item.transport is Transport.EMAIL:
            self.store.outbox_update(outbox_id, next_attempt=time.time())
            await self.ports.mail(item.account).send_due()
            return
        await self._send(outbox_id, "sent now at your request")

    async def cancel(self, outbox_id: int, why: str = "cancelled by you") -> None:
        item = self._get(outbox_id)
        if not allowed(item.state, DeliveryState.CANCELLED):
            raise ValueError(f"{_whose(item)} is {_now(item.state)}: there is nothing "
                             "left to cancel")
        if self.deliveries.transition(item, DeliveryState.CANCELLED, why,
                                      next_attempt=None) is None:
            now = self._get(outbox_id).state
            raise ValueError(f"{_whose(item)} is {_now(now)}: there is nothing left "
                             "to cancel")
        if item.payload.get("mirrored"):
            await self._unmirror(outbox_id)

    async def send_by_email(self, outbox_id: int, *, clear: bool = False) -> str:
        """Give up on chat: send the text, history and files as one email to the
        contacts' email addresses, in the same thread, signed and encrypted as the
        row was planned (`clear`: the user chose to send it in clear). Returns the
        email's id. EncryptionRefused, naming who, when it must be encrypted and
        cannot be: the row stays as it was."""
        item = self._get(outbox_id)
        if item.transport is not Transport.XMPP:
            raise ValueError(f"{_whose(item)} is an email already")
        if not allowed(item.state, DeliveryState.FELL_BACK_TO_EMAIL):
            raise ValueError(f"{_whose(item)} is {_now(item.state)}: there is nothing "
                             "left to send by email")
        plan = ImPlan.from_payload(item.payload["plan"])
        targets = item.payload.get("email_to") or item.payload.get("targets") or [plan.to]
        await planned.open_last_email(self.store, self.ports, plan.account, plan.thread_id)
        protection = self.protection_of(item, plan, targets)
        if clear:
            protection = outgoing.Protection(home=protection.home, why="you chose clear",
                                             explicit=True)
        try:
            msg_id = await self.fallbacks.email_instead(with_quote(plan), targets, protection)
        except EncryptionRefused as exc:
            # What to do, as data: each front end says it (bridge.errors.Hint).
            action = f"outbox-{exc.hint.action}" if exc.hint else "outbox-stays"
            hint = Hint(action if action in CLI_HINTS else "outbox-stays", str(outbox_id))
            refused = EncryptionRefused(exc.reason, exc.missing, hint=hint)
            self.deliveries.note(item, "not sent by email", exc.reason)
            raise refused from exc
        self.deliveries.transition(outbox_id, DeliveryState.FELL_BACK_TO_EMAIL,
                                   "to the email address of " + ", ".join(targets),
                                   log="sent by email",
                                   next_attempt=None)
        if item.payload.get("mirrored"):
            await self._unmirror(outbox_id)
        return msg_id

    async def send_by_im(self, outbox_id: int,
                         why: str = "sent by chat at your request") -> list[int]:
        """Give up on SMTP: send a waiting email as chat to the same people (its
        text, with the subject on top, and its files, in the same thread). The
        chat rows replace the email in one transaction. Returns their ids."""
        item = self._get(outbox_id)
        if item.transport is not Transport.EMAIL:
            raise ValueError(f"{_whose(item)} is a chat message already")
        if item.state is not DeliveryState.QUEUED:
            raise ValueError(f"{_whose(item)} is {_now(item.state)}: only an email still "
                             "waiting for its mail server can go by chat instead")
        sealed = _sealed(item)
        legs = await self.fallbacks.im_instead(item)
        if sealed:
            await self._omemo_ready(item, legs)
        rows = [self._row(plan, who, DeliveryState.QUEUED, instead_of=outbox_id)
                for plan, who in legs]
        if sealed:
            # Encrypted by email, sealed by chat: every leg goes OMEMO or fails.
            for row in rows:
                kept = outgoing.Protection.from_payload(row["payload"]["protection"], None)
                row["payload"]["protection"] = dataclasses.replace(
                    kept or outgoing.Protection(), encrypt=True, omemo=True,
                    why=(kept.why if kept is not None and kept.encrypt
                         else outgoing.CONVERSATION)).to_payload()
        ids = self.deliveries.replace(item, DeliveryState.FELL_BACK_TO_IM, rows,
                                      why, log="sent by chat",
                                      only_from=(DeliveryState.QUEUED,))
        if ids is None:
            now = self._get(outbox_id).state
            raise ValueError(f"{_whose(item)} is {_now(now)} now: it stays an email")
        for new_id in ids:
            await self._send(new_id, f"instead of {_whose(item)}")
        return ids

    async def _omemo_ready(self, item: OutboxItem, legs: Sequence[tuple[ImPlan, list[str]]]
                           ) -> None:
        """Refuse (EncryptionRefused, naming who and why) to send an encrypted
        email by chat unless every one of its chat recipients can be written to
        with OMEMO now; nothing is written then, and it waits for its mail server."""
        chat = self.ports.chat(item.account)
        refused: list[tuple[str, str]] = []
        for _plan, people in legs:
            for jid in people:
                try:
                    if chat is None:
                        raise EncryptionRefused("no chat connection", [jid])
                    await chat.omemo_ready(jid)
                except EncryptionRefused as exc:
                    refused.append((jid, str(exc).removeprefix("not sent: ")))
        if refused:
            raise EncryptionRefused(
                f"not sent by chat: {_whose(item)} is encrypted, so it goes by chat only "
                "OMEMO-encrypted, and " + "; ".join(why for _jid, why in refused)
                + "; it waits for its mail server", [jid for jid, _why in refused])

    def protection_of(self, item: OutboxItem, plan: ImPlan, people: Sequence[str]
                      ) -> outgoing.Protection:
        """What the row was planned to be; a row written before rows kept it is
        decided now, as it would have been then."""
        kept = outgoing.Protection.from_payload(item.payload.get("protection"),
                                                self.config.crypto.gnupg_home)
        if kept is not None:
            if not kept.encrypt and not kept.explicit and planned.thread_encrypted(
                    self.store, plan.account, plan.thread_id):
                # Not known when it was planned (the email's body was not here):
                # a look again may only add encryption, never take it away.
                return dataclasses.replace(kept, encrypt=True, why=outgoing.CONVERSATION)
            return kept
        return planned.requirement(self.config, self.store, self.identity, plan.account,
                                   plan.thread_id, people, planned.default(self.config))

    @property
    def fallbacks(self) -> Fallbacks:
        assert self._fallbacks is not None, "the engine wires the handoff in"
        return self._fallbacks

    @fallbacks.setter
    def fallbacks(self, value: Fallbacks) -> None:
        self._fallbacks = value

    def _account(self, name: str) -> AccountConfig:
        return account_config(self.config, name)

    def _get(self, outbox_id: int) -> OutboxItem:
        return outbox_row(self.store, outbox_id)

    # -- the Deferred folder (bridge.outbox_mirror) ------------------------------------

    async def _mirror(self, outbox_id: int) -> None:
        item = self._get(outbox_id)
        kept = outgoing.Protection.from_payload(item.payload.get("protection"), None)
        if kept is not None and kept.encrypt:
            self.deliveries.note(item, "kept here", "not copied to the Deferred folder: "
                                 f"it must be encrypted ({kept.why}), and the copy would "
                                 "be in clear on the server")
            return
        await self.mirror.put(outbox_id)

    async def _unmirror(self, outbox_id: int) -> None:
        await self.mirror.remove(outbox_id)

    async def recover(self, account: str) -> None:
        """At start-up: put emails back in line, and reconcile the Deferred folder
        with the local rows both ways. Chat lines that a stopped process left
        unconfirmed are looked at by `_adopt`, once the XMPP session is up."""
        for item in self.store.outbox_items(states=[DeliveryState.QUEUED,
                                                    DeliveryState.SENDING]):
            if item.account != account:
                continue
            if item.state is DeliveryState.QUEUED:
                # A new start is a good moment to try: the server may be back.
                self.store.outbox_update(item.id, next_attempt=time.time())
            elif item.transport is Transport.EMAIL:
                # Its sender stopped between the claim and the server's answer: the
                # server may have it (RFC 1047's window); it goes again with the
                # same bytes and Message-ID, so threads and our store show it once.
                self.deliveries.transition(
                    item, DeliveryState.QUEUED, "the process sending it stopped before "
                    "the mail server's answer was recorded", log="resend",
                    only_from=(DeliveryState.SENDING,), claim=True, orphan=True,
                    next_attempt=time.time())
        cfg = self._account(account)
        if cfg.imap is None or cfg.xmpp is None:
            return
        await self.mirror.reconcile(account)
        self.wake()


def _sealed(item: OutboxItem) -> bool:
    """Whether a queued email's bytes are encrypted (they were sealed when queued)."""
    raw = str(item.payload.get("raw", ""))
    try:
        data = base64.b64decode(raw)[:65536]
    except ValueError:
        return False
    return b"application/pgp-encrypted" in data or b"-----BEGIN PGP MESSAGE-----" in data


def _parts(plan: ImPlan) -> list[str]:
    """The ids of every stanza a chat leg sends: history, text, files."""
    return [i for i in (plan.history_id if plan.history else None, plan.msg_id,
                        *(str(f.get("id", "")) for f in plan.files)) if i]


def _words(state: DeliveryState) -> str:
    return {DeliveryState.SENT: "the server accepted it",
            DeliveryState.DELIVERED: "delivered", DeliveryState.READ: "read"}.get(
        state, state.value)


# Where a row is, in the words of "your email to bob@… is …" (errors the user reads
# name the message by whom it is to, never by its row number or state's name).
_NOW_WORDS = {
    DeliveryState.QUEUED: "still waiting to be sent",
    DeliveryState.DEFERRED: "held back until they are available",
    DeliveryState.SENDING: "being sent right now",
    DeliveryState.SENT: "already sent (the server took it)",
    DeliveryState.DELIVERED: "already delivered",
    DeliveryState.READ: "already delivered and read",
    DeliveryState.FAILED: "given up on (it failed)",
    DeliveryState.CANCELLED: "already cancelled",
    DeliveryState.FELL_BACK_TO_EMAIL: "already sent by email instead",
    DeliveryState.FELL_BACK_TO_IM: "already sent by chat instead",
}


def _now(state: DeliveryState) -> str:
    return _NOW_WORDS.get(state, state.value)


def _whose(item: OutboxItem) -> str:
    """A row as the person who wrote it knows it: "your chat message to bob@…"."""
    what = "chat message" if item.transport is Transport.XMPP else "email"
    to = ", ".join(p.address for p in item.parties) or "nobody"
    return f"your {what} to {to}"


def _secs(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["DEFERRED_FOLDER", "WHEN_AWAY", "ContactAway", "DeferralRetry", "Outbox",
           "OutboxChanged", "describe_presence", "sender_party", "with_quote"]
