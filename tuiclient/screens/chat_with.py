"""The chat with one person, as Profanity has it: Enter on a contact (the
sidebar, the roster) or `/msg JID|name [text]` opens the 1:1 chat with them
(the engine's `chat_conversation`: never an email thread they are only a
party of), an empty one ready to write in when there is none yet; and what
the chat answers when they are away (the defer prompt, with its "the same
until they are back" remembered per conversation for this run of the app).

A part of `Chatting` (its base class): the same screen, the same engine calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bridge.engine import EngineError
from bridge.model import ContactPresence
from tuiclient.drafts import keep_unsent
from tuiclient.format import one_line
from tuiclient.people import bare
from tuiclient.replies import sent_words
from tuiclient.widgets.conversation_list import ConversationList, Key, key_of
from tuiclient.widgets.reply_bar import ChatReply

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bridge.engine import Engine, ReplyResult
    from tuiclient.screens.main import MainScreen


class ChatWith:
    if TYPE_CHECKING:  # what Chatting has
        screen: MainScreen
        peer: tuple[str, str] | None
        room: bool
        # conversation -> (account, JID): the 1:1 chats opened as such (a new
        # one has no line yet to say whom it is with).
        chats: dict[Key, tuple[str, str]]
        # conversation -> (the answer, whom it stands for until they are back)
        away_answers: dict[Key, tuple[str, frozenset[str]]]

        @property
        def engine(self) -> Engine: ...

        def account(self) -> str | None: ...

        async def send_asking(self, send: Callable[[str], Awaitable[ReplyResult]]
                              ) -> ReplyResult: ...

        async def send_private(self, nick: str, text: str) -> str: ...

    # -- opening the chat with someone ------------------------------------------------

    def chat_account(self) -> str | None:
        """The account a chat with someone is had from: the open chat's, else the
        first with a JID."""
        account = self.account()
        return account if any(a.name == account and a.jid for a in self.engine.accounts) \
            else None

    def chat_with(self, address: str) -> bool:
        """Open the 1:1 chat with `address` (a JID, or an address mapped to one);
        False when there is no chatting with them (no chat account, an email
        address with no JID)."""
        account = self.chat_account()
        jid = self.engine.chat_address(account, address) if account else None
        if account is None or not jid:
            return False
        self.open_chat(account, jid)
        return True

    def open_chat(self, account: str, jid: str) -> None:
        """The 1:1 chat with `jid`, open and listed; with no line yet, the input
        has the focus: what is typed there is its first line."""
        thread = self.engine.chat_conversation(account, jid)
        key = key_of(thread)
        self.chats[key] = (account, bare(jid))
        screen = self.screen
        listing = screen.query_one(ConversationList)
        if not listing.select_key(key):
            listing.merge([thread])
            listing.select_key(key)
        screen.open_thread(thread)
        screen.show_pane("chat")
        if not screen.opened.messages:
            screen.query_one(ChatReply).focus()

    def chat_peer(self) -> tuple[str, str] | None:
        """(account, JID) when the open conversation is a 1:1 chat opened as one:
        a line typed there goes to them (`say_to`), answering no line."""
        key = self.screen.opened.key
        return self.chats.get(key) if key is not None and not self.room else None

    def jid_named(self, account: str, who: str) -> str:
        """The JID `/msg` names: a JID (or an address mapped to one), or a
        contact's name (the roster's, the config's), which must be one person's."""
        if "@" in who:
            jid = self.engine.chat_address(account, who)
            return jid or bare(who.strip().removeprefix("xmpp:"))
        wanted = who.casefold()
        found: list[str] = []
        with contextlib.suppress(EngineError):
            found += [i.jid for i in self.engine.roster(account)
                      if i.name and i.name.casefold() == wanted]
        found += [c.jids[0] for c in self.engine.contacts()
                  if c.jids and c.name and c.name.casefold() == wanted]
        people = list(dict.fromkeys(bare(j) for j in found))
        if not people:
            raise EngineError(f"no contact called {one_line(who)} (/msg jid [text])")
        if len(people) > 1:
            raise EngineError(f"{len(people)} contacts are called {one_line(who)}: "
                              + ", ".join(one_line(p) for p in people))
        return people[0]

    async def _cmd_msg(self, who: str, text: str = "") -> str:
        """`/msg JID|name [text]`: the chat with them, open (and the text sent);
        in a group chat, `/msg nick text` is a private line to that occupant."""
        if self.peer is not None and self.room and (
                "@" not in who or any(o.nick == who for o in self.engine.occupants(*self.peer))):
            if not text:
                raise EngineError("a private line needs words: /msg nick text")
            return await self.send_private(who, text)
        account = self.chat_account()
        if account is None:
            raise EngineError("no chat account")
        jid = self.jid_named(account, who)
        self.open_chat(account, jid)
        if not text:
            return ""
        result = await self.say_to(account, jid, text)
        return sent_words(result) if result.deferred or result.via == "email" else ""

    async def say_to(self, account: str, jid: str, text: str) -> ReplyResult:
        """A line to `jid` in the 1:1 chat with them, through the outbox as every
        line (asked about when they are away)."""
        result = await self.send_asking(lambda when_away: self.engine.send_message(
            account, [f"xmpp:{jid}"], text, via="im", when_away=when_away))
        self.screen.replying.after_send(result.thread_id or "", account)
        return result

    # -- when they are away ----------------------------------------------------------

    def away_choice(self, key: Key | None) -> str:
        """The answer for someone away in conversation `key` already given (the
        defer prompt's "the same until they are back"), else "ask"."""
        return self.away_answers[key][0] if key in self.away_answers else "ask"

    def back(self, account: str, jid: str) -> None:
        """`jid` is available again: what was answered for them is asked anew
        next time."""
        for key, (_choice, whom) in list(self.away_answers.items()):
            if key[0] == account and bare(jid) in whom:
                del self.away_answers[key]

    async def ask_away(self, key: Key | None, presences: Sequence[ContactPresence]
                       ) -> str | None:
        """The defer prompt for a line of conversation `key` (None: not sent).
        Its answer, when the user says so, stands for this conversation until
        they are back. What was typed while it opened is kept apart from the
        line asked about: after an answer it is the input's next line; after
        Cancel, when the line comes back into the input, it is kept for P."""
        from tuiclient.screens.prompts import DeferScreen

        names = self.screen.overview.names
        whom = [bare(p.jid) for p in presences]
        chat_input = self.screen.query_one(ChatReply)
        here = key is not None and chat_input.conversation == key
        # Keys go on from the Enter that sent the line: the prompt takes them as text.
        dialog = DeferScreen(presences, ", ".join(one_line(names.get(j) or j) for j in whom),
                             typing=chat_input.last_typed if here else None)
        choice = await self.screen.app.push_screen_wait(dialog)
        if choice is not None and dialog.remember and key is not None:
            self.away_answers[key] = (choice, frozenset(whom))
        here = key is not None and chat_input.conversation == key
        if choice is not None:
            if dialog.typed and here:
                chat_input.value += dialog.typed
                chat_input.cursor_position = len(chat_input.value)
            elif dialog.typed and not chat_input.put_back(key, dialog.typed):
                self._keep_apart(key, whom, dialog.typed)
            return choice
        meanwhile = (chat_input.value if here else "") + dialog.typed
        if here:
            chat_input.value = ""  # the line asked about comes back there, alone
        if meanwhile.strip():
            self._keep_apart(key, whom, meanwhile)
        return None

    def _keep_apart(self, key: Key | None, whom: list[str], text: str) -> None:
        account = key[0] if key is not None else (self.account() or "")
        try:
            keep_unsent(account, whom, "", text, via="im")
        except OSError as failed:
            self.screen.notify(f"What you typed meanwhile could not be kept ({failed}): "
                               f"{text}", severity="error", markup=False)
            return
        self.screen.notify(f"What you typed meanwhile (“{one_line(text)}”) is kept: "
                           "P offers it again.", title="Kept", markup=False)
