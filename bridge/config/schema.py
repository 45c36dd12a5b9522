"""What a config is: its constants, its dataclasses, and the error of a bad file.

Everything here is a value; reading the file is `bridge.config.load`, passwords
are `bridge.config.secrets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(frozen=True)
class ServerConfig:
    """One server of an account (`[accounts.imap]`, `smtp`, `xmpp`)."""

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
    # Login by token (imap, smtp only): None here means the account's setting.
    auth: str | None = None
    token_command: tuple[str, ...] | None = None
    token_origin: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AccountConfig:
    """One `[[accounts]]` entry: its addresses, servers and how it logs in."""

    name: str
    email: str | None = None
    jid: str | None = None
    display_name: str | None = None
    password_command: str | None = None
    imap: ServerConfig | None = None
    smtp: ServerConfig | None = None
    xmpp: ServerConfig | None = None
    password_origin: str | None = field(default=None, compare=False)
    # Mail triage and compose (issue 19): the folder `archive` moves to (else the
    # server's \Archive folder), whether `delete` expunges instead of moving to Trash,
    # where `save` puts attachments (else ~/Downloads), the signature put under
    # our text after "-- ", and other addresses of ours (From identities).
    archive_folder: str | None = None
    expunge_deletes: bool = False
    downloads: Path | None = None
    signature: str | None = None
    aliases: tuple[str, ...] = ()
    # OAuth 2.0 (issue 19): how imap and smtp log in (one of AUTH_MECHANISMS, a
    # server's own `auth` wins), the argv whose first line of output is the access
    # token, how long it may run, and `FILE:LINE: key` of token_command.
    auth: str = "password"
    token_command: tuple[str, ...] | None = None
    token_timeout: float = TOKEN_COMMAND_TIMEOUT
    token_origin: str | None = field(default=None, compare=False)
    # The account's own `[accounts.crypto] autocrypt` (None: the global
    # `[crypto] autocrypt` stands): Autocrypt on or off for the mail it sends.
    autocrypt: bool | None = None

    def server(self, service: str) -> ServerConfig | None:
        check_service(service)
        server: ServerConfig | None = getattr(self, service)
        return server


@dataclass(frozen=True)
class ContactConfig:
    """One `[[contacts]]` entry: a person's email addresses and JIDs."""

    name: str
    emails: tuple[str, ...] = ()
    jids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainRule:
    """A `[[domain_rules]]` entry: the JID an email address of a domain maps to."""

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
    """`[deferral]`: when and how often a message that could not go is retried."""

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
    """`[handoff]`: how a conversation moves from email to chat."""

    # Several people moved from email to chat: one room for all, or one chat each.
    group_chats: str = "room"


@dataclass(frozen=True)
class HealthPolicy:
    """[health]: how often the engine probes its servers (see bridge.health)."""

    interval: float = 15 * 60.0  # every server, this often
    critical_interval: float = 2 * 60.0  # a server on the critical list, this often
    timeout: float = 15.0  # one probe's wait for an answer


@dataclass(frozen=True)
class NotifyPolicy:
    """[notify]: how new mail and chat are told outside the app (see tuiclient.notify)."""

    command: tuple[str, ...] = ()  # notify_command: run with kind, sender, summary
    bell: bool = True  # the terminal bell
    desktop: str = "auto"  # one of NOTIFY_DESKTOP
    hyperlinks: str = "auto"  # one of NOTIFY_HYPERLINKS


@dataclass(frozen=True)
class CryptoPolicy:
    """[crypto]: OpenPGP for mail, OMEMO for chat (see bridge.crypto)."""

    # The GnuPG home to use; None: the one gpg itself uses ($GNUPGHOME, ~/.gnupg).
    gnupg_home: Path | None = None
    # Put the text of decrypted mail into the search index (the store on disk then
    # holds it in clear); by default encrypted mail is found by its headers only.
    index_decrypted: bool = False
    # What every email does unless the send says otherwise (--sign, --no-encrypt...).
    sign: bool = False
    encrypt: bool = False
    # Autocrypt Level 1 (bridge.crypto.autocrypt): send our key in an Autocrypt
    # header, keep what peers send, encrypt by default when both sides prefer it.
    autocrypt: bool = False
    # Our Autocrypt `prefer-encrypt=mutual` (false: "nopreference", the spec's default).
    autocrypt_prefer_encrypt: bool = False
    # OMEMO for 1:1 chat (bridge/xmpp/omemo.py): this client's keys made and its
    # device published at login, OMEMO lines read; off, none of it (an OMEMO
    # line is then labelled unreadable, and an encrypted chat send refused).
    omemo: bool = True


@dataclass(frozen=True)
class ChatPolicy:
    """[chat]: what the chat side tells others about the user."""

    # Chat state notifications (XEP-0085: typing, paused, gone...). A client must let
    # the user turn them off (XEP-0085 section 7); off, none is sent, not even the
    # <active/> on a line, so peers that keep to section 5.1 stop expecting them.
    chat_states: bool = True
    # Away after this long without a key or a click in the app (seconds; None:
    # never), extended away (xa) after auto_xa; back as before on the next input.
    auto_away: float | None = None
    auto_xa: float | None = None
    auto_away_message: str = "idle"
    # `serve` without a command this long tells the chat servers nobody is looking
    # (XEP-0352 inactive); the next command makes it active again.
    idle_after: float = 60.0


@dataclass(frozen=True)
class Config:
    """The whole config file, checked: accounts, contacts and each section's policy."""

    path: Path
    accounts: tuple[AccountConfig, ...] = ()
    contacts: tuple[ContactConfig, ...] = ()
    domain_rules: tuple[DomainRule, ...] = ()
    deferral: DeferralPolicy = field(default_factory=DeferralPolicy)
    ca_file: Path | None = None
    # [keys]: action -> keys (Textual key names), only the ones the user rebinds.
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # `FILE:LINE` of each [keys] entry, for reporting two actions bound to one key.
    key_origins: dict[str, str] = field(default_factory=dict, compare=False)
    notify: NotifyPolicy = field(default_factory=lambda: NotifyPolicy())
    handoff: HandoffPolicy = field(default_factory=lambda: HandoffPolicy())
    health: HealthPolicy = field(default_factory=HealthPolicy)
    crypto: CryptoPolicy = field(default_factory=CryptoPolicy)
    chat: ChatPolicy = field(default_factory=ChatPolicy)

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

