"""The config's policy sections ([deferral], [crypto], [chat], [handoff],
[health], [keys], [notify]), checked at FILE:LINE.

A part of `load.ConfigReader` (a mixin of the generic `TomlReader` checks, as
tokens.py is): each section's keys read into its value of schema.py, defaults
where the file says nothing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .reader import TomlReader, format_duration, type_name
from .schema import (
    AWAY_POLICIES,
    GROUP_CHAT_CHOICES,
    KEY_ACTIONS,
    NOTIFY_DESKTOP,
    NOTIFY_HYPERLINKS,
    ON_MAX_AGE_CHOICES,
    ChatPolicy,
    CryptoPolicy,
    DeferralPolicy,
    HandoffPolicy,
    HealthPolicy,
    NotifyPolicy,
)

_CHAT_KEYS = ("chat_states", "auto_away", "auto_xa", "auto_away_message", "idle_after")
_CRYPTO_KEYS = ("gnupg_home", "index_decrypted", "sign", "encrypt", "autocrypt",
                "autocrypt_prefer_encrypt", "omemo")
_NOTIFY_KEYS = ("notify_command", "bell", "desktop", "hyperlinks")
_DEFERRAL_KEYS = ("first_retry", "growth", "ceiling", "max_age", "on_max_age", "policy",
                  "folder", "email_by_im_after")
_HANDOFF_KEYS = ("group_chats",)
_HEALTH_KEYS = ("interval", "critical_interval", "timeout")


class PolicySettings(TomlReader):
    """The policy sections, for `load.ConfigReader`."""

    base_dir: Path  # relative paths in the file are relative to its folder (ConfigReader)

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
                raise self.error("deferral.growth", f"must be a number, not {type_name(value)}")
            if not math.isfinite(value) or value < 1.0:
                raise self.error("deferral.growth", f"must be at least 1.0, not {value}")
            growth = float(value)
        if ceiling < first_retry:
            raise self.error(
                "deferral.ceiling",
                f"ceiling ({format_duration(ceiling)}) is shorter than first_retry "
                f"({format_duration(first_retry)})",
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

    def crypto(self, raw: dict[str, Any]) -> CryptoPolicy:
        table = self.table(raw, "", "crypto")
        if table is None:
            return CryptoPolicy()
        self.check_keys(table, "crypto", _CRYPTO_KEYS)
        home = self.string(table, "crypto", "gnupg_home")
        path = Path(home).expanduser() if home is not None else None
        if path is not None and not path.is_absolute():
            path = self.base_dir / path
        return CryptoPolicy(gnupg_home=path,
                            index_decrypted=self.boolean(table, "crypto", "index_decrypted"),
                            sign=self.boolean(table, "crypto", "sign"),
                            encrypt=self.boolean(table, "crypto", "encrypt"),
                            autocrypt=self.boolean(table, "crypto", "autocrypt"),
                            autocrypt_prefer_encrypt=self.boolean(
                                table, "crypto", "autocrypt_prefer_encrypt"),
                            omemo=self.boolean(table, "crypto", "omemo", True))

    def chat(self, raw: dict[str, Any]) -> ChatPolicy:
        table = self.table(raw, "", "chat")
        if table is None:
            return ChatPolicy()
        self.check_keys(table, "chat", _CHAT_KEYS)
        away = self.duration(table, "chat", "auto_away", 0.0) or None
        xa = self.duration(table, "chat", "auto_xa", 0.0) or None
        if xa is not None and away is not None and xa <= away:
            raise self.error("chat.auto_xa", "must be longer than chat.auto_away")
        return ChatPolicy(chat_states=self.boolean(table, "chat", "chat_states", True),
                          auto_away=away, auto_xa=xa,
                          auto_away_message=self.string(table, "chat", "auto_away_message")
                          or "idle",
                          idle_after=self.duration(table, "chat", "idle_after", 60.0))

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
                f"critical_interval ({format_duration(critical)}) is longer than interval "
                f"({format_duration(interval)}): a failing server would be probed less "
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
                                 f"{type_name(value)}")
            names = tuple(k.strip() for k in items)
            if not names or any(not k or any(c.isspace() for c in k) for k in names):
                raise self.error(key, f"not a list of key names: {value!r}")
            keys[action] = names
        return keys

    def key_origin(self, action: str) -> str:
        """`FILE:LINE` of `[keys] action`, for reporting a clash of two bindings."""
        line = self.locator.line_of(f"keys.{action}")
        return f"{self.path}" + (f":{line}" if line else "")

    def notify(self, raw: dict[str, Any]) -> NotifyPolicy:
        """[notify]: what tells of new mail and chat outside the app. `notify_command`
        is an argv (array, or a string split like a shell would, never run by one)."""
        table = self.table(raw, "", "notify")
        if table is None:
            return NotifyPolicy()
        self.check_keys(table, "notify", _NOTIFY_KEYS)
        command: tuple[str, ...] = ()
        if "notify_command" in table:
            command = self.argv("notify.notify_command", table["notify_command"])
        bell = table.get("bell", True)
        if not isinstance(bell, bool):
            raise self.error("notify.bell", f"must be true or false, not {type_name(bell)}")
        desktop = self.choice(table, "notify", "desktop", NOTIFY_DESKTOP, "auto")
        hyperlinks = self.choice(table, "notify", "hyperlinks", NOTIFY_HYPERLINKS, "auto")
        return NotifyPolicy(command=command, bell=bell, desktop=desktop, hyperlinks=hyperlinks)
