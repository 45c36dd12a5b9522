"""Autocrypt's "discourage" in headless send and reply (issue 23), gpg on the other
side, the real SMTP server and Dovecot in between.

Bob's Autocrypt header is 40 days older than his last mail (stale): the
recommendation is "discourage". `send` and `reply` say so (`autocrypt` in
--json, a line in the plain output); an email that would be encrypted to him
only because of a default ([crypto] encrypt = true) is refused with exit 9
naming him, nothing sent; with --encrypt the user chose, and it goes encrypted.
"""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from bridge.headless.outcome import EXIT_ENCRYPTION, EXIT_OK
from tests.gpg_peer import pgp_mime_encrypted
from tests.others import until
from tests.swaks import swaks
from tests.test_autocrypt_mail import People, folded, keydata, opened
from tests.test_crypto_mail import _plain, raw_mail
from tests.test_headless import cli

pytestmark = pytest.mark.servers


@pytest.fixture
def people(world, tmp_path: Path) -> Iterator[People]:
    p = People(world, tmp_path)
    yield p
    p.close()


async def _discouraged(world, people: People, encrypt_by_default: bool) -> tuple[Path, int]:
    old = people.plain_mail(people.bob, "Long ago", "Autocrypt here, back then.",
                            ["Autocrypt: " + folded(people.bob.email,
                                                    keydata(people.bobs, people.bob.email))])
    head, _, body = old.partition(b"\r\n\r\n")
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Date:"))
    old = head + f"\r\nDate: {formatdate(time.time() - 40 * 86400)}".encode() + b"\r\n\r\n" \
        + body
    people.deliver(world, people.bob, old, "old")
    new = people.plain_mail(people.bob, "Long ago", "No header this time.",
                            ["In-Reply-To: <Long-ago@example.net>"])
    new = new.replace(b"Message-ID: <Long-ago@example.net>", b"Message-ID: <later@example.net>")
    people.deliver(world, people.bob, new, "new")
    config = people.config(world)
    if encrypt_by_default:
        config.write_text(config.read_text().replace("autocrypt = true\n",
                                                     "autocrypt = true\nencrypt = true\n"))
    shown = await opened(config, world, people.me, 2)
    code, status, err = await cli(config, "keys", "autocrypt")
    assert code == EXIT_OK, err
    assert [p["recommendation"] for p in status["peers"]] == ["discourage"], status
    newest = max(shown["messages"], key=lambda m: m["id"])
    return config, newest["id"]


async def test_send_and_reply_say_discourage_and_stay_in_clear(world, people) -> None:
    config, row = await _discouraged(world, people, encrypt_by_default=False)
    code, out, err = await cli(config, "send", "--to", people.bob.email, "--via", "email",
                               "--subject", "Plain", "Open words: kazoo.")
    assert code == EXIT_OK, (out, err)
    assert out["autocrypt"] == "discourage"
    code, out, err = await cli(config, "reply", str(row), "--via", "email", "Open: banjo.")
    assert code == EXIT_OK, (out, err)
    assert out["autocrypt"] == "discourage"
    said = await _plain(config, "send", "--to", people.bob.email, "--via", "email",
                        "--subject", "Plain again", "Open words: lute.")
    assert "autocrypt: discourage" in said and "may not be able to read it" in said
    await until(lambda: len(raw_mail(world, people.bob)) >= 3, 20, "bob's three copies")
    wires = raw_mail(world, people.bob)
    assert all(email.message_from_bytes(w).get_content_type() != "multipart/encrypted"
               for w in wires)


async def test_a_default_encryption_to_a_discouraged_peer_is_refused_unless_asked(
        world, people) -> None:
    config, row = await _discouraged(world, people, encrypt_by_default=True)
    code, out, err = await cli(config, "send", "--to", people.bob.email, "--via", "email",
                               "--subject", "Sealed?", "Closed words: oboe.")
    assert code == EXIT_ENCRYPTION, (out, err)
    assert people.bob.email in out["error"] and "discourages" in out["error"]
    assert out["detail"]["missing"] == [people.bob.email]
    code, out, err = await cli(config, "reply", str(row), "--via", "email", "Closed: fife.")
    assert code == EXIT_ENCRYPTION, (out, err)
    assert "discourages" in out["error"]
    code, outbox, err = await cli(config, "outbox", "list", "--all")
    assert code == EXIT_OK and outbox == [], outbox
    assert raw_mail(world, people.bob) == []
    code, out, err = await cli(config, "send", "--to", people.bob.email, "--via", "email",
                               "--subject", "Sealed", "--encrypt", "Closed words: oboe.")
    assert code == EXIT_OK, (out, err)
    assert out["autocrypt"] == "discourage"
    await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    (wire,) = raw_mail(world, people.bob)
    assert b"oboe" not in wire
    assert email.message_from_bytes(wire).get_content_type() == "multipart/encrypted"


async def test_a_reply_to_an_encrypted_email_is_encrypted_whatever_autocrypt_says(
        world, people) -> None:
    """The spec's final recommendation: a reply to an encrypted email is "encrypt",
    even to a discouraged peer; nothing is refused, it goes encrypted."""
    await _discouraged(world, people, encrypt_by_default=False)
    people.bobs.import_key(people.mine.export(people.me.email))
    raw = pgp_mime_encrypted(people.bobs, people.bob.email, people.me.email,
                             f"From: Bob <{people.bob.email}>\r\nTo: <{people.me.email}>\r\n"
                             f"Date: {formatdate()}\r\nMessage-ID: <sealed@example.net>\r\n",
                             "The secret word is xylophone.", "Sealed plans")
    path = people.tmp / "sealed.eml"
    path.write_bytes(raw)
    swaks(world, people.bob, people.me.email, "--data", str(path), subject="...")
    config = people.config(world)
    shown = await opened(config, world, people.me, 3)
    row = next((m["id"] for m in shown["messages"] if m["subject"] == "Sealed plans"), None)
    if row is None:  # the newest conversation is another one: find it by its id
        code, found, err = await cli(config, "show", "<sealed@example.net>")
        assert code == EXIT_OK, err
        row = found["messages"][0]["id"]
    code, out, err = await cli(config, "reply", str(row), "--via", "email", "Agreed: marimba.")
    assert code == EXIT_OK, (out, err)
    assert out["autocrypt"] == "encrypt"
    await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    (wire,) = raw_mail(world, people.bob)
    assert b"marimba" not in wire
    assert email.message_from_bytes(wire).get_content_type() == "multipart/encrypted"
