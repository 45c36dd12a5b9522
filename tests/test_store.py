"""The store keeps what a user cares about: every message once, in the right thread,
findable, and nothing lost across a crash or an upgrade."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.model import (
    SEEN,
    Attachment,
    DeliveryState,
    Direction,
    EmailHeaders,
    Message,
    Party,
    Transport,
    new_message_id,
    normalize_message_id,
    parse_message_ids,
    thread_id_for_email,
)
from bridge.store import SchemaTooNewError, Store, schema


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "store.sqlite3")
    yield s
    s.close()


def email(n: int, *, thread: str = "root@example.org", date: float | None = None,
          account: str = "work", folder: str = "INBOX", **kw: object) -> Message:
    fields: dict[str, object] = {
        "msg_id": f"m{n}@example.org", "account": account, "transport": Transport.EMAIL,
        "direction": Direction.IN, "thread_id": thread,
        "date": 1_700_000_000.0 + n if date is None else date,
        "sender": Party(f"sender{n}@example.org", f"Sender {n}"),
        "recipients": [Party("me@example.org", "Me", "to")], "subject": f"Subject {n}",
        "text": f"body of message {n}", "folder": folder, "uid": n,
        "message_id_header": f"m{n}@example.org", **kw}
    return Message(**fields)  # type: ignore[arg-type]


def chat(n: int, *, thread: str = "chat@example.org", date: float | None = None,
         **kw: object) -> Message:
    fields: dict[str, object] = {
        "msg_id": f"c{n}@example.org", "account": "work", "transport": Transport.XMPP,
        "direction": Direction.IN, "thread_id": thread,
        "date": 1_700_000_000.0 + n if date is None else date,
        "sender": Party("alice@chat.example.org", "Alice"),
        "recipients": [Party("me@chat.example.org", "", "to")], "text": f"chat line {n}",
        "stanza_id": f"s{n}", "origin_id": f"c{n}@example.org", **kw}
    return Message(**fields)  # type: ignore[arg-type]


# -- the model ---------------------------------------------------------------------


def test_thread_id_of_an_email_is_its_root() -> None:
    assert thread_id_for_email("<c@x>", "<b@x>", "<a@x> <b@x>") == "a@x"
    assert thread_id_for_email("<c@x>", " <b@x> (comment)", None) == "b@x"
    assert thread_id_for_email(" <c@x>\r\n", None, []) == "c@x"
    assert thread_id_for_email("c@x", None, ["<a@x>", "b@x"]) == "a@x"
    # Folded header: whitespace inside the brackets is not part of the id.
    assert thread_id_for_email("<c@x>", None, "<a\r\n @x>\r\n <b@x>") == "a@x"
    with pytest.raises(ValueError):
        thread_id_for_email(None, None, None)


def test_message_ids_are_bare_and_unique() -> None:
    ids = {new_message_id("example.org") for _ in range(1000)}
    assert len(ids) == 1000
    one = ids.pop()
    assert one.endswith("@example.org") and "<" not in one and ">" not in one
    assert normalize_message_id(f"<{one}>") == one
    assert parse_message_ids(f"<{one}> <x@y>") == [one, "x@y"]
    with pytest.raises(ValueError):
        new_message_id("bad domain")


def test_message_coerces_and_validates() -> None:
    m = Message("a@b", "acc", "xmpp", "out", "t", 1.0, Party("me@b"))  # type: ignore[arg-type]
    assert m.transport is Transport.XMPP and m.direction is Direction.OUT
    assert not m.unread  # our own messages are never unread
    with pytest.raises(ValueError):
        Message("a@b", "acc", "smoke-signal", "in", "t", 1.0, Party("x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Party("x@y", role="sender")


# -- opening, files and schema -----------------------------------------------------


def test_files_are_private_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "new" / "data" / "store.sqlite3"
    with Store.open(path) as s:
        s.insert_messages([email(1)])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # Another connection sees WAL too: the mode is stored in the file.
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_second_connection_in_the_process_keeps_other_processes_writes_in_sight(
        tmp_path: Path) -> None:
    """Opening the store again in this process (the header sync's own connection)
    must not drop the first connection's lock on the file: with it dropped, the
    next process to close its connection took the file as unused, and the first
    connection stopped seeing other processes' writes (`watch` went blind)."""
    import subprocess
    import sys

    path = tmp_path / "store.db"
    first = Store.open(path)
    first.add_event("one")
    second = Store.open(path)
    second.add_event("two")
    second.close()
    root = Path(__file__).resolve().parent.parent
    other = ("import sys; sys.path.insert(0, sys.argv[1]); from bridge.store import Store; "
             "s = Store.open(sys.argv[2]); s.add_event(sys.argv[3]); s.close()")
    seen = ["one", "two"]
    for kind in ("three", "four", "five"):
        subprocess.run([sys.executable, "-c", other, str(root), str(path), kind], check=True)
        seen.append(kind)
        assert [e.kind for e in first.events()] == seen
    first.close()


def test_existing_database_gets_later_migrations(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    with Store.open(path) as s:
        assert s.schema_version == len(schema.MIGRATIONS)
        s.insert_messages([email(1)])

    def add_column(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE messages ADD COLUMN importance INTEGER NOT NULL DEFAULT 0")

    # SQL text with a semicolon inside a string, then a callable.
    labels = "CREATE TABLE labels (name TEXT PRIMARY KEY); INSERT INTO labels VALUES ('a;b');"
    later = [*schema.MIGRATIONS, labels, add_column]
    monkeypatch.setattr(schema, "MIGRATIONS", later)
    with Store.open(path) as s:
        assert s.schema_version == len(later)
        assert s._conn.execute("SELECT name FROM labels").fetchall()[0][0] == "a;b"
        assert s._conn.execute("SELECT importance FROM messages").fetchall()[0][0] == 0
        # The data that was there survives the upgrade.
        assert s.find_by_msg_id("work", "m1@example.org") is not None


def test_failed_migration_leaves_the_old_version(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    Store.open(path).close()
    broken = [*schema.MIGRATIONS, "CREATE TABLE half (x); CREATE TABLE messages (x);"]
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        Store.open(path)
    monkeypatch.undo()
    with Store.open(path) as s:
        assert s.schema_version == len(schema.MIGRATIONS)
        tables = {r[0] for r in s._conn.execute("SELECT name FROM sqlite_master")}
        assert "half" not in tables


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(schema.MIGRATIONS) + 3}")
    with pytest.raises(SchemaTooNewError, match="newer tuiclient"):
        Store.open(path)


# -- messages ----------------------------------------------------------------------


def test_message_round_trips_with_every_field(store: Store) -> None:
    sha = store.store_blob(b"%PDF-1.7 report")
    m = email(
        1, recipients=[Party("Me@Example.org", "Me", "to"), Party("c@example.org", "C", "cc"),
                       Party("b@example.org", "", "bcc")],
        in_reply_to="m0@example.org", references=["r@example.org", "m0@example.org"],
        flags={SEEN, "\\Answered", "$Label1"}, delivery=DeliveryState.DELIVERED,
        direction=Direction.OUT, stanza_id="st-1", origin_id="m1@example.org",
        attachments=[Attachment("report.pdf", "application/pdf", 15, sha, "2"),
                     Attachment("photo.jpg", "image/jpeg", 2048, None, None,
                                "https://upload.example.org/photo.jpg")],
        raw=b"From: x\r\n\r\nbody")
    assert store.insert_messages([m]) == 1
    assert m.id is not None
    back = store.get_message(m.id)
    assert back == m
    assert store.find_by_msg_id("work", "m1@example.org") == m
    assert store.lookup("stanza_id", "st-1") == [m]
    assert store.lookup("message_id_header", "m1@example.org", account="work") == [m]
    assert store.lookup("origin_id", "nope") == []
    assert store.blob_path(sha).read_bytes() == b"%PDF-1.7 report"


def test_malformed_message_keeps_its_raw_bytes(store: Store) -> None:
    raw = b"\xff\xfeFrom: =?bogus?=\r\nno blank line, \x00 binary junk"
    m = email(7, malformed=True, raw=raw, subject="", text="", message_id_header=None)
    store.insert_messages([m])
    back = store.get_message(m.id or 0)
    assert back is not None and back.malformed and back.raw == raw


def test_duplicates_are_stored_once(store: Store) -> None:
    assert store.insert_messages([email(1), email(2), email(1)]) == 2
    assert store.insert_messages([email(1), email(2), email(3)]) == 1
    # Same folder and uid under another id: the server's copy is already here.
    assert store.insert_messages([email(9, uid=3)]) == 0
    assert store.count_messages() == 3
    assert store.count_messages("work") == 3 and store.count_messages("home") == 0
    t = store.get_thread("work", "root@example.org")
    assert t is not None and t.message_count == 3 and t.unread_count == 3


def test_same_message_through_both_transports_is_shown_once(store: Store) -> None:
    msg_id = "abc@example.org"
    by_chat = chat(1, msg_id=msg_id, origin_id=msg_id, stanza_id="s-9", thread="t@example.org")
    by_mail = email(1, msg_id=msg_id, thread="t@example.org", folder="INBOX", uid=44,
                    message_id_header=msg_id)
    # One person's message on both transports: her JID and her address are one
    # contact. (Added: an id on both transports from two people is two messages.)
    store.add_contact("Alice", emails=[by_mail.sender.address], jids=[by_chat.sender.address])
    assert store.insert_messages([by_chat]) == 1
    assert store.insert_messages([by_mail]) == 0
    assert by_mail.id == by_chat.id
    assert len(store.thread_messages("t@example.org")) == 1
    # The stored copy is now found by its email coordinates too.
    assert store.folder_uids("work", "INBOX") == {44: by_chat.id}
    assert [m.id for m in store.lookup("message_id_header", msg_id)] == [by_chat.id]


def test_thread_counts_after_out_of_order_inserts(store: Store) -> None:
    dates = [50.0, 10.0, 40.0, 20.0, 30.0]
    msgs = [email(i, date=d, subject="" if i == 1 else f"Re: plan {i}") for i, d in
            enumerate(dates)]
    msgs[3].flags.add(SEEN)
    # Three batches, arriving newest-first, oldest-first and mixed.
    store.insert_messages(msgs[:2])
    store.insert_messages(msgs[4:])
    store.insert_messages(msgs[2:4])
    t = store.get_thread("work", "root@example.org")
    assert t is not None
    assert (t.message_count, t.unread_count) == (5, 4)
    assert (t.first_date, t.last_date) == (10.0, 50.0)
    # The oldest message has no subject: the thread takes the oldest one that does.
    assert t.subject == "Re: plan 3"
    assert t.last_sender == "Sender 0" and t.snippet == "body of message 0"
    assert [m.date for m in store.thread_messages("root@example.org")] == sorted(dates)

    store.set_flags(msgs[0].id or 0, {SEEN})
    assert store.get_thread("work", "root@example.org").unread_count == 3  # type: ignore[union-attr]
    store.delete_message(msgs[0].id or 0)
    t = store.get_thread("work", "root@example.org")
    assert t is not None
    assert (t.message_count, t.unread_count, t.last_date) == (4, 3, 40.0)
    assert t.last_sender == "Sender 2"
    for m in msgs[1:]:
        store.delete_message(m.id or 0)
    assert store.get_thread("work", "root@example.org") is None
    assert store.search("plan") == []


def test_thread_spans_both_transports(store: Store) -> None:
    store.insert_messages([email(1, thread="t@x"), chat(2, thread="t@x")])
    (t,) = store.list_threads()
    assert t.transports == {Transport.EMAIL, Transport.XMPP}
    assert [m.transport for m in store.thread_messages("t@x")] == ["email", "xmpp"]


def test_list_threads_paginates_newest_first_without_gaps(store: Store) -> None:
    # 230 threads, many sharing a last date, so page boundaries fall inside ties.
    msgs = [email(i, thread=f"t{i}@x", date=1000.0 + (i * 7919) % 60) for i in range(230)]
    store.insert_messages(msgs, batch_size=37)
    seen: list[tuple[float, int]] = []
    before = None
    while page := store.list_threads(limit=25, before=before):
        seen.extend(t.cursor for t in page)
        before = page[-1].cursor
    assert len(seen) == 230 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    # A bare date works too, skipping ties at the boundary as documented.
    assert all(t.last_date < 1030.0 for t in store.list_threads(before=1030.0, limit=500))
    assert store.list_threads(account="home") == []


def test_folder_pages_newest_first(store: Store) -> None:
    store.insert_messages(email(i, date=float(i // 4)) for i in range(1, 41))
    store.insert_messages([email(100, folder="Archive")])
    ids: list[int] = []
    before = None
    while page := store.folder_messages("work", "INBOX", limit=7, before=before):
        ids.extend(m.id or 0 for m in page)
        before = (page[-1].date, page[-1].id or 0)
    assert len(ids) == 40 == len(set(ids))
    assert {f.name for f in store.folders("work")} == {"INBOX", "Archive"}


def test_search(store: Store) -> None:
    store.insert_messages([
        email(1, subject="Quarterly budget", text="numbers attached"),
        email(2, subject="Lunch", text="Meet at the Café Zürich at noon",
              recipients=[Party("zoe.diaz@example.net", "Zoé Díaz", "cc")]),
        chat(3, text="NEAR the station? (yes) \"quoted\" subject: here"),
    ])

    def subjects(q: str) -> list[str]:
        return [m.msg_id for m in store.search(q)]

    assert subjects("budget") == ["m1@example.org"]
    assert subjects("QUARTERLY") == ["m1@example.org"]
    assert subjects("noon") == ["m2@example.org"]
    assert subjects("cafe zurich") == ["m2@example.org"]
    assert subjects("café") == ["m2@example.org"]
    assert subjects("zoe.diaz@example.net") == ["m2@example.org"]
    assert subjects("zoe diaz") == ["m2@example.org"]
    assert subjects("alice@chat.example.org") == ["c3@example.org"]
    assert subjects("quart*") == ["m1@example.org"]
    assert subjects("budget noon") == []
    assert subjects("subject:") == ["c3@example.org"]
    for hostile in ['"', 'NEAR(', '*', 'subject:', '(((', 'a) OR (b', '"budget', 'budget"',
                    'NOT', 'AND OR NOT', '-', '^', 'col:x', '{subject}: x', '🙂', '', '   ',
                    "'; DROP TABLE messages; --", 'NEAR(a b, 3)', 'x' * 5000]:
        store.search(hostile)  # must not raise
    assert store.count_messages() == 3
    assert subjects('"budget') == ["m1@example.org"]
    assert store.search("numbers", account="home") == []


def test_blobs_are_content_addressed_and_idempotent(store: Store) -> None:
    data = b"\x89PNG\r\n" + bytes(range(256)) * 10
    sha = store.store_blob(data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = store.blob_path(sha)
    assert path == store.path.parent / "attachments" / sha[:2] / sha[2:]
    assert path.read_bytes() == data
    inode = path.stat().st_ino
    assert store.store_blob(data) == sha and path.stat().st_ino == inode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [sha[2:]]  # no temp files left
    with pytest.raises(ValueError):
        store.blob_path("../../etc/passwd")
    # Nothing refers to it: pruning (without grace) removes it.
    store.insert_messages([email(1, attachments=[Attachment("a", "b", 1, store.store_blob(b"k"))])])
    assert store.prune_blobs(grace_seconds=-1) == 1
    assert not path.exists()
    assert store.blob_path(hashlib.sha256(b"k").hexdigest()).exists()


def test_contacts_map_addresses_both_ways(store: Store) -> None:
    cid = store.add_contact("Alice", ["Alice@Example.org"], ["alice@chat.example.org"])
    c = store.contact_for("alice@example.org")
    assert c is not None and c.id == cid and c.name == "Alice"
    assert c.emails == ["alice@example.org"] and c.jids == ["alice@chat.example.org"]
    assert store.contact_for("xmpp:Alice@chat.example.org/phone") == c
    assert store.contact_for("mailto:ALICE@example.org") == c
    assert store.contact_for("nobody@example.org") is None
    # Adding again is idempotent (config is loaded at every start).
    assert store.add_contact("Alice", ["alice@example.org"], []) == cid
    assert len(store.contacts()) == 1

    # A learned address joins the contact, unconfirmed, without renaming it.
    assert store.add_contact("alice w.", ["alice@work.example"], ["alice@chat.example.org"],
                             source="learned", confirmed=False) == cid
    c = store.contact_for("alice@work.example")
    assert c is not None and c.id == cid and c.name == "Alice"
    learned = next(a for a in c.addresses if a.address == "alice@work.example")
    assert (learned.source, learned.confirmed) == ("learned", False)

    # A guess cannot take a configured address away from its contact...
    bob = store.add_contact("Bob", ["bob@example.org"], source="learned", confirmed=False)
    assert store.add_contact("", ["bob@example.org"], ["alice@chat.example.org"],
                             source="learned") == bob
    assert store.contact_for("alice@chat.example.org").id == cid  # type: ignore[union-attr]
    # ...but configuration can take one from a guess.
    store.add_contact("Alice", ["alice@example.org", "bob@example.org"])
    assert store.contact_for("bob@example.org").id == cid  # type: ignore[union-attr]
    assert [c.name for c in store.contacts()] == ["Alice"]  # Bob's empty shell is gone
    with pytest.raises(ValueError):
        store.add_contact("x", ["x@y"], source="rumour")


def test_outbox_row_and_log_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    msg = chat(1, direction=Direction.OUT, sender=Party("me@chat.example.org"))
    with Store.open(path) as s:
        oid = s.outbox_add(msg.msg_id, "work", Transport.XMPP,
                           {"text": "see you at 5", "history": ["m1@example.org"]},
                           [Party("alice@chat.example.org", "Alice", "to")], message=msg)
        s.outbox_update(oid, DeliveryState.DEFERRED, next_attempt=123.0, attempts=1)
        s.outbox_log(oid, "retry", "alice is away")
    # A new process (fresh connection) sees everything.
    with Store.open(path) as s:
        item = s.outbox_get(oid)
        assert item is not None
        assert item.state is DeliveryState.DEFERRED and item.attempts == 1
        assert item.payload == {"text": "see you at 5", "history": ["m1@example.org"]}
        assert item.parties == [Party("alice@chat.example.org", "Alice", "to")]
        assert [(e.event, e.detail) for e in s.outbox_history(oid)] == [
            ("created", "xmpp queued"), ("state", "queued -> deferred"),
            ("retry", "alice is away")]
        assert [i.id for i in s.outbox_items([DeliveryState.DEFERRED])] == [oid]
        assert s.outbox_items(["deferred"], due_before=100.0) == []
        assert s.outbox_items(["queued"]) == []
        # The outgoing message went in with the row and follows its state.
        assert s.find_by_msg_id("work", msg.msg_id).delivery is DeliveryState.DEFERRED  # type: ignore[union-attr]
        s.outbox_update(oid, "fell-back-to-email")
        assert s.find_by_msg_id("work", msg.msg_id).delivery is DeliveryState.FELL_BACK_TO_EMAIL  # type: ignore[union-attr]
        with pytest.raises(KeyError):
            s.outbox_update(9999, DeliveryState.SENT)
        with pytest.raises(TypeError):
            s.outbox_update(oid, colour="red")


def test_outbox_add_is_all_or_nothing(store: Store) -> None:
    store.insert_messages([chat(1)])
    with pytest.raises(ValueError):
        store.outbox_add("x@y", "work", "carrier-pigeon")
    assert store.outbox_items() == []


def test_outbox_replace_claims_the_old_row_once_and_writes_all_or_nothing(
        store: Store) -> None:
    mail = email(1, direction=Direction.OUT)
    old = store.outbox_add(mail.msg_id, "work", Transport.EMAIL, {"raw": ""}, message=mail)
    leg = {"msg_id": "c1@example.org", "account": "work", "transport": Transport.XMPP,
           "payload": {"instead_of": old}}
    # A row that is not in an allowed state is left alone, and nothing is written.
    assert store.outbox_update(old, DeliveryState.SENDING, only_from=[DeliveryState.QUEUED])
    assert not store.outbox_update(old, DeliveryState.SENDING, only_from=[DeliveryState.QUEUED])
    assert store.outbox_replace(old, DeliveryState.FELL_BACK_TO_IM, [leg],
                                only_from=[DeliveryState.QUEUED]) is None
    assert [i.id for i in store.outbox_items()] == [old]
    store.outbox_update(old, DeliveryState.QUEUED)
    # A bad leg rolls back the whole move: the email still waits.
    with pytest.raises(ValueError):
        store.outbox_replace(old, DeliveryState.FELL_BACK_TO_IM,
                             [leg, dict(leg, transport="carrier-pigeon")],
                             only_from=[DeliveryState.QUEUED])
    assert [(i.id, i.state) for i in store.outbox_items()] == [(old, DeliveryState.QUEUED)]
    (new,) = store.outbox_replace(old, DeliveryState.FELL_BACK_TO_IM, [leg],
                                  only_from=[DeliveryState.QUEUED])
    assert store.outbox_get(old).state is DeliveryState.FELL_BACK_TO_IM  # type: ignore[union-attr]
    assert store.outbox_get(new).payload == {"instead_of": old}  # type: ignore[union-attr]
    assert store.find_by_msg_id("work", mail.msg_id).delivery is \
        DeliveryState.FELL_BACK_TO_IM  # type: ignore[union-attr]
    assert ("state", "queued -> fell-back-to-im") in [
        (e.event, e.detail) for e in store.outbox_history(old)]


def test_events_follow_on(store: Store) -> None:
    first = store.add_event("sync", {"folder": "INBOX", "new": 3})
    second = store.add_event("retry", {"outbox": 1})
    assert [e.kind for e in store.events()] == ["sync", "retry"]
    assert [e.id for e in store.events(since_id=first)] == [second]
    assert store.events(since_id=first)[0].payload == {"outbox": 1}
    assert store.prune_events(before=store.events()[-1].at + 1) == 2
    assert store.events() == []
    assert store.add_event("later") > second  # ids are never reused


def test_deleting_an_account_takes_everything_of_it(store: Store) -> None:
    store.upsert_account("home", "me@home.example", "me@chat.home.example")
    store.insert_messages([email(1), email(2, account="home")])
    store.outbox_add("o@x", "home", Transport.EMAIL, {"text": "hi"})
    store.delete_account("home")
    assert [a.name for a in store.accounts()] == ["work"]
    assert store.count_messages() == 1 and store.outbox_items() == []
    assert store.list_threads(account="home") == [] and store.search("body") != []


def test_folder_state_and_delete(store: Store) -> None:
    f = store.upsert_folder("work", "INBOX", role="inbox", uidvalidity=7, uidnext=10)
    assert (f.role, f.uidvalidity, f.uidnext) == ("inbox", 7, 10)
    f = store.upsert_folder("work", "INBOX", highestmodseq=99)
    assert (f.role, f.uidvalidity, f.highestmodseq) == ("inbox", 7, 99)
    with pytest.raises(TypeError):
        store.upsert_folder("work", "INBOX", colour=1)
    store.insert_messages([email(1), email(2, folder="Archive"), email(3, thread="other@x")])
    assert store.delete_folder("work", "INBOX") == 2
    t = store.get_thread("work", "root@example.org")
    assert t is not None and t.message_count == 1
    assert store.get_thread("work", "other@x") is None
    assert [f.name for f in store.folders("work")] == ["Archive"]


def test_store_is_shared_between_threads(store: Store) -> None:
    def work(k: int) -> None:
        store.insert_messages((email(k * 1000 + i, thread=f"t{k}@x") for i in range(200)),
                              batch_size=50)
        store.list_threads()
    workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert store.count_messages() == 800
    assert sum(t.message_count for t in store.list_threads(limit=10)) == 800


def _header(uid: int, *, msg_id: str, thread: str = "root@example.org",
            to: tuple[str, ...] = ("carol@example.org",), date: float = 1000.0,
            subject: str = "budget") -> EmailHeaders:
    return EmailHeaders(
        uid=uid, msg_id=msg_id, thread_id=thread, date=date,
        sender=Party("bob@example.org", "Bob"),
        recipients=[Party(a, a.split("@")[0].title(), "to") for a in to],
        subject=subject, message_id_header=msg_id, in_reply_to=None, references=[],
        flags=frozenset())


def test_deferred_parties_and_index_wait_for_the_backlog(store: Store) -> None:
    store.insert_email_headers("work", "INBOX", [_header(1, msg_id="a@x")])
    new = store.insert_email_headers(
        "work", "INBOX", [_header(2, msg_id="b@x", to=("dave@example.org", "erin@example.org")),
                          _header(3, msg_id="c@x", subject="other")], defer_parties=True)
    assert new == 2
    # Not deferred: the recipients are there at once.
    first = store.find_by_msg_id("work", "a@x")
    assert first is not None and [p.address for p in first.recipients] == ["carol@example.org"]
    # Deferred: the sender only, until the backlog has run; nothing searchable yet.
    waiting = store.find_by_msg_id("work", "b@x")
    assert waiting is not None and waiting.sender.address == "bob@example.org"
    assert waiting.recipients == []
    assert store.index_pending() == 3 and store.search("budget") == []
    assert store.index_backlog(limit=2) == 2
    assert store.index_pending() == 1
    assert store.index_backlog() == 1 and store.index_backlog() == 0
    done = store.find_by_msg_id("work", "b@x")
    assert done is not None
    assert [(p.role, p.address, p.name) for p in [done.sender, *done.recipients]] == [
        ("from", "bob@example.org", "Bob"), ("to", "dave@example.org", "Dave"),
        ("to", "erin@example.org", "Erin")]
    assert {m.msg_id for m in store.search("budget")} == {"a@x", "b@x"}
    assert [m.msg_id for m in store.search("to:erin")] == ["b@x"]
    thread = store.get_thread("work", "root@example.org")
    assert thread is not None and thread.message_count == 3
    # A known Message-ID in another folder only gains a location.
    assert store.insert_email_headers("work", "Archive", [_header(7, msg_id="b@x")],
                                      defer_parties=True) == 0
    assert store.folder_uids("work", "Archive") == {7: done.id}
    assert store.index_pending() == 0


def test_header_rows_and_header_objects_store_the_same(tmp_path: Path) -> None:
    items = [_header(i, msg_id=f"m{i}@x", to=("c@example.org", "d@example.org"))
             for i in range(1, 4)]
    with Store.open(tmp_path / "a.sqlite3") as a, Store.open(tmp_path / "b.sqlite3") as b:
        a.insert_email_headers("work", "INBOX", items)
        b.insert_email_headers("work", "INBOX",
                               [Store.email_header_row("work", "INBOX", h) for h in items])
        for n in range(1, 4):
            x, y = a.find_by_msg_id("work", f"m{n}@x"), b.find_by_msg_id("work", f"m{n}@x")
            assert x is not None and x == y and len(x.recipients) == 2


def test_bulk_import_numbers_rows_keeps_places_unique_and_foreign_keys_on(
        store: Store) -> None:
    store.insert_email_headers("work", "INBOX", [_header(1, msg_id="a@x")])
    # Fresh mail in bulk: ids follow on, threads count it, places are kept.
    assert store.insert_email_headers(
        "work", "INBOX", [_header(u, msg_id=f"n{u}@x") for u in (5, 4, 3)],
        defer_parties=True) == 3
    ids = store.folder_uids("work", "INBOX")
    assert ids[5] == ids[1] + 1 and ids[3] == ids[1] + 3
    assert [store.get_message(ids[u]).msg_id for u in (5, 4, 3)] == ["n5@x", "n4@x", "n3@x"]
    thread = store.get_thread("work", "root@example.org")
    assert thread is not None and thread.message_count == 4
    # A new email claiming a place another one holds fails its whole batch.
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_email_headers("work", "INBOX", [_header(6, msg_id="n6@x"),
                                                     _header(4, msg_id="other@x")],
                                   defer_parties=True)
    assert store.find_by_msg_id("work", "n6@x") is None
    assert store.count_messages("work") == 4
    # The checks the import skipped are back on for everything else.
    assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        store._conn.execute("INSERT INTO mail_locations (account, folder, uid, message) "
                            "VALUES ('work', 'nowhere', 1, ?)", (ids[1],))


def test_lookup_by_message_id_header_whether_or_not_it_is_the_msg_id(store: Store) -> None:
    same = email(1)
    differs = email(2, message_id_header="header-2@example.org")
    elsewhere = email(3, account="home", message_id_header="m1@example.org")
    assert store.insert_messages([same, differs, elsewhere]) == 3
    assert store.lookup("message_id_header", "m1@example.org") == [same, elsewhere]
    assert store.lookup("message_id_header", "m1@example.org", account="home") == [elsewhere]
    assert store.lookup("message_id_header", "header-2@example.org") == [differs]
    assert store.lookup("message_id_header", "m2@example.org") == []


def test_version_2_store_keeps_its_index_backlog(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
    with Store.open(path) as s:
        s.upsert_account("work")
        s._conn.execute(
            "INSERT INTO messages (id, account, msg_id, transport, direction, thread_id, date, "
            "sender_address, subject, indexed) VALUES "
            "(1, 'work', 'old@x', 'email', 'in', 'old@x', 1.0, 'a@b', 'budget', 0)")
    monkeypatch.undo()
    with Store.open(path) as s:
        assert s.schema_version == len(schema.MIGRATIONS)
        assert s.index_pending() == 1
        assert s.index_backlog() == 1 and s.index_pending() == 0
        assert [m.msg_id for m in s.search("budget")] == ["old@x"]
