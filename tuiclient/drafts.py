"""What the user is writing: a reply to a message, a new message, a forward. Plain
data, passed from the screens to the prompts and back, and sent by
`tuiclient.replies`; and the text kept on disk when the app closed under a
compose screen, or a chat message kept for later (`keep_unsent`)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bridge.model import Message
from bridge.paths import data_dir, ensure_private_dir


@dataclass
class ReplyDraft:
    """A reply being written: to which message, how, with what."""

    message: Message
    via: str  # email | im
    reply_all: bool = False
    history: bool = False
    attachments: list[str] = field(default_factory=list)  # the thread's, by name
    text: str = ""
    files: list[Path] = field(default_factory=list)  # from disk, by path (email only)
    resumed: int | None = None  # the draft (its row) this reply was written from
    # OpenPGP for the email (None: the config's [crypto] default).
    sign: bool | None = None
    encrypt: bool | None = None
    # An email reply's fields as its editor left them (None: as the engine would).
    to: list[str] | None = None
    cc: list[str] | None = None
    quote: str | None = None  # the quoted original, trimmed or cleared

    def describe(self, room: bool = False) -> str:
        """"to the sender, with history, 2 files"; in a room (`room`), where a
        line goes to everyone, only what goes with it."""
        parts = [] if room else ["to all" if self.reply_all else "to the sender"]
        if self.history:
            parts.append("with history")
        n = len(self.attachments) + len(self.files)
        if n:
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
    # An email's Cc and Bcc as typed, and its From (one of the account's addresses;
    # None: the account's own).
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    sender: str | None = None
    resumed: int | None = None  # the draft (its row) this was written from
    # A reply's draft resumed without the email it answers (not in this store):
    # its threading goes on with it.
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    # OpenPGP for the email (None: the config's [crypto] default).
    sign: bool | None = None
    encrypt: bool | None = None


@dataclass
class Forward:
    """An email forwarded: to whom, with a note, inline or as an attachment, with
    more files from disk."""

    message: Message
    to: list[str]
    text: str = ""
    as_attachment: bool = False
    files: list[Path] = field(default_factory=list)
    # Forwarded with it, as one email of message/rfc822 parts (marked conversations).
    more: list[Message] = field(default_factory=list)
    # OpenPGP for the forward (None: the engine's decision, encrypted for an
    # encrypted email).
    sign: bool | None = None
    encrypt: bool | None = None


def without_signature(text: str) -> str:
    """A saved draft's text without the signature the engine put under it (it puts
    it back when the draft is saved or sent again)."""
    return text.split("\n-- \n", 1)[0].rstrip()


# -- unsent text kept on disk when the app closes under a compose screen ---------------
# ctrl+q (Textual's own quit) closes the app at once, without asking the screen; what
# was typed is written here, privately, and P offers it again with the server's drafts.
# A chat message kept for later (Esc in an IM compose) that fits no chat line too.


@dataclass
class Unsent:
    path: Path
    account: str
    to: list[str]
    subject: str
    text: str
    date: float
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    sender: str | None = None
    via: str = "email"  # "im": a chat message kept for later (Esc in an IM compose)


def unsent_dir() -> Path:
    return ensure_private_dir(data_dir() / "unsent")


def keep_unsent(account: str, to: list[str], subject: str, text: str, *,
                cc: list[str] | None = None, bcc: list[str] | None = None,
                sender: str | None = None, via: str = "email") -> Path:
    """Write a message that was being written when the app closed, or a chat
    message kept for later (`via` "im"), privately (0600)."""
    folder = unsent_dir()
    path = folder / f"{time.time_ns()}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"account": account, "to": to, "subject": subject, "text": text,
                   "cc": cc or [], "bcc": bcc or [], "sender": sender,
                   "via": via, "date": time.time()}, f)
    return path


def unsent() -> list[Unsent]:
    """The kept messages, newest first (unreadable files are left alone)."""
    folder = data_dir() / "unsent"
    found = []
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(Unsent(path, str(data.get("account", "")),
                                [str(a) for a in data.get("to", [])],
                                str(data.get("subject", "")), str(data.get("text", "")),
                                float(data.get("date", 0)),
                                [str(a) for a in data.get("cc", [])],
                                [str(a) for a in data.get("bcc", [])],
                                str(data["sender"]) if data.get("sender") else None,
                                "im" if data.get("via") == "im" else "email"))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return found
