"""The one delivery state machine: one table of moves, row + log + event together."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.delivery import MOVES, SETTLED, Deliveries, allowed
from bridge.events import Delivery, EmailDelivery, Event, EventBus, OutboxChanged
from bridge.model import DeliveryState, Transport
from bridge.store import Store

S = DeliveryState


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store.sqlite3")
    yield s
    s.close()


def machine(store: Store) -> tuple[Deliveries, list[Event]]:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    return Deliveries(store, bus), seen


def test_the_table_covers_every_state_and_settled_states_are_final() -> None:
    assert set(MOVES) == set(DeliveryState)
    assert {S.DELIVERED, S.READ, S.FAILED, S.CANCELLED, S.FELL_BACK_TO_EMAIL,
                       S.FELL_BACK_TO_IM} == SETTLED
    # A wire report never goes backwards, and nothing leaves a settled state.
    assert not allowed(S.SENT, S.QUEUED) and not allowed(S.DELIVERED, S.SENT)
    assert not allowed(S.DEFERRED, S.FAILED) and allowed(S.SENT, S.SENDING)
    assert all(not MOVES[s] for s in SETTLED)


def test_a_move_writes_row_log_and_event_and_publishes_it(store: Store) -> None:
    deliveries, seen = machine(store)
    oid = store.outbox_add("m1@example.org", "work", Transport.XMPP, payload={"plan": {}})
    before = deliveries.transition(oid, S.SENDING, "trying", claim=True, attempt=True)
    assert before is not None and before.state is S.QUEUED
    row = store.outbox_get(oid)
    assert row is not None and row.state is S.SENDING and row.attempts == 1 and row.owner
    assert [(e.event, e.detail) for e in store.outbox_history(oid)][-2:] == [
        ("state", "queued -> sending"), ("sending", "trying")]
    [event] = seen
    assert isinstance(event, OutboxChanged) and isinstance(event, Delivery)
    assert (event.state, event.outbox_id, event.transport) == ("sending", oid, "xmpp")
    kept = store.events()
    assert [k.kind for k in kept] == ["OutboxChanged"]
    assert kept[0].payload["state"] == "sending" and kept[0].payload["outbox_id"] == oid


def test_a_move_the_table_forbids_changes_nothing(store: Store) -> None:
    deliveries, seen = machine(store)
    oid = store.outbox_add("e1@example.org", "work", Transport.EMAIL, payload={})
    assert deliveries.transition(oid, S.CANCELLED, "by you") is not None
    assert deliveries.transition(oid, S.SENT, "accepted") is None  # cancelled is final
    row = store.outbox_get(oid)
    assert row is not None and row.state is S.CANCELLED
    assert [type(e) for e in seen] == [EmailDelivery]
    assert [k.kind for k in store.events()] == ["EmailDelivery"]


def test_only_from_is_a_compare_and_set(store: Store) -> None:
    deliveries, _seen = machine(store)
    oid = store.outbox_add("m2@example.org", "work", Transport.XMPP, payload={})
    assert deliveries.transition(oid, S.SENT, only_from=(S.SENDING,)) is None
    assert deliveries.transition(oid, S.SENDING, quiet=True) is not None
    assert deliveries.transition(oid, S.SENT, only_from=(S.SENDING,)) is not None
    # The claim was quiet: one event, for the move to sent.
    assert [(k.kind, k.payload["state"]) for k in store.events()] == [("OutboxChanged", "sent")]


def test_a_note_keeps_fields_log_and_event_together(store: Store) -> None:
    deliveries, seen = machine(store)
    oid = store.outbox_add("m3@example.org", "work", Transport.XMPP, payload={},
                           state=S.DEFERRED)
    deliveries.created(oid, "bob is away")
    deliveries.note(oid, "retry", "still away", next_attempt=123.0)
    row = store.outbox_get(oid)
    assert row is not None and row.state is S.DEFERRED and row.next_attempt == 123.0
    assert [e.event for e in store.outbox_history(oid)] == ["created", "deferred", "retry"]
    assert [getattr(e, "state", None) for e in seen] == ["deferred"]


def test_payload_keys_set_on_the_row_as_it_is_not_as_it_was_read(store: Store) -> None:
    """A sender reads its row, waits on a server, then notes one key of the
    payload: what another task wrote meanwhile (a retry's count, the mirror's
    mark) stays. Writing `dict(item.payload, key=...)` from the copy read before
    the wait undid it: the outbox said "not tried yet" after "tried once"."""
    deliveries, _seen = machine(store)
    oid = store.outbox_add("m4@example.org", "work", Transport.XMPP,
                           payload={"plan": {"to": "bob@example.org"}}, state=S.DEFERRED)
    read_before = store.outbox_get(oid)
    assert read_before is not None
    deliveries.note(oid, "retry", "still away", payload_set={"retries": 1})  # meanwhile
    deliveries.note(read_before, "mirrored", "in Deferred", payload_set={"mirrored": True})
    store.outbox_update(oid, payload_set={"no_email": True})
    deliveries.transition(oid, S.SENDING, "available", payload_set={"recovered": False})
    row = store.outbox_get(oid)
    assert row is not None and row.state is S.SENDING
    assert row.payload == {"plan": {"to": "bob@example.org"}, "retries": 1,
                           "mirrored": True, "no_email": True, "recovered": False}
    with pytest.raises(TypeError):
        store.outbox_update(oid, payload={}, payload_set={"retries": 2})


def test_a_change_of_transport_writes_both_rows_log_and_event_at_once(store: Store) -> None:
    deliveries, seen = machine(store)
    oid = store.outbox_add("e2@example.org", "work", Transport.EMAIL, payload={})
    row = store.outbox_get(oid)
    assert row is not None
    chat = {"msg_id": "c2@example.org", "account": "work", "transport": Transport.XMPP,
            "payload": {"plan": {}}}
    ids = deliveries.replace(row, S.FELL_BACK_TO_IM, [chat], "by chat {ids}",
                             log="sent by chat", only_from=(S.QUEUED,))
    assert ids is not None and len(ids) == 1
    moved = store.outbox_get(oid)
    assert moved is not None and moved.state is S.FELL_BACK_TO_IM
    assert (store.outbox_history(oid)[-1].event, store.outbox_history(oid)[-1].detail) == (
        "sent by chat", f"by chat {ids[0]}")
    [event] = seen
    assert isinstance(event, EmailDelivery) and event.detail == f"by chat {ids[0]}"
    assert [(k.kind, k.payload["detail"]) for k in store.events()] == [
        ("EmailDelivery", f"by chat {ids[0]}")]
    # Once moved, it cannot move again.
    assert deliveries.replace(row, S.FELL_BACK_TO_IM, [chat], "again", log="sent by chat",
                              only_from=(S.QUEUED,)) is None
