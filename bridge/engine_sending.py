"""The engine's sending verbs: reply, hand off, start a conversation, mark, and
the outbox's buttons.

A mixin of `bridge.engine.Engine`. Replies on either transport and the one
"auto" rule are the handoff's (bridge.handoff); the durable queue, its retries
and fallbacks are the outbox's (bridge.outbox); an email leg goes through the
account's mail port. The names and signatures here are what the front ends call.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import getaddresses
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import errors as refuse
from .crypto import outgoing
from .crypto.reading import end_to_end, is_openpgp
from .errors import EncryptionRefused, EngineError, Hint
from .handoff import ImPlan, ReplyFields, ReplyResult
from .handoff import protection as planned
from .model import (
    ANSWERED,
    FLAGGED,
    SEEN,
    Availability,
    DeliveryState,
    Direction,
    Message,
    OutboxItem,
    Transport,
)
from .store import owner

if TYPE_CHECKING:
    from .config import AccountConfig, Config
    from .crypto.keys import Imported, KeyInfo, Keyring, KeyRow
    from .crypto.preferences import Preferences
    from .crypto.status import OmemoDevice
    from .engine_ports import EnginePorts
    from .handoff import Handoff
    from .mail.actions import MailActions
    from .mail.send import MailSender
    from .outbox import Outbox
    from .ports import ChatPort
    from .store import Store
    from .xmpp.client import XmppClient


T = TypeVar("T")


async def _gpg_call(call: Callable[..., T], *args: Any) -> T:
    """A keyring call in a thread; GPGME's refusal as an EngineError, in words."""
    from .crypto.openpgp import OpenPGPError

    try:
        return await asyncio.to_thread(call, *args)
    except OpenPGPError as exc:
        raise EngineError(str(exc)) from exc


def email_only(planned_one: outgoing.Protection, fallback: outgoing.Protection,
               by_chat: bool) -> outgoing.Protection:
    """Autocrypt's default encryption is about email: it never turns a send that
    goes by chat (a reply "auto" to a chat line, a new message "auto" that picks
    chat) into an email; such a send keeps `fallback`, what it was asked."""
    return fallback if by_chat and planned_one.why == outgoing.AUTOCRYPT else planned_one


class SendingVerbs:
    """Sending and the outbox (a part of the Engine; see the module's doc)."""

    if TYPE_CHECKING:  # the engine's parts and calls these verbs go through
        config: Config
        store: Store
        ports: EnginePorts
        xmpp: dict[str, XmppClient]

        @property
        def accounts(self) -> tuple[AccountConfig, ...]: ...

        @property  # the Engine's, made on first use
        def outbox(self) -> Outbox: ...

        @property  # the Engine's, made on first use
        def handoff(self) -> Handoff: ...

        def message(self, row_id: int) -> Message: ...

        def _opened(self) -> dict[int, Message]: ...

        def _open_openpgp(self, m: Message) -> Message: ...

        @property
        def mailbox(self) -> MailActions: ...

        async def fetch_body(self, row_id: int) -> Message: ...

        async def say_in_room(self, account: str, room: str, text: str, *,
                              when_away: str | None = None,
                              files: Sequence[Path] = ()) -> ReplyResult: ...

        def chat_thread_id(self, account: str, jid: str) -> str: ...

    async def mark(self, row_id: int, flag: str, on: bool = True, *,
                   tell: bool = True) -> None:
        """Set or clear a flag (read, flagged, answered) on a message, on the server
        too for an email; marking a chat line read tells its sender (XEP-0333),
        unless `tell` is False: a displayed marker covers every earlier line of its
        chat, so when several lines are read at once only the newest is told."""
        names = {"read": SEEN, "seen": SEEN, "flagged": FLAGGED, "answered": ANSWERED}
        if flag.lower() not in names:
            raise EngineError(refuse.choose_one("The flag", flag, ("read", "flagged", "answered")))
        system = names[flag.lower()]
        m = self.message(row_id)
        chat = self.ports.chat(m.account)
        if m.transport is Transport.EMAIL and m.folder and m.uid is not None:
            await self.ports.mail(m.account).set_flag(m.folder, m.uid, system, on)
        elif m.transport is Transport.XMPP and system == SEEN and on and chat is not None:
            await chat.mark_read(row_id, tell=tell)
        else:
            flags = set(m.flags)
            (flags.add if on else flags.discard)(system)
            self.store.set_flags(row_id, flags)

    # -- sending ----------------------------------------------------------------------

    def _sender(self, account: str) -> MailSender:
        return self.ports.mail(account).sender

    async def queue_email(self, account: str, mail: EmailMessage, msg_id: str) -> int:
        """Put an email in the outbox (durably) and send it as soon as possible;
        signed and/or encrypted as the send asked, else as [crypto] says (a forward,
        a draft sent)."""
        with outgoing.requested(outgoing.current() or self.protection()):
            return await self.ports.mail(account).send_leg(mail, msg_id)

    # -- replying and handing off (bridge.handoff) ------------------------------------

    async def reply(self, row_id: int, text: str, *, via: str = "auto",
                    reply_all: bool = False, history: bool = False,
                    attachments: Sequence[str] | str | None = None, mixed: bool = False,
                    separate_chats: bool = False,
                    when_away: str | None = None,
                    headers: dict[str, str] | None = None,
                    files: Sequence[Path] = (), to: Sequence[str] | None = None,
                    cc: Sequence[str] | None = None, quote: str | None = None,
                    sign: bool | None = None, encrypt: bool | None = None,
                    bcc: Sequence[str] = (), sender: str | None = None) -> ReplyResult:
        """Answer a message by email or by IM, whatever transport it came by
        (`via`: "email", "im", or "auto": the one rule, bridge.handoff.auto).
        `files`: files from disk for an email reply; `to`, `cc`, `quote`: an
        email reply's fields as its editor left them (`reply_fields`), with `bcc`
        (never in the sent headers) and `sender`, its From: one of the account's
        addresses (None: the one the email was sent to). `sign`/`encrypt`: OpenPGP for
        the email (None: the config's [crypto] default); encryption that cannot
        be done raises EncryptionRefused and sends nothing. See `Handoff.reply`
        for the rest."""
        original = self.message(row_id)
        protection = self.protection(sign, encrypt)
        if via != "im":
            everyone = [*(to or ()), *(cc or ()), *bcc]
            if not everyone and reply_all and original.transport is Transport.EMAIL:
                fields = self.handoff.reply_fields(row_id, True)
                everyone = [p.address for p in (*fields.to, *fields.cc)]
            protection = email_only(await self.reply_protection(
                row_id, sign, encrypt, to=everyone or None),
                protection, via == "auto" and original.transport is Transport.XMPP)
        if history and not protection.encrypt:
            self._no_decrypted_text_in_clear(original)
        if protection.encrypt:
            via = self._encrypted_via(via, mixed)
            protection = await self._protected_subject(row_id, protection)
        if via == "im":
            people = [original.sender.address] if original.direction is Direction.IN else \
                [p.address for p in original.recipients]
            room = self.handoff.parties.room_of(original)
            await self.chat_encryption(original.account, original.thread_id,
                                       [room] if room else people, protection, when_away,
                                       room=room is not None)
        with outgoing.requested(protection):
            return await self.handoff.reply(
                row_id, text, via=via, reply_all=reply_all, history=history,
                attachments=attachments, mixed=mixed, separate_chats=separate_chats,
                when_away=when_away, headers=headers, files=files, to=to, cc=cc,
                quote=quote, bcc=bcc, sender=sender)

    def protection(self, sign: bool | None = None, encrypt: bool | None = None
                   ) -> outgoing.Protection:
        """What a send does with OpenPGP: the [crypto] defaults, unless told."""
        policy = self.config.crypto
        return outgoing.Protection(sign=policy.sign if sign is None else sign,
                                   encrypt=policy.encrypt if encrypt is None else encrypt,
                                   home=policy.gnupg_home, explicit=encrypt is not None)

    async def reply_protection(self, row_id: int, sign: bool | None = None,
                               encrypt: bool | None = None, *,
                               to: Sequence[str] | None = None) -> outgoing.Protection:
        """What an email answering message `row_id` must be: the user's choice, else
        encrypted when the conversation is, else the contacts' preference (`keys
        prefer`), else the [crypto] defaults (bridge.handoff.protection). `to`:
        the reply's recipients as typed (To, Cc and Bcc; None: whom the reply
        answers). The reply compose screen starts its OpenPGP line from it."""
        original = self.message(row_id)
        await planned.open_last_email(self.store, self.ports, original.account,
                                      original.thread_id)
        typed = [a for _n, a in getaddresses(list(to or ())) if a]
        people = typed if typed else [original.sender.address] \
            if original.direction is Direction.IN else [p.address for p in original.recipients]
        return planned.requirement(self.config, self.store, self.handoff.identity,
                                   original.account, original.thread_id, people,
                                   self.protection(sign, encrypt), chat=False)

    def send_protection(self, account: str, to: Sequence[str], sign: bool | None = None,
                        encrypt: bool | None = None) -> outgoing.Protection:
        """What a new email to `to` (its To, Cc and Bcc) must be (as
        `reply_protection`, with no conversation yet)."""
        return planned.requirement(self.config, self.store, self.handoff.identity,
                                   account, "", list(to), self.protection(sign, encrypt),
                                   chat=False)

    def conversation_encrypted(self, account: str, thread_id: str) -> bool:
        """Whether a conversation is encrypted: its last email was."""
        return planned.thread_encrypted(self.store, account, thread_id)

    def _no_decrypted_text_in_clear(self, original: Message) -> None:
        """A reply in clear carrying history refuses to carry the decrypted text of
        an encrypted email (kept in the store with [crypto] index_decrypted)."""
        thread = self.handoff.timeline(original.account, original.thread_id)
        if any(end_to_end(m) and m.text.strip() for m in thread):
            raise EncryptionRefused(
                "not sent: the history would carry the decrypted text of an encrypted "
                "email or chat line in clear", hint=Hint("encrypt-or-no-history"))

    async def _protected_subject(self, row_id: int, protection: outgoing.Protection
                                 ) -> outgoing.Protection:
        """An encrypted reply to an encrypted email answers its real Subject (the
        protected one, inside the encryption) instead of the outer "..."."""
        original = self.message(row_id)
        if not is_openpgp(original):
            return protection
        opened = await self.fetch_body(row_id)
        if opened.crypto is None or not opened.crypto.protected_subject:
            return protection
        from .mail.compose import reply_subject  # the MIME builder, on first need

        return dataclasses.replace(protection, subject=(
            reply_subject(original.subject), reply_subject(opened.subject)))

    @staticmethod
    def _encrypted_via(via: str, mixed: bool = False) -> str:
        """An encrypted message goes by chat when asked (OMEMO, checked by
        `chat_encryption`), else by email; one both ways at once is refused
        (nothing asked to be encrypted goes in clear)."""
        if mixed:
            raise EncryptionRefused("not sent: a message by email and chat at once cannot "
                                    "be encrypted", hint=Hint("one-way-or-clear"))
        return "im" if via == "im" else "email"

    async def chat_encryption(self, account: str, thread_id: str, people: Sequence[str],
                              asked: outgoing.Protection | None,
                              when_away: str | None = None, *, room: bool = False) -> None:
        """Refuse now (EncryptionRefused, naming who and why) a chat send that must
        go OMEMO-encrypted (bridge.handoff.protection.requirement) and cannot:
        someone with no device we may encrypt for; with `room`, `people` are
        rooms, refused unless members-only, non-anonymous and every member has a
        device. A contact who is away while the send may wait (defer, email) is
        not refused here: the line goes sealed when it goes, or by encrypted
        email, or fails saying why."""
        if asked is not None and not (asked.wanted or asked.explicit):
            asked = None
        # The conversation as the store knows it now; the outbox looks again when
        # it writes the row (its last email's body fetched), and a line found to
        # need sealing only then goes sealed or fails, never in clear.
        need = planned.requirement(self.config, self.store, self.handoff.identity, account,
                                   thread_id, list(people), asked)
        if not need.omemo:
            return
        chat = self.ports.chat(account)
        if chat is None:
            return  # not online: the outbox keeps it, and it goes sealed or fails
        if room:  # sealed for every member, in a room where that means something
            for jid in people:
                try:
                    await chat.omemo_ready_room(jid)
                except EncryptionRefused as exc:
                    raise EncryptionRefused(exc.reason, exc.missing, hint=exc.hint,
                                            why=outgoing.because(need)) from exc
            return
        waits = (when_away or self.config.deferral.policy) in ("defer", "email")
        for jid in planned.chat_addresses(self.handoff.identity, people):
            try:
                await chat.omemo_ready(jid)
            except EncryptionRefused as exc:
                if waits and chat.availability(jid).availability is not Availability.AVAILABLE:
                    continue
                raise EncryptionRefused(exc.reason, exc.missing, hint=exc.hint,
                                        why=outgoing.because(need)) from exc

    def omemo_prefer(self, jid: str, on: bool | None) -> None:
        """OMEMO for the chat with `jid`: on (every line encrypted), off (in clear,
        unless a send asks), or None (as the conversation goes)."""
        from .crypto import preferences

        choice = "default" if on is None else ("encrypt" if on else "clear")
        preferences.chat(self.store.path.parent).set(jid.partition("/")[0], choice)

    def omemo_preference(self, jid: str) -> str:
        """"encrypt", "clear" or "" (not set) for the chat with `jid`."""
        from .crypto import preferences

        return preferences.chat(self.store.path.parent).get(jid.partition("/")[0])

    def reply_fields(self, row_id: int, reply_all: bool = False) -> ReplyFields:
        """To, Cc and the quoted original an email reply's editor starts with. An
        OpenPGP email is quoted as opened (decrypted: the store keeps only its
        sealed bytes), opened now if this process has not opened it yet; the
        reply's own protection starts from the conversation's, so the quote does
        not leave in clear unless the user says so."""
        from .handoff.text import quote_of

        fields = self.handoff.reply_fields(row_id, reply_all)
        m = self.store.get_message(row_id)
        if m is None or not is_openpgp(m):
            return fields
        opened = self._opened().get(row_id) or self._open_openpgp(m)
        if opened.crypto is None or not opened.text:
            return fields
        return dataclasses.replace(fields, quote=quote_of(opened))

    async def send_message(self, account: str, to: Sequence[str], text: str, *,
                           via: str = "im", subject: str = "",
                           when_away: str | None = None,
                           attachments: Sequence[Path] = (),
                           sign: bool | None = None, encrypt: bool | None = None,
                           cc: Sequence[str] = (), bcc: Sequence[str] = (),
                           sender: str | None = None) -> ReplyResult:
        """Start a conversation (or continue the chat with someone): by IM to JIDs
        (or email addresses mapped to them), by email, or "auto" (the one rule).
        `sign`/`encrypt` as for `reply`; unless told, a contact's preference (`keys
        prefer`) applies to an email. An email's `cc` and `bcc` (addresses as
        typed; Bcc never in the sent headers) and `sender`, its From: one of the
        account's addresses (its `email` or `aliases`; None: `email`); any of
        them makes it an email."""
        room = self._room_addressed(account, to) if via in ("im", "auto") else None
        if room is not None and not (cc or bcc or sender):
            # A room's JID is no one's address: the line goes to the room
            # (type=groupchat), as typed in it, its files after it.
            return await self.say_in_room(account, room, text, when_away=when_away,
                                          files=attachments)
        if (cc or bcc or sender) and via != "email":
            if via == "im":
                raise EngineError("Cc, Bcc and From are an email's: send it by email.")
            via = "email"
        protection = self.protection(sign, encrypt)
        if via != "im":
            planned_one = self.send_protection(account, [*to, *cc, *bcc], sign, encrypt)
            if planned_one.why == outgoing.AUTOCRYPT and via == "auto":
                via = self.auto_via(account, to)
            protection = email_only(planned_one, protection, via == "im")
        if protection.encrypt:
            via = self._encrypted_via(via)
        if via == "auto":
            via = self.auto_via(account, to)
        if via == "im":
            await self.chat_encryption(account, "", to, protection, when_away)
        with outgoing.requested(protection):
            return await self.handoff.send_message(account, to, text, via=via,
                                                   subject=subject, when_away=when_away,
                                                   attachments=attachments, cc=cc, bcc=bcc,
                                                   sender=sender, chat_thread=partial(
                                                       self.chat_thread_id, account))

    def _room_addressed(self, account: str, to: Sequence[str]) -> str | None:
        """The room `to` names, when it is one room we are in."""
        if len(to) != 1:
            return None
        client = self.xmpp.get(account)
        wanted = to[0].strip().lower().removeprefix("xmpp:")
        return wanted if client is not None and (
            wanted in client.rooms() or wanted in client.state.rooms) else None

    def own_addresses(self, account: str) -> list[str]:
        """The addresses an email of `account` can be from: its `email`, then its
        `aliases` (the compose screen's From choices)."""
        cfg = next((a for a in self.accounts if a.name == account), None)
        return [a for a in ((cfg.email, *cfg.aliases) if cfg else ()) if a]

    def auto_via(self, account: str, to: Sequence[str]) -> str:
        """What "auto" picks for a new message to `to`: "im" or "email"."""
        return self.handoff.auto_for_new(account, to)

    def chat_address(self, account: str, address: str) -> str | None:
        """The JID to chat with for `address`, or None when unmapped."""
        return self.handoff.parties.chat_address(account, address)

    async def send_im_plan(self, plan: ImPlan, skip: frozenset[str] = frozenset()
                           ) -> list[Message]:
        """Send one chat leg now (see XmppTransport.send_leg)."""
        return await self.handoff.send_im_plan(plan, skip)

    async def email_instead(self, plan: ImPlan, people: Sequence[str],
                            protection: outgoing.Protection | None = None) -> str:
        return await self.handoff.email_instead(plan, people, protection)

    async def im_instead(self, item: OutboxItem) -> list[tuple[ImPlan, list[str]]]:
        return await self.handoff.im_instead(item)

    # -- Autocrypt (bridge.crypto.autocrypt): on or off for this store ---------------

    def configure_autocrypt(self) -> None:
        """Tell the mail layers whether Autocrypt is on for this store ([crypto]
        autocrypt, or an account's own [accounts.crypto] autocrypt): they send our
        header from the addresses of the accounts that have it on, and learn
        peers' by the store's folder."""
        from .crypto import autocrypt

        policy = self.config.crypto
        folder = self.store.path.parent

        def addresses(cfg: AccountConfig) -> set[str]:
            return {autocrypt.canonical(a) for a in (cfg.email, *cfg.aliases) if a}

        own = frozenset(a for cfg in self.accounts for a in addresses(cfg))
        senders = frozenset(a for cfg in self.accounts if self.config.autocrypt_on(cfg.name)
                            for a in addresses(cfg))
        on = any(self.config.autocrypt_on(cfg.name) for cfg in self.accounts)
        autocrypt.configure(folder, autocrypt.Setup(
            folder, policy.gnupg_home, policy.autocrypt_prefer_encrypt, own, senders)
            if on else None)

    async def autocrypt_status(self) -> dict[str, Any]:
        """Autocrypt on or off, our keys and preference, each peer's state
        (bridge.crypto.autocrypt_mail.status)."""
        from .crypto.autocrypt_mail import status

        accounts = [(a.name, (a.email or "").lower()) for a in self.accounts]
        return await asyncio.to_thread(status, self.store.path.parent, accounts)

    async def autocrypt_recommendation(self, account: str, to: Sequence[str]) -> str:
        """Autocrypt's word for a new email from `account` to `to` (their JIDs
        mapped to addresses): "encrypt", "available", "discourage", "disable";
        "" when Autocrypt is off. The compose screen starts its toggle from it."""
        if not self.config.autocrypt_on(account):
            return ""
        try:
            addresses = planned.email_addresses(self.handoff.identity, to)
        except (EngineError, ValueError):  # a half-typed address: no word yet
            return ""
        return await asyncio.to_thread(planned.autocrypt_word, self.config, self.store,
                                       account, addresses)

    async def autocrypt_setup(self, account: str | None = None) -> tuple[str, bool]:
        """Our Autocrypt key for an account: its existing OpenPGP key when the
        keyring has one, else a new one made now (Ed25519/Cv25519, through
        GPGME). The fingerprint, and whether it was made now. Only ever on the
        user's command."""
        from .crypto import autocrypt_keys

        names = [a.name for a in self.accounts]
        if not names:
            raise EngineError(refuse.no_accounts())
        if account is not None and account not in names:
            raise EngineError(refuse.unknown_account(account, names))
        cfg = next((a for a in self.accounts if account in (None, a.name) and a.email), None)
        if cfg is None or not cfg.email:
            raise EngineError(refuse.no_email_address(account or names[0]))
        home, address = self.config.crypto.gnupg_home, cfg.email
        key = await _gpg_call(autocrypt_keys.own_key, home, address)
        if key is not None:
            return str(key.fpr).upper(), False
        return await _gpg_call(autocrypt_keys.generate, home, address,
                              cfg.display_name or ""), True

    async def autocrypt_setup_send(self, account: str | None = None) -> tuple[str, str]:
        """Send our Autocrypt key to ourselves as an Autocrypt Setup Message
        (Level 1, 4.4; bridge.crypto.autocrypt_setup): the setup code (shown
        once, kept nowhere) and the email's message id. The key is the one
        `autocrypt_setup` finds or makes."""
        from .crypto import autocrypt_setup

        fingerprint, _made = await self.autocrypt_setup(account)
        cfg = next(a for a in self.accounts if account in (None, a.name) and a.email)
        code = autocrypt_setup.new_code()
        mail = await _gpg_call(autocrypt_setup.build, self.config.crypto.gnupg_home,
                               fingerprint, cfg.email, code,
                               self.config.crypto.autocrypt_prefer_encrypt)
        msg_id = str(mail["Message-ID"]).strip("<>")
        # Already encrypted with the code: never sealed again, whatever [crypto] says.
        with outgoing.requested(outgoing.Protection(explicit=True)):
            await self.queue_email(cfg.name, mail, msg_id)
        return code, msg_id

    async def autocrypt_setup_import(self, row_id: int, code: str) -> tuple[tuple[str, ...],
                                                                            str]:
        """Import the secret key of an Autocrypt Setup Message (the email
        `row_id`, from this client or another) with its setup code: the
        fingerprints imported, and the prefer-encrypt it carried."""
        from .crypto import autocrypt_setup

        m = self.message(row_id)
        if m.transport is not Transport.EMAIL:
            raise EngineError("That is a chat line, not an email: an Autocrypt Setup "
                              "Message comes by email (look for one in your INBOX).")
        raw = await self.mailbox.raw(m)
        done = await _gpg_call(autocrypt_setup.import_setup, self.config.crypto.gnupg_home,
                               raw, code)
        return done.fingerprints, done.prefer_encrypt

    # -- OpenPGP keys (bridge.crypto.keys): `keys` verbs and the keys screen ---------

    def _keyring(self) -> Keyring:
        from .crypto.keys import Keyring

        return Keyring(self.config.crypto.gnupg_home)

    def _preferences(self) -> Preferences:
        from .crypto.preferences import Preferences

        return Preferences(self.store.path.parent)

    async def openpgp_keys(self) -> list[KeyRow]:
        """Our secret keys and the keys of the contacts the store knows, each with
        whose it is (a contact's email and JIDs side by side) and its preference."""
        from .crypto.keys import rows

        own = [(a.name, (a.email or "").lower(), (a.jid or "").partition("/")[0])
               for a in self.accounts]
        contacts = [(c.name, c.emails, c.jids) for c in self.store.contacts()]
        prefs = self._preferences().all()
        return await _gpg_call(rows, self._keyring(), own, contacts, prefs)

    async def openpgp_import(self, data: bytes) -> Imported:
        return await _gpg_call(self._keyring().import_keys, data)

    async def openpgp_verify(self, fingerprint: str, signer: str | None = None) -> KeyInfo:
        """Mark a key verified: a local certification by our key (`gpg --lsign-key`)."""
        return await _gpg_call(self._keyring().verify, fingerprint, signer)

    async def openpgp_trust(self, fingerprint: str, level: str) -> KeyInfo:
        """Set a key's owner trust (unknown, never, marginal, full, ultimate)."""
        return await _gpg_call(self._keyring().trust, fingerprint, level)

    def openpgp_prefer(self, address: str, choice: str) -> None:
        """What a send to `address` does by default: encrypt, sign, clear (or
        "default": the [crypto] defaults again)."""
        self._preferences().set(address, choice)

    # -- OMEMO devices (bridge/xmpp/omemo.py): `keys` verbs and the keys screen ------

    async def omemo_devices(self) -> list[OmemoDevice]:
        """Our OMEMO devices and those of our contacts and roster, per account
        online for chat (the device lists are fetched from the server)."""
        contacts = {j.partition("/")[0].lower() for c in self.store.contacts() for j in c.jids}
        found: list[OmemoDevice] = []
        for account in self.accounts:
            chat = self.ports.chat(account.name)
            if chat is None:
                continue
            roster = {item.jid for item in self.xmpp[account.name].roster()} \
                if account.name in self.xmpp else set()
            found += await chat.omemo_devices(sorted(contacts | roster))
        return found

    def _omemo_chat(self, jid: str) -> ChatPort:
        """The chat port OMEMO verbs for `jid` go through: the account that is
        `jid`, else the first one online."""
        online = [a.name for a in self.accounts if self.ports.chat(a.name) is not None]
        own = [a.name for a in self.accounts
               if (a.jid or "").partition("/")[0].lower() == jid.partition("/")[0].lower()]
        chosen = next((n for n in own if n in online), online[0] if online else None)
        chat = self.ports.chat(chosen) if chosen else None
        if chat is None:
            raise EngineError("No chat account is online, and OMEMO devices are read "
                              "through one: see the server status (Servers), then try "
                              "again.")
        return chat

    async def omemo_trust(self, jid: str, device: str, level: str) -> OmemoDevice:
        """Trust one OMEMO device of `jid` (its id or fingerprint): "verified" (you
        compared its fingerprint with theirs), "distrusted" or "undecided"."""
        try:
            return await self._omemo_chat(jid).omemo_trust(jid, device, level)
        except ValueError as exc:
            raise EngineError(str(exc)) from exc

    # -- the outbox -------------------------------------------------------------------

    async def drain(self, timeout: float = 10.0) -> None:
        """Before a process stops: send the emails that are due now, and wait (up to
        `timeout`) for the server's ack of the chat lines this process has on the
        wire, so what a command or `serve` accepted does not wait for the next
        process. Whatever is left stays in the outbox for the next one."""
        for account in self.accounts:
            if account.smtp is not None:
                await self.ports.mail(account.name).flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        me = owner.me()
        while loop.time() < deadline and any(
                i.owner == me for i in self.store.outbox_items(states=[DeliveryState.SENDING])):
            await asyncio.sleep(0.05)

    async def outbox_tick(self) -> None:
        """One pass of the outbox now: due emails go, and chat lines a stopped
        process left unconfirmed are looked at (see Outbox._adopt)."""
        await self.outbox.tick()

    async def outbox_retry(self, outbox_id: int) -> None:
        """Send a waiting message now (a deferred chat goes whatever the presence)."""
        await self.outbox.retry_now(outbox_id)

    async def outbox_cancel(self, outbox_id: int) -> None:
        await self.outbox.cancel(outbox_id)

    async def outbox_email(self, outbox_id: int, *, clear: bool = False) -> str:
        """Stop deferring a chat message and send it by email instead: encrypted when
        it was planned so (EncryptionRefused, naming who, if it cannot be; the row
        stays), unless `clear` (the user chose to send it in clear)."""
        return await self.outbox.send_by_email(outbox_id, clear=clear)

    async def outbox_im(self, outbox_id: int) -> list[int]:
        """Stop waiting for the mail server: send a queued email by chat instead."""
        return await self.outbox.send_by_im(outbox_id)
