"""Compose's headers as mutt writes them (issue 19): Cc, Bcc and a From chosen
among the account's address and its aliases, on `send` and through the engine,
checked in the recipients' mailboxes as their own clients see them."""

from __future__ import annotations

import pytest

from bridge.headless.cli import EXIT_OK, EXIT_USAGE
from tests.conftest import password_command
from tests.others import inbox, person, wait_inbox
from tests.test_headless import cli

pytestmark = pytest.mark.servers


def config_with_alias(world, tmp_path, who, alias: str):
    """`who`'s config with one alias (as tests/test_headless_mail.py writes it)."""
    text = world.client_config(who, password_command(tmp_path, who))
    head, sep, rest = text.partition("password_command = ")
    line, nl, tail = rest.partition("\n")
    path = tmp_path / "config.toml"
    path.write_text(f'{head}{sep}{line}{nl}aliases = ["{alias}"]\n{tail}')
    return path


async def test_send_from_an_alias_with_cc_and_bcc(world, tmp_path):
    alice, bob, carol, dave = (person(world, n) for n in ("alice", "bob", "carol", "dave"))
    alias = f"sales-{alice.email}"
    config = config_with_alias(world, tmp_path, alice, alias)
    code, _, err = await cli(config, "send", "--to", bob.email, "--cc", carol.email,
                             "--bcc", dave.email, "--from", alias, "--subject", "Prices",
                             "--via", "email", "Ten for 100.")
    assert code == EXIT_OK, err
    for who in (bob, carol, dave):  # the Bcc recipient gets it too
        (got,) = await wait_inbox(world, who, lambda m: m["Subject"] == "Prices")
        assert alias in got["From"]
        assert carol.email in got["Cc"] and bob.email in got["To"]
        assert got["Bcc"] is None
        # Only the servers' trace headers of dave's own copy name him.
        trace = {"received", "delivered-to", "return-path", "x-original-to"}
        assert not [k for k, v in got.items() if dave.email in v and k.lower() not in trace]


async def test_send_refuses_a_from_that_is_not_the_accounts(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    config = config_with_alias(world, tmp_path, alice, f"sales-{alice.email}")
    code, said, err = await cli(config, "send", "--to", bob.email, "--from",
                                "ceo@elsewhere.test", "--subject", "Fake", "Hello.")
    assert code == EXIT_USAGE, (said, err)
    words = str(said) + err
    assert "ceo@elsewhere.test is not an address of the account" in words
    assert f"sales-{alice.email}" in words
    assert not [m for m in inbox(world, bob) if m["Subject"] == "Fake"]
