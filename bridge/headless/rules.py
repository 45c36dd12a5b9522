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

The code: this module is the rule set (`RuleSet`: load, decide, the limits) and
the door the daemon and the tests import from; `rules_model` holds the values
(`Incoming`, `Rule`, `Match`, `Decision`, templates, what is never answered),
`rules_file` reads the file into them on the config's reader.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path

from bridge.config.reader import format_duration, parse_toml, read_text

from .rules_file import RulesError, RulesReader
from .rules_model import (
    ACTIONS,
    ANSWERS,
    AUTOMATIC_HEADERS,
    AVAILABILITIES,
    BODY_SEARCH_LIMIT,
    DEFAULT_PER_THREAD,
    DEFAULT_REPLY_ONCE_PER,
    DEFAULT_WINDOW,
    GLOBAL_CAPS,
    HANDOFF_VIA,
    MARKS,
    REPLY_VIA,
    SENDING,
    SNIPPET_CHARS,
    TEMPLATE_VARIABLES,
    THREAD_STATES,
    TRANSPORTS,
    Action,
    AddressPattern,
    Decision,
    Incoming,
    Match,
    ReplyLedger,
    Rule,
    automatic_reason,
    is_robot_address,
    template_values,
)


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
        text = read_text(path, "rules", RulesError)
        return cls.parse(text, path, own_addresses=own_addresses)

    @classmethod
    def parse(
        cls, text: str, path: Path = Path("<rules>"), *, own_addresses: Iterable[str] = ()
    ) -> RuleSet:
        """Check rules given as TOML text; any problem is a `RulesError`."""
        raw = parse_toml(path, text, RulesError)
        reader = RulesReader(path, text)
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
                    blocked = (f"{sender} was answered {format_duration(round(now - last))} ago "
                               f"(once per {format_duration(self.reply_once_per)})")
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
                    f"limit reached ({rule.per_thread} per {format_duration(rule.window)} "
                    "in this thread)"
                )
        if rule.action in SENDING:
            for scope, count, window in GLOBAL_CAPS:
                if self._count(self._cap_key(scope, window, msg, sender), window, now) >= count:
                    where = "thread" if scope == "thread" else f"sender {sender}"
                    return (
                        f"automatic actions capped ({count} per {format_duration(window)} "
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


__all__ = [
    "ACTIONS",
    "ANSWERS",
    "AUTOMATIC_HEADERS",
    "AVAILABILITIES",
    "BODY_SEARCH_LIMIT",
    "DEFAULT_PER_THREAD",
    "DEFAULT_REPLY_ONCE_PER",
    "DEFAULT_WINDOW",
    "GLOBAL_CAPS",
    "HANDOFF_VIA",
    "MARKS",
    "REPLY_VIA",
    "SENDING",
    "SNIPPET_CHARS",
    "TEMPLATE_VARIABLES",
    "THREAD_STATES",
    "TRANSPORTS",
    "Action",
    "AddressPattern",
    "Decision",
    "Incoming",
    "Match",
    "ReplyLedger",
    "Rule",
    "RuleSet",
    "RulesError",
    "RulesReader",
    "automatic_reason",
    "is_robot_address",
    "template_values",
]
