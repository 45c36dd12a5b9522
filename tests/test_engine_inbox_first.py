"""The engine's start waits for INBOX's newest page before its chat accounts
(bridge.engine.InboxFirst, issue 22 row 1): which events end the wait, heard in
another thread as the mail worker publishes them, and its limit."""

from __future__ import annotations

import asyncio
import threading
import time

from bridge.engine import InboxFirst
from bridge.events import Event, EventBus, FolderChanged, HealthChanged, SyncProgress


def publish_from_a_thread(bus: EventBus, *events: Event) -> None:
    def run() -> None:
        for event in events:
            bus.publish(event)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


async def test_the_first_page_of_inbox_or_a_quiet_pass_ends_the_wait():
    bus = EventBus()
    inbox = InboxFirst(bus, ["a", "b"])
    publish_from_a_thread(bus, SyncProgress("a", "Archive", 50, 100, "first-screen"),
                          SyncProgress("x", "INBOX", 50, 100, "first-screen"),
                          SyncProgress("a", "INBOX", 50, 200, "first-screen"))
    await asyncio.sleep(0)
    assert inbox.waiting == {"b"}  # another folder, another account: not these
    publish_from_a_thread(bus, FolderChanged("b", "INBOX", 0, 0, 0))
    t0 = time.monotonic()
    await inbox.wait(5.0)
    assert time.monotonic() - t0 < 1.0 and not inbox.waiting
    assert not bus._listeners  # it stopped listening


async def test_a_failed_login_ends_the_wait_and_the_limit_holds():
    bus = EventBus()
    inbox = InboxFirst(bus, ["a"])
    publish_from_a_thread(bus, HealthChanged("a", "imap", True, "fine"))
    await asyncio.sleep(0)
    assert inbox.waiting == {"a"}  # a good health says nothing of INBOX
    publish_from_a_thread(bus, HealthChanged("a", "imap", False, "refused"))
    await inbox.wait(5.0)
    assert not inbox.waiting

    silent = InboxFirst(bus, ["c"])
    t0 = time.monotonic()
    await silent.wait(0.2)
    assert 0.15 < time.monotonic() - t0 < 2.0 and silent.waiting == {"c"}
    assert not bus._listeners


async def test_nothing_to_wait_for():
    bus = EventBus()
    inbox = InboxFirst(bus, [])
    assert not bus._listeners
    await inbox.wait(5.0)
