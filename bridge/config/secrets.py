"""Secrets: passwords from a password command or the keyring, and OAuth 2.0 access
tokens from a token command; never from the config file.

Each password comes from the server's `password_command`, else the account's,
else the keyring entry `tuiclient` / `<account>:<service>`, else `tuiclient` /
`<account>`. A mail server whose `auth` is xoauth2 or oauthbearer logs in with
an access token instead: the first line printed by the server's `token_command`,
else the account's (an external helper such as oama or mutt_oauth2.py, which
keeps the refresh token and renews the access token). `get_password` hands out
whichever of the two the server's login needs.

A command runs without a shell (write `sh -c '...'` for one), with stdin closed
and a timeout, and only its first line is taken. No message here ever contains a
secret: a failing command is reported by its exit status and the last line of
its stderr, never by what it printed on stdout.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from .schema import MAIL_SERVICES, SERVICES, AccountConfig, Config, check_service

KEYRING_SERVICE = "tuiclient"
PASSWORD_COMMAND_TIMEOUT = 30.0


class SecretError(Exception):
    """A password could not be obtained. The message never contains a secret.

    `where` is `FILE:LINE: key` of the password_command (or of the account's table)
    when the account came from a config file; the message then starts with it."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


def _password_command(account: AccountConfig, service: str) -> tuple[str, str] | None:
    server = account.server(service)
    if server is not None and server.password_command:
        return server.password_command, f"[accounts.{service}] password_command"
    if account.password_command:
        return account.password_command, "account password_command"
    return None


def auth_mechanism(account: AccountConfig, service: str) -> str:
    """How `service` logs in: "password", "xoauth2" or "oauthbearer" (the server's
    own `auth`, else the account's). XMPP always logs in with a password."""
    check_service(service)
    if service not in MAIL_SERVICES:
        return "password"
    server = account.server(service)
    if server is not None and server.auth:
        return server.auth
    return account.auth


def _token_command(account: AccountConfig,
                   service: str) -> tuple[tuple[str, ...], str] | None:
    server = account.server(service)
    if server is not None and server.token_command:
        return server.token_command, f"[accounts.{service}] token_command"
    if account.token_command:
        return account.token_command, "account token_command"
    return None


def check_password_commands(config: Config) -> None:
    """Every password_command and token_command names a program that is there
    (none is run): a missing one is a SecretError located at its key."""
    for account in config.accounts:
        for service in SERVICES:
            if account.server(service) is None:
                continue
            if auth_mechanism(account, service) != "password":
                token = _token_command(account, service)
                if token is not None:
                    _check_program(token[0][0], f"token_command for account {account.name!r} "
                                   f"({service})", password_origin(account, service))
                continue
            found = _password_command(account, service)
            if found is None:
                continue
            _check_program(shlex.split(found[0])[0], f"password_command for account "
                           f"{account.name!r} ({service})", password_origin(account, service))


def _check_program(program: str, what: str, where: str | None) -> None:
    import shutil  # here: with `tempfile` a store that only reads needs none

    if shutil.which(program) is None:
        state = "is not executable" if Path(program).expanduser().is_file() else "was not found"
        raise SecretError(f"{what}: command {program!r} {state}", where)


def password_origin(account: AccountConfig, service: str) -> str | None:
    """`FILE:LINE: key` of the setting that decides where this secret comes from
    (the token_command's for a server that logs in with a token)."""
    server = account.server(service)
    if auth_mechanism(account, service) != "password":
        if server is not None and server.token_command and server.token_origin:
            return server.token_origin
        return account.token_origin or account.password_origin
    if server is not None and server.password_command and server.password_origin:
        return server.password_origin
    return account.password_origin


def password_source(account: AccountConfig, service: str) -> str:
    """Where `get_password` will look, in words; never the secret itself."""
    mechanism = auth_mechanism(account, service)
    if mechanism != "password":
        token = _token_command(account, service)
        if token is None:  # not from a loaded config: load_config refuses this
            return f"{mechanism.upper()} token: no token_command"
        return f"{mechanism.upper()} token from {token[1]}: {shlex.join(token[0])}"
    found = _password_command(account, service)
    if found is not None:
        command, origin = found
        return f"{origin}: {command}"
    return f"keyring {KEYRING_SERVICE!r}, user {account.name}:{service} (else user {account.name})"


def get_password(account: AccountConfig, service: str) -> str:
    """The secret one account's server logs in with: for a server whose `auth` is
    xoauth2 or oauthbearer the access token (`get_token`), else the password
    (command first, then the keyring). Each call asks anew: nothing is cached, so
    a second call after a refused token runs the token command again."""
    check_service(service)
    try:
        if auth_mechanism(account, service) != "password":
            return get_token(account, service)
        return _get_password(account, service)
    except SecretError as exc:
        where = password_origin(account, service)
        if exc.where is None and where:
            raise SecretError(str(exc), where) from None
        raise


def get_token(account: AccountConfig, service: str) -> str:
    """The OAuth 2.0 access token for one account's mail server: the first line its
    token_command prints, within the account's token_timeout. SecretError, located
    at the token_command, if it fails, hangs or prints no token."""
    found = _token_command(account, service)
    where = password_origin(account, service)
    if found is None:
        raise SecretError(f"account {account.name!r} ({service}) logs in with "
                          f"{auth_mechanism(account, service).upper()} but has no "
                          "token_command", where)
    what = f"token_command for account {account.name!r} ({service})"
    try:
        token = _run_command(found[0], what, account.token_timeout).strip()
    except SecretError as exc:
        raise SecretError(str(exc), where) from None
    # A token goes inside a SASL message whose fields are split on ^A and spaces:
    # anything else on the line is not a token (a prompt, a JSON document...).
    if not token.isascii() or not token.isprintable() or " " in token:
        raise SecretError(f"{what} printed a first line that is not an access token "
                          "(it has spaces or control characters)", where)
    return token


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
    return _run_command(argv, what, PASSWORD_COMMAND_TIMEOUT, own_session=False)


def _run_command(argv: Sequence[str], what: str, timeout: float, *,
                 own_session: bool = True) -> str:
    """The first line `argv` prints (a password or a token); SecretError, saying
    why in one line without any of its output, if there is none.

    `own_session`: the command runs in a session of its own, so that one that
    hangs is ended with everything it started (`sh -c`, a token helper's own
    children), not just its first process. A password command keeps ours (as it
    always did: some reach the terminal for a passphrase)."""
    # Here, not with the module: loading a config runs no command (a command
    # that only reads the store never needs subprocess).
    import signal
    import subprocess

    try:
        # No shell, and stdin closed: a command that waits for typed input would
        # otherwise hang behind the TUI, which owns the terminal.
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=own_session)
    except FileNotFoundError:
        raise SecretError(f"{what}: command not found: {argv[0]}") from None
    except PermissionError:
        raise SecretError(f"{what}: cannot execute {argv[0]}") from None
    except OSError as exc:
        raise SecretError(f"{what} could not start: {exc.strerror or exc}") from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SecretError(f"{what} did not finish within {timeout:g} s") from None
    finally:
        if proc.poll() is None:  # timed out, or interrupted (Ctrl-C)
            with contextlib.suppress(OSError):
                if own_session:
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
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

