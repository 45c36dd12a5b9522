"""Passwords: from a password command, else the keyring; never from the config file.

Each password comes from the server's `password_command`, else the account's,
else the keyring entry `tuiclient` / `<account>:<service>`, else `tuiclient` /
`<account>`. A command runs without a shell, with stdin closed and a timeout, and
only its first line is taken. No message here ever contains a secret.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from .schema import SERVICES, AccountConfig, Config, check_service

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
    check_service(service)
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

