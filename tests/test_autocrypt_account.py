"""Autocrypt per account (issue 23): `[accounts.crypto] autocrypt` over the global
`[crypto] autocrypt`, which stays the default.

The config: the account's own key wins either way, an unknown key in its table
is an error at FILE:LINE. The wire: with Autocrypt on globally and off for the
account, the email it sends to bob carries no Autocrypt header (and `keys
autocrypt` says the account is off); off globally and on for the account, it
does.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config import ConfigError, load_config
from bridge.crypto import autocrypt
from bridge.headless.outcome import EXIT_OK
from tests.others import until
from tests.test_autocrypt_mail import People
from tests.test_config import MINIMAL, write
from tests.test_crypto_mail import raw_mail
from tests.test_headless import cli, write_config


def test_the_accounts_own_autocrypt_wins_and_the_global_one_is_the_default(
        tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + "\n[crypto]\nautocrypt = true\n"))
    assert config.accounts[0].autocrypt is None and config.autocrypt_on("alice")
    off = load_config(write(tmp_path, MINIMAL + "\n[accounts.crypto]\nautocrypt = false\n"
                            "\n[crypto]\nautocrypt = true\n"))
    assert off.accounts[0].autocrypt is False and not off.autocrypt_on("alice")
    on = load_config(write(tmp_path, MINIMAL + "\n[accounts.crypto]\nautocrypt = true\n"))
    assert not on.crypto.autocrypt and on.autocrypt_on("alice")
    assert not load_config(write(tmp_path, MINIMAL)).autocrypt_on("alice")


def test_an_unknown_key_in_the_accounts_crypto_table_is_an_error(tmp_path: Path) -> None:
    text = MINIMAL + "\n[accounts.crypto]\nautocrypt = true\nencrypt = true\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "accounts[0].crypto.encrypt" in str(info.value) or "encrypt" in str(info.value)
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, MINIMAL + "\n[accounts.crypto]\nautocrypt = 1\n"))


@pytest.fixture
def people(world, tmp_path: Path) -> Iterator[People]:
    p = People(world, tmp_path)
    yield p
    p.close()


async def _sent_to_bob(world, people: People, crypto: str) -> tuple[bytes, dict]:
    config = write_config(world, people.tmp, people.me, (
        f'\n[accounts.crypto]\n{crypto}\n'
        f'\n[crypto]\ngnupg_home = "{people.mine.home}"\n'
        + ("autocrypt = true\n" if "false" in crypto else "")))
    code, out, err = await cli(config, "send", "--to", people.bob.email, "--via", "email",
                               "--subject", "Hello", "Words for bob.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, people.bob), 20, "bob's copy")
    code, status, err = await cli(config, "keys", "autocrypt")
    assert code == EXIT_OK, err
    (wire,) = raw_mail(world, people.bob)
    return wire, status


@pytest.mark.servers
async def test_autocrypt_off_for_the_account_sends_no_header(world, people) -> None:
    wire, status = await _sent_to_bob(world, people, "autocrypt = false")
    assert email.message_from_bytes(wire)["Autocrypt"] is None
    assert status["accounts"][0]["enabled"] is False


@pytest.mark.servers
async def test_autocrypt_on_for_the_account_alone_sends_its_header(world, people) -> None:
    wire, status = await _sent_to_bob(world, people, "autocrypt = true")
    header = autocrypt.parse(str(email.message_from_bytes(wire)["Autocrypt"]))
    assert header is not None and header.addr == people.me.email
    assert status["enabled"] and status["accounts"][0]["enabled"] is True
