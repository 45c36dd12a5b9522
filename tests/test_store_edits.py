"""Chat lines changed after they came (schema v9): corrections keep the old text,
retractions take the text out of the store and the search index, reactions are
one set per person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.model import Attachment, Direction, Party
from bridge.store import Store
from tests.test_store import chat


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store.sqlite")
    try:
        yield s
    finally:
        s.close()


def test_a_correction_keeps_the_old_text_and_moves_the_index(store: Store) -> None:
    line = chat(1, text="see you at the statoin", attr_id="a1")
    store.insert_messages([line])
    assert line.id is not None
    assert store.referenced_rows("work", "a1") == [line.id]
    assert store.correct_message(line.id, "see you at the station", 10.0, "fix1")
    assert not store.correct_message(line.id, "see you at the station", 11.0, "fix1")
    got = store.get_message(line.id)
    assert got is not None and got.text == "see you at the station" and got.edited == 10.0
    assert [(r.body, r.by_id) for r in store.revisions(line.id)] == [
        ("see you at the statoin", "fix1")]
    assert [m.id for m in store.search("station")] == [line.id]
    assert store.search("statoin") == []
    # A client that quotes the last correction's id still finds the line.
    assert store.referenced_rows("work", "fix1") == [line.id]
    assert store.list_threads("work")[0].snippet.startswith("see you at the station")


def test_a_retraction_takes_the_text_everywhere(store: Store) -> None:
    line = chat(2, text="secret plans", attachments=[Attachment("a.txt", "text/plain", 1,
                                                                url="https://x.test/a")])
    store.insert_messages([line])
    assert line.id is not None
    store.correct_message(line.id, "secret plans v2", 5.0, "fix")
    assert store.retract_message(line.id, 6.0)
    assert not store.retract_message(line.id, 7.0)
    got = store.get_message(line.id)
    assert got is not None and got.text == "" and got.retracted == 6.0
    assert got.attachments == [] and store.revisions(line.id) == []
    assert store.search("secret") == [] and store.search("plans") == []
    assert not store.correct_message(line.id, "back again", 8.0, "fix2")


def test_reactions_are_one_set_per_person(store: Store) -> None:
    a, b = chat(3), chat(4)
    store.insert_messages([a, b])
    assert a.id is not None and b.id is not None
    assert store.set_reactions(a.id, "bob@x.test", ["👍", "🎉", "👍"], 1.0)
    assert not store.set_reactions(a.id, "bob@x.test", ["👍", "🎉"], 2.0)  # no change
    assert store.set_reactions(a.id, "carol@x.test", ["❤️"], 3.0)
    assert store.set_reactions(a.id, "bob@x.test", ["😮"], 4.0)
    got = store.reactions([a.id, b.id])
    assert [(r.reactor, r.emojis) for r in got[a.id]] == [
        ("carol@x.test", ("❤️",)), ("bob@x.test", ("😮",))]
    assert b.id not in got
    assert store.set_reactions(a.id, "bob@x.test", [], 5.0)
    assert [r.reactor for r in store.reactions([a.id])[a.id]] == ["carol@x.test"]
    assert store.delete_message(a.id)
    assert store.reactions([a.id]) == {}


def test_our_last_line_is_the_one_a_correction_may_replace(store: Store) -> None:
    mine = [chat(n, direction=Direction.OUT, sender=Party("me@chat.example.org"),
                 recipients=[Party("alice@chat.example.org", "", "to")]) for n in (5, 6)]
    store.insert_messages([*mine, chat(7)])
    assert store.last_sent_row("work", "chat@example.org") == mine[1].id
    assert mine[1].id is not None
    store.retract_message(mine[1].id, 9.0)
    assert store.last_sent_row("work", "chat@example.org") == mine[0].id
