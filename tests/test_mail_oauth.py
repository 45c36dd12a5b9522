"""Logging in with OAuth 2.0 bearer tokens (XOAUTH2, OAUTHBEARER) from a token command.

Against the real servers: Dovecot checks the tokens with its own oauth2 passdb
(local JWT validation against the harness issuer's key), the SMTP server with the
same key; the token command is a small script each test writes, the way a user
runs oama or mutt_oauth2.py. The SASL messages and the config rules are checked
on their own too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.config import (
    ConfigError,
    SecretError,
    auth_mechanism,
    describe,
    get_password,
    load_config,
)
from bridge.engine import default_store_path
from bridge.events import EventBus
from bridge.mail.auth import BearerAuth, oauthbearer_response, xoauth2_response
from bridge.mail.compose import build_email
from bridge.mail.connect import LoginRefused, login_imap, login_smtp
from bridge.mail.send import MailSender
from bridge.mail.sync import MailSync
from bridge.model import DeliveryState, Party
from bridge.store import Store
from tests.conftest import password_command
from tests.harness.servers import Account, World
from tests.others import inbox, person
from tests.test_headless import cli

# -- the token command ----------------------------------------------------------------


class TokenHelper:
    """A token command: prints the tokens it was given one per run (the last one
    again once they run out), counting its runs; like oama, it is a program the
    config names, run without a shell."""

    def __init__(self, directory: Path, tokens: list[str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.script = directory / "token-helper"
        self.script.write_text(
            f"#!{sys.executable}\n"
            "import json, pathlib\n"
            "here = pathlib.Path(__file__).parent\n"
            "runs = here / 'runs'\n"
            "n = int(runs.read_text()) if runs.exists() else 0\n"
            "runs.write_text(str(n + 1))\n"
            "tokens = json.loads((here / 'tokens.json').read_text())\n"
            "print(tokens[min(n, len(tokens) - 1)])\n")
        self.script.chmod(0o700)
        self.give(tokens)

    def give(self, tokens: list[str]) -> None:
        (self.dir / "tokens.json").write_text(json.dumps(tokens))
        (self.dir / "runs").unlink(missing_ok=True)

    @property
    def runs(self) -> int:
        path = self.dir / "runs"
        return int(path.read_text()) if path.exists() else 0


def token_config(world: World, tmp: Path, me: Account, command: str, *,
                 auth: str = "xoauth2", extra: str = "") -> Path:
    path = tmp / f"{me.name}.toml"
    text = world.client_config(me, password_command(tmp, me), auth=auth, token_command=command)
    if extra:
        text = text.replace("\n[accounts.imap]\n", f"{extra}\n[accounts.imap]\n", 1)
    path.write_text(text)
    return path


def mail(sender: Account, to: Account, subject: str) -> tuple:
    msg_id = f"{uuid.uuid4().hex}@example.test"
    return build_email(Party(sender.email, "Me"), [Party(to.email, "You", "to")], [],
                       subject, "sent with a token\n", msg_id=msg_id), msg_id


def dovecot_logins(world: World, who: Account, method: str) -> int:
    log = (world.dovecot_dir / "dovecot.log").read_text(errors="replace")
    return log.count(f"Login: user=<{who.email}>, method={method},")


# -- the SASL messages ----------------------------------------------------------------


def test_sasl_messages_follow_rfc_7628_and_googles_xoauth2() -> None:
    # RFC 7628 section 3.1, and its example in 4.1 (host and port pairs included).
    assert oauthbearer_response("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
                                "server.example.com", 143) == (
        "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
        "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01")
    # GS2 (RFC 5801): "," and "=" in the authorization identity are escaped.
    assert oauthbearer_response("a,b=c@x", "t").startswith("n,a=a=2Cb=3Dc@x,\x01auth=")
    token = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
    assert xoauth2_response("someuser@example.com", token) \
        == f"user=someuser@example.com\x01auth=Bearer {token}\x01\x01"
    # smtplib asks the authobject again for each 334: the server's error report is
    # answered with ^A (OAUTHBEARER, RFC 7628 3.2.3) or an empty line (XOAUTH2).
    bearer = BearerAuth("oauthbearer", "u@x", "SECRET-TOKEN")
    assert bearer(b'{"status":"invalid_token"}') == "\x01"
    assert BearerAuth("xoauth2", "u@x", "SECRET-TOKEN")(b"{}") == ""
    assert "SECRET-TOKEN" not in repr(bearer)


# -- the config -----------------------------------------------------------------------

BASE = """\
[[accounts]]
name = "alice"
email = "alice@example.test"
{account}
[accounts.imap]
host = "imap.example.test"
{imap}
[accounts.smtp]
host = "smtp.example.test"
"""


def write(tmp: Path, account: str = "", imap: str = "") -> Path:
    path = tmp / "config.toml"
    path.write_text(BASE.format(account=account, imap=imap))
    return path


def test_config_auth_and_token_command(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, 'auth = "oauthbearer"\n'
                                      'token_command = ["~/bin/oama", "access", "alice"]\n'
                                      'token_timeout = "5s"\n')).account("alice")
    assert auth_mechanism(cfg, "imap") == auth_mechanism(cfg, "smtp") == "oauthbearer"
    assert cfg.token_command == (str(Path("~/bin/oama").expanduser()), "access", "alice")
    assert cfg.token_timeout == 5.0
    report = describe(load_config(tmp_path / "config.toml"))
    assert "auth:     OAUTHBEARER token from account token_command:" in report
    # One server of its own: the account's password for SMTP, a token for IMAP.
    cfg = load_config(write(tmp_path, "", 'auth = "xoauth2"\ntoken_command = "tok --imap"\n')
                      ).account("alice")
    assert (auth_mechanism(cfg, "imap"), auth_mechanism(cfg, "smtp")) == ("xoauth2", "password")
    assert cfg.imap is not None and cfg.imap.token_command == ("tok", "--imap")
    assert auth_mechanism(cfg, "xmpp") == "password"


@pytest.mark.parametrize(("account", "imap", "key", "reason"), [
    ('auth = "xoauth2"\n', "", "accounts[0].auth",
     'auth = "xoauth2" needs token_command'),
    ('token_command = "tok"\n', "", "accounts[0].token_command",
     "no mail server logs in with a token"),
    ("", 'token_command = "tok"\n', "accounts[0].imap.token_command",
     "this server logs in with a password"),
    ('auth = "oauth2"\n', "", "accounts[0].auth", "did you mean 'xoauth2'?"),
    ('auth = "xoauth2"\ntoken_command = []\n', "", "accounts[0].token_command", "is empty"),
    ('auth = "xoauth2"\ntoken_command = 7\n', "", "accounts[0].token_command",
     "must be a string or an array of strings"),
    ('auth = "xoauth2"\ntoken_command = "tok"\ntoken_timeout = "0s"\n', "",
     "accounts[0].token_timeout", "positive"),
])
def test_broken_token_settings_are_reported_at_their_line(tmp_path: Path, account: str,
                                                          imap: str, key: str,
                                                          reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, account, imap))
    assert info.value.key == key
    assert info.value.line is not None
    assert reason in info.value.reason


def test_xmpp_takes_no_token(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[accounts]]\nname = "a"\njid = "a@x.test"\n[accounts.xmpp]\n'
                    'auth = "xoauth2"\n')
    with pytest.raises(ConfigError, match="xmpp logs in with a password"):
        load_config(path)


# -- the token command, run -----------------------------------------------------------


def command_account(tmp_path: Path, command: str, timeout: str = "30s"):
    return load_config(write(tmp_path, f'auth = "xoauth2"\ntoken_command = {json.dumps(command)}'
                                       f'\ntoken_timeout = "{timeout}"\n')).account("alice")


def test_token_is_the_first_line_and_failures_are_one_line_without_it(tmp_path: Path) -> None:
    cfg = command_account(tmp_path, "printf 'tok-123\\nrefresh-xyz\\n'")
    assert get_password(cfg, "imap") == "tok-123"
    cfg = command_account(tmp_path, "sh -c 'echo LEAKED-TOKEN; echo refresh token revoked >&2;"
                                    " exit 3'")
    with pytest.raises(SecretError) as info:
        get_password(cfg, "smtp")
    text = str(info.value)
    assert "\n" not in text and "LEAKED-TOKEN" not in text
    assert "config.toml:5: accounts[0].token_command: token_command for account 'alice' " \
           "(smtp) failed with exit status 3: refresh token revoked" in text
    cfg = command_account(tmp_path, "echo 'Please open https://login.example/ in a browser'")
    with pytest.raises(SecretError, match="not an access token"):
        get_password(cfg, "imap")


def test_a_hanging_token_command_is_ended_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    cfg = command_account(tmp_path, f"sh -c 'sleep 60 & echo $! > {pidfile}; wait'", "1s")
    started = time.monotonic()
    with pytest.raises(SecretError, match=r"token_command for account 'alice' \(imap\) did "
                                          r"not finish within 1 s"):
        get_password(cfg, "imap")
    assert time.monotonic() - started < 10
    pid = int(pidfile.read_text())
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + 5
    while status.exists() and "State:\tZ" not in status.read_text() \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not status.exists() or "State:\tZ" in status.read_text(), "sleep still runs"


# -- against the real servers ---------------------------------------------------------


@pytest.mark.servers
@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_sync_and_send_with_a_token_command(world: World, tmp_path: Path,
                                            mechanism: str) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    helper = TokenHelper(tmp_path / "helper", [world.issue_token(alice)])
    cfg = load_config(token_config(world, tmp_path, alice, str(helper.script),
                                   auth=mechanism)).account(alice.name)
    store = Store.open(tmp_path / "store.db")
    try:
        sync = MailSync(cfg, lambda: get_password(cfg, "imap"), store, EventBus())
        try:
            assert "INBOX" in sync.sync_folders()
            sync.sync_folder("INBOX")
            method = mechanism.upper()
            assert dovecot_logins(world, alice, method) >= 1
            sender = MailSender(cfg, lambda: get_password(cfg, "smtp"), store,
                                append_sent=lambda raw: sync.append("Sent", raw))
            message, msg_id = mail(alice, bob, f"token {mechanism}")
            sender.queue(message, msg_id)
            [result] = sender.flush()
            assert result.state == "sent", result.detail
        finally:
            sync.close()
    finally:
        store.close()
    assert helper.runs >= 2  # IMAP and SMTP each asked it; no password was used
    deadline = time.monotonic() + 15
    while not any(m["Subject"] == f"token {mechanism}" for m in inbox(world, bob)):
        assert time.monotonic() < deadline, "the email never arrived"
        time.sleep(0.1)


@pytest.mark.servers
def test_a_refused_token_is_refreshed_once(world: World, tmp_path: Path) -> None:
    alice = person(world, "alice")
    # The helper's cached token has expired; its next run hands out a fresh one.
    helper = TokenHelper(tmp_path / "helper",
                         [world.issue_token(alice, lifetime=-120), world.issue_token(alice)])
    cfg = load_config(token_config(world, tmp_path, alice, str(helper.script))
                      ).account(alice.name)
    client = login_imap(cfg)
    try:
        assert client.select_folder("INBOX")
    finally:
        client.logout()
    assert helper.runs == 2
    helper.give([world.issue_token(alice, lifetime=-120), world.issue_token(alice)])
    smtp = login_smtp(cfg)
    smtp.quit()
    assert helper.runs == 2


@pytest.mark.servers
@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_tokens_over_the_other_tls_ports(world: World, tmp_path: Path, mechanism: str) -> None:
    """IMAP with STARTTLS (the mechanism is looked for after the upgrade) and SMTP
    with implicit TLS log in with a token too."""
    alice = person(world, "alice")
    helper = TokenHelper(tmp_path / "helper", [world.issue_token(alice)])
    cfg = load_config(token_config(world, tmp_path, alice, str(helper.script),
                                   auth=mechanism)).account(alice.name)
    assert cfg.imap is not None and cfg.smtp is not None
    cfg = replace(cfg, imap=replace(cfg.imap, port=world.ports.imap, tls="starttls"),
                  smtp=replace(cfg.smtp, port=world.ports.smtps, tls="tls"))
    login_imap(cfg).logout()
    login_smtp(cfg).quit()
    assert helper.runs == 2


@pytest.mark.servers
def test_a_token_refused_twice_fails_clearly_and_keeps_the_email(world: World,
                                                                 tmp_path: Path) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    stale = world.issue_token(alice, lifetime=-120)
    helper = TokenHelper(tmp_path / "helper", [stale])
    cfg = load_config(token_config(world, tmp_path, alice, str(helper.script),
                                   auth="oauthbearer")).account(alice.name)
    with pytest.raises(LoginRefused) as info:
        login_imap(cfg)
    assert helper.runs == 2
    text = str(info.value)
    assert f"login refused for {alice.email} (OAUTHBEARER token), again after token_command " \
           "ran a second time" in text
    assert stale not in text
    # Dovecot delays every login from 127.0.0.1 after failed ones, until one
    # succeeds: one good login now, so the tests after this one are not slowed.
    helper.give([world.issue_token(alice)])
    login_imap(cfg).logout()
    helper.give([stale])
    store = Store.open(tmp_path / "store.db")
    try:
        sender = MailSender(cfg, lambda: get_password(cfg, "smtp"), store)
        message, msg_id = mail(alice, bob, "never with a stale token")
        outbox_id = sender.queue(message, msg_id)
        [result] = sender.flush()
        assert result.state == "failed"
        assert "login refused" in result.detail and "ran a second time" in result.detail
        assert stale not in result.detail and "\n" not in result.detail
        assert helper.runs == 2
        item = store.outbox_get(outbox_id)
        assert item is not None and item.payload["raw"]  # the email itself is kept
    finally:
        store.close()


@pytest.mark.servers
def test_a_failing_token_command_leaves_the_email_queued(world: World, tmp_path: Path) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    command = "sh -c 'echo NOT-THIS; echo invalid_grant: token revoked >&2; exit 3'"
    cfg = load_config(token_config(world, tmp_path, alice, command)).account(alice.name)
    store = Store.open(tmp_path / "store.db")
    try:
        sender = MailSender(cfg, lambda: get_password(cfg, "smtp"), store)
        message, msg_id = mail(alice, bob, "waits for a token")
        outbox_id = sender.queue(message, msg_id)
        [result] = sender.flush()
        assert result.state == "queued"
        assert "token_command for account" in result.detail
        assert "failed with exit status 3: invalid_grant: token revoked" in result.detail
        assert "NOT-THIS" not in result.detail and "\n" not in result.detail
        item = store.outbox_get(outbox_id)
        assert item is not None and item.state is DeliveryState.QUEUED
        assert item.next_attempt is not None
    finally:
        store.close()


# -- headless -------------------------------------------------------------------------


@pytest.mark.servers
async def test_headless_health_names_the_mechanism(world: World, tmp_path: Path) -> None:
    alice = person(world, "alice")
    helper = TokenHelper(tmp_path / "helper", [world.issue_token(alice)])
    config = token_config(world, tmp_path, alice, str(helper.script))
    code, result, _ = await cli(config, "health")
    assert code == 0, result
    assert isinstance(result, list)
    details = {r["service"]: r["detail"] for r in result}
    assert "auth XOAUTH2" in details["imap"] and details["smtp"] == "login ok, auth XOAUTH2"
    assert "auth" not in details["xmpp"]  # chat still logs in with its password


@pytest.mark.servers
async def test_headless_failing_or_hanging_token_command(world: World, tmp_path: Path) -> None:
    alice, bob = person(world, "alice"), person(world, "bob")
    failing = "sh -c 'echo NOT-THIS; echo invalid_grant >&2; exit 3'"
    config = token_config(world, tmp_path, alice, failing)
    # An email waiting in the outbox of the store the command line uses.
    store = Store.open(default_store_path())
    try:
        cfg = load_config(config).account(alice.name)
        message, msg_id = mail(alice, bob, "still here")
        outbox_id = MailSender(cfg, lambda: "unused", store).queue(message, msg_id)
    finally:
        store.close()
    code, result, _ = await cli(config, "outbox", "retry", str(outbox_id))
    assert code == 3, result
    assert isinstance(result, dict) and result["kind"] == "config"
    error = result["error"]
    assert "\n" not in error and "NOT-THIS" not in error
    assert re.search(rf"{re.escape(str(config))}:\d+: accounts\[0\]\.token_command: "
                     rf"token_command for account '{alice.name}' \((imap|smtp)\) failed with "
                     r"exit status 3: invalid_grant", error), error
    store = Store.open(default_store_path())
    try:
        item = store.outbox_get(outbox_id)
        assert item is not None and item.state is DeliveryState.QUEUED
    finally:
        store.close()
    # Hanging: ended after token_timeout, the same kind of one-line error.
    hanging = token_config(world, tmp_path, alice, "sleep 60", extra='token_timeout = "1s"')
    started = time.monotonic()
    code, result, _ = await cli(hanging, "send", "--to", bob.email, "--subject", "x",
                                "--via", "email", "hi")
    assert code == 3, result
    assert isinstance(result, dict) and "did not finish within 1 s" in result["error"]
    assert time.monotonic() - started < 30


@pytest.mark.servers
def test_no_token_in_the_debug_log(world: World, tmp_path: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    alice = person(world, "alice")
    token = world.issue_token(alice)
    helper = TokenHelper(tmp_path / "helper", [token])
    cfg = load_config(token_config(world, tmp_path, alice, str(helper.script))
                      ).account(alice.name)
    caplog.set_level("DEBUG")
    login_imap(cfg).logout()
    login_smtp(cfg).quit()
    logged = caplog.text
    assert "AUTHENTICATE" in logged  # imapclient did log the exchange...
    for secret in (token, base64.b64encode(xoauth2_response(alice.email, token).encode()
                                           ).decode()):
        assert secret not in logged  # ...without the token


# -- structure ------------------------------------------------------------------------

_LOGINS = re.compile(r"\bopen_imap\(|\bopen_smtp\(|\.login\(|oauth2_login\(|oauthbearer_login\("
                     r"|\.auth\(|IMAPClient\(|smtplib\.(SMTP|SMTP_SSL|LMTP)\(")


def test_every_login_goes_through_the_one_login_function() -> None:
    """Sync, IDLE, triage, drafts, send and the probes log in through
    connect.login_imap / login_smtp: nothing else in bridge/ or tuiclient/ opens a
    connection or logs in, so a token login (and its one refresh) works everywhere."""
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted([*(root / "bridge").rglob("*.py"), *(root / "tuiclient").rglob("*.py")]):
        if path == root / "bridge" / "mail" / "connect.py":
            continue
        code = [line for line in path.read_text().splitlines()
                if not line.lstrip().startswith("#")]
        text = "\n".join(code)
        # Docstrings may name the calls; code may not.
        text = re.sub(r'"""(.|\n)*?"""', "", text)
        offenders += [f"{path.relative_to(root)}: {m.group(0)}" for m in _LOGINS.finditer(text)]
    assert offenders == []
    source = (root / "bridge" / "mail" / "sync.py").read_text()
    assert "login_imap(self.account, self.password)" in source


@pytest.mark.servers
async def test_headless_sync_and_send_by_token(world: World, tmp_path: Path) -> None:
    """The whole engine on a token account: the IMAP logins of `sync`, the SMTP login
    of `send` (triage and drafts use the same MailSync login, see the test above);
    no mail login used the password, which chat keeps using."""
    alice, bob = person(world, "alice"), person(world, "bob")
    helper = TokenHelper(tmp_path / "helper", [world.issue_token(alice)])
    config = token_config(world, tmp_path, alice, str(helper.script), auth="oauthbearer")
    code, result, _ = await cli(config, "sync")
    assert code == 0, result
    code, result, _ = await cli(config, "send", "--to", bob.email, "--via", "email",
                                "--subject", "by token, headless", "hello")
    assert code == 0, result
    deadline = time.monotonic() + 15
    while not any(m["Subject"] == "by token, headless" for m in inbox(world, bob)):
        assert time.monotonic() < deadline, "the email never arrived"
        await asyncio.sleep(0.1)
    assert dovecot_logins(world, alice, "OAUTHBEARER") >= 1
    assert dovecot_logins(world, alice, "PLAIN") == 0
