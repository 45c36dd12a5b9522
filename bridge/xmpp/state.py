"""What the XMPP client must remember between runs that the message store does not hold.

One small JSON file per account beside the store (`<data dir>/xmpp/<account>.json`):
the last MAM archive id seen per archive (our own, and each room's), the rooms
we had joined, every room we ever took part in with its name (a bookmark's, or
the room's own from disco#info: what names its conversation, left or not, to
a process that is not online too: `tuiclient list`), the current thread of
each 1:1 chat, and whose avatar is which cached file. Written after the messages
it covers are stored, so a crash in between only makes the next catch-up fetch a
few messages again, which the store's duplicate check drops.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ArchiveMark:
    last_id: str
    last_stamp: float  # when that message was archived (a fallback if the id expired)


@dataclass
class RoomMembership:
    room: str
    nick: str


@dataclass
class XmppState:
    path: Path
    archives: dict[str, ArchiveMark] = field(default_factory=dict)
    rooms: dict[str, RoomMembership] = field(default_factory=dict)
    # Every room we took part in (joined once, left or not) -> its name ("" for
    # none known): a conversation with one of these is a room's.
    room_names: dict[str, str] = field(default_factory=dict)
    # The conversation a chat with each peer is in now (from the last <thread> seen),
    # so a reply without an explicit thread continues it instead of forking.
    threads: dict[str, str] = field(default_factory=dict)
    # When each of those was set (the date of the line that set it): an archived line
    # moves a conversation only if it is newer, so a device that learns the history
    # from the archive ends with the bindings the live one has.
    thread_since: dict[str, float] = field(default_factory=dict)
    # Whose avatar is which cached file (bridge.xmpp.avatars): bare JID -> its id
    # (the SHA-1 of the image), type, and where it came from (pep or vcard).
    avatars: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> XmppState:
        state = cls(path)
        try:
            raw: Any = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            # Missing or damaged: start over; the catch-up then seeds from recent history.
            return state
        if not isinstance(raw, dict):
            return state
        archives, rooms = raw.get("archives"), raw.get("rooms")
        for key, mark in (archives.items() if isinstance(archives, dict) else ()):
            try:
                state.archives[str(key)] = ArchiveMark(str(mark["last_id"]),
                                                       float(mark["last_stamp"]))
            except (KeyError, TypeError, ValueError):
                continue
        for key, room in (rooms.items() if isinstance(rooms, dict) else ()):
            try:
                state.rooms[str(key)] = RoomMembership(str(room["room"]), str(room["nick"]))
            except (KeyError, TypeError):
                continue
        names = raw.get("room_names")
        for room, name in (names.items() if isinstance(names, dict) else ()):
            if isinstance(name, str):
                state.room_names[str(room)] = name
        threads = raw.get("threads")
        for peer, thread in (threads.items() if isinstance(threads, dict) else ()):
            if isinstance(thread, str):
                state.threads[str(peer)] = thread
        since = raw.get("thread_since")
        for peer, when in (since.items() if isinstance(since, dict) else ()):
            if isinstance(when, int | float):
                state.thread_since[str(peer)] = float(when)
        avatars = raw.get("avatars")
        for jid, entry in (avatars.items() if isinstance(avatars, dict) else ()):
            if isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values()):
                state.avatars[str(jid)] = dict(entry)
        return state

    def set_thread(self, peer: str, thread_id: str, when: float | None = None) -> None:
        when = time.time() if when is None else when
        if self.threads.get(peer) != thread_id or self.thread_since.get(peer, 0.0) < when:
            self.threads[peer] = thread_id
            self.thread_since[peer] = max(when, self.thread_since.get(peer, 0.0))
            self.save()

    def name_room(self, room: str, name: str = "") -> None:
        """Remember `room` as a room (and its name, when one is given)."""
        if room not in self.room_names or (name and self.room_names[room] != name):
            self.room_names[room] = name or self.room_names.get(room, "")
            self.save()

    def room_of_thread(self, own: str) -> dict[str, str]:
        """thread id -> the room whose conversation it is, for every room known
        (its bound thread, else the one a room's lines go to by default)."""
        from .room_names import room_threads

        return room_threads({*self.room_names, *self.rooms}, self.threads, own)

    def newer_than_binding(self, peer: str, when: float) -> bool:
        return when >= self.thread_since.get(peer, 0.0)

    def save(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = {
            "archives": {k: asdict(v) for k, v in self.archives.items()},
            "rooms": {k: asdict(v) for k, v in self.rooms.items()},
            "room_names": self.room_names,
            "threads": self.threads,
            "thread_since": self.thread_since,
            "avatars": self.avatars,
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
