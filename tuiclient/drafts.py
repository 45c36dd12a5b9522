"""What the user is writing: a reply to a message, or a new message. Plain data,
passed from the screens to the prompts and back, and sent by `tuiclient.replies`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bridge.model import Message


@dataclass
class ReplyDraft:
    """A reply being written: to which message, how, with what."""

    message: Message
    via: str  # email | im
    reply_all: bool = False
    history: bool = False
    attachments: list[str] = field(default_factory=list)
    text: str = ""

    def describe(self) -> str:
        parts = ["to all" if self.reply_all else "to the sender"]
        if self.history:
            parts.append("with history")
        if self.attachments:
            n = len(self.attachments)
            parts.append(f"{n} file{'s' * (n != 1)}")
        return ", ".join(parts)


@dataclass
class NewMessage:
    account: str
    to: list[str]
    via: str
    subject: str
    text: str
    files: list[Path] = field(default_factory=list)  # from disk, by path
    resumed: int | None = None  # the draft (its row) this was written from


@dataclass
class Forward:
    """An email forwarded: to whom, with a note, inline or as an attachment, with
    more files from disk."""

    message: Message
    to: list[str]
    text: str = ""
    as_attachment: bool = False
    files: list[Path] = field(default_factory=list)


def without_signature(text: str) -> str:
    """A saved draft's text without the signature the engine put under it (it puts
    it back when the draft is saved or sent again)."""
    return text.split("\n-- \n", 1)[0].rstrip()
