"""Typed configuration, read from a TOML file, and the secrets that go with it.

The file lives at `$XDG_CONFIG_HOME/tuiclient/config.toml` unless `--config`
names another one. Its layout::

    ca_file = "/path/ca.pem"          # optional; default CA for every server

    [deferral]                        # all optional
    first_retry = 30                  # seconds, or "30s", "5m", "2h", "1d", "1h30m"
    growth = 2.0                      # each retry waits this much longer (>= 1.0)
    ceiling = "30m"                   # longest wait between two retries
    max_age = "2d"                    # after this, stop retrying and ...
    on_max_age = "ask"                # ... ask | email | drop
    policy = "ask"                    # headless, contact away: ask | defer | email | send
    folder = "Deferred"               # IMAP folder that mirrors deferred chat messages
    email_by_im_after = "1h"          # an email its SMTP server refused this long goes
                                      # by chat to the same people (all need a JID);
                                      # unset: emails only ever go by email

    [handoff]                         # optional
    group_chats = "room"              # several people moved to chat: room | separate

    [health]                          # all optional; durations as in [deferral]
    interval = "15m"                  # probe every server this often
    critical_interval = "2m"          # ... and a failing one this often, until it answers
    timeout = "15s"                   # a probe waits this long for a server's answer

    [[accounts]]
    name = "alice"                    # required, unique, no ":"
    email = "alice@example.test"      # required when imap or smtp is present
    jid = "alice@example.test"        # required when xmpp is present
    display_name = "Alice"            # optional
    password_command = "pass show mail/alice"   # optional; else the keyring

    [accounts.imap]
    host = "imap.example.test"        # required
    port = 993                        # default: 993 for tls, 143 for starttls/plain
    tls = "tls"                       # tls | starttls | plain (default tls)
    ca_file = "ca.pem"                # optional; default: the top-level ca_file
    username = "alice"                # optional; default: the account's email
    password_command = "..."          # optional; overrides the account's

    [accounts.smtp]                   # same keys; ports 465 tls, 587 starttls, 25 plain

    [accounts.xmpp]                   # same keys but no username (the jid logs in);
                                      # host defaults to the jid's domain,
                                      # tls to starttls, port to 5222 (5223 for tls)

    [[contacts]]
    name = "Bob"
    emails = ["bob@example.test"]
    jids = ["bob@chat.example.test"]

    [[domain_rules]]
    email = "*@corp.example"          # exactly one leading "*@", then the domain
    jid = "{local}@chat.corp.example" # {local} is the email's local part

Relative `ca_file` paths are taken from the config file's directory.

Passwords are never read from this file: a key named `password` (or `pass`,
`passwd`, `secret`, ...) is refused. Each password comes from the server's
`password_command`, else the account's, else the keyring entry
`tuiclient` / `<account>:<service>`, else `tuiclient` / `<account>`.

Every `ConfigError` names the file and, where they can be found, the line and
the dotted key (`accounts[0].imap.port`).
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
import shutil
import ssl
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.paths import default_config_path

KEYRING_SERVICE = "tuiclient"
SERVICES = ("imap", "smtp", "xmpp")
TLS_MODES = ("tls", "starttls", "plain")
ON_MAX_AGE_CHOICES = ("ask", "email", "drop")
AWAY_POLICIES = ("ask", "defer", "email", "send")
# What a user can rebind under [keys] (the app's actions; defaults in tuiclient/keys.py).
KEY_ACTIONS = (
    "down", "up", "top", "bottom", "open", "back", "next_pane", "search", "reply_email",
    "reply_all_email", "reply_im", "reply_all_im", "reply_options", "compose", "flag",
    "unread", "outbox", "health", "help", "refresh", "quit", "outbox_retry", "outbox_email",
    "outbox_im", "outbox_cancel",
)
PASSWORD_COMMAND_TIMEOUT = 30.0

# Keys that can only mean someone is about to put a secret in a plain file.
PASSWORD_KEYS = frozenset({"password", "pass", "passwd", "passphrase", "pwd", "secret"})

DEFAULT_PORTS: dict[str, dict[str, int]] = {
    "imap": {"tls": 993, "starttls": 143, "plain": 143},
    "smtp": {"tls": 465, "starttls": 587, "plain": 25},
    "xmpp": {"tls": 5223, "starttls": 5222, "plain": 5222},
}
DEFAULT_TLS = {"imap": "tls", "smtp": "tls", "xmpp": "starttls"}


class LocatedError(Exception):
    """An error in a file, located as precisely as we can: `FILE:LINE: KEY: reason`."""

    def __init__(
        self, file: Path, reason: str, *, line: int | None = None, key: str | None = None
    ) -> None:
        self.file = Path(file)
        self.line = line
        self.key = key
        self.reason = reason
        super().__init__(self._render())

    def _render(self) -> str:
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}"
        if self.key is not None:
            where += f": {self.key}"
        return f"{where}: {self.reason}"

    def __str__(self) -> str:
        return self._render()


class ConfigError(LocatedError):
    """A config file that cannot be used."""


class SecretError(Exception):
    """A password could not be obtained. The message never contains a secret.

    `where` is `FILE:LINE: key` of the password_command (or of the account's table)
    when the account came from a config file; the message then starts with it."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    tls: str
    ca_file: Path | None = None
    username: str | None = None
    password_command: str | None = None
    # `FILE:LINE: key` of the password_command (or of this table): a password that
    # cannot be had is reported there, as a config error.
    password_origin: str | None = field(default=None, compare=False)
    # (file, line, key) that named ca_file, for errors found when it is loaded.
    ca_origin: tuple[Path, int | None, str] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AccountConfig:
    name: str
    email: str | None = None
    jid: str | None = None
    display_name: str | None = None
    password_command: str | None = None
    imap: ServerConfig | None = None
    smtp: ServerConfig | None = None
    xmpp: ServerConfig | None = None
    password_origin: str | None = field(default=None, compare=False)

    def server(self, service: str) -> ServerConfig | None:
        _check_service(service)
        server: ServerConfig | None = getattr(self, service)
        return server


@dataclass(frozen=True)
class ContactConfig:
    name: str
    emails: tuple[str, ...] = ()
    jids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainRule:
    email_pattern: str
    jid_template: str

    @property
    def domain(self) -> str:
        return self.email_pattern[2:].lower()

    def map(self, email: str) -> str | None:
        """The JID for `email` if this rule covers its domain, else None."""
        if not is_valid_address(email):
            return None
        local, _, domain = email.partition("@")
        if domain.lower() != self.domain:
            return None
        return self.jid_template.replace("{local}", local)


@dataclass(frozen=True)
class DeferralPolicy:
    first_retry: float = 30.0
    growth: float = 2.0
    ceiling: float = 30 * 60.0
    max_age: float = 2 * 24 * 3600.0
    on_max_age: str = "ask"
    policy: str = "ask"
    folder: str = "Deferred"  # the IMAP folder mirroring deferred chat messages
    # An email still unsent this long after its first failed try goes by chat
    # instead; None: never (the user has to agree to it in the config).
    email_by_im_after: float | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 is the first retry)."""
        try:
            delay = self.first_retry * self.growth ** max(attempt, 0)
        except OverflowError:
            # A message retried for days with a steep growth outruns floats.
            return self.ceiling
        return min(delay, self.ceiling)


@dataclass(frozen=True)
class HandoffPolicy:
    # Several people moved from email to chat: one room for all, or one chat each.
    group_chats: str = "room"


@dataclass(frozen=True)
class HealthPolicy:
    """[health]: how often the engine probes its servers (see bridge.health)."""

    interval: float = 15 * 60.0  # every server, this often
    critical_interval: float = 2 * 60.0  # a server on the critical list, this often
    timeout: float = 15.0  # one probe's wait for an answer


@dataclass(frozen=True)
class Config:
    path: Path
    accounts: tuple[AccountConfig, ...] = ()
    contacts: tuple[ContactConfig, ...] = ()
    domain_rules: tuple[DomainRule, ...] = ()
    deferral: DeferralPolicy = field(default_factory=DeferralPolicy)
    ca_file: Path | None = None
    # [keys]: action -> keys (Textual key names), only the ones the user rebinds.
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    handoff: HandoffPolicy = field(default_factory=lambda: HandoffPolicy())
    health: HealthPolicy = field(default_factory=HealthPolicy)

    def account(self, name: str) -> AccountConfig:
        """The account called `name`; KeyError (listing the known names) if none."""
        for account in self.accounts:
            if account.name == name:
                return account
        known = ", ".join(a.name for a in self.accounts) or "none"
        raise KeyError(f"no account named {name!r} in {self.path} (accounts: {known})")


def is_valid_address(address: str) -> bool:
    """A deliberately loose check for emails and bare JIDs: `local@domain`."""
    local, at, domain = address.partition("@")
    return (
        bool(at and local and domain)
        and "@" not in domain
        and not any(c.isspace() or not c.isprintable() for c in address)
    )


# --------------------------------------------------------------------------
# Loading


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config file (default: the XDG location)."""
    path = (default_config_path() if path is None else Path(path)).expanduser().absolute()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "config file does not exist") from None
    except IsADirectoryError:
        raise ConfigError(path, "is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read config file: {exc.strerror or exc}") from None
    _refuse_writable_by_others(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(path, "config file is not valid UTF-8", line=line) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, text, exc) from None
    return _Reader(path, text).read(raw)


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


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def _syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    # tomllib only reports the position inside its message, so take it from there.
    message = str(exc)
    match = _TOML_POSITION.search(message)
    if match:
        reason = f"TOML syntax error: {message[: match.start()]} (column {match.group(2)})"
        return ConfigError(path, reason, line=int(match.group(1)))
    match = _TOML_AT_END.search(message)
    if match:
        reason = f"TOML syntax error: {message[: match.start()]} (at end of file)"
        return ConfigError(path, reason, line=text.count("\n") + 1)
    return ConfigError(path, f"TOML syntax error: {message}")


# --------------------------------------------------------------------------
# Line locator: tomllib keeps no positions, so rescan the text for them.

_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_ARRAY_HEADER = re.compile(rf"\s*\[\[\s*({_DOTTED_KEY})\s*\]\]")
_TABLE_HEADER = re.compile(rf"\s*\[\s*({_DOTTED_KEY})\s*\]")
_KEY_VALUE = re.compile(rf"\s*({_DOTTED_KEY})\s*=")
_PARENT = re.compile(r"^(.+?)(?:\[\d+\]|\.[^.\[\]]+)$")


def _key_parts(dotted: str) -> list[str]:
    return [p[1:-1] if p[0] in "\"'" else p for p in re.findall(_KEY_PART, dotted)]


def _parent_key(key: str) -> str | None:
    match = _PARENT.match(key)
    return match.group(1) if match else None


class _Locator:
    """Maps dotted keys like `accounts[1].imap.port` to the line defining them."""

    def __init__(self, text: str) -> None:
        self._lines: dict[str, int] = {}
        self._current = ""
        self._array_counts: dict[str, int] = {}
        self._multiline: str | None = None
        self._depth = 0
        # tomllib numbers lines by "\n" only; splitlines() would also split on
        # form feeds and friends and drift from its numbering.
        for number, line in enumerate(text.split("\n"), start=1):
            self._feed(number, line)

    def line_of(self, key: str) -> int | None:
        """The key's own line, else the nearest enclosing table's, else None."""
        candidate: str | None = key
        while candidate:
            if candidate in self._lines:
                return self._lines[candidate]
            candidate = _parent_key(candidate)
        return None

    def _feed(self, number: int, line: str) -> None:
        if self._multiline or self._depth:
            self._scan_value(line)
            return
        if match := _ARRAY_HEADER.match(line):
            parts = _key_parts(match.group(1))
            base = self._join(self._resolve(parts[:-1]), parts[-1])
            index = self._array_counts.get(base, 0)
            self._array_counts[base] = index + 1
            self._record(base, number)
            self._current = f"{base}[{index}]"
            self._record(self._current, number)
        elif match := _TABLE_HEADER.match(line):
            self._current = self._resolve(_key_parts(match.group(1)))
            self._record(self._current, number)
        elif match := _KEY_VALUE.match(line):
            key = self._current
            for part in _key_parts(match.group(1)):
                key = self._join(key, part)
                self._record(key, number)
            self._scan_value(line[match.end() :])

    def _resolve(self, parts: list[str]) -> str:
        # `[accounts.imap]` means the imap table of the latest `[[accounts]]`.
        path = ""
        for part in parts:
            path = self._join(path, part)
            if path in self._array_counts:
                path = f"{path}[{self._array_counts[path] - 1}]"
        return path

    @staticmethod
    def _join(prefix: str, part: str) -> str:
        return f"{prefix}.{part}" if prefix else part

    def _record(self, key: str, number: int) -> None:
        self._lines.setdefault(key, number)

    def _scan_value(self, text: str) -> None:
        # Just enough of a tokenizer to know when a multi-line string or array
        # ends, so that lines inside them are not mistaken for keys.
        i, n = 0, len(text)
        while i < n:
            if self._multiline:
                end = text.find(self._multiline, i)
                if end < 0:
                    return
                i = end + 3
                while i < n and text[i] == self._multiline[0]:
                    i += 1
                self._multiline = None
                continue
            char = text[i]
            if char == "#":
                return
            if text.startswith('"""', i) or text.startswith("'''", i):
                self._multiline = text[i : i + 3]
                i += 3
                continue
            if char == '"':
                i += 1
                while i < n and text[i] != '"':
                    i += 2 if text[i] == "\\" else 1
            elif char == "'":
                end = text.find("'", i + 1)
                i = n if end < 0 else end
            elif char in "[{":
                self._depth += 1
            elif char in "]}":
                self._depth = max(0, self._depth - 1)
            i += 1


# --------------------------------------------------------------------------
# Validation

_TOP_KEYS = ("ca_file", "deferral", "accounts", "contacts", "domain_rules", "keys", "handoff",
             "health")
_DEFERRAL_KEYS = ("first_retry", "growth", "ceiling", "max_age", "on_max_age", "policy",
                  "folder", "email_by_im_after")
_HANDOFF_KEYS = ("group_chats",)
_HEALTH_KEYS = ("interval", "critical_interval", "timeout")
GROUP_CHAT_CHOICES = ("room", "separate")
_ACCOUNT_KEYS = ("name", "email", "jid", "display_name", "password_command", *SERVICES)
_SERVER_KEYS = ("host", "port", "tls", "ca_file", "username", "password_command")
_CONTACT_KEYS = ("name", "emails", "jids")
_RULE_KEYS = ("email", "jid")

_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION_TEXT = re.compile(rf"(?:{_NUMBER}\s*[smhd]\s*)+|{_NUMBER}")
_DURATION_PART = re.compile(rf"({_NUMBER})\s*([smhd])")


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.base_dir = path.parent
        self.locator = _Locator(text)
        self.ca_origins: dict[Path, tuple[Path, int | None, str]] = {}

    def error(self, key: str | None, reason: str) -> ConfigError:
        line = self.locator.line_of(key) if key else None
        return ConfigError(self.path, reason, line=line, key=key)

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
        handoff = self.handoff(raw)
        health = self.health(raw)
        return Config(
            path=self.path,
            accounts=accounts,
            contacts=contacts,
            domain_rules=rules,
            deferral=deferral,
            ca_file=ca_file,
            keys=keys,
            handoff=handoff,
            health=health,
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

    def check_keys(self, table: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for name in table:
            if name in allowed:
                continue
            key = f"{prefix}.{name}" if prefix else name
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            if close:
                reason = f"unknown key {name!r}; did you mean {close[0]!r}?"
            else:
                reason = f"unknown key {name!r} (known keys: {', '.join(allowed)})"
            raise self.error(key, reason)

    def table(self, parent: dict[str, Any], prefix: str, name: str) -> dict[str, Any] | None:
        value = parent.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            key = _join(prefix, name)
            raise self.error(key, f"must be a table, not {_type_name(value)}")
        return value

    def table_array(self, parent: dict[str, Any], name: str) -> list[dict[str, Any]]:
        value = parent.get(name, [])
        if not isinstance(value, list):
            raise self.error(
                name, f"must be an array of tables ([[{name}]]), not {_type_name(value)}"
            )
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{index}]", f"must be a table, not {_type_name(item)}")
        return value

    def string(
        self, table: dict[str, Any], prefix: str, name: str, *, required: bool = False
    ) -> str | None:
        key = _join(prefix, name)
        if name not in table:
            if required:
                raise self.error(key, f"required key {name!r} is missing")
            return None
        value = table[name]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {_type_name(value)}")
        if not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def address(
        self, table: dict[str, Any], prefix: str, name: str, kind: str, *, required: bool
    ) -> str | None:
        value = self.string(table, prefix, name, required=required)
        if value is not None and not is_valid_address(value):
            raise self.error(_join(prefix, name), _bad_address(kind, value))
        return value

    def command(self, table: dict[str, Any], prefix: str) -> str | None:
        value = self.string(table, prefix, "password_command")
        if value is not None:
            key = _join(prefix, "password_command")
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
        key = _join(prefix, "password_command") if "password_command" in table else prefix
        line = self.locator.line_of(key)
        return f"{self.path}" + (f":{line}" if line else "") + f": {key}"

    def choice(
        self, table: dict[str, Any], prefix: str, name: str, choices: tuple[str, ...], default: str
    ) -> str:
        if name not in table:
            return default
        value = table[name]
        key = _join(prefix, name)
        if not isinstance(value, str):
            raise self.error(
                key, f"must be a string, one of {_or(choices)}; not {_type_name(value)}"
            )
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(key, f"must be one of {_or(choices)}, not {value!r}{hint}")
        return value

    def ca_file(self, table: dict[str, Any], prefix: str, default: Path | None) -> Path | None:
        if "ca_file" not in table:
            return default
        key = _join(prefix, "ca_file")
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

    def duration(self, table: dict[str, Any], prefix: str, name: str, default: float) -> float:
        if name not in table:
            return default
        value = table[name]
        key = _join(prefix, name)
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            text = value.strip().lower()
            if _DURATION_TEXT.fullmatch(text):
                parts = _DURATION_PART.findall(text)
                seconds = (
                    sum(float(n) * _DURATION_UNITS[u] for n, u in parts) if parts else float(text)
                )
            else:
                raise self.error(
                    key, f'{value!r} is not a duration: use seconds or e.g. "30s", "5m", "2h", "1d"'
                )
        else:
            raise self.error(
                key, f'must be a number of seconds or a string like "5m", not {_type_name(value)}'
            )
        if not math.isfinite(seconds) or seconds <= 0:
            raise self.error(key, "must be a positive, finite duration")
        return seconds

    # -- sections ------------------------------------------------------------

    def deferral(self, raw: dict[str, Any]) -> DeferralPolicy:
        table = self.table(raw, "", "deferral")
        defaults = DeferralPolicy()
        if table is None:
            return defaults
        prefix = "deferral"
        self.check_keys(table, prefix, _DEFERRAL_KEYS)
        first_retry = self.duration(table, prefix, "first_retry", defaults.first_retry)
        ceiling = self.duration(table, prefix, "ceiling", defaults.ceiling)
        max_age = self.duration(table, prefix, "max_age", defaults.max_age)
        growth = defaults.growth
        if "growth" in table:
            value = table["growth"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.error("deferral.growth", f"must be a number, not {_type_name(value)}")
            if not math.isfinite(value) or value < 1.0:
                raise self.error("deferral.growth", f"must be at least 1.0, not {value}")
            growth = float(value)
        if ceiling < first_retry:
            raise self.error(
                "deferral.ceiling",
                f"ceiling ({_format_duration(ceiling)}) is shorter than first_retry "
                f"({_format_duration(first_retry)})",
            )
        return DeferralPolicy(
            first_retry=first_retry,
            growth=growth,
            ceiling=ceiling,
            max_age=max_age,
            on_max_age=self.choice(table, prefix, "on_max_age", ON_MAX_AGE_CHOICES, "ask"),
            policy=self.choice(table, prefix, "policy", AWAY_POLICIES, "ask"),
            folder=self.string(table, prefix, "folder") or defaults.folder,
            email_by_im_after=(self.duration(table, prefix, "email_by_im_after", 0.0)
                               if "email_by_im_after" in table else None),
        )

    def handoff(self, raw: dict[str, Any]) -> HandoffPolicy:
        table = self.table(raw, "", "handoff")
        if table is None:
            return HandoffPolicy()
        self.check_keys(table, "handoff", _HANDOFF_KEYS)
        return HandoffPolicy(
            group_chats=self.choice(table, "handoff", "group_chats", GROUP_CHAT_CHOICES, "room"))

    def health(self, raw: dict[str, Any]) -> HealthPolicy:
        table = self.table(raw, "", "health")
        defaults = HealthPolicy()
        if table is None:
            return defaults
        prefix = "health"
        self.check_keys(table, prefix, _HEALTH_KEYS)
        interval = self.duration(table, prefix, "interval", defaults.interval)
        critical = self.duration(table, prefix, "critical_interval", defaults.critical_interval)
        timeout = self.duration(table, prefix, "timeout", defaults.timeout)
        if critical > interval:
            # Checked against the value the user wrote, else against the default.
            key = "health.critical_interval" if "critical_interval" in table else \
                "health.interval"
            raise self.error(
                key,
                f"critical_interval ({_format_duration(critical)}) is longer than interval "
                f"({_format_duration(interval)}): a failing server would be probed less "
                f"often than a working one",
            )
        return HealthPolicy(interval=interval, critical_interval=critical, timeout=timeout)

    def keys(self, raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        """[keys]: `action = "k"`, `"k1,k2"` or `["k1", "k2"]` (Textual key names)."""
        table = self.table(raw, "", "keys")
        if table is None:
            return {}
        self.check_keys(table, "keys", KEY_ACTIONS)
        keys: dict[str, tuple[str, ...]] = {}
        for action, value in table.items():
            key = f"keys.{action}"
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(k, str) for k in items):
                raise self.error(key, "must be a string or an array of strings, not "
                                 f"{_type_name(value)}")
            names = tuple(k.strip() for k in items)
            if not names or any(not k or any(c.isspace() for c in k) for k in names):
                raise self.error(key, f"not a list of key names: {value!r}")
            keys[action] = names
        return keys

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
        return AccountConfig(
            name=name,
            email=email,
            jid=jid,
            display_name=self.string(table, prefix, "display_name"),
            password_command=self.command(table, prefix),
            imap=servers["imap"],
            smtp=servers["smtp"],
            xmpp=servers["xmpp"],
            password_origin=self.origin(table, prefix),
        )

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
                raise self.error(f"{prefix}.port", f"must be an integer, not {_type_name(value)}")
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
        key = _join(prefix, name)
        value = table.get(name, [])
        if isinstance(value, str):
            raise self.error(key, f'must be an array of strings, like ["{value}"]')
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of strings, not {_type_name(value)}")
        for position, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{key}[{position}]", f"must be a string, not {_type_name(item)}")
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


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _or(choices: tuple[str, ...]) -> str:
    quoted = [repr(c) for c in choices]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def _bad_address(kind: str, value: str) -> str:
    return f"{value!r} is not a valid {kind} (expected local@domain, without spaces)"


_ACCOUNT_PREFIX = re.compile(r"^accounts\[(\d+)\](?:\.(\w+))?")


def _password_reason(key: str, root: dict[str, Any]) -> str:
    # Name the keyring entry the user should create for exactly this account
    # and service, so the fix can be copied as it is.
    name, service = "<account>", "<service>"
    match = _ACCOUNT_PREFIX.match(key)
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


# --------------------------------------------------------------------------
# Secrets


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise ValueError(f"service must be one of {', '.join(SERVICES)}, not {service!r}")


def _password_command(account: AccountConfig, service: str) -> tuple[str, str] | None:
    server = account.server(service)
    if server is not None and server.password_command:
        return server.password_command, f"[accounts.{service}] password_command"
    if account.password_command:
        return account.password_command, "account password_command"
    return None


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


def check_password_commands(config: Config) -> None:
    """Every password_command names a program that is there (none is run): a
    missing one is a SecretError located at its key."""
    for account in config.accounts:
        for service in SERVICES:
            if account.server(service) is None:
                continue
            found = _password_command(account, service)
            if found is None:
                continue
            program = shlex.split(found[0])[0]
            if shutil.which(program) is None:
                what = "is not executable" if Path(program).expanduser().is_file() \
                    else "was not found"
                raise SecretError(f"password_command for account {account.name!r} ({service}): "
                                  f"command {program!r} {what}",
                                  password_origin(account, service))


def password_origin(account: AccountConfig, service: str) -> str | None:
    """`FILE:LINE: key` of the setting that decides where this password comes from."""
    server = account.server(service)
    if server is not None and server.password_command and server.password_origin:
        return server.password_origin
    return account.password_origin


def password_source(account: AccountConfig, service: str) -> str:
    """Where `get_password` will look, in words; never the password itself."""
    found = _password_command(account, service)
    if found is not None:
        command, origin = found
        return f"{origin}: {command}"
    return f"keyring {KEYRING_SERVICE!r}, user {account.name}:{service} (else user {account.name})"


def get_password(account: AccountConfig, service: str) -> str:
    """The password for one account's server: command first, then the keyring."""
    _check_service(service)
    try:
        return _get_password(account, service)
    except SecretError as exc:
        where = password_origin(account, service)
        if exc.where is None and where:
            raise SecretError(str(exc), where) from None
        raise


def _get_password(account: AccountConfig, service: str) -> str:
    found = _password_command(account, service)
    if found is not None:
        return _run_password_command(account, service, found[0])

    import keyring
    import keyring.errors

    for user in (f"{account.name}:{service}", account.name):
        try:
            password = keyring.get_password(KEYRING_SERVICE, user)
        except keyring.errors.KeyringError as exc:
            raise SecretError(
                f"account {account.name!r} ({service}): the keyring failed: {exc}; "
                "fix it or set password_command"
            ) from None
        if password:
            return password
    raise SecretError(
        f"no password for account {account.name!r} ({service}): store it with "
        f"`keyring set {KEYRING_SERVICE} {shlex.quote(f'{account.name}:{service}')}` "
        f"(or `keyring set {KEYRING_SERVICE} {shlex.quote(account.name)}` for all its servers), "
        "or set password_command in the config"
    )


def _run_password_command(account: AccountConfig, service: str, command: str) -> str:
    what = f"password_command for account {account.name!r} ({service})"
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise SecretError(f"{what} cannot be split into arguments: {exc}") from None
    if not argv:
        raise SecretError(f"{what} is empty")
    try:
        # No shell, and stdin closed: a command that waits for typed input would
        # otherwise hang behind the TUI, which owns the terminal.
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PASSWORD_COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise SecretError(f"{what}: command not found: {argv[0]}") from None
    except PermissionError:
        raise SecretError(f"{what}: cannot execute {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"{what} did not finish within {PASSWORD_COMMAND_TIMEOUT:g} s") from None
    except OSError as exc:
        raise SecretError(f"{what} could not start: {exc.strerror or exc}") from None
    if result.returncode != 0:
        status = (
            f"was killed by signal {-result.returncode}"
            if result.returncode < 0
            else f"failed with exit status {result.returncode}"
        )
        detail = _safe_stderr(result.stderr, result.stdout)
        raise SecretError(f"{what} {status}" + (f": {detail}" if detail else ""))
    try:
        output = result.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"{what} printed something that is not UTF-8") from None
    password = output.split("\n", 1)[0].removesuffix("\r")
    if not password:
        raise SecretError(f"{what} printed an empty first line")
    return password


def _safe_stderr(stderr: bytes, stdout: bytes) -> str:
    """The last line of stderr, to say why a command failed, unless it could leak."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return ""
    last = lines[-1][:200]
    # Some tools echo what they were about to print; never repeat stdout.
    secrets = [s.strip() for s in stdout.decode("utf-8", "replace").splitlines() if s.strip()]
    if any(secret in last for secret in secrets):
        return ""
    return "".join(c for c in last if c.isprintable())


# --------------------------------------------------------------------------
# Report


def _format_duration(seconds: float) -> str:
    remaining = round(seconds)
    if remaining != seconds or remaining == 0:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _describe_account(account: AccountConfig) -> Iterator[str]:
    title = f"account {account.name}"
    if account.display_name:
        title += f" ({account.display_name})"
    yield title
    if account.email:
        yield f"  email: {account.email}"
    if account.jid:
        yield f"  jid:   {account.jid}"
    for service in SERVICES:
        server = account.server(service)
        if server is None:
            continue
        tls = server.tls + (" (unencrypted)" if server.tls == "plain" else "")
        ca = str(server.ca_file) if server.ca_file else "system trust store"
        yield f"  {service}: {server.host}:{server.port}, {tls}, CA {ca}"
        if server.username:
            yield f"    login:    {server.username}"
        yield f"    password: {password_source(account, service)}"


def describe(config: Config) -> str:
    """The report of `tuiclient config check`. Shows no password, ever."""
    lines = [f"config file: {config.path}"]
    if config.ca_file:
        lines.append(f"default CA file: {config.ca_file}")
    lines.append("")
    if config.accounts:
        for account in config.accounts:
            lines.extend(_describe_account(account))
            lines.append("")
    else:
        lines.extend(["no accounts", ""])
    if config.contacts:
        lines.append(f"contacts ({len(config.contacts)}):")
        for contact in config.contacts:
            addresses = [f"email {e}" for e in contact.emails] + [f"jid {j}" for j in contact.jids]
            lines.append(f"  {contact.name}: {', '.join(addresses)}")
    else:
        lines.append("contacts: none")
    if config.domain_rules:
        lines.append(f"domain rules ({len(config.domain_rules)}):")
        lines.extend(f"  {r.email_pattern} -> {r.jid_template}" for r in config.domain_rules)
    else:
        lines.append("domain rules: none")
    d = config.deferral
    lines += [
        "",
        "deferral:",
        (
            f"  first retry after {_format_duration(d.first_retry)}, each wait x{d.growth:g}, "
            f"at most {_format_duration(d.ceiling)} apart"
        ),
        f"  after {_format_duration(d.max_age)}: {d.on_max_age}",
        f"  headless, contact away: {d.policy}",
        (f"  an email its SMTP server refused for {_format_duration(d.email_by_im_after)} "
         "goes by chat" if d.email_by_im_after else "  emails go by email only"),
    ]
    h = config.health
    lines += [
        "",
        "health:",
        f"  every server probed every {_format_duration(h.interval)}, one that fails every "
        f"{_format_duration(h.critical_interval)} until it answers",
        f"  a probe waits {_format_duration(h.timeout)} for an answer",
    ]
    return "\n".join(lines) + "\n"
