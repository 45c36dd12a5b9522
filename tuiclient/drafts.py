"""What the user is writing: a reply to a message, or a new message. Plain data,
passed from the screens to the prompts and back, and sent by `tuiclient.replies`."""

from __future__ import annotations

from dataclasses import dataclass, field

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
