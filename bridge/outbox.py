"""One durable outbox for both transports, and presence-aware deferral of chat.

Every chat leg (`ImPlan`) becomes an outbox row before anything goes on the wire,
written in one SQLite transaction with the outgoing message itself. Then:

- available contact (or "send anyway"): sent at once; the server's ack makes it
  `sent`, the contact's receipt `delivered` (a room has no receipts: `sent` is final);
- away, busy, offline, unknown or blocked, and the user chose to defer: the row is
  `deferred`, mirrored as an email in the IMAP folder `Deferred` (text, history,
  files, and the plan as JSON), retried the moment the contact's presence turns
  available and on the configured backoff in between. Every retry and its outcome
  ("still away: In meetings") is logged on the row and published as an event;
- the user gives up: cancel, or send it by email instead (its text, history and
  files, to the contacts' email addresses, in the same thread);
- at the maximum age the policy applies: ask, email, or drop with a notice.

Emails use the same rows (`MailSender`); this loop wakes the mail worker when one
is due again. At start-up unsettled rows are sent again with the same ids
(receivers drop the copies), and the `Deferred` folder is reconciled with the
rows, so a deferred message survives the loss of the local store.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import imapclient

from . import failpoints
from .events import DeferralRetry, DeliveryChanged, Event, OutboxChanged, PresenceChanged
from .handoff import ImPlan
from .identity import UnmappedParty
from .mail.compose import build_email
from .model import (
    Availability,
    ContactPresence,
    DeliveryState,
    Direction,
    Message,
    OutboxItem,
    Party,
    Transport,
)
from .store import owner
from .xmpp.client import RESEND_TRIES, RESEND_WINDOW

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

DEFERRED_FOLDER = "Deferred"
PLAN_FILE = "tuiclient-deferred.json"
DEFERRED_HEADER = "X-Tuiclient-Deferred"
TICK = 1.0

WHEN_AWAY = ("ask", "send", "defer", "email")
SETTLED = {DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.CANCELLED,
           DeliveryState.FELL_BACK_TO_EMAIL, DeliveryState.FELL_BACK_TO_IM,
           DeliveryState.FAILED}
_RANK = {DeliveryState.SENDING: 1, DeliveryState.SENT: 2, DeliveryState.DELIVERED: 3,
         DeliveryState.READ: 4}


class ContactAway(Exception):
    """The contact is not available: the caller chooses send / defer / email."""

    def __init__(self, presences: Sequence[ContactPresence]) -> None:
        self.presences = list(presences)
        super().__init__("; ".join(describe_presence(p) for p in presences)
                         + ". Send anyway, defer, or send by email?")


def describe_presence(p: ContactPresence) -> str:
    what = {Availability.AWAY: "away", Availability.BUSY: "busy (do not disturb)",
            Availability.OFFLINE: "offline", Availability.UNKNOWN:
            "of unknown availability (no presence subscription)",
            Availability.BLOCKED: "blocked or refusing messages",
            Availability.AVAILABLE: "available"}[p.availability]
    return f"{p.jid} is {what}" + (f": {p.status}" if p.status else "")


def still_away(presences: Sequence[ContactPresence]) -> str:
    parts = []
    for p in presences:
        word = "still away" if p.availability is Availability.AWAY else \
            f"still {p.availability.value}"
        parts.append(f"{word}: {p.status}" if p.status else word)
    return "; ".join(parts)


class Outbox:
    """The engine's sender of chat legs and keeper of deferrals."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.policy = engine.config.deferral
        self.folder = engine.config.deferral.folder or DEFERRED_FOLDER
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._stopping = False
        self._busy: set[int] = set()  # rows being sent right now
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._unsubscribe = self.engine.events.subscribe(self._on_event)
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

    def _tell(self, item: OutboxItem | int, state: DeliveryState | str, detail: str = "") -> None:
        row = self.store.outbox_get(item) if isinstance(item, int) else item
        if row is None:
            return
        self.engine.events.publish(OutboxChanged(row.account, row.msg_id,
                                                 DeliveryState(state).value, detail,
                                                 outbox_id=row.id))

    # -- submitting -------------------------------------------------------------------

    def presences(self, plan: ImPlan, targets: Sequence[str]) -> list[ContactPresence]:
        """The availability of everyone a chat leg is for."""
        client = self.engine.xmpp.get(plan.account)
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
                     reason: str = "") -> int:
        """Write the outbox row (and the message) in one transaction, then send it
        now or keep it deferred. Returns the outbox id."""
        state = DeliveryState.DEFERRED if defer else DeliveryState.QUEUED
        outbox_id = self.store.outbox_add(**self._row(plan, targets, state))
        failpoints.hit(failpoints.OUTBOX_ROW_WRITTEN)
        if defer:
            self.store.outbox_log(outbox_id, "deferred", reason)
            self._tell(outbox_id, state, reason)
            await self._mirror(outbox_id)
        else:
            await self._send(outbox_id)
        return outbox_id

    def _row(self, plan: ImPlan, targets: Sequence[str], state: DeliveryState,
             **extra: Any) -> dict[str, Any]:
        """The outbox row of a chat leg, with its outgoing message: the arguments
        of `Store.outbox_add`."""
        account = self.engine.account(plan.account)
        now = time.time()
        message = Message(
            msg_id=plan.msg_id, account=plan.account, transport=Transport.XMPP,
            direction=Direction.OUT, thread_id=plan.thread_id, date=now,
            sender=Party((account.jid or "").partition("/")[0], account.display_name or "",
                         "from"),
            recipients=[Party(plan.to, "", "to")], text=plan.text, origin_id=plan.msg_id,
            delivery=state)
        exists = self.store.find_by_msg_id(plan.account, plan.msg_id) is not None
        deferred = state is DeliveryState.DEFERRED
        return {"msg_id": plan.msg_id, "account": plan.account, "transport": Transport.XMPP,
                "payload": {"plan": plan.to_payload(), "targets": list(targets), **extra},
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
            item = adopted or self.store.outbox_claim(
                outbox_id, (DeliveryState.QUEUED, DeliveryState.DEFERRED))
            if item is None:
                return  # another process holds it, or it moved on meanwhile
            plan = ImPlan.from_payload(item.payload["plan"])
            if item.payload.get("recovered") and not adopted:
                # Back from the Deferred folder after the store was lost: it may have
                # gone out before (and the folder copy outlived it). The archive says.
                skip = await self._held_parts(item, plan) or skip
                if plan.msg_id in skip:
                    self.store.outbox_update(outbox_id, DeliveryState.SENT,
                                             payload=dict(item.payload, recovered=False))
                    self.store.outbox_log(outbox_id, "on the server",
                                          "it went out before the store was lost: "
                                          "not sent again")
                    self._settle(item, DeliveryState.SENT, "the server's archive holds it")
                    return
            self.store.outbox_update(outbox_id, DeliveryState.SENDING,
                                     attempts=item.attempts + 1, next_attempt=None)
            if why:
                self.store.outbox_log(outbox_id, "sending", why)
            self._tell(outbox_id, DeliveryState.SENDING, why)
            try:
                await self.engine.send_im_plan(plan, skip=skip)
            except Exception as exc:  # server down, room refused, upload failed
                wait = self.policy.delay(item.attempts)
                self.store.outbox_update(outbox_id, DeliveryState.QUEUED,
                                         next_attempt=time.time() + wait)
                self.store.outbox_log(outbox_id, "retry later",
                                      f"{exc}; next try in {wait:.0f}s")
                self._tell(outbox_id, DeliveryState.QUEUED, str(exc))
                return
            if failpoints.armed(failpoints.STANZA_SENT):
                await asyncio.sleep(0.5)  # let the stanza leave the socket first
                failpoints.hit(failpoints.STANZA_SENT)
            message = self.store.find_by_msg_id(plan.account, plan.msg_id)
            if message is not None and message.delivery is not None and \
                    _RANK.get(message.delivery, 0) > _RANK[DeliveryState.SENDING]:
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
          RESEND_WINDOW of the ack and RESEND_TRIES times; a contact who is
          offline had it stored by the server, and a client that sends no
          receipts could only show a copy as a second message.

        A row held by a live process is that process's, and is never looked at."""
        for item in self.store.outbox_items(states=[DeliveryState.SENDING,
                                                    DeliveryState.SENT]):
            if item.transport is not Transport.XMPP or item.id in self._busy \
                    or owner.alive(item.owner):
                continue
            client = self.engine.xmpp.get(item.account)
            if client is None or not client.connected:
                continue
            plan = ImPlan.from_payload(item.payload["plan"])
            if item.state is DeliveryState.SENT:
                if plan.room:
                    self._settle(item, DeliveryState.DELIVERED, "the room took it")
                    continue
                if now - item.updated > RESEND_WINDOW or \
                        int(item.payload.get("resends", 0)) >= RESEND_TRIES:
                    continue  # the server's ack stands: sent
                if client.availability(plan.to).availability is not Availability.AVAILABLE:
                    continue  # offline: the server keeps it for them; looked at again later
            claimed = self.store.outbox_claim(item.id, (item.state,), None, orphan=True)
            if claimed is None:
                continue
            self._busy.add(item.id)
            try:
                await self._examine(client, claimed, plan)
            finally:
                self._busy.discard(item.id)

    async def _held_parts(self, item: OutboxItem, plan: ImPlan) -> frozenset[str]:
        client = self.engine.xmpp.get(item.account)
        if client is None or not client.connected:
            return frozenset()
        held = await client.on_server(plan.to, _parts(plan), item.created - 86400 * 30,
                                      room=plan.room)
        return frozenset(held or ())

    async def _examine(self, client: Any, item: OutboxItem, plan: ImPlan) -> None:
        parts = _parts(plan)
        held = await client.on_server(plan.to, parts, item.created, room=plan.room)
        missing = [p for p in parts if held is None or p not in held]
        if not missing:
            self.store.outbox_log(item.id, "on the server",
                                  "the server's archive holds it: not sent again")
            self._settle(item, DeliveryState.SENT, "the server's archive holds it")
            return
        if item.state is DeliveryState.SENT:
            if not await client.answers_receipts(plan.to):
                self.store.outbox_log(item.id, "not sent again",
                                      "the server took it and their client sends no "
                                      "receipts: a copy would arrive twice")
                return
            self.store.outbox_update(item.id, payload=dict(
                item.payload, resends=int(item.payload.get("resends", 0)) + 1))
        why = ("the process that sent it stopped before the server answered"
               if item.state is DeliveryState.SENDING else
               "the server acked it but does not hold it, and no receipt came")
        await self._send(item.id, f"sending again: {why}", adopted=item,
                         skip=frozenset(p for p in parts if p not in missing))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, PresenceChanged) and event.availability == "available":
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
                    self.store.outbox_update(item.id, DeliveryState.SENT)
                    failpoints.hit(failpoints.BEFORE_RECEIPT)
                self._settle(item, state, event.detail)

    def _settle(self, item: OutboxItem, state: DeliveryState, detail: str = "") -> None:
        current = self.store.outbox_get(item.id)
        if current is None or current.state in SETTLED:
            return
        if state is DeliveryState.FAILED:
            self.store.outbox_update(item.id, DeliveryState.FAILED, next_attempt=None)
            self.store.outbox_log(item.id, "failed", detail)
            self._tell(item, state, detail)
            return
        if _RANK.get(current.state, 0) >= _RANK.get(state, 0):
            return
        plan = ImPlan.from_payload(item.payload["plan"])
        if state is DeliveryState.SENT and plan.room:
            # No receipts in rooms: the server took it, everyone there gets it.
            state = DeliveryState.DELIVERED
        self.store.outbox_update(item.id, state)
        self.store.outbox_log(item.id, state.value, detail or _words(state))
        self._tell(item, state, detail or _words(state))
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
                    worker = self.engine.mail.get(item.account)
                    if worker is not None and worker.is_alive():
                        worker.kick()
                continue
            if item.account not in self.engine.xmpp:
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
            client = self.engine.xmpp.get(item.account)
            if client is not None and client.connected:
                continue
            plan = ImPlan.from_payload(item.payload["plan"])
            if client is not None:
                for msg_id in (plan.msg_id, plan.history_id, *(str(f.get("id", ""))
                                                               for f in plan.files)):
                    client._pending.pop(msg_id or "", None)
            self.store.outbox_log(item.id, "transport down",
                                  f"no XMPP connection for {_secs(self.policy.max_age)}: "
                                  "sending by email")
            try:
                await self.send_by_email(item.id)
            except Exception as exc:  # no email address for them: keep it for chat
                self.store.outbox_update(item.id, payload=dict(item.payload, no_email=True))
                self.store.outbox_log(item.id, "email failed", str(exc))

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
            client = self.engine.xmpp.get(item.account)
            if client is None or not client.connected:
                continue  # both down: it waits for whichever comes back
            try:
                await self.send_by_im(item.id, f"the mail server refused it for "
                                               f"{_secs(now - self._first_failure(item))}")
            except UnmappedParty as exc:  # no JID for someone: it stays an email
                self.store.outbox_update(item.id, payload=dict(item.payload, no_im=True))
                self.store.outbox_log(item.id, "cannot go by chat",
                                      f"{exc} It waits for the mail server; `outbox im` "
                                      "tries again after a mapping.")
            except Exception as exc:  # the chat side failed, or the worker took it
                wait = self.policy.delay(0)
                self.store.outbox_update(item.id, payload=dict(item.payload,
                                                               im_retry_at=now + wait))
                self.store.outbox_log(item.id, "not by chat yet",
                                      f"{exc}; next try in {_secs(wait)}")

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
            self.store.outbox_log(item.id, "retry", outcome)
            self.engine.events.publish(DeferralRetry(item.account, item.id, item.msg_id,
                                                     attempt, outcome, None))
            await self._send(item.id, outcome)
            return
        if item.next_attempt is None or item.next_attempt > now:
            return  # not due; presence will wake us
        if now - item.created >= self.policy.max_age:
            await self._expired(item, still_away(away))
            return
        wait = self.policy.delay(attempt)
        outcome = still_away(away)
        payload = dict(item.payload, retries=attempt)
        self.store.outbox_update(item.id, payload=payload, next_attempt=now + wait)
        self.store.outbox_log(item.id, "retry", f"{outcome}; next try in {_secs(wait)}")
        self.engine.events.publish(DeferralRetry(item.account, item.id, item.msg_id, attempt,
                                                 outcome, wait))

    async def _expired(self, item: OutboxItem, outcome: str) -> None:
        age = _secs(self.policy.max_age)
        policy = self.policy.on_max_age
        if policy == "email":
            self.store.outbox_log(item.id, "expired", f"{outcome} after {age}: sending by email")
            await self.send_by_email(item.id)
        elif policy == "drop":
            self.store.outbox_log(item.id, "expired", f"{outcome} after {age}: dropped")
            await self.cancel(item.id, f"dropped after {age} ({outcome})")
        else:
            self.store.outbox_update(item.id, next_attempt=None)
            detail = f"{outcome} after {age}: send anyway, send by email, or cancel?"
            self.store.outbox_log(item.id, "expired", detail)
            self.engine.events.publish(DeferralRetry(item.account, item.id, item.msg_id,
                                                     int(item.payload.get("retries", 0)),
                                                     detail, None))

    # -- the user's choices -------------------------------------------------------------

    async def retry_now(self, outbox_id: int) -> None:
        """Send a deferred or queued message now, whatever the contact's presence."""
        item = self._get(outbox_id)
        if item.transport is Transport.EMAIL:
            self.store.outbox_update(outbox_id, next_attempt=time.time())
            worker = self.engine.mail.get(item.account)
            if worker is not None and worker.is_alive():
                worker.kick()
            else:
                await asyncio.to_thread(self.engine._sender(item.account).flush)
            return
        await self._send(outbox_id, "sent now at your request")

    async def cancel(self, outbox_id: int, why: str = "cancelled by you") -> None:
        item = self._get(outbox_id)
        if item.state in SETTLED or item.state is DeliveryState.SENT:
            raise ValueError(f"outbox item {outbox_id} is already {item.state.value}")
        self.store.outbox_update(outbox_id, DeliveryState.CANCELLED, next_attempt=None)
        self.store.outbox_log(outbox_id, "cancelled", why)
        self._tell(outbox_id, DeliveryState.CANCELLED, why)
        if item.payload.get("mirrored"):
            await self._unmirror(outbox_id)

    async def send_by_email(self, outbox_id: int) -> str:
        """Give up on chat: send the text, history and files as one email to the
        contacts' email addresses, in the same thread. Returns the email's id."""
        item = self._get(outbox_id)
        if item.transport is not Transport.XMPP or item.state in SETTLED:
            raise ValueError(f"outbox item {outbox_id} is {item.state.value}; nothing to move")
        plan = ImPlan.from_payload(item.payload["plan"])
        targets = item.payload.get("targets") or [plan.to]
        msg_id = await self.engine.email_instead(plan, targets)
        self.store.outbox_update(outbox_id, DeliveryState.FELL_BACK_TO_EMAIL, next_attempt=None)
        self.store.outbox_log(outbox_id, "sent by email", f"as email {msg_id}")
        self._tell(outbox_id, DeliveryState.FELL_BACK_TO_EMAIL, f"as email {msg_id}")
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
            raise ValueError(f"outbox item {outbox_id} is a chat message already")
        if item.state is not DeliveryState.QUEUED:
            raise ValueError(f"outbox item {outbox_id} is {item.state.value}; only an email "
                             "waiting for its server can go by chat")
        legs = await self.engine.im_instead(item)
        rows = [self._row(plan, who, DeliveryState.QUEUED, instead_of=outbox_id)
                for plan, who in legs]
        ids = self.store.outbox_replace(outbox_id, DeliveryState.FELL_BACK_TO_IM, rows,
                                        only_from=(DeliveryState.QUEUED,))
        if ids is None:
            now = self._get(outbox_id).state.value
            raise ValueError(f"outbox item {outbox_id} is {now} now; it stays an email")
        detail = why + "; as chat " + ", ".join(str(i) for i in ids)
        self.store.outbox_log(outbox_id, "sent by chat", detail)
        self._tell(outbox_id, DeliveryState.FELL_BACK_TO_IM, detail)
        for new_id in ids:
            await self._send(new_id, f"instead of email {outbox_id}")
        return ids

    def _get(self, outbox_id: int) -> OutboxItem:
        item = self.store.outbox_get(outbox_id)
        if item is None:
            raise KeyError(f"no outbox item {outbox_id}")
        return item

    # -- the Deferred folder ------------------------------------------------------------

    def _mirror_email(self, item: OutboxItem) -> bytes:
        plan = ImPlan.from_payload(item.payload["plan"])
        account = self.engine.account(item.account)
        targets = item.payload.get("targets") or [plan.to]
        to = []
        for jid in targets:
            r = self.engine.identity.email_for(jid)
            to.append(Party(r.address or jid, self.engine._name_of(jid), "to"))
        first = " ".join(plan.text.split())[:60]
        body = (f"Deferred chat message to {', '.join(targets)}; tuiclient sends it when "
                f"they are available.\n\n{plan.text}\n")
        if plan.history:
            body += f"\n{plan.history}\n"
        files = [(str(f["name"]), str(f["type"]),
                  self.store.blob_path(str(f["sha256"])).read_bytes()) for f in plan.files]
        files.append((PLAN_FILE, "application/json",
                      json.dumps(item.payload, sort_keys=True).encode()))
        mail = build_email(self.engine._from(account), to, [], f"Deferred chat: {first}", body,
                           msg_id=plan.msg_id, in_reply_to=plan.thread_id,
                           references=[plan.thread_id], attachments=files,
                           extra_headers={DEFERRED_HEADER: str(item.id)})
        return mail.as_bytes()

    async def _mirror(self, outbox_id: int) -> None:
        item = self._get(outbox_id)
        account = self.engine.account(item.account)
        if account.imap is None:
            return
        raw = self._mirror_email(item)
        try:
            await self.engine._imap(item.account,
                                    lambda s: s.append(self.folder, raw, ("\\Seen",)))
        except Exception as exc:  # the row is safe locally; the mirror comes next start
            self.store.outbox_log(outbox_id, "mirror failed", str(exc))
            return
        self.store.outbox_update(outbox_id, payload=dict(item.payload, mirrored=True))
        self.store.outbox_log(outbox_id, "mirrored", f"kept in the {self.folder} folder")

    async def _unmirror(self, outbox_id: int) -> None:
        item = self._get(outbox_id)
        try:
            await self.engine._imap(item.account,
                                    lambda s: _delete_by_message_id(s, self.folder,
                                                                    item.msg_id))
        except Exception as exc:
            self.store.outbox_log(outbox_id, "unmirror failed", str(exc))
            return
        self.store.outbox_update(outbox_id, payload=dict(item.payload, mirrored=False))
        self.store.outbox_log(outbox_id, "unmirrored", f"removed from the {self.folder} folder")

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
            elif item.transport is Transport.EMAIL and self.store.outbox_claim(
                    item.id, (DeliveryState.SENDING,), DeliveryState.QUEUED, orphan=True,
                    next_attempt=time.time()) is not None:
                # Its sender stopped between the claim and the server's answer: the
                # server may have it (RFC 1047's window); it goes again with the
                # same bytes and Message-ID, so threads and our store show it once.
                self.store.outbox_log(item.id, "resend",
                                      "the process sending it stopped before the mail "
                                      "server's answer was recorded")
        cfg = self.engine.account(account)
        if cfg.imap is None or cfg.xmpp is None:
            return
        try:
            mirrored = await self.engine._imap(account,
                                               lambda s: _read_folder(s, self.folder))
        except Exception as exc:
            log.warning("%s: reading the %s folder failed: %s", account, self.folder, exc)
            return
        local = {i.msg_id: i for i in self.store.outbox_items()
                 if i.account == account and i.transport is Transport.XMPP}
        for msg_id, payload, files in mirrored:
            known = local.get(msg_id)
            if known is None:
                self._recreate(account, msg_id, payload, files)
            elif known.state in SETTLED or known.state is DeliveryState.SENT:
                with contextlib.suppress(Exception):
                    await self.engine._imap(account, functools.partial(
                        _delete_by_message_id, folder=self.folder, msg_id=msg_id))
        seen = {m for m, _p, _f in mirrored}
        for item in local.values():
            if item.state is DeliveryState.DEFERRED and item.msg_id not in seen:
                await self._mirror(item.id)
        self.wake()

    def _recreate(self, account: str, msg_id: str, payload: dict,
                  files: list[bytes]) -> None:
        for data in files:
            self.store.store_blob(data)  # the files come back from the mirror
        plan = ImPlan.from_payload(payload["plan"])
        cfg = self.engine.account(account)
        message = Message(
            msg_id=msg_id, account=account, transport=Transport.XMPP,
            direction=Direction.OUT, thread_id=plan.thread_id, date=time.time(),
            sender=Party((cfg.jid or "").partition("/")[0], cfg.display_name or "", "from"),
            recipients=[Party(plan.to, "", "to")], text=plan.text, origin_id=msg_id,
            delivery=DeliveryState.DEFERRED)
        exists = self.store.find_by_msg_id(account, msg_id) is not None
        outbox_id = self.store.outbox_add(
            msg_id, account, Transport.XMPP,
            payload=dict(payload, mirrored=True, recovered=True),
            parties=[Party(t, "", "to") for t in (payload.get("targets") or [plan.to])],
            state=DeliveryState.DEFERRED, next_attempt=time.time(),
            message=None if exists else message)
        self.store.outbox_log(outbox_id, "recovered", f"from the {self.folder} folder")
        self._tell(outbox_id, DeliveryState.DEFERRED, f"recovered from the {self.folder} folder")


def _parts(plan: ImPlan) -> list[str]:
    """The ids of every stanza a chat leg sends: history, text, files."""
    return [i for i in (plan.history_id if plan.history else None, plan.msg_id,
                        *(str(f.get("id", "")) for f in plan.files)) if i]


def _words(state: DeliveryState) -> str:
    return {DeliveryState.SENT: "the server accepted it",
            DeliveryState.DELIVERED: "delivered", DeliveryState.READ: "read"}.get(
        state, state.value)


def _secs(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _delete_by_message_id(sync: Any, folder: str, msg_id: str) -> int:
    client = sync.connect()
    try:
        client.select_folder(folder)
    except imapclient.exceptions.IMAPClientError:
        return 0  # no folder, nothing to remove
    uids = client.search(["HEADER", "Message-ID", f"<{msg_id}>"])
    if uids:
        client.delete_messages(uids)
        if b"UIDPLUS" in client.capabilities():
            client.uid_expunge(uids)
        else:
            client.expunge()
    return len(uids)


def _read_folder(sync: Any, folder: str) -> list[tuple[str, dict, list[bytes]]]:
    """Every deferred message of the folder: (message id, plan payload, file bytes)."""
    client = sync.connect()
    try:
        client.select_folder(folder, readonly=True)
    except imapclient.exceptions.IMAPClientError:
        return []
    uids = client.search(["HEADER", DEFERRED_HEADER, ""])
    found = []
    for _uid, data in client.fetch(uids, [b"BODY.PEEK[]"]).items():
        mail = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
        msg_id = (mail.get("Message-ID") or "").strip().strip("<>")
        payload = None
        files: list[bytes] = []
        for part in mail.iter_attachments():
            raw = part.get_payload(decode=True)
            content = raw if isinstance(raw, bytes) else b""
            if part.get_filename() == PLAN_FILE:
                with contextlib.suppress(ValueError):
                    payload = json.loads(content)
            else:
                files.append(content)
        if msg_id and isinstance(payload, dict) and "plan" in payload:
            found.append((msg_id, payload, files))
    return found


__all__ = ["WHEN_AWAY", "ContactAway", "DeferralRetry", "Outbox", "OutboxChanged"]
