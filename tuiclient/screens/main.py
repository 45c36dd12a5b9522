"""The main screen: sidebar, conversation list, and the open conversation.

Wide terminals show everything at once: the list over the conversation, whose
email view, response cards and chat view sit side by side. Narrow ones (under
NARROW columns) show one pane at a time: Enter goes in, Escape comes back, Tab
moves on.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header

from bridge.engine import Engine
from bridge.events import (
    DeliveryChanged,
    Event,
    HealthChanged,
    MessageReceived,
    PresenceChanged,
    RosterChanged,
)
from bridge.mail.send import EmailDelivery
from bridge.mail.sync import FolderChanged, SyncProgress
from bridge.model import FLAGGED, DeliveryState, Direction, Message, Transport
from bridge.outbox import DeferralRetry, OutboxChanged
from bridge.store.records import Thread
from tuiclient.appref import client_app
from tuiclient.format import one_line
from tuiclient.keys import bind
from tuiclient.replies import ReplyDraft, send_new, send_reply, sent_words
from tuiclient.widgets.conversation import (
    ChatReply,
    ChatView,
    Chosen,
    ConversationPane,
    EmailView,
    ReplyTo,
    ResponseCards,
    Timeline,
)
from tuiclient.widgets.conversation_list import PAGE, ConversationList, key_of
from tuiclient.widgets.sidebar import AccountRow, ContactRow, Sidebar
from tuiclient.widgets.status_bar import StatusBar

NARROW = 100
PANES = ("sidebar", "list", "message", "chat")
WAITING = (DeliveryState.QUEUED, DeliveryState.DEFERRED, DeliveryState.SENDING,
           DeliveryState.FAILED)


def newest_lines(messages: list[Message]) -> set[int]:
    """The chat lines whose displayed marker tells each sender that all their
    lines among `messages` were seen: the newest from each (that has an id to
    quote, where one has)."""
    newest: dict[str, Message] = {}
    for m in messages:
        if m.transport is not Transport.XMPP or m.direction is not Direction.IN \
                or m.id is None:
            continue
        peer = m.sender.address.split("/", 1)[0].lower()
        old = newest.get(peer)
        quotable = bool(m.attr_id or m.origin_id)
        if old is None or (quotable, m.date, m.id) >= (
                bool(old.attr_id or old.origin_id), old.date, old.id or 0):
            newest[peer] = m
    return {m.id for m in newest.values() if m.id is not None}


class MainScreen(Screen):
    BINDINGS = [
        bind("search", "search", label="search"),
        bind("reply_email", "reply('email', False)", label="reply email"),
        bind("reply_all_email", "reply('email', True)", label="all", show=False),
        bind("reply_im", "reply('im', False)", label="reply IM"),
        bind("reply_all_im", "reply('im', True)", label="all", show=False),
        bind("reply_options", "reply_options", label="options", show=False),
        bind("compose", "compose", label="new"),
        bind("flag", "toggle_flag", label="flag", show=False),
        bind("unread", "toggle_unread", label="unread", show=False),
        bind("outbox", "outbox", label="outbox"),
        bind("health", "health", label="servers", show=False),
        bind("help", "help", label="help"),
        bind("refresh", "refresh", show=False),
        bind("next_pane", "next_pane", show=False),
        bind("back", "back", show=False),
    ]

    narrow: reactive[bool] = reactive(False)
    pane: reactive[str] = reactive("list")

    def __init__(self) -> None:
        super().__init__()
        self.account: str | None = None  # the list shows this account, or all
        self.open_key: tuple[str, str] | None = None
        self.messages: list[Message] = []
        self.draft: ReplyDraft | None = None  # the inline IM reply being written
        self.contacts: list[ContactRow] = []
        self.subject = ""
        self.marking: set[int] = set()  # rows being marked read right now
        self.kept_unread: set[int] = set()  # marked unread by hand while open
        self.account_rows: list[AccountRow] = []

    @property
    def engine(self) -> Engine:
        return client_app(self).engine

    def compose(self) -> ComposeResult:
        clock = client_app(self).clock
        yield Header()
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="right"):
                me = tuple(x for a in self.engine.accounts
                           for x in (a.name, a.email, a.jid, a.display_name) if x)
                yield ConversationList(clock=clock, me=me, id="conversations")
                yield ConversationPane(clock=clock, id="conversation")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "tuiclient"
        self.sub_title = "email and XMPP side by side"
        self.query_one(EmailView).show(None)
        self.query_one(ChatView).set_target("")
        self.query_one(ResponseCards).display = False
        self.refresh_sidebar()
        self.reload()
        self.refresh_outbox()
        self.refresh_status()
        self.query_one(ConversationList).focus()
        self._apply_pane()

    # -- layout ------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self.narrow = event.size.width < NARROW

    def watch_narrow(self, narrow: bool) -> None:
        self.set_class(narrow, "narrow")
        self._apply_pane()

    def watch_pane(self) -> None:
        self._apply_pane()

    def _apply_pane(self) -> None:
        for p in PANES:
            self.set_class(self.pane == p, f"pane-{p}")

    def show_pane(self, pane: str) -> None:
        self.pane = pane
        focus = {"sidebar": "#sidebar", "list": "#conversations", "message": "#email-view",
                 "chat": "#timeline"}[pane]
        if self.narrow or pane in ("list", "sidebar", "chat"):
            self.query_one(focus).focus()

    def action_next_pane(self) -> None:
        panes = list(PANES) if self.open_key else ["sidebar", "list"]
        if not self.narrow:
            focused = self.focused
            for i, p in enumerate(panes):
                widget = self.query_one({"sidebar": "#sidebar", "list": "#conversations",
                                         "message": "#email-view", "chat": "#timeline"}[p])
                if focused is not None and (focused is widget or widget in focused.ancestors):
                    self.show_pane(panes[(i + 1) % len(panes)])
                    return
        self.show_pane(panes[(panes.index(self.pane) + 1) % len(panes)]
                       if self.pane in panes else "list")

    def action_back(self) -> None:
        self.show_pane("list")

    # -- the list ------------------------------------------------------------------

    def reload(self) -> None:
        """The first page of the list (after start, or a change of account)."""
        threads = self.engine.conversations(self.account, limit=PAGE)
        self.query_one(ConversationList).set_rows(threads, exhausted=len(threads) < PAGE)

    def on_conversation_list_need_more(self, event: ConversationList.NeedMore) -> None:
        threads = self.engine.conversations(self.account, limit=PAGE, before=event.before)
        self.query_one(ConversationList).extend(threads, exhausted=len(threads) < PAGE)

    def merge_top(self, limit: int = 50) -> None:
        """Bring the most recent conversations up to date, without a reload."""
        self.query_one(ConversationList).merge(self.engine.conversations(self.account,
                                                                         limit=limit))

    def merge_thread(self, account: str, thread_id: str) -> None:
        if self.account not in (None, account):
            return
        thread = self.engine.thread(account, thread_id)
        if thread is not None:
            self.query_one(ConversationList).merge([thread])

    def on_conversation_list_selected(self, event: ConversationList.Selected) -> None:
        self.open_thread(event.thread)
        self.show_pane("message" if self.narrow and self._current_is_email() else "chat")

    def _current_is_email(self) -> bool:
        m = self.query_one(Timeline).current
        return m is not None and m.transport is Transport.EMAIL

    # -- the open conversation ---------------------------------------------------------

    def open_thread(self, thread: Thread, select_id: int | None = None) -> None:
        self.open_key = key_of(thread)
        self.draft = None
        self.kept_unread.clear()
        self.query_one(ChatView).set_target("")
        self.messages = self.engine.timeline(thread.account, thread.thread_id)
        n = len(self.messages)
        self.subject = one_line(thread.subject) or (
            "(no subject)" if Transport.EMAIL in thread.transports else "Chat with " + (
                one_line(thread.last_sender).split("/", 1)[0] if thread.last_sender else "?"))
        self.query_one(ChatView).set_title(f"{self.subject} · {n} message{'s' * (n != 1)}")
        select = None
        if select_id is not None:
            select = next((i for i, m in enumerate(self.messages) if m.id == select_id), None)
        if select is None:
            select = next((i for i, m in enumerate(self.messages) if m.unread), None)
        self.query_one(Timeline).show(self.messages, select)
        self.fetch_thread_bodies()
        self.mark_open_read()

    @work(group="thread-bodies", exclusive=True)
    async def fetch_thread_bodies(self) -> None:
        """The words of the thread's emails (header sync has none), newest first, so
        the timeline and the response cards can show them."""
        key = self.open_key
        missing = [m.id for m in reversed(self.messages) if m.transport is Transport.EMAIL
                   and not m.text and m.uid is not None and m.id is not None][:30]
        for row_id in missing:
            try:
                fetched = await self.engine.fetch_body(row_id)
            except Exception:
                continue  # the email view says so when the user opens that one
            if self.open_key != key:
                return
            self.messages = [fetched if x.id == fetched.id else x for x in self.messages]
            self.query_one(Timeline).update_message(fetched)
        current = self.query_one(Timeline).current
        if missing and current is not None and self.open_key == key:
            self.query_one(EmailView).show(current)
            self.show_cards(current)

    def refresh_open(self) -> None:
        """New or changed messages in the open conversation."""
        if self.open_key is None:
            return
        timeline = self.query_one(Timeline)
        current = timeline.current
        messages = self.engine.timeline(*self.open_key)
        if [m.id for m in messages] == [m.id for m in self.messages]:
            for m in messages:
                timeline.update_message(m)
            self.messages = messages
            self.refresh_head()  # its delivery mark, flags, unread dot
            if self.open_on_screen():
                self.mark_open_read()
            return
        # Follow the conversation when at its end or writing in it (as chat does).
        at_end = timeline.highlighted is None or \
            timeline.highlighted >= len(self.messages) - 1 or \
            self.query_one(ChatReply).has_focus
        self.messages = messages
        n = len(messages)
        self.query_one(ChatView).set_title(f"{self.subject} · {n} message{'s' * (n != 1)}")
        select = len(messages) - 1 if at_end or current is None else next(
            (i for i, m in enumerate(messages) if m.id == current.id), len(messages) - 1)
        timeline.show(messages, select)
        if self.open_on_screen():
            self.mark_open_read()  # what arrives in the open conversation is seen

    # -- read and flagged ------------------------------------------------------------------

    def open_on_screen(self) -> bool:
        """Whether the open conversation is in view (a narrow terminal may show the
        list instead)."""
        return self.open_key is not None and not (
            self.narrow and self.pane in ("sidebar", "list"))

    def mark_open_read(self) -> None:
        """Opening a conversation reads it: its unread incoming messages become read,
        on the server too (IMAP \\Seen), and a chat line's sender is told (XEP-0333).
        In a worker: the servers are never waited for on the UI loop."""
        if self.open_key is None:
            return
        todo = [m for m in self.messages if m.unread and m.id is not None
                and m.id not in self.marking and m.id not in self.kept_unread]
        if todo:
            self.marking.update(m.id for m in todo if m.id is not None)
            self.mark(self.open_key, todo, "read", True)

    @work(group="mark")
    async def mark(self, key: tuple[str, str], messages: list[Message], flag: str,
                   on: bool) -> None:
        ids = [m.id for m in messages if m.id is not None]
        self.marking.update(ids)
        failed: list[Exception] = []
        counted = False  # whether a folder's unread count changed
        told = newest_lines(messages) if flag == "read" and on else set()
        try:
            for m in messages:
                assert m.id is not None
                try:
                    if m.transport is Transport.XMPP and flag == "read" and on:
                        # One displayed marker, for the newest line, says the earlier
                        # ones were seen too (XEP-0333): not one per line.
                        await self.engine.mark(m.id, flag, on, tell=m.id in told)
                    else:
                        await self.engine.mark(m.id, flag, on)
                except Exception as exc:  # offline: the list keeps the truth (unread)
                    failed.append(exc)
                    if flag == "read" and on:
                        self.kept_unread.add(m.id)  # not tried again until reopened
                    continue
                counted = counted or (flag == "read" and m.transport is Transport.EMAIL)
        finally:
            self.marking.difference_update(ids)
        if counted:  # the folders' counts come from the store, which the marks updated
            self.refresh_sidebar(contacts=False)
        if failed:
            n = len(failed)
            what = {"read": "read" if on else "unread", "flagged": "flagged" if on else
                    "unflagged"}.get(flag, flag)
            self.notify(f"Could not mark {n} message{'s' * (n != 1)} {what}: {failed[0]}",
                        severity="warning", markup=False)
        self.merge_thread(*key)
        if self.open_key == key:
            self.refresh_open()
            self.refresh_head()

    def refresh_head(self) -> None:
        """The email view's headers and marks, for the message it shows as it is now."""
        view = self.query_one(EmailView)
        shown = next((m for m in self.messages if view.shown is not None
                      and m.id == view.shown.id), None)
        if shown is not None:
            view.show_head(shown)

    def marking_target(self) -> tuple[tuple[str, str], list[Message], Message] | None:
        """What F and N act on: the message chosen in the open conversation; from the
        list, a conversation not open stays closed (its last message is meant)."""
        listing = self.query_one(ConversationList)
        thread = listing.current
        if listing.has_focus and thread is not None and key_of(thread) != self.open_key:
            messages = self.engine.timeline(*key_of(thread))
            if not messages:
                return None
            incoming = [m for m in messages if m.direction is Direction.IN]
            return key_of(thread), messages, (incoming or messages)[-1]
        m = self.query_one(Timeline).current
        if m is None or self.open_key is None:
            return None
        return self.open_key, self.messages, m

    def action_toggle_flag(self) -> None:
        target = self.marking_target()
        if target is None or target[2].id is None:
            return
        key, _, m = target
        self.mark(key, [m], "flagged", FLAGGED not in m.flags)

    def action_toggle_unread(self) -> None:
        target = self.marking_target()
        if target is None:
            return
        key, messages, m = target
        if m.id is None:
            return
        if key != self.open_key and any(x.unread for x in messages):
            # From the list: a conversation with unread messages is read at once.
            self.mark(key, [x for x in messages if x.unread and x.id is not None], "read",
                      True)
            return
        if m.direction is Direction.OUT:
            self.notify("Your own messages are never unread.", severity="warning")
            return
        if m.unread:
            self.kept_unread.discard(m.id)
        elif key == self.open_key:
            self.kept_unread.add(m.id)  # not read again while the conversation stays open
        self.mark(key, [m], "read", m.unread)

    @on(Chosen)
    def message_chosen(self, event: Chosen) -> None:
        m = event.message
        view = self.query_one(EmailView)
        needs_body = m.transport is Transport.EMAIL and not m.text and m.uid is not None
        view.show(m, note="fetching the message…" if needs_body else "")
        self.show_cards(m)
        if needs_body and m.id is not None:
            self.fetch_body(m.id)

    @on(Timeline.OptionSelected)
    def timeline_enter(self, event: Timeline.OptionSelected) -> None:
        event.stop()
        self.show_pane("message")

    @work(group="body", exclusive=True)
    async def fetch_body(self, row_id: int) -> None:
        try:
            m = await self.engine.fetch_body(row_id)
        except Exception as exc:
            current = self.query_one(Timeline).current
            if current is not None and current.id == row_id:
                self.query_one(EmailView).show(current, note=f"could not fetch it: {exc}")
            return
        self.query_one(Timeline).update_message(m)
        self.messages = [m if old.id == m.id else old for old in self.messages]
        current = self.query_one(Timeline).current
        if current is not None and current.id == row_id:
            self.query_one(EmailView).show(m)
            self.show_cards(m)

    def responses_to(self, m: Message) -> list[Message]:
        """What a message got after it in its thread: replies by email, chat lines."""
        if m.transport is not Transport.EMAIL:
            return []
        later = [x for x in self.messages if (x.date, x.id or 0) > (m.date, m.id or 0)]
        return later

    def show_cards(self, m: Message) -> None:
        self.query_one(ResponseCards).show(self.responses_to(m))

    # -- replying ------------------------------------------------------------------------

    def target(self) -> Message | None:
        """The message a reply answers: the one chosen in the open conversation, or
        the last one of the highlighted conversation."""
        current = self.query_one(ConversationList).current
        if current is not None and (self.open_key != key_of(current) or not self.messages) \
                and self.query_one(ConversationList).has_focus:
            self.open_thread(current)
        return self.query_one(Timeline).current

    def several(self, m: Message) -> bool:
        if m.transport is Transport.EMAIL:
            return len([p for p in m.recipients if p.role in ("to", "cc")]) > 1
        return len({x.sender.address.split("/")[0] for x in self.messages
                    if x.transport is Transport.XMPP}) > 2

    def files(self) -> list:
        return [a for m in self.messages for a in m.attachments if a.filename]

    def action_reply(self, via: str, reply_all: bool) -> None:
        m = self.target()
        if m is None:
            self.notify("Nothing to reply to: open a conversation first.", severity="warning")
            return
        self.start_reply(m, via, reply_all)

    @on(ReplyTo)
    def reply_to_card(self, event: ReplyTo) -> None:
        self.start_reply(event.message, event.via, event.reply_all)

    def start_reply(self, m: Message, via: str, reply_all: bool) -> None:
        draft = ReplyDraft(m, via, reply_all=reply_all)
        if via == "email":
            self.compose_email(draft)
            return
        self.draft = draft
        self.show_target()
        if self.narrow:
            self.pane = "chat"
        self.query_one(ChatReply).focus()

    def show_target(self) -> None:
        d = self.draft
        if d is None:
            self.query_one(ChatView).set_target("")
            self.query_one(ChatReply).placeholder = "press i to reply by IM"
            return
        t = Text("IM reply to ", style="dim")
        t.append(self.reply_names(d), style="bold")
        t.append(f" ({d.describe()})\n", style="dim")
        t.append("enter: send · ctrl+o: options · esc: leave", style="dim italic")
        self.query_one(ChatView).set_target(t)
        self.query_one(ChatReply).placeholder = "your message"

    def reply_names(self, d: ReplyDraft) -> str:
        """Who a reply goes to, as the user knows them: the sender, or with "to all"
        everyone on the message but the user."""
        m = d.message
        named = client_app(self).contact_names
        me = {x.lower() for a in self.engine.accounts for x in (a.email, a.jid) if x}
        client = getattr(self.engine, "xmpp", {}).get(m.account)
        rooms = set(client.rooms()) if client is not None else set()
        parties = [m.sender] if m.direction is Direction.IN else []
        if d.reply_all or m.direction is Direction.OUT:
            parties += [p for p in m.recipients if p.role in ("to", "cc")]
        out: list[str] = []
        for p in parties:
            address = one_line(p.address).split("/", 1)[0]
            if address.lower() in me:
                continue
            name = "the group chat" if address in rooms else \
                one_line(p.name) or one_line(named.get(address.lower())) or address
            if name not in out:
                out.append(name)
        if len(out) > 4:
            out = [*out[:3], f"{len(out) - 3} more"]
        return ", ".join(out) or "this chat"

    @work(group="compose")
    async def compose_email(self, draft: ReplyDraft) -> None:
        from tuiclient.screens.compose import ComposeScreen

        await self.ensure_bodies()
        me = [a for acc in self.engine.accounts for a in (acc.email, acc.jid) if a]
        result = await self.app.push_screen_wait(
            ComposeScreen(draft, self.several(draft.message), self.files(), me))
        if result is None:
            return
        await self.send(result)

    async def ensure_bodies(self) -> None:
        """Email bodies (and so their files) of the open conversation, for the
        attachment checklist."""
        missing = [m.id for m in self.messages if m.transport is Transport.EMAIL
                   and not m.text and m.uid is not None and m.id is not None]
        if not missing:
            return
        for row_id in missing:
            try:
                await self.engine.fetch_body(row_id)
            except Exception as exc:
                self.notify(f"could not fetch a message: {exc}", severity="warning",
                            markup=False)
        if self.open_key is not None:
            self.messages = self.engine.timeline(*self.open_key)

    @on(ChatReply.Options)
    def action_reply_options(self) -> None:
        if self.draft is None:
            m = self.target()
            if m is None:
                return
            self.draft = ReplyDraft(m, "im")
        self.edit_options(self.draft)

    @work(group="compose")
    async def edit_options(self, draft: ReplyDraft) -> None:
        from tuiclient.screens.prompts import ReplyOptionsScreen

        await self.ensure_bodies()
        result = await self.app.push_screen_wait(
            ReplyOptionsScreen(draft, self.several(draft.message), self.files()))
        if result is not None:
            self.draft = result
        self.show_target()
        self.query_one(ChatReply).focus()

    @on(ChatReply.Send)
    def chat_send(self, event: ChatReply.Send) -> None:
        if self.draft is None:
            m = self.query_one(Timeline).current
            if m is None:
                self.notify("Open a conversation first.", severity="warning")
                return
            self.draft = ReplyDraft(m, "im")
            self.show_target()
        draft = self.draft
        draft.text = event.text
        self.query_one(ChatReply).value = ""
        # The next line continues the chat: no history or files again.
        self.draft = ReplyDraft(draft.message, "im", reply_all=draft.reply_all)
        self.show_target()
        self.run_worker(self.send(draft), group="send")

    @on(ChatReply.Leave)
    def chat_leave(self) -> None:
        self.draft = None
        self.show_target()
        self.query_one(Timeline).focus()

    async def send(self, draft: ReplyDraft) -> None:
        result = await send_reply(self, draft)
        if result is None:
            if draft.via == "im":
                chat_input = self.query_one(ChatReply)
                if not chat_input.value:
                    chat_input.value = draft.text  # nothing lost
            return
        self.notify(sent_words(result), title="Reply")
        self.after_send(result.thread_id or draft.message.thread_id, draft.message.account)

    def after_send(self, thread_id: str, account: str) -> None:
        self.merge_thread(account, thread_id)
        self.refresh_outbox()
        if self.open_key == (account, thread_id):
            self.refresh_open()

    def action_compose(self, to: str = "", via: str = "email") -> None:
        self.new_message(to, via)

    @work(group="compose")
    async def new_message(self, to: str, via: str) -> None:
        from tuiclient.screens.compose import NewMessageScreen

        result = await self.app.push_screen_wait(
            NewMessageScreen([a.name for a in self.engine.accounts], to, via))
        if result is None:
            return
        sent = await send_new(self, result)
        if sent is not None:
            self.notify(sent_words(sent), title="Message")
            self.merge_top()
            self.refresh_outbox()

    # -- other screens -------------------------------------------------------------------

    def action_search(self) -> None:
        from tuiclient.screens.search import SearchScreen

        self.app.push_screen(SearchScreen(), self.search_done)

    def search_done(self, m: Message | None) -> None:
        if m is None:
            return
        thread = self.engine.thread(m.account, m.thread_id)
        if thread is None:
            return
        listing = self.query_one(ConversationList)
        if not listing.select_key(key_of(thread)):
            listing.merge([thread])
            listing.select_key(key_of(thread))
        self.open_thread(thread, select_id=m.id)
        self.show_pane("message" if m.transport is Transport.EMAIL and self.narrow
                       else "chat")

    def action_outbox(self) -> None:
        from tuiclient.screens.outbox import OutboxScreen

        self.app.push_screen(OutboxScreen())

    def action_health(self) -> None:
        from tuiclient.screens.health import HealthScreen

        self.app.push_screen(HealthScreen())

    def action_help(self) -> None:
        from tuiclient.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.run_worker(self.engine.sync(), group="sync")
        client_app(self).probe()
        self.notify("Syncing…", timeout=2)

    @on(Sidebar.Chosen)
    def sidebar_chosen(self, event: Sidebar.Chosen) -> None:
        if event.kind in ("all", "account"):
            self.account = event.value[0] or None
            self.reload()
            self.show_pane("list")
        elif event.kind == "folder":
            from tuiclient.screens.search import SearchScreen

            account, folder = event.value
            query = f'in:"{folder}"' if " " in folder else f"in:{folder}"
            self.app.push_screen(SearchScreen(query, account), self.search_done)
        elif event.kind == "contact":
            contact = next((c for c in self.contacts if c.address == event.value[0]), None)
            via = "im" if contact and contact.availability == "available" else "email"
            self.action_compose(event.value[0], via)

    # -- what the engine tells -------------------------------------------------------------

    def refresh_sidebar(self, *, folders: bool = True, contacts: bool = True) -> None:
        """The sidebar from the store: the folders with their unread counts (which
        follow every read, new message and flag change the store sees), and the
        contacts with their presence. Either part may be left as it is."""
        engine = self.engine
        if folders or not self.account_rows:
            self.account_rows = [AccountRow(a.name, a.email or a.jid or "",
                                            tuple(engine.folders(a.name)))
                                 for a in engine.accounts]
        if contacts or not self.contacts:
            self.refresh_contacts()
        self.query_one(Sidebar).show(self.account_rows, self.contacts)

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
        client_app(self).contact_names = names
        self.query_one(ConversationList).set_names(names)

    def refresh_outbox(self) -> None:
        states: dict[tuple[str, str], DeliveryState] = {}
        for item in self.engine.outbox_items(WAITING):
            # Which conversation it belongs to: the engine has no call for this yet.
            m = self.engine.store.find_by_msg_id(item.account, item.msg_id)
            if m is not None:
                states[(m.account, m.thread_id)] = item.state
        self.query_one(ConversationList).set_outbox(states)
        self.waiting = len(states)
        self.refresh_status()

    def refresh_status(self) -> None:
        app = client_app(self)
        accounts = [(a.name, [s for s in ("imap", "smtp", "xmpp") if a.server(s)])
                    for a in self.engine.accounts]
        self.query_one(StatusBar).show(accounts, app.health, app.sync_state,
                                       getattr(self, "waiting", 0))

    def engine_event(self, event: Event) -> None:
        if isinstance(event, MessageReceived):
            self.merge_thread(event.account, event.thread_id)
            if self.open_key == (event.account, event.thread_id):
                self.refresh_open()
        elif isinstance(event, FolderChanged):
            if event.new or event.flags_changed or event.vanished:
                self.merge_top()
                self.refresh_sidebar(contacts=False)  # the folders' counts follow the store
                self.refresh_open()
        elif isinstance(event, SyncProgress):
            if event.phase in ("first-screen", "done"):
                self.merge_top(PAGE if event.phase == "first-screen" else 50)
            if event.phase == "done":
                self.refresh_sidebar(contacts=False)
            self.refresh_status()
        elif isinstance(event, (DeliveryChanged, OutboxChanged, EmailDelivery,
                                DeferralRetry)):
            self.refresh_outbox()
            self.refresh_open()
        elif isinstance(event, (PresenceChanged, RosterChanged)):
            self.refresh_sidebar(folders=False)
        elif isinstance(event, HealthChanged):
            self.refresh_status()
