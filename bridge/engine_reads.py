"""The engine's reads: what a front end may know, asked of the engine.

A mixin of `bridge.engine.Engine`: conversations, timelines, folders, search,
bodies and header fields, contacts and who is who, the outbox's rows, presence
and rooms. The front ends (tuiclient/, bridge/headless/) read through these and
never touch the store, the XMPP clients or the identity layer themselves
(tests/test_app_layering.py, tests/test_headless_layering.py). The few writes
here are the user's answers about people (`confirm_address`, `map_contact`,
`forget_address`), the identity layer's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .model import (
    Availability,
    Contact,
    ContactPresence,
    DeliveryState,
    Folder,
    Message,
    OutboxItem,
    OutboxLogEntry,
    SortKey,
    Thread,
    ThreadOrder,
    Transport,
)

# Seconds within which the same happening of a room, kept twice, is one.
ROOM_ECHO = 10.0

if TYPE_CHECKING:
    from .config import AccountConfig, Config
    from .engine_ports import EnginePorts
    from .events import RoomHappened
    from .identity import Identity, Resolution
    from .store import Cursor, Store, StoredEvent
    from .store.list_window import ViewRows
    from .xmpp.client import XmppClient

# asyncio, the identity layer's address grammar, the OpenPGP reading
# (bridge.crypto.reading) and the XMPP helpers are imported by the reads that use
# them: `list` and `search` answered from the store alone (bridge.reader) load
# none of them (tests/test_headless_fast_paths.py).


class EngineReads:
    """Reads for the front ends (a part of the Engine; see the module's doc)."""

    if TYPE_CHECKING:  # the engine's parts these reads go through
        config: Config
        store: Store
        identity: Identity
        xmpp: dict[str, XmppClient]
        ports: EnginePorts

        @property
        def accounts(self) -> tuple[AccountConfig, ...]: ...

    # -- conversations and messages ---------------------------------------------------

    def conversations(self, account: str | None = None, limit: int = 50,
                      before: float | Cursor | SortKey | None = None,
                      order: ThreadOrder | None = None) -> list[Thread]:
        """A page of conversations of both transports, most recent first or in
        `order` (by sender, unread first, reversed), sorted by the store; the next
        page is the one `before=order.page_after(last row)`. Conversations archived
        or deleted here are left out until something new comes in. A group chat's
        conversation names its room (`Thread.room`, `room_name`)."""
        return self.as_rooms(self.store.list_threads(account, limit=limit, before=before,
                                                     order=order))

    def as_rooms(self, threads: list[Thread]) -> list[Thread]:
        """`threads`, each group chat's with its room and the room's name."""
        rooms = self.room_conversations() if threads else {}
        if not rooms:
            return threads
        return [t.replace(room=rooms[k][0], room_name=rooms[k][1])
                if (k := (t.account, t.thread_id)) in rooms else t for t in threads]

    def conversation_rows(self, account: str | None = None, folder: str | None = None,
                          order: ThreadOrder | None = None) -> ViewRows:
        """The conversation list as a window onto the store (#22): its count, and its
        rows at any position or beside a row, read when a list draws them. One
        account's (None: every account's), or those with an email in `folder` of
        `account`; in `order`; hidden ones left out, as in `conversations`."""
        from .store.list_window import ListView, ViewRows

        return ViewRows(self.store, ListView(account, folder, order or ThreadOrder()))

    def folder_conversations(self, account: str, folder: str, limit: int = 50,
                             before: float | Cursor | SortKey | None = None,
                             order: ThreadOrder | None = None) -> list[Thread]:
        """A page of the conversations with an email in one folder of `account`,
        most recent first (or in `order`), paged as `conversations` is (a thread's
        last chat line counts for its place, as in the whole list)."""
        return self.store.list_threads(account, limit=limit, before=before, folder=folder,
                                       order=order)

    def folders(self, account: str) -> list[Folder]:
        """The account's folders. `unread` is what the store holds unread there once
        a sync pass of the folder completed (so it follows reading, new mail and
        flags changed elsewhere at once); before that, the server's last count."""
        folders = self.store.folders(account)
        if not any(f.uidnext is not None for f in folders):
            return folders
        counts = self.store.unread_by_folder(account)
        return [f.replace(unread=counts.get(f.name, 0))
                if f.uidnext is not None else f for f in folders]

    def thread(self, account: str, thread_id: str) -> Thread | None:
        """One conversation's summary (subject, counts, transports; its room)."""
        found = self.store.get_thread(account, thread_id)
        return self.as_rooms([found])[0] if found is not None else None

    def find_thread(self, ref: str, account: str | None = None) -> Thread:
        """A conversation by the number of one of its messages (`12`) or its thread
        id, on `account` or any; LookupError if none."""
        if ref.isdigit():
            th = self.store.thread_by_row(int(ref))
            if th is not None:
                return self.as_rooms([th])[0]
        names = [account] if account else [a.name for a in self.accounts]
        for name in names:
            th = self.store.get_thread(name, ref.strip("<>"))
            if th is not None:
                return self.as_rooms([th])[0]
        raise LookupError(f"There is no conversation {ref!r}: `tuiclient list` shows their "
                          "numbers.")

    def message(self, row_id: int) -> Message:
        """A stored message by row id; EngineError when there is none."""
        from .handoff import reads

        return reads.message(self.store, row_id)

    def find_message(self, ref: str, account: str | None = None) -> Message:
        """A message by its number (`12`, `#12`) or its Message-ID; LookupError if none."""
        ref = ref.strip().lstrip("#")
        if ref.isdigit():
            m = self.store.get_message(int(ref))
            if m is not None:
                return m
        names = [account] if account else [a.name for a in self.accounts]
        for name in names:
            m = self.store.find_by_msg_id(name, ref.strip("<>"))
            if m is not None:
                return m
        raise LookupError(f"There is no message {ref!r}: `tuiclient show` shows their numbers.")

    def timeline(self, account: str, thread_id: str, *,
                 copies: bool = False) -> list[Message]:
        """A conversation as one list across both transports, oldest first.

        Each message once, as a reader counts them (bridge.store.once): our own
        email in two folders (a note to self in INBOX and Sent) is one, the copy
        with a body wins; our digest sent ahead of a chat handoff is the peer's
        and not in it. `copies`: each of our copies instead, for triage (every
        place of them). An OpenPGP email shows as opened when this process
        opened it already, else with no text (`fetch_body` opens it).
        """
        from .handoff import reads

        return [self._as_opened(m) for m in reads.timeline(self.store, account, thread_id,
                                                            copies=copies)]

    def message_copies(self, m: Message) -> list[Message]:
        """The rows that are the message `m` to its reader: itself and our own
        copies of it in other folders (a note to self: INBOX and Sent), for
        triage to act on the place it means."""
        from .handoff import reads

        return reads.copies_of(self.store, m)

    def search(self, query: str, limit: int = 50, account: str | None = None) -> list[Message]:
        """Search mail and chat. A bulk import leaves rows waiting for the full-text
        index; catch up first, so what was just synced is found."""
        self._catch_up_index()
        return self.store.search(query, limit=limit, account=account)

    def _catch_up_index(self) -> None:
        from .handoff import reads

        reads.catch_up_index(self.store)

    def message_count(self, account: str | None = None) -> int:
        """How many messages the store holds (of one account, or of all)."""
        return self.store.count_messages(account)

    def last_message_row(self) -> int:
        """The newest message's row id (0 for an empty store): where a follower of
        new messages starts."""
        return self.store.last_message_row()

    def messages_after(self, row_id: int, limit: int = 500) -> list[Message]:
        """Messages stored after row `row_id`, oldest first (for followers of new
        messages, such as the rules daemon)."""
        return self.store.messages_after(row_id, limit)

    @property
    def store_path(self) -> Path:
        """The store's file: its folder holds the front ends' own state files, and
        a failed write names it (the disk is full, or read-only)."""
        return self.store.path

    async def fetch_body(self, row_id: int) -> Message:
        """The message with its body, fetched (BODY.PEEK) and cached if needed. An
        OpenPGP email comes decrypted and/or verified, its `crypto` telling how
        (bridge.crypto.reading); gpg-agent may ask for a passphrase meanwhile."""
        import asyncio

        from .crypto.reading import is_openpgp
        from .handoff import reads

        m = await reads.fetch_body(self.store, self.ports, row_id)
        if not is_openpgp(m):
            return m
        return await asyncio.to_thread(self._open_openpgp, m)

    def _open_openpgp(self, m: Message) -> Message:
        from .crypto.autocrypt_verify import PeerCheckingPGP
        from .crypto.openpgp import OpenPGP
        from .crypto.reading import open_stored

        policy = self.config.crypto
        autocrypt = self.config.autocrypt_on(m.account)
        # With Autocrypt, a signature by a peer's key (never in the keyring) is
        # checked too (bridge.crypto.autocrypt_verify).
        port = (PeerCheckingPGP(policy.gnupg_home, self.store.path.parent)
                if autocrypt else OpenPGP(policy.gnupg_home))
        opened = open_stored(m, port, self.store.store_blob,
                             self._gossip_seen if autocrypt else None)
        status = opened.crypto
        if m.id is not None and status is not None:
            self._opened()[m.id] = opened
            # The index gets decrypted words only when the user allowed it.
            if policy.index_decrypted and status.decrypted and opened.text != m.text:
                self.store.set_body(m.id, opened.text, m.attachments)
        return opened

    def _gossip_seen(self, m: Message, gossip: Sequence[str], recipients: Sequence[str]
                     ) -> None:
        """Autocrypt-Gossip inside a decrypted email updates the gossiped peers."""
        from .crypto.autocrypt_mail import opened

        opened(self.store.path.parent, m, gossip, recipients)

    def _opened(self) -> dict[int, Message]:
        """OpenPGP emails opened by this process, by row: kept in memory only, so a
        conversation shown again needs neither gpg nor the index."""
        cache: dict[int, Message] | None = getattr(self, "_openpgp_cache", None)
        if cache is None:
            cache = {}
            self._openpgp_cache = cache
        return cache

    def _as_opened(self, m: Message) -> Message:
        from .crypto.reading import is_openpgp, sealed_view

        if not is_openpgp(m):
            return m
        done = self._opened().get(m.id or 0)
        if done is None:
            return sealed_view(m)
        return m.replace(text=done.text, subject=done.subject,
                                   attachments=done.attachments, crypto=done.crypto)

    async def fetch_headers(self, row_id: int, names: Sequence[str]) -> dict[str, str]:
        """Named header fields of an email, read from the IMAP server (the store
        keeps only the ones threading and display need)."""
        m = self.message(row_id)
        if m.transport is not Transport.EMAIL or m.uid is None:
            return {}
        return await self.ports.mail(m.account).fetch_headers(row_id, names)

    # -- the event log ---------------------------------------------------------------

    def logged_events(self, since_id: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Kept events after `since_id`, oldest first: what every process sharing
        this store reported (`tuiclient watch` follows it); pass the last id seen."""
        return self.store.events(since_id, limit)

    def log_event(self, kind: str, payload: dict[str, Any] | None = None) -> int:
        """Keep a front end's own event in the log (e.g. `WatchStarted`); its id."""
        return self.store.add_event(kind, payload)

    # -- the outbox's rows ------------------------------------------------------------

    def outbox_items(self, states: Sequence[DeliveryState | str] | None = None
                     ) -> list[OutboxItem]:
        """What waits or was sent through the outbox, oldest first."""
        return self.store.outbox_items(states=states)

    def outbox_item(self, outbox_id: int) -> OutboxItem | None:
        """One outbox row, as it stands now; None if there is no such row."""
        return self.store.outbox_get(outbox_id)

    def outbox_log(self, outbox_id: int) -> list[OutboxLogEntry]:
        return self.store.outbox_history(outbox_id)

    @staticmethod
    def outbox_text(item: OutboxItem) -> str:
        """The words of an outbox row, whichever transport it waits for."""
        plan = item.payload.get("plan") if item.payload else None
        if isinstance(plan, dict):
            return str(plan.get("text", ""))
        return ""

    def outbox_message(self, item: OutboxItem) -> Message | None:
        """The message an outbox row sends (its conversation, its words), when the
        store holds it."""
        return self.store.find_by_msg_id(item.account, item.msg_id)

    # -- people: contacts, who is who, presence ---------------------------------------

    def contacts(self) -> list[Contact]:
        return self.store.contacts()

    def contact_for(self, address: str) -> Contact | None:
        """The contact with this email address or JID (a full JID finds its bare one)."""
        return self.store.contact_for(address)

    def contact_conflicts(self) -> list[Resolution]:
        """Addresses mapped to more than one person: what the user should settle."""
        return self.identity.conflicts()

    def confirm_address(self, email: str, jid: str) -> None:
        """The user says `email` and `jid` are the same person (an answer to
        `UnmappedParty`): the one write in this block, the identity layer's."""
        self.identity.confirm(email, jid)

    def map_contact(self, email: str, jid: str, name: str = "") -> Resolution:
        """`confirm_address` with the person's name; how `email` maps now."""
        self.identity.confirm(email, jid, name)
        return self.identity.jid_for(email)

    def forget_address(self, address: str) -> bool:
        """Forget a learned address of a contact; False if `address` was not a
        learned one (those of the config file are changed there)."""
        return self.store.remove_contact_address(address, sources=("learned",))

    async def learn_contacts_from_vcards(self) -> None:
        """Ask every roster contact's vCard for email addresses (each account with
        a chat connection); what is found waits as a suggestion."""
        for client in self.xmpp.values():
            for item in client.roster():
                try:
                    await client.learn_contact_from_vcard(item.jid)
                except Exception:  # one contact's vCard must not stop the others
                    continue

    def chat_online(self, account: str | None = None) -> bool:
        """Whether `account` (None: any account) has a chat connection now."""
        return bool(self.xmpp) if account is None else account in self.xmpp

    def availabilities(self, account: str, addresses: Iterable[str]
                       ) -> dict[str, ContactPresence]:
        """`availability` of many contacts (by JID or email address) in one read:
        what a roster screen draws."""
        return {address: self.availability(account, address) for address in addresses}

    def availability(self, account: str, address: str) -> ContactPresence:
        """A contact's availability by JID or by email address (mapped to its JID)."""
        from .identity import normalize_email, normalize_jid

        jid = normalize_jid(address) if "@" in address else address
        if "@" in address and normalize_email(address):
            r = self.identity.jid_for(address)
            if r.address:
                jid = r.address
        client = self.xmpp.get(account)
        if client is None or not jid:
            return ContactPresence(jid or address, Availability.UNKNOWN)
        return client.availability(jid)

    def _roster_named(self, name: str) -> list[str]:
        wanted = name.casefold()
        return [item.jid for client in self.xmpp.values() for item in client.roster()
                if item.name and item.name.casefold() == wanted]

    # -- rooms --------------------------------------------------------------------------

    def joined_rooms(self, account: str) -> list[str]:
        """The group chats (room JIDs) the account is in right now."""
        client = self.xmpp.get(account)
        return client.rooms() if client is not None else []

    def room_conversations(self, account: str | None = None
                           ) -> dict[tuple[str, str], tuple[str, str]]:
        """(account, thread id) -> (room JID, its name) for the conversation of
        every room the account took part in, left or not (one account's, or
        every account's). The name is its bookmark's, else the room's own
        (disco#info), else its JID's local part: what a Profanity user sees on
        its window. Online, as the client knows it; else from the client's
        state file (a command that only reads the store)."""
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for a in self.accounts:
            if not a.jid or (account is not None and a.name != account):
                continue
            client = self.xmpp.get(a.name)
            if client is not None:
                state = client.state
                rooms = {thread_id: (room, state.room_names.get(room, ""))
                         for thread_id, room in state.room_of_thread(client.own).items()}
            else:
                from .safe import safe_basename
                from .xmpp.room_names import rooms_in_file

                rooms = rooms_in_file(self.store.path.parent / "xmpp" /
                                      f"{safe_basename(a.name)}.json",
                                      a.jid.split("/", 1)[0].lower())
            for thread_id, (room, name) in rooms.items():
                found[(a.name, thread_id)] = (room, name or room.partition("@")[0] or room)
        return found

    def remembered_rooms(self, account: str) -> list[str]:
        """The group chats the account takes part in across sessions (joined again
        at the next start), joined right now or not."""
        client = self.xmpp.get(account)
        return list(client.state.rooms) if client is not None else []

    def room_events(self, account: str, room: str) -> list[RoomHappened]:
        """What happened in a room between its lines (joins, leaves, kicks, bans,
        nick and topic changes), oldest first, as the store's event log kept it:
        seen by this process or any other on the same store, across restarts."""
        from dataclasses import fields

        from .events import RoomHappened

        known = {f.name for f in fields(RoomHappened)}
        found: list[RoomHappened] = []
        last: dict[str, tuple[tuple[object, ...], float]] = {}  # per nick: its last
        for stored in self.store.room_events(account, room.split("/", 1)[0]):
            try:
                e = RoomHappened(**{k: v for k, v in stored.payload.items() if k in known})
            except TypeError:
                continue  # a payload written by another version, missing a field
            # Two processes in the room on one store (the app, a `run` daemon)
            # each keep what they saw: the same happening seconds apart, with
            # nothing else about that nick between, is one.
            same = (e.what, e.nick, e.by, e.reason, e.new, e.ours)
            before = last.get(e.nick)
            if before is None or before[0] != same or e.at - before[1] >= ROOM_ECHO:
                found.append(e)
            last[e.nick] = (same, e.at)
        return found

    def room_nick(self, account: str, room: str) -> str:
        """Our nick in a room as the room knows it now ("" when not in it)."""
        client = self.xmpp.get(account)
        return client.room_nick(room) if client is not None else ""

    def room_occupants(self, account: str, room: str) -> list[tuple[str, str]]:
        """Who is in a group chat the account is in: (bare JID, or "" where the room
        hides it; nick), by nick."""
        from .xmpp.stanzas import bare as bare_jid

        client = self.xmpp.get(account)
        if client is None:
            return []
        return [(bare_jid(o.jid) if o.jid else "", o.nick) for o in client.occupants(room)]

    def thread_labels(self, keys: Sequence[tuple[str, str]]
                      ) -> dict[tuple[str, str], tuple[frozenset[str], frozenset[str], bool]]:
        """Per conversation (account, thread id): its tags (IMAP keywords), the
        folders its emails are in, whether it has chat lines; for the list's rows."""
        return self.store.thread_labels(keys)
