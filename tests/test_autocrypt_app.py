"""Autocrypt in the app and in refusals (issue 23), gpg on the other side, the
real SMTP server and Dovecot in between (the helpers are test_autocrypt_mail's).

(a) a discouraged peer (a stale header) is encrypted to only once the user
    confirms, and bob's gpg reads it;
(b) a refusal says which Autocrypt key exists but cannot be used (expired);
(c) the K screen lists each peer's state: own header or gossip only,
    prefer-encrypt, last seen, recommendation.
"""

from __future__ import annotations

import email
import time

import pytest

from bridge.crypto import autocrypt
from bridge.headless.outcome import EXIT_OK
from tests.gpg_peer import Keyring
from tests.others import until
from tests.test_autocrypt_mail import (  # noqa: F401 (people: the fixture)
    decrypted,
    encrypted_with_gossip,
    folded,
    keydata,
    opened,
    people,
)
from tests.test_crypto_mail import raw_mail
from tests.test_headless import cli

pytestmark = pytest.mark.servers


async def test_a_discouraged_peer_is_encrypted_to_only_once_the_user_confirms(
        world, people) -> None:  # noqa: F811 (the fixture)
    """Bob's Autocrypt header is 40 days older than his last mail (stale): the
    recommendation is "discourage". In compose, ctrl+g to encrypt and ctrl+s
    asks first (Autocrypt's UI guidance); "no" sends nothing, "yes" sends it
    encrypted, and bob's gpg reads it."""
    from email.utils import formatdate as date_of

    from textual.widgets import Input, Label, TextArea

    from bridge.config import load_config
    from tests.test_app import pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.compose import NewMessageScreen
    from tuiclient.screens.main import MainScreen
    from tuiclient.screens.pickers import Confirm

    old = people.plain_mail(people.bob, "Long ago", "Autocrypt here, back then.",
                            ["Autocrypt: " + folded(people.bob.email,
                                                    keydata(people.bobs, people.bob.email))])
    head, _, body = old.partition(b"\r\n\r\n")
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Date:"))
    old = head + f"\r\nDate: {date_of(time.time() - 40 * 86400)}".encode() + b"\r\n\r\n" + body
    people.deliver(world, people.bob, old, "old")
    new = people.plain_mail(people.bob, "Long ago", "No header this time.",
                            ["In-Reply-To: <Long-ago@example.net>"])
    new = new.replace(b"Message-ID: <Long-ago@example.net>", b"Message-ID: <later@example.net>")
    people.deliver(world, people.bob, new, "new")
    config = people.config(world)
    await opened(config, world, people.me, 2)
    code, status, err = await cli(config, "keys", "autocrypt")
    assert code == EXIT_OK, err
    assert [p["recommendation"] for p in status["peers"]] == ["discourage"], status
    app = TuiClientApp(load_config(config), probe_on_start=False)
    async with app.run_test(size=(160, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 30)
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        compose = app.screen

        def state() -> str:
            return str(compose.query_one("#compose-openpgp", Label).render())
        await pilot.press(*people.bob.email, "tab")
        assert await pilot_until(pilot, lambda: "they may not read it" in state()), state()
        assert "in clear" in state()  # discouraged: never encrypted by default
        compose.query_one("#subject", Input).value = "Old key"
        compose.query_one("#body", TextArea).text = "The word is sousaphone."
        await pilot.press("ctrl+g", "ctrl+g")
        assert "signed + encrypted" in state()
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("n")
        assert await pilot_until(pilot, lambda: app.screen is compose)
        await pilot.pause(0.5)
        assert raw_mail(world, people.bob) == []
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    (wire,) = raw_mail(world, people.bob)
    assert b"sousaphone" not in wire
    people.bobs.import_key(autocrypt.parse(str(email.message_from_bytes(wire)["Autocrypt"])
                                           ).keydata)
    inner, status_lines = decrypted(people.bobs, wire)
    assert "sousaphone" in inner.as_string() and "[GNUPG:] GOODSIG" in status_lines


async def test_a_refusal_says_which_autocrypt_key_is_unusable(
        world, people) -> None:  # noqa: F811 (the fixture)
    """Bob's Autocrypt header carries a key that expired (gpg made it in 2020,
    for a day): `--encrypt` to him is refused, and the refusal says that his
    Autocrypt key has expired rather than that there is no key at all."""
    from bridge.headless.outcome import EXIT_ENCRYPTION

    old = Keyring(people.tmp / "gpg-old-bob")
    try:
        at = ("--faked-system-time", "20200101T000000")
        old.run(*at, "--quick-gen-key", f"Bob <{people.bob.email}>", "ed25519",
                "sign,cert", "1d")
        fpr = old.fingerprint(people.bob.email)
        old.run(*at, "--quick-add-key", fpr, "cv25519", "encr", "1d")
        raw = people.plain_mail(people.bob, "Old key", "My key, long expired.",
                                ["Autocrypt: " + folded(people.bob.email,
                                                        keydata(old, people.bob.email),
                                                        mutual=True)])
    finally:
        old.close()
    people.deliver(world, people.bob, raw, "expired")
    config = people.config(world)
    await opened(config, world, people.me)
    code, result, err = await cli(config, "send", "--to", people.bob.email, "--via", "email",
                                  "--subject", "Sealed", "--encrypt", "Not for the wire.")
    assert code == EXIT_ENCRYPTION, (result, err)
    assert result["detail"]["missing"] == [people.bob.email]
    assert "the Autocrypt key they sent has expired" in result["error"], result["error"]
    assert raw_mail(world, people.bob) == []


async def test_the_keys_screen_shows_each_autocrypt_peers_state(
        world, people) -> None:  # noqa: F811 (the fixture)
    """K lists the Autocrypt peers: bob, from his own header (mutual, seen
    today, encrypt recommended), and carol, known only from bob's gossip."""
    from bridge.config import load_config
    from tests.test_app import pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.keys import AutocryptTable, KeysScreen
    from tuiclient.screens.main import MainScreen

    people.bobs.import_key(people.mine.export(people.me.email))
    hello = people.plain_mail(people.bob, "Hello Alice", "Autocrypt here.",
                              ["Autocrypt: " + folded(people.bob.email,
                                                      keydata(people.bobs, people.bob.email),
                                                      mutual=True)])
    people.deliver(world, people.bob, hello, "hello")
    gossip = encrypted_with_gossip(
        people.bobs, people.bob, people.me.email, people.carol.email,
        [folded(people.carol.email, keydata(people.carols, people.carol.email))],
        "Carol is in now: zither.")
    people.deliver(world, people.bob, gossip, "gossip")
    config = people.config(world)
    await until(lambda: len(raw_mail(world, people.me)) >= 2, 20, "bob's two mails")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, threads, err = await cli(config, "list")
    for t in threads:
        code, _, err = await cli(config, "show", str(t["thread_id"]))
        assert code == EXIT_OK, err
    app = TuiClientApp(load_config(config), probe_on_start=False)
    async with app.run_test(size=(160, 45)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 30)
        await pilot.press("K")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, KeysScreen))
        table = app.screen.query_one(AutocryptTable)
        assert await pilot_until(pilot, lambda: table.row_count == 2, 20)
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)]
                for i in range(2)}
    today = time.strftime("%Y-%m-%d")
    bob, carol = rows[people.bob.email], rows[people.carol.email]
    assert bob[1:4] == ["their header", "mutual", today] and bob[5] == "encrypt", bob
    assert carol[1] == "gossip only" and carol[5] == "discourage", carol
    assert people.carols.fingerprint(people.carol.email)[-16:] in carol[4]
