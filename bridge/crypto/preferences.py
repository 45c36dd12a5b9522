"""Per-contact defaults: OpenPGP's (`keys prefer ADDRESS encrypt|sign|clear`) and
OMEMO's (`/omemo on|off`, `keys prefer JID omemo|clear`, in CHAT_FILE).

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
# The chat side's, keyed by bare JID: "encrypt" (OMEMO on: /omemo on, `keys
# prefer JID omemo`) or "clear" (/omemo off). A file of its own: an address can
# be both an email address and a JID, and the two settings are not the same.
CHAT_FILE = "omemo-preferences.json"
# When a send goes to several contacts, the strongest preference among them wins.
_STRENGTH = {"encrypt": 3, "sign": 2, "": 1, "clear": 0}


class Preferences:
    def __init__(self, folder: Path, file: str = FILE) -> None:
        self.path = folder / file

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


def chat(folder: Path) -> Preferences:
    """The per-contact OMEMO switch (see CHAT_FILE)."""
    return Preferences(folder, CHAT_FILE)
