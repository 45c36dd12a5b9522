"""The engine's mail verbs: triage, attachments, forward, bounce, drafts.

A mixin of `bridge.engine.Engine`. Each verb is one call of the account's
`bridge.mail.actions.MailActions` (the engine's `mailbox`), which does the work
through the IMAP port and the outbox (but `save_attachments` of a chat line:
its linked files are fetched, bridge/chat_files.py); the names and signatures
here are what the front ends call.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

from .crypto import outgoing
from .crypto.reading import is_encrypted
from .errors import EngineError
from .events import TriageDone
from .model import FLAGGED, SEEN, Message, ThreadOrder, Transport

# A limit shows this many conversations at most, found among this many times
# as many matching messages (a thread of many hits counts once).
LIMIT_ROWS = 500
LIMIT_SPREAD = 10

if TYPE_CHECKING:
    from .config import AccountConfig, Config
    from .engine_ports import EnginePorts
    from .handoff.parties import ChatEmail
    from .handoff.reply import Handoff
    from .mail.actions import MailActions
    from .mail.body_text import Link
    from .mail.drafts import Addresses as DraftAddresses
    from .store import Store
    from .store.records import Thread


class MailVerbs:
    """What a user does to emails (a part of the Engine; see the module's doc)."""

    if TYPE_CHECKING:  # the engine's parts and calls these verbs go through
        config: Config
        ports: EnginePorts
        store: Store

        @property
        def mailbox(self) -> MailActions: ...

        @property
        def handoff(self) -> Handoff: ...

        def message(self, row_id: int) -> Message: ...

        def account(self, name: str | None = None) -> AccountConfig: ...

        async def fetch_body(self, row_id: int) -> Message: ...

        async def queue_email(self, account: str, mail: EmailMessage, msg_id: str) -> int: ...

        def search(self, query: str, limit: int = 50,
                   account: str | None = None) -> list[Message]: ...

        def thread(self, account: str, thread_id: str) -> Thread | None: ...

        def as_rooms(self, threads: list[Thread]) -> list[Thread]: ...

        def send_protection(self, account: str, to: Sequence[str], sign: bool | None = None,
                            encrypt: bool | None = None) -> outgoing.Protection: ...

        def timeline(self, account: str, thread_id: str) -> list[Message]: ...

    async def delete(self, row_ids: Sequence[int]) -> TriageDone:
        """To the Trash folder (SPECIAL-USE); expunged when the account's
        `expunge_deletes` says so, or when they are in Trash already."""
        return await self.mailbox.delete(row_ids)

    async def archive(self, row_ids: Sequence[int]) -> TriageDone:
        """To the account's `archive_folder`, else the server's \\Archive."""
        return await self.mailbox.archive(row_ids)

    async def move(self, row_ids: Sequence[int], folder: str) -> TriageDone:
        return await self.mailbox.move(row_ids, folder)

    async def copy(self, row_ids: Sequence[int], folder: str) -> TriageDone:
        return await self.mailbox.move(row_ids, folder, copy=True)

    async def flag(self, row_ids: Sequence[int], on: bool = True) -> TriageDone:
        """Set or clear \\Flagged (the star) on emails, on the server."""
        return await self.mailbox.flags(row_ids, *(([FLAGGED], []) if on else ([], [FLAGGED])))

    async def mark_read(self, row_ids: Sequence[int], read: bool = True) -> TriageDone:
        return await self.mailbox.flags(row_ids, *(([SEEN], []) if read else ([], [SEEN])))

    async def tag(self, row_ids: Sequence[int], add: Sequence[str] = (),
                  remove: Sequence[str] = ()) -> TriageDone:
        """Add and remove tags: IMAP keywords on the server, found by `tag:NAME`."""
        return await self.mailbox.tag(row_ids, add, remove)

    async def undo(self) -> TriageDone:
        """Reverse the newest triage action not undone yet (any process's)."""
        return await self.mailbox.undo()

    def conversations_matching(self, query: str, account: str | None = None,
                               limit: int = LIMIT_ROWS,
                               order: ThreadOrder | None = None) -> list[Thread]:
        """The conversations with a message that `query` (the search language:
        `from:bob is:unread`) finds, most recent first or in `order` (sorted by the
        store): the list under a limit, as mutt's `l`. A bad filter value raises
        QueryError."""
        found = {(m.account, m.thread_id)
                 for m in self.search(query, limit=limit * LIMIT_SPREAD, account=account)}
        return self.as_rooms(self.store.threads_in_order(found, order, limit))

    # -- a conversation, on this machine only (chats have no server folder) --------------

    def archive_conversation(self, account: str, thread_id: str) -> None:
        """Out of the lists until a new message comes in (a chat's archive: its
        lines stay in the store and on the server). LookupError if there is none."""
        if not self.store.hide_conversation(account, thread_id):
            raise LookupError(f"no conversation {thread_id!r}")

    def unarchive_conversation(self, account: str, thread_id: str) -> None:
        self.store.unhide_conversation(account, thread_id)

    def delete_conversation(self, account: str, thread_id: str) -> int:
        """Remove a chat conversation from this store (its lines, its place in the
        lists; the servers keep what they keep); how many lines went. Refused for
        one with emails on a server: those go to Trash with `delete`."""
        messages = self.timeline(account, thread_id)
        if not messages:
            raise LookupError(f"no conversation {thread_id!r}")
        if any(m.transport is Transport.EMAIL and m.uid is not None and m.uid > 0
               for m in messages):
            raise EngineError("This conversation has emails on the server: delete them "
                              "(to Trash) instead; its chat lines stay with them.")
        return self.store.delete_conversation(account, thread_id)

    def mute_conversation(self, account: str, thread_id: str, muted: bool = True) -> None:
        """No notifications for the conversation (or again, `muted=False`)."""
        self.store.set_muted(account, thread_id, muted)

    def muted_conversations(self) -> set[tuple[str, str]]:
        return self.store.muted_conversations()

    def conversation_hidden(self, account: str, thread_id: str) -> bool:
        """Whether it is archived or deleted here, with nothing newer since."""
        return self.store.is_hidden(account, thread_id)

    async def links(self, row_id: int) -> list[Link]:
        """The links of a message, urlscan's way: of an email's text and HTML parts
        (as the server holds it; its stored text when the server cannot be asked),
        of a chat line's text; each once, in order, with the words around it.
        Nothing is fetched from any link."""
        from .mail.body_text import links_in_text, links_of_parts, text_parts

        m = self.message(row_id)
        if m.transport is Transport.EMAIL and m.uid is not None and m.uid > 0:
            try:
                return links_of_parts(text_parts(await self.mailbox.raw(m)))
            except (EngineError, OSError):
                if not m.text:
                    m = await self.fetch_body(row_id)
        return links_in_text(m.text)

    async def save_attachments(self, row_id: int, positions: Sequence[int] | None = None,
                               directory: Path | None = None) -> list[Path]:
        """Save files of an email, or those a chat line links to (fetched over
        https, an OMEMO one opened: bridge.chat_files), into `directory` (else
        the account's downloads) under safe, new names; positions from 0 (None:
        every one)."""
        m = self.message(row_id)
        if m.transport is Transport.XMPP:
            from .chat_files import save_linked

            return await save_linked(self.store, self.account(m.account), m, positions,
                                     directory)
        return await self.mailbox.save(await self.fetch_body(row_id), positions, directory)

    async def forward(self, row_id: int, to: Sequence[str], text: str = "", *,
                      as_attachment: bool = False, files: Sequence[Path] = (),
                      sign: bool | None = None, encrypt: bool | None = None
                      ) -> tuple[str, int]:
        """Forward an email (its files kept); returns its msg id and outbox row.
        An encrypted email is forwarded decrypted (inline: its opened text and
        files; as attachment: the decrypted message as message/rfc822), and the
        forward goes through the one protection decision (`forward_protection`):
        encrypted by default, refused naming who (EncryptionRefused, nothing
        queued) when someone has no key, in clear only when the user says so."""
        original = self.message(row_id)
        raw = await self.mailbox.raw(original)
        carried, protection = await self._forwardable([original], [raw], to, sign, encrypt)
        with outgoing.requested(protection):
            return await self.mailbox.forward(original, to, text, as_attachment=as_attachment,
                                              files=files, raw=carried[0])

    async def forward_several(self, row_ids: Sequence[int], to: Sequence[str], text: str = "",
                              *, files: Sequence[Path] = (), sign: bool | None = None,
                              encrypt: bool | None = None) -> tuple[str, int]:
        """Forward several emails of one account as one, each attached as
        message/rfc822 (mutt's mime_forward of tagged messages); encrypted ones
        decrypted and the forward protected as `forward` says."""
        originals = [self.message(r) for r in row_ids]
        raws = [await self.mailbox.raw(m) for m in originals]
        carried, protection = await self._forwardable(originals, raws, to, sign, encrypt)
        with outgoing.requested(protection):
            return await self.mailbox.forward_several(originals, to, text, files=files,
                                                      raws=carried)

    def forward_protection(self, row_ids: Sequence[int], to: Sequence[str],
                           sign: bool | None = None, encrypt: bool | None = None
                           ) -> outgoing.Protection:
        """What a forward of `row_ids` to `to` must be: a new email's decision
        (the user's choice, a contact's preference, Autocrypt, the [crypto]
        defaults), made encrypted when an email it carries came encrypted and the
        user did not choose clear. The forward screen starts its OpenPGP line
        from it."""
        originals = [self.message(r) for r in row_ids]
        return self._forward_decision(originals[0].account if originals else "", to,
                                      any(is_encrypted(m) for m in originals), sign, encrypt)

    def _forward_decision(self, account: str, to: Sequence[str], encrypted: bool,
                          sign: bool | None, encrypt: bool | None) -> outgoing.Protection:
        decided = self.send_protection(account, list(to), sign, encrypt)
        if encrypted and not decided.explicit and not decided.encrypt:
            decided = dataclasses.replace(
                decided, encrypt=True, why=outgoing.FORWARDED,
                sign=decided.sign or self.config.autocrypt_on(account))
        return decided

    async def _forwardable(self, originals: Sequence[Message], raws: Sequence[bytes],
                           to: Sequence[str], sign: bool | None, encrypt: bool | None
                           ) -> tuple[list[bytes], outgoing.Protection]:
        """The bytes each forwarded email is carried as (an encrypted one
        decrypted: its ciphertext is for us, not for the new recipients), and
        what the forward must be."""
        from .crypto.openpgp import OpenPGP, OpenPGPError
        from .crypto.unsealed import decrypted_email, is_encrypted_raw

        encrypted = [is_encrypted(m) or is_encrypted_raw(raw) for m, raw in
                     zip(originals, raws, strict=True)]
        protection = self._forward_decision(originals[0].account, to, any(encrypted),
                                            sign, encrypt)
        port = OpenPGP(self.config.crypto.gnupg_home)
        carried = []
        for raw, sealed in zip(raws, encrypted, strict=True):
            if not sealed:
                carried.append(raw)
                continue
            try:
                opened = await asyncio.to_thread(decrypted_email, raw, port)
            except OpenPGPError as exc:
                raise EngineError(f"Not forwarded: the encrypted email cannot be "
                                  f"decrypted here ({exc}), and its ciphertext is of no "
                                  "use to its new recipients: forward it from where "
                                  "your secret key is.") from exc
            carried.append(opened if opened is not None else raw)
        return carried, protection

    async def bounce(self, row_id: int, to: Sequence[str]) -> tuple[str, int]:
        """Redirect an email as it is, under Resent-* fields."""
        return await self.mailbox.bounce(self.message(row_id), to)

    async def draft_save(self, account: str, to: Sequence[str], subject: str, text: str, *,
                         cc: Sequence[str] = (), files: Sequence[Path] = (),
                         replaces: int | None = None, in_reply_to: str | None = None,
                         references: Sequence[str] = (),
                         answering: int | None = None, bcc: Sequence[str] = (),
                         sender: str | None = None,
                         forwarding: Sequence[int] = ()) -> Message:
        """Postpone a message into the account's Drafts folder on the server. A
        reply's draft keeps its thread: `in_reply_to` and `references`, or the row
        of the message it is `answering` (see MailActions.draft_save; a chat
        line's: the email chain a reply by email to it goes into, and its people's
        mapped addresses when no To is given: `chat_email`); its Bcc is kept in
        it, `sender` is its From (one of the account's addresses). A forward's
        draft carries each email of `forwarding` whole, as message/rfc822 parts
        (the bytes the server holds: an encrypted one stays encrypted), its
        subject "Fwd: ..." when none is given: resumed and sent, it is a forward
        as an attachment."""
        if answering is not None and self.message(answering).transport is Transport.XMPP:
            link = self.chat_email(answering)
            to = list(to) or ([] if cc else link.to)
            subject = subject or link.subject
            in_reply_to = in_reply_to or link.in_reply_to or None
            references = list(references) or link.references
            answering = None
        raws = [await self.mailbox.raw(self.message(row)) for row in forwarding]
        return await self.mailbox.draft_save(account, to, subject, text, cc=cc, files=files,
                                             replaces=replaces, in_reply_to=in_reply_to,
                                             references=references, answering=answering,
                                             bcc=bcc, sender=sender, forwarding=raws)

    def chat_email(self, row_id: int, reply_all: bool = False) -> ChatEmail:
        """An email answering the chat line `row_id`: its people's mapped email
        addresses (and who has none), its subject and threading; what its draft
        is saved with (bridge.handoff.parties.Parties.chat_email)."""
        return self.handoff.parties.chat_email(self.message(row_id), reply_all)

    async def draft_addresses(self, row_id: int) -> DraftAddresses:
        """A draft's From, To, Cc and Bcc as they are on the server."""
        return await self.mailbox.draft_addresses(row_id)

    async def draft_files(self, row_id: int, directory: Path) -> list[Path]:
        """A draft's files, from the server, written into `directory`: what a
        resumed draft attaches again (see MailActions.draft_files)."""
        return await self.mailbox.draft_files(row_id, directory)

    async def draft_discard(self, row_id: int) -> None:
        """Delete a draft for good (sent another way, as a resumed reply is)."""
        await self.mailbox.draft_discard(row_id)

    async def drafts(self, account: str) -> list[Message]:
        return await self.mailbox.drafts(account)

    async def draft_send(self, row_id: int) -> tuple[str, int]:
        """Send a draft as it is on the server; it leaves Drafts once queued."""
        return await self.mailbox.draft_send(row_id)

    async def _send_mail(self, account: str, mail: EmailMessage | bytes, msg_id: str,
                         recipients: Sequence[str] | None) -> int:
        if isinstance(mail, EmailMessage):
            return await self.queue_email(account, mail, msg_id)
        port = self.ports.mail(account)
        outbox_id = port.sender.queue_raw(mail, list(recipients or ()), msg_id)
        await port.send_due()
        return outbox_id
