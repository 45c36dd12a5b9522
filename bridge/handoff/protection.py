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
from collections.abc import Sequence

from ..config import Config
from ..crypto import outgoing
from ..crypto.preferences import Preferences
from ..crypto.reading import conversation_encrypted
from ..identity import Identity, normalize_email
from ..model import DRAFT, Transport
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


def requirement(config: Config, store: Store, identity: Identity, account: str,
                thread_id: str, people: Sequence[str],
                asked: outgoing.Protection | None = None) -> outgoing.Protection:
    """What a send in `thread_id` to `people` must be. `asked`: what the send
    verb requested (default: whatever the current send set)."""
    asked = outgoing.current() if asked is None else asked
    addresses = email_addresses(identity, people)
    preference = Preferences(store.path.parent).strongest(addresses)
    return outgoing.required(asked, default(config),
                             conversation_encrypted=thread_encrypted(store, account,
                                                                     thread_id),
                             preference=preference,
                             autocrypt=autocrypt_word(config, store, account, addresses))


def autocrypt_word(config: Config, store: Store, account: str,
                   addresses: Sequence[str]) -> str:
    """Autocrypt's recommendation for an email from `account` to `addresses`
    ("" when Autocrypt is off): bridge.crypto.autocrypt_mail.advice."""
    if not config.crypto.autocrypt or not addresses:
        return ""
    from ..crypto.autocrypt_mail import advice

    sender = next((a.email for a in config.accounts if a.name == account and a.email), "")
    found = advice(store.path.parent, sender, addresses) if sender else None
    return found.recommendation.value if found is not None else ""
