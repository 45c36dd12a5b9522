"""Auto-away ([chat] auto_away, auto_xa): the chat accounts go away after so long
without a key or a click in the app, extended away after longer, and come back
as they were on the next input, as Profanity's `/autoaway` and Gajim do.

Only an account the user left available (or "chat") is moved: one they set
away or dnd themselves stays as they set it, and is not "restored" over.
The app tells `touched()` on every input and calls `check()` on a timer; what
to send goes through the engine (`set_presence`), like every action of the app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bridge.errors import EngineError

if TYPE_CHECKING:
    from bridge.config import ChatPolicy
    from bridge.engine import Engine

log = logging.getLogger(__name__)


class AutoAway:
    def __init__(self, engine: Engine, policy: ChatPolicy,
                 run: Callable[[Awaitable[object]], object],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.policy = policy
        self._run = run  # runs a coroutine of the engine's (the app's worker)
        self._clock = clock
        self.last_input = clock()
        self.level = ""  # "", "away" or "xa": where idleness took us
        # Per account moved: the (show, status) the user had set, to go back to.
        self._before: dict[str, tuple[str, str]] = {}

    @property
    def interval(self) -> float:
        """How often `check` should run: often enough for the shortest delay."""
        delays = [d for d in (self.policy.auto_away, self.policy.auto_xa) if d]
        return max(0.5, min([*delays, 60.0]) / 4)

    def touched(self) -> None:
        """A key or a click: not idle; back as before if idleness moved us."""
        self.last_input = self._clock()
        if not self.level:
            return
        self.level = ""
        before, self._before = self._before, {}
        for account, (show, status) in before.items():
            self._run(self._send(account, show, status))

    async def _send(self, account: str, show: str, status: str) -> None:
        try:
            await self.engine.set_presence(account, show, status)
        except (EngineError, OSError) as exc:  # gone offline meanwhile: next time
            log.info("auto-away on %s: %s", account, exc)

    def check(self) -> None:
        """Away (or xa) now if the app has been idle long enough."""
        idle = self._clock() - self.last_input
        away, xa = self.policy.auto_away, self.policy.auto_xa
        want = "xa" if xa and idle >= xa else "away" if away and idle >= away else ""
        if not want or want == self.level:
            return
        live = False
        for account in [a.name for a in self.engine.accounts if a.jid]:
            now = self.engine.presence_as_set(account)
            if now is None:
                continue  # not connected: nobody to tell
            live = True
            show, status = now
            if not self.level:
                if show not in ("", "chat"):
                    continue  # set by the user: theirs to change
                self._before[account] = (show, status)
            elif account not in self._before:
                continue
            self._run(self._send(account, want, self.policy.auto_away_message))
        if live:  # else: asked again at the next check, once connected
            self.level = want
