"""The chat commands in a subprocess, with --json (and `list` without it), against
Prosody; the other side is a plain slixmpp client (tests/harness/plain_xmpp.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from xml.etree import ElementTree as ET

import pytest
from slixmpp.exceptions import IqError

from bridge.headless.outcome import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tests.harness.plain_xmpp import PlainXmpp
from tests.harness.servers import MUC_DOMAIN, REPO_ROOT
from tests.others import person, until
from tests.test_headless import cli, write_config
from tests.test_xmpp_chat import NS_CORRECT, NS_MUC_USER, NS_REACTIONS, NS_RETRACT, own_room

pytestmark = pytest.mark.servers
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_BOOKMARKS = "urn:xmpp:bookmarks:1"


def plain(world, who) -> PlainXmpp:
    return PlainXmpp(who.jid, who.password, "127.0.0.1", world.ports.c2s, str(world.ca_file))


async def test_correct_react_retract_from_the_command_line(world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    code, _sent, err = await cli(config, "send", "--to", bob.jid, "--via", "im",
                                 "Meet at the statoin")
    assert code == EXIT_OK, err
    code, hits, _ = await cli(config, "search", "statoin")
    [line] = hits
    code, fixed, err = await cli(config, "correct", str(line["id"]), "Meet at the station")
    assert code == EXIT_OK, err
    assert fixed["text"] == "Meet at the station" and fixed["edited"]
    await until(lambda: bob_x.with_child(NS_CORRECT, "replace"), what="the correction")

    code, reacted, err = await cli(config, "react", str(line["id"]), "👍")
    assert code == EXIT_OK, err
    assert reacted == {"id": line["id"], "reactions": ["👍"]}
    await until(lambda: bob_x.with_child(NS_REACTIONS, "reactions"), what="the reaction")
    code, shown, _ = await cli(config, "show", str(line["thread_id"]))
    assert shown["reactions"] == {str(line["id"]): [
        {"reactor": alice.jid, "emojis": ["👍"], "date": shown["reactions"][
            str(line["id"])][0]["date"]}]}
    assert [m["edited"] is not None for m in shown["messages"]] == [True]
    code, _usage, _ = await cli(config, "react", str(line["id"]))
    assert code == EXIT_USAGE
    # A reaction is one emoji (XEP-0444): words are refused in one line, nothing goes.
    sent = len(bob_x.with_child(NS_REACTIONS, "reactions"))
    for words in ("ok", "👍👍", ":)"):
        code, refused, _ = await cli(config, "react", str(line["id"]), words)
        assert code == EXIT_USAGE and "is not an emoji" in refused["error"], refused
        assert "\n" not in refused["error"]
    code, reacted, err = await cli(config, "react", str(line["id"]), "🇫🇷")
    assert code == EXIT_OK and reacted["reactions"] == ["👍", "🇫🇷"], err
    await until(lambda: len(bob_x.with_child(NS_REACTIONS, "reactions")) == sent + 1,
                what="the flag")

    bob_x.send(alice.jid, "Not yours to fix")
    code, _, _ = await cli(config, "sync")
    code, hits, _ = await cli(config, "search", "yours")
    code, refused, _ = await cli(config, "correct", str(hits[0]["id"]), "Mine now")
    assert code == EXIT_FAILED and "own" in refused["error"]

    code, gone, err = await cli(config, "retract", str(line["id"]))
    assert code == EXIT_OK, err
    assert gone["retracted"] and gone["text"] == ""
    await until(lambda: bob_x.with_child(NS_RETRACT, "retract"), what="the retraction")
    code, hits, _ = await cli(config, "search", "station")
    assert hits == []


async def test_rooms_roster_and_presence_from_the_command_line(world, tmp_path, running):
    _start, xmpp = running
    alice, bob, dave = person(world, "alice"), person(world, "bob"), person(world, "dave")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    room = f"den{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob", **{
        "muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "s3cret"})

    code, refused, _ = await cli(config, "join", room, "--nick", "Ally", "--password", "no")
    assert code == EXIT_FAILED and "not-authorized" in refused["error"]
    # The invitation waits on the server while alice is offline; any command of hers
    # that logs in keeps it, and accepting it uses the password it gave.
    bob_x.xmpp.plugin["xep_0045"].invite(room, alice.jid, "come in")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, joined, err = await cli(config, "invite", "accept", room, "--nick", "Ally")
    assert code == EXIT_OK, err
    roles = {o["nick"]: o["role"] for o in joined["occupants"]}
    assert roles == {"bob": "moderator", "Ally": "participant"}
    # The next command is back in the room (it was joined for good) and invites.
    code, invited, err = await cli(config, "invite", "send", room, dave.jid, "--reason", "hi")
    assert code == EXIT_OK and invited == {"room": room, "invited": dave.jid}, err
    code, left, err = await cli(config, "leave", room)
    assert code == EXIT_OK and left["left"], err
    await until(lambda: [p for p in bob_x.presences if p.get("from") == f"{room}/Ally"
                         and p.get("type") == "unavailable"], what="alice leaves")

    code, declined, err = await cli(config, "invite", "decline", room, f"{room}/bob")
    assert code == EXIT_OK and declined == {"room": room, "declined": f"{room}/bob"}, err
    await until(lambda: [m for m in bob_x.stanzas if m.find(
        f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}decline") is not None], what="the decline")

    code, item, err = await cli(config, "roster", "add", dave.jid, "--name", "Dave",
                                "--group", "Work")
    assert code == EXIT_OK, err
    assert (item["jid"], item["name"], item["groups"]) == (dave.jid, "Dave", ["Work"])
    code, items, _ = await cli(config, "roster", "list")
    assert {i["jid"] for i in items} == {bob.jid, dave.jid}
    code, _, err = await cli(config, "roster", "approve", bob.jid)
    assert code == EXIT_OK, err
    code, _, err = await cli(config, "roster", "remove", dave.jid)
    assert code == EXIT_OK, err
    code, items, _ = await cli(config, "roster", "list")
    assert {i["jid"] for i in items} == {bob.jid}
    code, refused, _ = await cli(config, "roster", "remove", dave.jid)
    assert code == EXIT_FAILED

    # No client of alice's runs to set it on (tests/test_xmpp_presence_commands.py).
    code, shown, err = await cli(config, "presence", "set", "away", "at lunch", "--wait", "0.5")
    assert code == EXIT_FAILED and shown["set"] is False, err
    code, _, _ = await cli(config, "presence", "set", "sleepy")
    assert code == EXIT_USAGE


async def test_bookmarks_from_the_command_line(world, tmp_path, running):
    """The rooms kept in PEP (XEP-0402): what the command line adds, changes and
    removes, another client of alice's (plain slixmpp) reads from the server."""
    _start, xmpp = running
    alice = person(world, "alice")
    config = write_config(world, tmp_path, alice)
    other = await xmpp(plain(world, alice))
    room = f"kept{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"

    async def on_server() -> dict[str, ET.Element]:
        iq = other.xmpp.make_iq_get(ito=alice.jid)
        pubsub = ET.SubElement(iq.xml, f"{{{NS_PUBSUB}}}pubsub")
        ET.SubElement(pubsub, f"{{{NS_PUBSUB}}}items", node=NS_BOOKMARKS)
        try:
            answer = await iq.send(timeout=10)
        except IqError as exc:
            assert exc.condition == "item-not-found"
            return {}
        return {item.get("id"): item.find(f"{{{NS_BOOKMARKS}}}conference")
                for item in answer.xml.iter(f"{{{NS_PUBSUB}}}item")}

    code, marks, err = await cli(config, "bookmarks")
    assert code == EXIT_OK and marks == [], err
    code, mark, err = await cli(config, "bookmark", "add", room, "--nick", "Ally",
                                "--name", "The den")
    assert code == EXIT_OK, err
    assert mark == {"room": room, "name": "The den", "nick": "Ally", "autojoin": True,
                    "password": False}
    kept = (await on_server())[room]
    assert kept.get("name") == "The den" and kept.get("autojoin") in ("true", "1")
    assert kept.findtext(f"{{{NS_BOOKMARKS}}}nick") == "Ally"
    # Changed: no longer joined at login; the name and nick it had stay.
    code, mark, err = await cli(config, "bookmark", "add", room, "--no-autojoin")
    assert code == EXIT_OK and (mark["autojoin"], mark["nick"], mark["name"]) == (
        False, "Ally", "The den"), err
    kept = (await on_server())[room]
    assert kept.get("autojoin") in (None, "false", "0")
    code, marks, err = await cli(config, "bookmarks")
    assert code == EXIT_OK and [m["room"] for m in marks] == [room], err

    code, gone, err = await cli(config, "bookmark", "remove", room)
    assert code == EXIT_OK and gone == {"room": room, "removed": True}, err
    assert room not in await on_server()
    code, marks, _ = await cli(config, "bookmarks")
    assert marks == []
    code, _usage, _ = await cli(config, "bookmark", "add", "not-a-room")
    assert code == EXIT_USAGE
    code, _usage, _ = await cli(config, "bookmark", "rename", room)
    assert code == EXIT_USAGE


async def test_quote_answers_a_line_from_the_command_line(world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    asked = bob_x.send(alice.jid, "Lunch at noon?")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, _ = await cli(config, "search", "noon")
    [line] = hits
    code, sent, err = await cli(config, "quote", str(line["id"]), "Noon is fine")
    assert code == EXIT_OK, err
    assert sent["text"] == "Noon is fine" and sent["delivery"] in ("sent", "delivered")
    assert sent["in_reply_to"] == line["msg_id"]
    await until(lambda: [m for m in bob_x.stanzas
                         if m.find("{urn:xmpp:reply:0}reply") is not None], what="the reply")
    got = next(m for m in bob_x.stanzas if m.find("{urn:xmpp:reply:0}reply") is not None)
    assert got.find("{urn:xmpp:reply:0}reply").get("id") == asked
    assert got.findtext("{jabber:client}body") == "> Lunch at noon?\nNoon is fine"
    code, _usage, _ = await cli(config, "quote", str(line["id"]), " ")
    assert code == EXIT_USAGE


async def test_a_room_from_the_command_line_is_named_and_written_to(world, tmp_path, running):
    """`send --via im --to ROOM` writes to a room where nobody spoke yet (the line
    type=groupchat, to everyone there), and `list` names its conversation after
    the room (its name from disco#info), with who said its last line."""
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    tag = uuid.uuid4().hex[:6]
    room, name = f"hall{tag}@{MUC_DOMAIN}", f"The hall {tag}"
    await own_room(bob_x, room, "bob", **{"muc#roomconfig_roomname": name})
    code, _, err = await cli(config, "join", room)
    assert code == EXIT_OK, err
    code, sent, err = await cli(config, "send", "--via", "im", "--to", room, "First in the hall")
    assert code == EXIT_OK, (sent, err)
    await until(lambda: [r for r in bob_x.received if r.body == "First in the hall"],
                what="alice's line in the room")
    got = next(r for r in bob_x.received if r.body == "First in the hall")
    assert got.mtype == "groupchat" and got.sender.startswith(f"{room}/"), got
    bob_x.send(room, "Welcome", groupchat=True)
    code, rows, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, rows, err = await cli(config, "list")
    assert code == EXIT_OK, (rows, err)
    found = [r for r in rows if r["room"] == room]
    assert len(found) == 1 and found[0]["room_name"] == name, rows
    assert found[0]["snippet"] in ("First in the hall", "Welcome"), found
    # Said as a room's, not as whoever spoke last.
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "tuiclient", "--config", str(config), "list"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    line = next(x for x in done.stdout.splitlines() if found[0]["snippet"] in x)
    assert name in line and f"{room}/" not in line, done.stdout
