"""Voice in a moderated room (XEP-0045 §7.13 asked, §8.6 granted by a moderator's
form) and registering a nick with a room (§7.10), in the app against the real
Prosody, with plain slixmpp on the other side: bob owns a moderated room; alice
joins it as a visitor, asks for voice with `/voice`, and bob's client grants it
with the room's form; bob makes alice a moderator, carol (slixmpp's own
request_voice) asks, alice's app prompts, d denies and a grants. `/claim nick`
(registering it) is refused with a sentence until alice is a member, then
reserves her nick: carol cannot take it."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.harness.servers import MUC_DOMAIN
from tests.others import person
from tests.test_app import alice_app, notes, pilot_until
from tests.test_app_chat import asked, command, status
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import NS_MUC_USER, own_room

pytestmark = pytest.mark.servers
NS_DATA = "jabber:x:data"
MUC_REQUEST = "http://jabber.org/protocol/muc#request"


def role(engine, account: str, room: str, nick: str) -> str | None:
    return next((o.role for o in engine.occupants(account, room) if o.nick == nick), None)


def voice_forms(x) -> list:
    return [m for m in x.stanzas if any(
        (f.findtext(f"{{{NS_DATA}}}value") or "") == MUC_REQUEST
        for f in m.findall(f"{{{NS_DATA}}}x/{{{NS_DATA}}}field"))]


def own_role(x, room: str, nick: str) -> str | None:
    """The role the room last gave `x` under `nick` (from its own presences)."""
    seen = None
    for p in x.presences:
        if p.get("from") == f"{room}/{nick}" and p.get("type") is None:
            item = p.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}item")
            if item is not None:
                seen = item.get("role")
    return seen


async def test_voice_asked_granted_and_a_nick_registered(world, tmp_path, running):
    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    carol_x = await xmpp(plain(world, carol))
    room = f"stage{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob", **{"muc#roomconfig_moderatedroom": "1",
                                          "muc#roomconfig_whois": "anyone"})
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "available", 30)
        await command(pilot, app, f"/join {room} Ally")
        assert await pilot_until(pilot, lambda: role(engine, alice.name, room, "Ally")
                                 == "visitor"), status(app)

        # A visitor asks; the room hands bob (moderator) its form; bob's client grants.
        await command(pilot, app, "/voice")
        assert await pilot_until(pilot, lambda: voice_forms(bob_x)), status(app)
        asked_for = voice_forms(bob_x)[-1]
        fields = {f.get("var"): f.findtext(f"{{{NS_DATA}}}value") for f in
                  asked_for.findall(f"{{{NS_DATA}}}x/{{{NS_DATA}}}field")}
        assert fields["muc#roomnick"] == "Ally"
        form = bob_x.xmpp.plugin["xep_0004"].make_form(ftype="submit")
        for var, value in (("FORM_TYPE", MUC_REQUEST), ("muc#role", "participant"),
                           ("muc#jid", fields["muc#jid"]), ("muc#roomnick", "Ally"),
                           ("muc#request_allow", "true")):
            form.add_field(var=var, value=value)
        grant = bob_x.xmpp.make_message(mto=room)
        grant.append(form)
        grant.send()
        assert await pilot_until(pilot, lambda: role(engine, alice.name, room, "Ally")
                                 == "participant")

        # Registration: refused with a sentence while alice is no member...
        await command(pilot, app, "/claim Ally")
        assert await pilot_until(pilot, lambda: "registers only its members' nicks"
                                 in status(app)), status(app)
        await bob_x.xmpp.plugin["xep_0045"].set_affiliation(room, "member", jid=alice.jid)
        await command(pilot, app, "/claim Alicia")
        assert await pilot_until(pilot, lambda: "Alicia is registered as yours"
                                 in status(app)), status(app)

        # bob makes alice a moderator; carol, a visitor, asks her for voice.
        await bob_x.xmpp.plugin["xep_0045"].set_role(room, "Ally", "moderator")
        assert await pilot_until(pilot, lambda: role(engine, alice.name, room, "Ally")
                                 == "moderator")
        await carol_x.xmpp.plugin["xep_0045"].join_muc_wait(room, "carol", maxstanzas=0)
        assert own_role(carol_x, room, "carol") == "visitor"
        carol_x.xmpp.plugin["xep_0045"].request_voice(room, "participant")
        assert await pilot_until(pilot, lambda: asked(app, "voice"))
        assert "carol" in str(app.screen.query_one("#ask-body").render())
        await pilot.press("d")
        assert await pilot_until(pilot, lambda: f"carol may not speak in {room}" in notes(app))
        await asyncio.sleep(1)
        assert own_role(carol_x, room, "carol") == "visitor"
        carol_x.xmpp.plugin["xep_0045"].request_voice(room, "participant")
        assert await pilot_until(pilot, lambda: asked(app, "voice"))
        await pilot.press("a")
        assert await pilot_until(pilot, lambda: own_role(carol_x, room, "carol")
                                 == "participant")

        # alice's registered nick (not the one she uses) is hers: carol cannot take it.
        carol_x.xmpp.send_presence(pto=f"{room}/Alicia")
        assert await pilot_until(pilot, lambda: [
            p for p in carol_x.presences if p.get("from") == f"{room}/Alicia"
            and p.get("type") == "error"
            and p.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}conflict")
            is not None])
