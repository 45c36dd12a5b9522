"""Config loading, its error messages, paths, secrets and the `config check` report."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest

from bridge.config import (
    AccountConfig,
    ConfigError,
    DeferralPolicy,
    DomainRule,
    HealthPolicy,
    SecretError,
    ServerConfig,
    describe,
    get_password,
    load_config,
    password_source,
)
from bridge.paths import config_dir, data_dir, default_config_path, ensure_private_dir

GOOD = """\
# Alice's setup
ca_file = "certs/ca.pem"

[deferral]
first_retry = "1m"
growth = 1.5
ceiling = "1h"
max_age = 86400
on_max_age = "email"
policy = "defer"

[[accounts]]
name = "alice"
email = "alice@example.test"
jid = "alice@chat.example.test"
display_name = "Alice Liddell"
password_command = "pass show mail/alice"

[accounts.imap]
host = "imap.example.test"

[accounts.smtp]
host = "smtp.example.test"
tls = "starttls"
username = "alice"
password_command = "pass show smtp/alice"

[accounts.xmpp]

[[accounts]]
name = "work"
jid = "a.liddell@chat.corp.example"

[accounts.xmpp]
host = "xmpp.corp.example"
tls = "tls"
ca_file = "work-ca.pem"

[[contacts]]
name = "Bob"
emails = ["bob@example.test", "robert@example.test"]
jids = ["bob@chat.example.test"]

[[contacts]]
name = "Carol"
emails = ["carol@example.test"]

[[domain_rules]]
email = "*@corp.example"
jid = "{local}@chat.corp.example"
"""

MINIMAL = """\
[[accounts]]
name = "alice"
email = "alice@example.test"

[accounts.imap]
host = "imap.example.test"
"""


def write(directory: Path, text: str) -> Path:
    path = directory / "config.toml"
    path.write_text(text)
    return path


def write_good(directory: Path, text: str = GOOD) -> Path:
    (directory / "certs").mkdir(exist_ok=True)
    (directory / "certs" / "ca.pem").write_text("not checked here\n")
    (directory / "work-ca.pem").write_text("not checked here\n")
    return write(directory, text)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the `occurrence`-th `needle`."""
    seen = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def insert_after(text: str, anchor: str, new_line: str, occurrence: int = 1) -> str:
    lines = text.split("\n")
    index = line_of(text, anchor, occurrence)
    lines.insert(index, new_line)
    return "\n".join(lines)


def load_error(directory: Path, text: str) -> ConfigError:
    path = write_good(directory, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == path
    return info.value


# -- a good file -----------------------------------------------------------


def test_good_config_loads_values_and_defaults(tmp_path: Path) -> None:
    path = write_good(tmp_path)
    config = load_config(path)

    assert config.path == path
    assert config.ca_file == tmp_path / "certs" / "ca.pem"
    assert config.deferral == DeferralPolicy(
        first_retry=60.0,
        growth=1.5,
        ceiling=3600.0,
        max_age=86400.0,
        on_max_age="email",
        policy="defer",
    )

    alice = config.account("alice")
    assert alice.email == "alice@example.test"
    assert alice.jid == "alice@chat.example.test"
    assert alice.display_name == "Alice Liddell"
    assert alice.password_command == "pass show mail/alice"
    assert alice.imap == ServerConfig(
        host="imap.example.test",
        port=993,
        tls="tls",
        ca_file=tmp_path / "certs" / "ca.pem",
        username="alice@example.test",
        password_command=None,
    )
    assert alice.smtp is not None
    assert (alice.smtp.port, alice.smtp.tls, alice.smtp.username) == (587, "starttls", "alice")
    assert alice.smtp.password_command == "pass show smtp/alice"
    # The XMPP host defaults to the JID's domain, and the JID is the login.
    assert alice.xmpp == ServerConfig(
        host="chat.example.test",
        port=5222,
        tls="starttls",
        ca_file=tmp_path / "certs" / "ca.pem",
        username=None,
        password_command=None,
    )

    work = config.account("work")
    assert work.email is None
    assert work.imap is None
    assert work.smtp is None
    assert work.xmpp is not None
    assert (work.xmpp.host, work.xmpp.port, work.xmpp.tls) == ("xmpp.corp.example", 5223, "tls")
    assert work.xmpp.ca_file == tmp_path / "work-ca.pem"

    assert [c.name for c in config.contacts] == ["Bob", "Carol"]
    assert config.contacts[0].emails == ("bob@example.test", "robert@example.test")
    assert config.contacts[0].jids == ("bob@chat.example.test",)
    assert config.contacts[1].jids == ()
    assert config.domain_rules == (DomainRule("*@corp.example", "{local}@chat.corp.example"),)


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.deferral == DeferralPolicy(
        first_retry=30.0,
        growth=2.0,
        ceiling=1800.0,
        max_age=172800.0,
        on_max_age="ask",
        policy="ask",
    )
    assert config.ca_file is None
    assert config.contacts == ()
    assert config.domain_rules == ()
    imap = config.accounts[0].imap
    assert imap is not None
    assert (imap.port, imap.tls, imap.ca_file, imap.username) == (
        993,
        "tls",
        None,
        "alice@example.test",
    )


@pytest.mark.parametrize(
    ("service", "tls", "port"),
    [
        ("imap", "tls", 993),
        ("imap", "starttls", 143),
        ("imap", "plain", 143),
        ("smtp", "tls", 465),
        ("smtp", "starttls", 587),
        ("smtp", "plain", 25),
        ("xmpp", "starttls", 5222),
        ("xmpp", "tls", 5223),
    ],
)
def test_default_ports(tmp_path: Path, service: str, tls: str, port: int) -> None:
    text = f"""\
[[accounts]]
name = "alice"
email = "alice@example.test"
jid = "alice@example.test"
[accounts.{service}]
host = "server.example.test"
tls = "{tls}"
"""
    server = load_config(write(tmp_path, text)).accounts[0].server(service)
    assert server is not None
    assert server.port == port


def test_account_lookup_names_known_accounts(tmp_path: Path) -> None:
    config = load_config(write_good(tmp_path))
    with pytest.raises(KeyError, match="alice, work"):
        config.account("mallory")


def test_default_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "tuiclient").mkdir()
    write(tmp_path / "tuiclient", MINIMAL)
    assert load_config().path == tmp_path / "tuiclient" / "config.toml"


# -- passwords are refused ------------------------------------------------


def test_password_in_imap_table_is_refused_without_echo(tmp_path: Path) -> None:
    text = insert_after(GOOD, 'host = "imap.example.test"', 'password = "hunter2"')
    error = load_error(tmp_path, text)

    assert error.key == "accounts[0].imap.password"
    assert error.line == line_of(text, "hunter2")
    message = str(error)
    assert message.startswith(
        f"{tmp_path / 'config.toml'}:{error.line}: accounts[0].imap.password: "
    )
    assert "passwords are not read from the config file" in message
    assert "keyring set tuiclient alice:imap" in message
    assert "password_command" in message
    assert "hunter2" not in message
    assert "hunter2" not in repr(error.args)


def test_password_in_second_account_names_right_index_and_line(tmp_path: Path) -> None:
    # Both accounts have an [accounts.xmpp] table: the locator must count them.
    text = insert_after(GOOD, 'tls = "tls"', 'passwd = "s3cret"')
    error = load_error(tmp_path, text)
    assert error.key == "accounts[1].xmpp.passwd"
    assert error.line == line_of(text, "s3cret")
    assert "keyring set tuiclient work:xmpp" in str(error)
    assert "s3cret" not in str(error)


@pytest.mark.parametrize(
    ("anchor", "line", "key", "entry"),
    [
        ("ca_file =", 'secret = "x1"', "secret", "<account>:<service>"),
        ('display_name = "Alice', 'Password = "x1"', "accounts[0].Password", "alice"),
        ("[deferral]", 'pass = "x1"', "deferral.pass", "<account>:<service>"),
    ],
)
def test_password_keys_refused_anywhere(
    tmp_path: Path, anchor: str, line: str, key: str, entry: str
) -> None:
    text = insert_after(GOOD, anchor, line)
    error = load_error(tmp_path, text)
    assert error.key == key
    assert error.line == line_of(text, '"x1"')
    assert f"`keyring set tuiclient {entry}`" in str(error)
    assert "x1" not in str(error)


# -- syntax and validation errors -------------------------------------------


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "config.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: config file does not exist"
    assert info.value.line is None
    assert info.value.key is None


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = GOOD.replace("[accounts.smtp]\n", "[accounts.smtp\n")
    error = load_error(tmp_path, text)
    assert error.line == line_of(text, "[accounts.smtp")
    assert error.key is None
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{error.line}: TOML syntax error: ")


def test_duplicate_toml_key_names_the_line(tmp_path: Path) -> None:
    text = insert_after(GOOD, 'host = "imap.example.test"', 'host = "other.example.test"')
    error = load_error(tmp_path, text)
    assert error.line == line_of(text, "other.example.test")


def test_unknown_key_suggests_close_name(tmp_path: Path) -> None:
    text = insert_after(GOOD, 'host = "smtp.example.test"', "prot = 2525")
    error = load_error(tmp_path, text)
    assert error.key == "accounts[0].smtp.prot"
    assert error.line == line_of(text, "prot = 2525")
    assert "unknown key 'prot'; did you mean 'port'?" in str(error)


def test_unknown_table_suggests_close_name(tmp_path: Path) -> None:
    text = GOOD.replace("[[contacts]]", "[[contact]]", 1)
    error = load_error(tmp_path, text)
    assert error.key == "contact"
    assert error.line == line_of(text, "[[contact]]")
    assert "did you mean 'contacts'?" in str(error)


def test_unknown_key_without_close_match_lists_known_keys(tmp_path: Path) -> None:
    text = insert_after(GOOD, "[deferral]", "colour = 3")
    error = load_error(tmp_path, text)
    assert error.key == "deferral.colour"
    assert "known keys: first_retry, growth" in str(error)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("70000", "port 70000 is out of range (1-65535)"),
        ("0", "port 0 is out of range"),
        ('"993"', "must be an integer, not a string"),
        ("true", "must be an integer, not a boolean"),
    ],
)
def test_bad_port_names_key_and_line(tmp_path: Path, value: str, reason: str) -> None:
    text = insert_after(GOOD, 'host = "imap.example.test"', f"port = {value}")
    error = load_error(tmp_path, text)
    assert error.key == "accounts[0].imap.port"
    assert error.line == line_of(text, f"port = {value}")
    assert reason in str(error)


def test_bad_tls_mode_names_key_and_line(tmp_path: Path) -> None:
    text = GOOD.replace('tls = "starttls"', 'tls = "ssl"')
    error = load_error(tmp_path, text)
    assert error.key == "accounts[0].smtp.tls"
    assert error.line == line_of(text, 'tls = "ssl"')
    assert "must be one of 'tls', 'starttls' or 'plain', not 'ssl'" in str(error)


def test_tls_typo_gets_suggestion(tmp_path: Path) -> None:
    text = GOOD.replace('tls = "starttls"', 'tls = "startls"')
    assert "did you mean 'starttls'?" in str(load_error(tmp_path, text))


def test_duplicate_account_name(tmp_path: Path) -> None:
    text = GOOD.replace('name = "work"', 'name = "alice"')
    error = load_error(tmp_path, text)
    assert error.key == "accounts[1].name"
    # Whole lines only: `username = "alice"` must not count.
    first, second = (n for n, ln in enumerate(text.split("\n"), 1) if ln == 'name = "alice"')
    assert error.line == second
    assert f"duplicate account name 'alice' (also used by accounts[0], line {first})" in str(error)


def test_conflicting_contact_mapping_names_both_contacts(tmp_path: Path) -> None:
    text = GOOD.replace('emails = ["carol@example.test"]', 'emails = ["Robert@Example.test"]')
    error = load_error(tmp_path, text)
    assert error.key == "contacts[1].emails[0]"
    assert error.line == line_of(text, "Robert@Example.test")
    assert "'Bob' (contacts[0])" in str(error)
    assert "'Carol' (contacts[1])" in str(error)


def test_missing_ca_file(tmp_path: Path) -> None:
    text = GOOD.replace('ca_file = "work-ca.pem"', 'ca_file = "missing/ca.pem"')
    error = load_error(tmp_path, text)
    assert error.key == "accounts[1].xmpp.ca_file"
    assert error.line == line_of(text, "missing/ca.pem")
    assert f"CA file {tmp_path / 'missing' / 'ca.pem'} does not exist" in str(error)


def test_relative_ca_file_is_relative_to_config_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(write_good(tmp_path))
    assert config.ca_file == tmp_path / "certs" / "ca.pem"


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ('name = "work"\n', "", "accounts[1].name", "required key 'name' is missing"),
        (
            'email = "alice@example.test"\n',
            "",
            "accounts[0].email",
            "required key 'email' is missing",
        ),
        (
            'jid = "a.liddell@chat.corp.example"\n',
            "",
            "accounts[1].jid",
            "required key 'jid' is missing",
        ),
        (
            '"alice@example.test"',
            '"alice at example.test"',
            "accounts[0].email",
            "'alice at example.test' is not a valid email address",
        ),
        (
            '"bob@chat.example.test"',
            '"bob@@chat"',
            "contacts[0].jids[0]",
            "is not a valid JID",
        ),
        (
            '"carol@example.test"]',
            '"carol@example.test", 7]',
            "contacts[1].emails[1]",
            "must be a string, not an integer",
        ),
        ('"*@corp.example"', '"corp.example"', "domain_rules[0].email", 'must be "*@"'),
        (
            '"{local}@chat.corp.example"',
            '"x@chat.corp.example"',
            "domain_rules[0].jid",
            "must contain {local}",
        ),
        ("max_age = 86400", 'max_age = "soon"', "deferral.max_age", "is not a duration"),
        ("growth = 1.5", "growth = 0.5", "deferral.growth", "must be at least 1.0"),
        ('ceiling = "1h"', 'ceiling = "10s"', "deferral.ceiling", "shorter than first_retry"),
        ('policy = "defer"', 'policy = "later"', "deferral.policy", "'ask', 'defer'"),
        (
            'host = "xmpp.corp.example"',
            'username = "al"',
            "accounts[1].xmpp.username",
            "xmpp takes no username",
        ),
        ('name = "Carol"', 'name = "Carol"\njids = "c@x"', "contacts[1].jids", "array"),
    ],
)
def test_validation_errors_name_key_and_line(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    error = load_error(tmp_path, text)
    assert error.key == key
    assert reason in error.reason
    assert error.line is not None
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{error.line}: {key}: ")


def test_missing_key_points_at_its_table(tmp_path: Path) -> None:
    text = GOOD.replace('name = "work"\n', "")
    error = load_error(tmp_path, text)
    assert error.line == line_of(text, "[[accounts]]", occurrence=2)


def test_multiline_values_do_not_confuse_line_numbers(tmp_path: Path) -> None:
    text = GOOD.replace(
        'display_name = "Alice Liddell"',
        'display_name = """Alice\nport = 1\n[accounts.imap]\n"""',
    ).replace(
        'emails = ["carol@example.test"]',
        'emails = [\n  "carol@example.test",\n  "bob@example.test",\n]',
    )
    error = load_error(tmp_path, text)
    assert error.key == "contacts[1].emails[1]"
    assert error.line == line_of(text, "emails = [", occurrence=2)


def test_config_error_rendering() -> None:
    path = Path("/etc/x.toml")
    assert str(ConfigError(path, "bad")) == "/etc/x.toml: bad"
    assert str(ConfigError(path, "bad", key="a.b")) == "/etc/x.toml: a.b: bad"
    assert str(ConfigError(path, "bad", line=3, key="a")) == "/etc/x.toml:3: a: bad"


# -- domain rules and deferral ----------------------------------------------


def test_domain_rule_maps_only_its_domain() -> None:
    rule = DomainRule("*@corp.example", "{local}@chat.corp.example")
    assert rule.map("jane.doe@corp.example") == "jane.doe@chat.corp.example"
    assert rule.map("jane.doe@CORP.Example") == "jane.doe@chat.corp.example"
    assert rule.map("jane@sub.corp.example") is None
    assert rule.map("jane@example.test") is None
    assert rule.map("not an address") is None


def test_deferral_delay_grows_to_ceiling() -> None:
    policy = DeferralPolicy(first_retry=30, growth=2.0, ceiling=100)
    assert [policy.delay(n) for n in range(4)] == [30, 60, 100, 100]
    assert policy.delay(10**6) == 100


# -- paths -----------------------------------------------------------------


def test_xdg_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert config_dir() == tmp_path / "cfg" / "tuiclient"
    assert default_config_path() == tmp_path / "cfg" / "tuiclient" / "config.toml"
    assert data_dir() == tmp_path / "data" / "tuiclient"


def test_xdg_defaults_and_relative_values_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    assert config_dir() == tmp_path / ".config" / "tuiclient"
    assert data_dir() == tmp_path / ".local" / "share" / "tuiclient"


def test_ensure_private_dir(tmp_path: Path) -> None:
    fresh = ensure_private_dir(tmp_path / "a" / "b")
    assert fresh.is_dir()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700

    existing = tmp_path / "open"
    existing.mkdir()
    existing.chmod(0o755)
    ensure_private_dir(existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o700


# -- secrets -----------------------------------------------------------------


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.locked = False

    def get_password(self, service: str, username: str) -> str | None:
        if self.locked:
            raise keyring.errors.KeyringLocked("the keyring is locked")
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def imap_account(
    account_command: str | None = None, server_command: str | None = None
) -> AccountConfig:
    server = ServerConfig(
        host="imap.example.test", port=993, tls="tls", password_command=server_command
    )
    return AccountConfig(
        name="alice", email="alice@example.test", password_command=account_command, imap=server
    )


def test_password_command_first_line(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("tuiclient", "alice:imap", "from-keyring")
    account = imap_account(account_command="sh -c 'printf \"pa ss\\nsecond line\\n\"'")
    assert get_password(account, "imap") == "pa ss"


def test_server_command_overrides_account_command() -> None:
    account = imap_account(account_command="echo account", server_command="echo server")
    assert get_password(account, "imap") == "server"
    # Services without their own command fall back to the account's.
    assert get_password(account, "smtp") == "account"


def test_password_command_failure_hides_stdout() -> None:
    account = imap_account(server_command="sh -c 'echo s3cret; exit 3'")
    with pytest.raises(SecretError) as info:
        get_password(account, "imap")
    message = str(info.value)
    assert "'alice'" in message
    assert "imap" in message
    assert "exit status 3" in message
    assert "s3cret" not in message


def test_password_command_failure_shows_stderr_but_never_stdout() -> None:
    account = imap_account(
        server_command="sh -c 'echo s3cret; echo \"mail/alice is not in the store\" >&2; exit 1'"
    )
    with pytest.raises(SecretError, match="exit status 1: mail/alice is not in the store"):
        get_password(account, "imap")

    echoing = imap_account(server_command="sh -c 'echo s3cret; echo \"bad s3cret\" >&2; exit 1'")
    with pytest.raises(SecretError) as info:
        get_password(echoing, "imap")
    assert "s3cret" not in str(info.value)


def test_password_command_not_found_or_empty() -> None:
    with pytest.raises(SecretError, match="command not found: /nonexistent/tool"):
        get_password(imap_account(server_command="/nonexistent/tool --get"), "imap")
    with pytest.raises(SecretError, match="printed an empty first line"):
        get_password(imap_account(server_command="true"), "imap")


def test_keyring_lookup_order(memory_keyring: MemoryKeyring) -> None:
    account = imap_account()
    memory_keyring.set_password("tuiclient", "alice", "account-wide")
    assert get_password(account, "imap") == "account-wide"
    memory_keyring.set_password("tuiclient", "alice:imap", "imap-only")
    assert get_password(account, "imap") == "imap-only"
    assert get_password(account, "smtp") == "account-wide"


def test_no_password_tells_how_to_set_it(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(SecretError) as info:
        get_password(imap_account(), "imap")
    assert "keyring set tuiclient alice:imap" in str(info.value)
    assert "password_command" in str(info.value)


def test_keyring_failure_is_a_secret_error(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.locked = True
    with pytest.raises(SecretError, match=r"'alice' \(imap\): the keyring failed: .*locked"):
        get_password(imap_account(), "imap")


def test_unknown_service_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="imap, smtp, xmpp"):
        get_password(imap_account(), "pop3")


def test_loaded_config_password_command_is_used(tmp_path: Path) -> None:
    secret_file = tmp_path / "alice.secret"
    secret_file.write_text("from-file\n")
    text = MINIMAL + f'password_command = "cat {secret_file}"\n'
    account = load_config(write(tmp_path, text)).account("alice")
    assert get_password(account, "imap") == "from-file"


# -- the report ---------------------------------------------------------------


def test_describe_reports_everything_but_passwords(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.set_password("tuiclient", "work:xmpp", "k3yring-secret")
    config = load_config(write_good(tmp_path))
    report = describe(config)

    assert f"config file: {tmp_path / 'config.toml'}" in report
    assert "account alice (Alice Liddell)" in report
    assert f"imap: imap.example.test:993, tls, CA {tmp_path / 'certs' / 'ca.pem'}" in report
    assert "smtp: smtp.example.test:587, starttls" in report
    assert "xmpp: chat.example.test:5222, starttls" in report
    assert f"xmpp: xmpp.corp.example:5223, tls, CA {tmp_path / 'work-ca.pem'}" in report
    assert "password: [accounts.smtp] password_command: pass show smtp/alice" in report
    assert "password: account password_command: pass show mail/alice" in report
    assert "password: keyring 'tuiclient', user work:xmpp (else user work)" in report
    assert "Bob: email bob@example.test, email robert@example.test, jid bob@chat.example.test" in (
        report
    )
    assert "*@corp.example -> {local}@chat.corp.example" in report
    assert "first retry after 1m, each wait x1.5, at most 1h apart" in report
    assert "after 1d: email" in report
    assert "headless, contact away: defer" in report
    assert "k3yring-secret" not in report


def test_password_source_never_reads_the_keyring(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.locked = True  # any read would raise
    assert password_source(imap_account(), "imap").startswith("keyring 'tuiclient'")


def test_email_by_im_after_is_off_unless_the_user_sets_it(tmp_path: Path) -> None:
    assert load_config(write_good(tmp_path)).deferral.email_by_im_after is None
    text = GOOD.replace('policy = "defer"\n', 'policy = "defer"\nemail_by_im_after = "1h30m"\n')
    config = load_config(write_good(tmp_path, text))
    assert config.deferral.email_by_im_after == 5400.0
    assert "goes by chat" in describe(config)
    bad = GOOD.replace('policy = "defer"\n', 'policy = "defer"\nemail_by_im_after = "soon"\n')
    error = load_error(tmp_path, bad)
    assert error.key == "deferral.email_by_im_after"
    assert error.line == line_of(bad, "email_by_im_after")


def test_deferral_folder_and_handoff_group_chats(tmp_path: Path) -> None:
    config = load_config(write_good(tmp_path, GOOD + '\n[handoff]\ngroup_chats = "separate"\n'))
    assert config.handoff.group_chats == "separate"
    assert config.deferral.folder == "Deferred"
    bad = GOOD + '\n[handoff]\ngroup_chats = "everyone"\n'
    error = load_error(tmp_path, bad)
    assert error.line == line_of(bad, "group_chats") and error.key == "handoff.group_chats"
    assert "room" in str(error) and "separate" in str(error)


@pytest.mark.parametrize("mode, who", [(0o666, "everyone"), (0o620, "its group")])
def test_a_config_file_others_can_write_is_refused(tmp_path: Path, mode: int, who: str) -> None:
    # It names commands to run: whoever can write it could run code as the user.
    path = write_good(tmp_path)
    path.chmod(mode)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"writable by {who}" in str(info.value) and "chmod go-w" in str(info.value)
    path.chmod(0o644)
    assert load_config(path).accounts


# -- [keys] ----------------------------------------------------------------


def test_keys_table_takes_a_string_a_comma_list_or_an_array(tmp_path: Path) -> None:
    text = GOOD + '\n[keys]\nreply_im = "m"\ndown = "j, ctrl+n"\nup = ["k", "ctrl+p"]\n'
    config = load_config(write_good(tmp_path, text))
    assert config.keys == {"reply_im": ("m",), "down": ("j", "ctrl+n"), "up": ("k", "ctrl+p")}


def test_keys_table_is_empty_by_default(tmp_path: Path) -> None:
    assert load_config(write_good(tmp_path, GOOD)).keys == {}


@pytest.mark.parametrize(("entry", "key", "reason"), [
    ('repyl_im = "m"', "keys.repyl_im", "unknown key 'repyl_im'; did you mean 'reply_im'?"),
    ('reply_im = 3', "keys.reply_im", "must be a string or an array of strings, not an integer"),
    ('reply_im = ["m", 4]', "keys.reply_im", "must be a string or an array of strings"),
    ('reply_im = "ctrl n"', "keys.reply_im", "not a list of key names: 'ctrl n'"),
    ('reply_im = ",m"', "keys.reply_im", "not a list of key names: ',m'"),
    ('reply_im = []', "keys.reply_im", "not a list of key names: []"),
])
def test_bad_keys_entry_names_key_and_line(tmp_path: Path, entry: str, key: str,
                                           reason: str) -> None:
    text = GOOD + f'\n[keys]\nhelp = "f1"\n{entry}\nquit = "ctrl+q"\n'
    error = load_error(tmp_path, text)
    assert error.key == key
    assert error.line == line_of(text, entry)
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{error.line}: {key}: {reason}")


def test_keys_must_be_a_table(tmp_path: Path) -> None:
    text = "keys = 3\n" + GOOD
    error = load_error(tmp_path, text)
    assert error.key == "keys"
    assert error.line == 1


# -- [health] -------------------------------------------------------------------


HEALTH = """
[health]
interval = "30m"
critical_interval = 90
timeout = "10s"
"""


def test_health_table_defaults_and_values(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL)).health == HealthPolicy(
        interval=900.0, critical_interval=120.0, timeout=15.0)
    config = load_config(write(tmp_path, MINIMAL + HEALTH))
    assert config.health == HealthPolicy(interval=1800.0, critical_interval=90.0, timeout=10.0)
    report = describe(config)
    assert "every server probed every 30m, one that fails every 1m30s until it answers" in report
    assert "a probe waits 10s for an answer" in report
    # Each key alone; the others keep their defaults.
    only = load_config(write(tmp_path, MINIMAL + '[health]\ncritical_interval = "1m"\n'))
    assert only.health == HealthPolicy(interval=900.0, critical_interval=60.0, timeout=15.0)


@pytest.mark.parametrize(
    "old, new, key, reason",
    [
        ('interval = "30m"', 'interval = "soon"', "health.interval", "is not a duration"),
        ("critical_interval = 90", "critical_interval = 0", "health.critical_interval",
         "must be a positive"),
        ('timeout = "10s"', "timeout = true", "health.timeout", "not a boolean"),
        ("critical_interval = 90", 'critical_interval = "1h"', "health.critical_interval",
         "critical_interval (1h) is longer than interval (30m)"),
        ('timeout = "10s"', 'timout = "10s"', "health.timout", "did you mean 'timeout'?"),
    ],
)
def test_health_table_errors_name_key_and_line(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    text = (GOOD + HEALTH).replace(old, new, 1)
    error = load_error(tmp_path, text)
    assert error.key == key
    assert reason in error.reason
    assert error.line == line_of(text, new.split("\n")[0])
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{error.line}: {key}: ")


def test_health_must_be_a_table_and_defaults_are_checked_against_the_values(
        tmp_path: Path) -> None:
    text = "health = 5\n" + GOOD
    error = load_error(tmp_path, text)
    assert error.key == "health" and error.line == line_of(text, "health = 5")
    # Only interval given, shorter than the default critical_interval (2m): its line.
    text = GOOD + '\n[health]\ninterval = "1m"\n'
    error = load_error(tmp_path, text)
    assert error.key == "health.interval" and error.line == line_of(text, 'interval = "1m"')
    assert "critical_interval (2m) is longer than interval (1m)" in error.reason


def test_health_table_reaches_the_engines_monitor(tmp_path: Path) -> None:
    from bridge.engine import Engine
    from bridge.health import HealthMonitor, Timings
    from bridge.store import Store

    config = load_config(write(tmp_path, MINIMAL + HEALTH))
    engine = Engine(config, Store.open(tmp_path / "store.db"))
    try:
        monitor = engine.health
        assert isinstance(monitor, HealthMonitor)
        assert (monitor.interval, monitor.critical_interval, monitor.timeout) == (
            1800.0, 90.0, 10.0)
    finally:
        engine.close()
    # Timings given to the engine (as tests do) win over the file.
    engine = Engine(config, Store.open(tmp_path / "store2.db"),
                    timings=Timings(health_interval=5, health_critical=1, probe_timeout=1))
    try:
        assert (engine.health.interval, engine.health.critical_interval) == (5, 1)
    finally:
        engine.close()


def test_the_chat_table_turns_chat_states_off(tmp_path: Path) -> None:
    from bridge.config import ChatPolicy, ConfigError

    path = tmp_path / "config.toml"
    path.write_text("")
    assert load_config(path).chat == ChatPolicy() and ChatPolicy().chat_states
    path.write_text("[chat]\nchat_states = false\n")
    assert load_config(path).chat.chat_states is False
    path.write_text('[chat]\nchat_states = "no"\n')
    with pytest.raises(ConfigError, match=r"chat\.chat_states.*true or false"):
        load_config(path)
    path.write_text("[chat]\nchatstates = false\n")
    with pytest.raises(ConfigError, match="chatstates"):
        load_config(path)
