"""The chat with one person from the command line, as the app opens it (Enter on
a contact, `/msg`): `send --via im --to JID` writes into the 1:1 chat with them,
a conversation of its own that `list` shows and `show` reads, never an email
thread they are only a party of, even one their chat lines were moved into.
alice uses the command line; carol and dave use plain slixmpp and smtplib.
"""

from __future__ import annotations

import pytest

from bridge.headless.outcome import EXIT_OK
from tests.others import contacts_toml, person, send_email, until
from tests.test_headless import cli, write_config
from tests.test_headless_chat import plain

pytestmark = pytest.mark.servers


async def test_a_new_chat_is_its_own_conversation_listed_and_shown(world, tmp_path, running):
    _start, xmpp = running
    alice, carol, dave = person(world, "alice"), person(world, "carol"), person(world, "dave")
    world.befriend(alice, carol)
    carol_x = await xmpp(plain(world, carol))
    root = send_email(world, dave, [alice.email], [carol.email], "Project kickoff on Monday",
                      "The kickoff is on Monday at 10:00.")
    config = write_config(world, tmp_path, alice, contacts_toml(carol, dave))
    code, _r, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    # carol answers the email by chat, in its thread (as a client of hers that
    # keeps <thread> does): her chat lines are bound to the email's conversation.
    carol_x.send(alice.jid, "I'll bring the projector", thread=root)
    code, _r, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, threads, err = await cli(config, "list")
    assert code == EXIT_OK, err
    kickoff = next(t for t in threads if t["subject"] == "Project kickoff on Monday")

    code, sent, err = await cli(config, "send", "--via", "im", "--to", carol.jid,
                                "Are you free for lunch?")
    assert code == EXIT_OK, err
    await until(lambda: "Are you free for lunch?" in carol_x.bodies(alice.jid))
    code, threads, err = await cli(config, "list")
    assert code == EXIT_OK, err
    chat = next(t for t in threads if t["snippet"] == "Are you free for lunch?")
    assert chat["thread_id"] != kickoff["thread_id"], sent
    code, shown, err = await cli(config, "show", str(chat["thread_id"]))
    assert code == EXIT_OK, err
    assert [m["text"] for m in shown["messages"]] == ["Are you free for lunch?"]
    code, shown, err = await cli(config, "show", str(kickoff["thread_id"]))
    assert "Are you free for lunch?" not in [m["text"] for m in shown["messages"]]

    # The next line goes on in the same chat.
    code, _sent, err = await cli(config, "send", "--via", "im", "--to", carol.jid, "At one?")
    assert code == EXIT_OK, err
    code, shown, err = await cli(config, "show", str(chat["thread_id"]))
    assert [m["text"] for m in shown["messages"]] == ["Are you free for lunch?", "At one?"]
