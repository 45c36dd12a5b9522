"""The headless front end's hold on the engine, and what every verb shares.

`Headless` is one engine, brought up as far as a command needs; the helpers
find a conversation or a message from a command line's reference, read a
command's text, and `settle` waits for what a send put in the outbox and says
where each row stands (with the exit code that goes with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from pathlib import Path

from ..config import Config
from ..engine import Engine, ReplyResult
from ..errors import no_chat_connection
from ..events import Event, HealthChanged
from ..model import DeliveryState, Message, Thread, Transport
from . import output as out
from .outcome import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_NETWORK,
    EXIT_NOT_DELIVERED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Outcome,
)


class Headless:
    """One engine, brought up as far as a command needs."""

    def __init__(self, config: Config, engine: Engine | None = None, *,
                 present: bool = False) -> None:
        # `present`: a long-running command (watch, serve, run) is a client like
        # the app, whose chat sessions announce themselves; a one-shot command's
        # send no presence but to the rooms it is in (Engine.present).
        self.engine = engine or Engine(config, present=present)
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
            # Contacts announce themselves just after our own presence (or our
            # probes: bridge/xmpp/session.py); give them a moment so "is bob
            # available?" is not answered too early.
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
        raise CommandError(EXIT_FAILED, no_chat_connection(account))

    def _raise_failure(self, account: str, service: str) -> None:
        detail = self.failures.get((account, service))
        if detail:
            code = EXIT_AUTH if "login refused" in detail or "auth" in detail.lower() \
                else EXIT_NETWORK
            raise CommandError(code, f"{account} {service}: {detail}")

    async def close(self) -> None:
        await self.engine.stop()
        self.engine.close()


def read_text(text: str | None, *, files: bool = False) -> str:
    """The text given, or stdin's; with `files` (`send --file`) none is fine:
    the files go alone."""
    if text is None or text == "-":
        if sys.stdin.isatty():
            if files:
                return ""
            raise CommandError(EXIT_USAGE, "no text given: pass it as an argument or on stdin")
        text = sys.stdin.read()
    if not text.strip() and not files:
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
