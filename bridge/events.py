"""The engine's events: small typed records that the app and headless mode follow.

Transports publish, screens subscribe. Nothing here knows about Textual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class HealthChanged(Event):
    """One server of one account answered a probe, or failed to."""

    account: str
    service: str  # imap | smtp | xmpp
    ok: bool
    detail: str


Listener = Callable[[Event], None]


class EventBus:
    """Fan-out of events to listeners; safe to publish from worker threads.

    Listeners are called in the publishing thread: a UI listener hands the event
    over to its own loop (Textual's `call_from_thread`) rather than touching widgets.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
