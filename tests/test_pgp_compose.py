"""The TUI's compose starts from the one protection decision (issue 23): gpg on
the other side, the real SMTP server and Dovecot in between.

(a) a reply to bob's encrypted email opens with the lock on and says why (the
    conversation is encrypted); sent untouched, it goes encrypted and gpg reads
    it; turning encryption off asks first, and "no" sends nothing;
(b) a new message to a contact the user prefers encrypted (`keys prefer`)
    opens encrypted too, and goes so;
(c) Cc and Bcc count: a Bcc without a key is refused naming them; with keys,
    each recipient decrypts and the Bcc stays hidden from the others (gpg's
    hidden recipient); a Cc who prefers encryption makes the email encrypted.
"""

from __future__ import annotations

import email

import pytest

from bridge.headless.outcome import EXIT_OK
from tests.gpg_peer import pgp_mime_encrypted
from tests.others import until
from tests.test_crypto_mail import people, raw_mail  # noqa: F401 (the fixture)
from tests.test_headless import cli

pytestmark = pytest.mark.servers


async def test_a_reply_in_an_encrypted_conversation_starts_encrypted_and_says_why(
        world, people) -> None:  # noqa: F811 (the fixture)
    from textual.widgets import Label, TextArea

    from bridge.config import load_config
    from tests.test_app import go_to_row, listing, pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.compose import ComposeScreen
    from tuiclient.screens.main import MainScreen
    from tuiclient.screens.pickers import Confirm

    raw = pgp_mime_encrypted(people.theirs, people.peer.email, people.me.email,
                             people.headers() + "Message-ID: <plans-7@example.net>\r\n",
                             "The secret word is xylophone.", "Our plans")
    people.deliver(world, raw, "encrypted")
    await until(lambda: raw_mail(world, people.me), 15, "the mail in Dovecot")
    app = TuiClientApp(load_config(people.config(world)), probe_on_start=False)
    async with app.run_test(size=(160, 40)) as pilot:
        assert await pilot_until(pilot, lambda: bool(listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: True)
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen))
        compose = app.screen

        def state() -> str:
            return str(compose.query_one("#compose-openpgp", Label).render())
        assert await pilot_until(pilot, lambda: "conversation is encrypted" in state()), \
            state()
        assert "OpenPGP: encrypted" in state(), state()
        # The original is quoted as opened, not as its sealed bytes (empty).
        quote = compose.query_one("#quote", TextArea).text
        assert "> The secret word is xylophone." in quote, quote
        # The user turns it off: asked first; "no" keeps the screen, nothing sent.
        compose.query_one("#body", TextArea).text = "Not in clear, please."
        while "in clear" not in state().split("(ctrl+g")[0]:
            await pilot.press("ctrl+g")
        assert "should be encrypted" in state(), state()
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("n")
        assert await pilot_until(pilot, lambda: app.screen is compose)
        # Back to encrypted, and sent.
        while "OpenPGP: encrypted" not in state():
            await pilot.press("ctrl+g")
        compose.query_one("#body", TextArea).text = "Agreed, sealed: marimba."
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await until(lambda: raw_mail(world, people.peer), 20, "bob's copy")
        # Our own encrypted reply reads in the app as sent (opened from the bytes
        # we kept; it has no IMAP uid of its own yet), under the real Subject.
        from tests.test_app import text_of
        from tuiclient.widgets.timeline import Timeline

        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: any(
            "marimba" in (m.text or "") for m in timeline.messages), 20), \
            [m.text for m in timeline.messages]
        timeline.focus()
        await pilot.press("G")
        assert await pilot_until(pilot, lambda: "marimba" in text_of(app, "#email-body")), \
            text_of(app, "#email-body")
        assert "Re: Our plans" in text_of(app, "#email-head"), text_of(app, "#email-head")
    (wire,) = raw_mail(world, people.peer)
    assert b"marimba" not in wire and b"Not in clear" not in wire
    outer = email.message_from_bytes(wire)
    assert outer.get_content_type() == "multipart/encrypted"
    done = people.theirs.run("--decrypt", data=outer.get_payload()[1].get_payload(decode=True))
    assert b"marimba" in done.stdout


async def test_a_new_message_to_a_contact_preferring_encryption_starts_encrypted(
        world, people) -> None:  # noqa: F811 (the fixture)
    from textual.widgets import Input, Label, TextArea

    from bridge.config import load_config
    from tests.test_app import pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.compose import NewMessageScreen
    from tuiclient.screens.main import MainScreen

    config = people.config(world)
    code, _, err = await cli(config, "keys", "prefer", people.peer.email, "encrypt")
    assert code == EXIT_OK, err
    app = TuiClientApp(load_config(config), probe_on_start=False)
    async with app.run_test(size=(160, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 30)
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        compose = app.screen

        def state() -> str:
            return str(compose.query_one("#compose-openpgp", Label).render())
        await pilot.press(*people.peer.email, "tab")
        assert await pilot_until(pilot, lambda: "OpenPGP: encrypted" in state()), state()
        assert "you prefer encryption for this contact" in state(), state()
        compose.query_one("#subject", Input).value = "Preferred sealed"
        compose.query_one("#body", TextArea).text = "The word is bassoon."
        await pilot.press("ctrl+s")
        await until(lambda: raw_mail(world, people.peer), 20, "bob's copy")
    (wire,) = raw_mail(world, people.peer)
    assert b"bassoon" not in wire
    assert email.message_from_bytes(wire).get_content_type() == "multipart/encrypted"


async def test_a_bcc_without_a_key_is_refused_and_with_keys_stays_hidden(
        world, people) -> None:  # noqa: F811 (the fixture)
    """An encrypted email with a Bcc whose key is missing is refused naming the
    Bcc; with its key, bob (To) and carol (Bcc) each decrypt it with their own
    gpg, and nothing bob receives names carol: no Bcc field, not in the
    protected headers, and no key id of hers (gpg's hidden recipient)."""
    from bridge.headless.outcome import EXIT_ENCRYPTION
    from tests.gpg_peer import Keyring
    from tests.others import person

    config = people.config(world)
    carol = person(world, "carol")
    carols = Keyring(people.tmp / "gpg-carol")
    try:
        carol_fpr = carols.make_key(f"Carol <{carol.email}>")
        code, result, err = await cli(config, "send", "--to", people.peer.email, "--bcc",
                                      carol.email, "--via", "email", "--subject", "Quiet",
                                      "--encrypt", "Nobody else should know: tuba.")
        assert code == EXIT_ENCRYPTION, (result, err)
        assert carol.email in result["error"] and people.peer.email not in \
            result["detail"]["missing"], result
        assert raw_mail(world, people.peer) == [] and raw_mail(world, carol) == []

        people.mine.import_key(carols.export(carol.email))
        code, result, err = await cli(config, "send", "--to", people.peer.email, "--bcc",
                                      carol.email, "--via", "email", "--subject", "Quiet",
                                      "--encrypt", "Nobody else should know: tuba.")
        assert code == EXIT_OK, (result, err)
        await until(lambda: raw_mail(world, people.peer) and raw_mail(world, carol), 20,
                    "bob's and carol's copies")
        (to_bob,), (to_carol,) = raw_mail(world, people.peer), raw_mail(world, carol)
        for wire in (to_bob, to_carol):
            assert b"tuba" not in wire
            assert email.message_from_bytes(wire).get_content_type() == "multipart/encrypted"
        assert carol.email.encode() not in to_bob  # (her copy says Delivered-To: her)

        def ciphertext(wire: bytes) -> bytes:
            return email.message_from_bytes(wire).get_payload()[1].get_payload(decode=True)
        listing = people.theirs.run("--list-packets", data=ciphertext(to_bob),
                                    check=False).stdout.decode()
        carol_subkeys = carols.run("--with-colons", "--list-keys", carol_fpr).stdout.decode()
        carol_ids = [line.split(":")[4] for line in carol_subkeys.splitlines()
                     if line.startswith(("pub:", "sub:"))]
        assert carol_ids and not any(k.upper() in listing.upper() for k in carol_ids), listing
        assert "keyid 0000000000000000" in listing  # a hidden recipient, unnamed
        bob_reads = people.theirs.run("--decrypt", data=ciphertext(to_bob))
        assert b"tuba" in bob_reads.stdout and carol.email.encode() not in bob_reads.stdout
        carol_reads = carols.run("--decrypt", data=ciphertext(to_carol))
        assert b"tuba" in carol_reads.stdout

        # The decision counts Cc too: carol prefers encryption, bob does not say.
        code, _, err = await cli(config, "keys", "prefer", carol.email, "encrypt")
        assert code == EXIT_OK, err
        code, result, err = await cli(config, "send", "--to", people.peer.email, "--cc",
                                      carol.email, "--via", "email", "--subject", "Copied",
                                      "Sealed for carol's sake: oboe.")
        assert code == EXIT_OK, (result, err)
        await until(lambda: len(raw_mail(world, people.peer)) == 2, 20, "bob's second")
        second = next(w for w in raw_mail(world, people.peer) if w != to_bob)
        assert b"oboe" not in second
        assert email.message_from_bytes(second).get_content_type() == "multipart/encrypted"
    finally:
        carols.close()


async def test_a_reply_to_all_counts_the_cc_who_prefers_encryption(
        world, people) -> None:  # noqa: F811 (the fixture)
    """bob writes to us with carol in Cc, in clear; we prefer encryption for
    carol: the reply to all goes encrypted, and both read it with their gpg."""
    from tests.gpg_peer import Keyring
    from tests.others import person, send_email
    from tests.test_crypto_mail import synced_thread

    carol = person(world, "carol")
    carols = Keyring(people.tmp / "gpg-carol")
    try:
        carols.make_key(f"Carol <{carol.email}>")
        carols.import_key(people.mine.export(people.me.email))
        people.mine.import_key(carols.export(carol.email))
        config = people.config(world)
        send_email(world, people.peer, [people.me.email], [carol.email], "Lunch",
                   "Lunch on Friday?")
        thread = await synced_thread(config, world, people.me)
        code, shown, err = await cli(config, "show", thread)
        assert code == EXIT_OK, err
        code, _, err = await cli(config, "keys", "prefer", carol.email, "encrypt")
        assert code == EXIT_OK, err
        code, out, err = await cli(config, "reply", str(shown["messages"][0]["id"]),
                                   "--all", "--via", "email", "Friday it is: ramen.")
        assert code == EXIT_OK, (out, err)
        # (carol's INBOX holds bob's email first: she was in its Cc.)
        await until(lambda: raw_mail(world, people.peer) and len(raw_mail(world, carol)) == 2,
                    20, "bob's and carol's copies")
        for ring, wire in ((people.theirs, raw_mail(world, people.peer)[-1]),
                           (carols, raw_mail(world, carol)[-1])):
            assert b"ramen" not in wire
            outer = email.message_from_bytes(wire)
            assert outer.get_content_type() == "multipart/encrypted"
            done = ring.run("--decrypt", data=outer.get_payload()[1].get_payload(decode=True))
            assert b"ramen" in done.stdout
    finally:
        carols.close()
