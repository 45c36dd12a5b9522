"""Rules and RFC 3834: automatic mail is never answered; one answer per sender and
`reply_once_per`, with a ledger that outlives the process (pure, no servers)."""

from __future__ import annotations

import json

import pytest

from bridge.headless.rules import (
    DEFAULT_REPLY_ONCE_PER,
    ReplyLedger,
    RulesError,
    RuleSet,
    automatic_reason,
)
from tests.test_rules import T0, msg, one


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-generated"},
    {"auto-submitted": "auto-replied; owner-email=x@example.test"},
    {"AUTO-SUBMITTED": "auto-notified"},
    {"Precedence": "bulk"}, {"Precedence": " List "}, {"Precedence": "junk"},
    {"List-Id": "Team <team.lists.example.test>"},
    {"Return-Path": "<>"},
    {"X-Auto-Response-Suppress": "DR, OOF"}, {"X-Auto-Response-Suppress": "All"},
    {"X-Autoreply": "yes"}, {"X-Autorespond": "vacation"},
])
def test_automatic_mail_is_recognised(headers: dict[str, str]) -> None:
    assert automatic_reason(headers)


@pytest.mark.parametrize("headers", [
    {}, {"Auto-Submitted": "no"}, {"Auto-Submitted": "No (a person)"},
    {"Precedence": "first-class"}, {"Return-Path": "<bob@example.test>"},
    {"X-Auto-Response-Suppress": "DR, RN"},
])
def test_mail_a_person_wrote_is_not_automatic(headers: dict[str, str]) -> None:
    assert automatic_reason(headers) is None


def test_automatic_mail_gets_no_reply_or_handoff_but_can_be_marked() -> None:
    rs = RuleSet.parse(one(extra="continue = true") + '[[rules]]\nname = "m"\n'
                       '[rules.action]\nmark = "read"\n')
    decided = rs.decide(msg(automatic="Precedence: bulk"), T0)
    assert [d.rule for d in decided] == ["m"]
    assert "RFC 3834" in rs.last_notes[0] and "Precedence: bulk" in rs.last_notes[0]


def test_reply_once_per_defaults_to_a_day_and_reads_durations() -> None:
    assert RuleSet.parse(one()).reply_once_per == DEFAULT_REPLY_ONCE_PER == 86400
    assert RuleSet.parse('reply_once_per = "2h"\n' + one()).reply_once_per == 7200
    assert RuleSet.parse("reply_once_per = 60\n" + one()).reply_once_per == 60
    with pytest.raises(RulesError) as bad:
        RuleSet.parse('reply_once_per = "soon"\n' + one())
    assert ":1: reply_once_per:" in str(bad.value)


def test_one_answer_per_sender_and_period_with_a_ledger() -> None:
    rs = RuleSet.parse('reply_once_per = "1h"\n' + one(extra="[rules.limit]\nper_thread = 99"))
    ledger = ReplyLedger()
    assert len(rs.decide(msg(row_id=1), T0, replied=ledger)) == 1
    # Another thread, same person: held back, and said why.
    assert rs.decide(msg(row_id=2, thread_id="t2"), T0 + 60, replied=ledger) == []
    assert "answered 1m ago (once per 1h)" in rs.last_notes[0]
    # Someone else, the same person on another transport or account: answered.
    assert len(rs.decide(msg(row_id=3, sender="carol@example.test"), T0 + 61,
                         replied=ledger)) == 1
    assert len(rs.decide(msg(row_id=4, transport="xmpp"), T0 + 62, replied=ledger)) == 1
    assert len(rs.decide(msg(row_id=5, account="work"), T0 + 63, replied=ledger)) == 1
    # The period over: answered again.
    assert len(rs.decide(msg(row_id=6, thread_id="t3"), T0 + 3600, replied=ledger)) == 1


def test_the_ledger_survives_a_new_process() -> None:
    rs = RuleSet.parse(one())
    ledger = ReplyLedger()
    assert len(rs.decide(msg(row_id=1), T0, replied=ledger)) == 1
    kept = json.loads(json.dumps(ledger.to_json()))  # what the state file holds
    fresh = RuleSet.parse(one())  # a restarted daemon: new in-memory limits
    again = ReplyLedger.from_json(kept)
    assert fresh.decide(msg(row_id=2, thread_id="t9"), T0 + 3 * 3600, replied=again) == []
    assert len(fresh.decide(msg(row_id=3, thread_id="t9"), T0 + 86400, replied=again)) == 1
    assert ReplyLedger.from_json({"x": "nonsense", "y": float("nan")}).times == {}
    assert ReplyLedger.from_json(None).times == {}


def test_a_forwarding_rule_is_not_an_answer() -> None:
    rs = RuleSet.parse(one(action='forward = ["assistant@example.test"]',
                           extra="[rules.limit]\nper_thread = 99"))
    ledger = ReplyLedger()
    assert len(rs.decide(msg(row_id=1), T0, replied=ledger)) == 1
    assert len(rs.decide(msg(row_id=2), T0 + 1, replied=ledger)) == 1
    assert ledger.times == {}
