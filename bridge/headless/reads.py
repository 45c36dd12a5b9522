"""The verbs that only read the store, `list` and `search`, and the host that
serves them without an engine.

`ReadOnly` holds a `bridge.reader.Reader`: the engine's reads (the same methods
and answers) over the store alone, so such a command imports neither the engine
nor what it wires (the handoff's reply and compose code, the outbox, the
protocol libraries) and starts nothing (tests/test_headless_fast_paths.py).
`cli.read_only` says which command lines it serves; `list --match` (the search
language over conversations, a mail verb of the engine) and every other verb
get the whole `Headless` host. Both verbs take either host, and are importable
from verbs.py as before.
"""

from __future__ import annotations

import argparse
from collections.abc import Coroutine
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import Config
from ..model import Message, ThreadOrder, Transport
from ..reader import Reader
from . import output as out
from .outcome import EXIT_OK, EXIT_USAGE, CommandError, Outcome

if TYPE_CHECKING:
    import asyncio

    from .host import Headless

T = TypeVar("T")


class ReadOnly:
    """A command's hold on the store, for the verbs that only read it."""

    def __init__(self, config: Config) -> None:
        self.engine = Reader(config)

    @cached_property
    def stop(self) -> asyncio.Event:
        """As the Headless host's (nothing runs to stop); made on first use, so a
        command served without an event loop imports no asyncio (`at_once`)."""
        import asyncio

        return asyncio.Event()

    async def close(self) -> None:
        self.engine.close()


def at_once(work: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits, run without an event loop.

    A command this host serves reads the store, which answers synchronously: its
    coroutine (the verb's handler, as the Headless host runs it) finishes on its
    first step. Driving that step here spares the process asyncio's import (the
    event loop, its selectors, `ssl` and `concurrent.futures`: ~15 ms of a command
    that takes ~60 ms). A coroutine that does wait is a mistake of the caller
    (`cli.read_only` chose a command that needs the engine's loop): it is closed
    and RuntimeError says so.
    """
    try:
        work.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    work.close()
    raise RuntimeError("a read-only command waited for something: it needs the engine "
                       "and its event loop (cli.read_only)")


async def cmd_list(h: Headless | ReadOnly, a: argparse.Namespace) -> Outcome:
    order = ThreadOrder(getattr(a, "sort", "date"), getattr(a, "reverse", False))
    match = getattr(a, "match", None)
    wide = a.limit * 4 if (a.unread or a.transport) else a.limit
    if match:
        if isinstance(h, ReadOnly):  # cli.read_only gives --match the engine
            raise TypeError("list --match needs the engine (the Headless host)")
        try:
            found = h.engine.conversations_matching(match, a.account, limit=wide, order=order)
        except ValueError as exc:  # a filter's value the search cannot use
            raise CommandError(EXIT_USAGE, f"--match: {exc}") from exc
    else:
        found = h.engine.conversations(a.account, limit=wide, order=order)
    threads = [th for th in found if (not a.unread or th.unread_count)
               and (not a.transport or Transport(a.transport) in th.transports)][: a.limit]
    return Outcome(EXIT_OK, threads, [out.thread_line(th) for th in threads]
                   or ["no conversations"])


async def cmd_search(h: Headless | ReadOnly, a: argparse.Namespace) -> Outcome:
    hits = h.engine.search(" ".join(a.query), limit=a.limit, account=a.account)
    def what(m: Message) -> str:
        if out.one_line(m.subject, 70) or m.transport is not Transport.EMAIL:
            return out.one_line(m.subject or m.text, 70)
        return out.one_line(f"{out.NO_SUBJECT} — {m.text}", 70)
    lines = [f"#{m.id:<6} {out.when(m.date)}  {m.transport.value:<5} "
             f"{out.one_line(m.sender.name or m.sender.address, 24):<24}  {what(m)}"
             for m in hits]
    return Outcome(EXIT_OK, hits, lines or ["nothing found"])
