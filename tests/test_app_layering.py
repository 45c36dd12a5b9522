"""The TUI's walls: it reads through the engine's calls only, its widgets never
call the engine, and engine events reach it as one coalescing Textual message.
"""

from __future__ import annotations

import ast
import re
import threading
from pathlib import Path

from textual.widgets import Static

from bridge.events import Event, MessageReceived, PresenceChanged
from bridge.mail.sync import FolderChanged, SyncProgress
from bridge.outbox import OutboxChanged
from tests.test_app_snapshots import ME, make_app
from tuiclient.engine_events import EngineEvents, EventFeed
from tuiclient.screens.main import MainScreen
from tuiclient.screens.redraw import Redraw
from tuiclient.widgets.conversation_list import PAGE

ROOT = Path(__file__).resolve().parent.parent / "tuiclient"
HIDDEN = {"store", "identity", "xmpp"}  # the engine's parts the front ends must not touch


def sources(under: Path = ROOT) -> list[Path]:
    return sorted(under.rglob("*.py"))


def is_engine(node: ast.expr) -> bool:
    """`engine`, `self.engine`, `app.engine`, `client_app(x).engine`..."""
    return (isinstance(node, ast.Name) and node.id == "engine") or \
        (isinstance(node, ast.Attribute) and node.attr == "engine")


def reaches_past_the_engine(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and is_engine(node.value) and (
                node.attr in HIDDEN or node.attr.startswith("_")):
            found.append(f"{path.name}:{node.lineno}: engine.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2 \
                and is_engine(node.args[0]) and isinstance(node.args[1], ast.Constant):
            name = str(node.args[1].value)
            if name in HIDDEN or name.startswith("_"):
                found.append(f"{path.name}:{node.lineno}: {node.func.id}(engine, {name!r})")
    return found


def test_the_tui_reads_through_the_engine_only():
    """No `engine.store`, `engine.identity`, `engine.xmpp` or `engine._anything`
    in tuiclient/: the engine offers the reads a screen needs."""
    found = [hit for path in sources() for hit in reaches_past_the_engine(path)]
    assert not found, found
    # And as text, for what the tree walk would not see (a string, a comment).
    words = [f"{path.name}: {word}" for path in sources() for word in
             ("engine.store", "engine.identity", "engine.xmpp", "engine._")
             if word in path.read_text()]
    assert not words, words


def test_the_walk_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(self, engine):\n    engine.store.x()\n"
                   "    self.app.engine.xmpp['a']\n    client_app(self).engine._imap\n"
                   "    getattr(self.engine, 'identity', None)\n")
    assert sorted(h.split(": ", 1)[1] for h in reaches_past_the_engine(bad)) == [
        "engine._imap", "engine.store", "engine.xmpp", "getattr(engine, 'identity')"]


def test_widgets_never_call_the_engine_nor_reach_up_to_the_app():
    """Attributes down, messages up: a widget gets its data from its parent. The
    one use of the app a widget keeps is the console it renders lines with."""
    found = []
    for path in sources(ROOT / "widgets"):
        text = path.read_text()
        for node in ast.walk(ast.parse(text, str(path))):
            if (isinstance(node, ast.Attribute) and node.attr in ("engine", "screen")) or \
                    (isinstance(node, ast.Name) and node.id in ("client_app", "Engine")):
                found.append(f"{path.name}:{node.lineno}")
        found += [f"{path.name}: {m.group(0)}"
                  for m in re.finditer(r"\bself\.app\b(?!\.console\b)", text)]
    assert found == []


def test_the_app_is_reached_through_its_typed_getter():
    """`client_app(node)`, not `getattr(self.app, ...)` or a `type: ignore`."""
    for path in sources():
        text = path.read_text()
        assert "getattr(self.app" not in text and "getattr(widget.app" not in text, path
        for line in text.splitlines():
            if "type: ignore" in line:
                assert re.search(r"type: ignore(\[[\w,-]+\])?\s*#\s*\S", line), \
                    f"{path.name}: a type: ignore without its reason: {line.strip()}"


# -- one message for a burst -----------------------------------------------------------------


class Target:
    """Stands in for the app: keeps what is posted to it."""

    def __init__(self) -> None:
        self.posted: list[EngineEvents] = []

    def post_message(self, message: EngineEvents) -> bool:
        self.posted.append(message)
        return True


def progress(n: int) -> SyncProgress:
    return SyncProgress(ME, "INBOX", n, 1000, "backfill")


def test_a_burst_rides_in_the_message_on_its_way():
    target = Target()
    feed = EventFeed(target)  # type: ignore[arg-type]  # a stand-in with post_message
    threads = [threading.Thread(target=lambda k=k: [feed(progress(k * 100 + i))
                                                    for i in range(100)])
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(target.posted) == 1  # not yet handled: everything joined the first
    events = feed.take(target.posted[0])
    assert sorted(e.done for e in events if isinstance(e, SyncProgress)) == list(range(400))
    last = progress(400)
    feed(last)  # after the take: a message of its own
    assert len(target.posted) == 2 and feed.take(target.posted[1]) == (last,)
    assert events == tuple(target.posted[0].events)  # the first one stayed as taken


def test_a_burst_is_one_redraw():
    burst: list[Event] = [
        *(MessageReceived(ME, i, f"m{i}", f"t{i % 3}", "bob@example.test", "in", "live")
          for i in range(300)),
        *(progress(i) for i in range(200)),
        SyncProgress(ME, "INBOX", 1000, 1000, "first-screen"),
        FolderChanged(ME, "INBOX", new=5, flags_changed=0, vanished=0),
        OutboxChanged(ME, 1, "m1", "sent"),
        PresenceChanged(ME, "bob@example.test", "available", ""),
    ]
    r = Redraw.of(burst)
    assert list(r.threads) == [(ME, "t0"), (ME, "t1"), (ME, "t2")]
    assert r.top == PAGE and r.folders and r.contacts and r.outbox and r.status and r.open
    assert Redraw.of([progress(1)]) == Redraw(status=True)
    quiet = Redraw.of([MessageReceived(ME, 1, "m1", "t1", "b", "in", "live")])
    assert quiet.touches((ME, "t1")) and not quiet.touches((ME, "t2"))
    assert not quiet.touches(None)


async def test_the_app_gets_a_burst_as_one_message_and_draws_it(tmp_path):
    """Published from the app's own loop (as the XMPP client does), 500 events reach
    the app as one message, every one of them in it; the screens draw the last."""
    app = make_app(tmp_path)
    taken: list[int] = []
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        take = app.feed.take

        def counting(message: EngineEvents) -> tuple[Event, ...]:
            events = take(message)
            taken.append(len(events))
            return events

        app.feed.take = counting  # type: ignore[method-assign]  # counts the batches
        for i in range(1, 501):
            app.engine.events.publish(SyncProgress(ME, "INBOX", i, 500, "backfill"))
        for _ in range(20):
            await pilot.pause(0.02)
            if sum(taken) == 500:
                break
        assert taken == [500]
        assert app.sync_state[ME] == "sync INBOX 500/500"
        assert isinstance(app.screen, MainScreen)
        assert "sync INBOX 500/500" in str(app.screen.query_one("#status", Static).render())
