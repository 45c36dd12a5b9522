"""The engine's events, as one Textual message.

The engine publishes on its bus from worker threads (IMAP sync, SMTP) and from
the app's own loop (XMPP, the outbox). `EventFeed` listens on that bus and
turns what it hears into `EngineEvents` messages for the app; `post_message` is
safe from any thread and never waits for the screen.

Bursts are coalesced: while one message is on its way (posted, not yet
handled), the events that follow ride along in it rather than post their own.
A sync that stores a thousand messages, or a run of receipts, reaches the
screens as a few messages, and each screen redraws once per message, not once
per event. Nothing is dropped: every event is in exactly one message, in order.

The app handles each message first (server health, sync state, toasts), then
hands every screen a copy (`EngineEvents.forward`); screens react in
`on_engine_events`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from textual.message import Message
from textual.message_pump import MessagePump

from bridge.events import Event

E = TypeVar("E", bound=Event)


@dataclass
class EngineEvents(Message, bubble=False):
    """Engine events, oldest first. Not bubbling: the app sends one to each screen,
    and a screen that has no use for it must not pass it back up."""

    events: Sequence[Event]

    def of(self, *kinds: type[E]) -> list[E]:
        """The events of these kinds, in order."""
        return [e for e in self.events if isinstance(e, kinds)]

    def forward(self) -> EngineEvents:
        """A copy for another message pump (a message is handled once)."""
        return EngineEvents(tuple(self.events))


class EventFeed:
    """Subscribed to the engine's bus; posts `EngineEvents` to `target`.

    The message posted first carries a list that later events are appended to
    until the target handles it and calls `take` (which closes it): the next
    event then posts a new message.
    """

    def __init__(self, target: MessagePump) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._open: list[Event] | None = None  # the batch of the message on its way

    def __call__(self, event: Event) -> None:
        with self._lock:
            if self._open is not None:
                self._open.append(event)
                return
            self._open = batch = [event]
        if not self._target.post_message(EngineEvents(batch)):
            # The target is closing: nothing will take this batch.
            with self._lock:
                if self._open is batch:
                    self._open = None

    def take(self, message: EngineEvents) -> tuple[Event, ...]:
        """The events of `message`, now that its target handles it: from here on
        they are fixed, and the next event posts a message of its own."""
        with self._lock:
            if self._open is message.events:
                self._open = None
            return tuple(message.events)
