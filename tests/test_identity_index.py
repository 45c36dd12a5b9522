"""The identity layer's shortcuts answer as the slow paths they skip: a bare
address is not parsed (parseaddr would give it back unchanged), validity is checked
without a loop over the characters, and the config's contacts are looked up in an
index built once per config (in file order, with the conflicts the walk found)."""

from __future__ import annotations

import random
import sys
from email.utils import parseaddr
from pathlib import Path

import pytest

from bridge.config import is_valid_address, load_config
from bridge.identity import Identity, _plain, _valid, normalize_email, normalize_jid
from bridge.store import Store


def slow_normalize_email(address: str) -> str:
    """normalize_email as it was: always through parseaddr."""
    _name, addr = parseaddr(address or "")
    addr = (addr or address or "").strip().strip("<>").strip()
    return addr.lower() if is_valid_address(addr) else ""


def test_validity_without_the_loop_is_the_configs_on_every_code_point():
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        for s in (f"a{c}b@example.test", f"ab@exa{c}mple.test"):
            assert _valid(s) == is_valid_address(s), hex(code)
    for s in ("", "@", "a@", "@b", "a@b", "a@b@c", "a b@c", "a@b c", "a\t@b", "ü@b"):
        assert _valid(s) == is_valid_address(s), s


def test_a_bare_address_normalises_as_parseaddr_would():
    alphabet = "aB.@-_+%!#$&'*/=?^`{|}~1.@..é\u00a0\x7fZ<>\"(),:;[]\\ \t"
    rng = random.Random(22)
    plain = 0
    for _ in range(100_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        plain += _plain(s)
        assert normalize_email(s) == slow_normalize_email(s), repr(s)
        if _plain(s):
            assert parseaddr(s)[0] == "", repr(s)  # no display name to read
    assert plain > 10_000  # the shortcut was taken, not only the parse
    for s in ('"Bob" <Bob@Example.TEST>', "bob@example.test (Bob)", "<bob@x.test>",
              "Bob@Example.test", " bob@example.test ", "a@b, c@d", "xmpp:bob@example.test"):
        assert normalize_email(s) == slow_normalize_email(s), s


CONFIG = """
[[contacts]]
name = "Bob"
emails = ["bob@example.test", "Robert@Home.example"]
jids = ["bob@example.test", "Bob@Chat.example/phone", "robert@chat.example"]

[[contacts]]
name = "Carol"
emails = ["carol@example.test"]
jids = ["carol@example.test"]
"""


@pytest.fixture
def identity(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    store = Store.open(tmp_path / "store.db")
    yield Identity(load_config(path), store)
    store.close()


def walk(identity: Identity, address: str, want: str) -> list[tuple[str, str]]:
    """The config's candidates as the walk over every contact found them."""
    found = []
    for contact in identity.config.contacts:
        if want == "jid" and address in {e.lower() for e in contact.emails}:
            found += [(normalize_jid(j), f"contact {contact.name}") for j in contact.jids]
        if want == "email" and address in {normalize_jid(j) for j in contact.jids}:
            found += [(e.lower(), f"contact {contact.name}") for e in contact.emails]
    return found


def test_the_contact_index_answers_as_the_walk(identity):
    for email in ("bob@example.test", "robert@home.example", "carol@example.test",
                  "nobody@example.test"):
        got = [(m.address, m.detail) for m in identity._candidates_for_email(email)]
        assert got == walk(identity, email, "jid"), email
    for jid in ("bob@example.test", "bob@chat.example", "robert@chat.example",
                "nobody@example.test"):
        got = [(m.address, m.detail) for m in identity._candidates_for_jid(jid)]
        assert got == walk(identity, jid, "email"), jid
    # A contact with three JIDs: the first in the file wins and the others are
    # reported, as before the index.
    r = identity.jid_for("Bob <BOB@example.test>")
    assert r.address == "bob@example.test"
    assert [c.address for c in r.conflicts] == ["bob@chat.example", "robert@chat.example"]
    assert identity.email_for("robert@chat.example/home").address == "bob@example.test"


def test_a_new_config_is_indexed_anew(identity, tmp_path):
    assert identity.jid_for("carol@example.test").address == "carol@example.test"
    path = tmp_path / "other.toml"
    path.write_text('[[contacts]]\nname = "Carol"\nemails = ["carol@example.test"]\n'
                    'jids = ["carol@chat.example"]\n')
    identity.config = load_config(path)
    assert identity.jid_for("carol@example.test").address == "carol@chat.example"
    assert identity.jid_for("bob@example.test").address is None
