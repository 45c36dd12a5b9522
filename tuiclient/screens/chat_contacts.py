"""The chat input's `/` commands about people and our own presence: the roster
(add, remove, name, groups, unsubscribe), blocking (XEP-0191), `/status`,
`/who` (a room's occupants, a contact's presence), the screen's `/close` and
`/quit` (Profanity's words), and the words Tab offers for a command's arguments.

A part of `Chatting` (its base class): the same screen, the same engine calls;
kept apart so each file reads as one subject.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.engine import EngineError
from tuiclient.chat_commands import SHOWS
from tuiclient.format import one_line
from tuiclient.people import bare
from tuiclient.widgets.reply_bar import shown

if TYPE_CHECKING:
    from bridge.engine import Engine
    from bridge.model import Message
    from tuiclient.screens.main import MainScreen


class ContactCommands:
    if TYPE_CHECKING:  # what Chatting has
        screen: MainScreen
        peer: tuple[str, str] | None
        room: bool

        @property
        def engine(self) -> Engine: ...

        def _need_account(self) -> str: ...

        def account(self) -> str | None: ...

        def own_lines(self) -> list[Message]: ...

        private: str

        def show_occupants(self) -> None: ...

    def argument_words(self) -> dict[str, list[str]]:
        """What Tab completes a command's arguments from, for the account a
        command acts for: its rooms (joined, taken part in, bookmarked), the
        open room's nicks, the roster's JIDs, whom it blocks; and the text of
        the user's last line here, for `/correct`."""
        account = self.account()
        if account is None:
            return {}
        try:
            jids = [i.jid for i in self.engine.roster(account)]
        except EngineError:
            jids = []
        nicks = [o.nick for o in self.engine.occupants(*self.peer)] \
            if self.peer is not None and self.room else []
        mine = self.own_lines()
        return {"last": [shown(mine[-1].text)] if mine else [],
                "room": self.engine.known_rooms(account),
                "joined": self.engine.joined_rooms(account),
                "nick": sorted(nicks, key=str.lower), "jid": jids,
                # /msg: a room's nicks in a room, else the contacts' JIDs
                "msg": sorted(nicks, key=str.lower) if self.room else jids,
                "blocked": sorted(self.engine.blocking(account))}

    async def _cmd_status(self, show: str, message: str = "") -> str:
        names = [self.peer[0]] if self.peer is not None else \
            [a.name for a in self.engine.accounts if a.jid]
        if not names:
            raise EngineError("no chat account")
        for account in names:
            await self.engine.set_presence(account, SHOWS[show.lower()], message)
        return f"you are {show.lower()}" + (f": {one_line(message)}" if message else "")

    async def _cmd_add(self, jid: str, name: str = "") -> str:
        item = await self.engine.roster_add(self._need_account(), jid, name)
        return f"added {one_line(item.jid)}; asked to see their presence"

    async def _cmd_remove(self, jid: str) -> str:
        await self.engine.roster_remove(self._need_account(), jid)
        return f"removed {one_line(jid)}"

    async def _cmd_name(self, jid: str, name: str) -> str:
        item = await self.engine.roster_change(self._need_account(), jid, name=name.strip())
        return f"{one_line(item.jid)} is now {one_line(item.name)}"

    async def _cmd_group(self, jid: str, groups: str = "") -> str:
        wanted = [g.strip() for g in groups.split(",") if g.strip()]
        item = await self.engine.roster_change(self._need_account(), jid, groups=wanted)
        return f"{one_line(item.jid)}: " + (
            "groups " + ", ".join(one_line(g) for g in item.groups) if item.groups
            else "in no group")

    async def _cmd_unsubscribe(self, jid: str) -> str:
        await self.engine.roster_cancel(self._need_account(), jid)
        return f"no longer asking to see {one_line(jid)}'s presence"

    def _contact(self, jid: str, name: str) -> str:
        """The JID a command names, or the open 1:1 chat's contact."""
        if jid:
            return jid
        if self.peer is None or self.room:
            raise EngineError(f"whom? (/{name} jid, or open a chat with them)")
        return self.peer[1]

    async def _cmd_block(self, jid: str = "") -> str:
        who = self._contact(jid, "block")
        await self.engine.block(self._need_account(), who)
        return f"blocked {one_line(bare(who))}: no lines or presence either way"

    async def _cmd_unblock(self, jid: str) -> str:
        await self.engine.unblock(self._need_account(), jid)
        return f"unblocked {one_line(bare(jid))}"

    async def _cmd_blocked(self) -> str:
        jids = await self.engine.blocked(self._need_account())
        return "blocked: " + ", ".join(one_line(j) for j in jids) if jids \
            else "nobody is blocked"

    async def _cmd_who(self) -> str:
        """Profanity's /who: in a room its occupants (the pane, and in a line);
        with an occupant in private, theirs; in a chat the contact's presence."""
        if self.peer is None:
            raise EngineError("open a chat first")
        account, jid = self.peer
        if self.room:
            occupants = self.engine.occupants(account, jid)
            if self.private:
                nick = self.private.partition("/")[2]
                there = next((o for o in occupants if o.nick == nick), None)
                return f"{one_line(nick)} is not in {one_line(jid)}" if there is None \
                    else f"{one_line(nick)} in {one_line(jid)}: {there.role}" + \
                    (f", {one_line(there.show)}" if there.show else "")
            self.show_occupants()
            return f"{len(occupants)} in {one_line(jid)}: " + ", ".join(
                one_line(o.nick) + (f" ({one_line(o.show)})" if o.show else "")
                for o in sorted(occupants, key=lambda o: o.nick.lower()))
        presence = self.engine.availability(account, jid)
        name = self.screen.overview.names.get(jid.lower()) or jid
        said = f"{one_line(name)} is {presence.availability.value}"
        if presence.status:
            said += f": {one_line(presence.status)}"
        devices = [one_line(r.resource) + (f" {one_line(r.show)}" if r.show else "")
                   for r in presence.resources]
        return said + (f" ({', '.join(devices)})" if devices else "")

    async def _cmd_close(self) -> str:
        self.screen.action_close()
        return ""

    async def _cmd_quit(self) -> str:
        from tuiclient.appref import client_app

        client_app(self.screen).ask_quit()
        return ""

    async def _cmd_roster(self) -> str:
        from tuiclient.screens.roster import show_roster

        def write(jid: str | None) -> None:
            if jid:  # their conversation, as Enter on a contact in the sidebar
                self.screen.open_contact(jid)
        show_roster(self.screen.app, write)
        return ""
