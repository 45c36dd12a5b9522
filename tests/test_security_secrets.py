"""Issue #10, secrets: a password reaches no error, no log record, no file we write.

The password is a marker string that comes from a password_command, as in real
use; every log record at DEBUG (slixmpp and imapclient log every byte they send
at that level) and every byte of the store folder is searched for it, in clear
and in the base64 that SASL PLAIN and AUTH PLAIN would put on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import stat
import time
import traceback
import uuid
from pathlib import Path

import pytest

from bridge.config import get_password, load_config
from bridge.events import EventBus
from bridge.mail.connect import ConnectError, open_imap, open_smtp
from bridge.mail.sync import MailSync
from bridge.store import Store
from bridge.xmpp.client import XmppClient
from bridge.xmpp.session import XmppLoginError, XmppSession
from tests.conftest import password_command
from tests.harness.servers import World

pytestmark = pytest.mark.servers


def marker() -> str:
    return f"Pw-{uuid.uuid4().hex}-marker"


def forms(secret: str) -> list[str]:
    """The secret as text and as any base64 run could contain it, at every alignment."""
    out = [secret]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret.encode()).decode()
        # Characters next to the prefix or the end also depend on unknown neighbours.
        out.append(encoded[4 if shift else 0 : -4])
    return out


def assert_nowhere(secret: str, texts: list[str], what: str) -> None:
    for text in texts:
        for form in forms(secret):
            assert form not in text, f"password found in {what}: ...{text[:300]}..."


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = []
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    return texts


def error_texts(exc: BaseException) -> list[str]:
    # What a user, a log line or a crash report would show: message, repr, the
    # whole chained traceback.
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


def force_plain(session: XmppSession) -> None:
    # Prosody would pick SCRAM, which never sends the password; PLAIN sends it
    # in base64, so it is the case the log must be protected against.
    session.plugin["feature_mechanisms"].use_mech = "PLAIN"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("slixmpp", "imapclient", "bridge"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("slixmpp", "imapclient", "bridge"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_refused_password_is_in_no_error_and_no_log(world: World, tmp_path: Path, debug_logs):
    account = world.add_account(f"refused-{uuid.uuid4().hex[:6]}")
    path = tmp_path / "c.toml"
    path.write_text(world.client_config(account, password_command(tmp_path, account)))
    cfg = load_config(path).account(account.name)
    wrong = marker()

    errors: list[BaseException] = []
    for opener, server in ((open_imap, cfg.imap), (open_smtp, cfg.smtp)):
        with pytest.raises(ConnectError, match="login refused") as info:
            opener(server, account.email, wrong)
        errors.append(info.value)

    async def xmpp() -> None:
        session = XmppSession(account.jid, wrong, cfg.xmpp)
        force_plain(session)
        with pytest.raises(XmppLoginError) as info:
            await session.start(timeout=10)
        errors.append(info.value)

    asyncio.run(xmpp())
    assert any("PLAIN" in t for t in log_texts(debug_logs)), "PLAIN was not used"
    for exc in errors:
        assert_nowhere(wrong, error_texts(exc), "an error")
    assert_nowhere(wrong, log_texts(debug_logs), "the log")


def test_a_working_password_is_in_no_log_and_no_stored_file(
        world: World, tmp_path: Path, debug_logs):
    secret = marker()
    account = world.add_account(f"secret-{uuid.uuid4().hex[:6]}", password=secret)
    world.befriend(account, world.add_account(f"friend-{uuid.uuid4().hex[:6]}"))
    path = tmp_path / "c.toml"
    path.write_text(world.client_config(account, password_command(tmp_path, account)))
    cfg = load_config(path).account(account.name)
    # Mail in the box, so that the sync has something to store.
    smtp = open_smtp(cfg.smtp, account.email, get_password(cfg, "smtp"))
    smtp.sendmail(account.email, [account.email],
                  f"From: {account.email}\r\nTo: {account.email}\r\nSubject: hello\r\n"
                  f"\r\nbody\r\n".encode())
    smtp.quit()

    data = tmp_path / "data"
    store = Store.open(data / "store.db")
    events = EventBus()
    sync = MailSync(cfg, lambda: get_password(cfg, "imap"), store, events)
    try:
        for _ in range(50):  # LMTP delivery is quick, but not instant
            sync.sync_all()
            inbox = store.folder_messages(account.name, "INBOX")
            if inbox:
                break
            time.sleep(0.1)
        assert inbox
        sync.fetch_body(inbox[0].id)

        async def xmpp() -> None:
            client = XmppClient(cfg, get_password(cfg, "xmpp"), store, events,
                                state_dir=data / "xmpp")
            force_plain(client.session)
            await client.start(timeout=20)
            client.send_chat(account.jid, "a line to myself")
            await asyncio.sleep(0.5)
            await client.stop()

        asyncio.run(xmpp())
    finally:
        sync.close()
        store.close()

    texts = log_texts(debug_logs)
    assert any("PLAIN" in t for t in texts), "PLAIN was not used"
    assert any("LOGIN" in t for t in texts), "imapclient's debug log was not captured"
    assert_nowhere(secret, texts, "the log")
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "store.db" for p in files)
    for file in files:
        content = file.read_bytes().decode("latin-1")
        assert_nowhere(secret, [content], str(file.relative_to(data)))
    # The folder holding mail and chat is the owner's alone.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file
    assert os.environ.get("XDG_DATA_HOME")  # the autouse fixture kept us off $HOME
