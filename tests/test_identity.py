"""Identity: which JID is an email address, and which email address a JID."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.identity import Identity, UnmappedParty, normalize_email, normalize_jid
from bridge.store import Store

CONFIG = """
[[accounts]]
name = "me"
email = "me@example.test"
jid = "me@example.test"
password_command = "echo x"

[accounts.xmpp]
host = "127.0.0.1"
port = 5222
tls = "starttls"

[[contacts]]
name = "Dave"
emails = ["dave@corp.example"]
jids = ["dave.smith@chat.corp.example"]

[[contacts]]
name = "Bob"
emails = ["bob@example.test", "Robert@Home.example"]
jids = ["bob@example.test"]

[[domain_rules]]
email = "*@corp.example"
jid = "{local}@chat.corp.example"
"""


@pytest.fixture
def identity(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    store = Store.open(tmp_path / "store.db")
    yield Identity(load_config(path), store, dual_domains={"example.test"})
    store.close()


def test_addresses_are_normalised():
    assert normalize_email('"Bob Smith" <Bob@Example.TEST>') == "bob@example.test"
    assert normalize_email("not an address") == ""
    assert normalize_jid("Bob@Example.test/phone") == "bob@example.test"
    assert normalize_jid("xmpp:bob@example.test") == "bob@example.test"


def test_explicit_contacts_map_both_ways_with_any_spelling(identity):
    assert identity.jid_for("Robert <robert@home.EXAMPLE>").address == "bob@example.test"
    assert identity.email_for("BOB@example.test/laptop").address == "bob@example.test"


def test_a_domain_rule_maps_both_ways(identity):
    r = identity.jid_for("erin@corp.example")
    assert (r.address, r.source) == ("erin@chat.corp.example",
                                     "rule: *@corp.example -> {local}@chat.corp.example")
    assert identity.email_for("erin@chat.corp.example").address == "erin@corp.example"


def test_a_conflict_is_resolved_by_precedence_and_reported(identity):
    r = identity.jid_for("dave@corp.example")
    # The explicit contact wins over the domain rule ...
    assert r.address == "dave.smith@chat.corp.example"
    assert r.source == "config: contact Dave"
    # ... and the rule's different answer is reported with its source.
    assert [(c.address, c.source) for c in r.conflicts] == [("dave@chat.corp.example", "rule")]
    assert "conflicts with dave@chat.corp.example" in r.describe()
    assert [c.query for c in identity.conflicts()] == ["dave@corp.example"]


def test_learned_mappings_are_suggestions_until_confirmed(identity):
    identity.suggest("carol@elsewhere.example", "carol@chat.elsewhere.example")
    r = identity.jid_for("carol@elsewhere.example")
    assert r.address is None
    assert [s.address for s in r.suggestions] == ["carol@chat.elsewhere.example"]
    identity.confirm("carol@elsewhere.example", "carol@chat.elsewhere.example")
    assert identity.jid_for("carol@elsewhere.example").address == \
        "carol@chat.elsewhere.example"
    assert identity.email_for("carol@chat.elsewhere.example").address == \
        "carol@elsewhere.example"


def test_an_unmapped_party_is_a_clear_error_with_suggestions(identity):
    mapped, unresolved = identity.map_parties(["bob@example.test", "zoe@example.test",
                                               "yann@nowhere.example"], "xmpp")
    assert mapped == {"bob@example.test": "bob@example.test"}
    assert [r.query for r in unresolved] == ["zoe@example.test", "yann@nowhere.example"]
    # On a server that has both, the same address as a JID is offered, not used.
    assert [s.address for s in unresolved[0].suggestions] == ["zoe@example.test"]
    assert unresolved[1].suggestions == ()
    error = UnmappedParty("xmpp", unresolved)
    assert "no JID known for 2 parties" in str(error)
    assert "zoe@example.test" in str(error) and "yann@nowhere.example" in str(error)


def test_confirming_the_suggestion_that_an_address_is_also_a_jid(identity):
    # The suggestion the app offers on a server that has both: the same address.
    suggestion = identity.jid_for("zoe@example.test").suggestions[0].address
    identity.confirm("zoe@example.test", suggestion)
    assert identity.jid_for("Zoe <ZOE@example.test>").address == "zoe@example.test"
    assert identity.email_for("zoe@example.test/phone").address == "zoe@example.test"
    contact = identity.store.contact_for("zoe@example.test")
    assert contact.emails == contact.jids == ["zoe@example.test"]
    # Learning a second JID later keeps the address usable by mail.
    identity.confirm("zoe@example.test", "zoe@chat.example.test")
    assert identity.email_for("zoe@chat.example.test").address == "zoe@example.test"
    assert identity.email_for("zoe@example.test").address == "zoe@example.test"


def test_roster_names_are_offered_as_suggestions(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    with Store.open(tmp_path / "store.db") as store:
        identity = Identity(load_config(path), store,
                            roster_named=lambda name: ["fay@xmpp.example"]
                            if name == "Fay Example" else [])
        r = identity.jid_for('"Fay Example" <fay@mail.example>')
        assert r.address is None
        assert [(s.address, s.detail) for s in r.suggestions] == [
            ("fay@xmpp.example", "roster name 'Fay Example'")]
