"""`tuiclient keys` (issue 23): the keyring through GPGME, gpg's own command line
checking what we did, and a contact's preference making a send encrypted.

(a) `keys import` takes bob's key from a file and from stdin; `keys list` shows
    ours and his, his email address and JID side by side;
(b) `keys verify` is a local certification (gpg sees the key fully valid, and
    the certification is not exportable); `keys trust` sets the owner trust;
(c) unknown keys and garbage are refused with exit 1, in words;
(d) `keys prefer bob encrypt`: a plain `send` to bob goes encrypted, gpg reads it.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.headless.outcome import EXIT_FAILED, EXIT_OK
from tests.gpg_peer import Keyring
from tests.harness.servers import World
from tests.others import contacts_toml, person, until
from tests.test_crypto_mail import raw_mail
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers


class Ring:
    def __init__(self, world: World, tmp: Path) -> None:
        self.me, self.peer = person(world, "alice"), person(world, "bob")
        self.mine, self.theirs = Keyring(tmp / "gpg-me"), Keyring(tmp / "gpg-peer")
        self.my_fpr = self.mine.make_key(f"Alice <{self.me.email}>")
        self.fpr = self.theirs.make_key(f"Bob <{self.peer.email}>")
        self.config = write_config(world, tmp, self.me, contacts_toml(self.peer) + (
            f'\n[crypto]\ngnupg_home = "{self.mine.home}"\n'))
        self.tmp = tmp

    def colons(self, fpr: str) -> list[list[str]]:
        listing = self.mine.run("--with-colons", "--list-keys", fpr).stdout.decode()
        return [line.split(":") for line in listing.splitlines()]


@pytest.fixture
def ring(world: World, tmp_path: Path) -> Iterator[Ring]:
    r = Ring(world, tmp_path)
    yield r
    r.mine.close()
    r.theirs.close()


async def test_import_list_verify_and_trust(world, ring) -> None:
    code, listed, err = await cli(ring.config, "keys", "list")
    assert code == EXIT_OK, err
    assert [(k["mine"], k["fingerprint"]) for k in listed] == [(True, ring.my_fpr)]

    keyfile = ring.tmp / "bob.asc"
    keyfile.write_bytes(ring.theirs.export(ring.peer.email))
    code, done, err = await cli(ring.config, "keys", "import", str(keyfile))
    assert code == EXIT_OK, err
    assert done["imported"] == 1 and done["fingerprints"] == [ring.fpr]
    code, done, err = await cli(ring.config, "keys", "import", "-",
                                stdin=keyfile.read_text())
    assert code == EXIT_OK and done["unchanged"] == 1, (done, err)

    code, listed, err = await cli(ring.config, "keys", "list")
    bob = next(k for k in listed if k["fingerprint"] == ring.fpr)
    # His two identities side by side: the key's address and the JID it maps to.
    assert bob["email"] == ring.peer.email and bob["jids"] == [ring.peer.jid]
    assert bob["contact"] == ring.peer.display_name and not bob["mine"]
    assert not bob["verified"] and bob["validity"] in ("unknown", "undefined")
    assert bob["can_encrypt"] and bob["expires"] is None

    code, key, err = await cli(ring.config, "keys", "verify", ring.fpr[-16:])
    assert code == EXIT_OK, err
    assert key["verified"] and key["validity"] == "full"
    pub = next(f for f in ring.colons(ring.fpr) if f[0] == "pub")
    assert pub[1] == "f"  # gpg itself: fully valid
    sigs = ring.mine.run("--with-colons", "--check-sigs", ring.fpr).stdout.decode()
    # Our certification, local (class 10l: not exportable).
    assert any(line.startswith("sig:") and ring.my_fpr.endswith(line.split(":")[4])
               and line.split(":")[10].endswith("l") for line in sigs.splitlines()), sigs

    code, key, err = await cli(ring.config, "keys", "trust", ring.fpr, "--level",
                               "marginal")
    assert code == EXIT_OK and key["ownertrust"] == "marginal", (key, err)
    pub = next(f for f in ring.colons(ring.fpr) if f[0] == "pub")
    assert pub[8] == "m"  # gpg's owner trust field

    code, plain, err = await cli(ring.config, "keys", "list")
    assert any(k["verified"] for k in plain if k["fingerprint"] == ring.fpr)


async def test_unknown_keys_and_garbage_are_refused_in_words(world, ring) -> None:
    code, result, err = await cli(ring.config, "keys", "verify", "0123456789ABCDEF")
    assert code == EXIT_FAILED and "no key 0123456789ABCDEF" in result["error"], result
    junk = ring.tmp / "junk.asc"
    junk.write_text("not a key at all\n")
    code, result, err = await cli(ring.config, "keys", "import", str(junk))
    assert code == EXIT_FAILED and "no OpenPGP key" in result["error"], (result, err)
    code, _result, _err = await cli(ring.config, "keys", "trust", ring.my_fpr, "--level",
                                  "sometimes")
    assert code == 2  # argparse: a usage error


async def test_a_contact_who_prefers_encryption_gets_it_by_default(world, ring) -> None:
    ring.mine.import_key(ring.theirs.export(ring.peer.email))
    ring.theirs.import_key(ring.mine.export(ring.me.email))
    code, result, err = await cli(ring.config, "keys", "prefer", ring.peer.email.upper(),
                                  "encrypt")
    assert code == EXIT_OK and result["preference"] == "encrypt", (result, err)
    code, listed, err = await cli(ring.config, "keys", "list")
    assert next(k for k in listed if k["fingerprint"] == ring.fpr)["preference"] == "encrypt"
    code, sent, err = await cli(ring.config, "send", "--to", ring.peer.email,
                                "--subject", "Plans", "Bring the marimba.")
    assert code == EXIT_OK, (sent, err)
    await until(lambda: raw_mail(world, ring.peer), 20, "bob's copy")
    (wire,) = raw_mail(world, ring.peer)
    outer = email.message_from_bytes(wire)
    assert outer.get_content_type() == "multipart/encrypted" and b"marimba" not in wire
    done = ring.theirs.run("--decrypt", data=outer.get_payload()[1].get_payload(decode=True))
    assert b"Bring the marimba." in done.stdout
    # Back to the defaults: in clear again, and --no-encrypt always wins.
    code, _, err = await cli(ring.config, "keys", "prefer", ring.peer.email, "default")
    assert code == EXIT_OK, err
    code, _, err = await cli(ring.config, "send", "--to", ring.peer.email, "--via", "email",
                             "--subject", "Open", "Nothing secret.")
    assert code == EXIT_OK, err
    await until(lambda: len(raw_mail(world, ring.peer)) == 2, 20, "bob's second copy")
    assert any(b"Nothing secret." in raw for raw in raw_mail(world, ring.peer))


async def test_the_keys_screen_shows_them_and_verifies_one(world, ring) -> None:
    """K (and `:keys`) opens the keys screen: ours and bob's, his email and JID on
    one row; v and yes certify his key locally, and the row says verified."""
    from textual.widgets import DataTable

    from bridge.config import load_config
    from tests.test_app import pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.keys import KeysScreen
    from tuiclient.screens.main import MainScreen

    ring.mine.import_key(ring.theirs.export(ring.peer.email))
    app = TuiClientApp(load_config(ring.config), probe_on_start=False)
    async with app.run_test(size=(160, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 30)
        await pilot.press("K")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, KeysScreen))
        screen = app.screen
        assert await pilot_until(pilot, lambda: len(screen.rows) == 2, 20)
        table = screen.query_one(DataTable)
        cells = [" | ".join(str(c) for c in table.get_row_at(i)) for i in range(2)]
        assert cells[0].startswith("you")
        assert ring.peer.email in cells[1] and ring.peer.jid in cells[1]
        assert "not verified" in cells[1]
        table.move_cursor(row=1)
        # The line under the tables is the chosen key's, whatever the OMEMO
        # devices' table (filled after it) did meanwhile.
        detail = lambda: str(screen.query_one("#keys-detail").render())  # noqa: E731
        assert await pilot_until(pilot, lambda: ring.peer.email in detail()), detail()
        assert "OpenPGP key of" in detail() and "OMEMO device" not in detail(), detail()
        await pilot.press("v")
        await pilot.pause()
        await pilot.press("y")
        assert await pilot_until(pilot, lambda: any(
            r.key.verified for r in screen.rows if not r.mine), 30)
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("colon", *"keys", "enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, KeysScreen), 10)
    pub = next(f for f in ring.colons(ring.fpr) if f[0] == "pub")
    assert pub[1] == "f"
