"""The main screen around the open conversation: the conversation list's pages,
the sidebar (folders with their unread counts, contacts with their presence),
the outbox marks in the list, the status bar, and who is who (`Directory`) for
the widgets that name people.

A part of `MainScreen`: it reads from the engine and passes the data down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.engine import Engine
from bridge.model import DeliveryState, Message, SortKey, Transport
from bridge.store.records import Cursor, Thread
from tuiclient.appref import client_app
from tuiclient.format import one_line
from tuiclient.people import Directory
from tuiclient.widgets.conversation_list import ConversationList, Key, key_of
from tuiclient.widgets.sidebar import AccountRow, ContactRow, Sidebar
from tuiclient.widgets.status_bar import StatusBar, StatusReport

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen

# What "waiting" means in the list's outbox marks and on the outbox screen (which
# imports it from here: that screen is loaded when it is first opened).
WAITING = (DeliveryState.QUEUED, DeliveryState.DEFERRED, DeliveryState.SENDING,
           DeliveryState.FAILED)



def own_addresses(engine: Engine) -> set[str]:
    return {x.lower() for a in engine.accounts for x in (a.email, a.jid) if x}


def other_party(messages: list[Message], own: set[str]) -> str:
    """Whom a conversation is with: the newest sender that is not us, else the
    first one we wrote to (a bare address; "" when we only wrote to ourselves)."""
    for m in reversed(messages):
        for p in (m.sender, *m.recipients):
            address = p.address.split("/", 1)[0]
            if address and address.lower() not in own and p.role != "bcc":
                return address
    return ""


EAGER_PEERS = 60  # rows whose other party is read before the list draws them


class Overview:
    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self.account: str | None = None  # the list shows this account, or all
        self.folder: tuple[str, str] | None = None  # ... or this (account, folder)
        self.contacts: list[ContactRow] = []
        self.account_rows: list[AccountRow] = []
        self.names: dict[str, str] = {}  # address (lower) -> contact name
        self.waiting = 0  # conversations with a message waiting in the outbox
        self._shared_due = False

    @property
    def engine(self) -> Engine:
        return self.screen.engine

    # -- the list ------------------------------------------------------------------

    def reload(self) -> None:
        """The list from the store (after start, or a change of account, folder or
        order), and its title saying what it shows. The list reads the rows it
        draws (#22: a window onto the store, whatever its length)."""
        listing = self.screen.query_one(ConversationList)
        account, folder = self.folder if self.folder is not None else (self.account, None)
        listing.show(self.engine.conversation_rows(account, folder, order=listing.order))
        self.peers_of(listing.rows[:EAGER_PEERS])
        listing.border_title = self.title()

    def _page(self, limit: int, before: Cursor | SortKey | None = None) -> list[Thread]:
        order = self.screen.query_one(ConversationList).order  # the list's (S, :sort)
        if self.folder is not None:
            account, folder = self.folder
            return self.engine.folder_conversations(account, folder, limit=limit,
                                                    before=before, order=order)
        return self.engine.conversations(self.account, limit=limit, before=before,
                                         order=order)

    def title(self) -> str:
        """What the list shows, for its frame: a folder says so, and how to leave it."""
        if self.folder is not None:
            account, folder = self.folder
            title = f"Folder {one_line(folder)} · {one_line(account)} (esc: all conversations)"
        elif self.account is not None:
            title = f"Conversations · {one_line(self.account)}"
        else:
            title = "Conversations"
        order = self.screen.query_one(ConversationList).order.label
        return f"{title} · {order}" if order else title

    def merge_top(self, limit: int = 50) -> None:
        """Bring the most recent conversations up to date, without a reload: the
        list reads its count and rows again (new conversations anywhere in it
        count, not only the newest `limit`)."""
        threads = self._page(limit)
        self.peers_of(threads[:EAGER_PEERS])
        self.screen.query_one(ConversationList).merge(threads)

    def closing(self) -> bool:
        """The app is shutting down: its widgets are going, a worker finishing late
        (a mark, a fetch) has nothing left to draw in."""
        return not self.screen.app.is_running

    def merge_thread(self, account: str, thread_id: str) -> None:
        if self.closing():
            return
        if self.account not in (None, account) or not self.in_folder(account, thread_id):
            return
        thread = self.engine.thread(account, thread_id)
        if thread is not None and not self.engine.conversation_hidden(account, thread_id):
            self.peers_of([thread])
            self.screen.query_one(ConversationList).merge([thread])

    def in_folder(self, account: str, thread_id: str) -> bool:
        """Whether a conversation belongs in the list when it shows a folder: it has
        an email there, or its row is there already (moved away by a triage key, it
        stays in sight with where it went, as mutt keeps a deleted row)."""
        if self.folder is None:
            return True
        if account != self.folder[0]:
            return False
        key = (account, thread_id)
        if any(key_of(t) == key for t in self.screen.query_one(ConversationList).rows):
            return True
        labels = self.engine.thread_labels([key]).get(key)
        return labels is not None and self.folder[1] in labels[1]

    # -- a conversation under two of the user's accounts ------------------------------

    def shared_soon(self) -> None:
        """The rows changed: which are also under another account, once for a run
        of changes."""
        if not self._shared_due and len(self.engine.accounts) > 1:
            self._shared_due = True
            self.screen.call_later(self.pass_shared)

    def pass_shared(self) -> None:
        """Rows in view (and near) whose conversation is under another of the user's
        accounts too (an email to both of their addresses): their account, down to
        the list, which says it in the row as the title does."""
        self._shared_due = False
        listing = self.screen.query_one(ConversationList)
        keys = listing.keys_near_view()
        names = [a.name for a in self.engine.accounts]
        others = [(other, thread_id) for account, thread_id in keys
                  for other in names if other != account]
        found = self.engine.thread_labels(others) if others else {}
        near = set(keys)
        shared = {k: v for k, v in listing.shared.items() if k not in near}
        for account, thread_id in keys:
            if any((other, thread_id) in found for other in names if other != account):
                shared[(account, thread_id)] = account
        if shared != listing.shared:
            listing.shared = shared

    # -- who the other party is ------------------------------------------------------

    def peers_of(self, threads: list[Thread]) -> None:
        """The other party of the rows a first screen shows, read before they are
        drawn (later rows ask with NeedPeers as they come into view)."""
        listing = self.screen.query_one(ConversationList)
        own = own_addresses(self.engine)
        wanted = [key_of(t) for t in threads if key_of(t) not in listing.peers and
                  one_line(t.last_sender).split("/", 1)[0].lower() in own]
        if wanted:
            self.find_peers(wanted)

    def find_peers(self, keys: list[Key]) -> None:
        """The other party of conversations we wrote last in (the list names them,
        never "you"): the newest sender that is not us, else whom we wrote to."""
        own = own_addresses(self.engine)
        found = {(account, thread_id): other_party(self.engine.timeline(account, thread_id), own)
                 for account, thread_id in keys}
        listing = self.screen.query_one(ConversationList)
        listing.peers = {**listing.peers, **found}

    def conversation_with(self, address: str) -> Thread | None:
        """The latest conversation with a contact (any of their addresses), a chat
        rather than an email when there is one; None if there is none yet."""
        addresses = {address.lower()}
        for c in self.engine.contacts():
            mine = {a.lower() for a in (*c.jids, *c.emails)}
            if address.lower() in mine:
                addresses |= mine
        found: list[Message] = []
        for a in sorted(addresses):
            for q in (f"from:{a}", f"to:{a}"):
                try:
                    found += self.engine.search(q, limit=20)
                except Exception:  # a query the parser refuses finds nothing
                    continue
        if not found:
            return None
        chats = [m for m in found if m.transport is Transport.XMPP]
        newest = max(chats or found, key=lambda m: m.date)
        return self.engine.thread(newest.account, newest.thread_id)

    # -- the sidebar ---------------------------------------------------------------

    def refresh_sidebar(self, *, folders: bool = True, contacts: bool = True) -> None:
        """The sidebar from the store: the folders with their unread counts (which
        follow every read, new message and flag change the store sees), and the
        contacts with their presence. Either part may be left as it is."""
        if self.closing():
            return
        engine = self.engine
        if folders or not self.account_rows:
            self.account_rows = [AccountRow(a.name, a.email or a.jid or "",
                                            tuple(engine.folders(a.name)))
                                 for a in engine.accounts]
        if contacts or not self.contacts:
            self.refresh_contacts()
        self.screen.query_one(Sidebar).show(self.account_rows, self.contacts)

    def refresh_contacts(self) -> None:
        engine = self.engine
        rows = []
        account = engine.accounts[0].name if engine.accounts else None
        names: dict[str, str] = {}
        for c in engine.contacts():
            # A JID equal to the email address is stored once, as the email address;
            # the engine maps it to the JID.
            address = (c.jids or c.emails or [""])[0]
            for a in (*c.jids, *c.emails):
                names[a.lower()] = c.name
            if address and account is not None:
                p = engine.availability(account, address)
                rows.append(ContactRow(c.name, address, p.availability.value, p.status or ""))
            else:
                rows.append(ContactRow(c.name, address, "unknown"))
        self.contacts = rows
        self.names = names
        client_app(self.screen).contact_names = names  # for the search and compose screens
        self.screen.query_one(ConversationList).names = names
        self.screen.pass_down()

    def directory(self) -> Directory:
        """Who is who right now: contacts' names, our own addresses, and per account
        the group chats and who is in them."""
        engine = self.engine
        own: dict[str, str] = {}
        for a in engine.accounts:
            for x in (a.email, a.jid):
                own.setdefault((x or "").lower(), a.display_name or "")
        joined: dict[str, frozenset[str]] = {}
        rooms: dict[str, frozenset[str]] = {}
        occupants: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for a in engine.accounts:
            joined[a.name] = frozenset(engine.joined_rooms(a.name))
            rooms[a.name] = frozenset(r.lower() for r in
                                      (*joined[a.name], *engine.remembered_rooms(a.name)))
            for room in rooms[a.name]:
                people = engine.room_occupants(a.name, room)
                if people:
                    occupants[(a.name, room)] = people
        drafts = {row.name: frozenset(f.name for f in row.folders if f.role == "drafts")
                  for row in self.account_rows}
        return Directory(names=self.names, own=own, joined=joined, rooms=rooms,
                         occupants=occupants, drafts=drafts,
                         room_threads=engine.room_conversations())

    # -- the outbox marks and the status bar -----------------------------------------

    def refresh_outbox(self) -> None:
        states: dict[Key, DeliveryState] = {}
        for item in self.engine.outbox_items(WAITING):
            m = self.engine.outbox_message(item)  # which conversation it belongs to
            if m is not None:
                states[(m.account, m.thread_id)] = item.state
        self.screen.query_one(ConversationList).outbox = states
        self.waiting = len(states)
        self.refresh_status()

    def refresh_status(self) -> None:
        app = client_app(self.screen)
        accounts = tuple((a.name, tuple(s for s in ("imap", "smtp", "xmpp") if a.server(s)))
                         for a in self.engine.accounts)
        presence = {}
        for a in self.engine.accounts:
            own = self.engine.own_presence(a.name)
            if own is not None:
                presence[a.name] = (own.availability.value, own.status)
        # Copies: the app's dicts change in place, and the bar draws on a change.
        self.screen.query_one(StatusBar).report = StatusReport(
            accounts, dict(app.health), dict(app.sync_state), self.waiting, presence)
