"""The text that goes along when a conversation moves between email and chat.

Pure functions, no network: the engine gathers the thread and the people, these
turn them into what is sent.

- To chat, the history is a compact digest: quoted parts, attribution lines
  ("On ... wrote:") and signatures are cut, each earlier message becomes one short
  entry with who and when, newest last, framed so it cannot be mistaken for the new
  text, which goes as its own message after it.
- To email, the new text comes first and the chat transcript follows below a
  marked line: who, when, what, one line each. A chat leg that goes as an email
  after all carries its digest below its text, ending without the promise of a
  new message after it (`history_below`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from email.utils import formatdate, getaddresses

from ..errors import EngineError, not_an_address
from ..identity import normalize_email
from ..model import HISTORY_HEAD, Attachment, Direction, Message, Party, Transport

DIGEST_ENTRY_CHARS = 280  # per earlier message in a chat digest
DIGEST_MAX_ENTRIES = 20  # older ones are summarised as "N earlier messages"
TRANSCRIPT_MAX_LINES = 500

HISTORY_TAIL = "── End of earlier messages; new message follows ──"
HISTORY_END = "── End of earlier messages ──"  # below the new text: nothing follows
TRANSCRIPT_HEAD = "───── Chat transcript"

_ATTRIBUTION = re.compile(
    r"^\s*(on\b.{0,200}\bwrote:|am\b.{0,200}\bschrieb\b.{0,100}:|le\b.{0,200}\ba écrit\s*:|"
    r"-{2,}\s*original message\s*-{2,}|-{2,}\s*ursprüngliche nachricht\s*-{2,}|"
    r"begin forwarded message:)\s*$",
    re.IGNORECASE)
_SIGNATURE = re.compile(r"^(-- ?|--|__+|sent from my .{1,40})$", re.IGNORECASE)


def strip_quotes_and_signature(text: str) -> str:
    """The new words of an email: no quoted lines, attributions, or signature."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.rstrip()
        if _SIGNATURE.match(stripped):
            break  # everything below a signature marker is the signature
        if _ATTRIBUTION.match(stripped):
            break  # what follows "On ... wrote:" is the quoted original
        if stripped.lstrip().startswith(">"):
            continue
        kept.append(stripped)
    # Collapse runs of blank lines left behind by the cuts.
    out: list[str] = []
    for line in kept:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def _who(m: Message) -> str:
    name = (m.sender.name or "").strip()
    address = m.sender.address
    if m.transport is Transport.XMPP and "/" in address and not name:
        name = address.rpartition("/")[2]
    return f"{name} <{address.partition('/')[0]}>" if name else address.partition("/")[0]


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def chat_digest(messages: Sequence[Message], *, limit: int = DIGEST_MAX_ENTRIES) -> str:
    """The history block sent ahead of a reply that moves a thread to chat."""
    entries: list[str] = []
    for m in messages:
        body = strip_quotes_and_signature(m.text) if m.transport is Transport.EMAIL else m.text
        body = _one_line(body, DIGEST_ENTRY_CHARS) or "(no text)"
        files = [a.filename for a in m.attachments if a.filename]
        via = "email" if m.transport is Transport.EMAIL else "chat"
        line = f"• {_who(m)}, {_when(m.date)} ({via}): {body}"
        if files:
            line += " [files: " + ", ".join(files) + "]"
        entries.append(line)
    skipped = max(0, len(entries) - limit)
    shown = entries[skipped:]
    subject = next((m.subject for m in messages if m.subject), "")
    head = f"{HISTORY_HEAD}"
    if subject:
        head += f": {_one_line(subject, 120)}"
    head += f" ({len(messages)} message{'s' if len(messages) != 1 else ''}) ──"
    lines = [head]
    if skipped:
        lines.append(f"({skipped} earlier message{'s' if skipped != 1 else ''} not shown)")
    lines.extend(shown)
    lines.append(HISTORY_TAIL)
    return "\n".join(lines)


def history_below(digest: str) -> str:
    """A chat digest put below the new text (one email instead of a chat leg, the
    Deferred folder's copy): its last line says where it ends, not that the new
    message follows, which is above it (the reader found an empty end there)."""
    if digest.endswith(HISTORY_TAIL):
        return digest[: -len(HISTORY_TAIL)] + HISTORY_END
    return digest


def chat_transcript(lines: Sequence[Message], *, limit: int = TRANSCRIPT_MAX_LINES) -> str:
    """The chat lines of a thread for the bottom of an email, oldest first."""
    chat = [m for m in lines if m.transport is Transport.XMPP]
    skipped = max(0, len(chat) - limit)
    out = [f"{TRANSCRIPT_HEAD} ({len(chat)} line{'s' if len(chat) != 1 else ''}) ─────"]
    if skipped:
        out.append(f"({skipped} earlier lines not shown)")
    for m in chat[skipped:]:
        text = m.text.replace("\r\n", "\n").replace("\n", "\n    ")
        files = [a.filename for a in m.attachments if a.filename]
        if files and text.strip() in {a.url for a in m.attachments if a.url}:
            text = "shared " + ", ".join(files)
        out.append(f"[{_when(m.date)}] {_who(m)}: {text}")
    return "\n".join(out)


def email_body(new_text: str, transcript: str | None) -> str:
    """The new text first, then (if any) the transcript, clearly apart."""
    body = new_text.rstrip()
    if transcript:
        body += "\n\n" + transcript
    return body + "\n"


def chat_thread_attachments(messages: Sequence[Message]) -> list[tuple[Message, Attachment]]:
    """Files of a thread, each with the message it came with, oldest first."""
    return [(m, a) for m in messages for a in m.attachments if a.filename]


def pick_attachments(available: Sequence[tuple[Message, Attachment]],
                     wanted: Sequence[str] | str | None) -> list[tuple[Message, Attachment]]:
    """The thread's files the user chose: names, "all", or none.

    An unknown name is an error naming what is there: a silent skip would send
    the reply without the file the user asked for.
    """
    if not wanted:
        return []
    if wanted == "all" or wanted == ["all"]:
        # One copy of each file: the same PDF forwarded twice goes once.
        seen: set[tuple[str, str | None]] = set()
        out = []
        for m, a in available:
            key = (a.filename, a.sha256 or a.url or f"{m.id}:{a.part_id}")
            if key not in seen:
                seen.add(key)
                out.append((m, a))
        return out
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    out = []
    for name in names:
        match = [pair for pair in available if pair[1].filename == name]
        if not match:
            have = ", ".join(sorted({a.filename for _m, a in available})) or "none"
            raise LookupError(f"no file {name!r} in this conversation (files: {have})")
        out.append(match[-1])  # the newest version of a file of that name
    return out


def is_incoming_chat(m: Message) -> bool:
    return m.transport is Transport.XMPP and m.direction is Direction.IN


# -- an email reply's editor: its quote and the addresses typed in it --------------


def quote_of(original: Message) -> str:
    """The original quoted below a reply: "On DATE, NAME wrote:" and its lines."""
    quoted = "\n".join("> " + line for line in original.text.splitlines())
    return (f"On {formatdate(original.date, localtime=True)}, "
            f"{original.sender.name or original.sender.address} wrote:\n{quoted}")


def addresses_of(written: Sequence[str], role: str) -> list[Party]:
    """Addresses as a person types them ("Bob <bob@x>, carol@y"), checked."""
    parties = []
    for name, address in getaddresses(list(written)):
        if not name and not address:
            continue
        email_address = normalize_email(address)
        if not email_address:
            raise EngineError(not_an_address(address or name))
        parties.append(Party(email_address, name, role))
    return parties
