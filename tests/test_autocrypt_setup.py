"""The Autocrypt Setup Message (Level 1, section 4.4), both ways, with gpg as
our other device; the real SMTP server and Dovecot in between.

(a) `keys autocrypt-setup --send` mails our key to ourselves: the email has the
    spec's shape (Autocrypt-Setup-Message: v1, an application/autocrypt-setup
    part, numeric9x4 armor headers), the code is printed once and is nowhere in
    the mail, and gpg on another device decrypts it with the code and imports
    our secret key (with Autocrypt-Prefer-Encrypt in its armor);
(b) a setup message gpg made on another device (symmetric, the code as
    passphrase) lands in our INBOX: `keys autocrypt-import ID` refuses a wrong
    code and imports the secret key with the right one.
"""

from __future__ import annotations

import email
import email.policy
import re
import secrets
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from bridge.headless.outcome import EXIT_FAILED, EXIT_OK
from tests.gpg_peer import Keyring
from tests.harness.servers import World
from tests.others import person, until
from tests.swaks import swaks
from tests.test_crypto_mail import raw_mail, synced_thread
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers

ARMORED = re.compile(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", re.S)


@pytest.fixture
def rings(tmp_path: Path) -> Iterator[tuple[Keyring, Keyring]]:
    here, there = Keyring(tmp_path / "gpg-here"), Keyring(tmp_path / "gpg-there")
    yield here, there
    here.close()
    there.close()


def secret_fingerprints(ring: Keyring) -> list[str]:
    listing = ring.run("--with-colons", "--list-secret-keys", check=False).stdout.decode()
    lines = listing.splitlines()
    return [lines[i + 1].split(":")[9] for i, line in enumerate(lines)
            if line.startswith("sec:") and i + 1 < len(lines)]


async def test_we_send_a_setup_message_that_gpg_on_another_device_imports(
        world: World, tmp_path: Path, rings) -> None:
    here, there = rings
    me = person(world, "alice")
    fingerprint = here.make_key(f"Alice <{me.email}>")
    config = write_config(world, tmp_path, me, (
        f'\n[crypto]\ngnupg_home = "{here.home}"\nautocrypt = true\n'
        "autocrypt_prefer_encrypt = true\n"))
    code, result, err = await cli(config, "keys", "autocrypt-setup", "--send")
    assert code == EXIT_OK, (result, err)
    setup_code = result["setup_code"]
    assert re.fullmatch(r"\d{4}(-\d{4}){8}", setup_code), setup_code
    await until(lambda: raw_mail(world, me), 20, "the setup message in our INBOX")
    (wire,) = raw_mail(world, me)
    digits = setup_code.replace("-", "").encode()
    assert digits not in wire and setup_code.encode() not in wire
    mail = email.message_from_bytes(wire, policy=email.policy.default)
    assert mail["Autocrypt-Setup-Message"] == "v1"
    assert mail["From"].addresses[0].addr_spec == mail["To"].addresses[0].addr_spec == me.email
    (part,) = [p for p in mail.walk() if p.get_content_type() == "application/autocrypt-setup"]
    armored = ARMORED.search(part.get_payload(decode=True)).group(0)
    assert b"Passphrase-Format: numeric9x4" in armored
    assert f"Passphrase-Begin: {setup_code[:2]}".encode() in armored
    # The other device: a wrong code opens nothing; the right one gives the key.
    wrong = there.run("--decrypt", "--passphrase", "1" * 36, data=armored, check=False)
    assert wrong.returncode != 0
    key = there.run("--decrypt", "--passphrase", setup_code, data=armored).stdout
    assert b"-----BEGIN PGP PRIVATE KEY BLOCK-----" in key
    assert b"Autocrypt-Prefer-Encrypt: mutual" in key
    there.import_key(key)
    assert fingerprint in secret_fingerprints(there)


async def test_we_import_a_setup_message_gpg_made_on_another_device(
        world: World, tmp_path: Path, rings) -> None:
    here, there = rings
    me = person(world, "alice")
    fingerprint = there.make_key(f"Alice <{me.email}>")
    setup_code = "-".join(f"{secrets.randbelow(10000):04d}" for _ in range(9))
    key = there.run("--armor", "--export-secret-keys", fingerprint).stdout
    key = key.replace(b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n",
                      b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n"
                      b"Autocrypt-Prefer-Encrypt: mutual\n", 1)
    armored = there.run("--symmetric", "--armor", "--passphrase", setup_code,
                        data=key).stdout.decode()
    boundary = "setup-1"
    raw = (f"From: <{me.email}>\r\nTo: <{me.email}>\r\nDate: {formatdate()}\r\n"
           "Autocrypt-Setup-Message: v1\r\nMIME-Version: 1.0\r\n"
           f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
           f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour Autocrypt key.\r\n"
           f"--{boundary}\r\nContent-Type: application/autocrypt-setup\r\n"
           'Content-Disposition: attachment; filename="autocrypt-setup-message.html"\r\n\r\n'
           f"<html><body><pre>\r\n{armored}\r\n</pre></body></html>\r\n"
           f"--{boundary}--\r\n").encode()
    path = tmp_path / "setup.eml"
    path.write_bytes(raw)
    swaks(world, me, me.email, "--data", str(path), subject="Autocrypt Setup Message")
    config = write_config(world, tmp_path, me, f'\n[crypto]\ngnupg_home = "{here.home}"\n')
    thread = await synced_thread(config, world, me)
    code, shown, err = await cli(config, "show", thread)
    assert code == EXIT_OK, err
    row = str(shown["messages"][0]["id"])
    assert secret_fingerprints(here) == []
    code, result, err = await cli(config, "keys", "autocrypt-import", row, "--code",
                                  "9" * 36)
    assert code == EXIT_FAILED and "setup code" in result["error"], (result, err)
    assert secret_fingerprints(here) == []
    code, result, err = await cli(config, "keys", "autocrypt-import", row, "--code",
                                  setup_code.replace("-", " "))
    assert code == EXIT_OK, (result, err)
    assert result["fingerprints"] == [fingerprint] and result["prefer_encrypt"] == "mutual"
    assert secret_fingerprints(here) == [fingerprint]
