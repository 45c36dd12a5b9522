"""Which conversations are rooms, and the rooms' names, from the XMPP client's
state file (`bridge.xmpp.state`) as a command that only reads the store needs
them (`list`, `show`): read without the state's dataclasses or the writer's
tempfile, which such a command would import for nothing (tests/
test_headless_fast_paths.py; issue 22's row 2)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def room_threads(rooms: Iterable[str], threads: Mapping[str, str], own: str) -> dict[str, str]:
    """thread id -> the room whose conversation it is, for each of `rooms`: its
    bound thread (`threads`), else the one a room's lines go to by default."""
    from ..model import default_thread_id

    return {threads.get(room) or default_thread_id(own, room): room for room in rooms}


def rooms_in_file(path: Path, own: str) -> dict[str, tuple[str, str]]:
    """thread id -> (room, its name as the state file has it, "" for none) for
    every room the file knows (joined once, left or not); {} for a missing or
    damaged file."""
    try:
        raw: Any = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    names = raw.get("room_names")
    names = {str(k): v if isinstance(v, str) else ""
             for k, v in names.items()} if isinstance(names, dict) else {}
    joined = raw.get("rooms")
    rooms = {*names, *(str(k) for k in joined)} if isinstance(joined, dict) else set(names)
    threads = raw.get("threads")
    bound = {str(k): v for k, v in threads.items()
             if isinstance(v, str)} if isinstance(threads, dict) else {}
    return {thread: (room, names.get(room, ""))
            for thread, room in room_threads(rooms, bound, own).items()}
