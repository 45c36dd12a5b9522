"""Nothing is ever sent in clear silently (issue 23): the outbox's fallbacks, the
rules daemon and a carried history keep what was to be encrypted encrypted, or
refuse, naming who. gpg is the other side; Dovecot, the SMTP server and Prosody
are the real servers in between.

(a) a chat line in an encrypted conversation (its last email was), deferred while
    bob is offline, goes by email PGP/MIME-encrypted: gpg decrypts it, nothing of
    it is in clear in bob's mailbox, and it was never copied to the Deferred
    folder in clear;
(b) without bob's key, "by email instead" is refused naming him (exit 9
    headless), the row stays deferred with its text, and only `--no-encrypt`
    sends it in clear; the maximum age's automatic email fallback waits too;
(c) the rules daemon answers an encrypted email encrypted, and without the key
    does not answer at all (logged with the reason);
(d) with index_decrypted, a reply in clear carrying history is refused;
(e) the rule that decides, and the per-contact preferences, as units.
"""

from __future__ import annotations

import dataclasses
import email
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.crypto import outgoing
from bridge.crypto.preferences import Preferences
from bridge.engine import Engine
from bridge.errors import EncryptionRefused
from bridge.events import DeferralRetry, Event
from bridge.model import DeliveryState
from bridge.store import Store
from bridge.xmpp.availability import Availability
from tests.gpg_peer import Keyring, pgp_mime_encrypted
from tests.harness.servers import World
from tests.others import contacts_toml, person, until
from tests.swaks import swaks
from tests.test_crypto_mail import raw_mail
from tests.test_daemon import Daemon
from tests.test_deferral import deferred_folder
from tests.test_headless import cli, write_config


class Pair:
    """alice (us) and bob, each with a keyring; bob's key in ours only if `trusting`."""

    def __init__(self, world: World, tmp: Path, trusting: bool = True) -> None:
        self.world = world
        self.me, self.peer = person(world, "alice"), person(world, "bob")
        world.befriend(self.me, self.peer)
        self.mine, self.theirs = Keyring(tmp / "gpg-me"), Keyring(tmp / "gpg-peer")
        self.mine.make_key(f"Alice <{self.me.email}>")
        self.theirs.make_key(f"Bob <{self.peer.email}>")
        self.theirs.import_key(self.mine.export(self.me.email))
        if trusting:
            self.mine.import_key(self.theirs.export(self.peer.email))
        self.tmp = tmp

    def extra(self, more: str = "") -> str:
        return (contacts_toml(self.peer) + f'\n[crypto]\ngnupg_home = "{self.mine.home}"\n'
                + more)

    def config(self, more: str = "") -> Path:
        return write_config(self.world, self.tmp, self.me, self.extra(more))

    def engine(self, more: str = "") -> Engine:
        return Engine(load_config(self.config(more)), Store.open(self.tmp / "data" / "s.db"))

    def encrypted_mail(self, words: str, subject: str = "Our plans",
                       msg_id: str = "plans-1@example.net") -> None:
        headers = (f"From: Bob <{self.peer.email}>\r\nTo: <{self.me.email}>\r\n"
                   f"Date: {formatdate()}\r\nMessage-ID: <{msg_id}>\r\n")
        raw = pgp_mime_encrypted(self.theirs, self.peer.email, self.me.email, headers,
                                 words, subject)
        path = self.tmp / f"{msg_id}.eml"
        path.write_bytes(raw)
        swaks(self.world, self.peer, self.me.email, "--data", str(path), subject="...")

    def decrypt(self, wire: bytes) -> bytes:
        outer = email.message_from_bytes(wire)
        assert outer.get_content_type() == "multipart/encrypted", outer.get_content_type()
        done = self.theirs.run("--decrypt", data=outer.get_payload()[1].get_payload(
            decode=True))
        return done.stdout

    def close(self) -> None:
        self.mine.close()
        self.theirs.close()


@pytest.fixture
def pair(world: World, tmp_path: Path) -> Iterator[Pair]:
    p = Pair(world, tmp_path)
    yield p
    p.close()


@pytest.fixture
def keyless(world: World, tmp_path: Path) -> Iterator[Pair]:
    p = Pair(world, tmp_path, trusting=False)
    yield p
    p.close()


async def _deferred_reply(engine: Engine, p: Pair, text: str) -> tuple[int, int]:
    """bob's encrypted email answered by chat while he is offline: deferred."""
    await until(lambda: engine.availability(p.me.name, p.peer.jid).availability
                is Availability.OFFLINE, what="bob offline")
    await until(lambda: engine.store.find_by_msg_id(p.me.name, "plans-1@example.net"), 30,
                "bob's encrypted email")
    original = engine.store.find_by_msg_id(p.me.name, "plans-1@example.net")
    result = await engine.reply(original.id, text, via="im", when_away="defer")
    assert result.deferred and len(result.outbox) == 1
    return original.id, result.outbox[0]


@pytest.mark.servers
async def test_a_deferred_line_of_an_encrypted_conversation_goes_by_email_encrypted(
        world, pair, running) -> None:
    start, _xmpp = running
    pair.encrypted_mail("The secret word is xylophone.")
    engine = await start(pair.engine())
    _row, outbox_id = await _deferred_reply(engine, pair, "Meet me at the pier.")
    item = engine.store.outbox_get(outbox_id)
    assert item.payload["protection"]["encrypt"] is True
    assert "conversation is encrypted" in item.payload["protection"]["why"]
    # Its text never sat on the server in clear, in the Deferred folder.
    assert item.msg_id not in deferred_folder(world, pair.me)
    assert any(h.event == "kept here" for h in engine.store.outbox_history(outbox_id))

    msg_id = await engine.outbox_email(outbox_id)
    await until(lambda: raw_mail(world, pair.peer), 20, "bob's copy")
    (wire,) = raw_mail(world, pair.peer)
    assert b"pier" not in wire
    assert email.message_from_bytes(wire)["Message-ID"].strip("<> ") == msg_id
    assert b"Meet me at the pier." in pair.decrypt(wire)
    assert engine.store.outbox_get(outbox_id).state is DeliveryState.FELL_BACK_TO_EMAIL


@pytest.mark.servers
async def test_without_a_key_by_email_instead_is_refused_and_the_row_kept(
        world, keyless, running) -> None:
    p = keyless
    start, _xmpp = running
    p.encrypted_mail("The secret word is xylophone.")
    policy = '\n[deferral]\nfirst_retry = "0.2s"\nceiling = "0.2s"\n'
    engine = await start(p.engine(policy))
    events: list[Event] = []
    engine.events.subscribe(events.append)
    _row, outbox_id = await _deferred_reply(engine, p, "Meet me at the pier.")
    with pytest.raises(EncryptionRefused) as refused:
        await engine.outbox_email(outbox_id)
    assert refused.value.missing == [p.peer.email]
    assert "conversation is encrypted" in str(refused.value)
    item = engine.store.outbox_get(outbox_id)
    assert item.state is DeliveryState.DEFERRED
    assert any(h.event == "not sent by email" and p.peer.email in h.detail
               for h in engine.store.outbox_history(outbox_id))
    # The log says what happened, in no front end's words (the app shows it too):
    # what to do is the refusal's hint, said by whoever acts on it.
    assert not [h.detail for h in engine.store.outbox_history(outbox_id)
                if h.event == "not sent by email" and ("--" in h.detail or "`" in h.detail)]
    assert raw_mail(world, p.peer) == []

    # The maximum age's email fallback does not send it in clear either: it asks.
    engine.outbox.policy = dataclasses.replace(engine.outbox.policy, max_age=0.5,
                                               on_max_age="email")
    await until(lambda: any(isinstance(e, DeferralRetry) and "cannot encrypt to" in e.outcome
                            for e in events), 20, "the refusal told as a question")
    assert engine.store.outbox_get(outbox_id).state is DeliveryState.DEFERRED
    assert raw_mail(world, p.peer) == []


@pytest.mark.servers
async def test_headless_by_email_instead_exits_9_and_no_encrypt_sends_in_clear(
        world, keyless) -> None:
    p = keyless
    p.encrypted_mail("The secret word is xylophone.")
    config = p.config()
    code, _, err = await cli(config, "sync")
    assert code == 0, err
    code, threads, err = await cli(config, "list")
    thread = threads[0]["thread_id"]
    code, shown, err = await cli(config, "show", thread)
    row = shown["messages"][0]["id"]
    code, result, err = await cli(config, "reply", str(row), "--via", "im", "--when-away",
                                  "defer", "Meet me at the pier.")
    assert code == 6, (result, err)  # deferred: bob is offline
    code, rows, err = await cli(config, "outbox", "list")
    (row_item,) = rows
    code, result, err = await cli(config, "outbox", "email", str(row_item["id"]))
    assert code == 9, (result, err)
    assert result["detail"]["missing"] == [p.peer.email]
    assert p.peer.email in result["error"] and "--no-encrypt" in result["error"]
    code, rows, err = await cli(config, "outbox", "list")
    assert [r["state"] for r in rows] == ["deferred"]
    assert raw_mail(world, p.peer) == []
    code, result, err = await cli(config, "outbox", "email", str(row_item["id"]),
                                  "--no-encrypt")
    assert code == 0, (result, err)
    await until(lambda: raw_mail(world, p.peer), 20, "bob's copy")
    assert b"Meet me at the pier." in raw_mail(world, p.peer)[0]


@pytest.fixture
def running_daemons() -> Iterator[list[Daemon]]:
    made: list[Daemon] = []
    yield made
    for d in made:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


RULES = """
[[rules]]
name = "acknowledge"
[rules.match]
transport = "email"
[rules.action]
reply = "auto"
text = "Got your note: $snippet"
"""


@pytest.mark.servers
async def test_the_daemon_answers_an_encrypted_email_encrypted(
        world, pair, running_daemons) -> None:
    d = Daemon(world, pair.tmp, pair.me, RULES, pair.extra())
    running_daemons.append(d.start())
    await d.started()
    pair.encrypted_mail("The secret word is xylophone.")
    await until(lambda: d.actions("replied") or d.actions("not sent")
                or d.actions("failed"), 60, "the daemon's answer")
    assert d.actions("replied"), d.lines
    await until(lambda: raw_mail(world, pair.peer), 30, "bob's answer")
    (wire,) = raw_mail(world, pair.peer)
    assert b"xylophone" not in wire and b"Got your note" not in wire
    inner = pair.decrypt(wire)
    assert b"Got your note" in inner and b"xylophone" in inner
    assert await d.stop() == 0


@pytest.mark.servers
async def test_the_daemon_does_not_answer_in_clear_without_the_key(
        world, keyless, running_daemons) -> None:
    p = keyless
    d = Daemon(world, p.tmp, p.me, RULES, p.extra())
    running_daemons.append(d.start())
    await d.started()
    p.encrypted_mail("The secret word is xylophone.")
    await until(lambda: d.actions("not sent") or d.actions("replied"), 60, "the daemon")
    (refused,) = d.actions("not sent")
    assert p.peer.email in refused["reason"] and "cannot encrypt" in refused["reason"]
    assert await d.stop() == 0
    assert raw_mail(world, p.peer) == []


@pytest.mark.servers
async def test_decrypted_history_is_not_carried_in_clear(world, pair) -> None:
    pair.encrypted_mail("The secret word is xylophone.")
    config = pair.config("index_decrypted = true\n")
    code, _, err = await cli(config, "sync")
    code, threads, err = await cli(config, "list")
    thread = threads[0]["thread_id"]
    code, shown, err = await cli(config, "show", thread)  # opened: indexed, as allowed
    row = shown["messages"][0]["id"]
    code, result, err = await cli(config, "reply", str(row), "--via", "email",
                                  "--no-encrypt", "--history", "Agreed.")
    assert code == 9, (result, err)
    assert "history" in result["error"]
    assert raw_mail(world, pair.peer) == []
    # Unasked, a reply in an encrypted conversation is encrypted: it may carry it.
    code, result, err = await cli(config, "reply", str(row), "--via", "email", "--history",
                                  "Agreed.")
    assert code == 0, (result, err)
    await until(lambda: raw_mail(world, pair.peer), 20, "bob's copy")
    (wire,) = raw_mail(world, pair.peer)
    assert b"xylophone" not in wire and b"xylophone" in pair.decrypt(wire)


def test_the_rule_that_decides_what_a_send_must_be() -> None:
    default = outgoing.Protection()
    required = outgoing.required
    assert not required(None, default, conversation_encrypted=False).encrypt
    conv = required(None, default, conversation_encrypted=True)
    assert conv.encrypt and conv.why == outgoing.CONVERSATION
    # The user's explicit choice wins over the conversation, both ways.
    clear = outgoing.Protection(explicit=True)
    assert not required(clear, default, conversation_encrypted=True).encrypt
    asked = outgoing.Protection(encrypt=True, explicit=True)
    assert required(asked, default, conversation_encrypted=False).why == outgoing.ASKED
    # A contact's preference over the config's default; the conversation over both.
    by_config = outgoing.Protection(encrypt=True)
    assert not required(None, by_config, conversation_encrypted=False,
                        preference="clear").encrypt
    assert required(None, by_config, conversation_encrypted=False).why == outgoing.BY_CONFIG
    assert required(None, default, conversation_encrypted=True,
                    preference="clear").encrypt
    pref = required(None, default, conversation_encrypted=False, preference="encrypt")
    assert pref.encrypt and pref.why == outgoing.PREFERRED
    signed = required(None, default, conversation_encrypted=False, preference="sign")
    assert signed.sign and not signed.encrypt
    kept = outgoing.Protection.from_payload(conv.to_payload(), None)
    assert kept == conv


def test_per_contact_preferences(tmp_path: Path) -> None:
    prefs = Preferences(tmp_path)
    assert prefs.get("bob@example.test") == ""
    prefs.set("Bob@Example.test", "encrypt")
    prefs.set("carol@example.test", "clear")
    assert prefs.get("bob@example.test") == "encrypt"
    assert (tmp_path / "openpgp-preferences.json").stat().st_mode & 0o777 == 0o600
    assert prefs.strongest(["carol@example.test", "bob@example.test"]) == "encrypt"
    assert prefs.strongest(["carol@example.test"]) == "clear"
    assert prefs.strongest(["carol@example.test", "dave@example.test"]) == ""
    prefs.set("bob@example.test", "default")
    assert prefs.get("bob@example.test") == ""
    with pytest.raises(ValueError):
        prefs.set("bob@example.test", "maybe")
