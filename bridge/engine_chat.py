"""The engine's chat verbs: corrections, reactions, replies, rooms, bookmarks,
roster, presence.

A mixin of `bridge.engine.Engine` (issue 20): each action of a chat client, for
every front end, done by the account's XmppClient. The XMPP layer's refusals
(XmppError: not your line, a wrong room password) come out as EngineError with
the reason (`chat_refusal`).
"""

from __future__ import annotations

import contextlib
import mimetypes
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import errors as refuse
from .emoji_shape import is_emoji
from .errors import WHEN_AWAY, ContactAway, EngineError, describe_presence
from .events import EventBus, PresenceChanged
from .handoff import ReplyResult
from .model import (
    Availability,
    ContactPresence,
    ImPlan,
    Message,
    Thread,
    Transport,
    default_thread_id,
    new_message_id,
)
from .store import Reaction, Revision
from .xmpp.stanzas import bare as bare_jid

if TYPE_CHECKING:
    from .config import Config
    from .crypto.outgoing import Protection
    from .handoff import Handoff
    from .outbox import Outbox
    from .store import Store, StoredEvent
    from .xmpp.bookmarks import Bookmark
    from .xmpp.client import Occupant, RosterItem, XmppClient
    from .xmpp.rooms import RoomListing


# Our own show (RFC 6121 §4.7.2.1) as the availability the front ends draw.
OWN_SHOW = {"": Availability.AVAILABLE, "chat": Availability.AVAILABLE,
            "away": Availability.AWAY, "xa": Availability.AWAY, "dnd": Availability.BUSY}


@contextlib.contextmanager
def chat_refusal() -> Iterator[None]:
    """A refusal of the XMPP layer (the server's, a room's, or its own rule) as the
    engine's error, with its reason."""
    # Imported here, not at the top: a chat verb runs on a live XmppClient, so
    # slixmpp is loaded by then, and a process that never chats never loads it.
    from .xmpp.core import XmppError

    try:
        yield
    except XmppError as exc:
        raise EngineError(str(exc)) from None


class ChatVerbs:
    """What a user does in chats (a part of the Engine; see the module's doc)."""

    if TYPE_CHECKING:  # the engine's parts and calls these verbs go through
        store: Store
        xmpp: dict[str, XmppClient]
        config: Config
        events: EventBus
        present: bool  # a client's engine, or a one-shot command's (Engine.present)

        def message(self, row_id: int) -> Message: ...

        def search(self, query: str, limit: int = 50,
                   account: str | None = None) -> list[Message]: ...

        @property  # the Engine's, made on first use
        def outbox(self) -> Outbox: ...

        @property  # the Engine's, made on first use
        def handoff(self) -> Handoff: ...

        async def chat_encryption(self, account: str, thread_id: str,
                                  people: Sequence[str], asked: Protection | None,
                                  when_away: str | None = None, *,
                                  room: bool = False) -> None: ...

        def xmpp_client(self, account: str) -> XmppClient: ...

        def logged_events(self, since_id: int = 0, limit: int = 1000
                          ) -> list[StoredEvent]: ...

        def log_event(self, kind: str, payload: dict[str, Any] | None = None) -> int: ...

        def omemo_prefer(self, jid: str, on: bool | None) -> None: ...

        def room_conversations(self, account: str | None = None
                               ) -> dict[tuple[str, str], tuple[str, str]]: ...

    def _chat(self, account: str) -> XmppClient:
        return self.xmpp_client(account)

    def _chat_line(self, row_id: int) -> tuple[Message, XmppClient]:
        message = self.message(row_id)
        if message.transport is not Transport.XMPP:
            raise EngineError(refuse.not_a_chat_line())
        return message, self._chat(message.account)

    async def correct(self, row_id: int, text: str) -> Message:
        """Correct our last line of its chat (XEP-0308); the old text is kept.
        The correction of an OMEMO-encrypted line goes sealed like it, or is
        refused (EncryptionRefused) and the line stays as it was."""
        _m, client = self._chat_line(row_id)
        with chat_refusal():
            if client.sealed_line(row_id):
                return await client.correct_sealed(row_id, text)
            return client.correct(row_id, text)

    async def react(self, row_id: int, emoji: str = "", *, remove: bool = False) -> list[str]:
        """Add `emoji` to our reactions to a line, or take it back (`remove`; no
        emoji: all of ours); returns our reactions as sent (XEP-0444). A reaction
        is one emoji (`bridge.emoji_shape`): other text is refused, nothing sent."""
        if emoji and not remove and not is_emoji(emoji.strip()):
            raise EngineError(refuse.not_an_emoji(emoji))
        _m, client = self._chat_line(row_id)
        mine = client.own_reactions(row_id)
        if remove:
            mine = [e for e in mine if emoji and e != emoji]
        elif emoji and emoji not in mine:
            mine.append(emoji)
        with chat_refusal():
            return client.react(row_id, mine)

    async def retract(self, row_id: int) -> Message:
        """Take back a line we sent (XEP-0424): gone here, and asked of everyone."""
        _m, client = self._chat_line(row_id)
        with chat_refusal():
            client.retract(row_id)
        return self.message(row_id)

    async def reply_to_line(self, row_id: int, text: str, *,
                            when_away: str | None = None) -> ReplyResult:
        """Answer a chat line (XEP-0461): a new line of its conversation that
        quotes it. It goes through the outbox like every chat line: to a contact
        who is not available, `when_away` decides as for `reply` ("ask" raises
        ContactAway; "defer", "email" or "send"; None: the config's policy), and
        by email it carries the line it answers, quoted. The result's chat line
        (when one was written) has in_reply_to naming the line answered."""
        m, client = self._chat_line(row_id)
        if not text.strip():
            raise EngineError("The reply is empty: write something to send.")
        with chat_refusal():
            _line, to, mtype, reply = client.reply_target(row_id)
        plan = ImPlan(account=m.account, to=to, thread_id=m.thread_id, text=text,
                      msg_id=new_message_id(client.domain), room=mtype == "groupchat",
                      reply={"to": reply.to, "id": reply.id, "quote": reply.quote,
                             "nick": reply.nick, "line": m.msg_id,
                             "name": m.sender.name or bare_jid(m.sender.address)})
        return await self._send_line(plan, [] if plan.room else [to], when_away)

    async def send_private(self, account: str, room: str, nick: str, text: str, *,
                           when_away: str | None = None) -> ReplyResult:
        """A private line to one occupant of a joined room (XEP-0045 §7.5),
        through the outbox like every chat line: an occupant who is away, or
        gone when a deferred line's turn comes, is waited for (`when_away` as
        for `reply_to_line`); by email it goes to their real JID's address, when
        the room showed it."""
        client = self._chat(account)
        room = bare_jid(room)
        if room not in client.rooms():
            raise EngineError(f"You are not in {room}: join it first (/join {room}).")
        occupant = next((o for o in client.occupants(room) if o.nick == nick), None)
        if occupant is None:
            raise EngineError(f"Nobody called {nick!r} is in {room}: see who is there with "
                              "/occupants.")
        if not text.strip():
            raise EngineError("The line is empty: write something to send.")
        to = f"{room}/{nick}"
        plan = ImPlan(account=account, to=to,
                      thread_id=client.state.threads.get(to) or
                      default_thread_id(client.own, to),
                      text=text, msg_id=new_message_id(client.domain))
        return await self._send_line(plan, [to], when_away,
                                     email_to=[occupant.jid] if occupant.jid else [])

    async def say_in_room(self, account: str, room: str, text: str, *,
                          when_away: str | None = None,
                          files: Sequence[Path] = ()) -> ReplyResult:
        """A line to everyone in a room we are in (type=groupchat), answering no
        line: the first one of a room where nobody spoke yet, as any other.
        Through the outbox like every chat line, into the room's conversation;
        `files` go after it (with no words, the first is the line)."""
        client = self._chat(account)
        room = bare_jid(room)
        if room not in client.rooms() and room not in client.state.rooms:
            # (A room we are in but not joined again yet since the login: the
            # line waits for the join, which sends it.)
            raise EngineError(f"You are not in {room}: join it first (/join {room}).")
        if not text.strip() and not files:
            raise EngineError("The line is empty: write something to send.")
        plan = ImPlan(account=account, to=room,
                      thread_id=client.state.threads.get(room) or
                      default_thread_id(client.own, room),
                      text=text, msg_id=new_message_id(client.domain), room=True)
        for path in files:
            data = path.read_bytes()
            plan.add_file(path.name, mimetypes.guess_type(path.name)[0] or
                          "application/octet-stream", self.store.store_blob(data),
                          len(data), new_message_id(client.domain))
        return await self._send_line(plan, [], when_away)

    async def _send_line(self, plan: ImPlan, targets: list[str], when_away: str | None,
                         email_to: Sequence[str] = ()) -> ReplyResult:
        """One chat line of ours into the outbox (bridge.outbox), as the handoff
        sends a reply: asked about, deferred or sent by email instead when
        whoever it is for is not available."""
        when_away = when_away or self.config.deferral.policy
        if when_away not in WHEN_AWAY:
            raise EngineError(f"Unknown choice for when they are away: use one of "
                              f"{', '.join(WHEN_AWAY)}.")
        result = ReplyResult("im", thread_id=plan.thread_id,
                             room=plan.to if plan.room else None)
        await self.chat_encryption(plan.account, plan.thread_id, targets or [plan.to],
                                   None, when_away, room=plan.room)
        away = self.outbox.unavailable(self.outbox.presences(plan, targets))
        if away and when_away == "ask":
            raise ContactAway(away)
        if away and when_away == "email":
            from .outbox_mirror import with_quote

            result.via = "email"
            result.email_ids.append(await self.handoff.email_instead(
                with_quote(plan), list(email_to) or targets))
            return result
        result.deferred = bool(away) and when_away == "defer"
        result.outbox.append(await self.outbox.submit(
            plan, targets, defer=result.deferred, email_to=email_to,
            reason="; ".join(describe_presence(p) for p in away)))
        line = self.store.find_by_msg_id(plan.account, plan.msg_id)
        if line is not None:
            result.chat.append(line)
        return result

    async def omemo_room(self, account: str, room: str, on: bool) -> None:
        """`/omemo on|off` in a room: on, every line of it goes OMEMO-encrypted
        for every member, refused now (EncryptionRefused, saying why) unless the
        room is members-only and non-anonymous and each member has a device; off,
        in clear."""
        if on:
            await self._chat(account).omemo_ready_room(room)
        self.omemo_prefer(bare_jid(room), on)

    def client_state(self, active: bool) -> None:
        """Whether the user is looking at us (XEP-0352): the app's focus, a
        headless loop's idleness; each server that offers it is told."""
        for client in self.xmpp.values():
            client.set_client_state(active)

    def reactions(self, row_ids: Sequence[int]) -> dict[int, list[Reaction]]:
        """Who reacted to these lines, and with what."""
        return self.store.reactions(list(row_ids))

    def revisions(self, row_id: int) -> list[Revision]:
        """The texts a corrected line had before, oldest first."""
        return self.store.revisions(row_id)

    async def join_room(self, account: str, room: str, *, nick: str | None = None,
                        password: str | None = None) -> list[Occupant]:
        """Join a room (or accept an invitation to it); its occupants with roles."""
        with chat_refusal():
            return await self._chat(account).join_room(room, nick, password)

    async def accept_invitation(self, account: str, room: str, *, nick: str | None = None,
                                password: str | None = None) -> list[Occupant]:
        """Join a room we were invited to; without `password`, the one the latest
        invitation to it gave (kept in the event log, so any process saw it)."""
        if password is None:
            invitation = self.store.last_event("RoomInvitation", {
                "$.account": account, "$.room": bare_jid(room)})
            password = (invitation or {}).get("password") or None
        return await self.join_room(account, room, nick=nick, password=password)

    async def leave_room(self, account: str, room: str) -> None:
        with chat_refusal():
            await self._chat(account).leave_room(room)

    async def invite(self, account: str, room: str, jid: str, reason: str = "", *,
                     direct: bool = False) -> None:
        with chat_refusal():
            self._chat(account).invite(room, jid, reason, direct=direct)

    async def decline_invitation(self, account: str, room: str, inviter: str,
                                 reason: str = "", *, direct: bool = False) -> None:
        """Say no to an invitation; a direct one (XEP-0249) is only dropped."""
        with chat_refusal():
            self._chat(account).decline_invitation(room, inviter, reason, direct=direct)

    async def discover_rooms(self, account: str, service: str | None = None
                             ) -> list[RoomListing]:
        """The rooms a multi-user chat service lists (default: the server's own),
        with their names and occupant counts where they tell (XEP-0045 §6)."""
        with chat_refusal():
            return await self._chat(account).discover_rooms(service)

    async def request_voice(self, account: str, room: str) -> None:
        """Ask a moderated room to let us speak (XEP-0045 §7.13)."""
        with chat_refusal():
            self._chat(account).request_voice(room)

    async def answer_voice_request(self, account: str, room: str, nick: str, jid: str,
                                   allow: bool) -> None:
        """A moderator's answer to a VoiceRequested (XEP-0045 §8.6)."""
        with chat_refusal():
            self._chat(account).answer_voice_request(room, nick, jid, allow)

    async def register_with_room(self, account: str, room: str, nick: str) -> str:
        """Reserve a nick with a room (XEP-0045 §7.10); the nick it holds for us."""
        with chat_refusal():
            return await self._chat(account).register_with_room(room, nick)

    async def bookmarks(self, account: str) -> list[Bookmark]:
        """The rooms the user keeps (XEP-0402, shared with their other clients),
        as the server holds them now."""
        with chat_refusal():
            return await self._chat(account).bookmarks()

    async def bookmark(self, account: str, room: str, *, name: str = "", nick: str = "",
                       autojoin: bool = True) -> Bookmark:
        """Add or change a room's bookmark; with `autojoin`, every client of the
        user (this one at its next login too) joins it. A password the bookmark
        had is kept."""
        client = self._chat(account)
        with chat_refusal():
            known = {b.room: b for b in await client.bookmarks()}.get(bare_jid(room))
            return await client.bookmark(
                room, name=name or (known.name if known else ""),
                nick=nick or (known.nick if known else ""), autojoin=autojoin,
                password=known.password if known else "")

    async def unbookmark(self, account: str, room: str) -> None:
        """Remove a room's bookmark (a joined room is not left)."""
        with chat_refusal():
            await self._chat(account).unbookmark(room)

    def room_conversation(self, account: str, room: str) -> Thread:
        """A room's conversation as a list shows it: the stored one, or, for a
        room just joined where nobody spoke yet, an empty one (not stored: its
        first line makes it), so the room can be listed and opened at once."""
        client = self._chat(account)
        room = bare_jid(room)
        thread_id = client.state.threads.get(room) or default_thread_id(client.own, room)
        name = self.room_conversations(account).get((account, thread_id), (room, ""))[1]
        stored = self.store.get_thread(account, thread_id)
        if stored is not None:
            return stored.replace(room=room, room_name=name or room)
        now = time.time()
        return Thread(0, account, thread_id, "", now, now, 0, 0, room,
                      f"you joined {room}; nobody spoke yet", frozenset({Transport.XMPP}),
                      room=room,
                      room_name=name or room)

    def chat_conversation(self, account: str, jid: str) -> Thread:
        """The 1:1 chat with `jid` as a list shows it (Profanity's window with a
        contact): the conversation a new line to them goes into
        (`chat_thread_id`), stored, or, with none yet, an empty one (not
        stored: its first line makes it), to open and write in at once."""
        thread_id = self.chat_thread_id(account, jid)
        stored = self.store.get_thread(account, thread_id)
        if stored is not None:
            return stored
        now = time.time()
        return Thread(0, account, thread_id, "", now, now, 0, 0, bare_jid(jid),
                      "nothing said yet", frozenset({Transport.XMPP}))

    def chat_thread_id(self, account: str, jid: str) -> str:
        """Where the 1:1 chat with `jid` lives: the conversation their lines are
        bound to, else the newest one of chat lines between them and us, when
        nobody else takes part in it (an email thread with others, where a
        handoff bound them, is not their chat); else a new one's id."""
        cfg = next((a for a in self.config.accounts if a.name == account), None)
        if cfg is None or not cfg.jid:
            raise EngineError(f"{account} has no chat account: add a jid to it to chat.")
        jid = bare_jid(jid).lower()
        own = bare_jid(cfg.jid).lower()
        people = [a for a in (cfg.jid, cfg.email, *cfg.aliases, jid) if a]
        client = self.xmpp.get(account)
        bound = client.state.threads.get(jid) if client is not None else None
        lines: list[Message] = []
        for query in (f"from:{jid}", f"to:{jid}"):
            try:
                lines += self.search(query, limit=20, account=account)
            except Exception:  # a query the parser refuses finds nothing
                continue
        candidates = ([bound] if bound else []) + [
            m.thread_id for m in sorted(lines, key=lambda m: -m.date)
            if m.transport is Transport.XMPP]
        for thread_id in dict.fromkeys(candidates):
            if self.store.get_thread(account, thread_id) is None:
                if thread_id == bound:
                    return bound  # bound, no line stored yet: where lines go
                continue
            if not self.store.others_in(account, thread_id, people):
                return thread_id
        return default_thread_id(own, jid)

    async def avatar_set(self, account: str, path: Path) -> str:
        """Publish the image at `path` as the user's avatar (XEP-0084, with the
        vCard photo of XEP-0153 for older clients); returns its id (SHA-1)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise EngineError(f"Cannot read {path}: {exc.strerror or exc}; choose a "
                              "readable image file.") from None
        with chat_refusal():
            return await self._chat(account).set_avatar(data)

    async def avatar_get(self, account: str, jid: str) -> Path | None:
        """A contact's avatar as a file in the cache (fetched now if not there);
        None when they publish none we may see."""
        with chat_refusal():
            return await self._chat(account).fetch_avatar(jid)

    def avatar_path(self, account: str, jid: str) -> Path | None:
        """A contact's avatar if it is cached already (what a list marks)."""
        client = self.xmpp.get(account)
        return client.avatar(jid) if client is not None else None

    def occupants(self, account: str, room: str) -> list[Occupant]:
        """A room's occupants with role and affiliation, as the room shows them."""
        client = self.xmpp.get(account)
        return client.occupants(room) if client is not None else []

    def roster(self, account: str) -> list[RosterItem]:
        return self._chat(account).roster()

    async def roster_add(self, account: str, jid: str, name: str = "",
                         groups: Sequence[str] = ()) -> RosterItem:
        """Add a contact (name, groups) and ask to see their presence."""
        with chat_refusal():
            return await self._chat(account).add_contact(jid, name, groups)

    async def roster_remove(self, account: str, jid: str) -> None:
        with chat_refusal():
            await self._chat(account).remove_contact(jid)

    async def roster_change(self, account: str, jid: str, name: str | None = None,
                            groups: Sequence[str] | None = None) -> RosterItem:
        """Rename a contact or set their groups (None: unchanged)."""
        with chat_refusal():
            return await self._chat(account).change_contact(jid, name, groups)

    async def roster_cancel(self, account: str, jid: str) -> None:
        """Withdraw our own request to see someone's presence (or stop seeing it)."""
        self._chat(account).cancel_subscription(jid)

    async def roster_approve(self, account: str, jid: str) -> None:
        """Let someone who asked see our presence (never done without being asked)."""
        self._chat(account).approve(jid)

    async def roster_deny(self, account: str, jid: str) -> None:
        self._chat(account).deny(jid)

    async def block(self, account: str, jid: str) -> None:
        """Block someone (XEP-0191): neither their lines nor their presence reach
        us any more, and ours do not reach them; kept by the server for every
        client of ours."""
        with chat_refusal():
            await self._chat(account).block(jid)

    async def unblock(self, account: str, jid: str) -> None:
        with chat_refusal():
            await self._chat(account).unblock(jid)

    async def blocked(self, account: str) -> list[str]:
        """Whom the account blocks, as the server has it now (sorted)."""
        with chat_refusal():
            return sorted(await self._chat(account).refresh_blocklist())

    def blocking(self, account: str) -> set[str]:
        """Whom the account blocks as last heard (no server round trip)."""
        client = self.xmpp.get(account)
        return client.blocked() if client is not None else set()

    def known_rooms(self, account: str) -> list[str]:
        """Every group chat the account knows of: joined, taken part in, bookmarked
        (what a front end offers to complete)."""
        client = self.xmpp.get(account)
        if client is None:
            return []
        return sorted({*client.rooms(), *client.state.rooms, *client.known_bookmarks()})

    async def set_presence(self, account: str, show: str = "", status: str = "") -> None:
        """Our presence: show is "", chat, away, xa or dnd; with a status message.
        Told as the account's own `PresenceChanged` (its JID is our own), so a
        front end shows it; the client sends it again on each new session.
        "invisible" where the server offers it (XEP-0186), refused where not;
        any other show makes us visible again."""
        client = self._chat(account)
        with chat_refusal():
            await client.set_invisible(show == "invisible")
        if show == "invisible":
            return
        try:
            client.set_presence(show, status)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        own = self.own_presence(account)
        if own is not None:
            self.events.publish(PresenceChanged(account, own.jid, own.availability.value,
                                                own.status))

    async def set_presence_by_clients(self, account: str, show: str, status: str,
                                      wait: float) -> list[dict[str, Any]]:
        """Our presence set by the running clients of `account` (the app, `serve`,
        `watch`, `run`: bridge.presence_wanted), or here when this engine is one
        (`present`); one answer per client: `by` (its session's full JID) and
        `error` (why it could not, or ""). None when no client is running."""
        if not self.present:
            from .presence_wanted import ask

            return await ask(self, account, show, status, wait)
        client = self._chat(account)
        by = str(client.session.boundjid.full)
        try:
            await self.set_presence(account, show, status)
        except EngineError as exc:
            return [{"by": by, "error": str(exc)}]
        return [{"by": by, "error": ""}]

    def presence_as_set(self, account: str) -> tuple[str, str] | None:
        """Our show ("", chat, away, xa, dnd) and status as last set on a
        connected chat account; None when it has no live chat connection."""
        client = self.xmpp.get(account)
        if client is None or not client.connected:
            return None
        mine = client.session.own_presence
        return (mine.get("pshow") or "", mine.get("pstatus") or "")

    def own_presence(self, account: str) -> ContactPresence | None:
        """Our own presence on `account` as the server has it from us: what was
        set last (available when nothing was), offline while not connected;
        None for an account without a chat connection."""
        client = self.xmpp.get(account)
        if client is None:
            return None
        if not client.connected:
            return ContactPresence(client.own, Availability.OFFLINE)
        mine = client.session.own_presence
        show = mine.get("pshow") or ""
        return ContactPresence(client.own, OWN_SHOW.get(show, Availability.AVAILABLE),
                               mine.get("pstatus") or "")

    async def older_chat(self, account: str, jid: str, before: str = ""
                         ) -> tuple[int, str | None]:
        """One page of older history with a contact, or of a room, from the server's
        archive (XEP-0313), before the archive id `before` ("" for the newest page):
        how many lines were new here, and the id to ask before next (None: the
        archive has nothing older)."""
        with chat_refusal():
            return await self._chat(account).fetch_history(jid, before=before)

    async def room_action(self, account: str, room: str, action: str, who: str,
                            reason: str = "") -> None:
        """An act in a room: take another "nick" (`who`), or as a moderator "kick"
        a nick out, or "ban" a JID (or an occupant's nick) for good; the room
        refuses if we may not."""
        client = self._chat(account)
        if action == "nick":
            with chat_refusal():
                await client.change_nick(room, who)
            return
        if action not in ("kick", "ban"):
            raise EngineError(refuse.choose_one("A room action", action, ("nick", "kick", "ban")))
        with chat_refusal():
            await (client.kick if action == "kick" else client.ban)(room, who, reason)

    async def change_room_subject(self, account: str, room: str, subject: str) -> None:
        """Set a room's subject, once the room took it (refused if we may not)."""
        with chat_refusal():
            await self._chat(account).change_subject(room, subject)

    def room_subject(self, account: str, room: str, subject: str | None = None) -> str:
        """A room's subject (topic); with `subject`, ask the room to change it
        (the change comes back as a RoomSubjectChanged). Returns the one known now."""
        client = self._chat(account)
        if subject is not None:
            with chat_refusal():
                client.set_subject(room, subject)
        return client.subject(room)
