"""Who learns what: threads, forged stanzas and carried history, against the real servers.

alice uses our engine; bob, carol and mallory are other people on plain clients
(slixmpp, smtplib, imapclient), so what they send is what any client could send,
and what they get is what any client would show them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import uuid
from xml.etree import ElementTree as ET

import pytest
from slixmpp.xmlstream import StanzaBase

from bridge.events import DeliveryChanged
from bridge.headless.cli import EXIT_DECIDE
from bridge.model import DeliveryState
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import REPO_ROOT, XMPP_DOMAINS
from tests.others import contacts_toml, engine_for, person, plain, send_email, until
from tests.test_headless import cli, write_config
from tests.test_xmpp_client import connect  # noqa: F401 (a fixture)

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


async def test_a_stranger_naming_an_email_thread_gets_a_thread_of_their_own(
        world, tmp_path, running):
    start, xmpp = running
    alice, bob, mallory = person(world, "alice"), person(world, "bob"), person(world, "mallory")
    world.befriend(alice, bob)
    engine = await start(engine_for(world, tmp_path, alice, contacts_toml(bob)))
    me = alice.name
    root = send_email(world, bob, [alice.email], [], "Salary review",
                      "The numbers for your review are attached.")
    await until(lambda: engine.store.find_by_msg_id(me, root), what="bob's email")
    bob_x, mallory_x = await xmpp(plain(world, bob)), await xmpp(plain(world, mallory))

    mallory_x.send(alice.jid, "Mallory here, about the review", thread=root)
    bob_x.send(alice.jid, "Bob here, about the review", thread=root)
    await until(lambda: engine.search("Mallory") and engine.search("Bob here"),
                what="both chat lines")
    in_thread = [m.text for m in engine.timeline(me, root)]
    assert "Bob here, about the review" in in_thread
    assert "Mallory here, about the review" not in in_thread
    line = engine.search("Mallory")[0]
    assert line.thread_id != root
    assert [m.text for m in engine.timeline(me, line.thread_id)] == [
        "Mallory here, about the review"]
    # The list shows mallory's thread without bob's subject.
    threads = {t.thread_id: t for t in engine.conversations(me)}
    assert threads[line.thread_id].subject != "Salary review"
    assert threads[root].subject == "Salary review"

    # The CLI, on a store of its own (mail from IMAP, chat from the archive), groups
    # them the same way: her line is not in bob's conversation.
    config = tmp_path / "config.toml"
    code, _r, err = await cli(config, "sync")
    assert code == 0, err
    code, listed, err = await cli(config, "list")
    assert code == 0, err
    by_id = {t["thread_id"]: t for t in listed}
    assert by_id[root]["subject"] == "Salary review"
    code, shown, err = await cli(config, "show", root, "--no-fetch")
    assert code == 0, err
    assert "Mallory here, about the review" not in [m["text"] for m in shown["messages"]]

    # Her next line without <thread> stays in her own thread too.
    mallory_x.send(alice.jid, "Any news?")
    await until(lambda: engine.search("news"), what="mallory's second line")
    assert engine.search("news")[0].thread_id == line.thread_id
    # Nothing went back to her.
    assert mallory_x.received == []


def _grouping(store) -> dict[str, str]:
    return {m.msg_id: m.thread_id for t in store.list_threads("work", limit=100)
            for m in store.thread_messages(t.thread_id, "work")}


@pytest.mark.parametrize("email_first", [True, False])
def test_claimed_threads_group_the_same_whatever_came_first(tmp_path, email_first):
    """A unit test of the store's part: a chat line that names a thread its sender
    is no party of yet sits apart, and moves in once an email makes them one."""
    from bridge.model import Party, claimed_thread_id
    from bridge.store import Store
    from tests.test_store import chat, email

    root = "root@example.org"
    mail = email(1, thread=root, sender=Party("bob@example.org", "Bob"))
    lines = [chat(n, sender=Party(who, ""), thread_id=claimed_thread_id(who, root),
                  references=[root])
             for n, who in ((2, "bob@example.org"), (3, "mallory@example.org"))]
    store = Store.open(tmp_path / "store.db")
    store.upsert_account("work", "me@example.org", "me@chat.example.org")
    if not email_first:
        # A fresh store that sees mallory's line first files it where she said
        # (nothing here says whose thread it is yet).
        lines[1] = dataclasses.replace(lines[1], thread_id=root, references=[])
    try:
        store.insert_messages([mail, *lines[:1]] if email_first else lines[:1])
        store.insert_messages(lines[1:])
        if not email_first:
            store.insert_messages([mail])
        grouping = _grouping(store)
        assert grouping[lines[0].msg_id] == root  # bob is a party: in the thread
        assert grouping[lines[1].msg_id] == claimed_thread_id("mallory@example.org", root)
        assert store.get_thread("work", root).message_count == 2
    finally:
        store.close()


async def test_forged_error_stanza_id_carbon_and_archive_result_change_nothing(
        world, connect, running, caplog):  # noqa: F811
    _start, xmpp = running
    alice, bob, mallory = person(world, "alice"), person(world, "bob"), person(world, "mallory")
    world.befriend(alice, bob)
    a = await connect(alice)
    bob_x = await xmpp(PlainXmpp(bob.jid, bob.password, "127.0.0.1", world.ports.c2s,
                                 str(world.ca_file), receipts=False))
    mallory_x = await xmpp(plain(world, mallory))

    def raw(stanza: str) -> None:
        # Through slixmpp's stanza path (a raw write would skip its stream state).
        mallory_x.xmpp.send_xml(ET.fromstring(
            stanza.replace("<message ", "<message xmlns='jabber:client' ", 1)))

    # 1. An error for alice's line to bob, from mallory.
    sent = a.client.send_chat(bob.jid, "For bob")
    await until(lambda: bob_x.bodies() == ["For bob"], what="bob got it")
    await until(lambda: a.store.get_message(sent.id).delivery is DeliveryState.SENT,
                what="server ack")
    # (To her full JID: a server drops errors sent to a bare JID, RFC 6121 8.5.2.1.1.)
    raw(f"<message to='{a.client.session.boundjid}' type='error' id='{sent.msg_id}'>"
        "<error type='cancel'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    # 2. A stanza-id claiming to be stamped by alice's server, twice.
    for n in (1, 2):
        raw(f"<message to='{alice.jid}' type='chat' id='sid{n}'><body>sid line {n}</body>"
            f"<stanza-id xmlns='urn:xmpp:sid:0' by='{alice.jid}' id='forged-sid'/></message>")
    # 3. A carbon of a line bob never sent.
    raw(f"<message to='{alice.jid}'><received xmlns='urn:xmpp:carbons:2'><forwarded "
        "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
        f"from='{bob.jid}/phone' to='{alice.jid}' type='chat'><body>forged carbon</body>"
        "</message></forwarded></received></message>")
    await until(lambda: a.with_text("sid line 2"), what="mallory's lines")
    await asyncio.sleep(0.5)
    assert a.store.get_message(sent.id).delivery is DeliveryState.SENT
    assert not [e for e in a.of(DeliveryChanged) if e.state == "failed"]
    assert not a.store.lookup("stanza_id", "forged-sid", a.client.name)
    assert len(a.with_text("sid line 1")) == 1  # the second was not taken for a copy
    assert not a.with_text("forged carbon")

    # 4. An archive result from mallory, with the id of a query alice has open:
    # sent as alice's query leaves, and let arrive before the query does.
    async def forge_a_result(stanza: StanzaBase) -> StanzaBase:
        query = stanza.xml.find("{urn:xmpp:mam:2}query")
        query_id = query.get("queryid") if query is not None else None
        if query_id:
            raw(f"<message to='{a.client.session.boundjid}'><result xmlns='urn:xmpp:mam:2' "
                f"queryid='{query_id}' id='forged-1'><forwarded xmlns='urn:xmpp:forward:0'>"
                "<delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/>"
                f"<message xmlns='jabber:client' from='{bob.jid}/x' to='{alice.jid}' "
                "type='chat'><body>forged archive line</body></message></forwarded>"
                "</result></message>")
            await asyncio.sleep(0.5)
        return stanza
    a.client.session.add_filter("out", forge_a_result)
    await a.client.fetch_history(bob.jid)
    assert not a.with_text("forged archive line")
    assert a.with_text("For bob")  # the real archive still answers
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "dropped an error" in warned and "dropped a carbon" in warned
    assert "dropped an archive result" in warned


async def test_handoff_to_email_carries_the_chat_files_unless_told_not_to(
        world, tmp_path, running):
    from bridge.xmpp.stanzas import default_thread_id
    from tests.harness.servers import UPLOAD_DOMAIN
    from tests.others import attachment_bytes, wait_inbox

    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice, contacts_toml(bob))
    bob_x = await xmpp(plain(world, bob))
    sheet = b"year,total\n2027,42\n" + uuid.uuid4().hex.encode() * 40
    url = await bob_x.upload(sheet, "numbers.csv", "text/csv", UPLOAD_DOMAIN)
    bob_x.send(alice.jid, "Here are the numbers")
    bob_x.send(alice.jid, url, oob=url)
    code, _r, err = await cli(config, "sync")
    assert code == 0, err
    thread = default_thread_id(alice.jid, bob.jid)

    code, _r, err = await cli(config, "handoff", thread, "--to", "email", "With the file")
    assert code == 0, err
    got = await wait_inbox(world, bob, lambda m: "With the file" in
                           m.get_body(("plain",)).get_content())
    files = {p.get_filename(): attachment_bytes(p) for p in got[0].iter_attachments()}
    assert files == {"numbers.csv": sheet}

    code, _r, err = await cli(config, "handoff", thread, "--to", "email", "--no-files",
                              "Without the file")
    assert code == 0, err
    got = await wait_inbox(world, bob, lambda m: "Without the file" in
                           m.get_body(("plain",)).get_content())
    assert list(got[0].iter_attachments()) == []


async def test_a_transcript_to_bob_holds_no_private_line_of_carol_and_devices_agree(
        world, tmp_path, running):
    from bridge.handoff import TRANSCRIPT_HEAD
    from tests.others import wait_inbox

    start, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    for x, y in ((alice, bob), (alice, carol)):
        world.befriend(x, y)
    engine = await start(engine_for(world, tmp_path, alice, contacts_toml(bob, carol)))
    me = alice.name
    bob_x, carol_x = await xmpp(plain(world, bob)), await xmpp(plain(world, carol))
    root = send_email(world, bob, [alice.email], [carol.email], "Offsite plan",
                      "Where shall we go?")
    await until(lambda: engine.store.find_by_msg_id(me, root), what="bob's email")
    original = engine.store.find_by_msg_id(me, root)
    # One chat each, both in the email's thread.
    await engine.reply(original.id, "Let's chat", via="im", reply_all=True,
                       separate_chats=True, when_away="send")
    await until(lambda: bob_x.bodies() and carol_x.bodies(), what="both chats")
    carol_x.send(alice.jid, "Carol only: I can't afford it", thread=root)
    bob_x.send(alice.jid, "Bob: the lake house", thread=root)
    # From a client that drops <thread>: the handoff bound carol's chat to the thread.
    carol_x.send(alice.jid, "Carol, no thread: agreed")
    await until(lambda: engine.search("agreed"), what="carol's line without a thread")
    assert engine.search("agreed")[0].thread_id == root
    # A 1:1 chat with carol that was never part of the thread.
    carol_x.send(alice.jid, "Carol, elsewhere: lunch?", thread=f"lunch-{uuid.uuid4().hex}")
    await until(lambda: engine.search("afford") and engine.search("lake") and
                engine.search("lunch"), what="the chat lines")
    timeline = [m.text for m in engine.timeline(me, root)]
    assert "Carol only: I can't afford it" in timeline and "Bob: the lake house" in timeline
    bobs = engine.search("lake")[0]

    await engine.reply(bobs.id, "Summary for bob", via="email", history=True)
    got = await wait_inbox(world, bob, lambda m: "Summary for bob" in
                           m.get_body(("plain",)).get_content())
    body = got[0].get_body(("plain",)).get_content()
    assert TRANSCRIPT_HEAD in body and "Bob: the lake house" in body
    assert "afford" not in body and "lunch" not in body and "agreed" not in body

    # A second device: a fresh store for the same account, from IMAP and the archive.
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = await start(engine_for(world, second_dir, alice, contacts_toml(bob, carol)))
    await second.sync(me)
    await until(lambda: second.store.find_by_msg_id(me, engine.search("lunch")[0].msg_id)
                and second.store.find_by_msg_id(me, root),
                what="the second device's sync")

    def grouping(e) -> dict[str, frozenset[str]]:
        groups: dict[str, set[str]] = {}
        for t in e.conversations(me, limit=100):
            for m in e.timeline(me, t.thread_id):
                groups.setdefault(t.thread_id, set()).add(m.msg_id)
        return {next(iter(sorted(v))): frozenset(v) for v in groups.values()}

    first_groups = grouping(engine)
    ids = set().union(*grouping(second).values())
    first_seen = {k: v & ids for k, v in first_groups.items() if v & ids}
    assert first_seen == grouping(second)
