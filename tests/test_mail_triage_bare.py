"""Triage against a Dovecot that speaks plain IMAP (tests/harness/servers.py
`start_bare_dovecot`: a second instance on the same Maildirs, without MOVE, UIDPLUS
or SPECIAL-USE, with ACLs): the COPY + STORE + EXPUNGE fallback, new UIDs found by
Message-ID when there is no COPYUID to read, the sentence when the server names no
Trash or Archive folder, and a flag change refused (a read-only folder) rolled back
in the store. Checked as another IMAP client sees the server."""

from __future__ import annotations

import pytest

from bridge.config import get_password, load_config
from bridge.events import EventBus
from bridge.mail import triage
from bridge.mail.sync import MailSync
from bridge.mail.triage import Place, TriageError
from bridge.model import FLAGGED
from tests.conftest import password_command
from tests.test_mail_sync import send, wait_inbox
from tests.test_mail_triage import _server_flags, _subjects

pytestmark = pytest.mark.servers


@pytest.fixture
def bare(world, people, tmp_path):
    """`make(name)`: a person whose sync talks to the bare Dovecot."""
    port = world.start_bare_dovecot()

    def make(name: str):
        p = people(name)
        path = tmp_path / f"{p.account.name}-bare.toml"
        text = world.client_config(p.account, password_command(tmp_path, p.account))
        path.write_text(text.replace(f"port = {world.ports.imaps}\n", f"port = {port}\n"))
        p.sync.close()
        p.config = config = load_config(path).account(p.account.name)
        assert config.imap.port == port
        p.sync = MailSync(config, lambda: get_password(config, "imap"), p.store, EventBus())
        return p
    return make


def _inbox(person, count: int) -> dict[str, Place]:
    wait_inbox(person, count)
    person.sync.sync_folders()
    person.sync.sync_folder("INBOX")
    rows = person.store.folder_messages(person.account.name, "INBOX", limit=100)
    return {m.subject: Place(m.id, "INBOX", m.uid) for m in rows}


def test_the_bare_server_hides_move_uidplus_and_special_use(bare):
    alice = bare("alice")
    caps = alice.sync.connect().capabilities()
    assert b"MOVE" not in caps and b"UIDPLUS" not in caps and b"SPECIAL-USE" not in caps
    assert b"CONDSTORE" in caps


def test_move_without_move_or_uidplus_finds_new_uids_by_message_id(bare, monkeypatch):
    alice, bob = bare("alice"), bare("bob")
    for subject in ("one", "two", "three"):
        send(bob, [alice], subject)
    places = _inbox(alice, 3)
    alice.sync.connect().create_folder("Projects")
    found: list[list[int]] = []
    by_id = triage._find_by_message_id

    def watched(sync, folder, rows):  # the real search, seen to run
        found.append(sorted(rows))
        return by_id(sync, folder, rows)
    monkeypatch.setattr(triage, "_find_by_message_id", watched)

    done = triage.move(alice.sync, [places["one"], places["two"]], "Projects")
    assert found == [sorted([places["one"].row, places["two"].row])]
    assert _subjects(alice, "Projects") == ["one", "two"]
    # Plain EXPUNGE took only the two moved (\Deleted) ones.
    assert _subjects(alice, "INBOX") == ["three"]
    uids = alice.store.folder_uids(alice.account.name, "Projects")
    assert all(uid > 0 for uid in uids) and len(uids) == 2
    assert all(m[4] is not None for m in done.moved)

    triage.undo(alice.sync, done)
    assert _subjects(alice, "INBOX") == ["one", "three", "two"]
    assert _subjects(alice, "Projects") == []


def test_no_trash_or_archive_folder_is_a_sentence_and_nothing_moves(bare):
    alice, bob = bare("alice"), bare("bob")
    send(bob, [alice], "keep me")
    places = _inbox(alice, 1)
    with pytest.raises(TriageError, match=r"names no Trash folder.*expunge_deletes"):
        triage.delete(alice.sync, [places["keep me"]])
    with pytest.raises(TriageError, match=r"names no Archive folder.*archive_folder"):
        triage.archive(alice.sync, [places["keep me"]])
    assert _subjects(alice, "INBOX") == ["keep me"]
    assert alice.store.get_message(places["keep me"].row).folder == "INBOX"


def test_a_refused_flag_change_is_rolled_back_in_the_store(world, bare):
    alice, bob = bare("alice"), bare("bob")
    send(bob, [alice], "locked")
    places = _inbox(alice, 1)
    # Made by another client, and the ACL written before our session opens the
    # folder (Dovecot keeps a folder's ACL for the session once read).
    client = alice.imap()
    client.create_folder("Locked")
    client.select_folder("INBOX")
    client.copy([places["locked"].uid], "Locked")
    client.select_folder("Locked")
    (uid,) = client.search()
    client.logout()
    world.read_only_folder(alice.account, "Locked")
    row = places["locked"].row
    before = set(alice.store.get_message(row).flags)
    assert FLAGGED not in before

    with pytest.raises(TriageError, match=r"refused the flags.*read-only"):
        triage.set_flags(alice.sync, [Place(row, "Locked", uid)], add=[FLAGGED])
    assert set(alice.store.get_message(row).flags) == before
    assert "\\Flagged" not in _server_flags(alice, "Locked")["locked"]
    # The connection is still good: the same flag in INBOX goes through.
    triage.set_flags(alice.sync, [places["locked"]], add=[FLAGGED])
    assert "\\Flagged" in _server_flags(alice, "INBOX")["locked"]
