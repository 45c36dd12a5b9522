"""The main screen's marks: read when opened, F (flagged) and N (unread) by hand.

Marks go through the engine in a worker (the servers are never waited for on
the UI loop): an email's IMAP flags, a chat line's displayed marker (XEP-0333,
one for the newest line rather than one per line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.engine import Engine
from bridge.model import FLAGGED, Direction, Message, Transport
from tuiclient.widgets.conversation_list import ConversationList, Key, key_of
from tuiclient.widgets.timeline import Timeline

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen


def newest_lines(messages: list[Message]) -> set[int]:
    """The chat lines whose displayed marker tells each sender that all their
    lines among `messages` were seen: the newest from each (that has an id to
    quote, where one has)."""
    newest: dict[str, Message] = {}
    for m in messages:
        if m.transport is not Transport.XMPP or m.direction is not Direction.IN \
                or m.id is None:
            continue
        peer = m.sender.address.split("/", 1)[0].lower()
        old = newest.get(peer)
        quotable = bool(m.attr_id or m.origin_id)
        if old is None or (quotable, m.date, m.id) >= (
                bool(old.attr_id or old.origin_id), old.date, old.id or 0):
            newest[peer] = m
    return {m.id for m in newest.values() if m.id is not None}


def lines_in_view(timeline: Timeline) -> list[int]:
    """The timeline's messages (their indexes) with a line on screen now; none when
    it is not laid out or not shown. Read through Textual's line API: each line an
    OptionList renders (`render_line`, public) carries its option's index in its
    style's meta, as OptionList's own mouse handling reads it."""
    if not timeline.display or not timeline.is_mounted or timeline.size.height == 0:
        return []
    found: set[int] = set()
    for y in range(timeline.scrollable_content_region.height):
        for segment in timeline.render_line(y):
            option = segment.style.meta.get("option") if segment.style else None
            if isinstance(option, int):
                found.add(option)
                break
    return sorted(found)


class Marking:
    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self.marking: set[int] = set()  # rows being marked read right now
        self.kept_unread: set[int] = set()  # marked unread by hand while open
        self._following = False  # whether the timeline's scrolling is watched

    @property
    def engine(self) -> Engine:
        return self.screen.engine

    def forget(self) -> None:
        """Another conversation is opened: what was kept unread in this one is read
        when it is opened again."""
        self.kept_unread.clear()

    def read_open(self) -> None:
        """What the open conversation shows is read: the email opened (shown in
        full), and the chat lines in view in the timeline, not the whole thread; on
        the server too (IMAP \\Seen), and a chat line's sender is told (XEP-0333).
        Scrolling or moving on reads what comes into view."""
        opened = self.screen.opened
        if opened.key is None or not opened.on_screen():
            return
        self._follow_scrolling()
        shown = self.shown()
        todo = [m for m in opened.messages if m.unread and m.id in shown
                and m.id not in self.marking and m.id not in self.kept_unread]
        if todo:
            self.marking.update(m.id for m in todo if m.id is not None)
            self.mark(opened.key, todo, "read", True)

    def shown(self) -> set[int]:
        """The messages of the open conversation the user has in front of them: the
        email chosen in the timeline (shown in full), and the chat lines the
        timeline shows now (the chosen one too only when in view)."""
        screen = self.screen
        timeline = screen.query_one(Timeline)
        current = timeline.current
        ids = {current.id} if current is not None and current.id is not None else set()
        if screen.narrow and screen.pane != "chat":
            return ids  # a narrow terminal shows the message alone, not the timeline
        if current is not None and current.transport is Transport.XMPP:
            # A chat line is seen in the timeline, chosen or not: chosen, it may
            # still be out of view (the timeline not scrolled to it yet).
            ids.clear()
        for index in lines_in_view(timeline):
            m = timeline.messages[index] if index < len(timeline.messages) else None
            if m is not None and m.transport is Transport.XMPP and m.id is not None:
                ids.add(m.id)
        return ids

    def _follow_scrolling(self) -> None:
        """Once: lines scrolled into view are read as they come."""
        if self._following:
            return
        self._following = True
        timeline = self.screen.query_one(Timeline)
        self.screen.watch(timeline, "scroll_y", lambda: self.read_open(), init=False)

    def mark(self, key: Key, messages: list[Message], flag: str, on: bool) -> None:
        self.screen.run_worker(self._mark(key, messages, flag, on), name="mark", group="mark")

    async def _mark(self, key: Key, messages: list[Message], flag: str, on: bool) -> None:
        screen = self.screen
        ids = [m.id for m in messages if m.id is not None]
        self.marking.update(ids)
        failed: list[Exception] = []
        counted = False  # whether a folder's unread count changed
        told = newest_lines(messages) if flag == "read" and on else set()
        try:
            for m in messages:
                assert m.id is not None
                try:
                    if m.transport is Transport.XMPP and flag == "read" and on:
                        # One displayed marker, for the newest line, says the earlier
                        # ones were seen too (XEP-0333): not one per line.
                        await self.engine.mark(m.id, flag, on, tell=m.id in told)
                    else:
                        await self.engine.mark(m.id, flag, on)
                except Exception as exc:  # offline: the list keeps the truth (unread)
                    failed.append(exc)
                    if flag == "read" and on:
                        self.kept_unread.add(m.id)  # not tried again until reopened
                    continue
                counted = counted or (flag == "read" and m.transport is Transport.EMAIL)
        finally:
            self.marking.difference_update(ids)
        if counted:  # the folders' counts come from the store, which the marks updated
            screen.overview.refresh_sidebar(contacts=False)
        if failed:
            n = len(failed)
            what = {"read": "read" if on else "unread", "flagged": "flagged" if on else
                    "unflagged"}.get(flag, flag)
            screen.notify(f"Could not mark {n} message{'s' * (n != 1)} {what}: {failed[0]}",
                          severity="warning", markup=False)
        screen.overview.merge_thread(*key)
        if screen.opened.key == key:
            screen.opened.refresh()
            screen.opened.refresh_head()

    def target(self) -> tuple[Key, list[Message], Message] | None:
        """What F and N act on: the message chosen in the open conversation; from the
        list, a conversation not open stays closed (its last message is meant)."""
        screen = self.screen
        opened = screen.opened
        listing = screen.query_one(ConversationList)
        thread = listing.current
        if listing.has_focus and thread is not None and key_of(thread) != opened.key:
            messages = self.engine.timeline(*key_of(thread))
            if not messages:
                return None
            incoming = [m for m in messages if m.direction is Direction.IN]
            return key_of(thread), messages, (incoming or messages)[-1]
        m = screen.query_one(Timeline).current
        if m is None or opened.key is None:
            return None
        return opened.key, opened.messages, m

    def toggle_flag(self) -> None:
        target = self.target()
        if target is None or target[2].id is None:
            return
        key, _, m = target
        self.mark(key, [m], "flagged", FLAGGED not in m.flags)

    def toggle_unread(self) -> None:
        target = self.target()
        if target is None:
            return
        key, messages, m = target
        if m.id is None:
            return
        screen = self.screen
        if key != screen.opened.key and any(x.unread for x in messages):
            # From the list: a conversation with unread messages is read at once.
            self.mark(key, [x for x in messages if x.unread and x.id is not None], "read",
                      True)
            return
        if m.direction is Direction.OUT:
            screen.notify("Your own messages are never unread.", severity="warning")
            return
        if m.unread:
            self.kept_unread.discard(m.id)
        elif key == screen.opened.key:
            self.kept_unread.add(m.id)  # not read again while the conversation stays open
        self.mark(key, [m], "read", m.unread)
