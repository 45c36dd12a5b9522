"""A room's happenings in words (tuiclient/widgets/room_lines.py), beside the
real room's test (tests/test_app_chat_room_events.py): a burst of comings and
goings is one line, anything else between ends the burst; a mention is our
nick as a word, any case; remote nicks stay text."""

from __future__ import annotations

from bridge.events import RoomHappened
from tuiclient.widgets.room_lines import event_lines, mentions


def happened(what: str, nick: str, at: float, **kw) -> RoomHappened:
    return RoomHappened("a", "den@muc", what, nick, at=at, **kw)


def test_a_burst_of_comings_and_goings_is_one_line_until_something_else():
    events = [happened("joined", f"n{i}", 100.0 + i) for i in range(8)]
    events += [happened("left", "old", 110.0), happened("kicked", "n1", 111.0, by="mod",
                                                        reason="spam"),
               happened("joined", "[b]late[/b]", 112.0)]
    lines = [x.plain for x in event_lines(events, lambda: 200.0)]
    assert len(lines) == 3, lines
    assert "→ n0, n1, n2, n3, n4, n5 and 2 more joined · ← old left" in lines[0]
    assert "✖ n1 was kicked by mod: spam" in lines[1]
    assert "→ [b]late[/b] joined" in lines[2]  # as sent: no markup read


def test_a_mention_is_our_nick_as_a_word_in_any_case():
    assert mentions("carol: Ally: are you there?", "ally")
    assert mentions("ALLY!", "ally")
    assert not mentions("totally", "ally") and not mentions("allyson here", "ally")
    assert mentions("ping a.b.", "a.b") and not mentions("ping axb", "a.b")
    assert not mentions("anything", "")


def test_a_happening_kept_twice_by_two_processes_is_read_once(tmp_path):
    """The app and a `run` daemon in the same room keep the same happening each;
    a real repeat (came, left, came again) stays three."""
    from dataclasses import asdict
    from pathlib import Path

    from bridge.config import Config
    from bridge.reader import Reader
    from bridge.store import Store

    store = Store.open(tmp_path / "store.sqlite")
    kept = [happened("kicked", "carol", 100.0, by="dave", reason="spam"),
            happened("kicked", "carol", 100.4, by="dave", reason="spam"),  # the echo
            happened("joined", "erin", 101.0), happened("left", "erin", 102.0),
            happened("joined", "erin", 103.0)]
    for e in kept:
        store.add_event("RoomHappened", asdict(e))
    store.add_event("RoomHappened", asdict(RoomHappened("b", "den@muc", "joined", "x")))
    reader = Reader(Config(Path(tmp_path / "config.toml")), store)
    read = [(e.what, e.nick) for e in reader.room_events("a", "DEN@muc")]
    assert read == [("kicked", "carol"), ("joined", "erin"), ("left", "erin"),
                    ("joined", "erin")], read
    store.close()
