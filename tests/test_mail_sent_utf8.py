"""The Sent-folder copy of an email with UTF-8 headers (RFC 6532: an
internationalized address, a subject in UTF-8) is appended to Dovecot as it was
sent and read back right: by another IMAP client (the stdlib's parser) and by our
own sync (the store's row for it, and `search` on the command line)."""

from __future__ import annotations

import email
import email.policy
import ssl
import time

import imapclient
import pytest

from bridge.headless.cli import EXIT_OK
from tests.others import person
from tests.test_headless import cli
from tests.test_mail_smtputf8 import EAI, config_for, recording_server

pytestmark = pytest.mark.servers


def sent_copies(world, who) -> list[bytes]:
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.select_folder("Sent", readonly=True)
        uids = c.search()
        return [d[b"BODY[]"] for d in (c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {})
                .values()]


async def test_the_sent_copy_keeps_utf8_headers_and_reads_back(world, tmp_path):
    alice = person(world, "alice")
    server, recorder, port = recording_server(world, tmp_path, smtputf8=True)
    try:
        config = config_for(world, tmp_path, alice, port)
        code, said, err = await cli(config, "send", "--via", "email", "--to",
                                    EAI, "--cc", "Jörg Müller <jö@bücher.example>",
                                    "--subject", "Grüße aus Köln", "Hallo Jörg.")
        assert code == EXIT_OK, (said, err)
        deadline = time.monotonic() + 15
        while not (copies := sent_copies(world, alice)) and time.monotonic() < deadline:
            time.sleep(0.1)
        (raw,) = copies
        ((_from, _options, _rcpts, wire),) = recorder.seen
        # What Dovecot keeps is what went on the wire, UTF-8 headers untouched.
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert head == wire.split(b"\r\n\r\n", 1)[0]
        assert f"To: {EAI}".encode() in head
        # An RFC 6532 reader takes the header as UTF-8 (the stdlib's bytes parser
        # would keep such bytes as surrogates).
        mail = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
        assert str(mail["Subject"]) == "Grüße aus Köln"
        assert [a.addr_spec for a in mail["To"].addresses] == [EAI]
        (cc,) = mail["Cc"].addresses
        assert (cc.display_name, cc.addr_spec) == ("Jörg Müller", "jö@bücher.example")

        # Our own sync reads it back from the Sent folder the same.
        code, _, err = await cli(config, "sync")
        assert code == EXIT_OK, err
        code, hits, err = await cli(config, "search", "in:Sent")
        assert code == EXIT_OK, err
        (hit,) = hits
        assert hit["subject"] == "Grüße aus Köln"
        code, shown, err = await cli(config, "show", str(hit["id"]))
        assert code == EXIT_OK, err
        assert EAI in str(shown) and "jö@bücher.example" in str(shown)
    finally:
        server.stop()
