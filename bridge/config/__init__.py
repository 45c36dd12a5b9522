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

    [notify]                          # all optional: new mail and chat, outside the app
    bell = true                       # ring the terminal bell
    desktop = "auto"                  # auto (D-Bus notification service when running,
                                      # else the terminal's escape if it has one)
                                      # | dbus | osc777 | osc9 | off
    hyperlinks = "auto"               # links as OSC 8: auto (as the terminal) | on | off
    notify_command = ["notify.sh"]    # run (never by a shell) with kind, sender, summary

    [crypto]                          # all optional: OpenPGP, OMEMO (bridge.crypto)
    gnupg_home = "~/.gnupg"           # default: what gpg uses ($GNUPGHOME, ~/.gnupg)
    index_decrypted = false           # put decrypted text in the search index
    sign = false                      # sign every email unless told otherwise
    encrypt = false                   # encrypt every email unless told otherwise
    omemo = true                      # OMEMO for 1:1 chat (keys in the data dir)

    [chat]                            # all optional
    chat_states = true                # tell others when you type (XEP-0085); false:
                                      # never, not even <active/> on a line
    auto_away = "10m"                 # away after 10 minutes without input in the
                                      # app (default: never); back on the next key
    auto_xa = "1h"                    # extended away after an hour (default: never)
    auto_away_message = "idle"        # the status message while away by itself
    idle_after = "60s"                # `serve` without a command this long tells the
                                      # server nobody is looking (XEP-0352 inactive)

    [keys]                            # optional: action = "key" or ["key", "key"]
    reply_im = "m"                    # two actions bound to one key are reported

    [[accounts]]
    name = "alice"                    # required, unique, no ":"
    email = "alice@example.test"      # required when imap or smtp is present
    jid = "alice@example.test"        # required when xmpp is present
    display_name = "Alice"            # optional
    password_command = "pass show mail/alice"   # optional; else the keyring
    auth = "password"                 # imap and smtp log in with: password (default)
                                      # | xoauth2 | oauthbearer (an OAuth 2.0 token)
    token_command = ["oama", "access", "alice@example.test"]
                                      # with xoauth2/oauthbearer: prints the access
                                      # token (first line); argv or a string split
                                      # like a shell would, never run by one
    token_timeout = "30s"             # the longest a token_command may run

    [accounts.imap]
    host = "imap.example.test"        # required
    port = 993                        # default: 993 for tls, 143 for starttls/plain
    tls = "tls"                       # tls | starttls | plain (default tls)
    ca_file = "ca.pem"                # optional; default: the top-level ca_file
    username = "alice"                # optional; default: the account's email
    password_command = "..."          # optional; overrides the account's
    auth = "xoauth2"                  # optional; overrides the account's
    token_command = "..."             # optional; overrides the account's

    [accounts.smtp]                   # same keys; ports 465 tls, 587 starttls, 25 plain

    [accounts.xmpp]                   # same keys but no username (the jid logs in)
                                      # and no auth or token_command (a password);
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
`tuiclient` / `<account>:<service>`, else `tuiclient` / `<account>`. A mail
server whose `auth` is xoauth2 or oauthbearer logs in with the access token its
`token_command` prints instead; a token the server refuses is asked for once
more (the command runs again) before the login fails.

Every `ConfigError` names the file and, where they can be found, the line and
the dotted key (`accounts[0].imap.port`).

The package, one module per job:

    schema.py    the constants and dataclasses of a config, and `ConfigError`
    reader.py    TOML a person wrote, read with FILE:LINE errors (the rules file
                 of `tuiclient run` is read by the same reader)
    load.py      `load_config`: the config's sections checked into a `Config`
    policies.py  the policy sections ([deferral], [crypto], [chat], [handoff],
                 [health], [keys], [notify]) of load's reader
    tokens.py    the OAuth settings (auth, token_command) of load's reader
    secrets.py   passwords (password commands, the keyring) and OAuth tokens
                 (token commands)
    report.py    `describe`: the report of `tuiclient config check`
"""

from __future__ import annotations

from .load import PASSWORD_KEYS, check_ca_files, load_config
from .reader import LocatedError
from .report import describe
from .schema import (
    AUTH_MECHANISMS,
    AWAY_POLICIES,
    DEFAULT_PORTS,
    DEFAULT_TLS,
    GROUP_CHAT_CHOICES,
    KEY_ACTIONS,
    MAIL_SERVICES,
    NOTIFY_DESKTOP,
    NOTIFY_HYPERLINKS,
    ON_MAX_AGE_CHOICES,
    SERVICES,
    TLS_MODES,
    TOKEN_COMMAND_TIMEOUT,
    AccountConfig,
    ChatPolicy,
    Config,
    ConfigError,
    ContactConfig,
    CryptoPolicy,
    DeferralPolicy,
    DomainRule,
    HandoffPolicy,
    HealthPolicy,
    NotifyPolicy,
    ServerConfig,
    is_valid_address,
)
from .secrets import (
    KEYRING_SERVICE,
    PASSWORD_COMMAND_TIMEOUT,
    SecretError,
    auth_mechanism,
    check_password_commands,
    get_password,
    get_token,
    password_origin,
    password_source,
)

__all__ = [
    "AUTH_MECHANISMS",
    "AWAY_POLICIES",
    "DEFAULT_PORTS",
    "DEFAULT_TLS",
    "GROUP_CHAT_CHOICES",
    "KEYRING_SERVICE",
    "KEY_ACTIONS",
    "MAIL_SERVICES",
    "NOTIFY_DESKTOP",
    "NOTIFY_HYPERLINKS",
    "ON_MAX_AGE_CHOICES",
    "PASSWORD_COMMAND_TIMEOUT",
    "PASSWORD_KEYS",
    "SERVICES",
    "TLS_MODES",
    "TOKEN_COMMAND_TIMEOUT",
    "AccountConfig",
    "ChatPolicy",
    "Config",
    "ConfigError",
    "ContactConfig",
    "CryptoPolicy",
    "DeferralPolicy",
    "DomainRule",
    "HandoffPolicy",
    "HealthPolicy",
    "LocatedError",
    "NotifyPolicy",
    "SecretError",
    "ServerConfig",
    "auth_mechanism",
    "check_ca_files",
    "check_password_commands",
    "describe",
    "get_password",
    "get_token",
    "is_valid_address",
    "load_config",
    "password_origin",
    "password_source",
]
