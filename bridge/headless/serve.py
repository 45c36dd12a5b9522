"""The long-running verbs' loops: `watch` follows the store's event log, `serve`
takes JSON-line commands on stdin; and their way out (signals, a grace period).

`serve` runs each command with the `execute` it is given (cli.execute), so this
module does not import the dispatcher that lists it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Awaitable, Callable

from ..events import Event
from . import output as out
from .arguments import _UsageError, build_serve_parser, parse
from .host import Headless
from .outcome import (  # STOP_GRACE: importable from here too
    EXIT_FAILED,
    EXIT_NOT_DELIVERED,
    EXIT_OK,
    EXIT_USAGE,
    STOP_GRACE,
    Outcome,
)


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


Execute = Callable[[Headless, argparse.Namespace], Awaitable[Outcome]]


SERVE_IDLE = 60.0  # the default of [chat] idle_after (ChatPolicy.idle_after)


async def serve(h: Headless, a: argparse.Namespace, execute: Execute) -> Outcome:
    """`serve`: one JSON line in, one out, each command run by `execute`."""
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
        # No command for a while: nobody is looking, the chat servers may hold
        # back what is not urgent (XEP-0352); the next command makes us active.
        resting = loop.call_later(h.engine.config.chat.idle_after,  # [chat] idle_after
                                  h.engine.client_state, False)
        line = await _next_line(lines, stop)
        resting.cancel()
        h.engine.client_state(True)
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
