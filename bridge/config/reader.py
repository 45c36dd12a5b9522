"""Reading a TOML file a person wrote, with errors that say `FILE:LINE: KEY: reason`.

Shared by the config file (`bridge.config.load`) and the rules file
(`bridge.headless.rules`): reading the bytes (UTF-8, with the line of a bad
byte), tomllib's syntax errors with their line, a `Locator` that finds the line
of any dotted key (tomllib keeps no positions), and `TomlReader`, the checks
every section is made of (known keys with a "did you mean", tables, strings,
choices, durations). A reader for one kind of file subclasses `TomlReader`,
names its error type, and adds its sections.
"""

from __future__ import annotations

import functools
import math
import re
import shlex
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar


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


def read_text(path: Path, kind: str, error: type[LocatedError],
              check: Callable[[Path], None] | None = None) -> str:
    """The text of the `kind` file ("config", "rules") at `path`; any problem is an
    `error`. `check` looks at the file once it could be read, before its text."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(path, f"{kind} file does not exist") from None
    except IsADirectoryError:
        raise error(path, f"is a directory, not a {kind} file") from None
    except OSError as exc:
        raise error(path, f"cannot read {kind} file: {exc.strerror or exc}") from None
    if check is not None:
        check(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(path, f"{kind} file is not valid UTF-8", line=line) from None


def parse_toml(path: Path, text: str, error: type[LocatedError]) -> dict[str, Any]:
    """The TOML document in `text`; a syntax error is an `error` at its line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise syntax_error(path, text, exc, error) from None


# The patterns of this module are strings, compiled by `re` (and kept in its cache)
# when first used: a config that loads without a mistake or a duration compiles
# none of them (~1 ms of every command's start, issue 22).
_TOML_POSITION = r"\s*\(at line (\d+), column (\d+)\)\s*$"
_TOML_AT_END = r"\s*\(at end of document\)\s*$"


def syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError,
                 error: type[LocatedError]) -> LocatedError:
    # tomllib only reports the position inside its message, so take it from there.
    message = str(exc)
    match = re.search(_TOML_POSITION, message)
    if match:
        reason = f"TOML syntax error: {message[: match.start()]} (column {match.group(2)})"
        return error(path, reason, line=int(match.group(1)))
    match = re.search(_TOML_AT_END, message)
    if match:
        reason = f"TOML syntax error: {message[: match.start()]} (at end of file)"
        return error(path, reason, line=text.count("\n") + 1)
    return error(path, f"TOML syntax error: {message}")

# --------------------------------------------------------------------------
# Line locator: tomllib keeps no positions, so rescan the text for them.

_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_ARRAY_HEADER = rf"\s*\[\[\s*({_DOTTED_KEY})\s*\]\]"
_TABLE_HEADER = rf"\s*\[\s*({_DOTTED_KEY})\s*\]"
_KEY_VALUE = rf"\s*({_DOTTED_KEY})\s*="
_PARENT = r"^(.+?)(?:\[\d+\]|\.[^.\[\]]+)$"


def _key_parts(dotted: str) -> list[str]:
    return [p[1:-1] if p[0] in "\"'" else p for p in re.findall(_KEY_PART, dotted)]


def _parent_key(key: str) -> str | None:
    match = re.match(_PARENT, key)
    return match.group(1) if match else None


class Locator:
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
        if match := re.match(_ARRAY_HEADER, line):
            parts = _key_parts(match.group(1))
            base = self._join(self._resolve(parts[:-1]), parts[-1])
            index = self._array_counts.get(base, 0)
            self._array_counts[base] = index + 1
            self._record(base, number)
            self._current = f"{base}[{index}]"
            self._record(self._current, number)
        elif match := re.match(_TABLE_HEADER, line):
            self._current = self._resolve(_key_parts(match.group(1)))
            self._record(self._current, number)
        elif match := re.match(_KEY_VALUE, line):
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
# Durations, read and written back

_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION_TEXT = rf"(?:{_NUMBER}\s*[smhd]\s*)+|{_NUMBER}"
_DURATION_PART = rf"({_NUMBER})\s*([smhd])"


def format_duration(seconds: float) -> str:
    """Seconds as the file would say them: "1h30m", "2d", "1.5s"."""
    remaining = round(seconds)
    if remaining != seconds or remaining == 0:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# --------------------------------------------------------------------------
# The checks sections are made of


def type_name(value: object) -> str:
    """What a TOML value is, for "must be X, not Y"."""
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


def join_key(prefix: str, name: str) -> str:
    """The dotted key of `name` inside the table at `prefix`."""
    return f"{prefix}.{name}" if prefix else name


def one_of(choices: Sequence[str]) -> str:
    """`'a', 'b' or 'c'`."""
    quoted = [repr(c) for c in choices]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


class TomlReader:
    """Checks on the parsed TOML of one file; errors located by key and line."""

    error_type: ClassVar[type[LocatedError]] = LocatedError

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    @functools.cached_property
    def locator(self) -> Locator:
        """The lines of the keys, found when a message first names one (a
        mistake, a CA file's origin): a config read without either is not
        scanned again."""
        return Locator(self.text)

    def error(self, key: str | None, reason: str) -> LocatedError:
        line = self.locator.line_of(key) if key else None
        return self.error_type(self.path, reason, line=line, key=key)

    def argv(self, key: str, value: Any) -> tuple[str, ...]:
        """A command to run without a shell (notify_command, token_command): an
        array, or a string split as a shell would; "~" expanded in the program's
        name only."""
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise self.error(key, f"cannot be split into words: {exc}") from None
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            argv = list(value)
        else:
            raise self.error(key, "must be a string or an array of strings, not "
                             f"{type_name(value)}")
        if not argv or not argv[0].strip():
            raise self.error(key, "is empty")
        return (str(Path(argv[0]).expanduser()), *argv[1:])

    def check_keys(self, table: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for name in table:
            if name in allowed:
                continue
            key = f"{prefix}.{name}" if prefix else name
            import difflib  # (here: only a mistake needs it)

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
            key = join_key(prefix, name)
            raise self.error(key, f"must be a table, not {type_name(value)}")
        return value

    def table_array(self, parent: dict[str, Any], name: str) -> list[dict[str, Any]]:
        value = parent.get(name, [])
        if not isinstance(value, list):
            raise self.error(
                name, f"must be an array of tables ([[{name}]]), not {type_name(value)}"
            )
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{index}]", f"must be a table, not {type_name(item)}")
        return value

    def string(
        self, table: dict[str, Any], prefix: str, name: str, *, required: bool = False
    ) -> str | None:
        key = join_key(prefix, name)
        if name not in table:
            if required:
                raise self.error(key, f"required key {name!r} is missing")
            return None
        value = table[name]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {type_name(value)}")
        if not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def choice(
        self, table: dict[str, Any], prefix: str, name: str, choices: Sequence[str], default: str
    ) -> str:
        if name not in table:
            return default
        value = table[name]
        key = join_key(prefix, name)
        if not isinstance(value, str):
            raise self.error(
                key, f"must be a string, one of {one_of(choices)}; not {type_name(value)}"
            )
        if value not in choices:
            import difflib

            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(key, f"must be one of {one_of(choices)}, not {value!r}{hint}")
        return value

    def duration(self, table: dict[str, Any], prefix: str, name: str, default: float) -> float:
        if name not in table:
            return default
        value = table[name]
        key = join_key(prefix, name)
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            text = value.strip().lower()
            if re.fullmatch(_DURATION_TEXT, text):
                parts = re.findall(_DURATION_PART, text)
                seconds = (
                    sum(float(n) * _DURATION_UNITS[u] for n, u in parts) if parts else float(text)
                )
            else:
                raise self.error(
                    key, f'{value!r} is not a duration: use seconds or e.g. "30s", "5m", "2h", "1d"'
                )
        else:
            raise self.error(
                key, f'must be a number of seconds or a string like "5m", not {type_name(value)}'
            )
        if not math.isfinite(seconds) or seconds <= 0:
            raise self.error(key, "must be a positive, finite duration")
        return seconds

    def boolean(self, table: dict[str, Any], prefix: str, name: str,
                default: bool = False) -> bool:
        value = table.get(name, default)
        if not isinstance(value, bool):
            raise self.error(join_key(prefix, name),
                             f"must be true or false, not {type_name(value)}")
        return value
