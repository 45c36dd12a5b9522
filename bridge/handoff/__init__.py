"""Moving conversations between email and chat: the handoff's policy.

- `reply`: the `Handoff` (reply by email or by IM, a new message, the outbox's
  fallbacks) and its `ReplyResult`;
- `parties`: who a reply goes to, and who may see which lines;
- `auto`: the one "auto" rule choosing a transport;
- `text`: the history digest, the transcript and the choice of files (pure).

It receives ports, the store and the identity; it never imports the engine.
"""

from ..model import ImPlan
from .auto import VIAS, auto_via
from .reply import Handoff, ReplyFields, ReplyResult, domain_of, sender_party
from .text import (
    DIGEST_ENTRY_CHARS,
    DIGEST_MAX_ENTRIES,
    HISTORY_HEAD,
    HISTORY_TAIL,
    TRANSCRIPT_HEAD,
    TRANSCRIPT_MAX_LINES,
    chat_digest,
    chat_thread_attachments,
    chat_transcript,
    email_body,
    is_incoming_chat,
    pick_attachments,
    strip_quotes_and_signature,
)

__all__ = [
    "DIGEST_ENTRY_CHARS",
    "DIGEST_MAX_ENTRIES",
    "HISTORY_HEAD",
    "HISTORY_TAIL",
    "TRANSCRIPT_HEAD",
    "TRANSCRIPT_MAX_LINES",
    "VIAS",
    "Handoff",
    "ImPlan",
    "ReplyFields",
    "ReplyResult",
    "auto_via",
    "chat_digest",
    "chat_thread_attachments",
    "chat_transcript",
    "domain_of",
    "email_body",
    "is_incoming_chat",
    "pick_attachments",
    "sender_party",
    "strip_quotes_and_signature",
]
