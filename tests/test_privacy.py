"""Who learns what: threads, forged stanzas and carried history, against the real servers.

alice uses our engine; bob, carol and mallory are other people on plain clients
(slixmpp, smtplib, imapclient), so what they send is what any client could send,
and what they get is what any client would show them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest

from bridge.headless.cli import EXIT_DECIDE
from tests.harness.servers import REPO_ROOT, XMPP_DOMAINS
from tests.others import contacts_toml, person, plain, until
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers


async def test_send_by_im_to_an_unmapped_email_address_exits_7_and_sends_nothing(
        world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    tag = uuid.uuid4().hex[:6]
    # carol's email address and her JID differ; someone else holds the JID that is
    # spelled like her email address.
    carol = person(world, "carol", jid=f"carol{tag}@{XMPP_DOMAINS[1]}")
    holder = person(world, "holder", email=f"holder{tag}@{XMPP_DOMAINS[0]}", jid=carol.email)
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    holder_x = await xmpp(plain(world, holder))

    code, result, err = await cli(config, "send", "--to", carol.email, "--via", "im",
                                  "Private: for carol only")
    assert code == EXIT_DECIDE, (result, err)
    assert result["error"] == "unmapped"
    assert [r["query"] for r in result["unresolved"]] == [carol.email]

    # Without --json: one line, naming the address.
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "tuiclient", "--config", str(config), "send", "--to",
        carol.email, "--via", "im", "Private: for carol only"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert done.returncode == EXIT_DECIDE
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and carol.email in lines[0], done.stderr

    # A mapped address and a known JID still go by chat.
    bob_x = await xmpp(plain(world, bob))
    code, sent, err = await cli(config, "send", "--to", bob.email, "--via", "im", "hi bob")
    assert code == 0, (sent, err)
    await until(lambda: bob_x.bodies() == ["hi bob"], what="bob's line")
    assert holder_x.bodies() == []
