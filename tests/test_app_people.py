"""Naming people from what the screen passes down (`tuiclient.people`): no app,
no engine, only a `Directory`."""

from __future__ import annotations

from bridge.model import Direction, Message, Party, Transport
from tuiclient.people import Directory, party_name, reply_names, room_people

ROOM = "thread-5f2a9c@conference.example.test"
D = Directory(names={"bob@example.test": "Bob", "carol@example.test": "Carol"},
              own={"alice@example.test": "Alice"},
              joined={"alice": frozenset({ROOM})}, rooms={"alice": frozenset({ROOM})},
              occupants={("alice", ROOM): [("carol@example.test", "carol"), ("", "eve")]})


def line(sender: str, to: str, *, name: str = "", out: bool = False, thread: str = "t",
         cc: tuple[str, ...] = ()) -> Message:
    return Message(msg_id=f"{sender}-{to}", account="alice", transport=Transport.XMPP,
                   direction=Direction.OUT if out else Direction.IN, thread_id=thread,
                   date=1.0, sender=Party(sender, name, "from"),
                   recipients=[Party(to, "", "to"), *(Party(c, "", "cc") for c in cc)],
                   text="hi")


def test_a_recipient_is_you_a_contact_or_a_group_chat_by_its_people():
    to_me = line("bob@example.test/phone", "alice@example.test")
    assert party_name(D, to_me, to_me.recipients[0], [to_me]) == "Alice"
    in_room = line(f"{ROOM}/bob", ROOM, name="bob")
    # In the room now: carol (a contact, by name) and eve (a hidden JID, by nick); and
    # whoever wrote there in this thread (the sender is the room's JID: by nick).
    assert party_name(D, in_room, in_room.recipients[0], [in_room]) == \
        "the group chat with Carol, eve, bob"
    assert room_people(Directory(), in_room, ROOM, [in_room]) == ["bob"]


def test_a_room_nobody_is_in_yet_is_named_after_its_subject():
    m = line("alice@example.test", ROOM, out=True)  # our invitation's first line
    m.subject = "Launch"
    empty = Directory(rooms={"alice": frozenset({ROOM})})
    assert party_name(empty, m, m.recipients[0], [m]) == "the group chat “Launch”"


def test_a_reply_names_whom_it_goes_to():
    m = line("bob@example.test/phone", "alice@example.test",
             cc=("carol@example.test", "dave@example.test"))
    assert reply_names(D, m, False) == "Bob"
    assert reply_names(D, m, True) == "Bob, Carol, dave@example.test"  # never you
    assert reply_names(D, line("bob@example.test", ROOM), True) == "Bob, the group chat"
    assert reply_names(D, line("alice@example.test", "alice@example.test", out=True),
                       False) == "yourself"  # a note to self
