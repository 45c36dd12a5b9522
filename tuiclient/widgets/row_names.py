"""Whom a row of the conversation list names (a part of `ConversationList`): the
last sender, the other party of a conversation we wrote last in, an occupant of
a room who wrote privately ("bob in den"), or, for a group chat's conversation,
its room (as Profanity's window is named), with the speaker of its last line
beside the words."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bridge.model import Transport
from bridge.store.records import Thread
from tuiclient.format import one_line
from tuiclient.widgets.row_window import Key, key_of


class RowNames:
    if TYPE_CHECKING:  # the list's attributes, passed down by the screen
        names: dict[str, str]
        me: set[str]
        peers: dict[Key, str]
        rooms: dict[Key, tuple[str, str]]
        _wanted: set[Key]

        def call_after_refresh(self, callback: Callable[..., Any]) -> bool: ...

        def _ask_peers(self) -> None: ...

    def room_of(self, t: Thread) -> str:
        """The room's name when `t` is a group chat's conversation, else "" (and
        for an email thread handed off to a room: its row stays the email's)."""
        if Transport.EMAIL in t.transports:
            return ""
        room = self.rooms.get(key_of(t))
        return one_line(room[1] or room[0]) if room else one_line(t.room_name or t.room)

    def speaker(self, t: Thread) -> str:
        """Who said a room's last line: "me", a contact's name, or the nick."""
        sender = one_line(t.last_sender)
        address, _, nick = sender.partition("/")
        if address.lower() in self.me or sender.lower() in self.me:
            return "me"
        return self.names.get(address.lower()) or nick or address.partition("@")[0]

    def party_of(self, t: Thread) -> str:
        """Whom the row names: the last sender, or the other party when that was us
        ("…" until the screen says who, after a NeedPeers); a group chat's names
        its room."""
        room = self.room_of(t)
        if room:
            return room
        sender, _, nick = one_line(t.last_sender).partition("/")
        if nick:  # an occupant's private line through a room: them, where
            return f"{nick} in {sender.partition('@')[0]}"
        if sender.lower() in self.me:
            peer = self.peers.get(key_of(t))
            if peer is None:
                if not self._wanted:
                    self.call_after_refresh(self._ask_peers)
                self._wanted.add(key_of(t))
                return "…"
            return "to " + self.names.get(peer.lower(), peer) if peer else "(me)"
        return self.names.get(sender.lower(), sender)
