"""Our presence, set from another process (`tuiclient presence set`).

A presence lives as long as the session that sent it: a one-shot command's
ends with the command, so the command does not set its own. It asks, through
the store's event log (`PresenceWanted`), every running client of ours (the
app, `serve`, `watch`, `run`: an engine whose sessions announce themselves,
`Engine.present`) to set it on its session; each one that did (or could not)
says so in the log (`PresenceSet`, naming its session's full JID, or the
reason). The command reports those answers, and that nothing was set when no
client answered. A client follows only what is asked after it started.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .store import Store, StoredEvent
    from .xmpp.client import XmppClient


class Engine(Protocol):
    """What of the engine this uses (the engine's own calls; the module does not
    import the engine, which starts `follow` and calls `ask`)."""

    store: Store
    xmpp: dict[str, XmppClient]

    def logged_events(self, since_id: int = 0, limit: int = 1000) -> list[StoredEvent]: ...

    def log_event(self, kind: str, payload: dict[str, Any] | None = None) -> int: ...

    async def set_presence(self, account: str, show: str = "", status: str = "") -> None: ...

log = logging.getLogger(__name__)

WANTED = "PresenceWanted"
SET = "PresenceSet"
POLL = 0.5  # seconds between two looks at the event log (a read of its newest rows)


async def follow(engine: Engine) -> None:
    """Set what other processes ask for on this engine's chat sessions, for
    as long as it runs (cancelled by `Engine.stop`)."""
    last = engine.store.last_event_id()
    while True:
        await asyncio.sleep(POLL)
        try:
            for event in engine.logged_events(since_id=last):
                last = event.id
                if event.kind == WANTED:
                    await _apply(engine, event.id, event.payload)
        except Exception:  # a store that cannot be read now: look again later
            log.exception("following presence requests failed")


async def _apply(engine: Engine, request: int, asked: dict[str, Any]) -> None:
    account = str(asked.get("account", ""))
    client = engine.xmpp.get(account)
    if client is None or not client.connected:
        return  # not this process's account, or not online: another may answer
    error = ""
    try:
        await engine.set_presence(account, str(asked.get("show", "")),
                                  str(asked.get("status", "")))
    except Exception as exc:
        error = str(exc) or type(exc).__name__
    engine.log_event(SET, {"account": account, "request": request,
                           "by": str(client.session.boundjid.full), "error": error})


async def ask(engine: Engine, account: str, show: str, status: str,
              wait: float) -> list[dict[str, Any]]:
    """Ask the running clients of `account` to set our presence; their answers
    (`by`: the session that set it, `error`: why it could not) within `wait` s,
    none when no client of ours is running."""
    request = engine.log_event(WANTED, {"account": account, "show": show, "status": status})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    answers: list[dict[str, Any]] = []
    last = request
    while True:
        for event in engine.logged_events(since_id=last):
            last = event.id
            if event.kind == SET and event.payload.get("request") == request:
                answers.append(event.payload)
        # Every running client answers within a few polls; after the first
        # answer, a short while for the others.
        left = deadline - loop.time()
        if left <= 0:
            return answers
        if answers:
            deadline = min(deadline, loop.time() + 4 * POLL)
        await asyncio.sleep(min(POLL / 2, left))
