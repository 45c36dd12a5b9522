"""A forward of an encrypted email (issue 23): decrypted for its new recipient,
sealed again for them, never in clear unless chosen.

gpg as bob encrypts a mail to us (alice); we forward it to carol, whose key we
have: what Dovecot holds for carol is ciphertext, and gpg as carol decrypts it
and finds bob's words (inline: the opened text; as attachment: the decrypted
email as message/rfc822). To dave, who has no key: refused with exit 9 naming
him, nothing sent. With --no-encrypt the user chose clear, and it goes so.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.headless.outcome import EXIT_ENCRYPTION, EXIT_OK
from tests.gpg_peer import Keyring, pgp_mime_encrypted
from tests.others import person, until
from tests.test_crypto_mail import People, raw_mail, synced_thread
from tests.test_headless import cli

pytestmark = pytest.mark.servers


class Forwarding(People):
    def __init__(self, world, tmp: Path) -> None:
        super().__init__(world, tmp)
        self.carol, self.dave = person(world, "carol"), person(world, "dave")
        self.carols = Keyring(tmp / "gpg-carol")
        self.carols.make_key(f"Carol <{self.carol.email}>")
        self.mine.import_key(self.carols.export(self.carol.email))

    def close(self) -> None:
        for ring in (self.mine, self.theirs, self.carols):
            ring.close()


@pytest.fixture
def fwd(world, tmp_path: Path) -> Iterator[Forwarding]:
    f = Forwarding(world, tmp_path)
    yield f
    f.close()


async def _encrypted_row(world, fwd: Forwarding) -> tuple[Path, int]:
    raw = pgp_mime_encrypted(fwd.theirs, fwd.peer.email, fwd.me.email, fwd.headers(),
                             "The secret word is xylophone.", "Our plans")
    fwd.deliver(world, raw, "encrypted")
    config = fwd.config(world)
    thread = await synced_thread(config, world, fwd.me)
    code, shown, err = await cli(config, "show", thread)
    assert code == EXIT_OK, err
    return config, shown["messages"][0]["id"]


def _opened_by_carol(fwd: Forwarding, wire: bytes) -> email.message.Message:
    outer = email.message_from_bytes(wire)
    assert outer.get_content_type() == "multipart/encrypted"
    assert outer["Subject"] == "..."
    done = fwd.carols.run("--decrypt", data=outer.get_payload()[1].get_payload(decode=True))
    return email.message_from_bytes(done.stdout)


async def test_a_forward_of_an_encrypted_email_is_decrypted_and_encrypted_to_carol(
        world, fwd) -> None:
    config, row = await _encrypted_row(world, fwd)
    code, out, err = await cli(config, "forward", str(row), "--to", fwd.carol.email,
                               "For you, Carol.")
    assert code == EXIT_OK, (out, err)
    code, out, err = await cli(config, "forward", str(row), "--to", fwd.carol.email,
                               "--as-attachment", "Attached, Carol.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: len(raw_mail(world, fwd.carol)) >= 2, 20, "carol's two forwards")
    wires = raw_mail(world, fwd.carol)
    for wire in wires:
        assert b"xylophone" not in wire and b"Carol." not in wire
    inline, attached = sorted((_opened_by_carol(fwd, w) for w in wires),
                              key=lambda m: "Attached" in m.as_string())
    assert inline["Subject"] == "Fwd: Our plans"
    text = inline.get_body(preferencelist=("plain",)) if hasattr(inline, "get_body") else None
    body = inline.as_string() if text is None else text.as_string()
    assert "For you, Carol." in body and "xylophone" in body
    assert "-----BEGIN PGP MESSAGE-----" not in inline.as_string()
    parts = [p for p in attached.walk() if p.get_content_type() == "message/rfc822"]
    assert len(parts) == 1
    (forwarded,) = parts[0].get_payload()
    assert forwarded["Subject"] == "Our plans"  # the protected one, not "..."
    assert "xylophone" in forwarded.as_string()
    assert "-----BEGIN PGP MESSAGE-----" not in forwarded.as_string()


async def test_a_forward_to_someone_without_a_key_is_refused_and_clear_only_when_chosen(
        world, fwd) -> None:
    config, row = await _encrypted_row(world, fwd)
    code, out, err = await cli(config, "forward", str(row), "--to", fwd.dave.email)
    assert code == EXIT_ENCRYPTION, (out, err)
    assert fwd.dave.email in out["error"] and out["detail"]["missing"] == [fwd.dave.email]
    assert "came encrypted" in out["error"]
    code, outbox, err = await cli(config, "outbox", "list", "--all")
    assert code == EXIT_OK and outbox == [], outbox
    code, out, err = await cli(config, "forward", str(row), "--to", fwd.dave.email,
                               "--no-encrypt", "In clear, as you asked.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, fwd.dave), 20, "dave's forward")
    (wire,) = raw_mail(world, fwd.dave)
    assert b"xylophone" in wire and b"BEGIN PGP MESSAGE" not in wire


async def test_the_forward_screen_says_encrypted_and_carol_gets_it_sealed(world, fwd) -> None:
    """The TUI: f on an encrypted email opens the forward screen with compose's
    OpenPGP line, encrypted because the email came encrypted; sent to carol,
    Dovecot holds ciphertext that gpg as carol opens."""
    from textual.widgets import Label, TextArea

    from bridge.config import load_config
    from tests.test_app import go_to_row, listing, pilot_until, text_of
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.compose import ForwardScreen

    raw = pgp_mime_encrypted(fwd.theirs, fwd.peer.email, fwd.me.email, fwd.headers(),
                             "The secret word is xylophone.", "Our plans")
    fwd.deliver(world, raw, "encrypted")
    await until(lambda: raw_mail(world, fwd.me), 15, "the mail in Dovecot")
    app = TuiClientApp(load_config(fwd.config(world)), probe_on_start=False)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: bool(listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: True)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "xylophone" in text_of(app, "#email-body"))
        await pilot.press("f")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ForwardScreen), 20)
        screen = app.screen
        state = lambda: str(screen.query_one("#compose-openpgp", Label).render())  # noqa: E731
        assert await pilot_until(pilot, lambda: "came encrypted" in state()), state()
        assert "encrypted" in state() and "in clear" not in state()
        await pilot.press(*fwd.carol.email, "tab")
        screen.query_one("#body", TextArea).text = "For you, Carol."
        await pilot.press("ctrl+s")
        await until(lambda: raw_mail(world, fwd.carol), 30, "carol's forward")
    (wire,) = raw_mail(world, fwd.carol)
    assert b"xylophone" not in wire and b"For you" not in wire
    assert "xylophone" in _opened_by_carol(fwd, wire).as_string()


def test_decrypted_email_opens_pgp_mime_and_inline_and_leaves_clear_mail_alone(
        tmp_path: Path) -> None:
    """bridge.crypto.unsealed on gpg's own output: PGP/MIME gets its protected
    Subject back over the outer "...", inline PGP its text; clear mail is None."""
    from bridge.crypto.openpgp import OpenPGP
    from bridge.crypto.unsealed import decrypted_email, is_encrypted_raw

    me, bob = Keyring(tmp_path / "me"), Keyring(tmp_path / "bob")
    try:
        me.make_key("Alice <alice@example.test>")
        bob.make_key("Bob <bob@example.test>")
        bob.import_key(me.export("alice@example.test"))
        head = ("From: Bob <bob@example.test>\r\nTo: <alice@example.test>\r\n"
                "Date: Sun, 06 Dec 2026 06:00:00 +0000\r\nMessage-ID: <m1@example.test>\r\n")
        mime = pgp_mime_encrypted(bob, "bob@example.test", "alice@example.test", head,
                                  "The secret word is xylophone.", "Our plans")
        port = OpenPGP(me.home)
        assert is_encrypted_raw(mime)
        opened = email.message_from_bytes(decrypted_email(mime, port) or b"")
        assert opened["Subject"] == "Our plans" and opened["From"] == "Bob <bob@example.test>"
        assert opened["Message-ID"] == "<m1@example.test>"
        assert "xylophone" in opened.get_payload(decode=True).decode()
        armored = bob.run("--armor", "--encrypt", "--recipient", "alice@example.test",
                          "--trust-model", "always", data=b"Inline words: ocarina.\n").stdout
        inline = (head + "Subject: Inline\r\nContent-Type: text/plain\r\n\r\n").encode() + armored
        assert is_encrypted_raw(inline)
        opened = email.message_from_bytes(decrypted_email(inline, port) or b"")
        assert opened["Subject"] == "Inline"
        assert "ocarina" in opened.get_payload(decode=True).decode()
        assert b"BEGIN PGP" not in opened.as_bytes()
        clear = (head + "Subject: Clear\r\n\r\nNothing sealed.\r\n").encode()
        assert not is_encrypted_raw(clear) and decrypted_email(clear, port) is None
    finally:
        me.close()
        bob.close()
