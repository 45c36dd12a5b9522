"""The engine's reads over the store alone, for a command that only reads it.

`Reader` is `EngineReads` (bridge/engine_reads.py: the same methods, the same
answers) over a store and the identity layer, and nothing else: no transports,
outbox, handoff or health monitor, so none of their modules (the reply and
compose code, the outbox's state machine, the protocol libraries) is imported.
Headless mode serves `list`, `search`, `show --no-fetch` and `outbox list` with
it (bridge/headless/reads.py), so those whole processes pay for what they read
(issue 22, "instant commands"; tests/test_headless_fast_paths.py checks what
they load).

What the engine's constructor does to the store and the identity layer before
anything is read is here too (`default_store_path`, `sync_config_into_store`,
`dual_domains`), and `bridge.engine` uses the same functions: a Reader answers as
the Engine of the same config and store would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .config import AccountConfig, Config
from .engine_reads import EngineReads
from .model import Message
from .paths import data_dir, ensure_private_dir
from .store import Store

if TYPE_CHECKING:
    from .identity import Identity
    from .store import Reaction


def default_store_path() -> Path:
    """The store under the XDG data folder, created owner-only."""
    return ensure_private_dir(data_dir()) / "store.db"


def sync_config_into_store(config: Config, store: Store) -> None:
    """The config's accounts and contacts, written into the store (as each engine
    does when it is made)."""
    for account in config.accounts:
        store.upsert_account(account.name, account.email, account.jid)
    for contact in config.contacts:
        store.add_contact(contact.name, contact.emails, contact.jids, source="config")
    store.index_sealed = config.crypto.index_decrypted


def dual_domains(config: Config) -> Iterator[str]:
    """"A JID equal to an email address on a server that has both": the domains
    where an account's email and JID share the server."""
    for account in config.accounts:
        if account.email and account.jid and \
                account.email.rpartition("@")[2].lower() == \
                account.jid.rpartition("@")[2].lower():
            yield account.email.rpartition("@")[2].lower()


class Reader(EngineReads):
    """The engine's reads, over the store only (see the module's doc). Calls that
    need a transport or the handoff (a body fetched, a timeline) are the
    Engine's: a command that makes them is served by one."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store or Store.open(default_store_path())
        self.xmpp = {}  # never online: presence reads answer "unknown"
        sync_config_into_store(config, self.store)

    @cached_property
    def identity(self) -> Identity:  # type: ignore[override]  # the Engine's attribute, made on first use here
        """The identity layer, as the Engine sets it up; made (and its module
        imported) by the first read that asks who is who: `list` and `search`
        need none of it."""
        from .identity import Identity

        identity = Identity(self.config, self.store, roster_named=self._roster_named)
        identity.dual_domains.update(dual_domains(self.config))
        return identity

    @property
    def accounts(self) -> tuple[AccountConfig, ...]:
        return self.config.accounts

    def timeline(self, account: str, thread_id: str, *,
                 copies: bool = False) -> list[Message]:
        # What Handoff.timeline does, without the handoff (its store read,
        # bridge/handoff/reads.py); then as EngineReads.timeline (an OpenPGP email
        # this process did not open shows with no text). tests/test_reader.py holds
        # the two to the same answers.
        from .handoff import reads

        return [self._as_opened(m) for m in reads.timeline(self.store, account, thread_id,
                                                            copies=copies)]

    def reactions(self, row_ids: Sequence[int]) -> dict[int, list[Reaction]]:
        """Who reacted to these lines, and with what (the Engine's, engine_chat.py)."""
        return self.store.reactions(list(row_ids))

    def _catch_up_index(self) -> None:
        # What Handoff.catch_up_index does, without the handoff.
        from .handoff import reads

        reads.catch_up_index(self.store)

    async def stop(self) -> None:
        """Nothing runs (the Engine's `stop`, for a host that calls it)."""

    def close(self) -> None:
        self.store.close()
