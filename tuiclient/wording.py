"""The engine's words made plain for people: no internal ids or state names.

The engine words its own refusals for people ("your chat message to bob@… is
already sent by email instead: there is nothing left to cancel"); what remains
for this module are log lines written before it did, and kept in the store for
good ("outbox item 7 is fell-back-to-email"), the state names of the outbox and
its tries. The words themselves are bridge.errors' (the headless command line
says them too); this is the screens' one door to them: the outbox table, its
log and the toasts count tries with `tries`, so "tried 3 times, next try in
2 min" reads the same in all three.
"""

from __future__ import annotations

from bridge.errors import (
    STATE_WORDS,
    duration,
    item_tries,
    log_words,
    plain_words,
    state_words,
    times_tried,
    tries,
)
from bridge.store.records import OutboxItem

STATES = STATE_WORDS  # the old name, for importers

__all__ = ["STATES", "duration", "item_tries", "log_words", "plain", "sentence",
           "short_tries", "state", "times_tried", "tries"]


def plain(text: str) -> str:
    """`text` without outbox row numbers and with state names in words."""
    return plain_words(text)


def sentence(text: str) -> str:
    """`plain(text)`, starting with a capital."""
    text = plain(text)
    return text[:1].upper() + text[1:]


def state(word: str) -> str:
    """One state (an outbox log's event), in words."""
    return state_words(word)


def short_tries(item: OutboxItem, now: float) -> str:
    """A row's tries under a "tries" heading, where 80 columns leave no room for
    the sentence: "none yet", "3", "3, next in 2 min"."""
    count = times_tried(item)
    said = str(count) if count > 0 else "none yet"
    waits = item.state.value in ("queued", "deferred") and item.next_attempt is not None
    if waits and item.next_attempt is not None:
        return f"{said}, next in {duration(item.next_attempt - now)}"
    return said
