"""`tuiclient run --rules FILE`: stay connected and answer by rules.

The engine keeps IMAP IDLE and XMPP up and runs the outbox (retries, deferrals);
this loop follows the store for new incoming messages, asks the rule set what to
do with each, and does it through the same engine calls the app makes. Every
action is printed (a JSON line with --json). SIGTERM or SIGINT stop it cleanly:
the current action finishes, and whatever waits is already a durable outbox row.

Our automatic emails carry `Auto-Submitted: auto-replied` (RFC 3834), our chat
replies count against the per-thread limit; an incoming message marked as
automatic is never answered, so two daemons cannot keep each other busy. For an
email, "marked as automatic" is read from its header on the server
(`rules.AUTOMATIC_HEADERS`); if that cannot be read, the message is skipped,
not answered blindly.

Nothing is sent in clear in an encrypted conversation (its last email was
encrypted) or to a contact who prefers encryption: the answer goes encrypted by
email, or is not sent at all and the reason logged ("not sent"). A chat answer
there is refused (chat has no encryption yet), and a forward of an encrypted
email is encrypted too.

One sender is answered at most once per the rules file's `reply_once_per`
(default a day). When each was last answered is kept in the state file next to
the store (`rules-daemon.json`), written after every answer, so a restarted
daemon remembers it.

Without `--rules` (`tuiclient run`), there are no rules: the daemon keeps IMAP
IDLE and XMPP up and the outbox running, which is what retries deferred chats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import TYPE_CHECKING, Protocol

from ..errors import ContactAway, EncryptionRefused
from ..events import Event
from ..identity import UnmappedParty
from ..model import SEEN, Direction, Message, Transport
from . import output as out
from .outcome import EXIT_CONFIG, EXIT_OK, Outcome, store_not_writable
from .rules import (
    AUTOMATIC_HEADERS,
    Decision,
    Incoming,
    ReplyLedger,
    RulesError,
    RuleSet,
    automatic_reason,
)

if TYPE_CHECKING:
    from ..engine import Engine


class Host(Protocol):
    """What the daemon needs of the headless front end that runs it (host.Headless):
    its engine, its stop signal, and bringing the servers up unless stopped."""

    engine: Engine
    stop: asyncio.Event

    async def up_unless_stopped(self, *, mail: bool = False, xmpp: bool = True) -> bool: ...


# On a first run, messages older than this are history, not news; later runs
# go on from where the last one stopped (the state file), so what came in while
# the daemon was down is answered too.
FRESH = 5.0
AUTO_HEADER = {"Auto-Submitted": "auto-replied"}


class RulesDaemon:
    def __init__(self, h: Host, rules: RuleSet, as_json: bool) -> None:
        self.h = h
        self.engine = h.engine
        self.rules = rules
        self.as_json = as_json
        self.started = time.time()
        self.state_file = self.engine.store_path.parent / "rules-daemon.json"
        self.last_row = self.engine.last_message_row()
        self.since = self.started - FRESH
        self.replied = ReplyLedger()
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            state = json.loads(self.state_file.read_text())
            self.replied = ReplyLedger.from_json(state.get("replied"))
            self.last_row = min(int(state["last_row"]), self.last_row)
            self.since = 0.0
        self.wake = asyncio.Event()
        self.stop = h.stop
        self.actions = 0
        self.own = {a.lower() for acc in self.engine.accounts
                    for a in (acc.email, acc.jid) if a}
        self.auto_ids: set[str] = set()  # message ids of what our rules sent

    def report(self, what: str, **fields: object) -> None:
        if self.as_json:
            out.dump_json({"action": what, **fields})
        else:
            detail = " ".join(f"{k}={out.t(str(v))}" for k, v in fields.items())
            print(f"{time.strftime('%H:%M:%S')} {what} {detail}", flush=True)

    def _on_event(self, event: Event, loop: asyncio.AbstractEventLoop) -> None:
        if type(event).__name__ in ("MessageReceived", "FolderChanged", "SyncProgress"):
            loop.call_soon_threadsafe(self.wake.set)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.engine.events.subscribe(lambda e: self._on_event(e, loop))
        if not await self.h.up_unless_stopped(mail=True, xmpp=True):
            self.report("stopped", actions=self.actions)
            return
        self.report("started", accounts=",".join(a.name for a in self.engine.accounts),
                    rules=str(self.rules.path) if self.rules.rules else "none")
        while not self.stop.is_set():
            await self.pass_once()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._either()
            self.wake.clear()
        self.report("stopped", actions=self.actions)

    async def _either(self) -> None:
        waits = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(self.stop.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def pass_once(self) -> None:
        for m in self.engine.messages_after(self.last_row):
            if self.stop.is_set():
                return
            self.last_row = max(self.last_row, m.id or 0)
            if m.direction is not Direction.IN or m.date < self.since:
                continue
            await self.consider(m)
        self._save()

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        period = self.rules.reply_once_per
        if period:
            self.replied.prune(time.time(), period)
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps({"last_row": self.last_row,
                                       "replied": self.replied.to_json()}))
            tmp.replace(self.state_file)

    def incoming(self, m: Message, automatic: str | None = None) -> Incoming:
        contact = self.engine.contact_for(m.sender.address)
        thread = self.engine.timeline(m.account, m.thread_id)
        availability = None
        if self.engine.chat_online(m.account):
            availability = self.engine.availability(m.account, m.sender.address) \
                .availability.value
        sender = m.sender.address.partition("/")[0].lower()
        return Incoming(
            row_id=m.id or 0, account=m.account, transport=m.transport.value,
            thread_id=m.thread_id, sender=sender, sender_name=m.sender.name,
            contact=contact.name if contact is not None and contact.name else None,
            recipients=tuple(p.address.lower() for p in m.recipients), subject=m.subject,
            text=m.text, own=sender in self.own, auto=m.msg_id in self.auto_ids,
            thread_state="new" if thread and thread[0].msg_id == m.msg_id else "reply",
            availability=availability, date=m.date, automatic=automatic)

    async def consider(self, m: Message) -> None:
        if m.transport is Transport.EMAIL and not m.text and m.id is not None:
            try:
                m = await self.engine.fetch_body(m.id)
            except Exception as exc:
                self.report("skipped", message=m.id, reason=f"body not fetched: {exc}")
                return
        automatic = None
        if m.transport is Transport.EMAIL and m.uid is not None and m.id is not None \
                and self.rules.rules:
            try:
                headers = await self.engine.fetch_headers(m.id, AUTOMATIC_HEADERS)
            except Exception as exc:
                self.report("skipped", message=m.id, reason=f"header not fetched: {exc}")
                return
            automatic = automatic_reason(headers)
        msg = self.incoming(m, automatic)
        before = self.replied.last(msg)
        decisions = self.rules.decide(msg, time.time(), replied=self.replied)
        for note in self.rules.last_notes:
            self.report("held back", message=m.id, reason=note)
        for d in decisions:
            try:
                await self.act(m, d)
            except EncryptionRefused as exc:
                self.report("not sent", rule=d.rule, message=m.id, reason=str(exc))
                if d.action in ("reply", "handoff"):
                    self.replied.forget(msg, before)
            except (UnmappedParty, ContactAway, Exception) as exc:
                reason = store_not_writable(exc, self.engine.store_path) or str(exc)
                self.report("failed", rule=d.rule, message=m.id, reason=reason)
                if d.action in ("reply", "handoff"):
                    self.replied.forget(msg, before)
        if decisions:
            self._save()  # the answer and its sender are on record before the next one

    async def act(self, m: Message, d: Decision) -> None:
        assert m.id is not None
        action, rule = d.action, d.rule
        if action == "mark":
            await self.engine.mark(m.id, d.flag)
            self.report("marked", rule=rule, message=m.id, flag=d.flag)
            return
        if action == "forward":
            quoted = "\n".join("> " + line for line in m.text.splitlines())
            text = f"{d.text}\n\n--- forwarded from {m.sender.address} ---\n{quoted}\n"
            # What came encrypted is forwarded encrypted, or not at all.
            sealed = self.engine.conversation_encrypted(m.account, m.thread_id)
            result = await self.engine.send_message(
                m.account, list(d.forward_to), text, via="email",
                subject=f"Fwd: {m.subject}" if m.subject else "Fwd: chat message",
                encrypt=True if sealed else None)
            self.auto_ids.update(result.email_ids)
            self.actions += 1
            self.report("forwarded", rule=rule, message=m.id, to=",".join(d.forward_to))
            return
        via = d.via or "auto"
        required = await self.engine.reply_protection(m.id)
        sealed = required.encrypt
        if sealed and via != "im":
            # An encrypted conversation (or a contact who prefers it) is answered
            # encrypted: by chat with OMEMO when the rule says chat (the engine
            # refuses, naming who, when someone has no device), else by email.
            via = "email"
        if via == "auto":
            via = self._auto_via(m)
        policy = self.engine.config.deferral.policy
        result = await self.engine.reply(
            m.id, d.text, via=via, reply_all=d.reply_all,
            history=d.history, attachments=d.attach or None,
            mixed=not sealed, when_away="defer" if policy == "ask" else policy,
            headers=AUTO_HEADER, encrypt=True if sealed else None)
        self.auto_ids.update(result.email_ids)
        self.auto_ids.update(c.msg_id for c in result.chat)
        self.actions += 1
        if m.transport is Transport.EMAIL and SEEN not in m.flags:
            with contextlib.suppress(Exception):
                await self.engine.mark(m.id, "read")
        self.report("handed off" if action == "handoff" else "replied", rule=rule,
                    message=m.id, via=result.via, thread=m.thread_id,
                    deferred=result.deferred, room=result.room or "")

    def _auto_via(self, m: Message) -> str:
        if not self.engine.chat_online(m.account):
            return "email"
        presence = self.engine.availability(m.account, m.sender.address)
        return "im" if presence.availability.value == "available" else "email"


async def run_rules(h: Host, a: argparse.Namespace) -> Outcome:
    own = [x for acc in h.engine.accounts for x in (acc.email, acc.jid) if x]
    if a.rules is None:
        # `tuiclient run`: no rules, only the engine's loops (IDLE, XMPP, outbox).
        daemon = RulesDaemon(h, RuleSet(own_addresses=own), a.json)
        await daemon.run()
        return Outcome(EXIT_OK, {"actions": daemon.actions}, [])
    try:
        rules = RuleSet.load(a.rules, own_addresses=own)
    except RulesError as exc:
        print(f"tuiclient: rules error: {exc}", file=sys.stderr, flush=True)
        return Outcome(EXIT_CONFIG, {"error": str(exc)}, [str(exc)])
    except OSError as exc:
        print(f"tuiclient: cannot read the rules file: {exc}", file=sys.stderr, flush=True)
        return Outcome(EXIT_CONFIG, {"error": str(exc)}, [str(exc)])
    daemon = RulesDaemon(h, rules, a.json)
    await daemon.run()
    return Outcome(EXIT_OK, {"actions": daemon.actions}, [])
