"""Chat lines typed but not sent, one per conversation (as Profanity and Gajim keep
them): the chat input is one widget, so the line half-typed in a conversation is
put aside when another is opened and comes back with it. They are kept on disk
(`$XDG_DATA_HOME/tuiclient/chat-lines.json`, 0600, replaced whole) so that neither
quitting nor a crash loses them.

A conversation is its list key, (account, thread id); `NOWHERE` is the input with
no conversation open (a `/` command being typed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bridge.paths import data_dir, ensure_private_dir

Key = tuple[str, str]  # (account, thread_id), as tuiclient.widgets.conversation_list's
NOWHERE: Key = ("", "")


def lines_path() -> Path:
    return data_dir() / "chat-lines.json"


def load_lines() -> dict[Key, str]:
    """The kept lines; none when the file is missing or unreadable."""
    try:
        data = json.loads(lines_path().read_text(encoding="utf-8"))
        return {(str(account), str(thread)): str(text)
                for account, thread, text in data if text}
    except (OSError, ValueError, TypeError):
        return {}


def save_lines(lines: dict[Key, str]) -> None:
    """Write the lines (the empty ones left out) privately, replacing the file whole:
    a crash in the middle leaves the previous file, never half of one."""
    folder = ensure_private_dir(data_dir())
    path = folder / "chat-lines.json"
    tmp = folder / f".chat-lines.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump([[a, t, text] for (a, t), text in sorted(lines.items()) if text], f)
    os.replace(tmp, path)
