"""Helpers for tests where our engine meets people who use other clients.

bob's mail client is the standard library (email + smtplib + imapclient), his chat
client plain slixmpp (tests/harness/plain_xmpp.py): nothing of ours on his side.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
import ssl
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import imapclient

from bridge.config import load_config
from bridge.engine import Engine
from bridge.store import Store
from tests.conftest import password_command
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import Account, World


async def until(condition: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.05)


def person(world: World, name: str, **kw: str) -> Account:
    return world.add_account(f"{name}{uuid.uuid4().hex[:6]}", **kw)


def send_email(world: World, sender: Account, to: list[str], cc: list[str], subject: str,
               text: str, attachment: tuple[str, str, bytes] | None = None,
               msg_id: str | None = None, in_reply_to: str | None = None) -> str:
    """bob's own mail client: stdlib email + smtplib, nothing of ours."""
    msg = EmailMessage()
    msg["From"] = f"{sender.display_name} <{sender.email}>"
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg_id = msg_id or f"{uuid.uuid4().hex}@{sender.email.partition('@')[2]}"
    msg["Message-ID"] = f"<{msg_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    msg.set_content(text)
    if attachment:
        name, ctype, data = attachment
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with smtplib.SMTP("127.0.0.1", world.ports.submission, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(sender.email, sender.password)
        smtp.send_message(msg)
    return msg_id


def inbox(world: World, who: Account) -> list[email.message.EmailMessage]:
    """Everything in someone's INBOX, parsed by the standard library."""
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.select_folder("INBOX", readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
    return [email.message_from_bytes(data[u][b"BODY[]"], policy=email.policy.default)
            for u in sorted(data)]


async def wait_inbox(world: World, who: Account, predicate, timeout: float = 15.0):
    found: list = []

    def check() -> bool:
        found[:] = [m for m in inbox(world, who) if predicate(m)]
        return bool(found)
    await until(check, timeout, f"mail for {who.email}")
    return found


def plain(world: World, who: Account) -> PlainXmpp:
    return PlainXmpp(who.jid, who.password, "127.0.0.1", world.ports.c2s, str(world.ca_file))


def engine_for(world: World, tmp: Path, me: Account, extra: str = "") -> Engine:
    path = tmp / "config.toml"
    path.write_text(world.client_config(me, password_command(tmp, me)) + extra)
    engine = Engine(load_config(path), Store.open(tmp / "data" / "store.db"))
    return engine


def contacts_toml(*people: Account) -> str:
    return "".join(
        f'\n[[contacts]]\nname = "{p.display_name}"\nemails = ["{p.email}"]\n'
        f'jids = ["{p.jid}"]\n' for p in people)


def attachment_bytes(part: email.message.EmailMessage) -> bytes:
    return part.get_payload(decode=True)
