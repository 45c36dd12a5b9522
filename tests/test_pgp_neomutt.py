"""neomutt reads what we send (issue 23): Debian's neomutt, with its GPGME
backend, fetches our signed and encrypted email from Dovecot over IMAPS (the
real SMTP server delivered it) and shows the plaintext and "Good signature"
from our key: a mail client we did not write agrees with our PGP/MIME.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.headless.outcome import EXIT_OK
from tests.gpg_peer import Keyring
from tests.harness.neomutt import Neomutt, missing
from tests.harness.servers import World
from tests.others import person, until
from tests.test_crypto_mail import raw_mail
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers


@pytest.fixture
def rings(tmp_path: Path) -> Iterator[tuple[Keyring, Keyring]]:
    mine, theirs = Keyring(tmp_path / "gpg-me"), Keyring(tmp_path / "gpg-peer")
    yield mine, theirs
    mine.close()
    theirs.close()


async def test_neomutt_decrypts_our_email_and_finds_our_good_signature(
        world: World, tmp_path: Path, rings) -> None:
    # scripts/dev setup installs them from Debian, as it installs gpg: missing, the
    # test fails (as tests/gpg_peer.py does) rather than passing by skipping.
    if missing():
        pytest.fail(f"{', '.join(missing())} not installed: run scripts/dev setup")
    me, peer = person(world, "alice"), person(world, "bob")
    mine, theirs = rings
    mine.make_key(f"Alice <{me.email}>")
    theirs.make_key(f"Bob <{peer.email}>")
    mine.import_key(theirs.export(peer.email))
    theirs.import_key(mine.export(me.email))
    config = write_config(world, tmp_path, me, f'\n[crypto]\ngnupg_home = "{mine.home}"\n')
    code, out, err = await cli(config, "send", "--to", peer.email, "--via", "email",
                               "--subject", "Sealed plans", "--sign", "--encrypt",
                               "The meeting moves to the lighthouse at noon.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, peer), 20, "bob's copy in Dovecot")
    (wire,) = raw_mail(world, peer)
    assert b"lighthouse" not in wire and b"Sealed plans" not in wire

    mutt = Neomutt(world, peer, tmp_path / "mutt-home", theirs.home).start()
    try:
        await mutt.shows("...", timeout=30)  # the index: the outer Subject is "..."
        mutt.press("Enter")
        shown = await mutt.shows("lighthouse", timeout=30)
        assert "The meeting moves to the lighthouse at noon." in shown, shown
        assert "Good signature" in shown, shown
        assert me.email in shown, shown
        assert "Sealed plans" in shown, shown  # the protected Subject, from inside
    finally:
        mutt.stop()
