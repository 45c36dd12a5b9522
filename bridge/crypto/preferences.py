"""Per-contact OpenPGP defaults (`keys prefer ADDRESS encrypt|sign|clear`).

Kept beside the store as a small JSON file (`openpgp-preferences.json`, mode
0600), keyed by email address: what a send to that contact does unless the user
says otherwise (bridge.crypto.outgoing.required). A file rather than a store
table: it is the user's setting, a handful of lines, and needs no schema step.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

CHOICES = ("encrypt", "sign", "clear")
FILE = "openpgp-preferences.json"
# When a send goes to several contacts, the strongest preference among them wins.
_STRENGTH = {"encrypt": 3, "sign": 2, "": 1, "clear": 0}


class Preferences:
    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE

    def all(self) -> dict[str, str]:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text())
            if isinstance(data, dict):
                return {str(k): str(v) for k, v in data.items() if v in CHOICES}
        return {}

    def get(self, address: str) -> str:
        return self.all().get(address.strip().lower(), "")

    def set(self, address: str, choice: str) -> None:
        """Keep `choice` for `address` ("default" forgets it)."""
        if choice not in (*CHOICES, "default"):
            raise ValueError(f"the preference must be encrypt, sign, clear or default, "
                             f"not {choice!r}")
        prefs = self.all()
        key = address.strip().lower()
        if choice == "default":
            prefs.pop(key, None)
        else:
            prefs[key] = choice
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(prefs, f, sort_keys=True, indent=1)
        tmp.replace(self.path)

    def strongest(self, addresses: Iterable[str]) -> str:
        """The preference a send to all of `addresses` follows: encrypt if any
        wants it, then sign; clear only when every one of them prefers clear."""
        prefs = self.all()
        found = [prefs.get(a.strip().lower(), "") for a in addresses]
        if not found:
            return ""
        if all(f == "clear" for f in found):
            return "clear"
        return max((f for f in found if f != "clear"), key=_STRENGTH.__getitem__, default="")
