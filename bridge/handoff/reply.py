"""What a reply is, as its callers see it: the result of one (`ReplyResult`),
what a reply by email starts from (`ReplyFields`), and who an email of an
account is from (`sender_party`, `domain_of`).

Light on purpose: the engine, the outbox and the app's widgets import these
names at start-up, and nothing here loads the handoff's policy (`policy.py`:
the `Handoff`, with the MIME builder, the crypto planning and the parties'
rules behind it; issue 22, rows 1 and 6). The `Handoff` lived here before;
it is importable from the package (`from bridge.handoff import Handoff`), as
it always was, and loaded on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import errors as refuse
from ..errors import EngineError
from ..model import Message, Party

if TYPE_CHECKING:
    from ..config import AccountConfig
    from ..identity import Resolution

__all__ = ["ReplyFields", "ReplyResult", "domain_of", "sender_party"]


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


def domain_of(account: AccountConfig) -> str:
    address = account.email or account.jid or "tuiclient.invalid"
    return address.rpartition("@")[2]


def sender_party(account: AccountConfig, answering: Message | None = None,
                 chosen: str | None = None) -> Party:
    """Who an email of `account` is from: `chosen` (one of its addresses, else
    EngineError), or when `answering` an email sent to one of the account's
    aliases, that alias (as mutt's reverse_name)."""
    # The address rules live with the message builder (bridge.mail.compose),
    # which loads the email package's policies: imported when an email is made.
    from ..mail.compose import chosen_address, own_address

    if not account.email:
        raise EngineError(refuse.no_email_address(account.name))
    own = [account.email, *account.aliases]
    if chosen:
        try:
            return Party(chosen_address(own, chosen), account.display_name or "", "from")
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
    address = own_address(own, answering) or account.email
    return Party(address, account.display_name or "", "from")

