"""What the app loads before its first frame, and where the engine's start loads
the protocol stacks (issue 22, rows 1 and 6).

- The first frame draws the main screen: importing `tuiclient.app` loads that
  screen and its parts, not the screens a key opens (compose, pickers, prompts,
  roster, attachments, links, drafts, help, health, outbox, search, keys), and
  no protocol library.
- The engine's start imports imapclient, slixmpp (with the plugins its session
  registers) and python-omemo (here a first login: its keys are made; later at
  its first need, bridge/xmpp/omemo.py) in a thread of its own, never on the loop that
  calls it (the app's): an import there held back the event that puts INBOX's
  newest rows on the screen. Against the harness's real servers, in a fresh
  interpreter (this one has those libraries loaded already).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import password_command
from tests.harness.servers import World

ROOT = Path(__file__).resolve().parent.parent

# Opened by a key, a command or an event, never part of the first frame.
LATER_SCREENS = ("attachments", "chat_prompts", "compose", "compose_base", "drafts",
                 "health", "help", "keys", "links", "outbox", "pickers", "prompts",
                 "roster", "search")
PROTOCOLS = ("imapclient", "slixmpp", "slixmpp_omemo", "omemo", "bridge.xmpp.client",
             "bridge.mail.port", "smtplib",
             # The engine's policy: the outbox, the handoff and the MIME builder
             # behind them, made on first use and imported at start in a thread.
             "bridge.outbox", "bridge.handoff.reply", "bridge.mail.compose")
# OMEMO's library stack (a third of the app's memory) and GPGME's binding: loaded
# when OMEMO is on, and on the first OpenPGP message, never otherwise.
CRYPTO = ("slixmpp_omemo", "omemo", "oldmemo", "twomemo", "xmlschema", "pydantic", "gpg")


# An account whose servers are a closed port: nothing to log in to.
CLOSED_PORT = """
[[accounts]]
name = "closed"
email = "me@example.org"
password_command = "false"

[accounts.imap]
host = "127.0.0.1"
port = 9

[crypto]
omemo = false
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=120)


def test_the_app_loads_only_what_its_first_frame_draws():
    code = (
        "import sys, tuiclient.app\n"
        f"later = [f'tuiclient.screens.{{n}}' for n in {LATER_SCREENS!r}]\n"
        f"loaded = [n for n in (*later, *{PROTOCOLS!r}) if n in sys.modules]\n"
        "print(loaded)\n"
        "assert 'tuiclient.screens.main' in sys.modules\n"
        "sys.exit(1 if loaded else 0)\n")
    done = run(code)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_engine_made_for_the_app_loads_no_policy_nor_crypto(tmp_path: Path):
    """`Engine()` (made by the app before its first frame) builds no outbox and
    no handoff: they come on first use, or at `start`; the names the front ends
    import from `bridge.handoff` and `bridge.engine` come without them."""
    config = tmp_path / "config.toml"
    config.write_text(CLOSED_PORT)
    config.chmod(0o600)
    code = f"""
import sys
import tuiclient.app
from bridge.config import load_config
from bridge.engine import ContactAway, Engine, ReplyResult
from bridge.handoff import HISTORY_HEAD, TRANSCRIPT_HEAD, ImPlan, ReplyFields
from bridge.store import Store

engine = Engine(load_config({str(config)!r}), Store.open({str(tmp_path / "store.db")!r}))
loaded = [n for n in {(*PROTOCOLS, *CRYPTO)!r} if n in sys.modules]
print(loaded)
assert engine.outbox.fallbacks is not None and "handoff" not in vars(engine)
from bridge.handoff import Handoff
assert isinstance(engine.handoff, Handoff) and engine.handoff.outbox is engine.outbox
engine.close()
sys.exit(1 if loaded else 0)
"""
    done = run(code)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_later_screen_still_imports():
    """Each screen moved out of the first frame's imports still loads on its own
    (its imports now inside the calls that open it)."""
    names = ", ".join(f"tuiclient.screens.{n}" for n in LATER_SCREENS)
    done = run(f"import {names}")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_engine_imports_the_protocol_stacks_off_its_loop(world: World, tmp_path: Path):
    account = world.add_account("startorder")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(account, password_command(tmp_path, account)))
    config.chmod(0o600)
    code = f"""
import asyncio, sys, threading
from bridge.config import load_config
from bridge.engine import Engine
from bridge.events import SyncProgress
from bridge.store import Store

WATCH = {PROTOCOLS!r}
where = {{}}

class Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in WATCH:
            where.setdefault(name, threading.current_thread() is threading.main_thread())
        return None

sys.meta_path.insert(0, Finder())
config = load_config({str(config)!r})
engine = Engine(config, Store.open({str(tmp_path / "store.db")!r}))
inbox = threading.Event()
engine.events.subscribe(lambda e: isinstance(e, SyncProgress) and e.folder == "INBOX"
                        and e.phase == "done" and inbox.set())

async def main():
    await engine.start(timeout=60)
    await asyncio.to_thread(inbox.wait, 60)
    await engine.stop()
    engine.close()

asyncio.run(main())
print(where)
assert inbox.is_set(), "INBOX was never synced"
assert {{"imapclient", "slixmpp", "omemo", "bridge.xmpp.client"}} <= set(where), where
on_loop = [name for name, main in where.items() if main]
sys.exit(1 if on_loop else 0)
"""
    done = run(code)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_engine_without_omemo_loads_no_omemo_nor_gpg(world: World, tmp_path: Path):
    """With `[crypto] omemo = false`, an engine that goes online (INBOX synced,
    the chat account logged in) loads none of OMEMO's stack, and GPGME's binding
    only for an OpenPGP message (none here): issue 22, row 8 (memory)."""
    account = world.add_account("noomemo")
    config = tmp_path / "config.toml"
    config.write_text(world.client_config(account, password_command(tmp_path, account))
                      + "\n[crypto]\nomemo = false\n")
    config.chmod(0o600)
    code = f"""
import asyncio, sys, threading
from bridge.config import load_config
from bridge.engine import Engine
from bridge.events import HealthChanged, SyncProgress
from bridge.store import Store

config = load_config({str(config)!r})
assert not config.crypto.omemo
engine = Engine(config, Store.open({str(tmp_path / "store.db")!r}))
inbox, chat = threading.Event(), threading.Event()
engine.events.subscribe(lambda e: isinstance(e, SyncProgress) and e.folder == "INBOX"
                        and e.phase == "done" and inbox.set())
engine.events.subscribe(lambda e: isinstance(e, HealthChanged) and e.service == "xmpp"
                        and e.ok and chat.set())

async def main():
    await engine.start(timeout=60)
    await asyncio.to_thread(inbox.wait, 60)
    await asyncio.to_thread(chat.wait, 60)
    await engine.stop()
    engine.close()

asyncio.run(main())
assert inbox.is_set() and chat.is_set(), (inbox.is_set(), chat.is_set())
assert "slixmpp" in sys.modules and "imapclient" in sys.modules
loaded = [n for n in {CRYPTO!r} if n in sys.modules]
print(loaded)
sys.exit(1 if loaded else 0)
"""
    done = run(code)
    assert done.returncode == 0, done.stdout + done.stderr
