"""Autocrypt Level 1 end to end (issue 23): gpg is the other side, the real SMTP
server and Dovecot in between, our client run as a script would run it.

(a) bob's mail carries an Autocrypt header with keydata gpg exported: it is
    read when the mail is opened, his state kept (`keys autocrypt`, `keys list`);
    both sides prefer-encrypt=mutual, so our reply goes encrypted and signed to
    his Autocrypt key, which never enters our keyring; his signed answer is
    checked with that key all the same;
(b) the header on our mail parses, holds exactly the spec's five packets, and
    its keydata imports into bob's gpg, which encrypts back to us;
(c) without mutual the recommendation is only "available": the reply is clear;
(d) gossip: our encrypted mail to bob and carol gossips both keys inside the
    encryption; gpg's encrypted mail to us and carol gossips carol's key, which
    we learn;
(e) hostile headers (bad base64, huge keydata, someone else's addr, a key that
    is no key) are ignored; the mail shows, nothing crashes.
"""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from bridge.crypto import autocrypt
from bridge.headless.outcome import EXIT_OK
from tests.gpg_peer import Keyring
from tests.harness.servers import Account, World
from tests.others import person, until
from tests.swaks import swaks
from tests.test_crypto_mail import raw_mail, synced_thread
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers


def keydata(ring: Keyring, who: str) -> bytes:
    """What an Autocrypt mail program of gpg's would put in its header."""
    return ring.run("--export", "--export-options", "export-minimal", who).stdout


def folded(addr: str, data: bytes, mutual: bool = False) -> str:
    """An Autocrypt header as the spec's examples fold it (written here, by the
    test, not by our code)."""
    b64 = base64.b64encode(data).decode()
    lines = "\r\n ".join(b64[i:i + 72] for i in range(0, len(b64), 72))
    prefer = " prefer-encrypt=mutual;" if mutual else ""
    return f"addr={addr};{prefer} keydata=\r\n {lines}"


class People:
    def __init__(self, world: World, tmp: Path) -> None:
        self.me, self.bob, self.carol = (person(world, "alice"), person(world, "bob"),
                                         person(world, "carol"))
        self.mine = Keyring(tmp / "gpg-me")
        self.bobs, self.carols = Keyring(tmp / "gpg-bob"), Keyring(tmp / "gpg-carol")
        self.mine.make_key(f"Alice <{self.me.email}>")
        self.bobs.make_key(f"Bob <{self.bob.email}>")
        self.carols.make_key(f"Carol <{self.carol.email}>")
        self.tmp = tmp

    def config(self, world: World, mutual: bool = True) -> Path:
        return write_config(world, self.tmp, self.me, (
            f'\n[crypto]\ngnupg_home = "{self.mine.home}"\nautocrypt = true\n'
            f"autocrypt_prefer_encrypt = {'true' if mutual else 'false'}\n"))

    def deliver(self, world: World, sender: Account, raw: bytes, name: str) -> None:
        path = self.tmp / f"{name}.eml"
        path.write_bytes(raw)
        # swaks sets Subject itself: the one the mail has.
        subject = str(email.message_from_bytes(raw)["Subject"])
        swaks(world, sender, self.me.email, "--data", str(path), subject=subject)

    def plain_mail(self, sender: Account, subject: str, body: str,
                   headers: list[str]) -> bytes:
        head = "".join(f"{h}\r\n" for h in headers)
        return (f"From: {sender.display_name} <{sender.email}>\r\nTo: <{self.me.email}>\r\n"
                f"Date: {formatdate()}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{subject.replace(' ', '-')}@example.net>\r\n{head}"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                f"{body}\r\n").encode()

    def close(self) -> None:
        for ring in (self.mine, self.bobs, self.carols):
            ring.close()


@pytest.fixture
def people(world: World, tmp_path: Path) -> Iterator[People]:
    p = People(world, tmp_path)
    yield p
    p.close()


def decrypted(ring: Keyring, wire: bytes) -> tuple[email.message.Message, str]:
    """gpg decrypts a PGP/MIME email: the inner entity and gpg's status lines."""
    outer = email.message_from_bytes(wire)
    assert outer.get_content_type() == "multipart/encrypted", outer.get_content_type()
    done = ring.run("--decrypt", "--status-fd", "2",
                    data=outer.get_payload()[1].get_payload(decode=True))
    return email.message_from_bytes(done.stdout), done.stderr.decode()


def packets(ring: Keyring, data: bytes) -> list[str]:
    """The packet kinds of a key, as gpg lists them."""
    listing = ring.run("--list-packets", data=data).stdout.decode()
    return [line.split(":")[1].strip() for line in listing.splitlines()
            if line.startswith(":")]


async def opened(config: Path, world: World, me: Account, count: int = 1) -> dict:
    """Sync and show the newest conversation (its bodies fetched: where the
    Autocrypt header is read)."""
    thread = await synced_thread(config, world, me, count)
    code, shown, err = await cli(config, "show", thread)
    assert code == EXIT_OK, err
    return shown


async def test_a_mutual_peer_is_kept_and_our_reply_goes_encrypted_to_his_key(
        world, people) -> None:
    bob_fpr = people.bobs.fingerprint(people.bob.email)
    raw = people.plain_mail(people.bob, "Hello Alice", "Write back, encrypted if you can.",
                            ["Autocrypt: " + folded(people.bob.email,
                                                    keydata(people.bobs, people.bob.email),
                                                    mutual=True)])
    people.deliver(world, people.bob, raw, "hello")
    config = people.config(world)
    shown = await opened(config, world, people.me)
    row = shown["messages"][0]["id"]

    code, status, err = await cli(config, "keys", "autocrypt")
    assert code == EXIT_OK, err
    assert status["enabled"] is True
    (acc,) = status["accounts"]
    assert acc["fingerprint"] == people.mine.fingerprint(people.me.email)
    assert acc["prefer_encrypt"] == "mutual"
    (peer,) = status["peers"]
    assert peer["address"] == people.bob.email
    assert peer["prefer_encrypt"] == "mutual"
    assert peer["public_key"]["fingerprint"] == bob_fpr and peer["public_key"]["usable"]
    assert peer["last_seen"] == peer["autocrypt_timestamp"] > 0
    assert peer["recommendation"] == "encrypt"
    code, rows, err = await cli(config, "keys", "list")
    assert code == EXIT_OK, err
    (bob_row,) = [r for r in rows if r["email"] == people.bob.email]
    assert bob_row["source"] == "autocrypt" and bob_row["fingerprint"] == bob_fpr
    assert bob_row["autocrypt"]["prefer_encrypt"] == "mutual"
    # Bob's key stayed out of our keyring.
    assert people.mine.run("--list-keys", people.bob.email, check=False).returncode != 0

    # No --encrypt: Autocrypt's "encrypt" recommendation decides.
    code, out, err = await cli(config, "reply", str(row), "The word is celesta.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    (wire,) = raw_mail(world, people.bob)
    assert b"celesta" not in wire
    outer = email.message_from_bytes(wire)
    header = autocrypt.parse(str(outer["Autocrypt"]))
    assert header is not None and header.addr == people.me.email and header.mutual

    # (b) bob's gpg takes our key from the header, reads the reply, checks our
    # signature with it, and encrypts back.
    assert packets(people.bobs, header.keydata) == [
        "public key packet", "user ID packet", "signature packet",
        "public sub key packet", "signature packet"]
    people.bobs.import_key(header.keydata)
    inner, gpg_status = decrypted(people.bobs, wire)
    assert "[GNUPG:] GOODSIG" in gpg_status, gpg_status
    assert people.mine.fingerprint(people.me.email) in gpg_status
    assert "celesta" in inner.as_string()
    back = people.bobs.run("--armor", "--encrypt", "--sign", "--trust-model", "always",
                           "--recipient", people.me.email, "--local-user", people.bob.email,
                           data=b"Content-Type: text/plain\r\n\r\nGot it: marimba.\r\n"
                           ).stdout.decode()
    boundary = "b-1"
    reply = (f"From: Bob <{people.bob.email}>\r\nTo: <{people.me.email}>\r\n"
             f"Date: {formatdate()}\r\nSubject: ...\r\nMIME-Version: 1.0\r\n"
             f'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
             f'boundary="{boundary}"\r\n\r\n--{boundary}\r\n'
             "Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
             f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n{back}\r\n"
             f"--{boundary}--\r\n").encode()
    people.deliver(world, people.bob, reply, "back")
    await until(lambda: len(raw_mail(world, people.me)) >= 2, 20, "bob's answer")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, err = await cli(config, "list")
    assert code == EXIT_OK, err
    answers = []
    for t in hits:
        code, shown, err = await cli(config, "show", str(t["thread_id"]))
        answers += [m for m in shown["messages"] if "marimba" in m["text"]]
    (answer,) = answers
    # His signature is checked with his Autocrypt key (not in our keyring).
    (sig,) = answer["crypto"]["signatures"]
    assert (sig["verdict"], sig["fingerprint"], sig["certified"]) == ("good", bob_fpr, False)


async def test_without_mutual_encryption_is_only_available_and_the_reply_is_clear(
        world, people) -> None:
    raw = people.plain_mail(people.bob, "Plain hello", "No preference here.",
                            ["Autocrypt: " + folded(people.bob.email,
                                                    keydata(people.bobs, people.bob.email))])
    people.deliver(world, people.bob, raw, "plain")
    config = people.config(world)
    shown = await opened(config, world, people.me)
    code, status, err = await cli(config, "keys", "autocrypt")
    assert code == EXIT_OK, err
    assert [p["recommendation"] for p in status["peers"]] == ["available"]
    code, out, err = await cli(config, "reply", str(shown["messages"][0]["id"]),
                               "An open answer: tuba.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    (wire,) = raw_mail(world, people.bob)
    assert b"tuba" in wire  # in clear: "available" offers encryption, never forces it
    header = autocrypt.parse(str(email.message_from_bytes(wire)["Autocrypt"]))
    assert header is not None and header.mutual  # our own preference still said
    # ... and encryption, asked for, works to his Autocrypt key.
    code, out, err = await cli(config, "reply", str(shown["messages"][0]["id"]),
                               "--encrypt", "A closed answer: oboe.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: len(raw_mail(world, people.bob)) >= 2, 20, "bob's second copy")
    sealed = [w for w in raw_mail(world, people.bob) if b"tuba" not in w]
    assert sealed and b"oboe" not in sealed[0]
    # (bob's gpg takes our key from our header: the signature below is checked.)
    people.bobs.import_key(autocrypt.parse(str(email.message_from_bytes(sealed[0])[
        "Autocrypt"])).keydata)
    inner, status = decrypted(people.bobs, sealed[0])
    assert "oboe" in inner.as_string()
    # --encrypt alone, and signed all the same: Autocrypt's encrypted mail always is.
    assert "[GNUPG:] GOODSIG" in status, status


def encrypted_with_gossip(ring: Keyring, sender: Account, to: str, cc: str,
                          gossip: list[str], body: str) -> bytes:
    """A PGP/MIME email gpg encrypted, its inner root part carrying
    Autocrypt-Gossip headers (as the spec's example-gossip-cleartext.eml)."""
    inner = "".join(f"Autocrypt-Gossip: {g}\r\n" for g in gossip) + (
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" f"{body}\r\n")
    armored = ring.run("--armor", "--encrypt", "--sign", "--trust-model", "always",
                       "--local-user", sender.email, "--recipient", to,
                       data=inner.encode()).stdout.decode()
    boundary = "gossip-1"
    return (f"From: {sender.display_name} <{sender.email}>\r\nTo: <{to}>\r\nCc: <{cc}>\r\n"
            f"Date: {formatdate()}\r\nSubject: ...\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
            f'boundary="{boundary}"\r\n\r\n--{boundary}\r\n'
            "Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n{armored}\r\n"
            f"--{boundary}--\r\n").encode()


async def test_gossip_goes_inside_our_encrypted_group_mail_and_is_learnt_from_theirs(
        world, people, tmp_path) -> None:
    for who, ring in ((people.bob, people.bobs), (people.carol, people.carols)):
        raw = people.plain_mail(who, f"Hi from {who.display_name}", "Autocrypt here.",
                                ["Autocrypt: " + folded(who.email, keydata(ring, who.email),
                                                        mutual=True)])
        people.deliver(world, who, raw, f"hi-{who.email}")
    config = people.config(world)
    await until(lambda: len(raw_mail(world, people.me)) >= 2, 20, "both mails")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, threads, err = await cli(config, "list")
    assert code == EXIT_OK and len(threads) == 2, (threads, err)
    for t in threads:
        code, _, err = await cli(config, "show", str(t["thread_id"]))
        assert code == EXIT_OK, err

    # Both mutual, both keys known: a new email to the two goes encrypted, with
    # each one's key gossiped inside (never outside) the encryption.
    code, out, err = await cli(config, "send", "--to", people.bob.email, "--cc",
                               people.carol.email, "--via", "email", "--subject", "Meet",
                               "Meet carol, bob: bassoon.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    (wire,) = raw_mail(world, people.bob)
    assert b"bassoon" not in wire and b"Autocrypt-Gossip" not in wire
    ours = autocrypt.parse(str(email.message_from_bytes(wire)["Autocrypt"]))
    assert ours is not None
    for ring in (people.bobs, people.carols):
        ring.import_key(ours.keydata)  # our key, from our header, checks the signature
    inner, _ = decrypted(people.bobs, wire)
    gossip = {h.addr: h for h in (autocrypt.parse(str(v))
                                  for v in inner.get_all("Autocrypt-Gossip", []))
              if h is not None}
    assert set(gossip) == {people.bob.email, people.carol.email}
    assert not any(h.mutual for h in gossip.values())  # gossip says no preference
    people.bobs.import_key(gossip[people.carol.email].keydata)
    assert people.bobs.fingerprint(people.carol.email) == \
        people.carols.fingerprint(people.carol.email)
    # carol reads hers too.
    (carols,) = raw_mail(world, people.carol)
    assert "bassoon" in decrypted(people.carols, carols)[0].as_string()

    # bob's gpg-made mail to us and dave gossips dave's key (and one about eve,
    # who is not a recipient: ignored).
    dave = person(world, "dave")
    daves = Keyring(tmp_path / "gpg-dave")
    try:
        daves.make_key(f"Dave <{dave.email}>")
        eve = Keyring(tmp_path / "gpg-eve")
        eve.make_key("Eve <eve@example.org>")
        raw = encrypted_with_gossip(
            people.bobs, people.bob, people.me.email, dave.email,
            [folded(people.me.email, keydata(people.mine, people.me.email)),
             folded(dave.email, keydata(daves, dave.email)),
             folded("eve@example.org", keydata(eve, "eve@example.org"))],
            "Dave is in now: zither.")
        people.deliver(world, people.bob, raw, "gossip")
        await until(lambda: len(raw_mail(world, people.me)) >= 3, 20, "bob's gossip")
        code, _, err = await cli(config, "sync")
        assert code == EXIT_OK, err
        code, threads, err = await cli(config, "list")
        assert code == EXIT_OK, err
        for t in threads:
            code, _, err = await cli(config, "show", str(t["thread_id"]))
            assert code == EXIT_OK, err
        code, status, err = await cli(config, "keys", "autocrypt")
        assert code == EXIT_OK, err
        peers = {p["address"]: p for p in status["peers"]}
        assert "eve@example.org" not in peers
        assert people.me.email not in peers  # our own address is no peer
        learnt = peers[dave.email]
        assert learnt["public_key"] is None
        assert learnt["gossip_key"]["fingerprint"] == daves.fingerprint(dave.email)
        assert learnt["gossip_timestamp"] > 0
        assert learnt["recommendation"] == "discourage"  # gossip only: offered, warned
        eve.close()
    finally:
        daves.close()


async def test_hostile_headers_are_ignored_and_nothing_breaks(world, people) -> None:
    bad = [f"Autocrypt: addr={people.bob.email}; keydata=!!!not*base64!!!",
           # Over the spec's 10 KiB (folded, as SMTP needs its lines short).
           "Autocrypt: " + folded(people.bob.email, b"\x99" * 12_000),
           "Autocrypt: " + folded(people.carol.email, keydata(people.carols,
                                                               people.carol.email)),
           f"Autocrypt: addr={people.bob.email}; danger=yes; keydata=" +
           base64.b64encode(keydata(people.bobs, people.bob.email)).decode()]
    people.deliver(world, people.bob, people.plain_mail(
        people.bob, "Odd headers", "Nothing to learn here.", bad), "hostile")
    # carol's header holds base64 of something that is no key at all.
    people.deliver(world, people.carol, people.plain_mail(
        people.carol, "No key", "A key that is not.",
        [f"Autocrypt: addr={people.carol.email}; prefer-encrypt=mutual; keydata="
         + base64.b64encode(b"not an OpenPGP key").decode()]),
        "nokey")
    config = people.config(world)
    await until(lambda: len(raw_mail(world, people.me)) >= 2, 20, "both mails")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, threads, err = await cli(config, "list")
    assert code == EXIT_OK, err
    rows = {}
    for t in threads:
        code, shown, err = await cli(config, "show", str(t["thread_id"]))
        assert code == EXIT_OK, err
        (m,) = shown["messages"]
        rows[m["subject"]] = m
    assert "Nothing to learn here." in rows["Odd headers"]["text"], rows
    code, status, err = await cli(config, "keys", "autocrypt")
    assert code == EXIT_OK, err
    peers = {p["address"]: p for p in status["peers"]}
    assert people.bob.email not in peers  # every one of his headers was invalid
    carol = peers[people.carol.email]
    assert carol["public_key"]["usable"] is False and carol["recommendation"] == "disable"
    code, listed, err = await cli(config, "keys", "list")
    assert code == EXIT_OK, err
    (row,) = [r for r in listed if r["email"] == people.carol.email]
    assert row["source"] == "autocrypt" and row["can_encrypt"] is False
    # A reply to carol: nothing to encrypt to, so it goes in clear with our header.
    code, out, err = await cli(config, "reply", str(rows["No key"]["id"]), "Plain: harp.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, people.carol), 20, "carol's copy")
    assert b"harp" in raw_mail(world, people.carol)[0]


async def test_setup_makes_a_key_only_when_asked_and_a_big_key_is_sent_minimal(
        world, people, tmp_path) -> None:
    fresh = Keyring(tmp_path / "gpg-fresh")
    try:
        config = write_config(world, tmp_path, people.me, (
            f'\n[crypto]\ngnupg_home = "{fresh.home}"\nautocrypt = true\n'))
        code, status, err = await cli(config, "keys", "autocrypt")
        assert code == EXIT_OK, err
        assert status["accounts"][0]["fingerprint"] is None  # nothing made by itself
        assert fresh.run("--list-secret-keys", check=False).stdout == b""
        code, made, err = await cli(config, "keys", "autocrypt-setup")
        assert code == EXIT_OK, err
        assert made["created"] is True
        colons = fresh.run("--with-colons", "--list-keys", made["fingerprint"]).stdout.decode()
        algos = [line.split(":")[3] for line in colons.splitlines()
                 if line.startswith(("pub:", "sub:"))]
        assert algos == ["22", "18"]  # Ed25519 (EdDSA) and Cv25519 (ECDH), the spec's
        code, again, err = await cli(config, "keys", "autocrypt-setup")
        assert code == EXIT_OK and again == {"fingerprint": made["fingerprint"],
                                             "created": False}, (again, err)
    finally:
        fresh.close()

    # A key with a second user id and a signing subkey goes out as the five
    # packets of the spec, its user id the sending address; the keyring keeps all.
    fpr = people.mine.fingerprint(people.me.email)
    people.mine.run("--quick-add-uid", fpr, "Alice at work <alice@work.example>")
    people.mine.run("--quick-add-key", fpr, "ed25519", "sign", "never")
    config = people.config(world, mutual=False)
    code, out, err = await cli(config, "send", "--to", people.bob.email, "--via", "email",
                               "--subject", "Big key", "Hello with a big key.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    wire = raw_mail(world, people.bob)[0]
    assert all(len(line) <= 78 for line in wire.split(b"\r\n")[:40])  # folded
    header = autocrypt.parse(str(email.message_from_bytes(wire)["Autocrypt"]))
    assert header is not None and not header.mutual
    assert len(header.keydata) + 200 < 10 * 1024
    assert packets(people.bobs, header.keydata) == [
        "public key packet", "user ID packet", "signature packet",
        "public sub key packet", "signature packet"]
    people.bobs.import_key(header.keydata)
    uids = [line for line in people.bobs.run("--with-colons", "--list-keys", fpr)
            .stdout.decode().splitlines() if line.startswith("uid:")]
    assert len(uids) == 1 and people.me.email in uids[0]
    mine = people.mine.run("--with-colons", "--list-keys", fpr).stdout.decode()
    assert mine.count("\nuid:") == 2 and mine.count("\nsub:") == 2


async def test_a_peers_signed_mail_is_checked_with_his_autocrypt_key(world, people) -> None:
    from tests.gpg_peer import pgp_mime_signed

    header = "Autocrypt: " + folded(people.bob.email, keydata(people.bobs, people.bob.email))
    for subject, body, change in (("Signed", "I owe you 10 euros.", False),
                                  ("Changed", "I owe you 20 euros.", True)):
        raw = pgp_mime_signed(people.bobs, people.bob.email,
                              f"From: Bob <{people.bob.email}>\r\nTo: <{people.me.email}>\r\n"
                              f"Date: {formatdate()}\r\nSubject: {subject}\r\n{header}\r\n",
                              body)
        if change:
            raw = raw.replace(b"20 euros", b"99 euros")
        people.deliver(world, people.bob, raw, subject)
    config = people.config(world)
    await until(lambda: len(raw_mail(world, people.me)) >= 2, 20, "both mails")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, threads, err = await cli(config, "list")
    assert code == EXIT_OK, err
    verdicts = {}
    for t in threads:
        code, shown, err = await cli(config, "show", str(t["thread_id"]))
        assert code == EXIT_OK, err
        for m in shown["messages"]:
            verdicts[m["subject"]] = [(s["verdict"], s["fingerprint"])
                                      for s in m["crypto"]["signatures"]]
    bob_fpr = people.bobs.fingerprint(people.bob.email)
    assert verdicts == {"Signed": [("good", bob_fpr)], "Changed": [("bad", bob_fpr)]}


async def test_compose_starts_encrypted_for_a_mutual_peer_and_says_why(world, people) -> None:
    """The app: in a new message, leaving To asks Autocrypt; for bob (mutual) the
    OpenPGP line turns to signed + encrypted and says why, and the email goes
    encrypted; for carol (no Autocrypt) it stays in clear and says nothing."""
    from textual.widgets import Input, Label, TextArea

    from bridge.config import load_config
    from tests.test_app import pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.compose import NewMessageScreen
    from tuiclient.screens.main import MainScreen

    raw = people.plain_mail(people.bob, "Hello Alice", "Autocrypt here.",
                            ["Autocrypt: " + folded(people.bob.email,
                                                    keydata(people.bobs, people.bob.email),
                                                    mutual=True)])
    people.deliver(world, people.bob, raw, "hello")
    config = people.config(world)
    await opened(config, world, people.me)  # bob's header is read when it is opened
    app = TuiClientApp(load_config(config), probe_on_start=False)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 30)
        for who, encrypted in ((people.carol, False), (people.bob, True)):
            await pilot.press("c")
            assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
            compose = app.screen

            def state(c: NewMessageScreen = compose) -> str:
                return str(c.query_one("#compose-openpgp", Label).render())
            await pilot.press(*who.email, "tab")
            if encrypted:
                assert await pilot_until(pilot, lambda: "signed + encrypted" in state()), \
                    state()
                assert "Autocrypt: encrypted by default" in state()
            else:
                await pilot.pause(0.5)
                assert "in clear" in state() and "Autocrypt" not in state(), state()
                await pilot.press("escape")
                assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
                continue
            compose.query_one("#subject", Input).value = "Sealed by default"
            compose.query_one("#body", TextArea).text = "The word is glockenspiel."
            await pilot.press("ctrl+s")
            await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    (wire,) = raw_mail(world, people.bob)
    assert b"glockenspiel" not in wire
    people.bobs.import_key(autocrypt.parse(str(email.message_from_bytes(wire)["Autocrypt"])
                                           ).keydata)
    inner, status = decrypted(people.bobs, wire)
    assert "glockenspiel" in inner.as_string() and "[GNUPG:] GOODSIG" in status


async def test_a_reply_in_the_app_starts_encrypted_to_a_mutual_peer(world, people) -> None:
    from textual.widgets import Label, TextArea

    from bridge.config import load_config
    from tests.test_app import go_to_row, listing, pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.compose import ComposeScreen

    raw = people.plain_mail(people.bob, "Hello Alice", "Autocrypt here.",
                            ["Autocrypt: " + folded(people.bob.email,
                                                    keydata(people.bobs, people.bob.email),
                                                    mutual=True)])
    people.deliver(world, people.bob, raw, "hello")
    config = people.config(world)
    await opened(config, world, people.me)
    app = TuiClientApp(load_config(config), probe_on_start=False)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: bool(listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: True)
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen))
        compose = app.screen

        def state() -> str:
            return str(compose.query_one("#compose-openpgp", Label).render())
        assert await pilot_until(pilot, lambda: "signed + encrypted" in state()), state()
        assert "Autocrypt" in state()
        compose.query_one("#body", TextArea).text = "Sealed reply: ocarina."
        await pilot.press("ctrl+s")
        await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    (wire,) = raw_mail(world, people.bob)
    assert b"ocarina" not in wire
    assert email.message_from_bytes(wire).get_content_type() == "multipart/encrypted"

