"""Reply by email or by IM to any message, and move a conversation between them.

The handoff's policy, in one place: who a reply goes to (bridge.handoff.parties),
what goes along (history as a digest or a transcript, the chosen files), the
one "auto" rule (bridge.handoff.auto), what happens when a contact is away
(ask, send, defer, or email), and the fallbacks the outbox uses (a chat leg as
an email, a queued email as chat legs). It receives the store, the identity,
the transports' ports and the outbox's `submit`; it never imports the engine,
which hands its calls through.

Each chat leg is an `ImPlan` with every id fixed before anything is sent; each
email is a finished message queued in the outbox first (see bridge.delivery).

Over 600 lines: the four directions (email->IM, IM->email, new message, the
outbox's fallbacks) share the thread, parties and files code above them; their
text and parties helpers already live in text.py and parties.py. What a reply
gives back (`ReplyResult`, `ReplyFields`) is in results.py and what the handoff
reads of the store in reads.py: the engine imports those at start-up without
this module, and builds its `Handoff` on first use (issue 22, row 6).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol

from .. import errors as refuse
from ..config import AccountConfig, Config
from ..crypto import outgoing
from ..errors import WHEN_AWAY, ContactAway, EncryptionRefused, EngineError, describe_presence
from ..identity import Identity, UnmappedParty, normalize_email, normalize_jid
from ..mail.compose import (
    build_email,
    chosen_address,
    own_address,
    reply_headers,
    reply_subject,
    with_signature,
)
from ..mail.mime import parse_message, to_message
from ..model import (
    ContactPresence,
    Direction,
    ImPlan,
    Message,
    OutboxItem,
    Party,
    Transport,
    default_thread_id,
    new_message_id,
)
from ..ports import ChatPort, Ports
from ..store import Store
from . import reads
from .auto import VIAS, auto_via
from .parties import Parties
from .protection import requirement
from .results import ReplyFields, ReplyResult
from .text import (
    addresses_of,
    chat_digest,
    chat_thread_attachments,
    chat_transcript,
    email_body,
    history_below,
    pick_attachments,
    quote_of,
)


class Submit(Protocol):
    """The outbox as the handoff sees it (bridge.outbox.Outbox)."""

    def presences(self, plan: ImPlan, targets: Sequence[str]) -> list[ContactPresence]: ...

    @staticmethod
    def unavailable(presences: Sequence[ContactPresence]) -> list[ContactPresence]: ...

    async def submit(self, plan: ImPlan, targets: Sequence[str], *, defer: bool,
                     reason: str = "") -> int: ...


def domain_of(account: AccountConfig) -> str:
    address = account.email or account.jid or "tuiclient.invalid"
    return address.rpartition("@")[2]


def sender_party(account: AccountConfig, answering: Message | None = None,
                 chosen: str | None = None) -> Party:
    """Who an email of `account` is from: `chosen` (one of its addresses, else
    EngineError), or when `answering` an email sent to one of the account's
    aliases, that alias (as mutt's reverse_name)."""
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


class Handoff:
    def __init__(self, config: Config, store: Store, identity: Identity, ports: Ports,
                 outbox: Submit) -> None:
        self.config = config
        self.store = store
        self.identity = identity
        self.ports = ports
        self.outbox = outbox
        self.parties = Parties(config, store, identity, ports)

    # -- what the handoff reads -------------------------------------------------------

    # The reads are reads.py's, which the engine's reads use without a Handoff.

    def message(self, row_id: int) -> Message:
        return reads.message(self.store, row_id)

    def timeline(self, account: str, thread_id: str) -> list[Message]:
        """A conversation as one list across both transports, oldest first
        (`reads.timeline`)."""
        return reads.timeline(self.store, account, thread_id)

    def catch_up_index(self) -> None:
        reads.catch_up_index(self.store)

    async def fetch_body(self, row_id: int) -> Message:
        """The message with its body, fetched (BODY.PEEK) and cached if needed."""
        return await reads.fetch_body(self.store, self.ports, row_id)

    def chat(self, account: str) -> ChatPort:
        chat = self.ports.chat(account)
        if chat is None:
            raise EngineError(refuse.no_chat_connection(account))
        return chat

    async def queue_email(self, account: str, mail: EmailMessage, msg_id: str) -> int:
        """Put an email in the outbox (durably) and send it as soon as possible."""
        return await self.ports.mail(account).send_leg(mail, msg_id)

    # -- the one "auto" rule, for each kind of message -----------------------------------

    def auto_for_reply(self, original: Message, reply_all: bool) -> str:
        chat = self.ports.chat(original.account)
        if chat is None:
            return "email"
        if original.transport is Transport.XMPP:
            jids: list[str | None] = list(self.parties.chat_parties(original, reply_all))
        else:
            mapped, unresolved = self.identity.map_parties(
                [p.address for p in self.parties.email_parties(original, reply_all)], "xmpp")
            if unresolved:
                return "email"
            jids = list(mapped.values())
        return auto_via(chat, jids)

    def auto_for_new(self, account: str, to: Sequence[str]) -> str:
        return auto_via(self.ports.chat(account),
                        [self.parties.chat_address(account, t) for t in to])

    async def reply(self, row_id: int, text: str, *, via: str = "auto",
                    reply_all: bool = False, history: bool = False,
                    attachments: Sequence[str] | str | None = None, mixed: bool = False,
                    separate_chats: bool = False,
                    when_away: str | None = None,
                    headers: dict[str, str] | None = None,
                    files: Sequence[Path] = (), to: Sequence[str] | None = None,
                    cc: Sequence[str] | None = None,
                    quote: str | None = None, bcc: Sequence[str] = (),
                    sender: str | None = None) -> ReplyResult:
        """Answer a message by email or by IM, whatever transport it came by.

        `via`: "email", "im", or "auto" (IM when every party is mapped and
        available, email otherwise). `history` carries the earlier messages along
        (a digest to chat, a transcript or quote to email); `attachments` names
        the thread's files to send along ("all" for every one). Parties that
        cannot be reached on the chosen transport raise `UnmappedParty`, unless
        `mixed`: then they get their part on the other transport, in the same
        thread. Several chat parties share one new room unless `separate_chats`.

        `when_away` decides for a chat to someone not available: "ask" raises
        `ContactAway` (with their status texts) before anything is sent, "send"
        sends anyway, "defer" keeps it in the outbox until they are available,
        "email" sends it by email instead. None: the config's deferral policy.

        `files` are paths of files from disk, attached to an email reply (MIME type
        guessed from the name); "auto" then means email, and "im" is refused.

        An email reply's editor may change what `reply_fields` started it with:
        `to` and `cc` (addresses as typed) replace its recipients, and `quote`
        (the quoted original as the user left it, "" for none) goes below the
        text instead of the automatic quote of `history`. `bcc` get it unseen;
        `sender`: the From, one of the account's addresses (None: as answered).
        """
        # Backfilled mail keeps its recipients aside until the index catches up;
        # reply-all needs them.
        self.catch_up_index()
        original = self.message(row_id)
        if via not in VIAS:
            raise EngineError(refuse.choose_one("The way to reply", via, VIAS))
        if via == "auto":
            via = "email" if files else self.auto_for_reply(original, reply_all)
        if via == "im" and files:
            raise EngineError(refuse.files_by_chat())
        when_away = when_away or self.config.deferral.policy
        if when_away not in WHEN_AWAY:
            raise EngineError(refuse.choose_one("What to do when they are away", when_away,
                                                 WHEN_AWAY))
        if via == "im":
            return await self._reply_by_im(original, text, reply_all, history, attachments,
                                           mixed, separate_chats, when_away, headers)
        edited = (None if to is None and cc is None else
                  (addresses_of(to or [], "to"), addresses_of(cc or [], "cc")))
        return await self._reply_by_email(original, text, reply_all, history, attachments,
                                          mixed, headers, files, edited, quote,
                                          addresses_of(bcc, "bcc"), sender)

    def reply_fields(self, row_id: int, reply_all: bool = False) -> ReplyFields:
        """To, Cc and the quote a reply by email to the email `row_id` starts with
        (a chat line's: its parties are mapped when it is sent; no quote)."""
        original = self.message(row_id)
        if original.transport is not Transport.EMAIL:
            return ReplyFields([], [], "")
        account = self.parties.account(original.account)
        h = reply_headers(original, self.parties.me(account), reply_all)
        return ReplyFields(list(h.to), list(h.cc), quote_of(original))

    # -- email -> chat ----------------------------------------------------------------

    async def _reply_by_im(self, original: Message, text: str, reply_all: bool,
                           history: bool, attachments: Sequence[str] | str | None,
                           mixed: bool, separate_chats: bool, when_away: str,
                           headers: dict[str, str] | None = None) -> ReplyResult:
        account = self.parties.account(original.account)
        client = self.chat(account.name)
        thread = await self._thread_with_bodies(original, history or bool(attachments))
        result = ReplyResult("im", thread_id=original.thread_id)
        leftover: list[Party] = []
        if original.transport is Transport.XMPP:
            room = self.parties.room_of(original)
            targets = [room] if room else self.parties.chat_parties(original, reply_all)
        else:
            parties = self.parties.email_parties(original, reply_all)
            if not parties:
                raise EngineError(refuse.nobody_to_reply())
            mapped, unresolved = self.identity.map_parties(
                [p.address for p in parties], "xmpp")
            result.mapped, result.unmapped = mapped, unresolved
            if unresolved and not mixed:
                raise UnmappedParty("xmpp", unresolved)
            unresolved_set = {r.query for r in unresolved}
            leftover = [p for p in parties if normalize_email(p.address) in unresolved_set]
            targets = list(dict.fromkeys(mapped.values()))
        if not targets and not leftover:
            raise EngineError(refuse.nobody_to_reply("by chat"))
        files = await self._gather_files(thread, attachments)
        earlier = thread  # the digest covers the thread up to and including the original
        already_in_chat = {normalize_jid(p.address) for m in thread
                           if m.transport is Transport.XMPP for p in (m.sender, *m.recipients)}
        plans: list[ImPlan] = []
        domain = client.domain
        separate_chats = separate_chats or self.config.handoff.group_chats == "separate"
        use_room = original.transport is Transport.EMAIL and len(targets) > 1 \
            and not separate_chats
        if original.transport is Transport.XMPP and targets and self.parties.room_of(original):
            plans.append(self._plan(account.name, targets[0], original.thread_id, text, domain,
                                    room=True))
        elif use_room:
            room = await self._room_for(client, original.thread_id)
            plans.append(self._plan(account.name, room, original.thread_id, text, domain,
                                    room=True, invite=targets,
                                    room_name=original.subject or "conversation"))
        else:
            plans.extend(self._plan(account.name, t, original.thread_id, text, domain)
                         for t in targets)
        people: list[list[str]] = []
        for plan in plans:
            # History goes once: a chat that already has this thread needs none.
            if history and earlier and plan.to not in already_in_chat:
                plan.history = chat_digest(earlier)
                plan.history_id = new_message_id(domain)
            plan.files = [dict(f, id=new_message_id(domain)) for f in files]
            people.append(list(plan.invite) if plan.room else [plan.to])
        away = [p for plan, who in zip(plans, people, strict=True)
                for p in self.outbox.unavailable(self.outbox.presences(plan, who))]
        if away and when_away == "ask":
            raise ContactAway(away)
        for plan, who in zip(plans, people, strict=True):
            if away and when_away == "email":
                result.email_ids.append(await self.email_instead(plan, who))
                continue
            outbox_id = await self.outbox.submit(
                plan, who, defer=bool(away) and when_away == "defer",
                reason="; ".join(describe_presence(p) for p in away))
            result.outbox.append(outbox_id)
            message = self.store.find_by_msg_id(plan.account, plan.msg_id)
            if message is not None:
                result.chat.append(message)
            if plan.room:
                result.room = plan.to
        if away and when_away == "email":
            result.via = "email"
        elif away and when_away == "defer":
            result.deferred = True
        if leftover:
            outbox_id, msg_id = await self._email_leg(original, leftover, text, headers)
            result.emails.append(outbox_id)
            result.email_ids.append(msg_id)
        return result

    def _plan(self, account: str, to: str, thread_id: str, text: str, domain: str, *,
              room: bool = False, invite: Sequence[str] = (), room_name: str = "") -> ImPlan:
        return ImPlan(account=account, to=to, thread_id=thread_id, text=text,
                      msg_id=new_message_id(domain), room=room, invite=list(invite),
                      room_name=room_name)

    async def _room_for(self, client: ChatPort, thread_id: str) -> str:
        """The room of a thread: named after it, so a second handoff finds it again."""
        known = client.room_for_thread(thread_id)
        if known is not None:
            return known
        service = await client.muc_service()
        digest = hashlib.sha256(thread_id.encode()).hexdigest()[:12]
        return f"thread-{digest}@{service}"

    async def send_im_plan(self, plan: ImPlan, skip: frozenset[str] = frozenset()
                           ) -> list[Message]:
        """Send one chat leg: join or create the room, invite, then the history,
        the new text and the files, each with the thread id and its own fixed id.
        The parts whose ids are in `skip` (the server already holds them) are not
        sent again."""
        return await self.chat(plan.account).send_leg(plan, skip)

    async def _thread_with_bodies(self, original: Message, needed: bool) -> list[Message]:
        """The thread's timeline; with every email body fetched when history or
        files go along (header sync alone knows neither the text nor the files)."""
        thread = self.timeline(original.account, original.thread_id)
        if not needed:
            return thread
        missing = [m.id for m in thread if m.transport is Transport.EMAIL
                   and m.uid is not None and m.id is not None
                   and not self.store.has_body(m.id)]
        for row_id in missing:
            await self.fetch_body(row_id)
        return self.timeline(original.account, original.thread_id) if missing else thread

    async def _gather_files(self, thread: list[Message],
                            wanted: Sequence[str] | str | None) -> list[dict[str, str | int]]:
        """The chosen files of a thread, with their bytes in the store's blobs."""
        chosen = pick_attachments(chat_thread_attachments(thread), wanted)
        files: list[dict[str, str | int]] = []
        for m, a in chosen:
            if a.sha256 is None:
                assert m.id is not None
                row, index = m.id, m.attachments.index(a)
                if m.transport is Transport.EMAIL:
                    m = await self.fetch_body(row)
                    if index < len(m.attachments) and m.attachments[index].sha256 is None \
                            and m.uid is not None:
                        # Over the body limit: the files come one by one.
                        await self.ports.mail(m.account).fetch_part(row, index)
                        m = self.message(row)
                else:
                    m.attachments = await self.chat(m.account).download(row)
                if index >= len(m.attachments) or m.attachments[index].sha256 is None:
                    raise EngineError(refuse.file_unavailable(a.filename))
                a = m.attachments[index]
            ctype = a.content_type
            if not ctype or ctype == "application/octet-stream":
                ctype = mimetypes.guess_type(a.filename)[0] or "application/octet-stream"
            files.append({"name": a.filename, "type": ctype, "sha256": a.sha256 or "",
                          "size": a.size})
        return files

    async def _email_leg(self, original: Message, parties: Sequence[Party], text: str,
                         headers: dict[str, str] | None = None) -> tuple[int, str]:
        """The email part of a mixed reply: same text, same thread, to `parties`."""
        account = self.parties.account(original.account)
        h = reply_headers(original, self.parties.me(account), False)
        msg_id = new_message_id(domain_of(account))
        mail = build_email(sender_party(account), [Party(p.address, p.name, "to")
                                                 for p in parties[:1]],
                           [Party(p.address, p.name, "cc") for p in parties[1:]],
                           h.subject, text, msg_id=msg_id, in_reply_to=h.in_reply_to,
                           references=h.references, extra_headers=headers)
        return await self.queue_email(account.name, mail, msg_id), msg_id

    async def email_instead(self, plan: ImPlan, people: Sequence[str],
                            protection: outgoing.Protection | None = None) -> str:
        """A chat leg sent as one email: its text, history and files, to the
        people's email addresses, in the same thread, sealed as `protection` says
        (the outbox row's; None: decided now, as for a new send). Returns the
        email's id; EncryptionRefused, naming who, when it cannot be encrypted."""
        account = self.parties.account(plan.account)
        jids = [p for p in people if p] or [plan.to]
        mapped, unresolved = self.identity.map_parties(jids, "email")
        if unresolved:
            raise UnmappedParty("email", unresolved)
        addresses = list(dict.fromkeys(mapped.values()))
        thread = self.timeline(plan.account, plan.thread_id)
        emails = [m for m in thread if m.transport is Transport.EMAIL]
        if emails:
            h = reply_headers(emails[-1], [], False)
            subject, in_reply_to, references = h.subject, h.in_reply_to, h.references
        else:
            # The people by name, as the chat showed them (an address if none).
            subject = reply_subject("Chat with " + ", ".join(
                self.parties.name_of(a) or a for a in addresses))
            in_reply_to, references = plan.thread_id, [plan.thread_id]
        body = plan.text.rstrip() + "\n"
        if plan.history:
            body += "\n" + history_below(plan.history) + "\n"
        files = [(str(f["name"]), str(f["type"]),
                  self.store.blob_path(str(f["sha256"])).read_bytes()) for f in plan.files]
        msg_id = new_message_id(domain_of(account))
        mail = build_email(sender_party(account),
                           [Party(a, self.parties.name_of(a), "to") for a in addresses[:1]],
                           [Party(a, self.parties.name_of(a), "cc") for a in addresses[1:]],
                           subject, body, msg_id=msg_id, in_reply_to=in_reply_to,
                           references=references, attachments=files)
        if protection is None:
            protection = requirement(self.config, self.store, self.identity, plan.account,
                                     plan.thread_id, addresses)
        with outgoing.requested(protection):
            await self.queue_email(plan.account, mail, msg_id)
        return msg_id

    async def im_instead(self, item: OutboxItem) -> list[tuple[ImPlan, list[str]]]:
        """The chat legs of a queued email that goes by chat instead: to the JIDs
        of its To and Cc (one room for several, or one chat each by config), a
        chat each for its Bcc (a room would show them), with the subject above
        the text, its files, and its thread. Nothing is written here."""
        client = self.chat(item.account)
        if not client.connected:
            raise EngineError(refuse.no_chat_connection(item.account, either=True))
        raw = base64.b64decode(item.payload["raw"])
        mail = to_message(parse_message(raw), account=item.account, folder=None, uid=None,
                          direction=Direction.OUT, put_blob=self.store.store_blob)
        mail = self._opened_own(mail, item.msg_id)
        stored = self.store.find_by_msg_id(item.account, item.msg_id)
        thread_id = stored.thread_id if stored is not None else mail.thread_id
        envelope = [normalize_email(a) for a in item.payload.get("recipients", [])]
        mapped, unresolved = self.identity.map_parties(envelope, "xmpp")
        if unresolved:
            raise UnmappedParty("xmpp", unresolved)
        shown = {normalize_email(p.address) for p in mail.recipients}
        group = list(dict.fromkeys(j for a, j in mapped.items() if a in shown))
        hidden = [j for a, j in mapped.items() if a not in shown and j not in group]
        text = mail.text.strip()
        subject = (mail.subject or "").strip()
        if subject and reply_subject(subject) != subject:
            text = f"{subject}\n\n{text}" if text else subject
        files: list[dict[str, str | int]] = [
            {"name": a.filename, "type": a.content_type or "application/octet-stream",
             "sha256": a.sha256 or "", "size": a.size} for a in mail.attachments if a.sha256]
        domain = client.domain
        legs: list[tuple[ImPlan, list[str]]] = []
        if len(group) > 1 and self.config.handoff.group_chats != "separate":
            room = await self._room_for(client, thread_id)
            legs.append((self._plan(item.account, room, thread_id, text, domain, room=True,
                                    invite=group, room_name=subject or "conversation"),
                         group))
        else:
            legs.extend((self._plan(item.account, j, thread_id, text, domain), [j])
                        for j in group)
        legs.extend((self._plan(item.account, j, thread_id, text, domain), [j])
                    for j in hidden)
        for plan, _who in legs:
            plan.files = [dict(f, id=new_message_id(domain)) for f in files]
        if not legs:
            raise EngineError(refuse.no_chat_recipients())
        return legs

    def _opened_own(self, mail: Message, msg_id: str) -> Message:
        """Our own queued email as its chat legs carry it: an encrypted one opened
        with our key (it is encrypted to us too, for Sent), its protected Subject
        and inner files; EncryptionRefused when it cannot be opened here (the
        legs then go sealed with OMEMO: the outbox sees to it)."""
        from ..crypto.openpgp import OpenPGP
        from ..crypto.reading import is_encrypted, open_stored

        if not is_encrypted(mail):
            return mail
        opened = open_stored(mail, OpenPGP(self.config.crypto.gnupg_home),
                             self.store.store_blob)
        if opened.crypto is None or not opened.crypto.decrypted:
            raise EncryptionRefused(f"not sent by chat: the encrypted email {msg_id} cannot "
                                    "be opened here (no key of ours among its recipients)")
        return opened

    async def send_message(self, account: str, to: Sequence[str], text: str, *,
                           via: str = "im", subject: str = "",
                           when_away: str | None = None,
                           attachments: Sequence[Path] = (), cc: Sequence[str] = (),
                           bcc: Sequence[str] = (), sender: str | None = None,
                           chat_thread: Callable[[str], str] | None = None
                           ) -> ReplyResult:
        """Start a conversation (or continue the chat with someone): by IM to JIDs
        (or email addresses mapped to them), or by email (with `cc`, `bcc` as
        typed, and `sender` as its From: one of the account's addresses).
        `chat_thread`: the conversation a JID's 1:1 chat is in (the engine's
        `chat_thread_id`); without it, the one their lines are bound to."""
        cfg = self.parties.account(account)
        when_away = when_away or self.config.deferral.policy
        if via == "email":
            addresses = []
            to_parties = []
            for address in to:
                # A JID we know maps to its email address; anything else that looks
                # like an address is taken as an email address, with the name typed
                # beside it ("Doe, Jo" <jo@x>) kept for the To header.
                mapped = self.identity.email_for(address).address
                email_address = mapped or normalize_email(address)
                if not email_address:
                    raise EngineError(refuse.not_an_address(address))
                addresses.append(email_address)
                typed_name = getaddresses([address])[0][0] if not mapped else ""
                to_parties.append(Party(email_address, typed_name, "to"))
            msg_id = new_message_id(domain_of(cfg))
            files = [(p.name, mimetypes.guess_type(p.name)[0] or "application/octet-stream",
                      p.read_bytes()) for p in attachments]
            mail = build_email(sender_party(cfg, chosen=sender),
                               to_parties, addresses_of(cc, "cc"),
                               subject, with_signature(text, cfg.signature), msg_id=msg_id,
                               attachments=files, bcc=addresses_of(bcc, "bcc"))
            result = ReplyResult("email", thread_id=msg_id)
            result.emails.append(await self.queue_email(account, mail, msg_id))
            result.email_ids.append(msg_id)
            return result
        # With the chat server out of reach there is no client, or one that waits
        # to reconnect: the line is kept in the outbox like an email, and goes
        # once a process of ours reaches the server (the caller hears "queued").
        client = self.ports.chat(account)
        online = client is not None and client.connected
        own = client.own if client is not None else normalize_jid(cfg.jid or "")
        domain = client.domain if client is not None else domain_of(cfg)
        jids = []
        unresolved = []
        for address in to:
            jid = normalize_jid(address)
            if not jid:
                raise EngineError(refuse.not_an_address(address, chat=True))
            found = self.parties.chat_address(account, address)
            if found:
                jids.append(found)
            else:
                unresolved.append(self.identity.jid_for(address))
        if unresolved:
            raise UnmappedParty("xmpp", unresolved)
        result = ReplyResult("im")
        for jid in jids:
            bound = chat_thread(jid) if chat_thread is not None else \
                client.thread_with(jid) if client is not None else None
            plan = self._plan(account, jid, bound or default_thread_id(own, jid), text,
                              domain)
            for path in attachments:
                data = path.read_bytes()
                plan.add_file(path.name, mimetypes.guess_type(path.name)[0] or
                              "application/octet-stream", self.store.store_blob(data),
                              len(data), new_message_id(domain))
            if not online:
                result.thread_id = plan.thread_id
                result.outbox.append(await self.outbox.submit(
                    plan, [jid], defer=False, reason="no connection to the chat server"))
                continue
            away = self.outbox.unavailable(self.outbox.presences(plan, [jid]))
            if away and when_away == "ask":
                raise ContactAway(away)
            if away and when_away == "email":
                result.email_ids.append(await self.email_instead(plan, [jid]))
                continue
            result.thread_id = plan.thread_id
            result.outbox.append(await self.outbox.submit(
                plan, [jid], defer=bool(away) and when_away == "defer",
                reason="; ".join(describe_presence(p) for p in away)))
            result.deferred = result.deferred or (bool(away) and when_away == "defer")
        return result

    # -- chat -> email ------------------------------------------------------------------

    async def _reply_by_email(self, original: Message, text: str, reply_all: bool,
                              history: bool, attachments: Sequence[str] | str | None,
                              mixed: bool, headers: dict[str, str] | None = None,
                              local_files: Sequence[Path] = (),
                              edited: tuple[list[Party], list[Party]] | None = None,
                              quote: str | None = None, bcc: Sequence[Party] = (),
                              sender: str | None = None) -> ReplyResult:
        account = self.parties.account(original.account)
        # Read before anything is queued: a file that cannot be read sends nothing.
        own_files = [(path.name, mimetypes.guess_type(path.name)[0] or
                      "application/octet-stream", Path(path).read_bytes())
                     for path in local_files]
        thread = await self._thread_with_bodies(original, history or bool(attachments))
        result = ReplyResult("email", thread_id=original.thread_id)
        msg_id = new_message_id(domain_of(account))
        if original.transport is Transport.EMAIL:
            files = await self._gather_files(thread, attachments)
            h = reply_headers(original, self.parties.me(account), reply_all)
            to, cc, subject = h.to, h.cc, h.subject
            in_reply_to, references = h.in_reply_to, h.references
            body = text
            if quote is not None:  # as the user left it in the editor
                body = text.rstrip() + (f"\n\n{quote.strip()}" if quote.strip() else "")
            elif history:
                body = f"{text.rstrip()}\n\n{quote_of(original)}"
        else:
            jids = self.parties.chat_parties(original, reply_all)
            if not jids:
                raise EngineError(refuse.nobody_to_reply())
            mapped, unresolved = self.identity.map_parties(jids, "email")
            result.mapped, result.unmapped = mapped, unresolved
            if unresolved and not mixed:
                raise UnmappedParty("email", unresolved)
            addresses = list(dict.fromkeys(mapped[j] for j in jids if j in mapped))
            names = {mapped[j]: self.parties.name_of(j) for j in jids if j in mapped}
            to = [Party(addresses[0], names.get(addresses[0], ""), "to")] if addresses else []
            cc = [Party(a, names.get(a, ""), "cc") for a in addresses[1:]]
            subject, in_reply_to, references = self.parties.email_thread_link(thread, original)
            # The transcript and the files carry only chat lines every recipient
            # of this email took part in: a private line stays private.
            shared = self.parties.shared_with(thread, [p.address for p in (*to, *cc)])
            files = await self._gather_files(shared, attachments)
            body = email_body(text, chat_transcript(shared) if history else None)
            if unresolved:
                # The mixed case: whoever has no email address gets the text by chat.
                leftovers = [r.query for r in unresolved]
                client = self.chat(account.name)
                for jid in leftovers:
                    plan = self._plan(account.name, jid, original.thread_id, text, client.domain)
                    result.chat.extend(await self.send_im_plan(plan))
        if edited is not None:
            to, cc = edited
            if not to and not cc:
                raise EngineError(refuse.no_recipients())
        if not to and not cc and not bcc:
            return result
        blobs = [(str(f["name"]), str(f["type"]),
                  self.store.blob_path(str(f["sha256"])).read_bytes()) for f in files]
        blobs += own_files
        answering = original if original.transport is Transport.EMAIL else None
        mail = build_email(sender_party(account, answering, sender), to, cc, subject,
                           with_signature(body, account.signature), msg_id=msg_id,
                           in_reply_to=in_reply_to or None, references=references,
                           attachments=blobs, extra_headers=headers, bcc=bcc)
        result.emails.append(await self.queue_email(account.name, mail, msg_id))
        result.email_ids.append(msg_id)
        return result

