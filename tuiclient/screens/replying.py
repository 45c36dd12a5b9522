"""The main screen's replies and new messages: which message a reply answers,
the inline IM reply being written, the email reply and option screens, and the
send (through `tuiclient.replies`, which asks what the engine needs to know).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.engine import Engine
from bridge.errors import EngineError
from bridge.identity import UnmappedParty
from bridge.model import Attachment, Direction, Message, Transport
from tuiclient.drafts import ReplyDraft, keep_unsent
from tuiclient.replies import KEPT, send_new, send_reply, sent_words
from tuiclient.widgets.conversation_list import ConversationList, Key, key_of
from tuiclient.widgets.reply_bar import ChatReply
from tuiclient.widgets.thread_pane import ChatView
from tuiclient.widgets.timeline import Timeline

if TYPE_CHECKING:
    from textual.widget import Widget

    from tuiclient.screens.main import MainScreen


def key_of_message(m: Message) -> Key:
    return (m.account, m.thread_id)


class Replying:
    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self._draft: ReplyDraft | None = None  # the inline IM reply being written

    @property
    def engine(self) -> Engine:
        return self.screen.engine

    @property
    def draft(self) -> ReplyDraft | None:
        return self._draft

    @draft.setter
    def draft(self, draft: ReplyDraft | None) -> None:
        """The draft, and the reply line that shows it (to whom, with what)."""
        self._draft = draft
        self.screen.query_one(ChatView).draft = draft

    def drop_draft(self) -> None:
        self.draft = None

    def target(self) -> Message | None:
        """The message a reply answers: the one chosen in the open conversation; from
        the list, the unfolded message the cursor is on, or, on a row not open
        yet, the newest message someone else wrote (ours when there is none): the
        person its row shows, whom `tuiclient handoff` answers too, not the
        thread's first unread message."""
        screen = self.screen
        listing = screen.query_one(ConversationList)
        current = listing.current
        chosen = listing.current_message if listing.has_focus else None
        if current is not None and chosen is not None and chosen.id is not None:
            screen.opened.open(current, select_id=chosen.id)
        elif current is not None and (screen.opened.key != key_of(current)
                                      or not screen.opened.messages) and listing.has_focus:
            messages = self.engine.timeline(*key_of(current))
            theirs = [m for m in messages if m.direction is Direction.IN]
            answered = (theirs or messages)[-1] if messages else None
            screen.opened.open(current, select_id=answered.id if answered else None)
        return screen.query_one(Timeline).current

    def several(self, m: Message) -> bool:
        if m.transport is Transport.EMAIL:
            return len([p for p in m.recipients if p.role in ("to", "cc")]) > 1
        return len({x.sender.address.split("/")[0] for x in self.screen.opened.messages
                    if x.transport is Transport.XMPP}) > 2

    def files(self) -> list[Attachment]:
        return [a for m in self.screen.opened.messages for a in m.attachments if a.filename]

    def reply(self, via: str, reply_all: bool) -> None:
        m = self.target()
        if m is None and via == "im" and (self.in_room() or self.screen.chatting.chat_peer()):
            self.write_in_room()  # nobody spoke yet: the first line is ours
            return
        if m is None:
            self.screen.notify("Nothing to reply to: open a conversation first.",
                               severity="warning")
            return
        self.start(m, via, reply_all)

    def in_room(self) -> bool:
        """Whether the open conversation is a room's (lines in it or not)."""
        chatting = self.screen.chatting
        return chatting.room and chatting.peer is not None and \
            self.screen.opened.key is not None and \
            self.screen.opened.key in self.screen.query_one(ConversationList).rooms

    def write_in_room(self) -> None:
        """The chat input, for a line to everyone in the open room (or to the
        contact of a 1:1 chat with no line yet)."""
        screen = self.screen
        self.draft = None
        if screen.narrow:
            screen.pane = "chat"
        screen.query_one(ChatReply).focus()

    def start(self, m: Message, via: str, reply_all: bool) -> None:
        draft = ReplyDraft(m, via, reply_all=reply_all)
        if via == "email":
            self.screen.run_worker(self._compose_email(draft), name="compose_email",
                                   group="compose")
            return
        screen = self.screen
        self.draft = draft
        if screen.narrow:
            screen.pane = "chat"
        screen.query_one(ChatReply).focus()

    async def resume(self, original: Message, saved: Message, text: str,
                     files: Sequence[Path] = ()) -> None:
        """A reply's draft (`saved`, in Drafts) back in the reply compose screen, as
        a reply to `original`; to all when the draft went to more than its sender;
        `files`: the draft's files (copied from the server), attached again."""
        screen = self.screen
        # Its conversation opens: the thread's files and history are the reply's.
        thread = self.engine.thread(original.account, original.thread_id)
        if thread is not None and screen.opened.key != key_of(thread):
            screen.open_thread(thread, select_id=original.id)
        several = len([p for p in saved.recipients if p.role in ("to", "cc")]) > 1
        draft = ReplyDraft(original, "email", reply_all=several and self.several(original),
                           text=text, resumed=saved.id, files=list(files))
        await self._compose_email(draft)

    async def _compose_email(self, draft: ReplyDraft) -> None:
        from tuiclient.screens.compose import ComposeScreen

        await self.screen.opened.ensure_bodies()
        me = [a for acc in self.engine.accounts for a in (acc.email, acc.jid) if a]
        result = await self.screen.app.push_screen_wait(
            ComposeScreen(draft, self.several(draft.message), self.files(), me))
        if result is None:
            return
        await self.send(result)

    def options(self) -> None:
        """o (ctrl+o in the chat input): the IM reply's options. Done goes on in
        the chat input, to write the reply; Cancel leaves everything as it was,
        the focus too (from the list, the next keys are the list's again, not
        words in a line that Enter would send)."""
        was, focused = self.draft, self.screen.focused
        if self.draft is None:
            m = self.target()
            if m is None:
                return
            self.draft = ReplyDraft(m, "im")
        self.screen.run_worker(self._edit_options(self.draft, was, focused),
                               name="edit_options", group="compose")

    async def _edit_options(self, draft: ReplyDraft, was: ReplyDraft | None = None,
                            focused: Widget | None = None) -> None:
        from tuiclient.screens.prompts import ReplyOptionsScreen

        screen = self.screen
        await screen.opened.ensure_bodies()
        result = await screen.app.push_screen_wait(
            ReplyOptionsScreen(draft, self.several(draft.message), self.files()))
        if result is not None:
            self.draft = result
            screen.query_one(ChatReply).focus()
            return
        self.draft = was
        if focused is not None and focused.is_attached and focused.screen is screen:
            focused.focus()
        else:
            screen.query_one(ConversationList).focus()

    def send_line(self, text: str) -> None:
        """Enter in the reply line: the draft goes with these words; the next line
        continues the chat. (The input let go of them at the Enter: what is typed
        on while this runs is the next line's.)"""
        screen = self.screen
        chat = screen.chatting.chat_peer()
        if self.draft is None and chat is not None:  # the chat with them: to them
            screen.run_worker(self.say_to(*chat, text), group="send")
            return
        if self.draft is None:
            m = screen.query_one(Timeline).current
            if m is None and screen.chatting.room:  # a room where nobody spoke yet
                screen.run_worker(self.say_in_room(text), group="send")
                return
            if m is None:
                screen.notify("Open a conversation first.", severity="warning")
                screen.query_one(ChatReply).put_back(screen.opened.key, text)
                return
            self.draft = ReplyDraft(m, "im")
        draft = self.draft
        assert draft is not None
        draft.text = text
        # The next line continues the chat: no history or files again.
        self.draft = ReplyDraft(draft.message, "im", reply_all=draft.reply_all)
        screen.run_worker(self.send(draft), group="send")

    def keep_line(self, address: str, text: str) -> bool:
        """`text`, one line written in an IM compose, kept as the unsent line of the
        chat with `address` (its input holds it when the chat is opened), when
        there is such a chat and no other line waits in it: whether it was. The
        chat with them is the one Enter on them opens (`Chatting.chat_with`)."""
        if "\n" in text:
            return False
        chatting = self.screen.chatting
        account = chatting.chat_account()
        jid = self.engine.chat_address(account, address) if account else None
        thread = self.engine.chat_conversation(account, jid) if account and jid else None
        if thread is None or not thread.message_count:
            return False
        return self.screen.query_one(ChatReply).put_back(key_of(thread), text)

    async def say_in_room(self, text: str) -> None:
        """A line typed in the open room with no line in it to answer: to
        everyone there (the engine's `say_in_room`). Not sent: back in the input."""
        chatting = self.screen.chatting
        if chatting.peer is None or not chatting.room:
            return
        account, room = chatting.peer
        key = self.screen.opened.key
        try:
            result = await chatting.send_asking(lambda when_away: self.engine.say_in_room(
                account, room, text, when_away=when_away))
        except (EngineError, OSError) as exc:
            chatting.say(f"not sent: {exc}", error=True)
            try:
                self.line_back(key, text, account, [room], "")
            except OSError as failed:
                chatting.say(f"not sent, and not kept ({failed}): {text}", error=True)
            return
        # Its first line is written: what /join said of it is past.
        chatting.say(sent_words(result) if result.deferred or result.via == "email" else "")
        self.after_send(result.thread_id or "", account)

    async def say_to(self, account: str, jid: str, text: str) -> None:
        """A line typed in a 1:1 chat opened as one (Enter on a contact, `/msg`),
        answering no line: to them (`Chatting.say_to`). Not sent: back in the
        input."""
        chatting = self.screen.chatting
        key = self.screen.opened.key
        try:
            result = await chatting.say_to(account, jid, text)
        except (EngineError, OSError, UnmappedParty) as exc:
            chatting.say(f"not sent: {exc}", error=True)
            try:
                self.line_back(key, text, account, [jid], "")
            except OSError as failed:
                chatting.say(f"not sent, and not kept ({failed}): {text}", error=True)
            return
        chatting.say(sent_words(result) if result.deferred or result.via == "email" else "")

    def line_back(self, key: Key | None, text: str, account: str, to: list[str],
                  subject: str) -> str:
        """A chat line that did not go: back in the input of its conversation `key`
        (open or not), unless another line waits there; then kept with what P lists
        (OSError: it could not be). The words that say where it is."""
        if self.screen.query_one(ChatReply).put_back(key, text):
            return "The line is back in its chat's input."
        keep_unsent(account, to, subject, text, via="im")
        return KEPT

    def leave(self) -> None:
        self.draft = None
        self.screen.query_one(Timeline).focus()

    async def send(self, draft: ReplyDraft) -> None:
        screen = self.screen
        keep = None
        chatting = screen.chatting
        when_away, ask_away = "ask", None
        if draft.via == "im":
            m = draft.message
            keep = partial(self.line_back, key_of_message(m), draft.text, m.account,
                           [m.sender.address], m.subject)
            when_away = chatting.away_choice(key_of_message(m))
            ask_away = partial(chatting.ask_away, key_of_message(m))
        result = await send_reply(screen, draft, keep=keep, when_away=when_away,
                                  ask_away=ask_away)
        if result is None:
            if draft.via == "im":
                going_on = self.draft
                if screen.opened.key == key_of_message(draft.message) and \
                        going_on is not None and going_on.message is draft.message and \
                        not going_on.history and not going_on.attachments:
                    self.draft = replace(draft, text="")  # its options chosen, kept
            return
        screen.notify(sent_words(result), title="Reply")
        if draft.resumed is not None:
            try:
                await self.engine.draft_discard(draft.resumed)
            except (EngineError, OSError) as exc:
                screen.notify(f"Sent; the draft stays in Drafts: {exc}", severity="warning",
                              markup=False)
        self.after_send(result.thread_id or draft.message.thread_id, draft.message.account)

    def after_send(self, thread_id: str, account: str) -> None:
        screen = self.screen
        screen.overview.merge_thread(account, thread_id)
        screen.overview.refresh_outbox()
        if screen.opened.key == (account, thread_id):
            screen.opened.refresh()

    def new_message(self, to: str, via: str) -> None:
        self.screen.run_worker(self._new_message(to, via), name="new_message",
                               group="compose")

    async def _new_message(self, to: str, via: str) -> None:
        from tuiclient.screens.compose import NewMessageScreen

        screen = self.screen
        result = await screen.app.push_screen_wait(
            NewMessageScreen([a.name for a in self.engine.accounts], to, via))
        if result is None:
            return
        sent = await send_new(screen, result)
        if sent is not None:
            screen.notify(sent_words(sent), title="Message")
            screen.limit.merge(top=50)
            screen.overview.refresh_outbox()
