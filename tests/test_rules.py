"""The rules engine of `tuiclient run --rules`: loading, matching, templates, loop guards."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

import bridge.headless.rules as rules_module
from bridge.headless.rules import (
    GLOBAL_CAPS,
    Decision,
    Incoming,
    RulesError,
    RuleSet,
    is_robot_address,
    template_values,
)

T0 = 1_700_000_000.0


def msg(**changes: object) -> Incoming:
    base = Incoming(
        row_id=1,
        account="alice",
        transport="email",
        thread_id="t1",
        sender="bob@example.test",
        sender_name="Bob Builder",
        contact="Bob",
        recipients=("alice@example.test",),
        subject="Budget for Q3",
        text="Hello Alice,\nthis is urgent.\n> quoted old text\nBob",
        own=False,
        auto=False,
        thread_state="new",
        availability="available",
        date=T0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


DEFAULT_ACTION = 'reply = "email"\ntext = "Hi $name"'


def one(match: str = "", action: str = DEFAULT_ACTION, extra: str = "") -> str:
    text = '[[rules]]\nname = "r"\n'
    if extra:
        text += extra + "\n"
    if match:
        text += "[rules.match]\n" + match + "\n"
    return text + "[rules.action]\n" + action + "\n"


def error_of(text: str) -> RulesError:
    with pytest.raises(RulesError) as info:
        RuleSet.parse(text, Path("rules.toml"))
    return info.value


def load_error(path: Path) -> RulesError:
    with pytest.raises(RulesError) as info:
        RuleSet.load(path)
    return info.value


# --------------------------------------------------------------------------
# Loading


FULL = """\
# my rules
[[rules]]
name = "answer colleagues"

[rules.match]
transport = "email"
from = ["bob@example.test", "*@corp.test", "contact:Carol"]
to = ["alice@example.test"]
subject = "(?i)budget"
body = "(?i)urgent"
thread = "new"
availability = ["available", "away"]

[rules.action]
reply = "auto"
text = "Hi $name, thanks for your note on \\"$subject\\". $snippet"
all = true
history = true
attach = ["plan.pdf"]

[rules.limit]
per_thread = 2
window = "2h"

[[rules]]
name = "flag the boss"
continue = true
match = { from = "boss@corp.test" }
action = { mark = "flagged" }

[[rules]]
name = "send to assistant"
[rules.action]
forward = ["assistant@example.test"]
"""


def test_full_example_loads() -> None:
    rs = RuleSet.parse(FULL)
    assert [r.name for r in rs.rules] == ["answer colleagues", "flag the boss", "send to assistant"]
    first = rs.rules[0]
    assert first.action == "reply" and first.via == "auto"
    assert first.reply_all and first.history and first.attach == ("plan.pdf",)
    assert first.per_thread == 2 and first.window == 7200
    assert first.match.thread == "new" and first.match.availability == ("available", "away")
    assert first.line == 2
    flag = rs.rules[1]
    assert flag.cont and flag.action == "mark" and flag.mark == "flagged"
    assert flag.per_thread is None  # marks send nothing: no limit unless asked
    fwd = rs.rules[2]
    assert fwd.forward_to == ("assistant@example.test",) and fwd.template == ""
    assert fwd.per_thread == 1 and fwd.window == 3600


def test_docstring_example_is_valid() -> None:
    doc = rules_module.__doc__ or ""
    example = doc.split("::\n", 1)[1].split("\nMatching:", 1)[0]
    lines = [line[4:] for line in example.splitlines()]
    rs = RuleSet.parse("\n".join(lines))
    assert rs.rules[0].name == "answer colleagues"
    assert rs.rules[0].template == 'Hi $name, thanks for your note on "$subject". $snippet'


def test_load_reads_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(FULL)
    assert len(RuleSet.load(path).rules) == 3
    path.write_text(FULL.replace('thread = "new"', 'thread = "old"'))
    err = load_error(path)
    assert str(err).startswith(f"{path}:11: rules[0].match.thread: ")


def test_load_missing_and_bad_files(tmp_path: Path) -> None:
    err = load_error(tmp_path / "none.toml")
    assert "does not exist" in str(err)
    err = load_error(tmp_path)
    assert "directory" in str(err)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[[rules]]\nname = "\xff"\n')
    err = load_error(bad)
    assert err.line == 2 and "UTF-8" in err.reason


def test_empty_file_is_no_rules() -> None:
    assert RuleSet.parse("").rules == []
    assert RuleSet.parse("# nothing yet\n").decide(msg(), T0) == []


def test_error_format_is_file_line_key_reason() -> None:
    err = error_of(one('thread = "old"'))
    assert str(err) == (
        "rules.toml:4: rules[0].match.thread: must be one of 'new', 'reply' or 'any', not 'old'"
    )
    assert (err.file, err.line, err.key) == (Path("rules.toml"), 4, "rules[0].match.thread")


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ('[[rules]\nname = "x"\n', 1, None, "TOML syntax error"),
        ('[[rules]]\nname = "a"\nname = "b"\n', 3, None, "TOML syntax error"),
        ('[[rules]]\nname = "a"\n[rules.action]\nreply = "im"\ntext = "x"\n[other]\n', 6, "other",
         "unknown key 'other'"),
        (one(extra='nmae = "x"'), 3, "rules[0].nmae", "did you mean 'name'?"),
        (one('subjet = "x"'), 4, "rules[0].match.subjet", "did you mean 'subject'?"),
        (one(action='reply = "im"\ntext = "x"\nreply_all = true'), 6,
         "rules[0].action.reply_all", "unknown key"),
        (one(action='reply = "im"\ntext = "x"') + "[rules.limit]\nper_threads = 2\n", 7,
         "rules[0].limit.per_threads", "did you mean 'per_thread'?"),
        ("rules = 3\n", 1, "rules", "must be an array of tables"),
        ("rules = [1]\n", 1, "rules[0]", "must be a table"),
        ('[[rules]]\n[rules.action]\nmark = "read"\n', 1, "rules[0]", "'name' is missing"),
        (one().replace('name = "r"', "name = 3"), 2, "rules[0].name",
         "must be a string"),
        ('[[rules]]\nname = "r"\n[rules.match]\nthread = "new"\n', 1, "rules[0]",
         "has no [rules.action]"),
        (one(action='text = "hi"'), 3, "rules[0].action", "no action"),
        (one(action='reply = "im"\nmark = "read"\ntext = "x"'), 5, "rules[0].action.mark",
         "two actions ('reply' and 'mark')"),
        (one(action='forward = ["x@y.test"]\nhandoff = "im"'), 5, "rules[0].action.handoff",
         "two actions"),
        (one(action='reply = "im"'), 3, "rules[0].action", "reply needs a text"),
        (one(action='handoff = "im"'), 3, "rules[0].action", "handoff needs a text"),
        (one(action='mark = "read"\ntext = "x"'), 5, "rules[0].action.text", "takes no text"),
        (one(action='reply = "sms"\ntext = "x"'), 4, "rules[0].action.reply",
         "must be one of 'email', 'im' or 'auto'"),
        (one(action='handoff = "auto"\ntext = "x"'), 4, "rules[0].action.handoff",
         "must be one of 'im' or 'email'"),
        (one(action='mark = "seen"'), 4, "rules[0].action.mark", "not 'seen'"),
        (one(action="forward = []"), 4, "rules[0].action.forward",
         "empty list: give at least one address"),
        (one(action='forward = ["nobody"]'), 4, "rules[0].action.forward[0]", "not an address"),
        (one(action='forward = ["x@y.test"]\nall = true'), 5, "rules[0].action.all",
         "only goes with reply or handoff"),
        (one(action='reply = "im"\ntext = "x"\nall = "yes"'), 6, "rules[0].action.all",
         "must be true or false"),
        (one(action='reply = "im"\ntext = "x"\nattach = "a.pdf"'), 6, "rules[0].action.attach",
         'must be "all" or an array'),
        (one(action='reply = "im"\ntext = "x"\nattach = [""]'), 6, "rules[0].action.attach[0]",
         "non-empty file name"),
        (one(action='reply = "im"\ntext = ""'), 5, "rules[0].action.text", "must not be empty"),
        (one(action='reply = "im"\ntext = 5'), 5, "rules[0].action.text", "must be a string"),
        (one("from = []"), 4, "rules[0].match.from", "must not be an empty list"),
        (one("to = []"), 4, "rules[0].match.to", "must not be an empty list"),
        (one("from = 3"), 4, "rules[0].match.from", "must be an array of strings"),
        (one('from = ["bob@example.test", 3]'), 4, "rules[0].match.from[1]", "must be a string"),
        (one('from = ["bob"]'), 4, "rules[0].match.from[0]", "is not an address"),
        (one('from = ["*@"]'), 4, "rules[0].match.from[0]", '"*@" followed by a domain'),
        (one('from = ["*@a@b"]'), 4, "rules[0].match.from[0]", '"*@" followed by a domain'),
        (one('from = ["bob*@example.test"]'), 4, "rules[0].match.from[0]", "wildcard"),
        (one('from = ["contact:  "]'), 4, "rules[0].match.from[0]", "needs a name"),
        (one('to = ["contact:Carol"]'), 4, "rules[0].match.to[0]", "only works in 'from'"),
        (one('transport = "sms"'), 4, "rules[0].match.transport", "'email', 'xmpp' or 'any'"),
        (one("transport = 1"), 4, "rules[0].match.transport", "must be a string"),
        (one('thread = "replies"'), 4, "rules[0].match.thread", "did you mean 'reply'?"),
        (one('availability = ["away", "gone"]'), 4, "rules[0].match.availability[1]",
         "not 'gone'"),
        (one('availability = "awya"'), 4, "rules[0].match.availability", "did you mean 'away'?"),
        (one('availability = []'), 4, "rules[0].match.availability", "empty list"),
        (one('subject = "(unclosed"'), 4, "rules[0].match.subject",
         "not a valid regular expression"),
        (one('body = "[z-a]"'), 4, "rules[0].match.body", "not a valid regular expression"),
        (one('subject = ""'), 4, "rules[0].match.subject", "must not be empty"),
        ('[[rules]]\nname = "r"\nmatch = 3\n[rules.action]\nmark = "read"\n', 3,
         "rules[0].match", "must be a table"),
        (one(action='reply = "im"\ntext = "Hi $nmae"'), 5, "rules[0].action.text",
         "unknown template variable $nmae; did you mean $name?"),
        (one(action='reply = "im"\ntext = "${__class__}"'), 5, "rules[0].action.text",
         "unknown template variable $__class__"),
        (one(action='reply = "im"\ntext = "{name.__class__} ${name.x}"'), 5,
         "rules[0].action.text", "'$' not followed by a variable name at '${name.x}'"),
        (one(action='reply = "im"\ntext = "costs 5$"'), 5, "rules[0].action.text",
         "at '$': write $$ for a dollar sign"),
        (one(action='reply = "im"\ntext = "Hi $Name"'), 5, "rules[0].action.text",
         "unknown template variable $Name"),
        (one(action='forward = ["a@b.test"]\ntext = "$body"'), 5, "rules[0].action.text",
         "unknown template variable $body"),
        (one(extra="continue = 1"), 3, "rules[0].continue", "must be true or false"),
        (one() + "[rules.limit]\nper_thread = 0\n", 7, "rules[0].limit.per_thread",
         "at least 1"),
        (one() + "[rules.limit]\nper_thread = 1.5\n", 7, "rules[0].limit.per_thread",
         "must be an integer"),
        (one() + "[rules.limit]\nper_thread = true\n", 7, "rules[0].limit.per_thread",
         "must be an integer"),
        (one() + '[rules.limit]\nwindow = "soon"\n', 7, "rules[0].limit.window",
         "not a duration"),
        (one() + "[rules.limit]\nwindow = -5\n", 7, "rules[0].limit.window", "positive"),
        (one(extra="limit = 5"), 3, "rules[0].limit", "must be a table"),
    ],
)
def test_validation_errors_name_line_and_key(
    text: str, line: int, key: str | None, reason: str
) -> None:
    err = error_of(text)
    assert err.line == line, str(err)
    assert err.key == key, str(err)
    assert reason in err.reason, str(err)
    assert str(err).startswith(f"rules.toml:{line}: ")


def test_duplicate_rule_name_names_both() -> None:
    text = one() + "\n" + one(action='mark = "read"')
    err = error_of(text)
    assert err.line == 8 and err.key == "rules[1].name"
    assert "duplicate rule name 'r'" in err.reason and "rules[0], line 2" in err.reason


def test_second_rule_error_points_at_second_rule() -> None:
    text = one() + "\n" + one('thread = "nope"').replace('"r"', '"s"')
    err = error_of(text)
    assert (err.line, err.key) == (10, "rules[1].match.thread")


def test_multiline_array_error_points_at_its_key() -> None:
    text = one('from = [\n  "bob@example.test",\n  "not an address",\n]')
    err = error_of(text)
    assert (err.line, err.key) == (4, "rules[0].match.from[1]")


# --------------------------------------------------------------------------
# Matching


def matches(match: str, m: Incoming) -> bool:
    return bool(RuleSet.parse(one(match)).decide(m, T0))


def test_no_match_table_matches_everything() -> None:
    assert matches("", msg())
    assert matches("", msg(transport="xmpp", subject="", thread_state="reply"))


def test_match_transport() -> None:
    assert matches('transport = "email"', msg())
    assert not matches('transport = "email"', msg(transport="xmpp"))
    assert matches('transport = "xmpp"', msg(transport="xmpp"))
    assert matches('transport = "any"', msg(transport="xmpp"))


def test_match_from_address_domain_contact() -> None:
    assert matches('from = "BOB@example.test"', msg())
    assert not matches('from = ["carol@example.test"]', msg())
    assert matches('from = ["carol@example.test", "*@Example.Test"]', msg())
    assert not matches('from = ["*@example.test"]', msg(sender="bob@sub.example.test"))
    assert not matches('from = ["*@ample.test"]', msg())
    assert matches('from = ["contact:bob"]', msg())
    assert not matches('from = ["contact:Bob"]', msg(contact=None))
    assert not matches('from = ["contact:Bobby"]', msg())
    # The display name is what the sender claims; only the identity layer's contact counts.
    assert not matches('from = ["contact:Bob Builder"]', msg())


def test_match_to_any_recipient() -> None:
    m = msg(recipients=("carol@example.test", "alice@example.test"))
    assert matches('to = ["alice@example.test"]', m)
    assert matches('to = ["*@example.test"]', m)
    assert not matches('to = ["dave@example.test"]', m)
    assert not matches('to = ["alice@example.test"]', msg(recipients=()))
    room = msg(transport="xmpp", recipients=("room@muc.example.test",))
    assert matches('to = "room@muc.example.test"', room)


def test_match_subject_and_body_are_searched_regexes() -> None:
    assert matches('subject = "(?i)budget"', msg())
    assert matches('subject = "Q3$"', msg())
    assert not matches('subject = "^Q3"', msg())
    assert not matches('subject = "budget"', msg())  # case-sensitive unless (?i)
    assert not matches('subject = "x"', msg(subject=""))
    assert matches('body = "(?i)URGENT"', msg())
    assert not matches('body = "invoice"', msg())
    assert matches('body = "(?m)^Bob$"', msg())


def test_match_thread_state() -> None:
    assert matches('thread = "new"', msg())
    assert not matches('thread = "new"', msg(thread_state="reply"))
    assert matches('thread = "reply"', msg(thread_state="reply"))
    assert matches('thread = "any"', msg(thread_state="reply"))


def test_match_availability() -> None:
    assert matches('availability = ["away", "offline"]', msg(availability="away"))
    assert not matches('availability = ["away", "offline"]', msg(availability="available"))
    assert matches('availability = "busy"', msg(availability="busy"))
    # Not asked counts as unknown.
    assert matches('availability = "unknown"', msg(availability=None))
    assert not matches('availability = "offline"', msg(availability=None))


def test_all_given_keys_must_match() -> None:
    rule = 'from = "*@example.test"\nsubject = "Budget"\nthread = "new"'
    assert matches(rule, msg())
    assert not matches(rule, msg(subject="Lunch"))
    assert not matches(rule, msg(thread_state="reply"))
    assert not matches(rule, msg(sender="eve@evil.test"))


# --------------------------------------------------------------------------
# Decisions, order and continue


def test_decision_carries_the_action() -> None:
    rs = RuleSet.parse(FULL)
    (d,) = rs.decide(msg(), T0)
    assert d == Decision(
        rule="answer colleagues",
        action="reply",
        via="auto",
        text='Hi Bob Builder, thanks for your note on "Budget for Q3". '
        "Hello Alice, this is urgent. Bob",
        reply_all=True,
        history=True,
        attach=("plan.pdf",),
        forward_to=(),
        mark=None,
    )


def test_handoff_forward_and_mark_decisions() -> None:
    text = """\
[[rules]]
name = "h"
continue = true
action = { handoff = "email", text = "Moving to email, $name." }
[[rules]]
name = "f"
continue = true
action = { forward = ["a@b.test", "c@d.test"], text = "From $address" }
[[rules]]
name = "m"
action = { mark = "answered" }
"""
    h, f, m = RuleSet.parse(text).decide(msg(), T0)
    assert (h.action, h.via, h.text) == ("handoff", "email", "Moving to email, Bob Builder.")
    assert (f.action, f.via, f.forward_to, f.text) == (
        "forward", None, ("a@b.test", "c@d.test"), "From bob@example.test")
    assert (m.action, m.mark, m.text, m.via) == ("mark", "answered", "", None)
    assert h.attach is None and not h.reply_all


def test_attach_all() -> None:
    rs = RuleSet.parse(one(action='reply = "email"\ntext = "x"\nattach = "all"'))
    assert rs.decide(msg(), T0)[0].attach == "all"
    rs = RuleSet.parse(one(action='reply = "email"\ntext = "x"\nattach = []'))
    assert rs.decide(msg(), T0)[0].attach is None


RULES_ORDER = """\
[[rules]]
name = "budget"
match = { subject = "Budget" }
action = { reply = "email", text = "budget" }
[[rules]]
name = "anything"
action = { reply = "email", text = "anything" }
"""


def test_first_match_wins() -> None:
    rs = RuleSet.parse(RULES_ORDER)
    assert [d.rule for d in rs.decide(msg(), T0)] == ["budget"]
    assert [d.rule for d in rs.decide(msg(thread_id="t2", subject="Lunch"), T0)] == ["anything"]


def test_continue_lets_later_rules_decide() -> None:
    rs = RuleSet.parse(RULES_ORDER.replace('name = "budget"', 'name = "budget"\ncontinue = true'))
    assert [d.rule for d in rs.decide(msg(), T0)] == ["budget", "anything"]


def test_a_limited_rule_still_wins_the_match() -> None:
    # The catch-all below must not answer what the limited rule above refused to.
    rs = RuleSet.parse(RULES_ORDER)
    assert [d.rule for d in rs.decide(msg(), T0)] == ["budget"]
    assert rs.decide(msg(row_id=2), T0 + 60) == []
    assert any("budget" in note and "limit" in note for note in rs.last_notes)


# --------------------------------------------------------------------------
# Templates


def render(template: str, m: Incoming) -> str:
    escaped = template.replace("\\", "\\\\").replace('"', '\\"')
    rs = RuleSet.parse(one(action=f'reply = "email"\ntext = "{escaped}"'))
    (d,) = rs.decide(m, T0)
    return d.text


def test_template_variables() -> None:
    m = msg(transport="xmpp", date=T0)
    expected_date = time.strftime("%Y-%m-%d %H:%M", time.localtime(T0))
    assert render("$name|$address|$subject|$transport|$date", m) == (
        f"Bob Builder|bob@example.test|Budget for Q3|xmpp|{expected_date}")
    assert render("${name}s and $$5", m) == "Bob Builders and $5"
    assert render("no variables at all", m) == "no variables at all"


def test_name_falls_back_to_contact_then_address() -> None:
    assert render("$name", msg(sender_name="")) == "Bob"
    assert render("$name", msg(sender_name="  ", contact=None)) == "bob@example.test"


def test_snippet_is_one_short_line_without_quotes() -> None:
    long = "word " * 100
    snippet = render("$snippet", msg(text=f"First line\n\n> quoted\n{long}"))
    assert "\n" not in snippet and "quoted" not in snippet
    assert snippet.startswith("First line word word")
    assert len(snippet) <= 120 and snippet.endswith("…")
    assert render("[$snippet]", msg(text="")) == "[]"


def test_hostile_values_stay_plain_text() -> None:
    hostile = msg(
        sender_name="Eve $subject ${__class__}",
        subject="$name ${__class__.__init__.__globals__} {0.__class__} %s",
        text="\x1b]52;c;ZXZpbA==\x07pasted\x1b[2J\x9b31m\rhello\u202eevil\nsecond line",
    )
    out = render("[$name] [$subject] [$snippet]", hostile)
    assert out == (
        "[Eve $subject ${__class__}] "
        "[$name ${__class__.__init__.__globals__} {0.__class__} %s] "
        "[pasted helloevil second line]"
    )
    assert not any(c in out for c in "\x1b\x07\x9b\r\n\u202e")


def test_newlines_and_escapes_in_subject_and_name_become_one_line() -> None:
    values = template_values(msg(
        sender_name="Mallory\r\nBcc: victim@example.test",
        subject="Hi\n\x1b[31mred\x1b[0m\tthere",
        sender="bob@example.test",
    ))
    assert values["name"] == "Mallory Bcc: victim@example.test"
    assert values["subject"] == "Hi red there"
    long = template_values(msg(subject="x" * 1000))["subject"]
    assert len(long) <= 200


def test_template_newlines_of_the_author_are_kept() -> None:
    rs = RuleSet.parse(one(action='reply = "email"\ntext = """Hi $name,\n\nI am away.\n"""'))
    assert rs.decide(msg(), T0)[0].text == "Hi Bob Builder,\n\nI am away.\n"


# --------------------------------------------------------------------------
# Loop guards and limits


ANSWER_ALL = """\
[[rules]]
name = "answer"
action = { reply = "auto", text = "Got it, $name: $snippet" }
"""


def test_own_and_auto_messages_are_never_answered() -> None:
    rs = RuleSet.parse(ANSWER_ALL)
    assert rs.decide(msg(own=True), T0) == []
    assert rs.decide(msg(auto=True), T0) == []
    assert "automatic" in rs.last_notes[0]
    # Nothing was recorded for them: the real message still gets its answer.
    assert len(rs.decide(msg(), T0)) == 1


def test_mark_rules_do_not_decide_on_own_messages_either() -> None:
    rs = RuleSet.parse('[[rules]]\nname = "m"\naction = { mark = "read" }\n')
    assert rs.decide(msg(own=True), T0) == []
    assert len(rs.decide(msg(), T0)) == 1


def test_own_addresses_are_never_answered() -> None:
    rs = RuleSet.parse(ANSWER_ALL, own_addresses=["Alice@Example.test"])
    assert rs.decide(msg(sender="alice@example.test"), T0) == []
    assert rs.decide(msg(sender="me@example.test"), T0, own_addresses=["me@example.test"]) == []
    assert len(rs.decide(msg(), T0)) == 1


def test_robot_addresses_get_no_reply_but_can_be_marked() -> None:
    for robot in ("MAILER-DAEMON@example.test", "postmaster@x.test", "noreply@x.test",
                  "no-reply@x.test", "do-not-reply@x.test", "list-request@x.test",
                  "owner-list@x.test", "list-bounces@x.test"):
        assert is_robot_address(robot), robot
    assert not is_robot_address("bob@example.test")
    assert not is_robot_address("replyguy@example.test")
    rs = RuleSet.parse(ANSWER_ALL)
    assert rs.decide(msg(sender="mailer-daemon@example.test"), T0) == []
    rs = RuleSet.parse('[[rules]]\nname = "m"\naction = { mark = "read" }\n')
    assert len(rs.decide(msg(sender="mailer-daemon@example.test"), T0)) == 1


def test_default_limit_is_one_per_thread_per_hour() -> None:
    rs = RuleSet.parse(ANSWER_ALL)
    now = T0
    assert len(rs.decide(msg(row_id=1), now)) == 1
    assert rs.decide(msg(row_id=2), now + 10) == []
    assert rs.decide(msg(row_id=3), now + 3599) == []
    # Another thread of the same sender has its own count.
    assert len(rs.decide(msg(row_id=4, thread_id="t2"), now + 20)) == 1
    # So has the same thread id in another account.
    assert len(rs.decide(msg(row_id=5, account="work"), now + 30)) == 1
    # The window slides.
    assert len(rs.decide(msg(row_id=6), now + 3600)) == 1


def test_rule_limit_with_fake_clock() -> None:
    rs = RuleSet.parse(ANSWER_ALL + '[rules.limit]\nper_thread = 2\nwindow = "10m"\n')
    clock = T0
    got = []
    for row in range(6):
        got.append(len(rs.decide(msg(row_id=row), clock)))
        clock += 60
    assert got == [1, 1, 0, 0, 0, 0]
    clock = T0 + 600  # the first answer leaves the window
    assert len(rs.decide(msg(row_id=7), clock)) == 1
    assert rs.decide(msg(row_id=8), clock + 1) == []
    # At T0+661 the rule would allow another (T0+60 has left its window), but that
    # would be the thread's fourth automatic answer within the hour.
    assert rs.decide(msg(row_id=9), T0 + 661) == []
    assert "capped (3 per 1h per thread)" in rs.last_notes[0]
    assert len(rs.decide(msg(row_id=10, thread_id="t2"), T0 + 662)) == 1


def test_mark_rule_is_unlimited_unless_it_says_so() -> None:
    rs = RuleSet.parse('[[rules]]\nname = "m"\naction = { mark = "flagged" }\n')
    assert all(len(rs.decide(msg(row_id=i), T0 + i)) == 1 for i in range(20))
    rs = RuleSet.parse(
        '[[rules]]\nname = "m"\naction = { mark = "flagged" }\nlimit = { window = "1m" }\n')
    assert [len(rs.decide(msg(row_id=i), T0 + i)) for i in range(3)] == [1, 0, 0]


def test_global_thread_cap_beats_generous_rules() -> None:
    generous = "[rules.limit]\nper_thread = 1000\nwindow = 1\n"
    text = "".join(
        f'[[rules]]\nname = "r{i}"\ncontinue = true\n'
        f'action = {{ reply = "email", text = "n{i}" }}\n{generous}'
        for i in range(5)
    )
    rs = RuleSet.parse(text)
    # One message, five rules that all want to answer: only three do.
    assert [d.rule for d in rs.decide(msg(), T0)] == ["r0", "r1", "r2"]
    assert any("capped" in note for note in rs.last_notes)
    assert rs.decide(msg(row_id=2), T0 + 100) == []
    assert len(rs.decide(msg(row_id=3), T0 + 3600)) == 3


def test_global_cap_does_not_count_marks() -> None:
    text = (
        '[[rules]]\nname = "m"\ncontinue = true\naction = { mark = "read" }\n'
        '[[rules]]\nname = "r"\naction = { reply = "email", text = "x" }\n'
        "limit = { per_thread = 100, window = 1 }\n"
    )
    rs = RuleSet.parse(text)
    results = [[d.action for d in rs.decide(msg(row_id=i), T0 + 10 * i)] for i in range(5)]
    assert results == [["mark", "reply"]] * 3 + [["mark"]] * 2


def test_global_sender_cap_across_threads() -> None:
    rs = RuleSet.parse(ANSWER_ALL)
    answered = sum(
        len(rs.decide(msg(row_id=i, thread_id=f"t{i}"), T0 + i)) for i in range(30)
    )
    per_hour = min(c for scope, c, w in GLOBAL_CAPS if scope == "sender" and w == 3600)
    assert answered == per_hour
    # Someone else still gets an answer.
    assert len(rs.decide(msg(sender="carol@example.test", thread_id="c"), T0 + 40)) == 1


def test_forget_old_threads() -> None:
    rs = RuleSet.parse(ANSWER_ALL)
    for i in range(50):
        rs.decide(msg(thread_id=f"t{i}", sender=f"p{i}@example.test"), T0)
    assert rs._history
    rs.decide(msg(thread_id="late"), T0 + 3 * 86400)
    assert all(key[-1] in ("late", "bob@example.test") for key in rs._history)


# --------------------------------------------------------------------------
# Two daemons answering each other


def exchange(
    rules_a: str, rules_b: str, *, hop: float, new_thread_each_time: bool, limit: int = 1000
) -> list[str]:
    """Two rule sets answering each other's answers; returns who sent what, in order.

    The peers do not mark their replies as automatic (auto=False) and never see
    each other's messages as their own: only the rate limits can stop them.
    """
    a = RuleSet.parse(rules_a, own_addresses=["a@one.test"])
    b = RuleSet.parse(rules_b, own_addresses=["b@two.test"])
    peers = {"a": (a, "a@one.test"), "b": (b, "b@two.test")}
    sent: list[str] = []
    clock = T0
    # b's human writes first; from then on only the daemons talk.
    to, frm, text, thread = "a", "b", "Hello from a human", "thread-0"
    for turn in range(limit):
        clock += hop
        rules, own = peers[to]
        incoming = msg(
            row_id=turn, account=to, sender=peers[frm][1], sender_name=frm.upper(),
            contact=None, recipients=(own,), subject="Re: hello", text=text, own=False,
            auto=False, thread_state="new" if turn == 0 else "reply", thread_id=thread,
            date=clock,
        )
        decisions = rules.decide(incoming, clock)
        replies = [d for d in decisions if d.action in ("reply", "handoff")]
        if not replies:
            return sent
        sent.append(to)
        text = replies[0].text
        to, frm = frm, to
        if new_thread_each_time:
            thread = f"thread-{turn + 1}"
    raise AssertionError(f"still answering each other after {limit} messages")


GENEROUS = ANSWER_ALL + "[rules.limit]\nper_thread = 1000\nwindow = 1\n"


def test_two_daemons_stop_with_default_limits() -> None:
    sent = exchange(ANSWER_ALL, ANSWER_ALL, hop=5, new_thread_each_time=False)
    assert sent == ["a", "b"]


def test_two_daemons_with_generous_rules_stop_at_the_thread_cap() -> None:
    sent = exchange(GENEROUS, GENEROUS, hop=5, new_thread_each_time=False)
    assert sent.count("a") == 3 and sent.count("b") == 3


def test_two_daemons_opening_new_threads_stop_at_the_sender_cap() -> None:
    sent = exchange(GENEROUS, GENEROUS, hop=5, new_thread_each_time=True)
    assert sent.count("a") == 10 and sent.count("b") == 10


def test_two_daemons_with_slow_delivery_stay_bounded_per_day() -> None:
    # Each answer takes longer than the rules' window to arrive: the daily caps hold.
    slow = exchange(GENEROUS, GENEROUS, hop=1300, new_thread_each_time=False)
    assert slow.count("a") == 10 and slow.count("b") == 10


def test_two_daemons_one_answering_by_mark_only_never_loop() -> None:
    marker = '[[rules]]\nname = "m"\naction = { mark = "read" }\n'
    assert exchange(ANSWER_ALL, marker, hop=5, new_thread_each_time=False) == ["a"]
