"""One delivery state machine for every outbox row, email or chat.

An outbox row has one state (`DeliveryState`) and moves only along `MOVES`:

    queued ──► sending ──► sent ──► delivered        (a chat line's receipt)
      │  ▲        │ │ ▲       │ └──► read
      │  └────────┘ │ └───────┘      (retry later; a resend of an unconfirmed line)
      │             └──► failed | cancelled | fell-back-to-email
      ├──► failed | cancelled | fell-back-to-email | fell-back-to-im
      └──► sent | delivered | read   (the ack of a send that looked failed)
    deferred ──► sending | cancelled | fell-back-to-email

The states with no move out (`SETTLED`) are final. Every move goes through
`Deliveries.transition`: one store transaction writes the row (compare-and-set
on the state it moves from), the move's log line and the event that tells it
(kept in the store's event log, which `watch` follows), and the event is
published once that transaction is committed. The senders (the SMTP sender in
mail/send.py, the chat path in bridge.outbox) report what the wire said
through it; none of them keeps a state or a table of its own.

An email row's events are `EmailDelivery`, a chat row's `OutboxChanged`: both
are the one `Delivery` event with the row's transport (see bridge.events).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .events import DeferralRetry, Delivery, EmailDelivery, Event, EventBus, OutboxChanged
from .model import DeliveryState, OutboxItem, Transport
from .store import Store

S = DeliveryState

MOVES: Mapping[DeliveryState, frozenset[DeliveryState]] = {
    S.QUEUED: frozenset({S.SENDING, S.SENT, S.DELIVERED, S.READ, S.FAILED, S.CANCELLED,
                         S.FELL_BACK_TO_EMAIL, S.FELL_BACK_TO_IM}),
    S.DEFERRED: frozenset({S.SENDING, S.CANCELLED, S.FELL_BACK_TO_EMAIL}),
    # sending -> sending: a line sent again with the same ids (a new attempt).
    S.SENDING: frozenset({S.SENDING, S.QUEUED, S.SENT, S.DELIVERED, S.READ, S.FAILED,
                          S.CANCELLED, S.FELL_BACK_TO_EMAIL}),
    # sent -> sending: acked, yet neither archived by the server nor receipted.
    S.SENT: frozenset({S.SENDING, S.DELIVERED, S.READ, S.FAILED, S.FELL_BACK_TO_EMAIL}),
    S.DELIVERED: frozenset(),
    S.READ: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FELL_BACK_TO_EMAIL: frozenset(),
    S.FELL_BACK_TO_IM: frozenset(),
}
SETTLED = frozenset(s for s, out in MOVES.items() if not out)
# What the wire can still say of a row: ack, receipt, or its error.
WIRE_REPORTS = frozenset({S.SENT, S.DELIVERED, S.READ, S.FAILED})


def allowed(frm: DeliveryState, to: DeliveryState) -> bool:
    return to in MOVES[frm]


def sources(to: DeliveryState) -> tuple[DeliveryState, ...]:
    """Every state a row may move to `to` from."""
    return tuple(s for s, out in MOVES.items() if to in out)


class Deliveries:
    """The outbox rows' one door for moving on: `transition` and `note`."""

    def __init__(self, store: Store, events: EventBus) -> None:
        self.store = store
        self.events = events

    def transition(self, row: OutboxItem | int, to: DeliveryState, detail: str = "", *,
                   log: str | None = None, only_from: Iterable[DeliveryState] | None = None,
                   claim: bool = False, orphan: bool = False, attempt: bool = False,
                   quiet: bool = False, event_detail: str | None = None,
                   **fields: Any) -> OutboxItem | None:
        """Move `row` to `to` if `MOVES` allows it from the state it is in now
        (and, with `only_from`, only from those), with `fields` (next_attempt,
        payload, ...); log it as `log` (default: the new state's name) with
        `detail`, and tell it as the row's Delivery event. `claim` takes the row
        for this process as `Store.outbox_claim` does (`orphan`: only from a
        process that is gone); `attempt` counts one more try. `quiet` moves
        without a log line or an event of its own (a claim, told by the move
        that follows). Returns the row as it was before, or None if it did not
        move (another process or path moved it first). The event says
        `event_detail` when the log line says more (the next try's time)."""
        outbox_id = row if isinstance(row, int) else row.id
        to = DeliveryState(to)
        frm = sources(to)
        if only_from is not None:
            frm = tuple(s for s in frm if s in set(only_from))
        current = row if isinstance(row, OutboxItem) else self.store.outbox_get(row)
        if current is None or not frm:
            return None
        event = None if quiet else self.event_for(
            current, to, detail if event_detail is None else event_detail)
        before = self.store.outbox_move(
            outbox_id, to, only_from=frm, claim=claim, orphan=orphan, attempt=attempt,
            log=None if quiet else (log or to.value, detail),
            event=None if event is None else _kept(event), **fields)
        if before is not None and event is not None:
            self.events.publish(event)
        return before

    def replace(self, row: OutboxItem, to: DeliveryState, rows: Sequence[dict[str, Any]],
                detail: str, *, log: str, only_from: Iterable[DeliveryState]
                ) -> list[int] | None:
        """Move `row` to `to` and write `rows` (the arguments of `Store.outbox_add`)
        in its place, with the log line and the event, in one transaction: a
        message that changes transport goes one way only. `detail` may name the
        new rows as `{ids}`. Returns their ids, or None if `row` had moved on."""
        to = DeliveryState(to)
        frm = tuple(s for s in sources(to) if s in set(only_from))
        event = self.event_for(row, to, detail)
        ids = self.store.outbox_replace(row.id, to, rows, only_from=frm,
                                        log=(log, detail), event=_kept(event))
        if ids is not None:
            self.events.publish(dataclasses.replace(
                event, detail=detail.replace("{ids}", ", ".join(str(i) for i in ids))))
        return ids

    def claim(self, row: OutboxItem | int, only_from: Iterable[DeliveryState], *,
              orphan: bool = False) -> OutboxItem | None:
        """Take a row for this process without moving it (an orphan's resend)."""
        outbox_id = row if isinstance(row, int) else row.id
        return self.store.outbox_move(outbox_id, None, only_from=tuple(only_from),
                                      claim=True, orphan=orphan)

    def note(self, row: OutboxItem | int, log: str, detail: str = "", *,
             event: Event | None = None, **fields: Any) -> None:
        """Everything but a move of the state: a log line, changed fields (the
        schedule, the payload) and maybe an event (a `DeferralRetry`), in one
        transaction too."""
        outbox_id = row if isinstance(row, int) else row.id
        self.store.outbox_move(outbox_id, None, log=(log, detail),
                               event=None if event is None else _kept(event), **fields)
        if event is not None:
            self.events.publish(event)

    def created(self, row: OutboxItem | int, detail: str = "", *, log: str | None = None,
                log_detail: str | None = None) -> None:
        """Tell a row written in its state from the start (deferred, recovered):
        its log line and its event, in one transaction."""
        item = self.store.outbox_get(row) if isinstance(row, int) else row
        if item is None:
            return
        self.note(item, log or item.state.value, detail if log_detail is None else log_detail,
                  event=self.event_for(item, item.state, detail))

    @staticmethod
    def event_for(row: OutboxItem, to: DeliveryState, detail: str) -> Delivery:
        kind = EmailDelivery if row.transport is Transport.EMAIL else OutboxChanged
        return kind(row.account, row.msg_id, to.value, detail, transport=row.transport.value,
                    outbox_id=row.id)


# The kinds this module keeps in the event log itself, in the row's transaction;
# the engine's own keeper of events leaves them alone.
KEPT_HERE = frozenset({"OutboxChanged", "EmailDelivery", "DeferralRetry"})


def _kept(event: Event) -> tuple[str, dict[str, object]]:
    return type(event).__name__, dataclasses.asdict(event)


__all__ = ["KEPT_HERE", "MOVES", "SETTLED", "WIRE_REPORTS", "DeferralRetry", "Deliveries",
           "allowed", "sources"]
