"""Triage against the real Dovecot, checked as another client sees the server:
move, copy, delete to Trash, archive, expunge, flags, keywords, undo."""

from __future__ import annotations

import pytest

from bridge.mail import triage
from bridge.mail.triage import Done, Place, TriageError
from tests.test_mail_sync import send, wait_inbox

pytestmark = pytest.mark.servers


def _subjects(person, folder: str) -> list[str]:
    client = person.imap()
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        data = client.fetch(uids, [b"ENVELOPE"]) if uids else {}
        return sorted(d[b"ENVELOPE"].subject.decode() for d in data.values())
    finally:
        client.logout()


def _server_flags(person, folder: str) -> dict[str, set[str]]:
    client = person.imap()
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        data = client.fetch(uids, [b"ENVELOPE", b"FLAGS"]) if uids else {}
        return {d[b"ENVELOPE"].subject.decode(): {f.decode() for f in d[b"FLAGS"]}
                for d in data.values()}
    finally:
        client.logout()


def _inbox(person, count: int) -> dict[str, Place]:
    wait_inbox(person, count)
    person.sync.sync_folders()
    person.sync.sync_folder("INBOX")
    rows = person.store.folder_messages(person.account.name, "INBOX", limit=100)
    return {m.subject: Place(m.id, "INBOX", m.uid) for m in rows}


@pytest.mark.parametrize("move_capability", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
def test_delete_archive_move_copy_and_undo(people, move_capability):
    alice, bob = people("alice"), people("bob")
    for subject in ("one", "two", "three", "four"):
        send(bob, [alice], subject)
    places = _inbox(alice, 4)
    if not move_capability:
        alice.sync.disabled_capabilities = {b"MOVE"}
    store, name = alice.store, alice.account.name

    done = triage.delete(alice.sync, [places["one"], places["two"]])
    assert _subjects(alice, "Trash") == ["one", "two"]
    assert _subjects(alice, "INBOX") == ["four", "three"]
    # The store followed at once: same rows, now in Trash at the server's new UIDs.
    trash_uids = store.folder_uids(name, "Trash")
    assert sorted(trash_uids.values()) == sorted([places["one"].row, places["two"].row])
    assert all(uid > 0 for uid in trash_uids)
    assert store.get_message(places["one"].row).folder == "Trash"

    # Undo brings them back to INBOX, as any client sees.
    again = Done.from_json(done.to_json())
    triage.undo(alice.sync, again)
    assert _subjects(alice, "INBOX") == ["four", "one", "three", "two"]
    assert _subjects(alice, "Trash") == []
    assert store.get_message(places["one"].row).folder == "INBOX"

    triage.archive(alice.sync, [Place(places["three"].row, "INBOX",
                                      store.get_message(places["three"].row).uid)])
    assert _subjects(alice, "Archive") == ["three"]
    assert store.get_message(places["three"].row).folder == "Archive"

    alice.imap().create_folder("Projects")
    four = store.get_message(places["four"].row)
    copied = triage.move(alice.sync, [Place(four.id, "INBOX", four.uid)],
                          "Projects", copy=True)
    assert _subjects(alice, "Projects") == ["four"] and "four" in _subjects(alice, "INBOX")
    assert len(store.folder_uids(name, "Projects")) == 1
    triage.undo(alice.sync, copied)
    assert _subjects(alice, "Projects") == [] and "four" in _subjects(alice, "INBOX")

    moved = triage.move(alice.sync, [Place(four.id, "INBOX", four.uid)], "Projects")
    assert _subjects(alice, "Projects") == ["four"] and "four" not in _subjects(alice, "INBOX")
    assert moved.moved[0][4] is not None

    # Deleting what is in Trash already deletes it for good; that has no undo.
    one = store.get_message(places["one"].row)
    triage.delete(alice.sync, [Place(one.id, one.folder, one.uid)])
    trashed = store.get_message(places["one"].row)
    gone = triage.delete(alice.sync, [Place(trashed.id, "Trash", trashed.uid)])
    assert gone.action == "expunge" and _subjects(alice, "Trash") == []
    assert store.get_message(places["one"].row) is None
    with pytest.raises(TriageError, match="cannot be brought back"):
        triage.undo(alice.sync, gone)


def test_refused_move_rolls_the_store_back(people):
    alice, bob = people("alice"), people("bob")
    send(bob, [alice], "stays")
    places = _inbox(alice, 1)
    with pytest.raises(TriageError, match="the server refused"):
        triage.move(alice.sync, [places["stays"]], "No Such Folder")
    m = alice.store.get_message(places["stays"].row)
    assert (m.folder, m.uid) == ("INBOX", places["stays"].uid)
    assert alice.store.folder_uids(alice.account.name, "INBOX") == {
        places["stays"].uid: places["stays"].row}
    assert _subjects(alice, "INBOX") == ["stays"]


def test_flags_and_keywords_are_on_the_server_and_searchable(people):
    alice, bob = people("alice"), people("bob")
    send(bob, [alice], "star me")
    send(bob, [alice], "tag me")
    places = _inbox(alice, 2)
    done = triage.set_flags(alice.sync, [places["star me"]], add=["\\Flagged"])
    assert "\\Flagged" in _server_flags(alice, "INBOX")["star me"]
    assert "\\Flagged" in alice.store.get_message(places["star me"].row).flags
    triage.undo(alice.sync, done)
    assert "\\Flagged" not in _server_flags(alice, "INBOX")["star me"]
    assert "\\Flagged" not in alice.store.get_message(places["star me"].row).flags

    triage.set_flags(alice.sync, [places["tag me"], places["star me"]],
                     add=[triage.check_keyword("$work"), "urgent"])
    flags = _server_flags(alice, "INBOX")
    assert {"$work", "urgent"} <= flags["tag me"] and {"$work", "urgent"} <= flags["star me"]
    triage.set_flags(alice.sync, [places["star me"]], remove=["urgent"])
    assert "urgent" not in _server_flags(alice, "INBOX")["star me"]
    found = alice.store.search("tag:urgent", account=alice.account.name)
    assert [m.subject for m in found] == ["tag me"]
    assert {m.subject for m in alice.store.search("tag:$WORK")} == {"tag me", "star me"}
    with pytest.raises(ValueError):
        triage.check_keyword("two words")


def test_expunge_setting_and_an_archive_folder_of_our_own(people):
    alice, bob = people("alice"), people("bob")
    send(bob, [alice], "gone")
    send(bob, [alice], "kept")
    places = _inbox(alice, 2)
    done = triage.delete(alice.sync, [places["gone"]], expunge_now=True)
    assert done.action == "expunge"
    assert _subjects(alice, "INBOX") == ["kept"] and _subjects(alice, "Trash") == []
    assert alice.store.get_message(places["gone"].row) is None

    alice.imap().create_folder("Old mail")
    triage.archive(alice.sync, [places["kept"]], "Old mail")
    assert _subjects(alice, "Old mail") == ["kept"] and _subjects(alice, "Archive") == []
