"""Moving conversations between email and chat: the handoff's policy.

- `reply`: the `Handoff` (reply by email or by IM, a new message, the outbox's
  fallbacks) and who an email is from (`sender_party`);
- `results`: what a reply gives back (`ReplyResult`, `ReplyFields`);
- `reads`: what the handoff reads of the store (a message, a timeline), which
  the engine's reads use without a `Handoff`;
- `parties`: who a reply goes to, and who may see which lines;
- `auto`: the one "auto" rule choosing a transport;
- `text`: the history digest, the transcript and the choice of files (pure).

It receives ports, the store and the identity; it never imports the engine.

Importing the package loads none of its modules: each name below comes from
its module on first use (`from bridge.handoff import HISTORY_HEAD` loads
text.py, `Handoff` loads reply.py and with it the MIME builder, the crypto
planning and the parties' rules). The engine and the app's widgets import
these names at start-up; the first frame does not need the policy (issue 22,
rows 1 and 6; tests/test_app_start_order.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model import ImPlan
    from .auto import VIAS, auto_via
    from .reply import Handoff, domain_of, sender_party
    from .results import ReplyFields, ReplyResult
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

# Each public name, and the module (relative to this package) it comes from.
_FROM = {
    "ImPlan": "..model",
    **dict.fromkeys(("VIAS", "auto_via"), ".auto"),
    **dict.fromkeys(("Handoff", "domain_of", "sender_party"), ".reply"),
    **dict.fromkeys(("ReplyFields", "ReplyResult"), ".results"),
    **dict.fromkeys(("DIGEST_ENTRY_CHARS", "DIGEST_MAX_ENTRIES", "HISTORY_HEAD",
                     "HISTORY_TAIL", "TRANSCRIPT_HEAD", "TRANSCRIPT_MAX_LINES",
                     "chat_digest", "chat_thread_attachments", "chat_transcript",
                     "email_body", "is_incoming_chat", "pick_attachments",
                     "strip_quotes_and_signature"), ".text"),
}

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


def __getattr__(name: str) -> Any:
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
