"""The app's conversation list on a big store: prints figures, asserts nothing.

    python bench/bench_app_list.py [--n 100000] [--threads 20000] [--keep DIR]

Fills a store with synthetic mail and chat (bench_store.synthetic: no servers),
opens the app's main screen on it with Textual's run_test (headless: the screen
is composed and rendered, not shown), and times what a user waits for:

- first paint: from starting the app to the list drawn with its first page;
- scrolling down 2,000 rows with page-down, then with j: each keypress until the
  screen is redrawn, and each read of rows from the store on the way (the list
  holds a window of rows, `RowWindow`: a step reads the rows beside it);
- G to the oldest conversation and g back to the newest: one key each, until
  the frame, and the rows the list holds then;
- one new message: a chat line (MessageReceived) and an email (FolderChanged),
  from the event to the list redrawn, through the app's incremental path;
- peak RSS of the process (store, app and all).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events
from textual.screen import Screen
from textual.strip import Strip

from bench.bench_store import synthetic
from bridge.config import load_config
from bridge.engine import Engine
from bridge.events import MessageReceived
from bridge.mail.sync import FolderChanged
from bridge.model import Direction, Message, Party, Transport
from bridge.store import Store
from tuiclient.app import TuiClientApp
from tuiclient.engine_events import EngineEvents
from tuiclient.screens.main import MainScreen
from tuiclient.widgets.conversation_list import ConversationList
from tuiclient.widgets.row_window import RowWindow

CONFIG = """
[[accounts]]
name = "bench"
email = "me@example.org"
jid = "me@example.org"
password_command = "false"

[accounts.imap]
host = "127.0.0.1"
port = 9
tls = "plain"
"""
SIZE = (140, 40)
ROWS = 2000


def rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1e6 if sys.platform == "darwin" else rss / 1e3  # bytes on macOS, KiB here


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def spread(times: list[float]) -> str:
    if not times:
        return "none"
    q = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
    return (f"median {ms(statistics.median(times))}  p95 {ms(q[18])}  "
            f"max {ms(max(times))}  (n={len(times)})")


async def drive(app: TuiClientApp, started: float) -> None:
    painted: list[float] = []
    original = ConversationList.render_line

    def render_line(self: ConversationList, y: int) -> Strip:
        if self.rows and not painted:
            painted.append(time.perf_counter())
        return original(self, y)

    ConversationList.render_line = render_line  # type: ignore[method-assign]  # timed for this bench only
    loads: list[float] = []
    load = RowWindow._load

    def timed_load(self: RowWindow, index: int) -> None:
        t0 = time.perf_counter()
        load(self, index)
        loads.append(time.perf_counter() - t0)

    RowWindow._load = timed_load  # type: ignore[method-assign]  # timed for this bench only

    async with app.run_test(size=SIZE):
        listing = app.screen.query_one(ConversationList)
        while not painted:
            await asyncio.sleep(0.001)
        print(f"first paint     {ms(painted[0] - started)}   (app start to the list drawn, "
              f"{len(listing.rows)} rows loaded)")
        print(f"                RSS after first paint {rss_mb():8.1f} MB")

        loop = asyncio.get_running_loop()
        frame: list[asyncio.Future] = []
        compositor_refresh = Screen._compositor_refresh

        def refreshed(self: Screen) -> None:
            compositor_refresh(self)
            if frame and not frame[0].done():
                frame[0].set_result(time.perf_counter())

        Screen._compositor_refresh = refreshed  # type: ignore[method-assign]  # timed for this bench only

        async def press(key: str) -> float:
            """Key in (as the terminal driver hands it over) to the next frame composed
            (headless: composed, not written). Not Pilot's press, which also waits for
            the process to look idle."""
            frame[:] = [loop.create_future()]
            event = events.Key(key, key if len(key) == 1 else None)
            event.set_sender(app)
            t0 = time.perf_counter()
            assert app._driver is not None  # the app runs headless under this bench
            app._driver.send_message(event)
            try:
                done = await asyncio.wait_for(frame[0], 2.0)
            except TimeoutError:
                return float("nan")
            await asyncio.sleep(0)
            return done - t0

        page_keys = []
        while listing.cursor < ROWS:
            page_keys.append(await press("pagedown"))
        print(f"page-down       {spread(page_keys)}   key to frame, "
              f"down to row {listing.cursor}")
        print(f"page loads      {spread(loads)}   ({len(loads)} pages of rows from the store, "
              f"{len(listing.rows)} rows loaded)")
        loads.clear()
        await press("g")
        j_keys = []
        while listing.cursor < ROWS:
            j_keys.append(await press("j"))
        print(f"j               {spread(j_keys)}   key to frame, down to row {listing.cursor}")
        print(f"page loads (j)  {spread(loads)}   (reads of rows beside the window)")
        loads.clear()
        ends = []
        for _ in range(5):
            big_g = await press("G")
            oldest = listing.current
            little_g = await press("g")
            ends.append((big_g, little_g))
        print(f"G               {spread([b for b, _ in ends])}   key to frame, to row "
              f"{listing.total - 1} of {listing.total} in one press "
              f"(oldest: {oldest.subject if oldest else None!r})")
        print(f"g               {spread([s for _, s in ends])}   key to frame, back to row 0")
        print(f"reads (G, g)    {spread(loads)}   ({len(listing.rows)} rows held)")

        # One new chat line, in a conversation far down the list: it moves to the top.
        engine = app.engine
        screen = app.screen
        deep = listing.rows[-1]
        line = Message(msg_id="new-line@bench.example", account="bench",
                       transport=Transport.XMPP, direction=Direction.IN,
                       thread_id=deep.thread_id, date=time.time(),
                       sender=Party("someone@example.org", "Someone"),
                       recipients=[Party("me@example.org", "Me", "to")], text="new line")
        t0 = time.perf_counter()
        engine.store.insert_messages([line])
        stored = time.perf_counter() - t0
        stored_line = engine.store.find_by_msg_id("bench", line.msg_id)
        assert stored_line is not None and stored_line.id is not None  # just inserted
        row_id = stored_line.id
        frame[:] = [loop.create_future()]
        t0 = time.perf_counter()
        received = MessageReceived("bench", row_id, line.msg_id, deep.thread_id,
                                   "someone@example.org", "in", "live")
        app.on_engine_events(EngineEvents([received]))
        handled = time.perf_counter() - t0
        drawn = await asyncio.wait_for(frame[0], 2.0) - t0
        print(f"new chat line   {ms(handled)} in the app's handler, {ms(drawn)} to the frame "
              f"(storing it took {ms(stored)}); at the top: "
              f"{listing.rows[0].thread_id == deep.thread_id}")

        mail = Message(msg_id="new-mail@bench.example", account="bench",
                       transport=Transport.EMAIL, direction=Direction.IN,
                       thread_id="new-mail@bench.example", date=time.time() + 1,
                       sender=Party("other@example.org", "Other"),
                       recipients=[Party("me@example.org", "Me", "to")],
                       subject="A new email", text="", folder="INBOX", uid=10_000_000)
        engine.store.insert_messages([mail])
        frame[:] = [loop.create_future()]
        t0 = time.perf_counter()
        app.on_engine_events(EngineEvents([FolderChanged("bench", "INBOX", new=1,
                                                         flags_changed=0, vanished=0)]))
        handled = time.perf_counter() - t0
        drawn = await asyncio.wait_for(frame[0], 2.0) - t0
        print(f"new email       {ms(handled)} in the app's handler, {ms(drawn)} to the frame "
              f"(merge of the 50 newest, sidebar); at the top: "
              f"{listing.rows[0].subject == 'A new email'}")
        assert isinstance(screen, MainScreen)
        Screen._compositor_refresh = compositor_refresh  # type: ignore[method-assign]  # put back
    ConversationList.render_line = original  # type: ignore[method-assign]  # put back
    RowWindow._load = load  # type: ignore[method-assign]  # the timing taken off again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="messages in the store")
    parser.add_argument("--threads", type=int, default=20_000, help="conversations")
    parser.add_argument("--keep", type=Path, help="build the store here and keep it")
    args = parser.parse_args()
    tmp = None
    if args.keep:
        root = args.keep
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-app-")
        root = Path(tmp.name)
    print(f"app list bench: {args.n} messages, {args.threads} conversations, "
          f"terminal {SIZE[0]}x{SIZE[1]}")
    path = root / "store.sqlite3"
    store = Store.open(path)
    if not store.count_messages("bench"):
        t0 = time.perf_counter()
        store.insert_messages(synthetic(args.n, args.threads))
        print(f"fill            {time.perf_counter() - t0:6.2f} s "
              f"({store.count_messages('bench')} messages)")
    store.close()
    print(f"                RSS before the app {rss_mb():8.1f} MB")
    (root / "config.toml").write_text(CONFIG)
    (root / "config.toml").chmod(0o600)
    config = load_config(root / "config.toml")
    started = time.perf_counter()
    engine = Engine(config, Store.open(path))
    app = TuiClientApp(config, probe_on_start=False, start_engine=False, engine=engine)
    asyncio.run(drive(app, started))
    print(f"peak RSS        {rss_mb():8.1f} MB")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
