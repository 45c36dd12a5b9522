"""OMEMO through the engine's door and the command line (issue 23), against the
real Prosody, with a plain slixmpp-omemo peer (tests/omemo_peer.py) on the other
side: `send --via im --encrypt` goes sealed, through the outbox; a peer without
OMEMO is refused up front, exit 9, nothing sent; /omemo on makes every line of
the chat go encrypted; lines that came while we were away are opened from the
archive; `keys list` shows the devices beside the OpenPGP keys, and `keys verify`
marks one verified.
"""

from __future__ import annotations

import asyncio

import pytest

from bridge.crypto.status import BLIND, VERIFIED
from bridge.engine import Engine
from bridge.errors import EncryptionRefused
from bridge.headless.outcome import EXIT_ENCRYPTION, EXIT_OK
from bridge.model import Direction, Message
from tests.omemo_peer import peers
from tests.others import contacts_toml, engine_for, person, until
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers
__all__ = ["peers"]  # the fixture, used by name


def _lines(engine: Engine, account: str, text: str) -> list[Message]:
    return [m for t in engine.store.list_threads(account, limit=100)
            for m in engine.store.thread_messages(t.thread_id, account) if m.text == text]


async def _ready(engine: Engine, account: str) -> None:
    """Our keys made and published (slixmpp-omemo does it after login)."""
    assert any(d.this_device for d in await engine.omemo_devices()), account


async def test_send_encrypt_by_chat_goes_sealed_and_the_archive_is_opened(
        world, tmp_path, peers, running) -> None:
    start, _ = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    engine = await start(engine_for(world, tmp_path, alice, contacts_toml(bob)))
    await _ready(engine, alice.name)

    result = await engine.send_message(alice.name, [bob.jid], "The ledger is in the safe.",
                                       via="im", encrypt=True)
    assert result.outbox and not result.deferred
    await until(lambda: "The ledger is in the safe." in peer.bodies(alice.jid), 30,
                "bob opens it")
    assert "ledger" not in peer.raw()
    (ours,) = _lines(engine, alice.name, "The ledger is in the safe.")
    assert ours.crypto is not None and ours.crypto.omemo
    row = engine.store.outbox_get(result.outbox[0])
    assert row.payload["protection"]["omemo"] is True

    # bob answers while we are away; the next session opens it from the archive.
    await engine.stop()
    await peer.send_encrypted(alice.jid, "Got it, burning the note.")
    await asyncio.sleep(0.5)
    again = await start(engine_for(world, tmp_path, alice, contacts_toml(bob)))
    await until(lambda: _lines(again, alice.name, "Got it, burning the note."), 30,
                "bob's line from the archive")
    (theirs,) = _lines(again, alice.name, "Got it, burning the note.")
    assert theirs.direction is Direction.IN and theirs.crypto is not None
    assert theirs.crypto.decrypted and theirs.crypto.trust == BLIND
    # Sealed words stay out of the search index ([crypto] index_decrypted is off),
    # ours and theirs; a line in clear is found.
    assert again.store.search("burning") == [] and again.store.search("ledger") == []

    # The conversation is encrypted now (its last line was): a plain reply goes
    # sealed too, without asking.
    await again.reply(theirs.id, "Good.", via="im")
    await until(lambda: "Good." in peer.bodies(alice.jid), 30, "the reply opened")
    assert "Good." not in [b for b in peer.bodies(alice.jid, encrypted=False)]


async def test_no_device_is_refused_up_front_and_nothing_is_sent(
        world, tmp_path, peers, running) -> None:
    start, _ = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob, omemo=False).start()
    engine = await start(engine_for(world, tmp_path, alice, contacts_toml(bob)))
    await _ready(engine, alice.name)
    with pytest.raises(EncryptionRefused) as refused:
        await engine.send_message(alice.name, [bob.jid], "Not for the server.", via="im",
                                  encrypt=True)
    assert bob.jid in str(refused.value) and "no OMEMO device" in str(refused.value)
    assert not engine.store.outbox_items()
    # /omemo on for bob: every line refused the same way, never in clear.
    engine.omemo_prefer(bob.jid, True)
    with pytest.raises(EncryptionRefused) as refused:
        await engine.send_message(alice.name, [bob.jid], "Nor this.", via="im")
    assert "/omemo on" in str(refused.value)
    engine.omemo_prefer(bob.jid, False)
    await engine.send_message(alice.name, [bob.jid], "This one in clear, as chosen.",
                              via="im")
    await asyncio.sleep(1.0)
    raw = peer.raw()
    assert "This one in clear" in raw
    assert "Not for the server" not in raw and "Nor this" not in raw


async def test_headless_send_exit_9_and_keys_list_and_verify(world, tmp_path, peers) -> None:
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    world.befriend(alice, bob)
    world.befriend(alice, carol)
    peer = await peers(bob).start()
    await peers(carol, omemo=False).start()
    config = write_config(world, tmp_path, alice, contacts_toml(bob))

    code, result, err = await cli(config, "send", "--via", "im", "--encrypt", "--to",
                                  carol.jid, "Carol cannot read this.")
    assert code == EXIT_ENCRYPTION, (code, result, err)
    assert carol.jid in str(result) and "OMEMO" in str(result), result

    code, result, err = await cli(config, "send", "--via", "im", "--encrypt", "--to",
                                  bob.jid, "Bob can.")
    assert code == EXIT_OK, err
    await until(lambda: "Bob can." in peer.bodies(alice.jid), 30, "bob opens it")

    code, listed, err = await cli(config, "keys", "list")
    assert code == EXIT_OK, err
    devices = [d for row in listed for d in row["omemo"]]
    ours = [d for d in devices if d["this_device"]]
    assert len(ours) == 1 and ours[0]["jid"] == alice.jid
    bobs = [d for d in devices if d["jid"] == bob.jid]
    assert len(bobs) == 1 and bobs[0]["trust"] == BLIND
    assert len(bobs[0]["fingerprint"].split()) == 8
    # bob's row is his contact's: his JID, his devices (no OpenPGP key here).
    (row,) = [r for r in listed if bob.jid in r["jids"]]
    assert row["omemo"] == bobs

    device = str(bobs[0]["device_id"])
    code, done, err = await cli(config, "keys", "verify", bob.jid, device)
    assert code == EXIT_OK, err
    assert done["trust"] == VERIFIED and done["device_id"] == bobs[0]["device_id"]
    code, listed, err = await cli(config, "keys", "list")
    assert [d["trust"] for r in listed for d in r["omemo"] if d["jid"] == bob.jid] == \
        [VERIFIED]
    code, _none, err = await cli(config, "keys", "verify", bob.jid, "12345")
    assert code == 1 and "no OMEMO device" in str(_none), _none

    # bob writes while no process of ours runs: `sync` opens it from the archive
    # before it returns, and `show --json` says how it came.
    await peer.send_encrypted(alice.jid, "Written while you were away.")
    await asyncio.sleep(0.5)
    code, _done, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, threads, err = await cli(config, "list")
    shown = []
    for t in threads:
        code, one, err = await cli(config, "show", t["thread_id"])
        shown += one["messages"]
    (line,) = [m for m in shown if m["text"] == "Written while you were away."]
    assert line["crypto"]["scheme"] == "omemo" and line["crypto"]["decrypted"] is True
    assert line["crypto"]["trust"] == VERIFIED  # the device alice verified above
    assert not [m for m in shown if "OMEMO encrypted" in m["text"]]


async def test_the_keys_screen_lists_devices_beside_the_keys_and_the_line_has_a_lock(
        world, tmp_path, peers) -> None:
    """K: bob's OMEMO device under his contact, ours as "this device"; his
    encrypted line carries the lock in the conversation."""
    from bridge.config import load_config
    from tests.test_app import pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.keys import DevicesTable, KeysScreen
    from tuiclient.screens.main import MainScreen
    from tuiclient.widgets.timeline import lock_mark

    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    app = TuiClientApp(load_config(write_config(world, tmp_path, alice, contacts_toml(bob))),
                       probe_on_start=False)
    async with app.run_test(size=(160, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 30)
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.chat_online(alice.name), 30)
        await _ready(engine, alice.name)
        await peer.send_encrypted(alice.jid, "Are you there?")
        assert await pilot_until(pilot, lambda: _lines(engine, alice.name,
                                                       "Are you there?"), 30)
        (line,) = _lines(engine, alice.name, "Are you there?")
        assert str(lock_mark(line)) == "🔒"
        await pilot.press("K")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, KeysScreen))
        screen = app.screen
        assert await pilot_until(pilot, lambda: len(screen.devices) >= 2, 30)
        table = screen.query_one(DevicesTable)
        cells = [" | ".join(str(c) for c in table.get_row_at(i))
                 for i in range(len(screen.devices))]
        assert cells[0].startswith("this device") and alice.jid in cells[0]
        (his,) = [c for c in cells if bob.jid in c]
        assert "blindly trusted" in his and len(his.split(" | ")[3].split()) == 8


async def test_omemo_on_and_off_from_the_chat_input(world, tmp_path, peers) -> None:
    """In the app: bob's sealed line shows a lock; `/omemo on` seals alice's next
    line, ctrl+g turns it off again and the next one goes in clear."""
    from tests.test_app import alice_app, go_to_row, listing, pilot_until
    from tests.test_app_chat import command, drawn, status
    from tuiclient.widgets.conversation import ChatReply

    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.chat_online(alice.name), 30)
        await _ready(engine, alice.name)
        await peer.send_encrypted(alice.jid, "Sealed, as always.")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Sealed, as always."
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Sealed, as always.")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Sealed, as always." in x
                                                    for x in drawn(app)))
        assert "🔒" in next(x for x in drawn(app) if "Sealed, as always." in x)

        await command(pilot, app, "/omemo on")
        assert await pilot_until(pilot, lambda: "OMEMO on" in status(app)), status(app)
        assert engine.omemo_preference(bob.jid) == "encrypt"
        await command(pilot, app, "Answered under seal.")
        assert await pilot_until(pilot, lambda: "Answered under seal." in
                                 peer.bodies(alice.jid), 30)
        assert "under seal" not in peer.raw()

        app.screen.query_one(ChatReply).focus()
        await pilot.press("ctrl+g")
        assert await pilot_until(pilot, lambda: "OMEMO off" in status(app)), status(app)
        await command(pilot, app, "And this one in clear.")
        assert await pilot_until(pilot, lambda: "And this one in clear." in
                                 peer.bodies(alice.jid, encrypted=False), 30)


async def test_a_file_in_an_encrypted_chat_goes_sealed(world, tmp_path, peers,
                                                       running) -> None:
    """A sealed chat send with a file (XEP-0454): the text and the file go, both
    sealed, through the outbox; bob opens the line and the file; nothing of
    either is on the wire in clear. (It was refused before files were sealed.)"""
    from bridge.model import DeliveryState

    start, _ = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    peer = await peers(bob).start()
    engine = await start(engine_for(world, tmp_path, alice, contacts_toml(bob)))
    await _ready(engine, alice.name)
    plan = tmp_path / "plan.txt"
    plan.write_text("the floor plan")
    result = await engine.send_message(alice.name, [bob.jid], "The plan, attached.",
                                       via="im", encrypt=True, attachments=[plan])
    (outbox_id,) = result.outbox
    await until(lambda: "The plan, attached." in peer.bodies(alice.jid), 30, "the text")
    await until(lambda: any(b.startswith("aesgcm://") for b in peer.bodies(alice.jid)), 30,
                "the file's line")
    (link,) = [b for b in peer.bodies(alice.jid) if b.startswith("aesgcm://")]
    assert await peer.fetch_sealed(link) == b"the floor plan"
    await until(lambda: engine.store.outbox_get(outbox_id).state in (
        DeliveryState.SENT, DeliveryState.DELIVERED), 30, "the row sent")
    assert "The plan" not in peer.raw() and "floor plan" not in peer.raw()
    assert "aesgcm" not in peer.raw()


def test_sealed_lines_are_indexed_only_when_the_config_allows(tmp_path) -> None:
    """The store's side of the rule above: with [crypto] index_decrypted (which the
    engine hands the store as `index_sealed`) the words of an OMEMO line are found,
    without it they are not; a line in clear always is."""
    import time

    from bridge.crypto.status import CryptoStatus
    from bridge.model import Party, Transport
    from bridge.store import Store

    def line(n: int, text: str, sealed: bool) -> Message:
        return Message(account="a", msg_id=f"m{n}", transport=Transport.XMPP,
                       direction=Direction.IN, thread_id="t", date=time.time() + n,
                       sender=Party("bob@example.test", "Bob"), subject="", text=text,
                       crypto=CryptoStatus(encrypted=True, decrypted=True, scheme="omemo")
                       if sealed else None)

    for allowed in (False, True):
        store = Store.open(tmp_path / f"store-{allowed}.sqlite")
        store.index_sealed = allowed
        store.insert_messages([line(1, "the ledger is in the safe", True),
                               line(2, "lunch at noon", False)])
        found = [m.text for m in store.search("ledger")]
        assert found == (["the ledger is in the safe"] if allowed else [])
        assert [m.text for m in store.search("lunch")] == ["lunch at noon"]
        store.close()
