"""The verbs that only read the store, `list`, `search`, `show --no-fetch` and
`outbox list`, and the host that serves them without an engine.

`ReadOnly` holds a `bridge.reader.Reader`: the engine's reads (the same methods
and answers) over the store alone, so such a command imports neither the engine
nor what it wires (the handoff's reply and compose code, the outbox, the
protocol libraries) and starts nothing (tests/test_headless_fast_paths.py).
`cli.read_only` says which command lines it serves; `list --match` (the search
language over conversations, a mail verb of the engine), `show` that may fetch
a body, and every other verb get the whole `Headless` host. These verbs take
either host, and are importable from verbs.py as before.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Coroutine
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import Config
from ..model import DeliveryState, Message, Thread, ThreadOrder, Transport
from ..reader import Reader
from . import output as out
from .outcome import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Outcome

if TYPE_CHECKING:
    import asyncio

    from ..events import RoomHappened
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
    event loop, its selectors, `ssl` and `concurrent.futures`: 15 ms by
    `-X importtime` at load 2.5, a tenth of `list` then). A coroutine that does
    wait is a mistake of the caller (`cli.read_only` chose a command that needs
    the engine's loop): it is closed and RuntimeError says so.
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
    folder = getattr(a, "folder", None)
    if folder and match:
        raise CommandError(EXIT_USAGE, "--folder and --match: give one (a search says "
                           f"in:{folder} for the folder)")
    if folder:
        found = h.engine.folder_conversations(_folder_account(h, a.account, folder), folder,
                                              limit=wide, order=order)
    elif match:
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


def _folder_account(h: Headless | ReadOnly, account: str | None, folder: str) -> str:
    """The account whose `folder` `list --folder` shows (the first one unless
    named); a folder the store does not know is a usage error naming those it does."""
    names = [x.name for x in h.engine.accounts]
    name = account or (names[0] if names else "")
    if name not in names:
        raise CommandError(EXIT_USAGE, f"no account {name!r}; accounts: "
                           f"{', '.join(names) or '(none)'}")
    known = [f.name for f in h.engine.folders(name)]
    if folder not in known:
        raise CommandError(EXIT_USAGE, f"no folder {folder!r} in {name} (yet: a sync lists "
                           f"them); folders: {', '.join(known) or '(none)'}")
    return name


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


def _thread(h: Headless | ReadOnly, ref: str, account: str | None) -> Thread:
    """host.find_thread, for either host (host.py imports the engine)."""
    try:
        return h.engine.find_thread(ref, account)
    except LookupError as exc:
        raise CommandError(EXIT_FAILED, str(exc)) from None


async def cmd_show(h: Headless | ReadOnly, a: argparse.Namespace) -> Outcome:
    """One conversation as one timeline; its emails' missing bodies fetched first,
    unless --no-fetch (then the store alone answers: `cli.read_only`)."""
    th = _thread(h, a.thread, a.account)
    timeline = h.engine.timeline(th.account, th.thread_id)
    if not a.no_fetch:
        if isinstance(h, ReadOnly):  # cli.read_only gives a fetch the engine
            raise TypeError("show without --no-fetch needs the engine (the Headless host)")
        from ..errors import EngineError

        missing = [m for m in timeline if m.transport is Transport.EMAIL and not m.text
                   and m.uid is not None and m.id is not None]
        for m in missing:
            with contextlib.suppress(EngineError):
                await h.engine.fetch_body(m.id or 0)
        if missing:
            # An OpenPGP email comes back opened (decrypted, checked): the engine
            # keeps it so for this process's timeline.
            timeline = h.engine.timeline(th.account, th.thread_id)
    lines = [f"{out.one_line(th.subject, 100) or out.NO_SUBJECT}  [{th.thread_id}]", ""]
    # Chat lines' reactions (XEP-0444), by row id: who, with what.
    reactions = h.engine.reactions([m.id for m in timeline if m.id is not None])
    # A room's happenings between its lines (kicks, nicks, topics, comings and
    # goings), in order with them: as the app's timeline shows them.
    room = h.engine.as_rooms([th])[0].room
    events = h.engine.room_events(th.account, room) if room else []
    blocks = [(m.date, 1, out.message_block(m, reactions.get(m.id or 0, [])) + "\n")
              for m in timeline]
    blocks += [(e.at, 0, f"  -- {out.when(e.at)}  {out.t(room_words(e))}") for e in events]
    lines += [text for _at, _n, text in sorted(blocks, key=lambda b: (b[0], b[1]))]
    return Outcome(EXIT_OK, {"thread": th, "messages": timeline, "reactions": reactions,
                             "events": [out.event_json(e) for e in events]}, lines)


def room_words(e: RoomHappened) -> str:
    """A room's happening in words, for `show`'s text."""
    who, was, are = ("you", "were", "are") if e.ours else (e.nick, "was", "is")
    by = f" by {e.by}" if e.by else ""
    why = f": {e.reason}" if e.reason else ""
    return {"kicked": f"{who} {was} kicked{by}{why}",
            "banned": f"{who} {was} banned{by}{why}",
            "nick": f"{who} {are} now known as {e.new}",
            "topic": f"{who} set the topic: {e.new}", "joined": f"{who} joined",
            "left": f"{who} left{why}"}.get(e.what, e.what)


# What `outbox list` leaves out without --all: rows whose sending is over.
SETTLED = frozenset({DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.CANCELLED,
                     DeliveryState.FELL_BACK_TO_EMAIL, DeliveryState.FELL_BACK_TO_IM,
                     DeliveryState.SENT})


async def cmd_outbox_list(h: Headless | ReadOnly, a: argparse.Namespace) -> Outcome:
    """`outbox list`: what waits to be sent (--all: settled rows too; --log: each
    row's log). The other `outbox` verbs are verbs.cmd_outbox's."""
    engine = h.engine
    items = [i for i in engine.outbox_items() if a.all or i.state not in SETTLED]
    lines = []
    result: list[object] = []
    for i in items:
        lines.append(out.outbox_line(i))
        history = engine.outbox_log(i.id) if a.log else []
        lines.extend(out.log_lines(history))
        result.append({"item": out.outbox_json(i), "log": out.log_json(history)}
                      if a.log else out.outbox_json(i))
    return Outcome(EXIT_OK, result, lines or ["the outbox is empty"])
