"""The rules of `tuiclient run --rules FILE`: which new message gets which answer.

Pure: no network, no engine, no clock of its own. The daemon turns each new
message into an `Incoming`, asks `RuleSet.decide(msg, now)` and carries out the
`Decision`s it gets back.

The rules file is TOML: an optional `reply_once_per` and a list of `[[rules]]`,
tried in order. A full example::

    reply_once_per = "1d"             # answer one sender at most once per this long
                                      # (default one day; see "Limits")

    [[rules]]
    name = "answer colleagues"        # required, unique
    continue = false                  # true: after this rule, try the next ones too

    [rules.match]                     # every key optional; all given keys must match
    transport = "email"               # email | xmpp | any (default any)
    from = ["bob@example.test", "*@corp.test", "contact:Carol"]  # any of them
    to = ["me@example.test"]          # any recipient is any of these
    subject = "(?i)budget"            # Python regex, searched anywhere in the subject
    body = "(?i)urgent"               # Python regex, searched in the text
    thread = "new"                    # new (first message of its thread) | reply | any
    availability = ["away", "offline"]  # the sender's presence, any of these

    [rules.action]                    # exactly one of reply, handoff, forward, mark
    reply = "auto"                    # email | im | auto (chat if the sender is
                                      # available, else email)
    # handoff = "im"                  # im | email: move the thread over, with a note
    # forward = ["assistant@example.test"]
    # mark = "read"                   # read | flagged | answered
    text = "Hi $name, thanks for your note on \\"$subject\\". $snippet"
    all = false                       # reply/handoff: to everyone in the thread
    history = false                   # reply/handoff: carry the earlier messages along
    attach = []                       # reply/handoff: attachment names, or "all"

    [rules.limit]
    per_thread = 1                    # at most this many actions per thread ...
    window = "1h"                     # ... per this long ("30s", "5m", "2h", "1d", seconds)

Matching:

* `from` and `to` take a list (or one string) of `local@domain` (exact, any
  case), `*@domain` (anyone at exactly that domain) or `contact:NAME` (the
  sender's contact name, any case; `from` only: recipients carry no names).
* `availability` is one or more of available, away, busy, offline, unknown,
  blocked; a message whose sender's presence was not asked counts as unknown.
* A rule without `[rules.match]` matches every message.
* `body` is searched in the first 100,000 characters of the text.

Actions and `text`: `reply` and `handoff` need a `text`; `forward` may have one
(a note above the forwarded message); `mark` takes none. The text is a template
with `$name` (the sender's name, else the contact's, else the address),
`$address`, `$subject`, `$snippet` (the start of the text, one line, at most
120 characters), `$transport` (email or xmpp) and `$date` (the message's,
`YYYY-MM-DD HH:MM` local time); `${name}` is the same as `$name`, `$$` is a dollar
sign. Anything else after a `$` is refused when the file is loaded. Values are
inserted as plain text: they are never expanded again (a subject saying `$name`
stays `$name`), control characters and terminal escapes are removed, and
newlines become spaces. Nothing in a template runs code or reads a file.

The first matching rule decides; `continue = true` lets the rules after it
decide as well. A rule that matches but is over its limit still counts as the
match (the rules after it are not tried unless it has `continue`), so a limit
cannot be bypassed by a catch-all rule further down.

Limits. `[rules.limit]` counts the rule's own actions per thread: default one
per hour for reply, handoff and forward; a `mark` rule is unlimited unless it
sets a limit. On top of that, and whatever the rules say:

* nothing is decided on our own messages (`own`, or a sender in
  `own_addresses`) or on automatic ones (`auto`);
* reply and handoff never answer mailer-daemon, postmaster, noreply, list
  request/bounce and similar robot addresses (RFC 3834 section 2), nor mail that
  says it is automatic (`automatic`, from `automatic_reason`): `Auto-Submitted`
  other than `no`, `Precedence: bulk, list or junk`, a `List-Id`, an empty
  `Return-Path` (a bounce), `X-Auto-Response-Suppress: All/AutoReply/OOF` or an
  `X-Autoreply`/`X-Autorespond` header;
* reply and handoff answer one sender at most once per `reply_once_per` (default
  one day), as vacation(1) and Sieve vacation (RFC 5230) do, when the caller
  keeps a `ReplyLedger` and passes it to `decide` (the daemon does, and keeps it
  in its state file, so a restart does not answer again). The ledger counts per
  account, transport and sender: an email and a chat line from one person are
  answered once each;
* all rules together send (reply, handoff, forward) at most 3 times per thread
  per hour and 10 per day, and at most 10 times per sender per hour and 50 per
  day.

So two daemons answering each other, even ones that do not mark their replies
as automatic, stop after a bounded number of exchanges: a blocked message is
answered by nothing, so the exchange dies there: in one thread after at most 3
answers each within an hour (10 within a day), across new threads after at most
10 each within an hour (50 within a day). Only a peer whose answers take hours to
arrive could keep a trickle going, at those rates. These counts live in memory: a
restarted daemon starts them afresh; the `reply_once_per` ledger is the one kept.
"""

from __future__ import annotations

import difflib
import math
import re
import string
import time
import tomllib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config import (
    _DURATION_PART,
    _DURATION_TEXT,
    _DURATION_UNITS,
    LocatedError,
    _format_duration,
    _Locator,
    _syntax_error,
    _type_name,
    is_valid_address,
)
from bridge.safe import inert_text

TRANSPORTS = ("email", "xmpp", "any")
THREAD_STATES = ("new", "reply", "any")
AVAILABILITIES = ("available", "away", "busy", "offline", "unknown", "blocked")
ACTIONS = ("reply", "handoff", "forward", "mark")
REPLY_VIA = ("email", "im", "auto")
HANDOFF_VIA = ("im", "email")
MARKS = ("read", "flagged", "answered")
SENDING = frozenset({"reply", "handoff", "forward"})
TEMPLATE_VARIABLES = ("name", "address", "subject", "snippet", "transport", "date")

DEFAULT_PER_THREAD = 1
DEFAULT_WINDOW = 3600.0
DEFAULT_REPLY_ONCE_PER = 86400.0  # vacation(1) and Sieve vacation answer once a day at most
ANSWERS = frozenset({"reply", "handoff"})  # what goes back to the sender
# Caps on sending actions across all rules: (scope, count, seconds). Not configurable
# from the rules file, so no rule can lift them.
GLOBAL_CAPS: tuple[tuple[str, int, float], ...] = (
    ("thread", 3, 3600.0),
    ("thread", 10, 86400.0),
    ("sender", 10, 3600.0),
    ("sender", 50, 86400.0),
)
BODY_SEARCH_LIMIT = 100_000
SNIPPET_CHARS = 120
_VALUE_LIMITS = {"name": 100, "address": 320, "subject": 200}

# Local parts that belong to robots, never to be answered (RFC 3834 section 2).
_ROBOT_LOCAL = re.compile(
    r"""^(?: mailer-daemon | postmaster | no-?reply | do-?not-?reply | bounces?
           | listserv | majordomo | owner-.* | .*-request | .*-bounces?
           | .*-owner | noreply[-+.].* | no-reply[-+.].* )$""",
    re.VERBOSE | re.IGNORECASE,
)

_TOP_KEYS = ("rules", "reply_once_per")
# The header fields `automatic_reason` reads (the daemon fetches only these).
AUTOMATIC_HEADERS = ("Auto-Submitted", "Precedence", "List-Id", "Return-Path",
                     "X-Auto-Response-Suppress", "X-Autoreply", "X-Autorespond")
_RULE_KEYS = ("name", "continue", "match", "action", "limit")
_MATCH_KEYS = ("transport", "from", "to", "subject", "body", "thread", "availability")
_ACTION_KEYS = ("reply", "handoff", "forward", "mark", "text", "all", "history", "attach")
_LIMIT_KEYS = ("per_thread", "window")


class RulesError(LocatedError):
    """A rules file that cannot be used: `FILE:LINE: KEY: reason`."""


@dataclass(frozen=True)
class Incoming:
    """One new message, as the daemon sees it."""

    row_id: int
    account: str
    transport: str  # "email" | "xmpp"
    thread_id: str
    sender: str  # bare address (email address or bare JID), lowercase
    sender_name: str
    contact: str | None  # the contact's name from the identity layer, if known
    recipients: tuple[str, ...]  # To/Cc addresses or the room JID
    subject: str
    text: str
    own: bool  # sent by this account: never answered
    auto: bool  # sent by a rule (ours or another instance's): never answered
    thread_state: str  # "new" | "reply"
    availability: str | None  # the sender's presence; None if not asked
    date: float
    automatic: str | None = None  # why the mail says it is automatic (automatic_reason)


@dataclass(frozen=True)
class Decision:
    rule: str  # the rule's name
    action: str  # "reply" | "handoff" | "forward" | "mark"
    via: str | None  # reply: "email" | "im" | "auto"; handoff: "im" | "email"
    text: str  # the rendered template ("" for mark)
    reply_all: bool
    history: bool
    attach: tuple[str, ...] | str | None  # file names, or "all"
    forward_to: tuple[str, ...]  # forward
    mark: str | None  # mark: "read" | "flagged" | "answered"


@dataclass(frozen=True)
class AddressPattern:
    """`local@domain`, `*@domain` or `contact:NAME`."""

    kind: str  # "address" | "domain" | "contact"
    value: str  # lowercase address or domain; casefolded contact name

    @classmethod
    def parse(cls, text: str) -> AddressPattern | str:
        """The pattern, or why `text` is not one."""
        if text[:8].lower() == "contact:":
            name = text[8:].strip()
            if not name:
                return "contact: needs a name, like \"contact:Carol\""
            return cls("contact", name.casefold())
        if text.startswith("*@"):
            domain = text[2:]
            if not domain or any(c in domain for c in "*@") or not is_valid_address(f"x@{domain}"):
                return f'{text!r} must be "*@" followed by a domain, like "*@corp.example"'
            return cls("domain", domain.lower())
        if "*" in text:
            return f'{text!r}: a wildcard is only allowed as "*@domain"'
        if not is_valid_address(text):
            return f'{text!r} is not an address, "*@domain" or "contact:NAME"'
        return cls("address", text.lower())

    def matches(self, address: str, contact: str | None = None) -> bool:
        address = address.lower()
        if self.kind == "address":
            return address == self.value
        if self.kind == "domain":
            return address.rpartition("@")[2] == self.value
        return contact is not None and contact.strip().casefold() == self.value


@dataclass(frozen=True)
class Match:
    transport: str = "any"
    senders: tuple[AddressPattern, ...] = ()
    recipients: tuple[AddressPattern, ...] = ()
    subject: re.Pattern[str] | None = None
    body: re.Pattern[str] | None = None
    thread: str = "any"
    availability: tuple[str, ...] = ()

    def matches(self, msg: Incoming) -> bool:
        if self.transport != "any" and msg.transport != self.transport:
            return False
        if self.thread != "any" and msg.thread_state != self.thread:
            return False
        if self.availability and (msg.availability or "unknown") not in self.availability:
            return False
        if self.senders and not any(p.matches(msg.sender, msg.contact) for p in self.senders):
            return False
        if self.recipients and not any(
            p.matches(r) for r in msg.recipients for p in self.recipients
        ):
            return False
        if self.subject is not None and not self.subject.search(msg.subject or ""):
            return False
        return self.body is None or bool(self.body.search((msg.text or "")[:BODY_SEARCH_LIMIT]))


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    action: str  # "reply" | "handoff" | "forward" | "mark"
    via: str | None = None
    template: str = ""
    reply_all: bool = False
    history: bool = False
    attach: tuple[str, ...] | str | None = None
    forward_to: tuple[str, ...] = ()
    mark: str | None = None
    per_thread: int | None = DEFAULT_PER_THREAD  # None: no limit of the rule's own
    window: float = DEFAULT_WINDOW
    cont: bool = False  # `continue = true`
    line: int | None = None

    def render(self, msg: Incoming) -> str:
        if not self.template:
            return ""
        return string.Template(self.template).substitute(template_values(msg))

    def decision(self, msg: Incoming) -> Decision:
        return Decision(
            rule=self.name,
            action=self.action,
            via=self.via,
            text=self.render(msg),
            reply_all=self.reply_all,
            history=self.history,
            attach=self.attach,
            forward_to=self.forward_to,
            mark=self.mark,
        )


def _one_line(value: str, limit: int) -> str:
    value = " ".join(inert_text(value or "").split())
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def _snippet(text: str) -> str:
    # Quoted lines are what they answered, not what they said.
    lines = inert_text((text or "")[: SNIPPET_CHARS * 40]).split("\n")
    said = " ".join(ln for ln in lines if not ln.lstrip().startswith(">"))
    return _one_line(said, SNIPPET_CHARS)


def template_values(msg: Incoming) -> dict[str, str]:
    """The template variables for `msg`, each one line of plain, inert text."""
    name = _one_line(msg.sender_name, _VALUE_LIMITS["name"]) or _one_line(
        msg.contact or "", _VALUE_LIMITS["name"]
    )
    address = _one_line(msg.sender, _VALUE_LIMITS["address"])
    try:
        date = time.strftime("%Y-%m-%d %H:%M", time.localtime(msg.date))
    except (OverflowError, OSError, ValueError):
        date = ""
    return {
        "name": name or address,
        "address": address,
        "subject": _one_line(msg.subject, _VALUE_LIMITS["subject"]),
        "snippet": _snippet(msg.text),
        "transport": _one_line(msg.transport, 20),
        "date": date,
    }


def automatic_reason(headers: dict[str, str]) -> str | None:
    """Why a mail with these header fields (names in any case) is automatic and
    must not be answered (RFC 3834 section 2, RFC 2919, and the de facto headers
    of bulk mailers and autoresponders), or None for mail a person wrote."""
    fields = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    auto = fields.get("auto-submitted")
    # The keyword may be followed by parameters and comments: "no (a person)".
    if auto is not None and re.split(r"[\s;(]", auto.strip(), maxsplit=1)[0].lower() != "no":
        return f"Auto-Submitted: {inert_text(auto)[:60]}"
    precedence = (fields.get("precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    if "list-id" in fields:
        return "a mailing list's mail (List-Id)"
    if "return-path" in fields and fields["return-path"].strip(" <>") == "":
        return "a bounce (empty Return-Path)"
    suppress = {x.strip().lower() for x in fields.get("x-auto-response-suppress", "").split(",")}
    if suppress & {"all", "autoreply", "oof"}:
        return "X-Auto-Response-Suppress"
    for name in ("x-autoreply", "x-autorespond"):
        if name in fields:
            return f"an autoresponder's mail ({name})"
    return None


class ReplyLedger:
    """When each sender was last answered: `reply_once_per` checks it.

    Keyed by account, transport and sender; a plain dict of times, so that the
    daemon can keep it in its state file (`to_json`, `from_json`)."""

    def __init__(self, times: dict[str, float] | None = None) -> None:
        self.times: dict[str, float] = dict(times or {})

    @staticmethod
    def key(msg: Incoming) -> str:
        return "\t".join((msg.account, msg.transport, (msg.sender or "").lower()))

    def last(self, msg: Incoming) -> float | None:
        return self.times.get(self.key(msg))

    def record(self, msg: Incoming, now: float) -> None:
        self.times[self.key(msg)] = now

    def forget(self, msg: Incoming, before: float | None) -> None:
        """Undo a `record` whose answer could not be sent."""
        if before is None:
            self.times.pop(self.key(msg), None)
        else:
            self.times[self.key(msg)] = before

    def prune(self, now: float, period: float) -> None:
        self.times = {k: t for k, t in self.times.items() if t > now - period}

    def to_json(self) -> dict[str, float]:
        return dict(self.times)

    @classmethod
    def from_json(cls, value: object) -> ReplyLedger:
        if not isinstance(value, dict):
            return cls()
        return cls({str(k): float(v) for k, v in value.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                    and math.isfinite(v)})


def is_robot_address(address: str) -> bool:
    """True for mailer-daemon, postmaster, noreply and list robots: never answered."""
    local = address.partition("@")[0]
    return bool(_ROBOT_LOCAL.match(local))


# --------------------------------------------------------------------------
# The rule set and its loop guards


class RuleSet:
    """Ordered rules plus the memory of what they decided, for the limits."""

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        *,
        path: Path = Path("<rules>"),
        own_addresses: Iterable[str] = (),
        reply_once_per: float = DEFAULT_REPLY_ONCE_PER,
    ) -> None:
        self.rules: list[Rule] = list(rules)
        self.reply_once_per = reply_once_per
        self.path = Path(path)
        self.own_addresses = frozenset(a.lower() for a in own_addresses)
        # What the last `decide` skipped and why, for the daemon's log.
        self.last_notes: list[str] = []
        self._history: dict[tuple[str, ...], deque[float]] = {}
        self._next_sweep = -math.inf

    @classmethod
    def load(cls, path: Path, *, own_addresses: Iterable[str] = ()) -> RuleSet:
        """Read and check a rules file; any problem is a `RulesError`."""
        path = Path(path).expanduser().absolute()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RulesError(path, "rules file does not exist") from None
        except IsADirectoryError:
            raise RulesError(path, "is a directory, not a rules file") from None
        except OSError as exc:
            raise RulesError(path, f"cannot read rules file: {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise RulesError(path, "rules file is not valid UTF-8", line=line) from None
        return cls.parse(text, path, own_addresses=own_addresses)

    @classmethod
    def parse(
        cls, text: str, path: Path = Path("<rules>"), *, own_addresses: Iterable[str] = ()
    ) -> RuleSet:
        """Check rules given as TOML text; any problem is a `RulesError`."""
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            err = _syntax_error(path, text, exc)
            raise RulesError(path, err.reason, line=err.line) from None
        reader = _Reader(path, text)
        rules = reader.read(raw)
        once = reader.duration(raw, "", "reply_once_per", DEFAULT_REPLY_ONCE_PER)
        return cls(rules, path=path, own_addresses=own_addresses, reply_once_per=once)

    def decide(
        self, msg: Incoming, now: float, *, own_addresses: Iterable[str] | None = None,
        replied: ReplyLedger | None = None,
    ) -> list[Decision]:
        """What to do with `msg`, limits applied; what is decided counts from now on.
        With `replied`, a reply or handoff to a sender answered less than
        `reply_once_per` ago is held back, and one decided now is recorded there."""
        self.last_notes = []
        own = self.own_addresses
        if own_addresses is not None:
            own = own | {a.lower() for a in own_addresses}
        sender = (msg.sender or "").lower()
        if msg.own or sender in own:
            self.last_notes.append("our own message: never answered")
            return []
        if msg.auto:
            self.last_notes.append("an automatic message: never answered")
            return []
        self._sweep(now)
        decisions: list[Decision] = []
        for rule in self.rules:
            if not rule.match.matches(msg):
                continue
            blocked = self._blocked(rule, msg, sender, now)
            if not blocked and replied is not None and rule.action in ANSWERS:
                last = replied.last(msg)
                if last is not None and now - last < self.reply_once_per:
                    blocked = (f"{sender} was answered {_format_duration(round(now - last))} ago "
                               f"(once per {_format_duration(self.reply_once_per)})")
            if blocked:
                self.last_notes.append(f"rule {rule.name!r}: {blocked}")
            else:
                decisions.append(rule.decision(msg))
                self._record(rule, msg, sender, now)
                if replied is not None and rule.action in ANSWERS:
                    replied.record(msg, now)
            if not rule.cont:
                break
        return decisions

    # -- limits ----------------------------------------------------------------

    def _blocked(self, rule: Rule, msg: Incoming, sender: str, now: float) -> str | None:
        if rule.action in ANSWERS and is_robot_address(sender):
            return f"{sender} is a robot address: never answered"
        if rule.action in ANSWERS and msg.automatic:
            return f"automatic mail ({msg.automatic}): never answered (RFC 3834)"
        if rule.per_thread is not None:
            used = self._count(("rule", rule.name, msg.account, msg.thread_id), rule.window, now)
            if used >= rule.per_thread:
                return (
                    f"limit reached ({rule.per_thread} per {_format_duration(rule.window)} "
                    "in this thread)"
                )
        if rule.action in SENDING:
            for scope, count, window in GLOBAL_CAPS:
                if self._count(self._cap_key(scope, window, msg, sender), window, now) >= count:
                    where = "thread" if scope == "thread" else f"sender {sender}"
                    return (
                        f"automatic actions capped ({count} per {_format_duration(window)} "
                        f"per {where})"
                    )
        return None

    def _record(self, rule: Rule, msg: Incoming, sender: str, now: float) -> None:
        self._history.setdefault(("rule", rule.name, msg.account, msg.thread_id), deque()).append(
            now
        )
        if rule.action in SENDING:
            for scope, _count, window in GLOBAL_CAPS:
                self._history.setdefault(self._cap_key(scope, window, msg, sender), deque()).append(
                    now
                )

    @staticmethod
    def _cap_key(scope: str, window: float, msg: Incoming, sender: str) -> tuple[str, ...]:
        if scope == "thread":
            return ("cap", f"{window:g}", "thread", msg.account, msg.thread_id)
        return ("cap", f"{window:g}", "sender", sender)

    def _count(self, key: tuple[str, ...], window: float, now: float) -> int:
        times = self._history.get(key)
        if not times:
            return 0
        while times and times[0] <= now - window:
            times.popleft()
        return len(times)

    def _sweep(self, now: float) -> None:
        # Forget threads nobody wrote to for longer than any window, now and then,
        # so that a daemon running for months does not keep every thread it saw.
        if now < self._next_sweep:
            return
        self._next_sweep = now + 600.0
        horizon = max([w for *_, w in GLOBAL_CAPS] + [r.window for r in self.rules])
        stale = [k for k, times in self._history.items() if not times or times[-1] <= now - horizon]
        for key in stale:
            del self._history[key]


# --------------------------------------------------------------------------
# Reading and checking the file


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _or(choices: Sequence[str]) -> str:
    quoted = [repr(c) for c in choices]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.locator = _Locator(text)

    def error(self, key: str | None, reason: str) -> RulesError:
        line = self.locator.line_of(key) if key else None
        return RulesError(self.path, reason, line=line, key=key)

    def read(self, raw: dict[str, Any]) -> list[Rule]:
        self.check_keys(raw, "", _TOP_KEYS)
        value = raw.get("rules", [])
        if not isinstance(value, list):
            raise self.error("rules", f"must be an array of tables ([[rules]]), not "
                             f"{_type_name(value)}")
        rules: list[Rule] = []
        first_use: dict[str, int] = {}
        for index, table in enumerate(value):
            prefix = f"rules[{index}]"
            if not isinstance(table, dict):
                raise self.error(prefix, f"must be a table, not {_type_name(table)}")
            rule = self.rule(table, prefix)
            if rule.name in first_use:
                other = first_use[rule.name]
                line = self.locator.line_of(f"rules[{other}].name")
                where = f"rules[{other}]" + (f", line {line}" if line else "")
                raise self.error(
                    f"{prefix}.name", f"duplicate rule name {rule.name!r} (also used by {where})"
                )
            first_use[rule.name] = index
            rules.append(rule)
        return rules

    # -- generic checks ----------------------------------------------------------

    def check_keys(self, table: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for name in table:
            if name in allowed:
                continue
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            if close:
                reason = f"unknown key {name!r}; did you mean {close[0]!r}?"
            else:
                reason = f"unknown key {name!r} (known keys: {', '.join(allowed)})"
            raise self.error(_join(prefix, name), reason)

    def table(self, parent: dict[str, Any], prefix: str, name: str) -> dict[str, Any] | None:
        value = parent.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(_join(prefix, name), f"must be a table, not {_type_name(value)}")
        return value

    def string(self, table: dict[str, Any], prefix: str, name: str) -> str | None:
        if name not in table:
            return None
        value = table[name]
        key = _join(prefix, name)
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {_type_name(value)}")
        if not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def boolean(self, table: dict[str, Any], prefix: str, name: str) -> bool:
        value = table.get(name, False)
        if not isinstance(value, bool):
            raise self.error(_join(prefix, name), f"must be true or false, not {_type_name(value)}")
        return value

    def choice(
        self, table: dict[str, Any], prefix: str, name: str, choices: Sequence[str], default: str
    ) -> str:
        if name not in table:
            return default
        value = table[name]
        key = _join(prefix, name)
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, one of {_or(choices)}; "
                             f"not {_type_name(value)}")
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(key, f"must be one of {_or(choices)}, not {value!r}{hint}")
        return value

    def strings(
        self,
        table: dict[str, Any],
        prefix: str,
        name: str,
        empty: str = "leave the key out to match anyone",
    ) -> list[str] | None:
        """A string or a non-empty array of non-empty strings; None if absent."""
        if name not in table:
            return None
        value = table[name]
        key = _join(prefix, name)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self.error(key, f"must be an array of strings, not {_type_name(value)}")
        if not items:
            raise self.error(key, f"must not be an empty list: {empty}")
        for position, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"{key}[{position}]", f"must be a string, not {_type_name(item)}")
            if not item.strip():
                raise self.error(f"{key}[{position}]", "must not be empty")
        return items

    def regex(self, table: dict[str, Any], prefix: str, name: str) -> re.Pattern[str] | None:
        value = self.string(table, prefix, name)
        if value is None:
            return None
        try:
            return re.compile(value)
        except re.error as exc:
            reason = f"not a valid regular expression: {exc}"
            raise self.error(_join(prefix, name), reason) from None

    def duration(self, table: dict[str, Any], prefix: str, name: str, default: float) -> float:
        if name not in table:
            return default
        value = table[name]
        key = _join(prefix, name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            text = value.strip().lower()
            if not _DURATION_TEXT.fullmatch(text):
                raise self.error(
                    key, f'{value!r} is not a duration: use seconds or e.g. "30s", "5m", "2h", "1d"'
                )
            parts = _DURATION_PART.findall(text)
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts) if parts else float(text)
        else:
            raise self.error(
                key, f'must be a number of seconds or a string like "5m", not {_type_name(value)}'
            )
        if not math.isfinite(seconds) or seconds <= 0:
            raise self.error(key, "must be a positive, finite duration")
        return seconds

    # -- sections ------------------------------------------------------------------

    def rule(self, table: dict[str, Any], prefix: str) -> Rule:
        self.check_keys(table, prefix, _RULE_KEYS)
        if "name" not in table:
            raise self.error(prefix, "required key 'name' is missing")
        name = self.string(table, prefix, "name")
        assert name is not None
        match = self.match(table, prefix)
        action_key = _join(prefix, "action")
        action_table = self.table(table, prefix, "action")
        if action_table is None:
            raise self.error(
                prefix, f"rule {name!r} has no [rules.action]: give it one of {_or(ACTIONS)}"
            )
        fields = self.action(action_table, action_key)
        per_thread, window = self.limit(table, prefix, fields["action"])
        return Rule(
            name=name,
            match=match,
            per_thread=per_thread,
            window=window,
            cont=self.boolean(table, prefix, "continue"),
            line=self.locator.line_of(prefix),
            **fields,
        )

    def match(self, table: dict[str, Any], prefix: str) -> Match:
        sub = self.table(table, prefix, "match")
        if sub is None:
            return Match()
        prefix = _join(prefix, "match")
        self.check_keys(sub, prefix, _MATCH_KEYS)
        availability = self.strings(sub, prefix, "availability") or []
        for position, value in enumerate(availability):
            if value not in AVAILABILITIES:
                close = difflib.get_close_matches(value, AVAILABILITIES, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                key = f"{prefix}.availability" + (
                    f"[{position}]" if isinstance(sub["availability"], list) else ""
                )
                raise self.error(
                    key, f"must be one of {_or(AVAILABILITIES)}, not {value!r}{hint}"
                )
        return Match(
            transport=self.choice(sub, prefix, "transport", TRANSPORTS, "any"),
            senders=self.patterns(sub, prefix, "from"),
            recipients=self.patterns(sub, prefix, "to"),
            subject=self.regex(sub, prefix, "subject"),
            body=self.regex(sub, prefix, "body"),
            thread=self.choice(sub, prefix, "thread", THREAD_STATES, "any"),
            availability=tuple(availability),
        )

    def patterns(self, table: dict[str, Any], prefix: str, name: str) -> tuple[AddressPattern, ...]:
        values = self.strings(table, prefix, name)
        if values is None:
            return ()
        key = _join(prefix, name)
        patterns: list[AddressPattern] = []
        for position, text in enumerate(values):
            item_key = f"{key}[{position}]" if isinstance(table[name], list) else key
            parsed = AddressPattern.parse(text.strip())
            if isinstance(parsed, str):
                raise self.error(item_key, parsed)
            if parsed.kind == "contact" and name == "to":
                raise self.error(
                    item_key, "contact:NAME only works in 'from': recipients carry no contact "
                    "name; give their addresses"
                )
            patterns.append(parsed)
        return tuple(patterns)

    def action(self, table: dict[str, Any], prefix: str) -> dict[str, Any]:
        self.check_keys(table, prefix, _ACTION_KEYS)
        present = [key for key in table if key in ACTIONS]  # in the file's order
        if not present:
            raise self.error(prefix, f"no action: set exactly one of {_or(ACTIONS)}")
        if len(present) > 1:
            raise self.error(
                _join(prefix, present[1]),
                f"two actions ({present[0]!r} and {present[1]!r}): a rule does exactly one; "
                "use two rules with continue = true to do both",
            )
        action = present[0]
        fields: dict[str, Any] = {"action": action}
        if action == "reply":
            fields["via"] = self.choice(table, prefix, "reply", REPLY_VIA, "auto")
        elif action == "handoff":
            fields["via"] = self.choice(table, prefix, "handoff", HANDOFF_VIA, "im")
        elif action == "mark":
            fields["mark"] = self.choice(table, prefix, "mark", MARKS, "read")
        else:
            targets = self.strings(table, prefix, "forward", "give at least one address")
            assert targets is not None
            for position, address in enumerate(targets):
                if not is_valid_address(address.strip()):
                    key = f"{prefix}.forward" + (
                        f"[{position}]" if isinstance(table["forward"], list) else ""
                    )
                    raise self.error(key, f"{address!r} is not an address (local@domain)")
            fields["forward_to"] = tuple(a.strip() for a in targets)

        if action != "mark" and "text" in table:
            fields["template"] = self.template(table, prefix)
        elif action in ("reply", "handoff"):
            raise self.error(prefix, f"{action} needs a text (the message to send)")
        elif "text" in table:
            raise self.error(_join(prefix, "text"), "mark sends nothing and takes no text")

        extras = [k for k in ("all", "history", "attach") if k in table]
        if extras and action not in ("reply", "handoff"):
            raise self.error(
                _join(prefix, extras[0]), f"{extras[0]!r} only goes with reply or handoff"
            )
        fields["reply_all"] = self.boolean(table, prefix, "all")
        fields["history"] = self.boolean(table, prefix, "history")
        fields["attach"] = self.attach(table, prefix)
        return fields

    def template(self, table: dict[str, Any], prefix: str) -> str:
        key = _join(prefix, "text")
        value = self.string(table, prefix, "text")
        assert value is not None
        for found in string.Template.pattern.finditer(value):
            named = found.group("named") or found.group("braced")
            if found.group("invalid") is not None:
                column = found.start("invalid") - 1
                raise self.error(
                    key,
                    f"'$' not followed by a variable name at {value[column:column + 10]!r}: "
                    "write $$ for a dollar sign, or use one of "
                    f"{', '.join('$' + v for v in TEMPLATE_VARIABLES)}",
                )
            if named is not None and named not in TEMPLATE_VARIABLES:
                close = difflib.get_close_matches(named, TEMPLATE_VARIABLES, n=1, cutoff=0.6)
                hint = f"; did you mean ${close[0]}?" if close else ""
                raise self.error(
                    key,
                    f"unknown template variable ${named}{hint} (known: "
                    f"{', '.join('$' + v for v in TEMPLATE_VARIABLES)})",
                )
        return value

    def attach(self, table: dict[str, Any], prefix: str) -> tuple[str, ...] | str | None:
        if "attach" not in table:
            return None
        value = table["attach"]
        key = _join(prefix, "attach")
        if value == "all":
            return "all"
        if isinstance(value, str):
            raise self.error(key, f'must be "all" or an array of file names, like ["{value}"]')
        if not isinstance(value, list):
            raise self.error(key, f'must be "all" or an array of file names, not '
                             f"{_type_name(value)}")
        for position, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"{key}[{position}]", "must be a non-empty file name")
        return tuple(value) or None

    def limit(self, table: dict[str, Any], prefix: str, action: str) -> tuple[int | None, float]:
        default_count = None if action == "mark" else DEFAULT_PER_THREAD
        sub = self.table(table, prefix, "limit")
        if sub is None:
            return default_count, DEFAULT_WINDOW
        prefix = _join(prefix, "limit")
        self.check_keys(sub, prefix, _LIMIT_KEYS)
        count: int | None = DEFAULT_PER_THREAD if "window" in sub else default_count
        if "per_thread" in sub:
            value = sub["per_thread"]
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(
                    f"{prefix}.per_thread", f"must be an integer, not {_type_name(value)}"
                )
            if value < 1:
                raise self.error(f"{prefix}.per_thread", f"must be at least 1, not {value}")
            count = value
        return count, self.duration(sub, prefix, "window", DEFAULT_WINDOW)
