"""A subscription request of ours that is not answered yet ("you asked to see
them") is in the roster as pending_out, against the real Prosody: its roster push
carries ask="subscribe" (RFC 6121 §3.1.2), which slixmpp's roster keeps; it lasts
across a new session (the roster as the server sends it at login), and it ends
when the contact answers."""

from __future__ import annotations

import pytest

from tests import test_xmpp_client
from tests.test_headless import cli, write_config
from tests.test_xmpp_client import person, until

pytestmark = pytest.mark.servers
connect = test_xmpp_client.connect


async def test_our_unanswered_request_is_pending_in_the_roster(world, connect, tmp_path):
    alice, carol = person(world, "alice"), person(world, "carol")
    a = await connect(alice)
    await a.client.add_contact(carol.jid, "Carol")

    def pending(client) -> bool | None:
        return next((i.pending_out for i in client.roster() if i.jid == carol.jid), None)

    await until(lambda: pending(a.client) is True, what="the push with ask=subscribe")
    # Another session of alice's (a new device) reads it from the login's roster.
    other = await connect(alice, resource="other", data=tmp_path / "other")
    await until(lambda: pending(other.client) is True, what="pending at login")
    # The command line's roster, a process of its own: "asked".
    code, items, err = await cli(write_config(world, tmp_path, alice), "roster", "list")
    assert code == 0 and [i["pending_out"] for i in items if i["jid"] == carol.jid] == [True], \
        (items, err)
    c = await connect(carol)
    c.client.approve(alice.jid)
    await until(lambda: pending(a.client) is False, what="answered")
    assert {i.jid: i.subscription for i in a.client.roster()}[carol.jid] in ("to", "both")
