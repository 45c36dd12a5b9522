"""Nothing a sender writes can drive the terminal or the app's markup.

A hostile email and chat line (escape sequences, OSC 52 clipboard writes, OSC 8
links, C1 controls, bidi overrides, Rich markup) are shown in the list, the
email view, the response cards and the chat view: what is drawn must hold the
words and none of the controls, and markup must show as the literal text.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

from bridge.config import load_config
from bridge.engine import Engine
from bridge.model import Attachment, Direction, Message, Party, Transport
from bridge.store import Store
from tests.test_app_snapshots import CONFIG
from tuiclient.app import TuiClientApp

CONTROLS = ("\x1b", "\x9b", "\x07", "\u202e", "\u2066")
HOSTILE = ("\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m\u202eevil\u202c\u2066"
           "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\"
           " [bold red]LOUD[/] [@click=app.quit]x[/]")


def hostile_store(path: Path) -> Store:
    store = Store.open(path)
    now = time.time()
    root = "hostile@example.test"
    store.insert_messages([
        Message(msg_id=root, account="alice", transport=Transport.EMAIL,
                direction=Direction.IN, thread_id=root, date=now - 60,
                sender=Party("mallory@example.test", "Mallory " + HOSTILE),
                recipients=[Party("alice@example.test", "Alice", "to")],
                subject="Invoice " + HOSTILE, text="Pay now " + HOSTILE,
                attachments=[Attachment("bill" + HOSTILE + ".pdf", "application/pdf", 10)]),
        Message(msg_id="line@example.test", account="alice", transport=Transport.XMPP,
                direction=Direction.IN, thread_id=root, date=now - 30,
                sender=Party("mallory@example.test", ""),
                recipients=[Party("alice@example.test", "", "to")],
                text="Chat " + HOSTILE, origin_id="line@example.test"),
    ])
    return store


async def test_hostile_text_is_drawn_inert(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    engine = Engine(config, hostile_store(tmp_path / "store.db"))
    app = TuiClientApp(config, probe_on_start=False, start_engine=False, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # open the conversation
        for _ in range(10):
            await pilot.pause(0.05)
        svg = app.export_screenshot()
    drawn = html.unescape(re.sub(r"<[^>]+>", "", svg.split("</style>")[-1])).replace("\xa0", " ")
    for bad in CONTROLS:
        assert bad not in drawn, repr(bad)
    assert "Invoice" in drawn and "Pay now" in drawn and "Chat" in drawn
    # Markup shows as what it is, and did not turn into a link or an action.
    assert "[bold red]LOUD[/]" in drawn
    assert "app.quit" in drawn
    assert app.return_code is None  # the [@click=app.quit] did nothing
