"""Loading the config file: its sections checked into a `Config`, errors at FILE:LINE.

The generic checks (keys, tables, strings, choices, durations) and the line
locator are `reader.TomlReader`'s; this module adds the config's own sections
(accounts and their servers, contacts, domain rules; the policy sections are
policies.py's, an account's OAuth settings tokens.py's), refuses passwords
written into the file, and refuses a file others can write (it names commands
to run). `check_ca_files` loads the CA files it names.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from bridge.paths import default_config_path

from .policies import PolicySettings
from .reader import join_key, parse_toml, read_text, type_name
from .schema import (
    AUTH_MECHANISMS,
    DEFAULT_PORTS,
    DEFAULT_TLS,
    SERVICES,
    TLS_MODES,
    TOKEN_COMMAND_TIMEOUT,
    AccountConfig,
    Config,
    ConfigError,
    ContactConfig,
    DomainRule,
    ServerConfig,
    is_valid_address,
)
from .secrets import KEYRING_SERVICE
from .tokens import TokenSettings

# Keys that can only mean someone is about to put a secret in a plain file.
PASSWORD_KEYS = frozenset({"password", "pass", "passwd", "passphrase", "pwd", "secret"})


_TOP_KEYS = ("ca_file", "deferral", "accounts", "contacts", "domain_rules", "keys", "handoff",
             "health", "notify", "crypto", "chat")
_ACCOUNT_KEYS = ("name", "email", "jid", "display_name", "password_command", "archive_folder",
                 "expunge_deletes", "downloads", "signature", "aliases", "auth",
                 "token_command", "token_timeout", "crypto", *SERVICES)
# An account's own [accounts.crypto] table: what may differ from the global [crypto].
_ACCOUNT_CRYPTO_KEYS = ("autocrypt",)
_SERVER_KEYS = ("host", "port", "tls", "ca_file", "username", "password_command", "auth",
                "token_command")
_CONTACT_KEYS = ("name", "emails", "jids")
_RULE_KEYS = ("email", "jid")


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config file (default: the XDG location)."""
    path = (default_config_path() if path is None else Path(path)).expanduser().absolute()
    text = read_text(path, "config", ConfigError, check=_refuse_writable_by_others)
    raw = parse_toml(path, text, ConfigError)
    return ConfigReader(path, text).read(raw)


def _refuse_writable_by_others(path: Path) -> None:
    # The file names commands to run (password_command): whoever can write it can
    # run code as this user and read every password. Refuse it, as ssh does.
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o022:
        who = "everyone" if mode & 0o002 else "its group"
        raise ConfigError(path, f"config file is writable by {who} "
                                f"(mode {mode & 0o777:o}); run: chmod go-w {path}")


def check_ca_files(config: Config) -> None:
    """Load every configured CA file once: one that holds no certificate is a
    ConfigError at the key that named it, before any connection is tried."""
    seen: set[Path] = set()
    for account in config.accounts:
        for service in SERVICES:
            server = account.server(service)
            if server is None or server.ca_file is None or server.ca_file in seen:
                continue
            seen.add(server.ca_file)
            file, line, key = server.ca_origin or (config.path, None, "ca_file")
            import ssl  # only with a CA file: loading a config needs no TLS library

            try:
                ssl.create_default_context(cafile=str(server.ca_file))
            except ssl.SSLError as exc:
                reason = exc.reason or type(exc).__name__
                raise ConfigError(file, f"CA file {server.ca_file} holds no usable "
                                        f"certificate ({reason})", line=line, key=key) from None
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ConfigError(file, f"CA file {server.ca_file} cannot be read: {reason}",
                                  line=line, key=key) from None


class ConfigReader(TokenSettings, PolicySettings):
    """The config file's sections."""

    error_type = ConfigError

    def __init__(self, path: Path, text: str) -> None:
        super().__init__(path, text)
        self.base_dir = path.parent
        self.ca_origins: dict[Path, tuple[Path, int | None, str]] = {}

    def read(self, raw: dict[str, Any]) -> Config:
        # Before anything else, so that a password is refused even where it sits
        # beside other mistakes.
        self.refuse_passwords(raw, "", raw)
        self.check_keys(raw, "", _TOP_KEYS)
        ca_file = self.ca_file(raw, "", None)
        deferral = self.deferral(raw)
        accounts = self.accounts(raw, ca_file)
        contacts = self.contacts(raw)
        rules = self.domain_rules(raw)
        keys = self.keys(raw)
        notify = self.notify(raw)
        handoff = self.handoff(raw)
        health = self.health(raw)
        crypto = self.crypto(raw)
        chat = self.chat(raw)
        return Config(
            path=self.path,
            accounts=accounts,
            contacts=contacts,
            domain_rules=rules,
            deferral=deferral,
            ca_file=ca_file,
            keys=keys,
            key_origins={action: self.key_origin(action) for action in keys},
            notify=notify,
            handoff=handoff,
            health=health,
            crypto=crypto,
            chat=chat,
        )

    # -- generic checks ----------------------------------------------------

    def refuse_passwords(self, node: Any, prefix: str, root: dict[str, Any]) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                self.refuse_passwords(item, f"{prefix}[{index}]", root)
            return
        if not isinstance(node, dict):
            return
        for name, value in node.items():
            key = f"{prefix}.{name}" if prefix else name
            if name.lower() in PASSWORD_KEYS:
                raise self.error(key, _password_reason(key, root))
            self.refuse_passwords(value, key, root)

    def address(
        self, table: dict[str, Any], prefix: str, name: str, kind: str, *, required: bool
    ) -> str | None:
        value = self.string(table, prefix, name, required=required)
        if value is not None and not is_valid_address(value):
            raise self.error(join_key(prefix, name), _bad_address(kind, value))
        return value

    def command(self, table: dict[str, Any], prefix: str) -> str | None:
        value = self.string(table, prefix, "password_command")
        if value is not None:
            key = join_key(prefix, "password_command")
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                # The command itself is not a secret, but keep the message short.
                raise self.error(key, f"cannot be split into arguments: {exc}") from None
            if not argv:
                raise self.error(key, "is empty")
        return value

    def origin(self, table: dict[str, Any], prefix: str) -> str:
        """`FILE:LINE: key` of the table's password_command, else of the table."""
        key = join_key(prefix, "password_command") if "password_command" in table else prefix
        line = self.locator.line_of(key)
        return f"{self.path}" + (f":{line}" if line else "") + f": {key}"

    def ca_file(self, table: dict[str, Any], prefix: str, default: Path | None) -> Path | None:
        if "ca_file" not in table:
            return default
        key = join_key(prefix, "ca_file")
        value = table["ca_file"]
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string naming a file")
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.exists():
            raise self.error(key, f"CA file {path} does not exist")
        if not path.is_file():
            raise self.error(key, f"CA file {path} is not a file")
        self.ca_origins[path] = (self.path, self.locator.line_of(key), key)
        return path

    def accounts(self, raw: dict[str, Any], ca_file: Path | None) -> tuple[AccountConfig, ...]:
        accounts: list[AccountConfig] = []
        first_use: dict[str, int] = {}
        for index, table in enumerate(self.table_array(raw, "accounts")):
            prefix = f"accounts[{index}]"
            account = self.account(table, prefix, ca_file)
            if account.name in first_use:
                other = first_use[account.name]
                line = self.locator.line_of(f"accounts[{other}].name")
                where = f"accounts[{other}]" + (f", line {line}" if line else "")
                raise self.error(
                    f"{prefix}.name",
                    f"duplicate account name {account.name!r} (also used by {where})",
                )
            first_use[account.name] = index
            accounts.append(account)
        return tuple(accounts)

    def account(self, table: dict[str, Any], prefix: str, ca_file: Path | None) -> AccountConfig:
        self.check_keys(table, prefix, _ACCOUNT_KEYS)
        name = self.string(table, prefix, "name", required=True)
        assert name is not None
        if ":" in name:
            # The keyring user is "<name>:<service>"; a colon would make two
            # accounts share keyring entries.
            raise self.error(f"{prefix}.name", f"account name {name!r} must not contain ':'")
        present = [s for s in SERVICES if s in table]
        if not present:
            raise self.error(prefix, f"account {name!r} has no [imap], [smtp] or [xmpp] table")
        email = self.address(
            table, prefix, "email", "email address", required="imap" in table or "smtp" in table
        )
        jid = self.address(table, prefix, "jid", "JID", required="xmpp" in table)
        servers: dict[str, ServerConfig | None] = {}
        for service in SERVICES:
            sub = self.table(table, prefix, service)
            servers[service] = (
                None
                if sub is None
                else self.server(sub, f"{prefix}.{service}", service, email, jid, ca_file)
            )
        auth = self.choice(table, prefix, "auth", AUTH_MECHANISMS, "password")
        token_command = self.token_command(table, prefix)
        self.check_tokens(prefix, auth, token_command, servers)
        timeout = self.duration(table, prefix, "token_timeout", TOKEN_COMMAND_TIMEOUT)
        return AccountConfig(
            name=name,
            email=email,
            jid=jid,
            display_name=self.string(table, prefix, "display_name"),
            password_command=self.command(table, prefix),
            auth=auth,
            token_command=token_command,
            token_timeout=timeout,
            token_origin=self.key_origin_of(table, prefix, "token_command"),
            imap=servers["imap"],
            smtp=servers["smtp"],
            xmpp=servers["xmpp"],
            password_origin=self.origin(table, prefix),
            archive_folder=self.string(table, prefix, "archive_folder"),
            expunge_deletes=self.boolean(table, prefix, "expunge_deletes"),
            downloads=Path(d).expanduser() if (d := self.string(table, prefix, "downloads"))
            else None,
            signature=self.string(table, prefix, "signature"),
            aliases=self.address_list(table, prefix, "aliases", "email address"),
            autocrypt=self.account_autocrypt(table, prefix),
        )

    def account_autocrypt(self, table: dict[str, Any], prefix: str) -> bool | None:
        """`[accounts.crypto] autocrypt` (None: not set, the global one stands)."""
        crypto = self.table(table, prefix, "crypto")
        if crypto is None:
            return None
        self.check_keys(crypto, f"{prefix}.crypto", _ACCOUNT_CRYPTO_KEYS)
        if "autocrypt" not in crypto:
            return None
        return self.boolean(crypto, f"{prefix}.crypto", "autocrypt")

    def server(
        self,
        table: dict[str, Any],
        prefix: str,
        service: str,
        email: str | None,
        jid: str | None,
        ca_file: Path | None,
    ) -> ServerConfig:
        if service == "xmpp" and "username" in table:
            raise self.error(
                f"{prefix}.username",
                "xmpp takes no username: the account's jid is the login",
            )
        for name in ("auth", "token_command"):
            if service == "xmpp" and name in table:
                raise self.error(f"{prefix}.{name}", "xmpp logs in with a password: "
                                 f"{name} is for [imap] and [smtp]")
        allowed = tuple(k for k in _SERVER_KEYS if service != "xmpp" or k != "username")
        self.check_keys(table, prefix, allowed)
        host = self.string(table, prefix, "host", required=service != "xmpp")
        if host is None:
            assert jid is not None
            host = jid.partition("@")[2]
        elif any(c.isspace() for c in host):
            raise self.error(f"{prefix}.host", f"host {host!r} contains whitespace")
        tls = self.choice(table, prefix, "tls", TLS_MODES, DEFAULT_TLS[service])
        port = DEFAULT_PORTS[service][tls]
        if "port" in table:
            value = table["port"]
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(f"{prefix}.port", f"must be an integer, not {type_name(value)}")
            if not 1 <= value <= 65535:
                raise self.error(f"{prefix}.port", f"port {value} is out of range (1-65535)")
            port = value
        username = self.string(table, prefix, "username") if service != "xmpp" else None
        if username is None and service != "xmpp":
            username = email
        return ServerConfig(
            host=host,
            port=port,
            tls=tls,
            ca_file=(server_ca := self.ca_file(table, prefix, ca_file)),
            ca_origin=self.ca_origins.get(server_ca) if server_ca else None,
            username=username,
            password_command=self.command(table, prefix),
            password_origin=self.origin(table, prefix) if "password_command" in table else None,
            auth=self.choice(table, prefix, "auth", AUTH_MECHANISMS, "") or None,
            token_command=self.token_command(table, prefix),
            token_origin=self.key_origin_of(table, prefix, "token_command"),
        )

    def contacts(self, raw: dict[str, Any]) -> tuple[ContactConfig, ...]:
        contacts: list[ContactConfig] = []
        # Addresses compare case-insensitively: nobody means two people by
        # Bob@Example.test and bob@example.test.
        owners: dict[tuple[str, str], int] = {}
        for index, table in enumerate(self.table_array(raw, "contacts")):
            prefix = f"contacts[{index}]"
            self.check_keys(table, prefix, _CONTACT_KEYS)
            name = self.string(table, prefix, "name", required=True)
            assert name is not None
            emails = self.address_list(table, prefix, "emails", "email address")
            jids = self.address_list(table, prefix, "jids", "JID")
            if not emails and not jids:
                raise self.error(prefix, f"contact {name!r} has neither emails nor jids")
            for field_name, values in (("emails", emails), ("jids", jids)):
                for position, address in enumerate(values):
                    owner = owners.setdefault((field_name, address.lower()), index)
                    if owner != index:
                        other = contacts[owner].name
                        raise self.error(
                            f"{prefix}.{field_name}[{position}]",
                            f"{address!r} is mapped to two contacts: {other!r} "
                            f"(contacts[{owner}]) and {name!r} ({prefix})",
                        )
            contacts.append(ContactConfig(name=name, emails=emails, jids=jids))
        return tuple(contacts)

    def address_list(
        self, table: dict[str, Any], prefix: str, name: str, kind: str
    ) -> tuple[str, ...]:
        key = join_key(prefix, name)
        value = table.get(name, [])
        if isinstance(value, str):
            raise self.error(key, f'must be an array of strings, like ["{value}"]')
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of strings, not {type_name(value)}")
        for position, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{key}[{position}]", f"must be a string, not {type_name(item)}")
            if not is_valid_address(item):
                raise self.error(f"{key}[{position}]", _bad_address(kind, item))
        return tuple(value)

    def domain_rules(self, raw: dict[str, Any]) -> tuple[DomainRule, ...]:
        rules: list[DomainRule] = []
        for index, table in enumerate(self.table_array(raw, "domain_rules")):
            prefix = f"domain_rules[{index}]"
            self.check_keys(table, prefix, _RULE_KEYS)
            pattern = self.string(table, prefix, "email", required=True)
            template = self.string(table, prefix, "jid", required=True)
            assert pattern is not None
            assert template is not None
            domain = pattern[2:]
            if not pattern.startswith("*@") or not domain or any(c in domain for c in "*@ \t"):
                raise self.error(
                    f"{prefix}.email",
                    f'{pattern!r} must be "*@" followed by a domain, like "*@corp.example"',
                )
            if "{local}" not in template:
                raise self.error(f"{prefix}.jid", f"{template!r} must contain {{local}}")
            sample = template.replace("{local}", "local")
            if "{" in sample or "}" in sample:
                raise self.error(f"{prefix}.jid", f"{template!r}: only {{local}} may be used")
            if not is_valid_address(sample):
                raise self.error(f"{prefix}.jid", f"{template!r} does not make a valid JID")
            rule = DomainRule(email_pattern=pattern, jid_template=template)
            for other_index, other in enumerate(rules):
                if other.domain == rule.domain:
                    raise self.error(
                        f"{prefix}.email",
                        f"domain {rule.domain!r} already has a rule (domain_rules[{other_index}])",
                    )
            rules.append(rule)
        return tuple(rules)


def _bad_address(kind: str, value: str) -> str:
    return f"{value!r} is not a valid {kind} (expected local@domain, without spaces)"


_ACCOUNT_PREFIX = r"^accounts\[(\d+)\](?:\.(\w+))?"  # compiled when first used


def _password_reason(key: str, root: dict[str, Any]) -> str:
    # Name the keyring entry the user should create for exactly this account
    # and service, so the fix can be copied as it is.
    name, service = "<account>", "<service>"
    match = re.match(_ACCOUNT_PREFIX, key)
    if match:
        accounts = root.get("accounts")
        index = int(match.group(1))
        if isinstance(accounts, list) and index < len(accounts):
            candidate = accounts[index].get("name") if isinstance(accounts[index], dict) else None
            if isinstance(candidate, str) and candidate:
                name = shlex.quote(candidate)
        # A password at account level is the one all its servers share.
        service = match.group(2) if match.group(2) in SERVICES else ""
    entry = f"{name}:{service}" if service else name
    return (
        "passwords are not read from the config file; remove this key and store the "
        f"password in the keyring (`keyring set {KEYRING_SERVICE} {entry}`) "
        "or set password_command to a command that prints it"
    )

