"""The OAuth settings of an account: `auth`, `token_command`, checked at FILE:LINE.

A part of `load.ConfigReader` (a mixin of the generic `TomlReader` checks): the
token command as an argv, and the rules between `auth` and `token_command` of
an account and its [imap] / [smtp] tables.
"""

from __future__ import annotations

from typing import Any

from .reader import TomlReader, join_key
from .schema import MAIL_SERVICES, ServerConfig


class TokenSettings(TomlReader):
    """`auth` and `token_command`, for `load.ConfigReader`."""

    def token_command(self, table: dict[str, Any], prefix: str) -> tuple[str, ...] | None:
        """`token_command`: an argv, as an array or a string split like a shell
        would (never run by one); "~" is expanded in the program's name only."""
        if "token_command" not in table:
            return None
        return self.argv(join_key(prefix, "token_command"), table["token_command"])

    def check_tokens(self, prefix: str, auth: str, token_command: tuple[str, ...] | None,
                     servers: dict[str, ServerConfig | None]) -> None:
        """A server that logs in with a token has a token_command to get it from,
        and a token_command is there only for a server that uses it."""
        used = False
        for service in MAIL_SERVICES:
            server = servers[service]
            if server is None:
                continue
            mechanism = server.auth or auth
            if mechanism == "password":
                if server.token_command is not None:
                    raise self.error(join_key(f"{prefix}.{service}", "token_command"),
                                     "is set but this server logs in with a password: set "
                                     'auth = "xoauth2" or "oauthbearer" too')
                continue
            used = True
            if server.token_command is None and token_command is None:
                key = join_key(f"{prefix}.{service}", "auth") if server.auth else \
                    join_key(prefix, "auth")
                raise self.error(key, f'auth = "{mechanism}" needs token_command, a command '
                                 "that prints an access token (e.g. "
                                 '["oama", "access", "you@gmail.com"])')
        if token_command is not None and not used:
            raise self.error(join_key(prefix, "token_command"),
                             'is set but no mail server logs in with a token: set auth = '
                             '"xoauth2" or "oauthbearer" too')

    def key_origin_of(self, table: dict[str, Any], prefix: str, name: str) -> str | None:
        """`FILE:LINE: key` of `name` in this table, if it is there."""
        if name not in table:
            return None
        key = join_key(prefix, name)
        line = self.locator.line_of(key)
        return f"{self.path}" + (f":{line}" if line else "") + f": {key}"
