"""What a send must be (signed, encrypted), decided once when it is planned.

The handoff's part of "nothing is ever sent in clear silently": the outbox keeps
this decision in each chat row (`payload["protection"]`), and every email the row
later becomes is sealed as it says (bridge.crypto.outgoing). The decision reads
the conversation (encrypted when its last email was), the contacts' preferences
(`keys prefer`) and the [crypto] defaults; the rule itself is
`bridge.crypto.outgoing.required`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any

from ..config import Config
from ..crypto import outgoing, preferences
from ..crypto.preferences import Preferences
from ..crypto.reading import conversation_encrypted
from ..identity import Identity, normalize_email
from ..model import DRAFT, ImPlan, Transport
from ..ports import Ports
from ..store import Store


def default(config: Config) -> outgoing.Protection:
    policy = config.crypto
    return outgoing.Protection(sign=policy.sign, encrypt=policy.encrypt,
                               home=policy.gnupg_home)


def thread_encrypted(store: Store, account: str, thread_id: str) -> bool:
    """Whether the conversation's last email was encrypted. A thread with no email
    is answered without loading its lines (a chat line is planned often)."""
    thread = store.get_thread(account, thread_id)
    if thread is None or Transport.EMAIL not in thread.transports:
        return False
    return conversation_encrypted(store.thread_messages(thread_id, account))


async def open_last_email(store: Store, ports: Ports, account: str, thread_id: str) -> None:
    """Make the store hold the body of the conversation's last email, so that
    `thread_encrypted` can tell (header sync alone does not say whether an email
    is encrypted). A fetch that fails leaves it unknown: the fallbacks look again
    before they send (bridge.outbox), and only ever to add encryption."""
    thread = store.get_thread(account, thread_id)
    if thread is None or Transport.EMAIL not in thread.transports:
        return
    emails = [m for m in store.thread_messages(thread_id, account)
              if m.transport is Transport.EMAIL and DRAFT not in m.flags]
    if not emails:
        return
    last = max(emails, key=lambda m: (m.date, m.id or 0))
    if last.id is None or last.uid is None or store.has_body(last.id):
        return
    with contextlib.suppress(Exception):  # offline, no IMAP: unknown for now
        await ports.mail(account).fetch_body(last.id)


def email_addresses(identity: Identity, people: Sequence[str]) -> list[str]:
    """The email addresses of `people` (JIDs through the contacts' mapping)."""
    found = []
    for who in people:
        if not who:
            continue
        mapped = identity.email_for(who).address
        found.append(mapped or normalize_email(who) or who.lower())
    return found


def chat_addresses(identity: Identity, people: Sequence[str]) -> list[str]:
    """The JIDs of `people` (email addresses through the contacts' mapping)."""
    found = []
    for who in people:
        if not who:
            continue
        mapped = identity.jid_for(who).address if "@" in who else ""
        found.append((mapped or who).partition("/")[0].lower())
    return found


def omemo_conversation(store: Store, account: str, thread_id: str) -> bool:
    """Whether the conversation's last chat line was OMEMO-encrypted."""
    status = store.last_chat_crypto(account, thread_id) if thread_id else None
    return status is not None and status.omemo


def requirement(config: Config, store: Store, identity: Identity, account: str,
                thread_id: str, people: Sequence[str],
                asked: outgoing.Protection | None = None, *,
                chat: bool = True) -> outgoing.Protection:
    """What a send in `thread_id` to `people` must be, its chat leg included
    (`Protection.omemo`). `asked`: what the send verb requested (default:
    whatever the current send set). `chat`: a chat leg is planned (a line, and
    the emails it may become); an email of its own does not follow the OMEMO
    switch (/omemo on|off), only the conversation."""
    asked = outgoing.current() if asked is None else asked
    addresses = email_addresses(identity, people)
    preference = Preferences(store.path.parent).strongest(addresses)
    chat_preference = preferences.chat(store.path.parent).strongest(
        chat_addresses(identity, people)) if chat else ""
    return outgoing.required(asked, default(config),
                             conversation_encrypted=thread_encrypted(store, account,
                                                                     thread_id),
                             preference=preference,
                             omemo_conversation=omemo_conversation(store, account, thread_id),
                             chat_preference=chat_preference,
                             autocrypt=autocrypt_word(config, store, account, addresses))


def autocrypt_word(config: Config, store: Store, account: str,
                   addresses: Sequence[str]) -> str:
    """Autocrypt's recommendation for an email from `account` to `addresses`
    ("" when Autocrypt is off): bridge.crypto.autocrypt_mail.advice."""
    if not config.autocrypt_on(account) or not addresses:
        return ""
    from ..crypto.autocrypt_mail import advice

    sender = next((a.email for a in config.accounts if a.name == account and a.email), "")
    found = advice(store.path.parent, sender, addresses) if sender else None
    return found.recommendation.value if found is not None else ""


def chat_leg(plan: ImPlan, payload: dict[str, Any]) -> ImPlan:
    """The chat leg of an outbox row, OMEMO-encrypted when its row was planned so
    (`payload["protection"]`, see `requirement`)."""
    kept = outgoing.Protection.from_payload(payload.get("protection"), None)
    if kept is None or not kept.omemo or plan.encrypt:
        return plan
    return dataclasses.replace(plan, encrypt=True)
