"""The answers an action can get besides success, in one place, and the words
a user reads for them.

`EngineError` (cannot, and why; `EncryptionRefused` is one kind) and `ContactAway`
(they are away: send anyway, defer, or email?); the third, `UnmappedParty` (who is X
on that transport?), is bridge.identity's. Their own module, so that the parts behind
the engine (ports, policy) raise what the front ends catch without importing the
engine.

A refusal is a sentence a person can act on: what cannot be done and what to do
instead, with no internal names in it (no state names, row numbers or option
names of another front end). The refusals every layer says alike are here
(`no_chat_connection`, ...); `tests/test_refusals.py` walks them.

The second half is what became of a message that waits (the outbox's states,
log and tries) in words, for every front end alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .model import Availability, ContactPresence, OutboxItem, OutboxLogEntry
from .record import FrozenRecord, setfield

# What a chat to someone not available does: ask first, send anyway, keep it
# deferred until they are available, or send it by email instead.
WHEN_AWAY = ("ask", "send", "defer", "email")


class EngineError(Exception):
    """An action the engine cannot do as asked; the message says why."""


class ServerUnreachable(EngineError):
    """A server could not be reached, or broke off: try again later (exit 5)."""


class LoginRejected(ServerUnreachable):
    """A server refused our login: the secret or the config must change (exit 4)."""


class ContactAway(Exception):
    """The contact is not available: the caller chooses send / defer / email."""

    def __init__(self, presences: Sequence[ContactPresence]) -> None:
        self.presences = list(presences)
        super().__init__("; ".join(describe_presence(p) for p in presences)
                         + ". Send anyway, defer, or send by email?")


# -- refusals every layer says alike ------------------------------------------------
# Each one a sentence: what cannot be done, a colon, what to do about it.

def not_an_emoji(text: str) -> str:
    """A reaction that is not one emoji (`bridge.emoji_shape.is_emoji`), in one line
    (the text's repr: no newline of its own)."""
    return (f"Not a reaction: {text.strip()!r} is not an emoji; a reaction is one emoji, "
            "such as 👍 or ❤️.")


def no_chat_connection(account: str, *, either: bool = False) -> str:
    """The account's chat is not connected (not started, no chat server, login failed)."""
    return (f"The chat account {account} is not connected{' either' if either else ''}: "
            "it has no chat server in the config, has not finished connecting, or its "
            "login failed. See the server status (Servers), then try again.")


def no_email_address(account: str) -> str:
    return (f"The account {account} has no email address: add one (email = ...) to it "
            "in the config to send email from it.")


def no_accounts() -> str:
    return "No accounts are configured: add an [[accounts]] section to the config."


def unknown_account(name: str, known: Sequence[str]) -> str:
    return (f"There is no account called {name}: use one of "
            f"{', '.join(known) or 'none (the config has no accounts)'}.")


def message_gone() -> str:
    return ("That message is not here any more (deleted or moved meanwhile): "
            "open the conversation again.")


def nobody_to_reply(how: str = "") -> str:
    """A reply with no one to go to: `how` is "by chat" when only that way lacks one."""
    if how:
        return (f"There is nobody to reply to {how}: no one in this conversation has "
                "an address for it. Reply by email instead, or map their address to a "
                "chat address (Contacts).")
    return ("There is nobody to reply to: you are the only person in this "
            "conversation. Write a new message instead.")


def no_recipients() -> str:
    return "The reply has nobody to go to: write an address in To or Cc."


def no_chat_recipients() -> str:
    return ("Nobody this email is to has a chat address: map their email addresses to "
            "chat addresses (Contacts), or let it wait for the mail server.")


def not_an_address(address: str, *, chat: bool = False) -> str:
    kind = "a chat address or an email address" if chat else "an email address"
    return f"{address!r} is not {kind}: write it as name@example.org."


def file_unavailable(name: str) -> str:
    return (f"The file {name!r} could not be fetched from the server: check the server "
            "status and try again, or send without it.")


def files_by_chat() -> str:
    return ("Files from disk go with a reply by email: reply by email, or share the "
            "files in the chat.")


def choose_one(what: str, given: str, choices: Sequence[str]) -> str:
    """A choice given outside its list (a script's option, a rule's field)."""
    return f"{what} cannot be {given!r}: choose one of {', '.join(choices)}."


def not_a_chat_line() -> str:
    return ("That message is an email: corrections, reactions and retractions are for "
            "chat lines. Reply to the email instead.")


def describe_presence(p: ContactPresence) -> str:
    what = {Availability.AWAY: "away", Availability.BUSY: "busy (do not disturb)",
            Availability.OFFLINE: "offline", Availability.UNKNOWN:
            "of unknown availability (no presence subscription)",
            Availability.BLOCKED: "blocked or refusing messages",
            Availability.AVAILABLE: "available"}[p.availability]
    return f"{p.jid} is {what}" + (f": {p.status}" if p.status else "")


class Hint(FrozenRecord):
    """What to do about a refusal, as data rather than words: `action` names the
    way on (a key of CLI_HINTS), `argument` what it acts on (the addresses with no
    key). Each front end says it its own way: the command line as its verbs and
    options (`cli_words`), the app as its keys and screens (tuiclient.replies)."""

    __slots__ = ("action", "argument")

    action: str
    argument: str

    def __init__(self, action: str, argument: str = "") -> None:
        setfield(self, "action", action)
        setfield(self, "argument", argument)

    def cli_words(self) -> str:
        """What to do, as the command line says it: its verbs and options."""
        return CLI_HINTS[self.action].format(argument=self.argument)


# The command line's words for each way on, after the refusal's reason.
_STAYS = (". It stays in the outbox: import their key and try again, send it by chat, "
          "cancel it, or send it in clear by email (`outbox email ID --no-encrypt`)")
CLI_HINTS = {
    # someone has no OpenPGP key: import it, or send the message in clear
    "import-key-or-clear": " (import theirs with `keys import`, or send with --no-encrypt)",
    # a waiting message (`argument`: its outbox row) could not go by email, as above
    "outbox-import-key-or-clear": " (import theirs with `keys import`, or send with "
                                  "--no-encrypt)" + _STAYS,
    "outbox-stays": _STAYS,
    # a chat contact has a new OMEMO device (`argument`: their JID): verify or distrust it
    "verify-device": "; compare its fingerprint with theirs, then `keys verify {argument} "
                     "DEVICE` (or K, v), or distrust it",
    # no OMEMO device of theirs can be written to: send it in clear
    "omemo-clear": "; send it with --no-encrypt (or /omemo off) to send it in clear",
    # encrypted, and asked to go by email and by chat at once: one way, or in clear
    "one-way-or-clear": "; send it by email or by chat, or with --no-encrypt",
    # in clear, the history would carry decrypted text: encrypt it, or leave it out
    "encrypt-or-no-history": "; send it encrypted (--encrypt), or without --history",
}


class EncryptionRefused(EngineError):
    """Encryption was asked for and cannot be done (someone has no key, or the
    transport cannot be encrypted yet): nothing was sent, in clear or otherwise.
    `missing` names whom it could not be encrypted to; headless mode exits with
    its own code (bridge.headless.outcome.EXIT_ENCRYPTION).

    `reason` is what cannot be done, and why; `hint`, when there is one, what
    to do about it: the message (`str()`, what the command line prints) says it
    in the command line's words, after the reason, or before `why` when that is
    given apart (a cause added by a layer above: "(the conversation is
    encrypted)"), as the command line has always said it."""

    def __init__(self, reason: str, missing: Sequence[str] = (), *,
                 hint: Hint | None = None, why: str = "") -> None:
        self.missing = list(missing)
        self.reason = reason + why
        self.hint = hint
        super().__init__(reason + (hint.cli_words() if hint else "") + why)


# -- what became of a message that waits, in words ------------------------------------
# The outbox's states, its log and its tries as people read them: the outbox
# screen's table and log, the toasts and `tuiclient outbox` all say them through
# these, so a count or a time reads the same wherever it is shown. The raw names
# stay in the store, the event log and `--json`.

STATE_WORDS = {
    "queued": "waiting to be sent",
    "deferred": "deferred until they are available",
    "sending": "being sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "could not be sent",
    "cancelled": "cancelled",
    "fell-back-to-email": "sent by email instead",
    "fell-back-to-im": "sent by chat instead",
}
# The outbox log's own lines (besides a state's name), where the name is not words.
LOG_WORDS = {"created": "written", "state": "now", "retry": "tried again",
             "retry later": "not sent yet", "resend": "sent again",
             "transport down": "the server is out of reach"}
TRANSPORT_WORDS = {"xmpp": "chat message", "email": "email"}
_NEXT_TRY = re.compile(r";?\s*next try in (\d+(?:\.\d+)?)\s*(s|min|h)\b")
_UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0}
_ITEM = re.compile(r"\b(?:no )?outbox item \d+")
_RAW_STATE = re.compile(r"\b(fell-back-to-email|fell-back-to-im)\b")


def state_words(state: str) -> str:
    """One state of an outbox row ("fell-back-to-email"), in words."""
    return STATE_WORDS.get(state, state)


def plain_words(text: str) -> str:
    """`text` (a log detail, a refusal) without outbox row numbers and with
    state names in words."""
    text = _ITEM.sub(lambda m: "no such message" if m.group(0).startswith("no ")
                     else "this message", text)
    return _RAW_STATE.sub(lambda m: STATE_WORDS[m.group(1)], text)


def duration(seconds: float) -> str:
    """A wait as people say it: "40 s", "2 min", "3 h", "2 days"."""
    s = max(0.0, seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 36 * 3600:
        return f"{s / 3600:.0f} h"
    days = round(s / 86400)
    return f"{days} day{'s' * (days != 1)}"


def tries(count: int, next_in: float | None = None) -> str:
    """"tried 3 times, next try in 2 min": the one way a count of tries is said."""
    said = ("not tried yet" if count <= 0 else "tried once" if count == 1
            else f"tried {count} times")
    return said if next_in is None else f"{said}, next try in {duration(next_in)}"


def times_tried(item: OutboxItem) -> int:
    """How often a row was tried: each send (`attempts`) and each look at a
    deferred message's contact that found them still away (the plan's `retries`)."""
    try:
        retries = int(item.payload.get("retries", 0) or 0)
    except (TypeError, ValueError):
        retries = 0
    return item.attempts + retries


def item_tries(item: OutboxItem, now: float) -> str:
    """A row's tries, with its next one while it waits for one."""
    waits = item.state.value in ("queued", "deferred") and item.next_attempt is not None
    return tries(times_tried(item), item.next_attempt - now if waits and
                 item.next_attempt is not None else None)


def log_words(entries: Sequence[OutboxLogEntry]) -> list[tuple[OutboxLogEntry, str, str]]:
    """Each log line as (entry, what happened, detail), in words: a try that did
    not get through is counted ("tried 2 times, next try in 2 min") as the
    table and the toasts count it; a move says the state it moved to."""
    out = []
    count = 0
    for entry in entries:
        detail = plain_words(entry.detail)
        next_try = _NEXT_TRY.search(detail)
        if entry.event in ("retry", "retry later", "not by chat yet") and next_try:
            count += 1
            wait = float(next_try.group(1)) * _UNIT[next_try.group(2)]
            what = tries(count, wait)
            detail = _NEXT_TRY.sub("", detail).strip()
        elif entry.event == "state":
            what = "now " + state_words(detail.rsplit("-> ", 1)[-1].strip())
            detail = ""
        elif entry.event == "created":
            via, _, state = detail.partition(" ")
            what = f"written: {TRANSPORT_WORDS.get(via, via)}"
            detail = state_words(state)
        else:
            what = LOG_WORDS.get(entry.event) or state_words(entry.event)
            if next_try:  # some other line that names the next try
                wait = float(next_try.group(1)) * _UNIT[next_try.group(2)]
                detail = _NEXT_TRY.sub(f", next try in {duration(wait)}", detail)
        out.append((entry, what, detail))
    return out
