"""Autocrypt Level 1 end to end (issue 23): gpg is the other side, the real SMTP
server and Dovecot in between, our client run as a script would run it.

(a) bob's mail carries an Autocrypt header with keydata gpg exported: it is
    read when the mail is opened, his state kept (`keys autocrypt`, `keys list`);
    both sides prefer-encrypt=mutual, so our reply goes encrypted and signed to
    his Autocrypt key, which never enters our keyring;
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
        swaks(world, sender, self.me.email, "--data", str(path))

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
    texts = []
    for t in hits:
        code, shown, err = await cli(config, "show", str(t["thread_id"]))
        texts += [m["text"] for m in shown["messages"]]
    assert any("marimba" in t for t in texts), texts


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
    inner, _ = decrypted(people.bobs, sealed[0])
    assert "oboe" in inner.as_string()
