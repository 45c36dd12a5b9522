"""What a reply gives back: `ReplyResult` (what a reply or a handoff sent) and
`ReplyFields` (what a reply by email starts from).

Light on purpose: the engine and the app import these types at start-up, and
nothing here loads the handoff's policy (reply.py: the `Handoff`, with the MIME
builder, the crypto planning and the parties' rules behind it), which the first
frame does not need (issue 22, row 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model import Message, Party

if TYPE_CHECKING:
    from ..identity import Resolution


@dataclass
class ReplyResult:
    """What a reply or handoff sent: chat messages, queued emails, the room used."""

    via: str
    chat: list[Message] = field(default_factory=list)
    emails: list[int] = field(default_factory=list)  # outbox ids
    email_ids: list[str] = field(default_factory=list)  # their message ids
    room: str | None = None
    outbox: list[int] = field(default_factory=list)  # chat legs' outbox rows
    deferred: bool = False
    thread_id: str = ""
    mapped: dict[str, str] = field(default_factory=dict)
    unmapped: list[Resolution] = field(default_factory=list)


@dataclass(frozen=True)
class ReplyFields:
    """What a reply by email to an email starts from, for an editor to show and
    the user to change: its To and Cc (the Reply-To/From rule, reply-all's
    others) and the quoted original, as mutt quotes it."""

    to: list[Party]
    cc: list[Party]
    quote: str
