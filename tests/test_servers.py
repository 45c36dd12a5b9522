"""The foundation's promise: real mail and chat round trips over verified TLS.

These talk to the harness's real Dovecot, SMTP server and Prosody through the
client's own connection code and config, exactly as the app does.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from dataclasses import replace
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from bridge.config import Config, ServerConfig, get_password, load_config
from bridge.mail.connect import ConnectError, open_imap, open_smtp
from bridge.xmpp.session import XmppLoginError, XmppSession
from tests.conftest import password_command
from tests.harness.servers import Account, World

pytestmark = pytest.mark.servers


def config_for(world: World, account: Account, tmp: Path) -> Config:
    path = tmp / f"{account.name}.toml"
    path.write_text(world.client_config(account, password_command(tmp, account)))
    return load_config(path)


@pytest.fixture(scope="module")
def people(world: World) -> dict[str, Account]:
    alice = world.add_account("alice")
    bob = world.add_account("bob")
    # carol's chat address differs from her mail address, as at many companies.
    carol = world.add_account("carol", email="carol@example.test",
                              jid="carol.w@chat.corp.test")
    world.befriend(alice, bob)
    return {"alice": alice, "bob": bob, "carol": carol}


def wait_for_subject(imap, subject: str, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        imap.noop()
        uids = imap.search(["SUBJECT", subject])
        if uids:
            return uids
        time.sleep(0.1)
    return []


def test_harness_servers_advertise_what_the_client_needs(world, people, tmp_path):
    cfg = config_for(world, people["alice"], tmp_path)
    acct = cfg.account("alice")
    imap = open_imap(acct.imap, acct.email, get_password(acct, "imap"))
    try:
        caps = set(imap.capabilities())
        for cap in (b"IDLE", b"CONDSTORE", b"QRESYNC", b"MOVE", b"SPECIAL-USE",
                    b"LIST-STATUS"):
            assert cap in caps, cap
        roles = {name: flags for flags, _sep, name in imap.list_folders()}
        assert b"\\Sent" in roles["Sent"]
        assert b"\\Drafts" in roles["Drafts"]
        assert b"\\Trash" in roles["Trash"]
        # `Deferred` does not exist until the client makes it.
        assert "Deferred" not in roles
        imap.create_folder("Deferred")
        assert "Deferred" in {name for _f, _s, name in imap.list_folders()}
    finally:
        imap.logout()


def test_email_sent_over_smtp_is_read_back_over_imap(world, people, tmp_path):
    alice_cfg = config_for(world, people["alice"], tmp_path)
    bob_cfg = config_for(world, people["bob"], tmp_path)
    alice, bob = alice_cfg.account("alice"), bob_cfg.account("bob")
    assert alice.smtp.tls == "starttls" and alice.imap.tls == "tls"

    subject = f"Lunch plans {uuid.uuid4().hex[:8]} — café?"
    msg = EmailMessage()
    msg["From"] = f"Alice <{alice.email}>"
    msg["To"] = f"Bob <{bob.email}>"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content("Shall we meet at noon?\nÀ bientôt\n")
    msg.add_attachment(b"%PDF-1.4 menu", maintype="application", subtype="pdf",
                       filename="menu.pdf")

    smtp = open_smtp(alice.smtp, alice.email, get_password(alice, "smtp"))
    try:
        refused = smtp.send_message(msg)
    finally:
        smtp.quit()
    assert refused == {}

    imap = open_imap(bob.imap, bob.email, get_password(bob, "imap"))
    try:
        imap.select_folder("INBOX")
        uids = wait_for_subject(imap, subject.split(" —")[0])
        assert len(uids) == 1
        data = imap.fetch(uids, ["BODY.PEEK[]", "FLAGS"])[uids[0]]
        from email import message_from_bytes, policy
        got = message_from_bytes(data[b"BODY[]"], policy=policy.default)
        assert got["Subject"] == subject
        assert got["Message-ID"] == msg["Message-ID"]
        assert "Shall we meet at noon?" in got.get_body(("plain",)).get_content()
        names = [part.get_filename() for part in got.iter_attachments()]
        assert names == ["menu.pdf"]
        assert b"\\Seen" not in data[b"FLAGS"]
        # The SMTP server stamped its hop, as a real one does.
        assert any("tuiclient test harness" in r for r in got.get_all("Received"))
    finally:
        imap.logout()


def test_smtp_over_implicit_tls_delivers_too(world, people, tmp_path):
    alice = config_for(world, people["alice"], tmp_path).account("alice")
    smtps = replace(alice.smtp, port=world.ports.smtps, tls="tls")
    smtp = open_smtp(smtps, alice.email, get_password(alice, "smtp"))
    try:
        subject = f"implicit tls {uuid.uuid4().hex[:8]}"
        smtp.sendmail(alice.email, [people["carol"].email],
                      f"From: {alice.email}\r\nTo: {people['carol'].email}\r\n"
                      f"Subject: {subject}\r\n\r\nhello\r\n".encode())
    finally:
        smtp.quit()
    carol = config_for(world, people["carol"], tmp_path).account("carol")
    imap = open_imap(carol.imap, carol.email, get_password(carol, "imap"))
    try:
        imap.select_folder("INBOX")
        assert wait_for_subject(imap, subject)
    finally:
        imap.logout()


def test_smtp_refuses_unknown_recipient_and_bad_password(world, people, tmp_path):
    alice = config_for(world, people["alice"], tmp_path).account("alice")
    smtp = open_smtp(alice.smtp, alice.email, get_password(alice, "smtp"))
    try:
        import smtplib
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail(alice.email, ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n")
    finally:
        smtp.quit()
    with pytest.raises(ConnectError, match="login refused"):
        open_smtp(alice.smtp, alice.email, "wrong password")
    with pytest.raises(ConnectError, match="login refused"):
        open_imap(alice.imap, alice.email, "wrong password")


def test_refused_imap_logins_slow_down_no_later_login(world, people, tmp_path):
    """The harness's Dovecot answers a refused login at once and keeps no penalty
    for 127.0.0.1, where every test logs in from: with Dovecot's defaults the next
    login after these three, anyone's, would wait 4 s or more."""
    alice = config_for(world, people["alice"], tmp_path).account("alice")
    bob = config_for(world, people["bob"], tmp_path).account("bob")
    for attempt in range(3):  # three passwords: the same one again adds no penalty
        with pytest.raises(ConnectError, match="login refused"):
            open_imap(alice.imap, alice.email, f"wrong password {attempt}")
    started = time.monotonic()
    imap = open_imap(bob.imap, bob.email, get_password(bob, "imap"))
    took = time.monotonic() - started
    imap.logout()
    assert took < 3.0, f"bob's login waited {took:.1f} s after alice's refusals"


def test_certificates_are_really_verified(world, people, tmp_path):
    """Without the run's CA the very same servers are refused."""
    alice = config_for(world, people["alice"], tmp_path).account("alice")
    untrusted = replace(alice.imap, ca_file=None)  # system store: does not know our CA
    with pytest.raises(ConnectError, match=r"TLS failed.*certificate verify failed"):
        open_imap(untrusted, alice.email, get_password(alice, "imap"))
    with pytest.raises(ConnectError, match="TLS failed"):
        open_smtp(replace(alice.smtp, ca_file=None), alice.email, get_password(alice, "smtp"))
    # A host name the certificate does not name is refused even with the right CA.
    wrong_name = replace(alice.imap, host="localhost.localdomain")
    with pytest.raises(ConnectError):
        open_imap(wrong_name, alice.email, get_password(alice, "imap"))


def test_imap_starttls_upgrades_before_login(world, people, tmp_path):
    alice = config_for(world, people["alice"], tmp_path).account("alice")
    starttls = replace(alice.imap, port=world.ports.imap, tls="starttls")
    client = open_imap(starttls, alice.email, get_password(alice, "imap"))
    try:
        sock = client._imap.sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        assert client.select_folder("INBOX")[b"EXISTS"] >= 0
    finally:
        client.logout()


async def test_xmpp_message_goes_from_one_account_to_another(world, people, tmp_path):
    alice = config_for(world, people["alice"], tmp_path).account("alice")
    bob = config_for(world, people["bob"], tmp_path).account("bob")
    a = XmppSession(alice.jid, get_password(alice, "xmpp"), alice.xmpp)
    b = XmppSession(bob.jid, get_password(bob, "xmpp"), bob.xmpp)
    received: asyncio.Queue = asyncio.Queue()
    b.add_event_handler("message", lambda msg: received.put_nowait(msg))
    await asyncio.gather(a.start(), b.start())
    try:
        # The harness's roster: alice and bob see each other.
        assert bob.jid in a.client_roster
        assert a.client_roster[bob.jid]["subscription"] == "both"
        body = f"Hi Bob, it's Alice ✓ {uuid.uuid4().hex[:6]}"
        a.send_message(mto=bob.jid, mbody=body, mtype="chat")
        msg = await asyncio.wait_for(received.get(), 10)
        assert msg["body"] == body
        assert msg["from"].bare == alice.jid
        assert msg["type"] == "chat"
    finally:
        await asyncio.gather(a.stop(), b.stop())


async def test_xmpp_works_for_an_account_whose_jid_differs_from_its_email(
        world, people, tmp_path):
    carol = config_for(world, people["carol"], tmp_path).account("carol")
    assert carol.jid == "carol.w@chat.corp.test" and carol.email == "carol@example.test"
    s = XmppSession(carol.jid, get_password(carol, "xmpp"), carol.xmpp)
    await s.start()
    try:
        assert s.boundjid.bare == "carol.w@chat.corp.test"
        assert s.is_connected()
    finally:
        await s.stop()


async def test_xmpp_direct_tls_and_verification(world, people, tmp_path):
    alice = config_for(world, people["alice"], tmp_path).account("alice")
    direct = replace(alice.xmpp, port=world.ports.c2s_tls, tls="tls")
    s = XmppSession(alice.jid, get_password(alice, "xmpp"), direct)
    await s.start()
    await s.stop()

    untrusted = XmppSession(alice.jid, get_password(alice, "xmpp"),
                            replace(alice.xmpp, ca_file=None))
    with pytest.raises(XmppLoginError):
        await untrusted.start(timeout=5)

    wrong = XmppSession(alice.jid, "not the password", alice.xmpp)
    with pytest.raises(XmppLoginError, match="login refused"):
        await wrong.start(timeout=10)


def test_ssl_defaults_are_strict():
    from bridge.tls import client_context
    ctx = client_context(None)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert isinstance(ServerConfig, type)


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def test_dovecot_and_prosody_run_under_their_own_users(world):
    import os
    import pwd
    expected = {"dovecot": world.dovecot_user.uid, "prosody": world.prosody_user.uid}
    for name, uid in expected.items():
        assert _uid_of(world.procs[name].pid) == uid
        if os.geteuid() == 0:
            assert pwd.getpwuid(uid).pw_name == name
            assert uid != 0
