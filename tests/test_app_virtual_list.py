"""The conversation list on a long store (#22): a window onto it, not a copy.

A store of 5,000 conversations written directly (no servers), the app on it
with Pilot: one G shows the oldest conversation and g the newest, page down and
up land a screen's height away, a drag of the scrollbar to the middle draws the
rows there, a conversation arriving above keeps the cursor on its
conversation, and the list holds a few screens of rows whatever it scrolled.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config
from bridge.engine import Engine
from bridge.events import FolderChanged
from bridge.model import Direction, Message, Party, Transport
from bridge.store import Store
from tests.test_app_snapshots import CONFIG, NOW
from tuiclient.app import TuiClientApp
from tuiclient.engine_events import EngineEvents
from tuiclient.widgets.conversation_list import ConversationList
from tuiclient.widgets.row_window import KEEP

N = 5000
ME = "alice"


UNREAD = {10, 4000}


def mail(i: int) -> Message:
    """Conversation i, one email, newer as i grows; unread: those in UNREAD."""
    return Message(msg_id=f"v{i}@example.test", account=ME, transport=Transport.EMAIL,
                   direction=Direction.IN, thread_id=f"v{i}@example.test",
                   date=NOW - 10 * 86400 + i * 60.0,
                   sender=Party("bob@example.test", "Bob", "from"),
                   recipients=[Party("alice@example.test", "Alice", "to")],
                   subject=f"Conversation {i:04}", text="", folder="INBOX", uid=i + 1,
                   message_id_header=f"<v{i}@example.test>",
                   flags=set() if i in UNREAD else {"\\Seen"})


def long_app(tmp: Path) -> TuiClientApp:
    path = tmp / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    store = Store.open(tmp / "store.db")
    store.insert_messages([mail(i) for i in range(N)])
    return TuiClientApp(config, probe_on_start=False, start_engine=False,
                        engine=Engine(config, store), clock=lambda: NOW)


def shown(listing: ConversationList) -> str:
    """The list's lines as drawn now."""
    return "\n".join("".join(s.text for s in listing.render_line(y))
                     for y in range(listing.size.height))


def number(listing: ConversationList) -> int:
    """Which conversation is under the cursor (N - 1 is the newest, at the top)."""
    t = listing.current
    assert t is not None
    return int(t.subject.split()[1])


async def test_g_and_G_page_keys_and_a_drag_reach_any_row_of_a_long_list(tmp_path):
    app = long_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        listing.focus()
        await pilot.pause()
        assert listing.total == N and number(listing) == N - 1
        assert "Conversation 4999" in shown(listing)

        await pilot.press("G")  # one press: the oldest, drawn
        await pilot.pause()
        assert listing.cursor == N - 1 and number(listing) == 0
        assert "Conversation 0000" in shown(listing)
        assert len(listing.rows) <= KEEP

        await pilot.press("g")
        await pilot.pause()
        assert listing.cursor == 0 and number(listing) == N - 1
        assert "Conversation 4999" in shown(listing)

        page = listing.size.height - 1
        for presses in range(1, 8):  # past the rows read at first: steps read more
            await pilot.press("pagedown")
            await pilot.pause()
            assert listing.cursor == presses * page
            assert number(listing) == N - 1 - presses * page
            assert f"Conversation {N - 1 - presses * page:04}" in shown(listing)
        for presses in range(6, -1, -1):
            await pilot.press("pageup")
            await pilot.pause()
            assert listing.cursor == presses * page and number(listing) == N - 1 - presses * page
        assert len(listing.rows) <= KEEP

        listing.scroll_to(y=N // 2, animate=False)  # the scrollbar dragged to the middle
        await pilot.pause()
        lines = shown(listing)
        assert f"Conversation {N - 1 - N // 2:04}" in lines and "Conversation 4999" not in lines
        assert len(listing.rows) <= KEEP


async def test_a_conversation_arriving_above_keeps_the_cursor_on_its_conversation(tmp_path):
    app = long_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        listing.focus()
        await pilot.press("G", "pageup", "pageup", "k")  # scrolled far down
        await pilot.pause()
        before, at = number(listing), listing.cursor
        assert 0 < before < 200

        app.engine.store.insert_messages([mail(N)])  # newer than all: the top row
        app.on_engine_events(EngineEvents([FolderChanged(ME, "INBOX", new=1,
                                                         flags_changed=0, vanished=0)]))
        await pilot.pause()
        assert listing.total == N + 1
        assert number(listing) == before and listing.cursor == at + 1
        assert f"Conversation {before:04}" in shown(listing)
        await pilot.press("g")
        await pilot.pause()
        assert number(listing) == N


async def test_a_list_that_started_empty_reaches_every_conversation_a_sync_brings(tmp_path):
    """The cold start of #22: the list drawn on an empty store used to take in only
    the newest 50 conversations of each sync burst, and never more until a restart."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    store = Store.open(tmp_path / "store.db")
    app = TuiClientApp(config, probe_on_start=False, start_engine=False,
                       engine=Engine(config, store), clock=lambda: NOW)
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        listing.focus()
        await pilot.pause()
        assert listing.total == 0
        for first in range(0, 1000, 250):  # a sync's bursts, newest first
            store.insert_messages([mail(i) for i in range(999 - first, 749 - first, -1)])
            app.on_engine_events(EngineEvents([FolderChanged(ME, "INBOX", new=250,
                                                             flags_changed=0, vanished=0)]))
            await pilot.pause()
        assert listing.total == 1000
        await pilot.press("G")
        await pilot.pause()
        assert number(listing) == 0 and "Conversation 0000" in shown(listing)


async def test_J_finds_the_next_unread_far_down_and_starts_again_at_the_top(tmp_path):
    app = long_app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        listing = app.screen.query_one(ConversationList)
        listing.focus()
        found = []
        for _ in range(3):
            await pilot.press("J")
            await pilot.pause()
            found.append(number(listing))
        assert found == [4000, 10, 4000]


def test_the_window_holds_a_few_screens_and_reads_beside_itself_or_at_a_jump():
    """RowWindow alone, over a source that counts its reads."""
    from bridge.model import ThreadOrder
    from bridge.store.records import Thread
    from tuiclient.widgets.row_window import CHUNK, FixedRows, RowWindow

    threads = [Thread(i, ME, f"t{i}", f"s{i}", 0.0, float(i), 1, 0, "x", "",
                      frozenset({Transport.EMAIL})) for i in range(2000)]
    whole = FixedRows(threads, ThreadOrder())
    reads: list[str] = []

    class Counted:  # the store's ViewRows in small: not held whole
        order = ThreadOrder()

        def count(self): return whole.count()

        def at(self, offset, limit, total=None):
            reads.append("at")
            return whole.at(offset, limit, total)

        def after(self, t, limit):
            reads.append("after")
            return whole.after(t, limit)

        def before(self, t, limit):
            reads.append("before")
            return whole.before(t, limit)

        def position(self, key): return whole.position(key)
        def merge(self, threads): whole.merge(threads)
        def drop(self, keys): whole.drop(keys)

    window = RowWindow(Counted())
    assert window.reset() is None and window.total == 2000 and window.rows == []
    assert window.get(0) == whole.threads[0] and reads == ["at"]
    for i in range(0, 1000):  # j all the way down: steps beside the window
        assert window.get(i) == whole.threads[i]
        assert len(window.rows) <= KEEP
    assert set(reads[1:]) == {"after"} and len(reads) <= 1 + 1000 // CHUNK + 1
    reads.clear()
    assert window.get(1999) == whole.threads[1999] and reads == ["at"]  # G: one read
    assert window.get(600) == whole.threads[600] and reads == ["at", "at"]
    assert window.get(560) == whole.threads[560] and len(reads) == 2  # held
    assert window.get(520) == whole.threads[520] and reads[-1] == "before"
    # Kept on a conversation: the rows around it, where it is now.
    assert window.reset(("alice", "t1500")) == 499 and window.get(499) == whole.threads[499]
    assert len(window.rows) <= KEEP
