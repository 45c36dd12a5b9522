"""The rules' values: a new message as the rules see it, what a rule matches and
decides, the template an answer is written from, and what is never answered.

Pure, like the rest of the rules: no network, no engine, no clock of its own.
The file format is described in `bridge.headless.rules`.
"""

from __future__ import annotations

import math
import re
import string
import time
from dataclasses import dataclass
from typing import Literal

from bridge.config import is_valid_address
from bridge.safe import inert_text

TRANSPORTS = ("email", "xmpp", "any")
THREAD_STATES = ("new", "reply", "any")
AVAILABILITIES = ("available", "away", "busy", "offline", "unknown", "blocked")
# What a rule does; `Decision.action` is one of these.
Action = Literal["reply", "handoff", "forward", "mark"]
ACTIONS: tuple[Action, ...] = ("reply", "handoff", "forward", "mark")
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

# The header fields `automatic_reason` reads (the daemon fetches only these).
AUTOMATIC_HEADERS = ("Auto-Submitted", "Precedence", "List-Id", "Return-Path",
                     "X-Auto-Response-Suppress", "X-Autoreply", "X-Autorespond")


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
    """What one rule decided for one message; the daemon carries it out.

    `action` says which fields count: reply and handoff use via, text,
    reply_all, history and attach; forward uses forward_to and text (a note);
    mark uses mark (`flag`)."""

    rule: str  # the rule's name
    action: Action
    via: str | None  # reply: "email" | "im" | "auto"; handoff: "im" | "email"
    text: str  # the rendered template ("" for mark)
    reply_all: bool
    history: bool
    attach: tuple[str, ...] | str | None  # file names, or "all"
    forward_to: tuple[str, ...]  # forward
    mark: str | None  # mark: "read" | "flagged" | "answered"

    @property
    def flag(self) -> str:
        """The flag a mark decision sets: "read", "flagged" or "answered"."""
        if self.mark is None:
            raise ValueError(f"rule {self.rule!r} decided to {self.action}, not to mark")
        return self.mark


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
    action: Action
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
