"""What a config is: its constants, its records, and the error of a bad file.

Everything here is a value (records without `dataclasses`: bridge/record.py);
reading the file is `bridge.config.load`, passwords are `bridge.config.secrets`.
"""

from __future__ import annotations

from pathlib import Path

from ..record import FrozenRecord, setfield
from .reader import LocatedError

SERVICES = ("imap", "smtp", "xmpp")
# How a mail server (imap, smtp) is logged in to: a password (LOGIN / AUTH PLAIN),
# or an OAuth 2.0 access token printed by the account's token_command: XOAUTH2
# (Google's and Microsoft's format) or OAUTHBEARER (RFC 7628). XMPP: a password.
AUTH_MECHANISMS = ("password", "xoauth2", "oauthbearer")
MAIL_SERVICES = ("imap", "smtp")
TOKEN_COMMAND_TIMEOUT = 30.0
TLS_MODES = ("tls", "starttls", "plain")
ON_MAX_AGE_CHOICES = ("ask", "email", "drop")
AWAY_POLICIES = ("ask", "defer", "email", "send")
GROUP_CHAT_CHOICES = ("room", "separate")
# What a user can rebind under [keys] (the app's actions; defaults in tuiclient/keys.py).
KEY_ACTIONS = (
    "down", "up", "top", "bottom", "open", "back", "next_pane", "search", "reply_email",
    "reply_all_email", "reply_im", "reply_all_im", "reply_options", "compose", "flag",
    "unread", "mark", "delete", "archive", "move", "copy", "tags", "undo", "save", "forward",
    "bounce", "drafts", "outbox", "health", "help", "refresh", "quit", "outbox_retry",
    "outbox_email", "outbox_im", "outbox_cancel",
    "mute", "command_line", "prev_pane", "revisions",
    "limit", "next_unread",
    "sort", "fold", "links",
    "quote_reply", "keys",
    *(f"window_{n}" for n in range(1, 10)), "window_prev", "window_next",
)
# [notify] desktop: how a desktop notification goes out. auto: the freedesktop
# notification service over D-Bus (notify-send) when a session bus is there, else
# the terminal's own escape where it is known to take one (tuiclient.terminal);
# osc777 / osc9: that escape (foot, kitty, iTerm2, WezTerm...), whatever the terminal.
NOTIFY_DESKTOP = ("auto", "dbus", "osc777", "osc9", "off")
# [notify] hyperlinks: links as OSC 8 hyperlinks; auto: where the terminal is known
# to take them (tuiclient.terminal).
NOTIFY_HYPERLINKS = ("auto", "on", "off")

DEFAULT_PORTS: dict[str, dict[str, int]] = {
    "imap": {"tls": 993, "starttls": 143, "plain": 143},
    "smtp": {"tls": 465, "starttls": 587, "plain": 25},
    "xmpp": {"tls": 5223, "starttls": 5222, "plain": 5222},
}
DEFAULT_TLS = {"imap": "tls", "smtp": "tls", "xmpp": "starttls"}


class ConfigError(LocatedError):
    """A config file that cannot be used."""


def check_service(service: str) -> None:
    """ValueError unless `service` is one of `SERVICES`."""
    if service not in SERVICES:
        raise ValueError(f"service must be one of {', '.join(SERVICES)}, not {service!r}")


class ServerConfig(FrozenRecord):
    """One server of an account (`[accounts.imap]`, `smtp`, `xmpp`)."""

    __slots__ = (
        "auth",
        "ca_file",
        "ca_origin",
        "host",
        "password_command",
        "password_origin",
        "port",
        "tls",
        "token_command",
        "token_origin",
        "username",
    )
    _compare = ("host", "port", "tls", "ca_file", "username", "password_command", "auth",
                "token_command")

    host: str
    port: int
    tls: str
    ca_file: Path | None
    username: str | None
    password_command: str | None
    # `FILE:LINE: key` of the password_command (or of this table): a password that
    # cannot be had is reported there, as a config error.
    password_origin: str | None
    # (file, line, key) that named ca_file, for errors found when it is loaded.
    ca_origin: tuple[Path, int | None, str] | None
    # Login by token (imap, smtp only): None here means the account's setting.
    auth: str | None
    token_command: tuple[str, ...] | None
    token_origin: str | None

    def __init__(
        self, host: str, port: int, tls: str, ca_file: Path | None = None,
        username: str | None = None, password_command: str | None = None,
        password_origin: str | None = None,
        ca_origin: tuple[Path, int | None, str] | None = None, auth: str | None = None,
        token_command: tuple[str, ...] | None = None, token_origin: str | None = None,
    ) -> None:
        setfield(self, "host", host)
        setfield(self, "port", port)
        setfield(self, "tls", tls)
        setfield(self, "ca_file", ca_file)
        setfield(self, "username", username)
        setfield(self, "password_command", password_command)
        setfield(self, "password_origin", password_origin)
        setfield(self, "ca_origin", ca_origin)
        setfield(self, "auth", auth)
        setfield(self, "token_command", token_command)
        setfield(self, "token_origin", token_origin)


class AccountConfig(FrozenRecord):
    """One `[[accounts]]` entry: its addresses, servers and how it logs in."""

    __slots__ = (
        "aliases",
        "archive_folder",
        "auth",
        "autocrypt",
        "display_name",
        "downloads",
        "email",
        "expunge_deletes",
        "imap",
        "jid",
        "name",
        "password_command",
        "password_origin",
        "signature",
        "smtp",
        "token_command",
        "token_origin",
        "token_timeout",
        "xmpp",
    )
    _compare = ("name", "email", "jid", "display_name", "password_command", "imap", "smtp",
                "xmpp", "archive_folder", "expunge_deletes", "downloads", "signature", "aliases",
                "auth", "token_command", "token_timeout", "autocrypt")

    name: str
    email: str | None
    jid: str | None
    display_name: str | None
    password_command: str | None
    imap: ServerConfig | None
    smtp: ServerConfig | None
    xmpp: ServerConfig | None
    password_origin: str | None
    # Mail triage and compose (issue 19): the folder `archive` moves to (else the
    # server's \Archive folder), whether `delete` expunges instead of moving to Trash,
    # where `save` puts attachments (else ~/Downloads), the signature put under
    # our text after "-- ", and other addresses of ours (From identities).
    archive_folder: str | None
    expunge_deletes: bool
    downloads: Path | None
    signature: str | None
    aliases: tuple[str, ...]
    # OAuth 2.0 (issue 19): how imap and smtp log in (one of AUTH_MECHANISMS, a
    # server's own `auth` wins), the argv whose first line of output is the access
    # token, how long it may run, and `FILE:LINE: key` of token_command.
    auth: str
    token_command: tuple[str, ...] | None
    token_timeout: float
    token_origin: str | None
    # The account's own `[accounts.crypto] autocrypt` (None: the global
    # `[crypto] autocrypt` stands): Autocrypt on or off for the mail it sends.
    autocrypt: bool | None

    def __init__(
        self, name: str, email: str | None = None, jid: str | None = None,
        display_name: str | None = None, password_command: str | None = None,
        imap: ServerConfig | None = None, smtp: ServerConfig | None = None,
        xmpp: ServerConfig | None = None, password_origin: str | None = None,
        archive_folder: str | None = None, expunge_deletes: bool = False,
        downloads: Path | None = None, signature: str | None = None,
        aliases: tuple[str, ...] = (), auth: str = "password",
        token_command: tuple[str, ...] | None = None,
        token_timeout: float = TOKEN_COMMAND_TIMEOUT, token_origin: str | None = None,
        autocrypt: bool | None = None,
    ) -> None:
        setfield(self, "name", name)
        setfield(self, "email", email)
        setfield(self, "jid", jid)
        setfield(self, "display_name", display_name)
        setfield(self, "password_command", password_command)
        setfield(self, "imap", imap)
        setfield(self, "smtp", smtp)
        setfield(self, "xmpp", xmpp)
        setfield(self, "password_origin", password_origin)
        setfield(self, "archive_folder", archive_folder)
        setfield(self, "expunge_deletes", expunge_deletes)
        setfield(self, "downloads", downloads)
        setfield(self, "signature", signature)
        setfield(self, "aliases", aliases)
        setfield(self, "auth", auth)
        setfield(self, "token_command", token_command)
        setfield(self, "token_timeout", token_timeout)
        setfield(self, "token_origin", token_origin)
        setfield(self, "autocrypt", autocrypt)

    def server(self, service: str) -> ServerConfig | None:
        check_service(service)
        server: ServerConfig | None = getattr(self, service)
        return server


class ContactConfig(FrozenRecord):
    """One `[[contacts]]` entry: a person's email addresses and JIDs."""

    __slots__ = ("emails", "jids", "name")

    name: str
    emails: tuple[str, ...]
    jids: tuple[str, ...]

    def __init__(
        self, name: str, emails: tuple[str, ...] = (), jids: tuple[str, ...] = (),
    ) -> None:
        setfield(self, "name", name)
        setfield(self, "emails", emails)
        setfield(self, "jids", jids)


class DomainRule(FrozenRecord):
    """A `[[domain_rules]]` entry: the JID an email address of a domain maps to."""

    __slots__ = ("email_pattern", "jid_template")

    email_pattern: str
    jid_template: str

    def __init__(self, email_pattern: str, jid_template: str) -> None:
        setfield(self, "email_pattern", email_pattern)
        setfield(self, "jid_template", jid_template)

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


class DeferralPolicy(FrozenRecord):
    """`[deferral]`: when and how often a message that could not go is retried."""

    __slots__ = (
        "ceiling",
        "email_by_im_after",
        "first_retry",
        "folder",
        "growth",
        "max_age",
        "on_max_age",
        "policy",
    )

    first_retry: float
    growth: float
    ceiling: float
    max_age: float
    on_max_age: str
    policy: str
    folder: str  # the IMAP folder mirroring deferred chat messages
    # An email still unsent this long after its first failed try goes by chat
    # instead; None: never (the user has to agree to it in the config).
    email_by_im_after: float | None

    def __init__(
        self, first_retry: float = 30.0, growth: float = 2.0, ceiling: float = 30 * 60.0,
        max_age: float = 2 * 24 * 3600.0, on_max_age: str = "ask", policy: str = "ask",
        folder: str = "Deferred", email_by_im_after: float | None = None,
    ) -> None:
        setfield(self, "first_retry", first_retry)
        setfield(self, "growth", growth)
        setfield(self, "ceiling", ceiling)
        setfield(self, "max_age", max_age)
        setfield(self, "on_max_age", on_max_age)
        setfield(self, "policy", policy)
        setfield(self, "folder", folder)
        setfield(self, "email_by_im_after", email_by_im_after)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 is the first retry)."""
        try:
            delay = self.first_retry * self.growth ** max(attempt, 0)
        except OverflowError:
            # A message retried for days with a steep growth outruns floats.
            return self.ceiling
        return min(delay, self.ceiling)


class HandoffPolicy(FrozenRecord):
    """`[handoff]`: how a conversation moves from email to chat."""

    __slots__ = ("group_chats",)

    # Several people moved from email to chat: one room for all, or one chat each.
    group_chats: str

    def __init__(self, group_chats: str = "room") -> None:
        setfield(self, "group_chats", group_chats)


class HealthPolicy(FrozenRecord):
    """[health]: how often the engine probes its servers (see bridge.health)."""

    __slots__ = ("critical_interval", "interval", "timeout")

    interval: float  # every server, this often
    critical_interval: float  # a server on the critical list, this often
    timeout: float  # one probe's wait for an answer

    def __init__(
        self, interval: float = 15 * 60.0, critical_interval: float = 2 * 60.0,
        timeout: float = 15.0,
    ) -> None:
        setfield(self, "interval", interval)
        setfield(self, "critical_interval", critical_interval)
        setfield(self, "timeout", timeout)


class NotifyPolicy(FrozenRecord):
    """[notify]: how new mail and chat are told outside the app (see tuiclient.notify)."""

    __slots__ = ("bell", "command", "desktop", "hyperlinks")

    command: tuple[str, ...]  # notify_command: run with kind, sender, summary
    bell: bool  # the terminal bell
    desktop: str  # one of NOTIFY_DESKTOP
    hyperlinks: str  # one of NOTIFY_HYPERLINKS

    def __init__(
        self, command: tuple[str, ...] = (), bell: bool = True, desktop: str = "auto",
        hyperlinks: str = "auto",
    ) -> None:
        setfield(self, "command", command)
        setfield(self, "bell", bell)
        setfield(self, "desktop", desktop)
        setfield(self, "hyperlinks", hyperlinks)


class CryptoPolicy(FrozenRecord):
    """[crypto]: OpenPGP for mail, OMEMO for chat (see bridge.crypto)."""

    __slots__ = (
        "autocrypt",
        "autocrypt_prefer_encrypt",
        "encrypt",
        "gnupg_home",
        "index_decrypted",
        "omemo",
        "sign",
    )

    # The GnuPG home to use; None: the one gpg itself uses ($GNUPGHOME, ~/.gnupg).
    gnupg_home: Path | None
    # Put the text of decrypted mail into the search index (the store on disk then
    # holds it in clear); by default encrypted mail is found by its headers only.
    index_decrypted: bool
    # What every email does unless the send says otherwise (--sign, --no-encrypt...).
    sign: bool
    encrypt: bool
    # Autocrypt Level 1 (bridge.crypto.autocrypt): send our key in an Autocrypt
    # header, keep what peers send, encrypt by default when both sides prefer it.
    autocrypt: bool
    # Our Autocrypt `prefer-encrypt=mutual` (false: "nopreference", the spec's default).
    autocrypt_prefer_encrypt: bool
    # OMEMO for 1:1 chat (bridge/xmpp/omemo.py): this client's keys made and its
    # device published at login, OMEMO lines read; off, none of it (an OMEMO
    # line is then labelled unreadable, and an encrypted chat send refused).
    omemo: bool

    def __init__(
        self, gnupg_home: Path | None = None, index_decrypted: bool = False, sign: bool = False,
        encrypt: bool = False, autocrypt: bool = False, autocrypt_prefer_encrypt: bool = False,
        omemo: bool = True,
    ) -> None:
        setfield(self, "gnupg_home", gnupg_home)
        setfield(self, "index_decrypted", index_decrypted)
        setfield(self, "sign", sign)
        setfield(self, "encrypt", encrypt)
        setfield(self, "autocrypt", autocrypt)
        setfield(self, "autocrypt_prefer_encrypt", autocrypt_prefer_encrypt)
        setfield(self, "omemo", omemo)


class ChatPolicy(FrozenRecord):
    """[chat]: what the chat side tells others about the user."""

    __slots__ = ("auto_away", "auto_away_message", "auto_xa", "chat_states", "idle_after")

    # Chat state notifications (XEP-0085: typing, paused, gone...). A client must let
    # the user turn them off (XEP-0085 section 7); off, none is sent, not even the
    # <active/> on a line, so peers that keep to section 5.1 stop expecting them.
    chat_states: bool
    # Away after this long without a key or a click in the app (seconds; None:
    # never), extended away (xa) after auto_xa; back as before on the next input.
    auto_away: float | None
    auto_xa: float | None
    auto_away_message: str
    # `serve` without a command this long tells the chat servers nobody is looking
    # (XEP-0352 inactive); the next command makes it active again.
    idle_after: float

    def __init__(
        self, chat_states: bool = True, auto_away: float | None = None,
        auto_xa: float | None = None, auto_away_message: str = "idle", idle_after: float = 60.0,
    ) -> None:
        setfield(self, "chat_states", chat_states)
        setfield(self, "auto_away", auto_away)
        setfield(self, "auto_xa", auto_xa)
        setfield(self, "auto_away_message", auto_away_message)
        setfield(self, "idle_after", idle_after)


class Config(FrozenRecord):
    """The whole config file, checked: accounts, contacts and each section's policy."""

    __slots__ = (
        "accounts",
        "ca_file",
        "chat",
        "contacts",
        "crypto",
        "deferral",
        "domain_rules",
        "handoff",
        "health",
        "key_origins",
        "keys",
        "notify",
        "path",
    )
    _compare = ("path", "accounts", "contacts", "domain_rules", "deferral", "ca_file", "keys",
                "notify", "handoff", "health", "crypto", "chat")

    path: Path
    accounts: tuple[AccountConfig, ...]
    contacts: tuple[ContactConfig, ...]
    domain_rules: tuple[DomainRule, ...]
    deferral: DeferralPolicy
    ca_file: Path | None
    # [keys]: action -> keys (Textual key names), only the ones the user rebinds.
    keys: dict[str, tuple[str, ...]]
    # `FILE:LINE` of each [keys] entry, for reporting two actions bound to one key.
    key_origins: dict[str, str]
    notify: NotifyPolicy
    handoff: HandoffPolicy
    health: HealthPolicy
    crypto: CryptoPolicy
    chat: ChatPolicy

    def __init__(
        self, path: Path, accounts: tuple[AccountConfig, ...] = (),
        contacts: tuple[ContactConfig, ...] = (), domain_rules: tuple[DomainRule, ...] = (),
        deferral: DeferralPolicy | None = None, ca_file: Path | None = None,
        keys: dict[str, tuple[str, ...]] | None = None,
        key_origins: dict[str, str] | None = None, notify: NotifyPolicy | None = None,
        handoff: HandoffPolicy | None = None, health: HealthPolicy | None = None,
        crypto: CryptoPolicy | None = None, chat: ChatPolicy | None = None,
    ) -> None:
        setfield(self, "path", path)
        setfield(self, "accounts", accounts)
        setfield(self, "contacts", contacts)
        setfield(self, "domain_rules", domain_rules)
        setfield(self, "deferral", DeferralPolicy() if deferral is None else deferral)
        setfield(self, "ca_file", ca_file)
        setfield(self, "keys", {} if keys is None else keys)
        setfield(self, "key_origins", {} if key_origins is None else key_origins)
        setfield(self, "notify", NotifyPolicy() if notify is None else notify)
        setfield(self, "handoff", HandoffPolicy() if handoff is None else handoff)
        setfield(self, "health", HealthPolicy() if health is None else health)
        setfield(self, "crypto", CryptoPolicy() if crypto is None else crypto)
        setfield(self, "chat", ChatPolicy() if chat is None else chat)

    def autocrypt_on(self, account: str) -> bool:
        """Whether Autocrypt is on for the mail `account` sends: its own
        `[accounts.crypto] autocrypt`, else the global `[crypto] autocrypt`."""
        own = next((a.autocrypt for a in self.accounts if a.name == account), None)
        return self.crypto.autocrypt if own is None else own

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

