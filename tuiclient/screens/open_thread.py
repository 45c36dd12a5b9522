"""The main screen's open conversation: which one it is, its messages read from
the engine, the email bodies fetched in the background, and the message chosen
in it shown in full with the responses it got.

A part of `MainScreen`: it calls the engine for the screen and hands what it
read down to the widgets (the timeline, the email view, the response cards).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import suppress
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.css.query import NoMatches

from bridge.crypto.status import HIDDEN_SUBJECT
from bridge.engine import Engine
from bridge.errors import EngineError
from bridge.model import Message, Transport
from bridge.store.records import Thread
from tuiclient.format import is_draft, one_line
from tuiclient.screens.overview import other_party, own_addresses
from tuiclient.widgets.conversation_list import ConversationList, Key, key_of
from tuiclient.widgets.email_view import EmailView
from tuiclient.widgets.reply_bar import ChatReply
from tuiclient.widgets.response_cards import ResponseCards, responses_to
from tuiclient.widgets.thread_pane import ChatView
from tuiclient.widgets.timeline import Timeline

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen


def needs_body(m: Message) -> bool:
    """An email known by its headers only (header sync fetches no bodies), or an
    OpenPGP one not opened yet (the store keeps raw bytes only of those and of
    malformed mail): our own encrypted email has no IMAP uid until its Sent copy
    is synced, and is opened from the bytes we kept."""
    return m.transport is Transport.EMAIL and not m.text and (
        m.uid is not None or (m.raw is not None and not m.malformed and m.crypto is None))


class OpenThread:
    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self.key: Key | None = None
        self.messages: list[Message] = []
        self.subject = ""

    @property
    def engine(self) -> Engine:
        return self.screen.engine

    def _keep(self, messages: list[Message]) -> None:
        self.messages = messages
        self.screen.query_one(EmailView).thread = messages
        # Who reacted to its chat lines, for the timeline to draw under them.
        self.screen.query_one(Timeline).reactions = self.engine.reactions(
            [m.id for m in messages if m.id is not None and m.transport is Transport.XMPP])

    def _title(self) -> None:
        n = len(self.messages)
        topic = self.screen.chatting.topic()
        count = "nobody spoke yet" if not n and self.screen.chatting.room else \
            f"{n} message{'s' * (n != 1)}"
        self.screen.query_one(ChatView).set_title(
            f"{self.subject} · {count}" + self.account_word() +
            (f" · topic: {topic}" if topic else ""))

    def account_word(self) -> str:
        """Which account this is, when the conversation is also under another of the
        user's accounts (an email to both of their addresses, two rows alike):
        " · in work (me@work.example)"; else nothing."""
        if self.key is None or len(self.engine.accounts) < 2:
            return ""
        mine = self.key[0]
        ids = [m.msg_id for m in self.messages[:5] if m.msg_id]
        for other in self.engine.accounts:
            if other.name == mine:
                continue
            for msg_id in ids:
                try:
                    self.engine.find_message(f"<{msg_id}>", other.name)
                except LookupError:
                    continue
                account = next(a for a in self.engine.accounts if a.name == mine)
                address = account.email or account.jid
                return f" · in {mine}" + (f" ({address})" if address and address != mine
                                          else "")
        return ""

    def show_title(self) -> None:
        if self.key is not None:
            self._title()

    def open(self, thread: Thread, select_id: int | None = None) -> None:
        screen = self.screen
        self.key = key_of(thread)
        screen.replying.drop_draft()
        screen.marking.forget()
        screen.pass_down()
        self._keep(self.engine.timeline(thread.account, thread.thread_id))
        screen.chatting.opened(self.messages)
        peer = other_party(self.messages, own_addresses(self.engine))
        self.subject = one_line(thread.subject) or (
            "(no subject)" if Transport.EMAIL in thread.transports else
            screen.chatting.chat_name() or "Chat with " + (
                one_line(screen.overview.names.get(peer.lower(), peer)) or "?"))
        self._title()
        # Without email, the chat view takes most of the width (app.tcss).
        screen.query_one("#conversation").set_class(
            Transport.EMAIL not in thread.transports, "chat-only")
        select = None
        if select_id is not None:
            select = next((i for i, m in enumerate(self.messages) if m.id == select_id), None)
        if select is None:
            select = next((i for i, m in enumerate(self.messages) if m.unread), None)
        screen.query_one(Timeline).show(self.messages, select)
        # The method, not a coroutine made now: an exclusive worker cancelled by the
        # next open before it started would leave that coroutine never awaited.
        # (typed: mypy reads textual's run_worker overloads as Never for a bare method)
        fetch: Callable[[], Coroutine[Any, Any, Any]] = self._fetch_bodies
        screen.run_worker(fetch, name="fetch_thread_bodies",
                          group="thread-bodies", exclusive=True)
        screen.call_after_refresh(screen.marking.read_open)  # once its lines are laid out

    def _reveal_subject(self, fetched: Message) -> None:
        """An encrypted email's real Subject travels inside the encryption (Protected
        Headers); the thread is known by the outer "..." until a body is opened.
        Once it is, the title and the list's row say the real one, for as long as
        the app runs (it is not written to the store: neomutt's
        crypt_protected_headers_save is off by default for the same reason)."""
        if (self.subject == HIDDEN_SUBJECT and fetched.crypto is not None
                and fetched.crypto.protected_subject and one_line(fetched.subject)
                and one_line(fetched.subject) != HIDDEN_SUBJECT):
            self.subject = one_line(fetched.subject)
            self._title()
            if self.key is not None:
                rows = self.screen.query_one(ConversationList)
                rows.revealed = {**rows.revealed, self.key: self.subject}

    def _as_now(self, fetched: Message) -> Message:
        """A message whose body came back (fetched, an OpenPGP one decrypted), with
        its flags as the store has them now: the copy was read before the fetch,
        and a mark that landed meanwhile (read when opened: gpg may take seconds,
        a passphrase typed) is not undone on the screen."""
        if fetched.id is None:
            return fetched
        try:
            flags = self.engine.message(fetched.id).flags
        except EngineError:
            return fetched  # gone meanwhile: the next refresh drops it
        return fetched if flags == fetched.flags else replace(fetched, flags=set(flags))

    async def _fetch_bodies(self) -> None:
        """The words of the thread's emails (header sync has none), newest first, so
        the timeline and the response cards can show them."""
        with suppress(NoMatches):  # the app closes: no timeline left to show them in
            await self._fetch_thread_bodies()

    async def _fetch_thread_bodies(self) -> None:
        key = self.key
        timeline = self.screen.query_one(Timeline)
        missing = [m.id for m in reversed(self.messages)
                   if needs_body(m) and m.id is not None][:30]
        for row_id in missing:
            try:
                fetched = await self.engine.fetch_body(row_id)
            except Exception:
                continue  # the email view says so when the user opens that one
            if self.key != key:
                return
            fetched = self._as_now(fetched)
            self._keep([fetched if x.id == fetched.id else x for x in self.messages])
            timeline.update_message(fetched)
            self._reveal_subject(fetched)
        current = timeline.current
        if missing and current is not None and self.key == key:
            self.screen.query_one(EmailView).show(current)
            self.show_cards(current)

    async def ensure_bodies(self) -> None:
        """Email bodies (and so their files) of the open conversation, for the
        attachment checklist."""
        missing = [m.id for m in self.messages if needs_body(m) and m.id is not None]
        if not missing:
            return
        for row_id in missing:
            try:
                await self.engine.fetch_body(row_id)
            except Exception as exc:
                self.screen.notify(f"could not fetch a message: {exc}", severity="warning",
                                   markup=False)
        if self.key is not None:
            self._keep(self.engine.timeline(*self.key))

    def refresh(self) -> None:
        """New or changed messages in the open conversation."""
        if self.key is None or self.screen.overview.closing():
            return
        screen = self.screen
        timeline = screen.query_one(Timeline)
        current = timeline.current
        screen.pass_down()
        messages = self.engine.timeline(*self.key)
        if [m.id for m in messages] == [m.id for m in self.messages]:
            self._keep(messages)  # first: the reactions the lines are drawn with
            for m in messages:
                timeline.update_message(m)
            self.refresh_head()  # its delivery mark, flags, unread dot
            screen.marking.read_open()
            return
        # Follow the conversation when at its end or writing in it (as chat does).
        at_end = timeline.highlighted is None or \
            timeline.highlighted >= len(self.messages) - 1 or \
            screen.query_one(ChatReply).has_focus
        self._keep(messages)
        if screen.chatting.peer is None:  # its first chat line: whom it is with
            screen.chatting.opened(messages)
        self._title()
        select = len(messages) - 1 if at_end or current is None else next(
            (i for i, m in enumerate(messages) if m.id == current.id), len(messages) - 1)
        timeline.show(messages, select)
        # What arrives in the open conversation is seen, if it comes into view.
        screen.call_after_refresh(screen.marking.read_open)

    def on_screen(self) -> bool:
        """Whether the open conversation is in view (a narrow terminal may show the
        list instead)."""
        screen = self.screen
        return self.key is not None and not (
            screen.narrow and screen.pane in ("sidebar", "list"))

    def refresh_head(self) -> None:
        """The email view's headers and marks, for the message it shows as it is now."""
        if self.screen.overview.closing():
            return
        view = self.screen.query_one(EmailView)
        shown = next((m for m in self.messages if view.shown is not None
                      and m.id == view.shown.id), None)
        if shown is not None:
            view.show_again(shown)

    def choose(self, m: Message) -> None:
        """The user moved to `m` in the timeline: show it in full, fetching its body.
        As the conversation holds it now: the message posted by the timeline may have
        been read (or fetched) since, and a stale copy would show it unread."""
        m = next((x for x in self.messages if x.id is not None and x.id == m.id), m)
        view = self.screen.query_one(EmailView)
        fetch = needs_body(m)
        view.show(m, note="fetching the message…" if fetch else "")
        self.show_cards(m)
        self.screen.marking.read_open()  # an email opened is read (a chat line seen)
        if fetch and m.id is not None:
            one: Callable[[], Coroutine[Any, Any, Any]] = partial(self._fetch_body, m.id)
            self.screen.run_worker(one, name="fetch_body",
                                   group="body", exclusive=True)

    async def _fetch_body(self, row_id: int) -> None:
        with suppress(NoMatches):  # the app closes
            await self._fetch_one_body(row_id)

    async def _fetch_one_body(self, row_id: int) -> None:
        screen = self.screen
        timeline = screen.query_one(Timeline)
        try:
            m = await self.engine.fetch_body(row_id)
        except Exception as exc:
            current = timeline.current
            if current is not None and current.id == row_id:
                screen.query_one(EmailView).show(current, note=f"could not fetch it: {exc}")
            return
        m = self._as_now(m)
        timeline.update_message(m)
        self._keep([m if old.id == m.id else old for old in self.messages])
        current = timeline.current
        if current is not None and current.id == row_id:
            screen.query_one(EmailView).show(m)
            self.show_cards(m)

    def show_cards(self, m: Message) -> None:
        """The responses `m` got; a reply of ours still in Drafts is none (it is
        not sent: Enter on it in the timeline goes on writing it)."""
        drafts = self.screen.query_one(Timeline).directory.drafts.get(m.account, frozenset())
        sent = [x for x in self.messages if not is_draft(x, drafts)]
        self.screen.query_one(ResponseCards).show(responses_to(m, sent))

    def current_is_email(self) -> bool:
        m = self.screen.query_one(Timeline).current
        return m is not None and m.transport is Transport.EMAIL
