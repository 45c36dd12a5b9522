"""Reading a rules file into `Rule`s, on the config's TOML reader.

Every mistake is a `RulesError` at `FILE:LINE: KEY`, with a "did you mean"
where one is close: the same reader (`bridge.config.reader.TomlReader`) and the
same kind of message as the config file's.
"""

from __future__ import annotations

import difflib
import re
import string
from typing import Any

from bridge.config import LocatedError, is_valid_address
from bridge.config.reader import TomlReader, join_key, one_of, type_name

from .rules_model import (
    ACTIONS,
    AVAILABILITIES,
    DEFAULT_PER_THREAD,
    DEFAULT_WINDOW,
    HANDOFF_VIA,
    MARKS,
    REPLY_VIA,
    TEMPLATE_VARIABLES,
    THREAD_STATES,
    TRANSPORTS,
    AddressPattern,
    Match,
    Rule,
)

_TOP_KEYS = ("rules", "reply_once_per")
_RULE_KEYS = ("name", "continue", "match", "action", "limit")
_MATCH_KEYS = ("transport", "from", "to", "subject", "body", "thread", "availability")
_ACTION_KEYS = ("reply", "handoff", "forward", "mark", "text", "all", "history", "attach")
_LIMIT_KEYS = ("per_thread", "window")


class RulesError(LocatedError):
    """A rules file that cannot be used: `FILE:LINE: KEY: reason`."""


class RulesReader(TomlReader):
    """The rules file's sections, on the config's reader (`bridge.config.reader`)."""

    error_type = RulesError

    def read(self, raw: dict[str, Any]) -> list[Rule]:
        self.check_keys(raw, "", _TOP_KEYS)
        value = raw.get("rules", [])
        if not isinstance(value, list):
            raise self.error("rules", f"must be an array of tables ([[rules]]), not "
                             f"{type_name(value)}")
        rules: list[Rule] = []
        first_use: dict[str, int] = {}
        for index, table in enumerate(value):
            prefix = f"rules[{index}]"
            if not isinstance(table, dict):
                raise self.error(prefix, f"must be a table, not {type_name(table)}")
            rule = self.rule(table, prefix)
            if rule.name in first_use:
                other = first_use[rule.name]
                line = self.locator.line_of(f"rules[{other}].name")
                where = f"rules[{other}]" + (f", line {line}" if line else "")
                raise self.error(
                    f"{prefix}.name", f"duplicate rule name {rule.name!r} (also used by {where})"
                )
            first_use[rule.name] = index
            rules.append(rule)
        return rules

    def strings(
        self,
        table: dict[str, Any],
        prefix: str,
        name: str,
        empty: str = "leave the key out to match anyone",
    ) -> list[str] | None:
        """A string or a non-empty array of non-empty strings; None if absent."""
        if name not in table:
            return None
        value = table[name]
        key = join_key(prefix, name)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self.error(key, f"must be an array of strings, not {type_name(value)}")
        if not items:
            raise self.error(key, f"must not be an empty list: {empty}")
        for position, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"{key}[{position}]", f"must be a string, not {type_name(item)}")
            if not item.strip():
                raise self.error(f"{key}[{position}]", "must not be empty")
        return items

    def regex(self, table: dict[str, Any], prefix: str, name: str) -> re.Pattern[str] | None:
        value = self.string(table, prefix, name)
        if value is None:
            return None
        try:
            return re.compile(value)
        except re.error as exc:
            reason = f"not a valid regular expression: {exc}"
            raise self.error(join_key(prefix, name), reason) from None

    # -- sections ------------------------------------------------------------------

    def rule(self, table: dict[str, Any], prefix: str) -> Rule:
        self.check_keys(table, prefix, _RULE_KEYS)
        if "name" not in table:
            raise self.error(prefix, "required key 'name' is missing")
        name = self.string(table, prefix, "name")
        assert name is not None
        match = self.match(table, prefix)
        action_key = join_key(prefix, "action")
        action_table = self.table(table, prefix, "action")
        if action_table is None:
            raise self.error(
                prefix, f"rule {name!r} has no [rules.action]: give it one of {one_of(ACTIONS)}"
            )
        fields = self.action(action_table, action_key)
        per_thread, window = self.limit(table, prefix, fields["action"])
        return Rule(
            name=name,
            match=match,
            per_thread=per_thread,
            window=window,
            cont=self.boolean(table, prefix, "continue"),
            line=self.locator.line_of(prefix),
            **fields,
        )

    def match(self, table: dict[str, Any], prefix: str) -> Match:
        sub = self.table(table, prefix, "match")
        if sub is None:
            return Match()
        prefix = join_key(prefix, "match")
        self.check_keys(sub, prefix, _MATCH_KEYS)
        availability = self.strings(sub, prefix, "availability") or []
        for position, value in enumerate(availability):
            if value not in AVAILABILITIES:
                close = difflib.get_close_matches(value, AVAILABILITIES, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                key = f"{prefix}.availability" + (
                    f"[{position}]" if isinstance(sub["availability"], list) else ""
                )
                raise self.error(
                    key, f"must be one of {one_of(AVAILABILITIES)}, not {value!r}{hint}"
                )
        return Match(
            transport=self.choice(sub, prefix, "transport", TRANSPORTS, "any"),
            senders=self.patterns(sub, prefix, "from"),
            recipients=self.patterns(sub, prefix, "to"),
            subject=self.regex(sub, prefix, "subject"),
            body=self.regex(sub, prefix, "body"),
            thread=self.choice(sub, prefix, "thread", THREAD_STATES, "any"),
            availability=tuple(availability),
        )

    def patterns(self, table: dict[str, Any], prefix: str, name: str) -> tuple[AddressPattern, ...]:
        values = self.strings(table, prefix, name)
        if values is None:
            return ()
        key = join_key(prefix, name)
        patterns: list[AddressPattern] = []
        for position, text in enumerate(values):
            item_key = f"{key}[{position}]" if isinstance(table[name], list) else key
            parsed = AddressPattern.parse(text.strip())
            if isinstance(parsed, str):
                raise self.error(item_key, parsed)
            if parsed.kind == "contact" and name == "to":
                raise self.error(
                    item_key, "contact:NAME only works in 'from': recipients carry no contact "
                    "name; give their addresses"
                )
            patterns.append(parsed)
        return tuple(patterns)

    def action(self, table: dict[str, Any], prefix: str) -> dict[str, Any]:
        self.check_keys(table, prefix, _ACTION_KEYS)
        present = [key for key in table if key in ACTIONS]  # in the file's order
        if not present:
            raise self.error(prefix, f"no action: set exactly one of {one_of(ACTIONS)}")
        if len(present) > 1:
            raise self.error(
                join_key(prefix, present[1]),
                f"two actions ({present[0]!r} and {present[1]!r}): a rule does exactly one; "
                "use two rules with continue = true to do both",
            )
        action = present[0]
        fields: dict[str, Any] = {"action": action}
        if action == "reply":
            fields["via"] = self.choice(table, prefix, "reply", REPLY_VIA, "auto")
        elif action == "handoff":
            fields["via"] = self.choice(table, prefix, "handoff", HANDOFF_VIA, "im")
        elif action == "mark":
            fields["mark"] = self.choice(table, prefix, "mark", MARKS, "read")
        else:
            targets = self.strings(table, prefix, "forward", "give at least one address")
            assert targets is not None
            for position, address in enumerate(targets):
                if not is_valid_address(address.strip()):
                    key = f"{prefix}.forward" + (
                        f"[{position}]" if isinstance(table["forward"], list) else ""
                    )
                    raise self.error(key, f"{address!r} is not an address (local@domain)")
            fields["forward_to"] = tuple(a.strip() for a in targets)

        if action != "mark" and "text" in table:
            fields["template"] = self.template(table, prefix)
        elif action in ("reply", "handoff"):
            raise self.error(prefix, f"{action} needs a text (the message to send)")
        elif "text" in table:
            raise self.error(join_key(prefix, "text"), "mark sends nothing and takes no text")

        extras = [k for k in ("all", "history", "attach") if k in table]
        if extras and action not in ("reply", "handoff"):
            raise self.error(
                join_key(prefix, extras[0]), f"{extras[0]!r} only goes with reply or handoff"
            )
        fields["reply_all"] = self.boolean(table, prefix, "all")
        fields["history"] = self.boolean(table, prefix, "history")
        fields["attach"] = self.attach(table, prefix)
        return fields

    def template(self, table: dict[str, Any], prefix: str) -> str:
        key = join_key(prefix, "text")
        value = self.string(table, prefix, "text")
        assert value is not None
        for found in string.Template.pattern.finditer(value):
            named = found.group("named") or found.group("braced")
            if found.group("invalid") is not None:
                column = found.start("invalid") - 1
                raise self.error(
                    key,
                    f"'$' not followed by a variable name at {value[column:column + 10]!r}: "
                    "write $$ for a dollar sign, or use one of "
                    f"{', '.join('$' + v for v in TEMPLATE_VARIABLES)}",
                )
            if named is not None and named not in TEMPLATE_VARIABLES:
                close = difflib.get_close_matches(named, TEMPLATE_VARIABLES, n=1, cutoff=0.6)
                hint = f"; did you mean ${close[0]}?" if close else ""
                raise self.error(
                    key,
                    f"unknown template variable ${named}{hint} (known: "
                    f"{', '.join('$' + v for v in TEMPLATE_VARIABLES)})",
                )
        return value

    def attach(self, table: dict[str, Any], prefix: str) -> tuple[str, ...] | str | None:
        if "attach" not in table:
            return None
        value = table["attach"]
        key = join_key(prefix, "attach")
        if value == "all":
            return "all"
        if isinstance(value, str):
            raise self.error(key, f'must be "all" or an array of file names, like ["{value}"]')
        if not isinstance(value, list):
            raise self.error(key, f'must be "all" or an array of file names, not '
                             f"{type_name(value)}")
        for position, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"{key}[{position}]", "must be a non-empty file name")
        return tuple(value) or None

    def limit(self, table: dict[str, Any], prefix: str, action: str) -> tuple[int | None, float]:
        default_count = None if action == "mark" else DEFAULT_PER_THREAD
        sub = self.table(table, prefix, "limit")
        if sub is None:
            return default_count, DEFAULT_WINDOW
        prefix = join_key(prefix, "limit")
        self.check_keys(sub, prefix, _LIMIT_KEYS)
        count: int | None = DEFAULT_PER_THREAD if "window" in sub else default_count
        if "per_thread" in sub:
            value = sub["per_thread"]
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(
                    f"{prefix}.per_thread", f"must be an integer, not {type_name(value)}"
                )
            if value < 1:
                raise self.error(f"{prefix}.per_thread", f"must be at least 1, not {value}")
            count = value
        return count, self.duration(sub, prefix, "window", DEFAULT_WINDOW)
