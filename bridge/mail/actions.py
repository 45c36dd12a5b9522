"""The user's mail actions behind the engine's methods of the same names:
triage (delete, archive, move, copy, flags, tags, undo), saving attachments,
forward, bounce and drafts.

The engine wires it with two doors of its own: `run(account, job)` runs a job on
the account's on-demand IMAP connection in a thread, `send(account, mail,
msg_id, recipients)` puts an email in the outbox (an EmailMessage, or the bytes
of a bounce with its envelope recipients). Every triage action is published as
a `TriageDone` event, which the event log keeps: `undo` reverses the newest one
not yet undone, from this process or any other on the same store.
"""

from __future__ import annotations

import email.parser
import email.policy
import mimetypes
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Any, TypeVar

from ..config import AccountConfig
from ..errors import EngineError, no_email_address
from ..events import EventBus, TriageDone
from ..model import Message, Party, Transport, new_message_id
from ..paths import default_downloads
from ..store import Store
from . import drafts, triage
from .compose import (
    bounce_bytes,
    build_email,
    chosen_address,
    forward_email,
    forward_several,
    forward_subject,
    own_address,
    reply_headers,
    with_signature,
)
from .sync import MailSync
from .triage import Done, Place, TriageError

T = TypeVar("T")
Run = Callable[[str, Callable[[MailSync], Any]], Awaitable[Any]]
Send = Callable[[str, "EmailMessage | bytes", str, Sequence[str] | None], Awaitable[int]]
# How far back `undo` looks for an action not yet undone.
UNDO_DEPTH = 200


def _files(paths: Sequence[Path]) -> list[tuple[str, str, bytes]]:
    out = []
    for path in paths:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        out.append((path.name, kind, Path(path).read_bytes()))
    return out


def _typed(addresses: Sequence[str]) -> list[Party]:
    """Addresses as a person types them (`"Doe, Jo" <jo@x>`, `bob@y`), parsed by the
    stdlib's getaddresses: the name kept for the header, a comma in it no split."""
    return [Party(address, name, "to") for name, address in getaddresses(list(addresses))
            if address]


class MailActions:
    def __init__(self, store: Store, events: EventBus,
                 account: Callable[[str], AccountConfig], run: Run, send: Send) -> None:
        self.store = store
        self.events = events
        self.account = account
        self.run = run
        self.send = send

    # -- triage ------------------------------------------------------------------------

    def places(self, row_ids: Sequence[int]) -> tuple[str, list[Place]]:
        """The IMAP places of emails of one account."""
        messages = []
        for row in dict.fromkeys(row_ids):
            m = self.store.get_message(row)
            if m is None:
                raise EngineError(f"no message {row}")
            if m.transport is not Transport.EMAIL or m.folder is None or m.uid is None \
                    or m.uid < 0:
                raise EngineError(f"message {row} is not an email on the IMAP server")
            messages.append(m)
        if not messages:
            raise EngineError("no message given")
        accounts = {m.account for m in messages}
        if len(accounts) > 1:
            raise EngineError("these messages belong to several accounts: "
                              f"{', '.join(sorted(accounts))}; act on one at a time")
        return accounts.pop(), [Place(m.id or 0, m.folder or "", m.uid or 0)
                                for m in messages]

    async def _imap(self, account: str, job: Callable[[MailSync], T]) -> T:
        def guarded(sync: MailSync) -> T:
            try:
                return job(sync)
            except TriageError as exc:
                raise EngineError(f"{account}: {exc}") from exc
        result: T = await self.run(account, guarded)
        return result

    async def triage(self, row_ids: Sequence[int],
                     job: Callable[[MailSync, list[Place]], Done]) -> TriageDone:
        account, places = self.places(row_ids)
        done = await self._imap(account, lambda s: job(s, places))
        return self._tell(done)

    def _tell(self, done: Done, undoes: str | None = None) -> TriageDone:
        event = TriageDone(done.account, done.action, done.rows, done.to_json(),
                           uuid.uuid4().hex, undoes)
        self.events.publish(event)
        return event

    async def delete(self, row_ids: Sequence[int]) -> TriageDone:
        account, _ = self.places(row_ids)
        expunge = self.account(account).expunge_deletes
        return await self.triage(row_ids, lambda s, p: triage.delete(s, p, expunge_now=expunge))

    async def archive(self, row_ids: Sequence[int]) -> TriageDone:
        account, _ = self.places(row_ids)
        folder = self.account(account).archive_folder
        return await self.triage(row_ids, lambda s, p: triage.archive(s, p, folder))

    async def move(self, row_ids: Sequence[int], folder: str, *,
                   copy: bool = False) -> TriageDone:
        return await self.triage(row_ids, lambda s, p: triage.move(s, p, folder, copy=copy))

    async def flags(self, row_ids: Sequence[int], add: Sequence[str] = (),
                    remove: Sequence[str] = (), action: str = "flags") -> TriageDone:
        return await self.triage(
            row_ids, lambda s, p: triage.set_flags(s, p, add, remove, action=action))

    async def tag(self, row_ids: Sequence[int], add: Sequence[str] = (),
                  remove: Sequence[str] = ()) -> TriageDone:
        try:
            add = [triage.check_keyword(t) for t in add]
            remove = [triage.check_keyword(t) for t in remove]
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        return await self.flags(row_ids, add, remove, action="tag")

    def last_undoable(self) -> dict[str, Any] | None:
        """The newest triage action not undone yet (its TriageDone payload)."""
        undone: set[str] = set()
        for event in self.store.newest_events("TriageDone", UNDO_DEPTH):
            payload = event.payload
            if payload.get("undoes"):
                undone.add(payload["undoes"])
            elif payload.get("token") not in undone:
                return payload
        return None

    async def undo(self) -> TriageDone:
        payload = self.last_undoable()
        if payload is None:
            raise EngineError("nothing to undo")
        done = Done.from_json(payload["done"])
        back = await self._imap(done.account, lambda s: triage.undo(s, done))
        return self._tell(back, undoes=payload["token"])

    # -- attachments -------------------------------------------------------------------

    async def save(self, m: Message, positions: Sequence[int] | None,
                   directory: Path | None) -> list[Path]:
        """Save the files of an email (positions from 0; None: all) into `directory`
        (else the account's `downloads`, else ~/Downloads) under safe, new names."""
        if m.transport is not Transport.EMAIL or m.id is None:
            raise EngineError(f"message {m.id} is not an email: its files are links")
        if not m.attachments:
            raise EngineError(f"message {m.id} has no attachments")
        wanted = range(len(m.attachments)) if positions is None else positions
        for pos in wanted:
            if not 0 <= pos < len(m.attachments):
                raise EngineError(f"message {m.id} has attachments 1 to {len(m.attachments)}, "
                                  f"not {pos + 1}")
        target = directory or self.account(m.account).downloads or default_downloads()
        row = m.id
        saved: list[Path] = []
        for pos in wanted:
            def job(sync: MailSync, p: int = pos) -> Path:
                return sync.save_attachment(row, p, target)
            saved.append(await self._imap(m.account, job))
        return saved

    # -- forward, bounce ---------------------------------------------------------------

    def _me(self, cfg: AccountConfig, answering: Message | None = None,
            chosen: str | None = None) -> Party:
        """Our From: `chosen` (one of the account's addresses, else EngineError), else
        the alias `answering` was sent to, else the account's address."""
        if not cfg.email:
            raise EngineError(no_email_address(cfg.name))
        own = [cfg.email, *cfg.aliases]
        if chosen:
            try:
                return Party(chosen_address(own, chosen), cfg.display_name or "")
            except ValueError as exc:
                raise EngineError(str(exc)) from exc
        address = own_address(own, answering) or cfg.email
        return Party(address, cfg.display_name or "")

    def _new_id(self, cfg: AccountConfig) -> str:
        return new_message_id((cfg.email or "tuiclient.invalid").rpartition("@")[2])

    async def raw(self, m: Message) -> bytes:
        """The email as the server holds it (for the link list's HTML parts)."""
        return await self._raw(m)

    async def _raw(self, m: Message) -> bytes:
        if m.transport is not Transport.EMAIL or m.id is None:
            raise EngineError(f"message {m.id} is not an email")
        row = m.id
        raw, _place = await self._imap(m.account, lambda s: drafts.fetch_raw(s, row))
        return raw

    async def forward(self, m: Message, to: Sequence[str], text: str = "", *,
                      as_attachment: bool = False, files: Sequence[Path] = (),
                      raw: bytes | None = None) -> tuple[str, int]:
        """`raw`: the email to forward as it is to be carried (an encrypted one
        decrypted, bridge.crypto.unsealed); None: as the server holds it."""
        cfg = self.account(m.account)
        raw = await self._raw(m) if raw is None else raw
        msg_id = self._new_id(cfg)
        mail = forward_email(raw, self._me(cfg, m), _typed(to), with_signature(text, cfg.signature),
                             msg_id=msg_id, as_attachment=as_attachment,
                             attachments=_files(files))
        return msg_id, await self.send(cfg.name, mail, msg_id, None)

    async def forward_several(self, ms: Sequence[Message], to: Sequence[str], text: str = "",
                              *, files: Sequence[Path] = (),
                              raws: Sequence[bytes] | None = None) -> tuple[str, int]:
        """One email carrying every message of `ms` as message/rfc822 (see
        compose.forward_several), from the account of the first; every one must
        be of that account (a From for mail of another would be a guess).
        `raws`: their bytes as they are to be carried (as `forward`'s `raw`)."""
        if not ms:
            raise EngineError("nothing to forward")
        cfg = self.account(ms[0].account)
        if any(m.account != cfg.name for m in ms):
            raise EngineError("the messages are in several accounts: forward them "
                              "one account at a time")
        if raws is None:
            raws = [await self._raw(m) for m in ms]
        msg_id = self._new_id(cfg)
        mail = forward_several(raws, self._me(cfg, ms[0]), _typed(to),
                               with_signature(text, cfg.signature), msg_id=msg_id,
                               attachments=_files(files))
        return msg_id, await self.send(cfg.name, mail, msg_id, None)

    async def bounce(self, m: Message, to: Sequence[str]) -> tuple[str, int]:
        cfg = self.account(m.account)
        raw = await self._raw(m)
        msg_id = self._new_id(cfg)
        parties = _typed(to)
        bounced = bounce_bytes(raw, self._me(cfg, m), parties, msg_id=msg_id)
        return msg_id, await self.send(cfg.name, bounced, msg_id,
                                       [p.address for p in parties])

    # -- drafts ------------------------------------------------------------------------

    async def draft_save(self, account: str, to: Sequence[str], subject: str, text: str, *,
                         cc: Sequence[str] = (), files: Sequence[Path] = (),
                         replaces: int | None = None, in_reply_to: str | None = None,
                         references: Sequence[str] = (),
                         answering: int | None = None, bcc: Sequence[str] = (),
                         sender: str | None = None,
                         forwarding: Sequence[bytes] = ()) -> Message:
        """APPEND a draft to Drafts. A reply's draft keeps its threading: given as
        `in_reply_to` and `references` (Message-IDs), or read from the message it
        is `answering` (a row: as a reply to it would carry them; its To, Cc and
        "Re:" subject too when none are given). Sent later, from any machine, it
        lands in the same thread in every client. Its Bcc stays in the draft's
        header (as mutt's postponed mail keeps it; the sender takes it out when it
        goes), and `sender` is its From, one of the account's addresses. A
        forward's draft carries each email of `forwarding` (its bytes) whole, as
        a message/rfc822 part after the files, as `forward_several` does."""
        cfg = self.account(account)
        if answering is not None:
            original = self.store.get_message(answering)
            if original is None:
                raise EngineError(f"no message {answering}")
            h = reply_headers(original, [a for a in (cfg.email, *cfg.aliases) if a], False)
            in_reply_to = in_reply_to or h.in_reply_to or None
            references = list(references) or h.references
            if not to and not cc:
                to, cc = [p.address for p in h.to], [p.address for p in h.cc]
            subject = subject or h.subject
        else:
            original = None
        if in_reply_to and not references:
            references = [in_reply_to]
        if forwarding and not subject:
            first = email.parser.BytesParser(policy=email.policy.default).parsebytes(
                forwarding[0], headersonly=True)
            subject = forward_subject(str(first.get("Subject", "")))
        mail = build_email(self._me(cfg, original, sender), _typed(to), _typed(cc), subject,
                           with_signature(text, cfg.signature), msg_id=self._new_id(cfg),
                           in_reply_to=in_reply_to, references=references,
                           attachments=_files(files), bcc=_typed(bcc))
        for raw in forwarding:
            mail.add_attachment(email.parser.BytesParser(policy=email.policy.default)
                                .parsebytes(raw), disposition="attachment")
        old = None
        if replaces is not None:
            _acct, (old,) = self.places([replaces])
        return await self._imap(cfg.name, lambda s: drafts.save(s, mail, replaces=old))

    async def draft_discard(self, row_id: int) -> None:
        """Delete a draft from Drafts for good (it was sent some other way: a
        resumed reply goes as a reply, with the thread's history and files)."""
        account, (place,) = self.places([row_id])
        await self._imap(account, lambda s: triage.expunge(s, [place]))

    async def draft_files(self, row_id: int, directory: Path) -> list[Path]:
        """The files of a draft as the server holds them (its MIME parts), each
        written into `directory` (private: 0700) under a safe name: what a
        resumed draft attaches again, as mutt's postponed mail brings its
        attachments back in temporary files. Not the paths they were attached
        from: those may be gone."""
        account, _ = self.places([row_id])

        def job(s: MailSync) -> list[Path]:
            s.fetch_body(row_id)
            m = self.store.get_message(row_id)
            count = len(m.attachments) if m is not None else 0
            return [s.save_attachment(row_id, i, directory) for i in range(count)]
        return await self._imap(account, job)

    async def draft_addresses(self, row_id: int) -> drafts.Addresses:
        """A draft's From, To, Cc and Bcc as the server holds them (the store
        keeps no Bcc): what a resumed draft's fields start from."""
        account, _ = self.places([row_id])
        return await self._imap(account, lambda s: drafts.addresses(s, row_id))

    async def drafts(self, account: str) -> list[Message]:
        return await self._imap(account, drafts.listing)

    async def draft_send(self, row_id: int) -> tuple[str, int]:
        account, _ = self.places([row_id])
        mail, place = await self._imap(account, lambda s: drafts.load(s, row_id))
        del mail["Date"]
        mail["Date"] = format_datetime(datetime.now(UTC))
        msg_id = str(mail.get("Message-ID", "")).strip().strip("<>") or \
            self._new_id(self.account(account))
        outbox_id = await self.send(account, mail, msg_id, None)
        await self._imap(account, lambda s: triage.expunge(s, [place]))
        return msg_id, outbox_id
