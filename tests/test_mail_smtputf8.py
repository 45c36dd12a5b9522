"""What MAIL FROM says (issues 19/20): BODY=8BITMIME for 8-bit bytes when the
server offers it, SMTPUTF8 for an internationalized address (RFC 6531) when the
server offers it, and a clear refusal when it does not; `\\Recent` (one IMAP
session's, RFC 3501 2.3.2) never stored as a flag.

The harness's SMTP server offers 8BITMIME and not SMTPUTF8 (aiosmtpd's
defaults, kept); for both answers a second server of the same kind (aiosmtpd
with STARTTLS and AUTH against the harness's accounts) runs here, offering
SMTPUTF8 or not, and records what it was told on the wire."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from bridge.headless.cli import EXIT_FAILED, EXIT_OK
from tests.harness.servers import free_port
from tests.harness.smtp_server import Authenticator, HarnessController
from tests.others import person, send_email
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers

EAI = "jörg@bücher.example"


@dataclass
class Recorder:
    """Takes any recipient and keeps what each transaction said."""

    seen: list[tuple[str, list[str], list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.seen.append((str(envelope.mail_from), list(envelope.mail_options),
                          list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 OK kept"


def recording_server(world, tmp_path, *, smtputf8: bool) -> tuple[HarnessController,
                                                                   Recorder, int]:
    cert, key = world._copy_tls(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    recorder = Recorder()
    port = free_port()
    server = HarnessController(
        recorder, hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True,
        server_hostname="mail.example.test", authenticator=Authenticator(world.passwd_file),
        auth_required=True, auth_require_tls=True, auth_exclude_mechanism=["LOGIN"],
        enable_SMTPUTF8=smtputf8)
    server.start()
    return server, recorder, port


def config_for(world, tmp_path, who, port: int):
    path = write_config(world, tmp_path, who)
    path.write_text(path.read_text().replace(f"port = {world.ports.submission}\n",
                                             f"port = {port}\n"))
    return path


@pytest.mark.parametrize("smtputf8", [True, False], ids=["offered", "not offered"])
async def test_an_internationalized_address_goes_with_smtputf8_or_is_refused_clearly(
        world, tmp_path, smtputf8):
    alice = person(world, "alice")
    server, recorder, port = recording_server(world, tmp_path, smtputf8=smtputf8)
    try:
        config = config_for(world, tmp_path, alice, port)
        code, said, err = await cli(config, "send", "--via", "email", "--to", EAI,
                                    "--subject", "Grüße", "Hallo Jörg, schöne Grüße.")
        if smtputf8:
            assert code == EXIT_OK, (said, err)
            ((mail_from, options, rcpts, data),) = recorder.seen
            assert mail_from == alice.email and rcpts == [EAI]
            assert "SMTPUTF8" in options and "BODY=8BITMIME" in options
            head = data.split(b"\r\n\r\n", 1)[0]
            assert f"To: {EAI}".encode() in head  # UTF-8 as it is (RFC 6532)
        else:
            assert code == EXIT_FAILED, (said, err)
            assert recorder.seen == []
            code, log, err = await cli(config, "outbox", "list", "--log")
            assert code == EXIT_OK, err
            words = str(log)
            assert "does not take internationalized addresses (no SMTPUTF8)" in words
            assert EAI in words
    finally:
        server.stop()


async def test_8bit_text_to_an_ascii_address_says_8bitmime_and_no_smtputf8(world, tmp_path):
    alice = person(world, "alice")
    server, recorder, port = recording_server(world, tmp_path, smtputf8=False)
    try:
        config = config_for(world, tmp_path, alice, port)
        code, said, err = await cli(config, "send", "--via", "email", "--to",
                                    "bob@example.test", "--subject", "Hi", "Schöne Grüße.")
        assert code == EXIT_OK, (said, err)
        ((_from, options, _rcpts, data),) = recorder.seen
        said_more = [o for o in options if not o.startswith("SIZE=")]  # smtplib's own
        assert said_more == ["BODY=8BITMIME"] and not data.isascii()
        # Plain ASCII: nothing to say.
        code, said, err = await cli(config, "send", "--via", "email", "--to",
                                    "bob@example.test", "--subject", "Hi", "Plain words.")
        assert code == EXIT_OK, (said, err)
        assert [o for o in recorder.seen[1][1] if not o.startswith("SIZE=")] == []
    finally:
        server.stop()


def test_recent_is_not_stored_as_a_flag(world, people):
    alice, bob = people("alice"), people("bob")
    send_email(world, bob.account, [alice.account.email], [], "Fresh", "New mail.")
    import time
    deadline = time.monotonic() + 15
    client = alice.imap()
    try:
        while client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        client.logout()
    # Our session is the first to see it: the server calls it \Recent here.
    alice.sync.sync_folder("INBOX")
    (m,) = alice.store.folder_messages(alice.account.name, "INBOX", limit=5)
    assert not {f.lower() for f in m.flags} & {"\\recent"}, m.flags
    # Nor after a flag change read back from the server.
    alice.sync.set_flags("INBOX", [m.uid], ["\\Flagged"], True)
    (m,) = alice.store.folder_messages(alice.account.name, "INBOX", limit=5)
    assert "\\Flagged" in m.flags and "\\Recent" not in m.flags
