"""The records without `dataclasses` (bridge/record.py): what `@dataclass` gave
them stays true (keyword construction, `==` over the compared fields, repr,
hash and immutability when frozen, pickling) and `dataclasses.replace`, `asdict`,
`fields` and `is_dataclass` still work on them."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path

import pytest

from bridge.config.schema import AccountConfig, Config, ServerConfig
from bridge.model import Attachment, HealthReport, ImPlan, Message, Party, Thread, ThreadOrder
from bridge.record import FrozenRecord, Record


def thread(**changes: object) -> Thread:
    values: dict = dict(id=1, account="a", thread_id="t", subject="s", first_date=1.0,
                        last_date=2.0, message_count=1, unread_count=0, last_sender="x",
                        snippet="", transports=frozenset())
    values.update(changes)
    return Thread(**values)


def test_a_frozen_record_compares_hashes_and_refuses_changes():
    a, b = thread(), thread()
    assert a == b and hash(a) == hash(b) and a != thread(subject="other")
    assert a != ("not", "a", "thread")
    assert len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.subject = "changed"  # type: ignore[misc]  # the point: a frozen record refuses it
    with pytest.raises(AttributeError):
        del a.subject  # type: ignore[misc]  # the same
    assert repr(Party("a@b", "A")) == "Party(address='a@b', name='A', role='from')"


def test_a_mutable_record_is_unhashable_and_coerces_as_before():
    m = Message("id", "acct", "email", "in", "t", 1.0, Party("a@b"), flags=["\\Seen"])
    assert m.flags == {"\\Seen"} and not m.unread
    assert m.recipients == [] and m.recipients is not Message(
        "id", "acct", "email", "in", "t", 1.0, Party("a@b")).recipients
    with pytest.raises(TypeError):
        hash(m)
    m.subject = "changed"
    assert m.subject == "changed"
    with pytest.raises(ValueError):
        Party("a@b", role="nobody")
    with pytest.raises(ValueError):
        ThreadOrder("size")


def test_dataclasses_functions_work_on_records():
    t = thread()
    assert dataclasses.is_dataclass(t) and dataclasses.is_dataclass(Thread)
    assert [f.name for f in dataclasses.fields(t)] == list(Thread._fields)
    assert dataclasses.replace(t, subject="new") == thread(subject="new")
    assert t.replace(subject="new") == thread(subject="new")
    m = Message("id", "acct", "email", "in", "t", 1.0, Party("a@b", "A"),
                attachments=[Attachment("f.txt", "text/plain", 3)])
    got = dataclasses.asdict(m)
    assert got["sender"] == {"address": "a@b", "name": "A", "role": "from"}
    assert got["attachments"][0]["filename"] == "f.txt"
    plan = ImPlan("acct", "bob@example.org", "t", "hi", "m1", invite=["c@example.org"])
    assert ImPlan.from_payload(plan.to_payload()) == plan
    report = HealthReport("acct", "imap", True, True, checked_at=5.0)
    assert dataclasses.replace(report, push_alive=True).checked_at == 5.0


def test_fields_left_out_of_equality_stay_out():
    """ServerConfig and AccountConfig compare without where a value came from
    (`compare=False` as dataclasses were)."""
    one = ServerConfig("h", 993, "tls", password_origin="a.toml:3: password_command")
    other = ServerConfig("h", 993, "tls", password_origin="b.toml:9: password_command")
    assert one == other and hash(one) == hash(other)
    account = AccountConfig("a", imap=one)
    assert dataclasses.replace(account, imap=other) == account
    assert Config(Path("c.toml")).deferral.first_retry == 30.0


def test_records_pickle_and_copy():
    for value in (thread(), Party("a@b"), ThreadOrder("from", True),
                  Message("id", "acct", "xmpp", "out", "t", 1.0, Party("a@b"), delivery="sent")):
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.copy(value) == value and copy.deepcopy(value) == value


def test_a_record_has_no_instance_dict():
    """A record's fields are its __slots__ and nothing else."""
    for value in (thread(), Party("a"), ThreadOrder(), AccountConfig("a"), Config(Path("c")),
                  Message("id", "acct", "email", "in", "t", 1.0, Party("a@b"))):
        assert isinstance(value, Record) and not hasattr(value, "__dict__")
    assert issubclass(Thread, FrozenRecord) and not issubclass(Message, FrozenRecord)


def test_every_record_takes_its_fields_in_order():
    """`__init__` takes the fields as the annotations list them, so positional
    construction, pickling (`__reduce__`) and `replace()` agree with the fields."""
    import inspect

    import bridge.crypto.status
    import bridge.errors
    import bridge.store  # noqa: F401  (its records: ListView, Claim, Revision...)

    def every(cls: type) -> list[type]:
        return [cls, *(c for sub in cls.__subclasses__() for c in every(sub))]

    records = [c for c in every(Record) if c not in (Record, FrozenRecord)]
    assert len(records) >= 30
    for cls in records:
        params = list(inspect.signature(cls.__init__).parameters)[1:]
        assert params == list(cls._fields), cls.__qualname__
        assert set(cls.__slots__) == set(cls._fields), cls.__qualname__
