"""The open conversation's panes: the email view and its response cards on the
left, the chat view (title, timeline, reply line) on the right.

Attributes down: the screen sets `directory` (who is who), `draft` (the IM
reply being written), `room` (the open room's name: a line typed goes to
everyone there) and `person` (the 1:1 chat's contact, written to as such)
here, and they flow to the widgets that draw them. The chat view also shows a
group chat's occupants beside the timeline, and under it one line of news:
the peer's typing, or what a `/` command said.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message as TMessage
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Label

from tuiclient.drafts import ReplyDraft
from tuiclient.format import Clock
from tuiclient.people import Directory
from tuiclient.widgets.email_view import EmailView
from tuiclient.widgets.occupants import Occupants
from tuiclient.widgets.reply_bar import IDLE, IDLE_ROOM, ChatReply, target_text
from tuiclient.widgets.response_cards import ResponseCards
from tuiclient.widgets.timeline import Timeline


class ChatView(Vertical):
    """The timeline (and a room's occupants) and, under it, the inline reply line."""

    DEFAULT_CSS = """
    ChatView #chat-body { height: 1fr; }
    ChatView #chat-body > Timeline { width: 1fr; }
    ChatView #chat-status { width: 1fr; padding: 0 1; color: $text-muted; display: none; }
    ChatView #chat-status.error { color: $error; }
    """

    # PageUp/PageDown while typing page the timeline, as in Profanity; the input
    # keeps the focus and the text (the timeline's own keys when it has focus).
    BINDINGS = [Binding("pageup", "page_timeline('up')", show=False),
                Binding("pagedown", "page_timeline('down')", show=False)]

    directory: var[Directory] = var(Directory)
    draft: var[ReplyDraft | None] = var(None, always_update=True)
    room: var[str] = var("")  # the open room's name ("": no room open)
    reply_key: var[str] = var("i")  # the reply key as bound ([keys]), for the input's hint
    person: var[str] = var("")  # or the 1:1 chat's contact, written to directly

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield Label("Conversation", id="chat-title", markup=False)
        with Horizontal(id="chat-body"):
            yield Timeline(clock=self.clock, id="timeline").data_bind(ChatView.directory)
            yield Occupants(id="occupants")
        yield Label("", id="chat-status", markup=False)
        yield Label("", id="reply-target", markup=False)
        yield ChatReply(placeholder=IDLE.format(key=self.reply_key), id="chat-input")

    def action_page_timeline(self, way: str) -> None:
        timeline = self.query_one("#timeline", Timeline)
        if way == "up":
            timeline.action_page_up()
        else:
            timeline.action_page_down()

    class Said(TMessage):
        """A line under the timeline (a command's answer, a refusal)."""

        def __init__(self, text: str, error: bool) -> None:
            super().__init__()
            self.text = text
            self.error = error

    def set_title(self, text: str) -> None:
        self.query_one("#chat-title", Label).update(Text(text, style="bold"))

    def set_status(self, text: str, *, error: bool = False) -> None:
        """The line under the timeline: the peer typing, or a command's answer
        (`error`: a refusal); "" hides it."""
        label = self.query_one("#chat-status", Label)
        if text:  # the screen shows it elsewhere too when no conversation is open
            self.post_message(self.Said(text, error))
        label.update(Text(text, style="" if error else "italic"))
        label.set_class(error, "error")
        if label.display != bool(text):
            label.display = bool(text)
            # The timeline changed height: keep its chosen line in view.
            self.call_after_refresh(self.query_one(Timeline).scroll_to_highlight)

    def set_target(self, text: Text | str) -> None:
        label = self.query_one("#reply-target", Label)
        label.update(text)
        label.display = bool(text)

    def watch_room(self) -> None:
        self.watch_draft(self.draft)

    def watch_person(self) -> None:
        self.watch_draft(self.draft)

    def watch_draft(self, draft: ReplyDraft | None) -> None:
        if not self.is_mounted:
            return
        self.set_target(target_text(draft, self.directory, self.room, self.person))
        self.watch_reply_key(self.reply_key)

    def watch_reply_key(self, key: str) -> None:
        """The input's hint away from it names the key that brings the keys there
        (in a room: to write to everyone); which hint shows is the input's, by
        its focus alone."""
        if not self.is_mounted:
            return
        chat_input = self.query_one(ChatReply)
        chat_input.idle_hint = (IDLE_ROOM if self.room else IDLE).format(key=key)
        chat_input.reply_keys = frozenset(k for k in key.split(", ") if len(k) == 1)
        chat_input.show_hint()


class ConversationPane(Widget):
    """Email view and cards on the left, chat view on the right."""

    directory: var[Directory] = var(Directory)

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock

    def compose(self) -> ComposeResult:
        with Container(id="message-pane"):
            yield EmailView(id="email-view").data_bind(ConversationPane.directory)
            yield ResponseCards(clock=self.clock, id="cards").data_bind(
                ConversationPane.directory)
        yield ChatView(clock=self.clock, id="chat-view").data_bind(ConversationPane.directory)
