"""bridge.reader.Reader answers as the Engine of the same config and store: the
reads it does itself, without the handoff (a timeline) and the chat mixin
(reactions), give what the Engine gives. Headless mode serves `show --no-fetch`
from a Reader (bridge/headless/reads.py)."""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config
from bridge.engine import Engine
from bridge.model import Direction, Message, Party, Transport
from bridge.reader import Reader
from bridge.store import Store

CONFIG = """
[[accounts]]
name = "alice"
email = "alice@example.test"
jid = "alice@example.test"
password_command = "echo secret"

[accounts.imap]
host = "127.0.0.1"
port = 1
tls = "plain"
"""


def line(n: int, transport: Transport, text: str, *, msg_id: str | None = None,
         thread: str = "t1@example.test", date: float | None = None) -> Message:
    email = transport is Transport.EMAIL
    return Message(
        msg_id=msg_id or f"m{n}@example.test", account="alice", transport=transport,
        direction=Direction.IN, thread_id=thread, date=date or 1_700_000_000.0 + n,
        sender=Party("bob@example.test", "Bob"), subject="Lunch" if email else "",
        text=text, folder="INBOX" if email else None, uid=n if email else None,
        message_id_header=msg_id or f"m{n}@example.test" if email else None,
        stanza_id=None if email else f"s{n}")


def test_a_reader_reads_timelines_and_reactions_as_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    config = load_config(path)
    store = Store.open(tmp_path / "store.db")
    store.insert_messages([
        line(1, Transport.EMAIL, "Noon?"),
        # One message seen through both transports: the copy with a body wins.
        line(2, Transport.EMAIL, "", msg_id="both@example.test"),
        line(3, Transport.XMPP, "Yes, noon.", msg_id="both@example.test", date=1_700_000_002.0),
        line(4, Transport.XMPP, "Same dates, row order", date=1_700_000_004.0),
        line(5, Transport.XMPP, "Same dates, row order", date=1_700_000_004.0),
        line(6, Transport.EMAIL, "elsewhere", thread="t2@example.test"),
    ])
    engine = Engine(config, store)
    reader = Reader(config, store)
    rows = [m.id for m in engine.timeline("alice", "t1@example.test")]
    assert len(rows) == 4
    assert reader.timeline("alice", "t1@example.test") == \
        engine.timeline("alice", "t1@example.test")
    assert reader.timeline("alice", "t2@example.test") == \
        engine.timeline("alice", "t2@example.test")
    store.set_reactions(rows[-1] or 0, "carol@example.test", ["👍"], 1_700_000_010.0)
    ids = [r for r in rows if r is not None]
    assert reader.reactions(ids) == engine.reactions(ids) != {}
    store.close()
