"""The main screen's chat client: the `/` commands of the chat input, chat
states both ways, a group chat's occupants, and the questions the chat asks
(room invitations, contact requests, a visitor asking for voice), each through
an engine call. Over 600 lines: one `_cmd_*` per `/` command, each a few lines,
all reading the same open conversation; split they would pass it around.

A part of `MainScreen`, like `replying`: the screen routes the chat input's
messages (`ChatReply.Command`, `EditLast`, `Typing`, `Refused`) and the engine's
events here; what it reads it hands down to the chat view.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.timer import Timer

from bridge.engine import ContactAway, Engine, EngineError, ReplyResult
from bridge.events import (
    ChatStateChanged,
    Event,
    MessageReceived,
    PresenceChanged,
    RoomHappened,
    RoomInvitation,
    RoomOccupantsChanged,
    RoomSubjectChanged,
    SubscriptionRequest,
    VoiceRequested,
)
from bridge.model import Direction, Message, Transport
from tuiclient.appref import client_app
from tuiclient.chat_commands import Typed
from tuiclient.format import one_line, safe, who
from tuiclient.people import bare
from tuiclient.replies import sent_words
from tuiclient.screens.chat_contacts import ContactCommands
from tuiclient.screens.chat_files import FileCommands
from tuiclient.screens.chat_with import ChatWith
from tuiclient.widgets.conversation_list import ConversationList, Key, key_of
from tuiclient.widgets.occupants import Occupants
from tuiclient.widgets.reply_bar import ChatReply
from tuiclient.widgets.thread_pane import ChatView
from tuiclient.widgets.timeline import Timeline

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen

TYPING = {"composing": "is typing…", "paused": "stopped typing"}
TYPING_MANY = {"composing": "are typing…", "paused": "stopped typing"}


class Chatting(ContactCommands, FileCommands, ChatWith):
    # A "typing" not followed by another state within this long is stale: the
    # peer's client stopped telling (it crashed, lost its link, or never says
    # "paused"). XEP-0085 §3's trigger for "inactive" (about 30 s) is when a
    # client that keeps telling would have said more.
    TYPING_STALE = 30.0

    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self.peer: tuple[str, str] | None = None  # (account, JID) of the open chat
        self.room = False  # whether that JID is a group chat
        self.room_name = ""  # and then what names it (its bookmark's, its own)
        self.private = ""  # or room/nick: a private talk with that occupant
        self._asks: list[tuple[tuple[str, ...], Event]] = []  # waiting to be asked
        self._asking: tuple[str, ...] | None = None  # the question on screen
        # Per chat: the archive id to page back from (None: its start reached).
        self._before: dict[tuple[str, str], str | None] = {}
        self._paging = False
        self.quoting: Message | None = None  # the line a reply being typed answers
        # Who is typing in the open chat (a contact's JID, or room/nick), and the
        # timers that forget them when they go quiet.
        self._typing: dict[str, str] = {}
        self._stale: dict[str, Timer] = {}
        self.chats: dict[Key, tuple[str, str]] = {}  # (tuiclient.screens.chat_with)
        self.away_answers: dict[Key, tuple[str, frozenset[str]]] = {}

    @property
    def engine(self) -> Engine:
        return self.screen.engine

    @property
    def view(self) -> ChatView:
        return self.screen.query_one(ChatView)

    def say(self, text: str, *, error: bool = False) -> None:
        self.view.set_status(text, error=error)

    # -- which chat is open -------------------------------------------------------------

    def opened(self, messages: Sequence[Message]) -> None:
        """A conversation was opened: whom it is with, its room's occupants."""
        chat_input = self.screen.query_one(ChatReply)
        if self.peer is not None and chat_input.chat_state != "active":
            # Typing there stopped: the peer left for another conversation.
            self.engine.send_chat_state(self.peer[0], self.peer[1], "inactive")
        chat_input.sent()
        chat_input.words = self.argument_words
        chat_input.belongs_to(self.screen.opened.key)  # each its own unsent line
        self.unquote()
        self._forget_typing()
        self.peer, self.room, self.room_name, self.private = None, False, "", ""
        key = self.screen.opened.key
        room = self.screen.query_one(ConversationList).rooms.get(key) if key else None
        if key is not None and room is not None:
            # A room's conversation is the room's, lines in it or not yet.
            self.peer, self.room, self.room_name = (key[0], bare(room[0])), True, room[1]
        own = {bare(x) for a in self.engine.accounts for x in (a.jid, a.email) if x}
        for m in reversed(messages if self.peer is None else ()):
            if m.transport is not Transport.XMPP:
                continue
            first = bare(m.recipients[0].address) if m.recipients else ""
            jid = first if m.direction is Direction.OUT or (first and first not in own) \
                else bare(m.sender.address)
            self.peer = (m.account, jid)
            self.room = jid in {r.lower() for r in (*self.engine.joined_rooms(m.account),
                                                    *self.engine.remembered_rooms(m.account))}
            # A private talk with one occupant: ours to room/nick, theirs to us
            # (a room's line is to the room).
            occupant = (m.recipients[0].address if m.recipients else "") \
                if m.direction is Direction.OUT else \
                (m.sender.address if first in own else "")
            if self.room and "/" in occupant:
                self.private = one_line(occupant)
            break
        if self.peer is None and key in self.chats:  # a 1:1 chat with no line yet
            self.peer = self.chats[key]
        self.view.room = self.room_name  # the input writes to it
        chat = self.chat_peer()  # the input writes to them
        self.view.person = one_line(self.screen.overview.names.get(chat[1]) or chat[1]) \
            if chat is not None else ""
        self.say("")
        self.show_occupants()
        self.show_room_events(redraw=False)  # the timeline is shown anew next

    def show_room_events(self, came: RoomHappened | None = None, *,
                         redraw: bool = True) -> None:
        """The open room's happenings, between its lines, and our nick there (its
        lines name us by it, and lines naming it stand out); none elsewhere."""
        timeline = self.screen.query_one(Timeline)
        if self.peer is None or not self.room or self.private:
            timeline.set_room((), "", redraw=redraw)
            return
        events = self.engine.room_events(*self.peer)
        if came is not None and came not in events:
            events.append(came)  # told before the store had it: shown all the same
        timeline.set_room(events, self.engine.room_nick(*self.peer), redraw=redraw)

    def chat_name(self) -> str:
        """The open chat as its title names it: "Group chat Den (den@…)", "Chat
        with Bob"."""
        if self.peer is None:
            return ""
        jid = self.peer[1]
        if self.private:
            return f"Private chat with {self.private.partition('/')[2]} in {one_line(jid)}"
        if self.room:
            name = one_line(self.room_name)
            return f"Group chat {name} ({one_line(jid)})" \
                if name and name not in (jid, jid.partition("@")[0]) \
                else f"Group chat {one_line(jid)}"
        return f"Chat with {one_line(self.screen.overview.names.get(jid) or jid)}"

    def show_occupants(self) -> None:
        pane = self.screen.query_one(Occupants)
        if self.peer is None or not self.room:
            pane.occupants = ()
            return
        pane.room = self.peer[1]
        pane.occupants = tuple(self.engine.occupants(*self.peer))

    def account(self) -> str | None:
        """The account a command acts for: the open chat's, else the first with a JID."""
        if self.peer is not None:
            return self.peer[0]
        return next((a.name for a in self.engine.accounts if a.jid), None)

    # -- what the user types --------------------------------------------------------------

    def typing(self, state: str) -> None:
        """Our chat state, to the peer of a 1:1 chat (the engine asks whether
        their client takes it) or to a room (where the room lets us speak)."""
        if state == "composing" and self._error_shown():
            self.say("")  # typing on: the refusal is answered
        if self.peer is not None:
            self.engine.send_chat_state(self.peer[0], self.peer[1], state)

    def _error_shown(self) -> bool:
        return self.screen.query_one("#chat-status").has_class("error")

    def own_lines(self) -> list[Message]:
        return [m for m in self.screen.opened.messages if m.transport is Transport.XMPP
                and m.direction is Direction.OUT and m.retracted is None and m.id is not None]

    def edit_last(self) -> None:
        """↑ in the empty input: the last own line, to correct."""
        mine = self.own_lines()
        if not mine:
            self.say("no line of yours to correct here", error=True)
            return
        self.screen.query_one(ChatReply).write("/correct " + mine[-1].text)

    def command_line(self) -> None:
        """`:` anywhere on the main screen: the chat input, ready for a command
        (with or without a conversation open, as Profanity's always is)."""
        if self.screen.narrow:
            self.screen.pane = "chat"
        chat_input = self.screen.query_one(ChatReply)
        chat_input.words = self.argument_words
        chat_input.focus()
        if not chat_input.value:
            chat_input.value = "/"
        chat_input.cursor_position = len(chat_input.value)

    def run(self, typed: Typed, tell: Callable[[str, bool], None] | None = None) -> None:
        """A command typed in the chat input, answered under the timeline; or run
        from the `:` line, answered by `tell` (text, error) where `:` answers."""
        if tell is None:
            self.say("")
        self.screen.run_worker(self._run(typed, tell), name=f"chat-{typed.name}",
                               group="chat")

    async def _run(self, typed: Typed, tell: Callable[[str, bool], None] | None) -> None:
        name, args = typed.name, typed.args
        try:
            said = await getattr(self, f"_cmd_{name}")(*args)
        except (EngineError, OSError) as exc:
            if tell is not None:
                tell(f":{name}: {exc}", True)
                return
            self.say(f"/{name}: {exc}", error=True)
            chat_input = self.screen.query_one(ChatReply)
            if not chat_input.value:  # nothing typed since: the command, to fix,
                chat_input.write(" ".join((f"/{name}", *args)))  # typed on at its end
            return
        if said and tell is not None:
            tell(said, False)
        elif said:
            self.say(said)

    def _needs_room(self, name: str) -> tuple[str, str]:
        if self.peer is None or not self.room:
            raise EngineError(f"not in a group chat (open one, or /{name} room@service)")
        return self.peer

    async def _cmd_correct(self, text: str) -> str:
        mine = self.own_lines()
        if not mine:
            raise EngineError("no line of yours to correct here")
        await self.engine.correct(mine[-1].id or 0, text)
        return ""

    async def _cmd_retract(self) -> str:
        current = self.screen.query_one(Timeline).current
        mine = self.own_lines()
        line = current if current in mine else (mine[-1] if mine else None)
        if line is None:
            raise EngineError("no line of yours to retract here")
        await self.engine.retract(line.id or 0)
        return "retracted"

    async def _cmd_react(self, emoji: str) -> str:
        timeline = self.screen.query_one(Timeline)
        m = timeline.current
        if m is None or m.id is None or m.transport is not Transport.XMPP:
            raise EngineError("choose a chat line to react to")
        own = {bare(a.jid) for a in self.engine.accounts if a.jid}
        ours = any(emoji in r.emojis for r in timeline.reactions.get(m.id, ())
                   if bare(r.reactor) in own)
        await self.engine.react(m.id, emoji, remove=ours)
        return ""

    async def _cmd_join(self, room: str, nick: str | None = None,
                        password: str | None = None) -> str:
        account = self._need_account()
        occupants = await self.engine.join_room(account, room, nick=nick, password=password)
        joined = f"joined {one_line(room)}: {len(occupants)} in the room"
        if self.open_room(account, room) and self.screen.opened.messages:
            return joined
        # Listed and open, with no line yet: what is typed here is its first.
        return f"{joined}; write its first line below"

    async def _cmd_rooms(self, service: str | None = None) -> str:
        from tuiclient.screens.chat_prompts import RoomsScreen

        account = self._need_account()
        rooms = await self.engine.discover_rooms(account, service)
        if not rooms:
            return f"no rooms listed by {one_line(service or 'the server')}"
        chosen = await self.screen.app.push_screen_wait(RoomsScreen(service or "", rooms))
        return await self._cmd_join(chosen) if chosen else ""

    def open_room(self, account: str, room: str) -> bool:
        """Open a room's conversation (at its newest line), listed at once: a room
        where nobody spoke yet too, empty until its first line. False if the
        engine knows no such room (not joined)."""
        lines = self.engine.search(f"to:{bare(room)}", limit=1, account=account)
        if lines:
            self.screen.search_done(lines[0])
            return True
        try:
            thread = self.engine.room_conversation(account, room)
        except EngineError:
            return False
        listing = self.screen.query_one(ConversationList)
        if not listing.select_key(key_of(thread)):
            listing.merge([thread])
            listing.select_key(key_of(thread))
        self.screen.pass_down()  # the list and the chat know it as a room now
        self.screen.open_thread(thread)
        self.screen.show_pane("chat")
        if not self.screen.opened.messages:  # nothing to read: the first line to write
            self.screen.query_one(ChatReply).focus()
        return True

    async def _cmd_leave(self, room: str | None = None) -> str:
        account, room = (self._need_account(), room) if room else self._needs_room("leave")
        await self.engine.leave_room(account, room)
        self.show_occupants()
        return f"left {one_line(room)}"

    async def _cmd_invite(self, jid: str, reason: str = "") -> str:
        account, room = self._needs_room("join")
        await self.engine.invite(account, room, jid, reason)
        return f"invited {one_line(jid)} to {one_line(room)}"

    async def _cmd_bookmark(self, verb: str = "add", room: str = "") -> str:
        account = self._need_account()
        if verb == "list":
            marks = await self.engine.bookmarks(account)
            return "bookmarks: " + ", ".join(
                one_line(b.room) + (" (autojoin)" if b.autojoin else "")
                for b in marks) if marks else "no bookmarks"
        if not room:
            account, room = self._needs_room("bookmark")
        if verb == "remove":
            await self.engine.unbookmark(account, room)
            return f"forgot the bookmark of {one_line(room)}"
        mark = await self.engine.bookmark(account, room)
        return f"bookmarked {one_line(mark.room)}: joined at every login"

    async def send_private(self, nick: str, text: str) -> str:
        """`/msg nick text` in a group chat: a private line to that occupant."""
        account, room = self._needs_room("join")
        result = await self.send_asking(lambda when_away: self.engine.send_private(
            account, room, nick, text, when_away=when_away))
        if result.deferred or result.via == "email":
            return f"to {one_line(nick)} privately: {sent_words(result)}"
        return f"to {one_line(nick)} privately: {one_line(text)}"

    async def _cmd_quote(self, text: str) -> str:
        m = self.quoting or self.screen.query_one(Timeline).current
        if m is None or m.id is None or m.transport is not Transport.XMPP \
                or m.retracted is not None:
            raise EngineError("choose a chat line to answer")
        row = m.id
        result = await self.send_asking(lambda when_away: self.engine.reply_to_line(
            row, text, when_away=when_away))
        self.unquote()
        return sent_words(result) if result.deferred or result.via == "email" else ""

    async def send_asking(self, send: Callable[[str], Awaitable[ReplyResult]]) -> ReplyResult:
        """A line sent through the engine's outbox, as a reply is: when whoever
        it is for is not available, the user chooses (send anyway, defer, or by
        email) on the defer prompt. Giving up there is an EngineError."""
        key = self.screen.opened.key
        when_away = self.away_choice(key)
        for _ in range(3):
            try:
                result = await send(when_away)
            except ContactAway as exc:
                choice = await self.ask_away(key, exc.presences)
                if choice is None:
                    break
                when_away = choice
                continue
            self.screen.overview.refresh_outbox()
            return result
        raise EngineError("not sent")

    def quote(self, m: Message) -> None:
        """The quote-reply key on a chat line: the input, ready for the answer
        (`/quote `), with the line it answers shown over it until it is sent
        or left (Esc)."""
        self.quoting = m
        if self.screen.narrow:
            self.screen.pane = "chat"
        quoted = Text("replying to ┃ ", style="dim")
        quoted.append(f"{who(m, self.screen.overview.names)}: ", style="dim bold")
        words = "message retracted" if m.retracted is not None else one_line(safe(m.text))
        quoted.append(words[:120] + ("…" if len(words) > 120 else ""), style="dim italic")
        quoted.append("\nenter: send · esc: leave", style="dim italic")
        self.view.set_target(quoted)
        chat_input = self.screen.query_one(ChatReply)
        chat_input.value = "/quote "
        chat_input.cursor_position = len(chat_input.value)
        chat_input.focus()

    def unquote(self) -> None:
        """No reply to a line under way any more (sent, left, another chat)."""
        if self.quoting is not None:
            self.quoting = None
            self.view.set_target("")

    async def _cmd_topic(self, subject: str = "") -> str:
        account, room = self._needs_room("join")
        if not subject:
            now = self.engine.room_subject(account, room)
            return f"topic: {one_line(now)}" if now else "no topic set"
        await self.engine.change_room_subject(account, room, subject)
        return ""  # the room tells the new one (RoomSubjectChanged)

    def topic(self) -> str:
        """The open group chat's subject, for the title ("" for none)."""
        if self.peer is None or not self.room:
            return ""
        return one_line(self.engine.room_subject(*self.peer))

    async def _cmd_nick(self, nick: str) -> str:
        account, room = self._needs_room("join")
        await self.engine.room_action(account, room, "nick", nick)
        return f"you are {one_line(nick)} in {one_line(room)}"

    async def _cmd_voice(self) -> str:
        account, room = self._needs_room("voice")
        await self.engine.request_voice(account, room)
        return f"asked the moderators of {one_line(room)} to let you speak"

    async def _cmd_claim(self, nick: str) -> str:
        account, room = self._needs_room("claim")
        held = await self.engine.register_with_room(account, room, nick)
        return f"{one_line(held)} is registered as yours in {one_line(room)}"

    async def _cmd_kick(self, nick: str, reason: str = "") -> str:
        account, room = self._needs_room("join")
        await self.engine.room_action(account, room, "kick", nick, reason)
        return f"{one_line(nick)} is out of {one_line(room)}"

    async def _cmd_ban(self, who: str, reason: str = "") -> str:
        account, room = self._needs_room("join")
        await self.engine.room_action(account, room, "ban", who, reason)
        return f"{one_line(who)} is banned from {one_line(room)}"

    async def _cmd_occupants(self) -> str:
        self._needs_room("join")
        self.show_occupants()
        return ""

    async def _cmd_keys(self) -> str:
        self.screen.action_keys()
        return ""

    async def _cmd_omemo(self, verb: str) -> str:
        """`/omemo on`: every line of this chat goes OMEMO-encrypted (or is
        refused, saying why; never in clear); `/omemo off`: in clear. In a room:
        only a members-only non-anonymous one, sealed for every member."""
        if self.peer is None:
            raise EngineError("open a chat first")
        jid = self.peer[1]
        if verb == "toggle":  # ctrl+g in the chat input
            verb = "off" if self.engine.omemo_preference(jid) == "encrypt" else "on"
        if self.room:
            await self.engine.omemo_room(self.peer[0], jid, verb == "on")
            if verb == "on":
                return f"OMEMO on: lines in {one_line(jid)} go encrypted for every member"
            return f"OMEMO off: lines in {one_line(jid)} go in clear"
        self.engine.omemo_prefer(jid, verb == "on")
        if verb == "on":
            return f"OMEMO on: lines to {one_line(jid)} go encrypted"
        return f"OMEMO off: lines to {one_line(jid)} go in clear"

    async def _cmd_avatar(self, verb: str, what: str) -> str:
        """`/avatar set PATH`: publish ours; `/avatar open JID`: theirs, in the
        system's image viewer (as Profanity's)."""
        from tuiclient.screens.roster import open_avatar

        account = self._need_account()
        if verb == "set":
            path = Path(what).expanduser()
            await self.engine.avatar_set(account, path)
            return f"your avatar is now {one_line(path.name)}"
        return await open_avatar(self.screen, self.engine, account, what.strip())

    async def _cmd_help(self) -> str:
        self.screen.action_help()
        return ""

    def _need_account(self) -> str:
        account = self.account()
        if account is None:
            raise EngineError("no chat account")
        return account

    def older(self) -> None:
        """Up past the first line: a page of older history from the server's
        archive (MAM), before the oldest line here that the archive named."""
        if self.peer is None or self._paging:
            return
        key = self.peer
        if key in self._before and self._before[key] is None:
            self.say("the start of this chat's history")
            return
        before = self._before.get(key)
        if before is None:
            archived = [m for m in self.screen.opened.messages
                        if m.transport is Transport.XMPP and m.stanza_id]
            before = archived[0].stanza_id if archived else ""
        self._paging = True
        self.say("fetching older history…")
        self.screen.run_worker(self._older(key, before or ""), name="chat-older",
                               group="chat-older", exclusive=True)

    async def _older(self, key: tuple[str, str], before: str) -> None:
        try:
            stored, first = await self.engine.older_chat(key[0], key[1], before)
        except (EngineError, OSError) as exc:
            self.say(f"older history: {exc}", error=True)
            return
        finally:
            self._paging = False
        self._before[key] = first
        if self.peer != key:
            return
        self.screen.opened.refresh()
        self.say(f"{stored} older line{'s' * (stored != 1)} from the server's archive"
                 if stored else "the start of this chat's history" if first is None
                 else "nothing older here yet; up again for more")

    def revisions(self, m: Message) -> None:
        from tuiclient.screens.chat_prompts import RevisionsScreen

        if m.id is not None:
            self.screen.app.push_screen(RevisionsScreen(m, self.engine.revisions(m.id),
                                                        client_app(self.screen).clock))

    # -- what the engine tells ------------------------------------------------------------

    def events(self, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, ChatStateChanged):
                self._chat_state(event)
            elif isinstance(event, MessageReceived):
                if event.source == "live" and self._typing:
                    self._line_came(event)
            elif isinstance(event, RoomSubjectChanged):
                if self.peer == (event.account, bare(event.room)):
                    self.screen.opened.show_title()
                    if event.by:
                        self.say(f"{one_line(event.by)} set the topic: {one_line(event.subject)}")
            elif isinstance(event, RoomOccupantsChanged):
                if self.peer == (event.account, bare(event.room)):
                    self.show_occupants()
            elif isinstance(event, RoomHappened):
                if self.peer == (event.account, bare(event.room)) and not self.private:
                    self.show_room_events(event)
            elif isinstance(event, PresenceChanged):
                if event.availability == "available":
                    self.back(event.account, event.jid)
            elif isinstance(event, RoomInvitation):
                self.ask(("room", event.account, event.room), event)
            elif isinstance(event, SubscriptionRequest):
                self.ask(("subscription", event.account, bare(event.jid)), event)
            elif isinstance(event, VoiceRequested):
                self.ask(("voice", event.account, event.room, event.nick), event)

    # -- who is typing (XEP-0085) ----------------------------------------------------------

    def _chat_state(self, event: ChatStateChanged) -> None:
        """A contact's (or, in the open room, an occupant's) chat state: shown
        under the timeline until another state, their line, or the stale timer."""
        if self.peer is None or self.peer != (event.account, bare(event.jid)) \
                or self.room != ("/" in event.jid):
            return
        who = event.jid
        timer = self._stale.pop(who, None)
        if timer is not None:
            timer.stop()
        if event.state in TYPING:
            self._typing[who] = event.state
            self._stale[who] = self.screen.set_timer(
                self.TYPING_STALE, lambda: self._forget_typing(who))
        else:
            self._typing.pop(who, None)
        self._show_typing()

    def _line_came(self, event: MessageReceived) -> None:
        """Their line came: they are no longer typing (in a room, matched by the
        nick or by the real JID the room shows)."""
        if self.peer is None or event.account != self.peer[0]:
            return
        sender = event.sender
        if self.room:
            real = {f"{self.peer[1]}/{o.nick}": bare(o.jid or "")
                    for o in self.engine.occupants(*self.peer)}
            gone = [w for w in self._typing if w == sender or real.get(w) == bare(sender)]
        else:
            gone = [w for w in self._typing if w == bare(sender)]
        if gone:
            self._forget_typing(*gone)

    def _forget_typing(self, *who: str) -> None:
        """Nobody (or not `who`) typing any more."""
        for w in who or list(self._typing):
            self._typing.pop(w, None)
            timer = self._stale.pop(w, None)
            if timer is not None:
                timer.stop()
        self._show_typing()

    def typing_line(self) -> str:
        """"bob is typing…", "alice, bob are typing…; carol stopped typing"
        (names in order, whoever started first)."""
        names = self.screen.overview.names
        parts = []
        for state in TYPING:
            who = sorted(one_line(w.split("/", 1)[1] if self.room else names.get(w) or w)
                         for w, s in self._typing.items() if s == state)
            if who:
                words = (TYPING if len(who) == 1 else TYPING_MANY)[state]
                parts.append(f"{', '.join(who)} {words}")
        return "; ".join(parts)

    def _show_typing(self) -> None:
        self.say(self.typing_line())

    def ask(self, key: tuple[str, ...], event: Event) -> None:
        """Queue a question (one on screen at a time; the same one once)."""
        if key == self._asking or any(k == key for k, _ in self._asks):
            return
        self._asks.append((key, event))
        self._next_ask()

    def _next_ask(self) -> None:
        from tuiclient.screens.chat_prompts import (
            AskScreen,
            invitation_screen,
            subscription_screen,
            voice_screen,
        )

        if self._asking is not None or not self._asks:
            return
        key, event = self._asks.pop(0)
        names = self.screen.overview.names
        screen: AskScreen
        if isinstance(event, RoomInvitation):
            inviter = names.get(bare(event.inviter)) or event.inviter
            screen = invitation_screen(event, inviter)
        elif isinstance(event, VoiceRequested):
            screen = voice_screen(event)
        else:
            assert isinstance(event, SubscriptionRequest)
            screen = subscription_screen(event, names.get(bare(event.jid), ""))
        self._asking = key
        self.screen.app.push_screen(screen, lambda answer: self._answered(event, answer))

    def _answered(self, event: Event, answer: str | None) -> None:
        from tuiclient.screens.chat_prompts import voice_answer

        self._asking = None
        job: Callable[[], Awaitable[object]] | None = None
        done = ""
        if isinstance(event, RoomInvitation):
            if answer == "join":
                job = lambda: self._accept(event)  # noqa: E731
                done = f"joined {one_line(event.room)}"
            elif answer == "decline":
                job = lambda: self.engine.decline_invitation(  # noqa: E731
                    event.account, event.room, event.inviter, direct=event.direct)
                done = (f"dropped the invitation to {one_line(event.room)}" if event.direct
                        else f"declined {one_line(event.room)}")
        elif isinstance(event, SubscriptionRequest):
            if answer == "approve":
                job = lambda: self.engine.roster_approve(event.account, event.jid)  # noqa: E731
                done = f"{one_line(event.jid)} may see your presence"
            elif answer == "deny":
                job = lambda: self.engine.roster_deny(event.account, event.jid)  # noqa: E731
                done = f"denied {one_line(event.jid)}"
        elif isinstance(event, VoiceRequested):
            job, done = voice_answer(self.engine, event, answer)
        if job is not None:
            self.screen.run_worker(self._answer(job, done), name="chat-answer", group="chat")
        self._next_ask()

    async def _accept(self, event: RoomInvitation) -> None:
        await self.engine.accept_invitation(event.account, event.room,
                                            password=event.password or None)
        self.open_room(event.account, event.room)

    async def _answer(self, job: Callable[[], Awaitable[object]], done: str) -> None:
        try:
            await job()
        except (EngineError, OSError) as exc:
            self.screen.notify(str(exc), title="Chat", severity="error", markup=False)
            return
        self.screen.notify(done, title="Chat", markup=False)
