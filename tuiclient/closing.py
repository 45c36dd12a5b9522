"""What the app keeps when it closes under a compose screen (ctrl+q, a terminal
that hung up): the text on this machine at once, as P offers it again (a close
that ends the process before a server answers still keeps it); then, for a
message that carries what that text cannot (a resumed draft's files, which live
in a folder that goes with its compose; files from disk; a forward's emails),
the message saved in Drafts with them as the Unsent prompt's s saves it (a
resumed draft replaced), and its text on this machine dropped once it is on the
server. A server that does not answer within `SAVE_WITHIN` seconds leaves the
text kept on this machine, as before."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.screen import Screen

    from tuiclient.screens.compose_base import ComposeBase

    Pending = list[tuple[ComposeBase, Path | None]]

log = logging.getLogger(__name__)

SAVE_WITHIN = 6.0  # seconds, under hangup.GRACE: the process is ended after that


def kept_now(screens: Iterable[Screen]) -> Pending:
    """Keep the text of every compose screen among `screens` on this machine now
    (no wait); the screens whose message goes to Drafts too, each with the
    file its text was kept in (None: nowhere to write it)."""
    from tuiclient.screens.compose_base import ComposeBase

    pending: Pending = []
    for screen in screens:
        if not isinstance(screen, ComposeBase):
            continue
        more = screen.keeps_more()
        kept = screen.keep_typed()
        if more:
            pending.append((screen, kept))
    return pending


async def to_drafts(pending: Pending) -> int:
    """Save each pending message in Drafts (at most `SAVE_WITHIN` seconds for
    all); the text kept on this machine goes once its message is there. How
    many were saved."""
    saved = 0

    async def each() -> None:
        nonlocal saved
        for screen, kept in pending:
            if await screen.save_at_close():
                saved += 1
                if kept is not None:
                    with contextlib.suppress(OSError):
                        kept.unlink()
    try:
        await asyncio.wait_for(each(), SAVE_WITHIN)
    except TimeoutError:
        log.warning("closing: a draft was not saved in Drafts in time; its text is "
                    "kept on this machine")
    return saved
