"""`tuiclient <command>`: every action of the app, without a screen.

Human-readable output by default, `--json` for programs. Exit codes:

    0  done
    1  failed (the message says why)
    2  usage: bad arguments
    3  config: the config file is wrong (file, line and key are named)
    4  auth: a server refused the login
    5  network: a server could not be reached
    6  not yet delivered: deferred, or waiting in the outbox for a server
    7  needs a decision: a party has no address on that transport, or the
       contact is away and --when-away is "ask"
    8  store not writable: the disk is full or read-only (the path is named);
       nothing was half-written, so the same command can simply be run again

`serve` reads commands as JSON lines on stdin (`{"id": 1, "argv": ["send", ...]}`)
and answers each with one JSON line, so a long-running script drives one engine
without reconnecting for every call; `{"id": 2, "watch": true}` adds the engine's
events to the output stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import socket
import sqlite3
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..config import (
    SERVICES,
    Config,
    ConfigError,
    SecretError,
    check_ca_files,
    check_password_commands,
    get_password,
)
from ..engine import Engine, EngineError, ReplyResult
from ..errors import WHEN_AWAY, ContactAway, describe_presence
from ..events import Event, HealthChanged
from ..identity import UnmappedParty, normalize_email, normalize_jid
from ..model import DeliveryState, Direction, Message, Thread, Transport
from . import output as out
from .chat import CHAT_COMMANDS, CHAT_HANDLERS, add_chat_commands
from .mail_verbs import MAIL_COMMANDS, MAIL_HANDLERS, add_mail_commands

# Defined in .outcome, and importable from here as before (see __all__).
from .outcome import (
    EXIT_AUTH,
    EXIT_CONFIG,
    EXIT_DECIDE,
    EXIT_FAILED,
    EXIT_NETWORK,
    EXIT_NOT_DELIVERED,
    EXIT_OK,
    EXIT_STORE,
    EXIT_USAGE,
    CommandError,
    Outcome,
    store_not_writable,
)

COMMANDS = ("sync", "list", "show", "search", "send", "reply", "handoff", "outbox",
            "contacts", "watch", "serve", "run", "health", *MAIL_COMMANDS, *CHAT_COMMANDS)


# -- the parser -------------------------------------------------------------------------


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the headless commands to tuiclient's parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for programs")
    common.add_argument("--account", help="the account (default: the first one)")

    def text_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("text", nargs="?", help="the text; '-' or nothing reads stdin")

    def send_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--when-away", choices=WHEN_AWAY, default=None,
                       help="if the contact is not available: ask (exit 7), send anyway, "
                            "defer, or send by email (default: the config's policy)")
        p.add_argument("--wait", type=float, default=10.0,
                       help="seconds to wait for the server and the receipt (default 10)")

    def reply_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--all", action="store_true", dest="reply_all",
                       help="to every party, not just the sender")
        p.add_argument("--history", action="store_true",
                       help="carry the earlier messages along")
        p.add_argument("--attach", action="append", default=[], metavar="NAME",
                       help="a file of the thread to send along ('all' for every one)")
        p.add_argument("--mixed", action="store_true",
                       help="parties without an address on that transport get the other one")
        p.add_argument("--separate-chats", action="store_true",
                       help="one chat per person instead of a room")

    p = sub.add_parser("sync", parents=[common], help="fetch new mail and chat now")
    p = sub.add_parser("list", parents=[common], help="list conversations")
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--unread", action="store_true")
    p.add_argument("--transport", choices=("email", "xmpp"))
    p = sub.add_parser("show", parents=[common], help="one conversation as one timeline")
    p.add_argument("thread", help="a conversation: its number from `list` or its thread id")
    p.add_argument("--no-fetch", action="store_true", help="do not fetch missing email bodies")
    p = sub.add_parser("search", parents=[common], help="search mail and chat")
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=30)
    p = sub.add_parser("send", parents=[common], help="start a conversation")
    p.add_argument("--to", action="append", required=True, metavar="ADDRESS")
    p.add_argument("--via", choices=("email", "im", "auto"), default="auto")
    p.add_argument("--subject", default="")
    p.add_argument("--file", action="append", default=[], type=Path, metavar="PATH",
                   help="attach a file")
    send_options(p)
    text_args(p)
    p = sub.add_parser("reply", parents=[common], help="answer a message by email or IM")
    p.add_argument("message", help="a message number (#N in `show`) or its message id")
    p.add_argument("--via", choices=("email", "im", "auto"), default="auto")
    reply_options(p)
    send_options(p)
    text_args(p)
    p = sub.add_parser("handoff", parents=[common], help="move a conversation to IM or email")
    p.add_argument("thread")
    p.add_argument("--to", choices=("im", "email"), required=True, dest="target")
    p.add_argument("--no-files", action="store_true",
                   help="to email: leave out the files shared in the chat (carried by default)")
    reply_options(p)
    send_options(p)
    text_args(p)
    p = sub.add_parser("outbox", parents=[common], help="what waits to be sent")
    osub = p.add_subparsers(dest="outbox_command")
    ol = osub.add_parser("list", parents=[common])
    ol.add_argument("--all", action="store_true", help="settled ones too")
    ol.add_argument("--log", action="store_true", help="with each row's log")
    for name, what in (("retry", "send now"), ("cancel", "stop it"),
                       ("email", "send a chat message by email instead"),
                       ("im", "send an email by chat instead")):
        op = osub.add_parser(name, parents=[common], help=what)
        op.add_argument("id", type=int)
        op.add_argument("--wait", type=float, default=10.0,
                        help="seconds to wait for the server and the receipt (default 10)")
    p = sub.add_parser("contacts", parents=[common], help="who is who across transports")
    csub = p.add_subparsers(dest="contacts_command")
    csub.add_parser("list", parents=[common])
    cm = csub.add_parser("map", parents=[common], help="say an email address and a JID "
                                                     "are the same person")
    cm.add_argument("email")
    cm.add_argument("jid")
    cm.add_argument("--name", default="")
    cu = csub.add_parser("unmap", parents=[common], help="forget a learned address")
    cu.add_argument("address")
    cs = csub.add_parser("suggest", parents=[common], help="mappings waiting for your yes")
    cs.add_argument("--vcard", action="store_true",
                    help="ask the roster's vCards for email addresses first")
    sub.add_parser("watch", parents=[common], help="print the engine's events as JSON lines")
    sub.add_parser("serve", parents=[common], help="take JSON-line commands on stdin")
    p = sub.add_parser("run", parents=[common],
                       help="stay connected: retry deferred and queued sends, apply reply rules")
    p.add_argument("--rules", type=Path, default=None,
                   help="the rules file (TOML); without it, no rules: only the outbox's "
                        "retries, IMAP IDLE and XMPP")
    p = sub.add_parser("health", parents=[common],
                       help="probe every server once: reachable, login, round trip, clock")
    add_mail_commands(sub)
    # -- chat: corrections, reactions, rooms, roster --
    add_chat_commands(sub, common)


# -- the store's disk ------------------------------------------------------------------

# -- running ---------------------------------------------------------------------------


class Headless:
    """One engine, brought up as far as a command needs."""

    def __init__(self, config: Config, engine: Engine | None = None) -> None:
        self.engine = engine or Engine(config)
        self.failures: dict[tuple[str, str], str] = {}
        self.started: set[str] = set()
        # Set by SIGTERM/SIGINT in the long-running commands (watch, serve, run).
        self.stop = asyncio.Event()
        self.engine.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, HealthChanged):
            key = (event.account, event.service)
            if event.ok:
                self.failures.pop(key, None)
            else:
                self.failures[key] = event.detail

    async def up(self, *, mail: bool = False, xmpp: bool = True) -> None:
        wanted = ("mail" if mail else "") + ("xmpp" if xmpp else "")
        if wanted in self.started or ("mailxmpp" in self.started):
            return
        await self.engine.start(mail=mail, xmpp=xmpp)
        self.started.add(wanted)
        if xmpp and self.engine.chat_online():
            # Contacts announce themselves just after our own presence; give them a
            # moment so "is bob available?" is not answered too early.
            await asyncio.sleep(0.3)

    async def up_unless_stopped(self, *, mail: bool = False, xmpp: bool = True) -> bool:
        """`up`, abandoned when a stop signal comes first (a server that does not
        answer must not keep a daemon from stopping); False if it was."""
        up = asyncio.ensure_future(self.up(mail=mail, xmpp=xmpp))
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({up, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not up.done():
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await up
            return False
        up.result()
        return True

    def need_xmpp(self, account: str) -> None:
        if self.engine.chat_online(account):
            return
        self._raise_failure(account, "xmpp")
        raise CommandError(EXIT_FAILED, f"account {account} has no XMPP connection")

    def _raise_failure(self, account: str, service: str) -> None:
        detail = self.failures.get((account, service))
        if detail:
            code = EXIT_AUTH if "login refused" in detail or "auth" in detail.lower() \
                else EXIT_NETWORK
            raise CommandError(code, f"{account} {service}: {detail}")

    async def close(self) -> None:
        await self.engine.stop()
        self.engine.close()


def read_text(text: str | None) -> str:
    if text is None or text == "-":
        if sys.stdin.isatty():
            raise CommandError(EXIT_USAGE, "no text given: pass it as an argument or on stdin")
        text = sys.stdin.read()
    if not text.strip():
        raise CommandError(EXIT_USAGE, "the text is empty")
    return text


def find_thread(engine: Engine, ref: str, account: str | None) -> Thread:
    try:
        return engine.find_thread(ref, account)
    except LookupError as exc:
        raise CommandError(EXIT_FAILED, str(exc)) from None


def find_message(engine: Engine, ref: str, account: str | None) -> Message:
    try:
        return engine.find_message(ref, account)
    except LookupError as exc:
        raise CommandError(EXIT_FAILED, str(exc)) from None


def self_command(engine: Engine) -> str:
    """`tuiclient`, with `--config FILE` when the config is not the default one:
    the start of a command line that works as printed."""
    from ..paths import default_config_path
    path = getattr(engine.config, "path", None)
    with contextlib.suppress(OSError, ValueError):
        if path is not None and Path(path).resolve() != default_config_path().resolve():
            return f"tuiclient --config {shlex.quote(str(Path(path).resolve()))}"
    return "tuiclient"


async def settle(engine: Engine, result: ReplyResult, wait: float,
                 stop: asyncio.Event | None = None) -> Outcome:
    """Wait (up to `wait` s) until what a reply sent is delivered or stuck; report it.
    A stop signal ends the wait at once: the rows are in the outbox already, and
    the report says where each one stands (exit 6 for those still on their way)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    ids = [*result.outbox, *result.emails]
    final = {DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.DEFERRED,
             DeliveryState.FAILED, DeliveryState.CANCELLED, DeliveryState.FELL_BACK_TO_EMAIL,
             DeliveryState.FELL_BACK_TO_IM}

    def items() -> list:
        return [i for i in (engine.outbox_item(x) for x in ids) if i is not None]
    while loop.time() < deadline and not (stop is not None and stop.is_set()):
        now = items()
        done = all(i.state in final or (i.transport is Transport.EMAIL and
                                        i.state is DeliveryState.SENT) for i in now)
        if done:
            break
        await asyncio.sleep(0.05)
    rows = items()
    lines = []
    code = EXIT_OK
    for i in rows:
        to = ", ".join(p.address for p in i.parties)
        log = engine.outbox_log(i.id)
        detail = out.t(log[-1].detail) if log else ""
        lines.append(f"{i.transport.value} to {to}: {i.state.value}"
                     + (f" ({detail})" if detail and i.state is not DeliveryState.DELIVERED
                        else ""))
        if i.state in (DeliveryState.DEFERRED, DeliveryState.QUEUED, DeliveryState.SENDING):
            code = max(code, EXIT_NOT_DELIVERED)
        elif i.state is DeliveryState.FAILED:
            code = EXIT_FAILED
    deferred = [i.id for i in rows if i.state is DeliveryState.DEFERRED]
    if deferred:
        me = self_command(engine)
        lines.append(f"It stays in the outbox and is retried only while `{me} run` (or "
                     f"`{me} serve`, or the app) is running; "
                     + ", ".join(f"`{me} outbox email {x}`" for x in deferred)
                     + " sends it by email instead.")
    for msg_id in result.email_ids:
        if not any(i.msg_id == msg_id for i in rows):
            lines.append(f"email {msg_id} queued")
    if result.room:
        lines.append(f"room: {result.room}")
    return Outcome(code, {"reply": result, "outbox": rows}, lines)


# -- commands ------------------------------------------------------------------------


async def cmd_list(h: Headless, a: argparse.Namespace) -> Outcome:
    threads = [th for th in h.engine.conversations(a.account, limit=a.limit * 4
                                                   if (a.unread or a.transport) else a.limit)
               if (not a.unread or th.unread_count)
               and (not a.transport or Transport(a.transport) in th.transports)][: a.limit]
    return Outcome(EXIT_OK, threads, [out.thread_line(th) for th in threads]
                   or ["no conversations"])


async def cmd_show(h: Headless, a: argparse.Namespace) -> Outcome:
    th = find_thread(h.engine, a.thread, a.account)
    timeline = h.engine.timeline(th.account, th.thread_id)
    if not a.no_fetch:
        missing = [m for m in timeline if m.transport is Transport.EMAIL and not m.text
                   and m.uid is not None and m.id is not None]
        for m in missing:
            with contextlib.suppress(EngineError):
                await h.engine.fetch_body(m.id or 0)
        if missing:
            timeline = h.engine.timeline(th.account, th.thread_id)
    lines = [f"{out.one_line(th.subject, 100) or out.NO_SUBJECT}  [{th.thread_id}]", ""]
    # Chat lines' reactions (XEP-0444), by row id: who, with what.
    reactions = h.engine.reactions([m.id for m in timeline if m.id is not None])
    lines += [out.message_block(m, reactions.get(m.id or 0, [])) + "\n" for m in timeline]
    return Outcome(EXIT_OK, {"thread": th, "messages": timeline, "reactions": reactions},
                   lines)


async def cmd_search(h: Headless, a: argparse.Namespace) -> Outcome:
    hits = h.engine.search(" ".join(a.query), limit=a.limit, account=a.account)
    def what(m: Message) -> str:
        if out.one_line(m.subject, 70) or m.transport is not Transport.EMAIL:
            return out.one_line(m.subject or m.text, 70)
        return out.one_line(f"{out.NO_SUBJECT} — {m.text}", 70)
    lines = [f"#{m.id:<6} {out.when(m.date)}  {m.transport.value:<5} "
             f"{out.one_line(m.sender.name or m.sender.address, 24):<24}  {what(m)}"
             for m in hits]
    return Outcome(EXIT_OK, hits, lines or ["nothing found"])


async def cmd_sync(h: Headless, a: argparse.Namespace) -> Outcome:
    before = h.engine.message_count(a.account)
    for account in h.engine.accounts:
        if a.account and account.name != a.account:
            continue
        if account.imap:
            try:
                await h.engine.sync(account.name, here=True)
            except EngineError as exc:
                raise CommandError(EXIT_AUTH if "login refused" in str(exc) else EXIT_NETWORK,
                                   str(exc)) from exc
    await h.up(xmpp=True)  # logging in catches up with the archive
    for account in h.engine.accounts:
        if account.xmpp and (not a.account or account.name == a.account):
            h._raise_failure(account.name, "xmpp")
    # Syncing includes the outbox: due emails go, and chat lines a stopped
    # process left unconfirmed are looked at (see Outbox._adopt).
    await h.engine.outbox_tick()
    await h.engine.drain()
    after = h.engine.message_count(a.account)
    return Outcome(EXIT_OK, {"messages": after, "new": after - before},
                   [f"{after} messages in the store, {after - before} new"])


async def _reply(h: Headless, original: Message, text: str, via: str,
                 a: argparse.Namespace) -> Outcome:
    attach: list[str] | str | None = a.attach or None
    if attach and "all" in attach:
        attach = "all"
    await h.up(xmpp=True)
    if via == "im" and not h.engine.chat_online(original.account):
        h.need_xmpp(original.account)
        via = "email"
    # "auto" is the engine's one rule (bridge.handoff.auto): email without a chat
    # connection, chat when everyone is mapped and available.
    result = await h.engine.reply(original.id or 0, text, via=via, reply_all=a.reply_all,
                                  history=a.history, attachments=attach, mixed=a.mixed,
                                  separate_chats=a.separate_chats, when_away=a.when_away)
    return await settle(h.engine, result, a.wait, h.stop)


async def cmd_reply(h: Headless, a: argparse.Namespace) -> Outcome:
    original = find_message(h.engine, a.message, a.account)
    return await _reply(h, original, read_text(a.text), a.via, a)


async def cmd_handoff(h: Headless, a: argparse.Namespace) -> Outcome:
    th = find_thread(h.engine, a.thread, a.account)
    timeline = h.engine.timeline(th.account, th.thread_id)
    if not timeline:
        raise CommandError(EXIT_FAILED, f"conversation {a.thread} is empty")
    # Answer the newest message someone else wrote; ours if there is none.
    theirs = [m for m in timeline if m.direction is Direction.IN]
    original = (theirs or timeline)[-1]
    default = ("Let's continue this conversation by chat." if a.target == "im"
               else "Continuing our chat by email.")
    text = a.text if a.text and a.text != "-" else (
        read_text(a.text) if a.text == "-" else default)
    if a.target == "email" and not a.attach and not a.no_files:
        # The handoff promise: history and attachments carried over. The files the
        # chat shared go along as MIME parts unless told not to.
        a.attach = ["all"]
    return await _reply(h, original, text, a.target, a)


async def cmd_send(h: Headless, a: argparse.Namespace) -> Outcome:
    text = read_text(a.text)
    account = h.engine.account(a.account).name
    for path in a.file:
        if not path.is_file():
            raise CommandError(EXIT_USAGE, f"no file {path}")
    via = a.via
    await h.up(xmpp=via != "email")
    if via == "auto":
        via = h.engine.auto_via(account, a.to)  # the engine's one rule
    elif via == "im" and not h.engine.chat_online(account):
        # The chat server is out of reach: the line waits in the outbox (exit 6)
        # for the next process that reaches it. A refused login is the user's to fix.
        detail = h.failures.get((account, "xmpp"), "")
        if "login refused" in detail or "auth" in detail.lower():
            h.need_xmpp(account)
    result = await h.engine.send_message(account, a.to, text, via=via, subject=a.subject,
                                         when_away=a.when_away, attachments=a.file)
    return await settle(h.engine, result, a.wait, h.stop)


async def cmd_outbox(h: Headless, a: argparse.Namespace) -> Outcome:
    command = a.outbox_command or "list"
    engine = h.engine
    if command == "list":
        settled = {DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.CANCELLED,
                   DeliveryState.FELL_BACK_TO_EMAIL, DeliveryState.FELL_BACK_TO_IM,
                   DeliveryState.SENT}
        items = [i for i in engine.outbox_items() if a.all or i.state not in settled]
        lines = []
        result = []
        for i in items:
            lines.append(out.outbox_line(i))
            history = engine.outbox_log(i.id) if a.log else []
            lines.extend(out.log_line(e) for e in history)
            result.append({"item": i, "log": history} if a.log else i)
        return Outcome(EXIT_OK, result, lines or ["the outbox is empty"])
    item = engine.outbox_item(a.id)
    if item is None:
        raise CommandError(EXIT_FAILED, f"no outbox item {a.id}")
    await h.up(xmpp=item.transport is Transport.XMPP or command in ("email", "im"))
    if command == "retry":
        if item.transport is Transport.XMPP:
            h.need_xmpp(item.account)
        await h.engine.outbox_retry(a.id)
        reply = ReplyResult(item.transport.value)
        (reply.outbox if item.transport is Transport.XMPP else reply.emails).append(a.id)
        return await settle(h.engine, reply, a.wait, h.stop)
    if command == "cancel":
        try:
            await h.engine.outbox_cancel(a.id)
        except ValueError as exc:
            raise CommandError(EXIT_FAILED, str(exc)) from exc
        return Outcome(EXIT_OK, engine.outbox_item(a.id), [f"outbox item {a.id} cancelled"])
    if command == "im":
        h.need_xmpp(item.account)
        try:
            chat_ids = await h.engine.outbox_im(a.id)
        except ValueError as exc:
            raise CommandError(EXIT_FAILED, str(exc)) from exc
        return await settle(h.engine, ReplyResult("im", outbox=list(chat_ids)), a.wait, h.stop)
    try:
        msg_id = await h.engine.outbox_email(a.id)
    except ValueError as exc:
        raise CommandError(EXIT_FAILED, str(exc)) from exc
    email_item = next((i for i in engine.outbox_items() if i.msg_id == msg_id), None)
    reply = ReplyResult("email", email_ids=[msg_id])
    if email_item is not None:
        reply.emails.append(email_item.id)
    return await settle(h.engine, reply, a.wait, h.stop)


async def cmd_contacts(h: Headless, a: argparse.Namespace) -> Outcome:
    command = a.contacts_command or "list"
    engine = h.engine
    if command == "list":
        contacts = engine.contacts()
        conflicts = engine.contact_conflicts()
        lines = [out.contact_line(c) for c in contacts] or ["no contacts"]
        lines += [f"conflict: {out.t(r.describe())}" for r in conflicts]
        return Outcome(EXIT_OK, {"contacts": contacts, "conflicts": conflicts}, lines)
    if command == "map":
        if not normalize_email(a.email) or not normalize_jid(a.jid):
            raise CommandError(EXIT_USAGE, "map EMAIL JID: both must be local@domain")
        r = engine.map_contact(a.email, a.jid, a.name)
        return Outcome(EXIT_OK, r, [out.t(r.describe())])
    if command == "unmap":
        removed = engine.forget_address(a.address)
        if not removed:
            raise CommandError(EXIT_FAILED, f"{a.address} is not a learned address (addresses "
                                            "from the config file are changed there)")
        return Outcome(EXIT_OK, {"removed": a.address}, [f"forgot {a.address}"])
    if a.vcard:
        await h.up(xmpp=True)
        await engine.learn_contacts_from_vcards()
    pending = [c for c in engine.contacts() if any(not x.confirmed for x in c.addresses)]
    lines = [out.contact_line(c) + "   -> tuiclient contacts map EMAIL JID" for c in pending]
    return Outcome(EXIT_OK, pending, lines or ["no suggestions"])


async def cmd_watch(h: Headless, a: argparse.Namespace) -> Outcome:
    """Follow the store's event log: what this engine and every other process on
    the same store (the app, a `run` daemon, one-shot commands) report, in order."""
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    def poke(_event: Event) -> None:
        loop.call_soon_threadsafe(wake.set)

    h.engine.events.subscribe(poke)
    engine = h.engine
    last = engine.log_event("WatchStarted", {"pid": os.getpid()}) - 1
    stop = h.stop
    await h.up_unless_stopped(mail=True, xmpp=True)
    while not stop.is_set():
        for e in engine.logged_events(since_id=last):
            last = e.id
            out.dump_json({"event": e.kind, "id": e.id, "at": e.at, **e.payload})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                await wake.wait()
        wake.clear()
    return Outcome(EXIT_OK, None, [])


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop`: the long-running commands end their loop,
    close the engine and exit 0 (a stop that was asked for is not a failure)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def _stdin_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Feed stdin's lines to `lines`, then None at its end, from a daemon thread.

    os.read, not sys.stdin: a thread blocked in a buffered read holds the buffer's
    lock, and the interpreter's shutdown would then wait on it (or abort); and a
    daemon thread, so a pipe the other side keeps open never holds up the exit."""
    def read() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(sys.stdin.fileno(), 65536)
            except (OSError, ValueError, AttributeError):  # closed, or no stdin at all
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                loop.call_soon_threadsafe(lines.put_nowait, raw.decode("utf-8", "replace"))
        if pending:
            loop.call_soon_threadsafe(lines.put_nowait, pending.decode("utf-8", "replace"))
        with contextlib.suppress(RuntimeError):  # the loop may be gone already
            loop.call_soon_threadsafe(lines.put_nowait, None)
    threading.Thread(target=read, name="serve-stdin", daemon=True).start()


async def cmd_serve(h: Headless, a: argparse.Namespace) -> Outcome:
    parser = build_serve_parser()
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    _stdin_lines(loop, lines)
    watching = False

    def forward(event: Event) -> None:
        if watching:
            loop.call_soon_threadsafe(out.dump_json, out.event_json(event))
    h.engine.events.subscribe(forward)
    stop = h.stop
    await h.up_unless_stopped(mail=True, xmpp=True)
    while not stop.is_set():
        line = await _next_line(lines, stop)
        if line is None:
            break
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as exc:
            out.dump_json({"ok": False, "code": EXIT_USAGE, "error": f"not JSON: {exc}"})
            continue
        rid = request.get("id")
        if "watch" in request:
            watching = bool(request["watch"])
            out.dump_json({"id": rid, "ok": True, "watching": watching})
            continue
        argv = request.get("argv")
        if isinstance(argv, str):
            argv = shlex.split(argv)
        if not isinstance(argv, list) or not argv or argv[0] in ("serve", "watch", "run"):
            out.dump_json({"id": rid, "ok": False, "code": EXIT_USAGE,
                           "error": "argv must be a command line, e.g. [\"list\"]"})
            continue
        try:
            args = parse(parser, [str(x) for x in argv])
        except _UsageError as exc:
            out.dump_json({"id": rid, "ok": False, "code": EXIT_USAGE, "error": str(exc)})
            continue
        try:
            outcome = await _unless_stopped(execute(h, args), stop)
        except Exception as exc:  # one command's surprise must not end the session
            out.dump_json({"id": rid, "ok": False, "code": EXIT_FAILED, "kind": "internal",
                           "error": f"{type(exc).__name__}: {exc}"})
            continue
        if outcome is None:
            out.dump_json({"id": rid, "ok": False, "code": EXIT_FAILED, "kind": "stopped",
                           "error": "serve was stopped before this command finished; what "
                                    "it queued is in the outbox (`outbox list`)"})
            break
        response = {"id": rid, "ok": outcome.code in (EXIT_OK, EXIT_NOT_DELIVERED),
                    "code": outcome.code, "result": outcome.result}
        if outcome.code not in (EXIT_OK, EXIT_NOT_DELIVERED):
            response["error"] = "\n".join(outcome.lines)
        out.dump_json(response)
    if not stop.is_set():
        # The input ended: what was accepted goes out before the process does.
        await h.engine.drain()
    return Outcome(EXIT_OK, None, [])


async def _unless_stopped(command: Awaitable[Outcome], stop: asyncio.Event) -> Outcome | None:
    """The command's outcome; None if a stop signal came and the command did not
    finish within STOP_GRACE after it (a server that does not answer)."""
    task = asyncio.ensure_future(command)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait({task}, timeout=STOP_GRACE)
    finally:
        stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None


async def _next_line(lines: asyncio.Queue[str | None], stop: asyncio.Event) -> str | None:
    """The next line of stdin, or None at its end or when a stop signal comes."""
    getting = asyncio.ensure_future(lines.get())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if getting.done():
        return getting.result()
    getting.cancel()
    return None


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, except that a command's text may come after its options
    (`reply 12 --via im "On my way"`), which argparse alone refuses when an
    optional positional was already matched empty before the options."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "text") and args.text is None and \
                not any(x.startswith("-") and x != "-" for x in extra):
            args.text = " ".join(extra)
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


class _UsageError(Exception):
    pass


class _QuietParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _UsageError(message)


def build_serve_parser() -> argparse.ArgumentParser:
    parser = _QuietParser(prog="serve")
    sub = parser.add_subparsers(dest="command", parser_class=_QuietParser)
    add_commands(sub)
    return parser


async def cmd_health(h: Headless, a: argparse.Namespace) -> Outcome:
    """One probe of each server; exit 4 if a login was refused, 5 if unreachable."""
    if a.account:
        h.engine.account(a.account)  # an unknown name is an error, not an empty report
    reports = await h.engine.health.probe(a.account)
    code = EXIT_OK
    for r in reports:
        if not r.reachable:
            code = max(code, EXIT_NETWORK)
        elif not r.logged_in and code != EXIT_NETWORK:
            code = EXIT_AUTH
    lines = [f"{r.account} {r.service}: {out.t(r.summary())}" for r in reports]
    if code == EXIT_OK:
        return Outcome(code, reports, lines or ["no servers configured"])
    return Outcome(code, {"error": "a server failed its probe", "reports": reports}, lines)


async def cmd_run(h: Headless, a: argparse.Namespace) -> Outcome:
    from .daemon import run_rules
    return await run_rules(h, a)


HANDLERS: dict[str, Callable[[Headless, argparse.Namespace], Awaitable[Outcome]]] = {
    "sync": cmd_sync, "list": cmd_list, "show": cmd_show, "search": cmd_search,
    "send": cmd_send, "reply": cmd_reply, "handoff": cmd_handoff, "outbox": cmd_outbox,
    "contacts": cmd_contacts, "watch": cmd_watch, "serve": cmd_serve, "run": cmd_run,
    "health": cmd_health,
    **MAIL_HANDLERS,  # delete, archive, move, copy, flag, tag, undo, save, forward, ...
}
HANDLERS.update(CHAT_HANDLERS)  # -- chat: corrections, reactions, rooms, roster --


async def execute(h: Headless, args: argparse.Namespace) -> Outcome:
    """Run one parsed command; every expected failure becomes an Outcome."""
    try:
        return await HANDLERS[args.command](h, args)
    except CommandError as exc:
        # The message may carry a server's words (an IMAP NO, a socket error).
        return Outcome(exc.code, {"error": str(exc), "detail": exc.detail},
                       [out.t(str(exc)).replace("\n", " ")])
    except UnmappedParty as exc:
        return Outcome(EXIT_DECIDE, {"error": "unmapped", "transport": exc.transport,
                                     "unresolved": exc.unresolved}, [out.t(str(exc))])
    except ContactAway as exc:
        lines = [out.t(describe_presence(p)) for p in exc.presences]
        lines.append("Choose with --when-away send|defer|email.")
        return Outcome(EXIT_DECIDE, {"error": "away", "presences": exc.presences}, lines)
    except (ConfigError, SecretError) as exc:
        return Outcome(EXIT_CONFIG, {"error": str(exc), "kind": "config"}, [out.t(str(exc))])
    except (sqlite3.Error, OSError, EngineError) as exc:
        # An engine error may wrap a store that could not be written (a sync's rows).
        cause = exc.__cause__ if isinstance(exc, EngineError) and exc.__cause__ else exc
        line = store_not_writable(cause, h.engine.store_path)
        if line is not None:
            return Outcome(EXIT_STORE, {"error": line, "kind": "store"}, [line])
        if isinstance(exc, EngineError):
            return Outcome(EXIT_FAILED, {"error": str(exc)}, [out.t(str(exc))])
        if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError)):
            # A connection that broke where no layer below put it into words.
            text = out.t(f"network: {exc.strerror or exc}").replace("\n", " ")
            return Outcome(EXIT_NETWORK, {"error": text, "kind": "network"}, [text])
        raise
    except (LookupError, ValueError) as exc:
        return Outcome(EXIT_FAILED, {"error": str(exc)}, [out.t(str(exc))])


# Commands that log in to a server; the others only read or change the store.
LOGIN_COMMANDS = {"sync", "send", "reply", "handoff", "watch", "serve", "run", "health",
                  *MAIL_COMMANDS}
LOGIN_COMMANDS |= set(CHAT_COMMANDS)  # every chat command needs the chat server


def logs_in(args: argparse.Namespace) -> bool:
    if args.command == "outbox":
        return getattr(args, "outbox_command", None) in ("retry", "email", "im")
    if args.command == "contacts":
        return bool(getattr(args, "vcard", False))
    return args.command in LOGIN_COMMANDS


def preflight(config: Config, args: argparse.Namespace) -> None:
    """What the config promises, checked before any command runs: every CA file
    loads and every password_command is there; a command that logs in also gets
    each password it will need now, so a broken one is a config error (file, line,
    key; exit 3) instead of a failure somewhere inside a sync or a daemon."""
    check_ca_files(config)
    check_password_commands(config)
    if not logs_in(args):
        return
    asked: set[str] = set()  # one run per command, however many servers share it
    for account in config.accounts:
        if args.account and account.name != args.account:
            continue
        for service in SERVICES:
            server = account.server(service)
            if server is None:
                continue
            command = server.password_command or account.password_command
            if command is None or command not in asked:
                get_password(account, service)
            if command is not None:
                asked.add(command)


def fail(args: argparse.Namespace, code: int, message: str, kind: str) -> int:
    """An error before or outside a command: one line on stderr, or with --json
    one JSON object (`error`, `kind`, `code`) on stdout like every other failure."""
    message = out.t(message).replace("\n", " ")
    if getattr(args, "json", False):
        out.dump_json({"error": message, "kind": kind, "code": code}, sys.stdout)
    else:
        print(f"tuiclient: {kind} error: {message}", file=sys.stderr, flush=True)
    return code


# After SIGTERM/SIGINT, how long the engine may take to say goodbye to the servers.
STOP_GRACE = 1.0


async def _stop_now(closing: asyncio.Future, code: int) -> None:
    """End the process once the engine closed, or after STOP_GRACE if a server
    that does not answer holds it up. A thread blocked on such a server (a TLS
    handshake, a connect) would otherwise keep the interpreter from exiting until
    its socket times out. Leaving early is like a crash, which the store and the
    outbox are built to survive: what was committed is in the store, and a send
    in flight is settled by the next process."""
    with contextlib.suppress(Exception):
        await asyncio.wait({closing}, timeout=STOP_GRACE)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main(args: argparse.Namespace, config: Config) -> int:
    """Entry point from `tuiclient <command>`."""
    try:
        preflight(config, args)
    except (ConfigError, SecretError) as exc:
        return fail(args, EXIT_CONFIG, str(exc), "config")
    except KeyboardInterrupt:  # Ctrl-C while a password command runs
        return 130
    if args.command == "outbox" and not getattr(args, "outbox_command", None):
        args.outbox_command = "list"
    if args.command == "contacts" and not getattr(args, "contacts_command", None):
        args.contacts_command = "list"
    for name in ("all", "log"):
        if not hasattr(args, name):
            setattr(args, name, False)

    async def go() -> Outcome:
        try:
            h = Headless(config)
        except (sqlite3.Error, OSError) as exc:
            line = store_not_writable(exc, store_path)
            if line is None:
                raise
            return Outcome(EXIT_STORE, {"error": line, "kind": "store"}, [line])
        if args.command in ("watch", "serve", "run"):
            stop_on_signals(h.stop)
        outcome = Outcome(EXIT_FAILED)
        try:
            outcome = await execute(h, args)
            return outcome
        finally:
            closing = asyncio.ensure_future(h.close())
            if h.stop.is_set():
                await _stop_now(closing, outcome.code)
            with contextlib.suppress(Exception):
                await closing
    from ..engine import default_store_path
    try:
        store_path = default_store_path()
    except OSError as exc:  # the data folder itself cannot be made
        store_path = Path(exc.filename or ".") / "store.db"
        line = store_not_writable(exc, store_path) or f"cannot make {exc.filename}: {exc}"
        return fail(args, EXIT_STORE, line, "store")
    try:
        outcome = asyncio.run(go())
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last resort: one line, never a traceback
        if os.environ.get("TUICLIENT_DEBUG"):
            raise
        return fail(args, EXIT_FAILED, f"{type(exc).__name__}: {exc} (TUICLIENT_DEBUG=1 "
                                       "shows where)", "internal")
    if args.command in ("watch", "serve", "run"):
        return outcome.code
    if getattr(args, "json", False):
        if outcome.code in (EXIT_OK, EXIT_NOT_DELIVERED):
            out.dump_json(outcome.result)
        else:
            out.dump_json(dict(outcome.result or {}, code=outcome.code), sys.stdout)
    else:
        stream = sys.stdout if outcome.code in (EXIT_OK, EXIT_NOT_DELIVERED) else sys.stderr
        for line in outcome.lines:
            print(line, file=stream)
    return outcome.code


__all__ = [
    "EXIT_AUTH",
    "EXIT_CONFIG",
    "EXIT_DECIDE",
    "EXIT_FAILED",
    "EXIT_NETWORK",
    "EXIT_NOT_DELIVERED",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_USAGE",
    "CommandError",
    "Headless",
    "Outcome",
    "add_commands",
    "fail",
    "parse",
    "store_not_writable",
]
