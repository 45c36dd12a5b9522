"""Nothing a sender writes can drive the terminal or the app's markup.

A hostile email and chat line (escape sequences, OSC 52 clipboard writes, OSC 8
links, C1 controls, bidi overrides, Rich markup) are shown in the list, the
email view, the response cards and the chat view: what is drawn must hold the
words and none of the controls, and markup must show as the literal text.
"""

from __future__ import annotations

import time
from pathlib import Path

from bridge.model import Attachment, Direction, Message, Party, Transport
from bridge.store import Store
from tests.screen import drawn_after_opening_first
from tests.test_app_snapshots import CONFIG

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
    store = hostile_store(tmp_path / "store.db")
    drawn, app = await drawn_after_opening_first(tmp_path, CONFIG, store)
    for bad in CONTROLS:
        assert bad not in drawn, repr(bad)
    assert "Invoice" in drawn and "Pay now" in drawn and "Chat" in drawn
    # Markup shows as what it is, and did not turn into a link or an action.
    assert "[bold red]LOUD[/]" in drawn
    assert "app.quit" in drawn
    assert app.return_code is None  # the [@click=app.quit] did nothing
