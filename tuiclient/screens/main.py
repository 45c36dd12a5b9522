"""The main screen: sidebar, conversation list, and the open conversation.

Wide terminals show everything at once: the list over the conversation, whose
email view, response cards and chat view sit side by side. Narrow ones (under
NARROW columns) show one pane at a time: Enter goes in, Escape comes back, Tab
moves on.

This module is the screen's wiring: its layout and panes, its keys, and where
each message from its widgets and each burst of engine events goes. The work is
done by its parts, each in a module of its own: `overview` (the list, the
sidebar, the outbox marks and status bar), `open_thread` (the open
conversation), `marking` (read, unread, flagged), `replying` (replies and new
messages), `triage` (marks, delete, archive, move, copy, tags, undo), `mail` (an
email's files, forward, bounce, drafts), `limit` (the list limited to a search,
the next unread); `redraw` says what a burst of events asks to draw again.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, OptionList

from bridge.engine import Engine
from bridge.model import Message, Transport
from bridge.store.records import Thread
from tuiclient.appref import client_app
from tuiclient.command_line import CommandLine, commands
from tuiclient.drafts import ReplyDraft
from tuiclient.engine_events import EngineEvents
from tuiclient.format import is_draft, one_line
from tuiclient.keys import bind, window_bindings
from tuiclient.screens.chatting import Chatting
from tuiclient.screens.limit import Limit
from tuiclient.screens.mail import MailKeys
from tuiclient.screens.marking import Marking, newest_lines
from tuiclient.screens.open_thread import OpenThread
from tuiclient.screens.overview import WAITING, Overview
from tuiclient.screens.redraw import Redraw
from tuiclient.screens.replying import Replying
from tuiclient.screens.triage import Triage
from tuiclient.widgets.conversation_list import ConversationList, Key, key_of
from tuiclient.widgets.email_view import EmailView
from tuiclient.widgets.footer import NARROW, Footer
from tuiclient.widgets.occupants import Occupants
from tuiclient.widgets.reply_bar import ChatReply
from tuiclient.widgets.response_cards import ReplyTo, ResponseCard, ResponseCards
from tuiclient.widgets.sidebar import Sidebar
from tuiclient.widgets.status_bar import StatusBar
from tuiclient.widgets.thread_pane import ChatView, ConversationPane
from tuiclient.widgets.timeline import Chosen, Timeline

__all__ = ["NARROW", "PANES", "WAITING", "MainScreen", "newest_lines"]

PANES = ("sidebar", "list", "message", "chat")
FOCUS = {"sidebar": "#sidebar", "list": "#conversations", "message": "#email-view",
         "chat": "#timeline"}
TITLES = {"#sidebar": "Folders · contacts", "#conversations": "Conversations",
          "#email-view": "Message", "#cards": "Responses", "#timeline": "Timeline"}
# What Tab and Shift+Tab go through, in order, and the pane each is in (a narrow
# terminal shows that pane alone): the sidebar, the list, the message in full,
# its response cards, the open conversation's timeline, the reply line.
RING = (("sidebar", "#sidebar"), ("list", "#conversations"), ("message", "#email-view"),
        ("message", "#cards"), ("chat", "#timeline"), ("chat", "#chat-input"))


class MainScreen(Screen):
    # The list has the focus from the start: Textual's default focused the sidebar
    # first, and each move of the focus restyles the two widgets and has the
    # footer read the keys again, before and after the first frame (issue 22).
    AUTO_FOCUS = FOCUS["list"]
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
        # Mail triage and the mail keys (issue 19): tuiclient/screens/triage.py, mail.py.
        bind("mark", "mark", label="mark", show=False),
        bind("delete", "triage('delete')", label="delete", show=False),
        bind("archive", "triage('archive')", label="archive", show=False),
        bind("move", "triage('move')", label="move", show=False),
        bind("copy", "triage('copy')", label="copy", show=False),
        bind("tags", "triage('tags')", label="tags", show=False),
        bind("undo", "triage('undo')", label="undo", show=False),
        bind("save", "mail('save')", label="save files", show=False),
        bind("forward", "mail('forward')", label="forward", show=False),
        bind("bounce", "mail('bounce')", label="bounce", show=False),
        bind("drafts", "mail('drafts')", label="drafts", show=False),
        bind("outbox", "outbox", label="outbox"),
        bind("health", "health", label="servers", show=False),
        bind("keys", "keys", label="keys", show=False),
        bind("help", "help", label="help"),
        bind("refresh", "refresh", show=False),
        bind("next_pane", "next_pane", show=False),
        bind("prev_pane", "next_pane(-1)", show=False),
        bind("back", "back", show=False),
        # q reading a conversation goes back to the list (mutt's pager, aerc's tab);
        # on the list it is the app's quit (`check_action`).
        bind("quit", "close", label="back"),
        bind("mute", "mute", show=False),
        bind("command_line", "command_line", label="cmd", show=False),
        # The list as mutt users sort through it: tuiclient/screens/limit.py.
        bind("limit", "limit", label="limit", show=False),
        bind("next_unread", "next_unread", label="next unread", show=False),
        bind("sort", "sort", label="sort", show=False),
        bind("fold", "fold", label="fold", show=False),
        bind("links", "mail('links')", label="links", show=False),
        *window_bindings(),  # alt+1..9, alt+←/→: Limit.window
    ]

    narrow: reactive[bool] = reactive(False)
    pane: reactive[str] = reactive("list")

    def __init__(self) -> None:
        # Born with the first pane's class: set at mount, it would restyle every
        # widget once more before the first frame (~10% of the app's start).
        super().__init__(classes="pane-list")
        self.overview = Overview(self)
        self.opened = OpenThread(self)
        self.marking = Marking(self)
        self.replying = Replying(self)
        self.triage = Triage(self)
        self.mail = MailKeys(self)
        self.chatting = Chatting(self)
        self.limit = Limit(self)

    @property
    def engine(self) -> Engine:
        return client_app(self).engine

    # What the open conversation is, by the names the screen always had.

    @property
    def open_key(self) -> Key | None:
        return self.opened.key

    @property
    def messages(self) -> list[Message]:
        return self.opened.messages

    @property
    def subject(self) -> str:
        return self.opened.subject

    @property
    def draft(self) -> ReplyDraft | None:
        return self.replying.draft

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
        for selector, name in TITLES.items():
            self.query_one(selector).border_title = name
        self.overview.refresh_sidebar()
        self.overview.reload()
        self.overview.refresh_outbox()
        self.overview.refresh_status()
        self.query_one(ConversationList).focus()
        self.follow_mutes()
        self._apply_pane()
        self.follow_theme()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.follow_theme())

    def follow_theme(self) -> None:
        """The theme's colours down to the widgets that draw presence in them."""
        colours = dict(self.app.theme_variables)
        self.query_one(Sidebar).colours = colours
        self.query_one(StatusBar).colours = colours
        self.query_one(Occupants).colours = colours
        for timeline in self.query(Timeline):  # a room's happenings on the theme's ground
            timeline.redraw_happenings()

    def pass_down(self) -> None:
        """Who is who, read now, to the widgets of the open conversation; which
        conversations are rooms', to the list."""
        directory = self.overview.directory()
        self.query_one(ConversationPane).directory = directory
        listing = self.query_one(ConversationList)
        if listing.rooms != directory.room_threads:
            listing.rooms = dict(directory.room_threads)

    # -- layout ------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        """Back from a screen over this one (the help, the reply options): keys
        that go on into the chat input may not be expected there."""
        self.query_one(ChatReply).keys_came()

    def on_resize(self, event: Resize) -> None:
        self.narrow = event.size.width < NARROW

    def watch_narrow(self, narrow: bool) -> None:
        self.set_class(narrow, "narrow")
        self._apply_pane()  # (the footer fits itself: tuiclient.widgets.footer)

    def watch_pane(self) -> None:
        self._apply_pane()

    def _apply_pane(self) -> None:
        for p in PANES:
            self.set_class(self.pane == p, f"pane-{p}")

    def show_pane(self, pane: str) -> None:
        self.pane = pane
        if self.narrow or pane in ("list", "sidebar", "chat"):
            self.query_one(FOCUS[pane]).focus()

    def _ring(self) -> list[tuple[str, Widget]]:
        """The stops of Tab now: a conversation's panes only while one is open, the
        response cards only when there are some (their first card takes focus)."""
        stops: list[tuple[str, Widget]] = []
        for pane, selector in RING:
            if pane in ("chat", "message") and self.open_key is None:
                continue
            widget = self.query_one(selector)
            if selector == "#cards":
                cards = list(widget.query(ResponseCard))
                if not widget.display or not cards:
                    continue
                widget = cards[0]
            stops.append((pane, widget))
        return stops

    def action_next_pane(self, step: int = 1) -> None:
        """Tab (and Shift+Tab, step -1): the next stop of the ring, from wherever the
        focus is; nothing keeps it."""
        stops = self._ring()
        focused = self.focused
        at = next((i for i, (_, w) in enumerate(stops) if focused is not None and (
            focused is w or w in focused.ancestors or (
                isinstance(focused, ResponseCard) and isinstance(w, ResponseCard)))), None)
        if at is None:
            at = next((i for i, (p, _) in enumerate(stops) if p == self.pane), 0) - \
                (1 if step > 0 else 0)
        pane, widget = stops[(at + step) % len(stops)]
        self.pane = pane
        widget.focus()

    def reading(self) -> bool:
        """Whether the focus is in the open conversation (its timeline, email, cards)."""
        pane, focused = self.query_one(ConversationPane), self.focused
        return self.open_key is not None and focused is not None and (
            focused is pane or pane in focused.ancestors)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """q goes back to the list only while reading; elsewhere it quits."""
        return self.reading() if action == "close" else True

    def action_close(self) -> None:
        self.show_pane("list")

    def action_back(self) -> None:
        """Back to the list; in the list, out of a folder to the whole list. With
        conversations marked, Esc clears the marks first (aerc's habit); an input
        or a prompt that takes Esc keeps it."""
        if self.triage.marked:
            n = len(self.triage.marked)
            self.triage.clear_marks()
            self.notify(f"{n} mark{'s' * (n != 1)} cleared.", timeout=3)
            return
        if self.pane == "list" and self.overview.folder is not None and \
                self.query_one(ConversationList).has_focus:
            self.show_account(self.overview.account or "")
            return
        self.show_pane("list")

    # -- the list and the open conversation ----------------------------------------------

    def on_conversation_list_need_peers(self, event: ConversationList.NeedPeers) -> None:
        self.overview.find_peers(event.keys)

    def on_conversation_list_selected(self, event: ConversationList.Selected) -> None:
        self.open_thread(event.thread, event.message.id if event.message else None)
        self.show_pane("message" if self.narrow and self.opened.current_is_email()
                       else "chat")

    def open_thread(self, thread: Thread, select_id: int | None = None) -> None:
        self.opened.open(thread, select_id)
        client_app(self).notifier.forget(key_of(thread))

    def conversation_changed(self, account: str, thread_id: str) -> None:
        """A conversation changed outside the engine's events (a draft discarded
        from the drafts list): its row again, or none when nothing is left of it."""
        thread = self.engine.thread(account, thread_id)
        if thread is None or not thread.message_count:
            self.query_one(ConversationList).drop([(account, thread_id)])
        else:
            self.overview.merge_thread(account, thread_id)
        if self.open_key == (account, thread_id):
            self.opened.refresh()

    def refresh_open(self) -> None:
        """New or changed messages in the open conversation."""
        self.opened.refresh()

    @on(Chosen)
    def message_chosen(self, event: Chosen) -> None:
        self.pass_down()
        self.opened.choose(event.message)

    @on(Timeline.OptionSelected)
    def timeline_enter(self, event: OptionList.OptionSelected) -> None:
        """Enter on a chat line enters the chat input, replying to that line (as `i`
        does); on a draft, compose, to go on writing it; on an email, the message
        pane (a narrow screen shows it alone). The input is reached only so: the
        timeline's own keys (j, k, g, G…) never type."""
        event.stop()
        m = self.query_one(Timeline).current
        if m is not None and m.transport is Transport.XMPP:
            self.replying.start(m, "im", False)
            return
        drafts = self.query_one(Timeline).directory.drafts
        if m is not None and is_draft(m, drafts.get(m.account, ())):
            self.mail.resume(m)  # a draft goes on being written, as P resumes it
            return
        self.show_pane("message")

    # -- marks ----------------------------------------------------------------------------

    def action_mute(self) -> None:
        """Mute (or unmute) the highlighted conversation, or the open one."""
        listing = self.query_one(ConversationList)
        thread = listing.current if listing.has_focus or self.open_key is None else \
            self.engine.thread(*self.open_key)
        if thread is None:
            return
        name = one_line(thread.subject) or listing.party_of(thread)
        notifier = client_app(self).notifier
        # The store keeps the mute (`conversation mute` sees it, and it sees that).
        self.engine.mute_conversation(*key_of(thread), key_of(thread) not in notifier.muted)
        client_app(self).action_toggle_mute(key_of(thread), name)
        listing.muted = frozenset(notifier.muted)

    def follow_mutes(self) -> None:
        """The mutes the store keeps (set here or by `tuiclient conversation mute`)
        are the notifier's. Mutes kept in the notifier's file before the store had
        them (schema 11) move into the store once, and the file goes."""
        notifier = client_app(self).notifier
        kept = notifier.muted_file
        if kept is not None and kept.exists():
            for key in set(notifier.muted) - self.engine.muted_conversations():
                self.engine.mute_conversation(*key, True)
            kept.unlink(missing_ok=True)
        notifier.muted_file = None  # the store keeps them now
        notifier.muted.clear()
        notifier.muted.update(self.engine.muted_conversations())
        self.query_one(ConversationList).muted = frozenset(notifier.muted)

    def action_command_line(self) -> None:
        self.app.push_screen(CommandLine(commands(self), self))

    def action_toggle_flag(self) -> None:
        if self.triage.marked:
            self.triage.flag()
        else:
            self.marking.toggle_flag()

    def action_toggle_unread(self) -> None:
        if self.triage.marked:
            self.triage.unread()
        else:
            self.marking.toggle_unread()

    def action_mark(self) -> None:
        if self.query_one(ConversationList).has_focus or self.opened.key is None:
            self.triage.toggle_mark()
        else:  # reading: space pages the email on, as mutt's pager does
            self.query_one(EmailView).scroll_page_down(animate=False)

    def action_triage(self, what: str) -> None:
        triage = self.triage
        {"delete": triage.delete, "archive": triage.archive, "move": triage.move,
         "copy": lambda: triage.move(copy=True), "tags": triage.tags,
         "undo": triage.undo}[what]()

    def action_mail(self, what: str) -> None:
        mail = self.mail
        {"save": mail.save, "forward": mail.forward, "bounce": mail.bounce,
         "drafts": mail.drafts, "links": mail.links}[what]()

    def action_limit(self) -> None:
        self.limit.prompt()

    def action_next_unread(self) -> None:
        self.limit.next_unread()

    def action_window(self, n: int, by: int = 0) -> None:
        self.limit.window(n, by)

    def action_sort(self, *words: str) -> None:
        self.limit.sort_command(list(words))

    def action_fold(self, fold: bool | None = None) -> None:
        """z: in the list, unfold the conversation under the cursor (its messages
        indented under its row) or fold it again, as aerc's fold and mutt's
        collapsed threads; reading, fold the email's quoted text and earlier
        messages. `fold` None toggles."""
        listing = self.query_one(ConversationList)
        if listing.has_focus or self.open_key is None:
            thread = listing.current
            if thread is None:
                return
            key = key_of(thread)
            unfolded = dict(listing.expanded)
            if key in unfolded and fold is not False:
                del unfolded[key]
            elif key not in unfolded and fold is not True:
                unfolded[key] = tuple(self.engine.timeline(*key))
            listing.expanded = unfolded
            return
        view = self.query_one(EmailView)
        view.folded = not view.folded if fold is None else fold

    def refresh_unfolded(self) -> None:
        """The unfolded conversations' messages, again where they changed."""
        listing = self.query_one(ConversationList)
        if not listing.expanded:
            return
        unfolded = {}
        for key, messages in listing.expanded.items():
            thread = listing.find(key)
            if thread is None:
                continue  # gone from the list: folded
            if thread.message_count != len(messages) or \
                    thread.unread_count != sum(m.unread for m in messages):
                messages = tuple(self.engine.timeline(*key))
            unfolded[key] = messages
        if unfolded != listing.expanded:
            listing.expanded = unfolded

    def on_conversation_list_rows_changed(self) -> None:
        self.triage.labels_soon()
        self.overview.shared_soon()
        self.refresh_unfolded()

    # -- replying -------------------------------------------------------------------------

    def action_reply(self, via: str, reply_all: bool) -> None:
        self.replying.reply(via, reply_all)

    @on(ReplyTo)
    def reply_to_card(self, event: ReplyTo) -> None:
        self.replying.start(event.message, event.via, event.reply_all)

    @on(ChatReply.Options)
    def action_reply_options(self) -> None:
        self.replying.options()

    @on(ChatReply.Send)
    def chat_send(self, event: ChatReply.Send) -> None:
        self.replying.send_line(event.text)

    @on(ChatReply.Leave)
    def chat_leave(self) -> None:
        self.chatting.unquote()
        self.replying.leave()

    def action_compose(self, to: str = "", via: str = "email") -> None:
        if not to and self.replying.in_room() and not self.opened.messages:
            # A room where nobody spoke yet: its first line is typed where its
            # lines will be.
            self.replying.write_in_room()
            return
        self.replying.new_message(to, via)

    # -- the chat client: / commands, typing, occupants, prompts (`chatting`) ---------------

    @on(ChatReply.Command)
    def chat_command(self, event: ChatReply.Command) -> None:
        self.chatting.run(event.typed)

    @on(ChatReply.Refused)
    def chat_refused(self, event: ChatReply.Refused) -> None:
        self.chatting.say(event.reason, error=True)

    @on(ChatReply.EditLast)
    def chat_edit_last(self) -> None:
        self.chatting.edit_last()

    @on(ChatReply.Typing)
    def chat_typing(self, event: ChatReply.Typing) -> None:
        self.chatting.typing(event.state)

    @on(ChatView.Said)
    def chat_said(self, event: ChatView.Said) -> None:
        """A chat command's answer (`:status away`) with no conversation open: the
        line under the timeline is not where anyone looks then; a toast says it."""
        if self.open_key is None:
            self.notify(event.text, title="Chat", severity="error" if event.error
                        else "information", timeout=5, markup=False)

    @on(Timeline.NeedOlder)
    def chat_older(self) -> None:
        self.chatting.older()

    @on(Timeline.Revisions)
    def chat_revisions(self, event: Timeline.Revisions) -> None:
        self.chatting.revisions(event.message)

    @on(Timeline.QuoteReply)
    def chat_quote_reply(self, event: Timeline.QuoteReply) -> None:
        self.chatting.quote(event.message)

    # -- other screens -------------------------------------------------------------------

    def action_search(self, query: str = "") -> None:
        from tuiclient.screens.search import SearchScreen

        self.app.push_screen(SearchScreen(query) if query else SearchScreen(),
                             self.search_done)

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

    def action_keys(self) -> None:
        from tuiclient.screens.keys import KeysScreen

        self.app.push_screen(KeysScreen())

    def action_help(self) -> None:
        from tuiclient.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.run_worker(self.engine.sync(), group="sync")
        client_app(self).probe()
        self.notify("Syncing…", timeout=2)

    def show_account(self, name: str) -> None:
        """The list of one account's conversations ("": every account's)."""
        self.overview.account, self.overview.folder = name or None, None
        self.limit.reload()
        self.show_pane("list")

    def show_folder(self, account: str, folder: str) -> None:
        """The list of one folder's conversations, to read and triage there (under
        the limit, if one is on); Esc in the list, the account or "All
        conversations" leaves it."""
        self.overview.folder = (account, folder)
        self.limit.reload()
        self.show_pane("list")

    @on(Sidebar.Chosen)
    def sidebar_chosen(self, event: Sidebar.Chosen) -> None:
        if event.kind in ("all", "account"):
            self.show_account(event.value[0])
        elif event.kind == "folder":
            self.show_folder(*event.value)
        elif event.kind == "contact":
            self.open_contact(event.value[0])

    def open_contact(self, address: str) -> None:
        """The chat with someone (a contact in the sidebar, Enter in the roster):
        the 1:1 chat with their JID, an empty one ready to write in when there
        is none yet (`Chatting.chat_with`). Someone with no JID (or no chat
        account): the latest conversation with them, else a new message by the
        engine's one "auto" rule."""
        if self.chatting.chat_with(address):
            return
        thread = self.overview.conversation_with(address)
        if thread is not None:
            listing = self.query_one(ConversationList)
            if not listing.select_key(key_of(thread)):
                listing.merge([thread])
                listing.select_key(key_of(thread))
            self.open_thread(thread)
            self.show_pane("chat")
            return
        accounts = self.engine.accounts
        via = self.engine.auto_via(accounts[0].name, [address]) if accounts else "email"
        self.action_compose(address, via)

    # -- what the engine tells -------------------------------------------------------------

    def on_engine_events(self, message: EngineEvents) -> None:
        """A burst of engine events: each part drawn again once, whatever the count."""
        todo = Redraw.of(message.events)
        overview = self.overview
        self.limit.merge(list(todo.threads), todo.top)  # as a limit on the list allows
        if todo.folders or todo.contacts:
            overview.refresh_sidebar(folders=todo.folders, contacts=todo.contacts)
        if todo.outbox:
            overview.refresh_outbox()  # and the status bar, for its count
        if todo.touches(self.open_key):
            self.opened.refresh()
        if todo.status and not todo.outbox:
            overview.refresh_status()
        self.chatting.events(message.events)
