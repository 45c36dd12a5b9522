"""Who a reply goes to, on either transport, and what each of them may see.

- an email's parties are its reply headers (sender, or everyone with reply-all);
- a chat line's are its peer, or the room and (reply-all) everyone in it;
- an address is a JID to chat with only when a mapping or the roster says so;
- a transcript carries only the lines every recipient took part in;
- an email answering a chat line (its draft too) goes to its people's mapped
  addresses, in the conversation's email chain (`chat_email`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import AccountConfig, Config
from ..errors import EngineError
from ..identity import Identity, normalize_email, normalize_jid
from ..mail.compose import reply_headers, reply_subject
from ..model import Direction, Message, Party, Transport
from ..ports import Ports
from ..store import Store


class Parties:
    def __init__(self, config: Config, store: Store, identity: Identity, ports: Ports) -> None:
        self.config = config
        self.store = store
        self.identity = identity
        self.ports = ports

    def account(self, name: str) -> AccountConfig:
        try:
            return self.config.account(name)
        except KeyError as exc:
            raise EngineError(str(exc.args[0]) if exc.args else str(exc)) from None

    @staticmethod
    def me(account: AccountConfig) -> list[str]:
        return [a for a in (account.email, *account.aliases, account.jid) if a]

    def name_of(self, address: str) -> str:
        contact = self.store.contact_for(address)
        return contact.name if contact is not None else ""

    def email_parties(self, original: Message, reply_all: bool) -> list[Party]:
        account = self.account(original.account)
        if original.transport is Transport.EMAIL:
            h = reply_headers(original, self.me(account), reply_all)
            return [*h.to, *h.cc]
        raise AssertionError("email parties of a chat message are mapped from its JIDs")

    def room_of(self, m: Message) -> str | None:
        """The room a chat line was said in; None for a 1:1 line, and for a private
        line with one occupant (`private_of`), which the room never saw."""
        if m.transport is not Transport.XMPP or not m.recipients:
            return None
        address = m.recipients[0].address
        if "/" in address:  # a room's occupant (room/nick): a private line
            return None
        target = normalize_jid(address)
        chat = self.ports.chat(m.account)
        if chat is not None and target in chat.rooms():
            return target
        return None

    def private_of(self, m: Message) -> str | None:
        """The occupant (`room/nick`) a private line through a room (XEP-0045 §7.5)
        is with, as it was stored (bridge/xmpp/inbound.py: ours to `room/nick`,
        theirs from it, to us); None for every other line. A reply to it goes to
        that occupant alone, never to the room nor to the room's bare JID."""
        if m.transport is not Transport.XMPP or not m.recipients:
            return None
        rooms = self._rooms(m.account)
        to = m.recipients[0].address
        if m.direction is Direction.OUT:
            peer = to
        elif "/" in to or normalize_jid(to) not in rooms:  # to us, not to the room
            peer = m.sender.address
        else:
            return None
        room, _, nick = peer.partition("/")
        if not nick or normalize_jid(room) not in rooms:
            return None
        return f"{normalize_jid(room)}/{nick}"

    def _rooms(self, account: str) -> set[str]:
        chat = self.ports.chat(account)
        return set(chat.rooms()) if chat is not None else set()

    def chat_parties(self, original: Message, reply_all: bool) -> list[str]:
        """The bare JIDs a reply to a chat message goes to (never our own)."""
        account = self.account(original.account)
        own = normalize_jid(account.jid or "")
        private = self.private_of(original)
        if private is not None:  # the occupant alone, whatever reply_all says
            return [private]
        room = self.room_of(original)
        people: list[str] = []
        if original.direction is Direction.IN:
            people.append(normalize_jid(original.sender.address))
        else:
            people.extend(normalize_jid(p.address) for p in original.recipients)
        if room is not None:
            people = [p for p in people if p != room]
            if reply_all:
                chat = self.ports.chat(original.account)
                if chat is not None:
                    people.extend(chat.occupants(room))
                for m in self.store.thread_messages(original.thread_id, original.account):
                    if m.transport is Transport.XMPP and self.room_of(m) == room:
                        people.append(normalize_jid(m.sender.address))
        out: list[str] = []
        for p in people:
            if p and p != own and p != room and p not in out:
                out.append(p)
        return out

    def chat_address(self, account: str, address: str) -> str | None:
        """The JID to chat with for `address`: its mapping, or the address itself
        when it is written `xmpp:...` or known as a JID; None when unmapped.

        An address with no mapping is an email address until something says it is
        a JID: taking it as one would chat whoever holds that name on that server.
        """
        jid = normalize_jid(address)
        if not jid:
            return None
        r = self.identity.jid_for(address)
        if r.address:
            return r.address
        chat = self.ports.chat(account)
        if address.strip().lower().startswith("xmpp:") or (
                chat is not None and self._known_jid(chat.knows(jid), jid)):
            return jid
        return None

    def _known_jid(self, chat_knows: bool, jid: str) -> bool:
        """Whether `jid` is known as a JID: a roster entry or someone this account
        already chats with (`chat_knows`), or a contact's JID (config or store)."""
        if chat_knows:
            return True
        if any(jid in {normalize_jid(j) for j in c.jids} for c in self.config.contacts):
            return True
        contact = self.store.contact_for(jid)
        return contact is not None and jid in {normalize_jid(j) for j in contact.jids}

    def shared_with(self, thread: list[Message], emails: Sequence[str]) -> list[Message]:
        """The messages of a thread that every one of `emails` took part in: emails
        as they are, a 1:1 chat line only if its peer is the one recipient, a room
        line only if every recipient is in the room (an occupant, or wrote there)."""
        wanted = {normalize_email(e) for e in emails} - {""}
        own = set()
        for acct in self.config.accounts:
            own |= {normalize_email(acct.email or ""), normalize_jid(acct.jid or "")}
        rooms: dict[str, set[str]] = {}
        for m in thread:
            room = self.room_of(m)
            if room is not None:
                people = rooms.setdefault(room, set())
                people.add(normalize_jid(m.sender.address))
                chat = self.ports.chat(m.account)
                if chat is not None:
                    people.update(chat.occupants(room))
        kept = []
        for m in thread:
            if m.transport is not Transport.XMPP:
                kept.append(m)
                continue
            room = self.room_of(m)
            jids = rooms[room] if room is not None else {
                normalize_jid(p.address) for p in (m.sender, *m.recipients)}
            audience = {self.identity.email_for(j).address or j for j in jids if j} | jids
            if wanted <= audience | own:
                kept.append(m)
        return kept

    def email_thread_link(self, thread: list[Message],
                          original: Message) -> tuple[str, str, list[str]]:
        """Subject, In-Reply-To and References that put an email continuing a
        chat into the email chain it came from (or into the chat's own thread)."""
        emails = [m for m in thread if m.transport is Transport.EMAIL]
        if emails:
            last = emails[-1]
            h = reply_headers(last, [], False)
            return h.subject, h.in_reply_to, h.references
        peer = original.sender.name or normalize_jid(original.sender.address) \
            if original.direction is Direction.IN else normalize_jid(
                original.recipients[0].address if original.recipients else "")
        room = self.room_of(original)
        subject = f"Chat in {room}" if room else f"Chat with {peer}"
        return reply_subject(subject), original.thread_id, [original.thread_id]

    def chat_email(self, original: Message, reply_all: bool) -> ChatEmail:
        """Whom an email answering the chat line `original` goes to, and how it is
        threaded, as `Handoff.reply` would send it: the chat's people mapped to
        their email addresses (the ones with none named apart), the subject,
        In-Reply-To and References of `email_thread_link`. What a draft of that
        reply is saved with, before anyone is asked for a missing address."""
        jids = self.chat_parties(original, reply_all)
        mapped, unresolved = self.identity.map_parties(jids, "email")
        thread = self.store.thread_messages(original.thread_id, original.account)
        subject, in_reply_to, references = self.email_thread_link(thread, original)
        return ChatEmail(list(dict.fromkeys(mapped[j] for j in jids if j in mapped)),
                         [r.query for r in unresolved], subject, in_reply_to,
                         list(references))


@dataclass
class ChatEmail:
    """An email answering a chat line: its To (mapped), who has no address, and
    its threading (`Parties.chat_email`)."""

    to: list[str]
    unmapped: list[str]
    subject: str
    in_reply_to: str
    references: list[str] = field(default_factory=list)
