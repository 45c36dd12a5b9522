"""The engine: the one facade the app and headless mode talk to.

For now it knows the accounts and can probe their servers; sync, send, handoff and
the outbox grow here as their issues land. Blocking protocol work (imapclient,
smtplib) runs in threads, slixmpp on the caller's loop: the caller's loop never waits
on the network.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .config import AccountConfig, Config, SecretError, get_password
from .events import EventBus, HealthChanged
from .mail.connect import ConnectError, open_imap, open_smtp
from .paths import data_dir, ensure_private_dir
from .store import Store
from .xmpp.session import XmppLoginError, XmppSession


class Engine:
    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.events = EventBus()
        self.store = store or Store.open(default_store_path())
        self._sync_config_into_store()

    def _sync_config_into_store(self) -> None:
        for account in self.config.accounts:
            self.store.upsert_account(account.name, account.email, account.jid)
        for contact in self.config.contacts:
            self.store.add_contact(contact.name, contact.emails, contact.jids, source="config")

    def close(self) -> None:
        self.store.close()

    @property
    def accounts(self) -> tuple[AccountConfig, ...]:
        return self.config.accounts

    async def probe_all(self) -> list[HealthChanged]:
        """Log in to every configured server once and report what each said."""
        jobs = []
        for account in self.accounts:
            if account.imap:
                jobs.append(asyncio.to_thread(self._probe_imap, account))
            if account.smtp:
                jobs.append(asyncio.to_thread(self._probe_smtp, account))
            if account.xmpp:
                jobs.append(self._probe_xmpp(account))
        results = await asyncio.gather(*jobs)
        for result in results:
            self.events.publish(result)
        return list(results)

    def _probe_imap(self, account: AccountConfig) -> HealthChanged:
        assert account.imap is not None
        try:
            client = open_imap(
                account.imap, account.imap.username or account.email, get_password(account, "imap")
            )
        except (ConnectError, SecretError) as exc:
            return HealthChanged(account.name, "imap", False, str(exc))
        try:
            status = client.folder_status("INBOX", [b"MESSAGES", b"UNSEEN"])
            folders = len(client.list_folders())
        finally:
            client.logout()
        return HealthChanged(
            account.name,
            "imap",
            True,
            f"{folders} folders, INBOX {status[b'MESSAGES']} messages ({status[b'UNSEEN']} unread)",
        )

    def _probe_smtp(self, account: AccountConfig) -> HealthChanged:
        assert account.smtp is not None
        try:
            smtp = open_smtp(
                account.smtp, account.smtp.username or account.email, get_password(account, "smtp")
            )
        except (ConnectError, SecretError) as exc:
            return HealthChanged(account.name, "smtp", False, str(exc))
        smtp.quit()
        return HealthChanged(account.name, "smtp", True, "login ok")

    async def _probe_xmpp(self, account: AccountConfig) -> HealthChanged:
        assert account.xmpp is not None
        try:
            session = XmppSession(account.jid, get_password(account, "xmpp"), account.xmpp)
            await session.start(timeout=20)
        except (XmppLoginError, SecretError) as exc:
            return HealthChanged(account.name, "xmpp", False, str(exc))
        contacts = len([j for j in session.client_roster if j != session.boundjid.bare])
        await session.stop()
        return HealthChanged(
            account.name, "xmpp", True, f"online as {account.jid}, {contacts} contacts in roster"
        )


def default_store_path() -> Path:
    """The store under the XDG data folder, created owner-only."""
    return ensure_private_dir(data_dir()) / "store.db"
