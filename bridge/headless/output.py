"""What headless commands print: plain text for people, JSON for programs.

Every remote string (subjects, names, bodies, file names, status texts) goes
through `inert_text` before it reaches a terminal: a hostile subject must not be
able to move the cursor, retitle the window or write the clipboard. JSON output is
escaped by the encoder itself (control characters become \\u escapes).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from ..model import Record, Transport
from ..safe import inert_text

if TYPE_CHECKING:
    from ..events import Event
    from ..model import Contact, Message, OutboxItem, OutboxLogEntry, Thread

# The outbox's words (bridge.errors) are imported by the functions that print a
# row of it: `list` and `search` print none, and need neither that module nor the
# events (whose classes cost their definition at import).


def fields_of(value: Any) -> tuple[str, ...] | None:
    """The field names of a record (bridge/record.py) or a dataclass instance, else
    None; `dataclasses` is imported only for a dataclass (an event's `--json`)."""
    if isinstance(value, Record):
        return value._fields
    if hasattr(type(value), "__dataclass_fields__"):
        import dataclasses

        return tuple(f.name for f in dataclasses.fields(value))
    return None


def plain(value: Any) -> Any:
    """A JSON-ready copy of records and dataclasses, enums, sets, paths and bytes."""
    names = fields_of(value)
    if names is not None:
        # raw message bytes stay in the store
        return {name: plain(getattr(value, name)) for name in names if name != "raw"}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def event_json(event: Event) -> dict[str, Any]:
    return {"event": type(event).__name__, **plain(event)}


def dump_json(value: Any, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(plain(value), ensure_ascii=True, sort_keys=True) + "\n")
    out.flush()


def t(s: str | None) -> str:
    """A remote string made safe to print."""
    return inert_text(s or "")


NO_SUBJECT = "(no subject)"


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def one_line(s: str, width: int) -> str:
    flat = " ".join(t(s).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def thread_line(th: Thread) -> str:
    mark = "".join(sorted("M" if tr is Transport.EMAIL else "C" for tr in th.transports))
    unread = f"{th.unread_count} new" if th.unread_count else ""
    chat_room = th.room_name if Transport.EMAIL not in th.transports else ""
    who = one_line(chat_room or th.last_sender, 24)  # a room's: the room
    what = one_line(th.subject or th.snippet, 60)
    if chat_room and not th.subject and th.message_count:  # and who said its last line
        speaker = one_line(th.last_sender, 200).partition("/")
        what = one_line(f"{speaker[2] or speaker[0]}: {th.snippet}", 60)
    if not one_line(th.subject, 60) and Transport.EMAIL in th.transports:
        # A chat line has no subject; an email without one says so.
        what = one_line(NO_SUBJECT + (" — " + th.snippet if th.snippet.strip() else ""), 60)
    # A draft in it (a reply postponed) is marked, as the app's row marks it.
    draft = "  [draft]" if th.draft_count else ""
    return (f"{th.id:>6}  {when(th.last_date)}  {mark:<2} {th.message_count:>4} "
            f"{unread:<7} {who:<24}  {what}{draft}")


class Reaction(Protocol):
    """What a line shows of one person's reactions (the engine's `reactions()`
    gives them; their record is the store's, which the front ends do not import)."""

    @property
    def reactor(self) -> str: ...

    @property
    def emojis(self) -> Sequence[str]: ...


def message_block(m: Message, reactions: Sequence[Reaction] = ()) -> str:
    via = "email" if m.transport is Transport.EMAIL else "chat"
    head = f"#{m.id} {when(m.date)} {via} {m.direction.value} from {t(m.sender.name)} " \
           f"<{t(m.sender.address)}>"
    if m.delivery is not None:
        head += f" [{m.delivery.value}]"
    if m.retracted is not None:
        head += " [retracted by the sender]"
    elif m.edited is not None:
        head += " [edited]"
    lines = [head]
    if m.recipients:
        lines.append("  to: " + ", ".join(t(p.address) for p in m.recipients))
    if one_line(m.subject, 200):
        lines.append("  subject: " + one_line(m.subject, 200))
    elif m.transport is Transport.EMAIL:
        lines.append("  subject: " + NO_SUBJECT)
    if m.crypto is not None:
        kind = "omemo" if m.crypto.omemo else "openpgp"
        lines.append(f"  {kind}: " + one_line(m.crypto.line(), 300))
    for a in m.attachments:
        # A linked file not fetched yet whose sender told no size: not "0 bytes".
        size = "size unknown" if a.size <= 0 and a.url and a.sha256 is None \
            else f"{a.size} bytes"
        lines.append(f"  file: {t(a.filename)} ({t(a.content_type)}, {size})")
    body = t(m.text).rstrip()
    if body:
        lines.extend("  | " + line for line in body.splitlines())
    elif m.transport is Transport.EMAIL and m.uid is not None:
        lines.append("  (body not fetched)")
    for r in reactions:
        lines.append(f"  {' '.join(t(e) for e in r.emojis)}  {t(r.reactor)}")
    return "\n".join(lines)


def outbox_line(item: OutboxItem, now: float | None = None) -> str:
    """One row of the outbox: its number (what `outbox retry N` takes), its way,
    what became of it and its tries in words (bridge.errors says them for every
    front end), whom it is to and its text."""
    to = ", ".join(t(p.address) for p in item.parties)
    text = item.payload.get("plan", {}).get("text", "") if item.payload else ""
    from ..errors import item_tries, state_words

    via = "chat " if item.transport is Transport.XMPP else "email"
    tried = item_tries(item, time.time() if now is None else now)
    return (f"{item.id:>5}  {via} {state_words(item.state.value):<35} {when(item.created)}"
            f"  to {to}  ({tried})  {one_line(text, 50)}")


def log_lines(entries: Sequence[OutboxLogEntry]) -> list[str]:
    """A row's log in words: each try counted as the table counts them."""
    from ..errors import log_words

    return [f"        {when(entry.at)}  {what}" + (f": {t(detail)}" if detail else "")
            for entry, what, detail in log_words(entries)]


def log_line(entry: OutboxLogEntry) -> str:
    """One log line alone (its tries are counted from the whole log: `log_lines`)."""
    return log_lines([entry])[0]


def outbox_json(item: OutboxItem, now: float | None = None) -> dict[str, Any]:
    """A row for `--json`: its raw fields (`state` is the state's name), and the
    words a person reads (`words`, `tries`)."""
    from ..errors import item_tries, state_words

    return dict(plain(item), words=state_words(item.state.value),
                tries=item_tries(item, time.time() if now is None else now))


def log_json(entries: Sequence[OutboxLogEntry]) -> list[dict[str, Any]]:
    """A row's log for `--json`: each entry's raw `event` and `detail`, and `words`."""
    from ..errors import log_words

    return [dict(plain(entry), words=what + (f": {detail}" if detail else ""))
            for entry, what, detail in log_words(entries)]


def contact_line(c: Contact) -> str:
    parts = [f"{a.kind} {t(a.address)} ({a.source}{'' if a.confirmed else ', unconfirmed'})"
             for a in c.addresses]
    return f"{c.id:>4}  {t(c.name) or '(no name)'}: " + "; ".join(parts)
