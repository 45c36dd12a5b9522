"""Each message once in the store's reads and counts (bridge/store/once.py), the
unit tests beside tests/test_shown_once.py (which meets the real servers).

Our own email in INBOX and Sent under one Message-ID (a note to self; other
bytes, so two rows) is one message in the conversation and in its row's count,
whichever copy comes first, by the whole-message writer or the header sync; a
copy gone leaves the other counted. Our digest sent ahead of a chat handoff is
neither shown nor counted; a peer's digest to us is. A store of schema 17
counted both: it is counted again once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.handoff import chat_digest
from bridge.handoff.reads import timeline
from bridge.model import DRAFT, SEEN, Direction, EmailHeaders, Message, Party
from bridge.store import Store, schema
from tests.test_store import chat, email

ME = Party("me@example.org", "Me")
NOTE = "note@example.org"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "store.sqlite3")
    s.upsert_account("work", email="me@example.org", jid="me@chat.example.org")
    s.upsert_folder("work", "INBOX", role="inbox")
    s.upsert_folder("work", "Sent", role="sent")
    yield s
    s.close()


def copy(n: int, folder: str, **kw: object) -> Message:
    """Our note to self as `folder` holds it: the second copy's id made distinct
    by the store's claims (other bytes), its Message-ID the same."""
    fields: dict[str, object] = dict(
        msg_id=NOTE if n == 1 else f"{NOTE}#{n:016x}", message_id_header=NOTE,
        thread=NOTE, direction=Direction.OUT, sender=ME, folder=folder,
        recipients=[Party("me@example.org", "Me", "to")], subject="Note",
        flags=frozenset({SEEN}), text="Buy milk", uid=10 + n)
    fields.update(kw)
    return email(n, **fields)  # type: ignore[arg-type]  # (a dict of mixed values as keywords)


def copy_uid(store: Store, folder: str) -> int:
    return next(m.uid for m in timeline(store, "work", NOTE, copies=True)
                if m.folder == folder and m.uid is not None)


def counts(store: Store, thread: str = NOTE) -> tuple[int, int, str]:
    t = store.get_thread("work", thread)
    assert t is not None
    return t.message_count, t.unread_count, t.snippet


@pytest.mark.parametrize("first", ["Sent", "INBOX"])
def test_our_email_in_two_folders_is_one_message(store: Store, first: str) -> None:
    later = "INBOX" if first == "Sent" else "Sent"
    store.insert_messages([copy(1, first)])
    store.insert_messages([copy(2, later, text="")])  # as a header sync leaves it
    assert [m.folder for m in timeline(store, "work", NOTE)] == [first]
    assert {m.folder for m in timeline(store, "work", NOTE, copies=True)} == {"INBOX", "Sent"}
    assert counts(store)[:2] == (1, 0)
    # Either copy gone (deleted from its folder), the other is the message.
    store.remove_mail_locations("work", first, [copy_uid(store, first)])
    assert [m.folder for m in timeline(store, "work", NOTE)] == [later]
    assert counts(store)[0] == 1


def test_the_header_sync_counts_a_twin_once(store: Store) -> None:
    store.insert_messages([copy(1, "Sent")])
    h = EmailHeaders(uid=2, msg_id=f"{NOTE}#2", thread_id=NOTE, date=1_700_000_002.0,
                     sender=ME, recipients=[ME], subject="Note", message_id_header=NOTE,
                     in_reply_to=None, references=[], flags=frozenset(),
                     direction=Direction.OUT)
    assert store.insert_email_headers("work", "INBOX", [h], index=True) == 1
    assert len(timeline(store, "work", NOTE)) == 1
    assert counts(store)[0] == 1


def test_others_sharing_an_id_and_drafts_stay_apart(store: Store) -> None:
    # Two messages from someone else under one id are two (a stranger cannot
    # take a real one's place); two versions of a draft are the writer's.
    store.insert_messages([email(1), email(2, msg_id="m1@example.org#2",
                                           message_id_header="m1@example.org")])
    assert len(timeline(store, "work", "root@example.org")) == 2
    store.insert_messages([copy(1, "Sent", flags=frozenset({DRAFT})),
                           copy(2, "INBOX", flags=frozenset({DRAFT}))])
    assert len(timeline(store, "work", NOTE)) == 2


def test_our_digest_is_not_shown_nor_counted_and_a_peers_is(store: Store) -> None:
    store.insert_messages([email(1)])
    digest = chat_digest(timeline(store, "work", "root@example.org"))
    ours = chat(2, thread="root@example.org", direction=Direction.OUT, text=digest,
                sender=Party("me@chat.example.org", "Me"))
    line = chat(3, thread="root@example.org", direction=Direction.OUT, text="By chat now.",
                sender=Party("me@chat.example.org", "Me"))
    store.insert_messages([line])
    store.insert_messages([ours])  # stored as it is sent: after the line
    assert [m.text for m in timeline(store, "work", "root@example.org")] == [
        "body of message 1", "By chat now."]
    assert counts(store, "root@example.org") == (2, 1, "By chat now.")
    theirs = chat(4, thread="chat@example.org", text=digest)
    store.insert_messages([theirs])
    assert [m.text for m in timeline(store, "work", "chat@example.org")] == [digest]
    assert counts(store, "chat@example.org")[0] == 1


def test_a_store_of_schema_17_is_counted_again(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:17])
        # The writers as schema 17's counted: every row.
        m.setattr("bridge.store.messages.twin", lambda _m: False)
        m.setattr("bridge.store.messages.carried_history", lambda _m: False)
        with Store.open(path) as old:
            assert old.schema_version == 17
            old.upsert_account("work", email="me@example.org")
            old.insert_messages([copy(1, "Sent"), copy(2, "INBOX")])
            old.insert_messages([email(3, thread="root@example.org"),
                                 chat(4, thread="root@example.org", direction=Direction.OUT,
                                      text="By chat now.")])
            old.insert_messages([chat(5, thread="root@example.org", direction=Direction.OUT,
                                      text=chat_digest([email(3)]))])
            assert counts(old)[0] == 2 and counts(old, "root@example.org")[0] == 3
    with Store.open(path) as store:
        assert store.schema_version == len(schema.MIGRATIONS) >= 18
        assert counts(store) == (1, 0, "Buy milk")
        assert counts(store, "root@example.org") == (2, 1, "By chat now.")
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
