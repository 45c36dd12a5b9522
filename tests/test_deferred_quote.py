"""A deferred quote-reply (XEP-0461) keeps its quote in the Deferred folder's copy,
the email form of the line saying what it answers, as a reply sent by email
does; read over plain IMAP from Dovecot, the line from a plain slixmpp client."""

from __future__ import annotations

import email
import ssl

import imapclient
import pytest

from bridge.outbox import DEFERRED_FOLDER
from tests.harness.plain_xmpp import PlainXmpp
from tests.others import contacts_toml, person, until
from tests.test_deferral import config_path, new_engine

pytestmark = pytest.mark.servers


def deferred_bodies(world, who) -> list[str]:
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        if not c.folder_exists(DEFERRED_FOLDER):
            return []
        c.select_folder(DEFERRED_FOLDER, readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
    bodies = []
    for v in data.values():
        mail = email.message_from_bytes(v[b"BODY[]"])
        for part in mail.walk():
            if part.get_content_type() == "text/plain":
                bodies.append(part.get_payload(decode=True).decode())
    return bodies


async def test_a_deferred_quote_reply_keeps_its_quote_in_the_deferred_folder(
        world, tmp_path, running):
    start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file), show="away", status="out"))
    engine = await start(new_engine(config_path(world, tmp_path, alice, contacts_toml(bob)),
                                    tmp_path))
    bob_x.send(alice.jid, "Lunch at noon?")
    await until(lambda: engine.search("noon"), what="bob's line")
    [line] = engine.search("noon")
    await until(lambda: engine.availability(alice.name, bob.jid).availability.value
                == "away", what="bob away")
    result = await engine.reply_to_line(line.id, "Noon is fine", when_away="defer")
    assert result.deferred
    await until(lambda: any("Noon is fine" in b for b in deferred_bodies(world, alice)),
                what="the Deferred copy")
    [body] = [b for b in deferred_bodies(world, alice) if "Noon is fine" in b]
    assert "> Lunch at noon?" in body, body
    assert body.index("> Lunch at noon?") < body.index("Noon is fine")
