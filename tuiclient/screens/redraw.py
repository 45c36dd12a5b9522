"""What the main screen draws again after a burst of engine events.

One `EngineEvents` message may carry hundreds of events (a sync pass, a run of
receipts); `Redraw.of` folds them into the few reads that bring the screen up
to date, each done once: the rows of the conversations that changed, the top of
the list, the sidebar's folders or contacts, the outbox marks, the open
conversation, the status bar.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.events import (
    DeferralRetry,
    DeliveryChanged,
    EmailDelivery,
    Event,
    FolderChanged,
    HealthChanged,
    MessageChanged,
    MessageReceived,
    OutboxChanged,
    PresenceChanged,
    RosterChanged,
    SyncProgress,
    TriageDone,
    XmppConnectionChanged,
)
from tuiclient.widgets.conversation_list import PAGE, Key


@dataclass
class Redraw:
    threads: dict[Key, None] = field(default_factory=dict)  # rows to merge, in order
    top: int = 0  # merge this many of the newest conversations (0: none)
    folders: bool = False  # the sidebar's folders and their counts
    contacts: bool = False  # the sidebar's contacts and their presence
    outbox: bool = False  # the outbox marks (and the status bar's count)
    open: bool = False  # the open conversation, whichever it is
    status: bool = False  # the status bar

    @classmethod
    def of(cls, events: Iterable[Event]) -> Redraw:
        r = cls()
        for event in events:
            if isinstance(event, (MessageReceived, MessageChanged)):
                r.threads[(event.account, event.thread_id)] = None
            elif isinstance(event, FolderChanged):
                if event.new or event.flags_changed or event.vanished:
                    r.top = max(r.top, 50)
                    r.folders = r.open = True
            elif isinstance(event, SyncProgress):
                if event.phase in ("first-screen", "done"):
                    r.top = max(r.top, PAGE if event.phase == "first-screen" else 50)
                if event.phase == "done":
                    r.folders = True
                r.status = True
            elif isinstance(event, (DeliveryChanged, OutboxChanged, EmailDelivery,
                                    DeferralRetry)):
                r.outbox = r.open = True
            elif isinstance(event, PresenceChanged):
                r.contacts = True
                r.status = True  # our own presence is in the status bar
            elif isinstance(event, RosterChanged):
                r.contacts = True
            elif isinstance(event, TriageDone):
                # Moved, deleted, tagged (here or by `tuiclient delete` elsewhere).
                r.top = max(r.top, 50)
                r.folders = r.open = True
            elif isinstance(event, (HealthChanged, XmppConnectionChanged)):
                r.status = True
        return r

    def touches(self, key: Key | None) -> bool:
        """Whether the conversation `key` (the open one) needs reading again."""
        return key is not None and (self.open or key in self.threads)
