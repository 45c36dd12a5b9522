"""What a reply asks of the engine, and the prompts it may need on the way.

`send_reply` runs in a screen's worker: it calls `engine.reply` and, when the
engine says a party has no address (`UnmappedParty`) or a contact is away
(`ContactAway`), asks the user with a modal screen and tries again. The drafts
themselves are `tuiclient.drafts` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bridge.engine import ContactAway, EngineError, ReplyResult, UnmappedParty
from bridge.errors import EncryptionRefused, Hint
from bridge.model import ContactPresence
from tuiclient.appref import client_app
from tuiclient.drafts import NewMessage, ReplyDraft, keep_unsent
from tuiclient.keys import shown

if TYPE_CHECKING:
    from textual.app import App
    from textual.notifications import SeverityLevel
    from textual.screen import Screen

__all__ = ["AskAway", "NewMessage", "ReplyDraft", "send_new", "send_reply", "sent_words"]

# The question "they are away: what now?" (the presences), answered with a
# choice of `engine.reply`'s when_away, or None: not sent.
AskAway = Callable[[Sequence[ContactPresence]], Awaitable[str | None]]


async def send_reply(screen: Screen, draft: ReplyDraft, *,
                     keep: Callable[[], str] | None = None, when_away: str = "ask",
                     ask_away: AskAway | None = None) -> ReplyResult | None:
    """Send `draft` through the engine, asking the user whatever it needs to know.
    None when the user gave up or the engine refused (the user has been told, and
    the text is kept: by `keep`, which says where, or as a new message P offers).
    `when_away`: the answer already given for a contact who is away ("ask": none);
    `ask_away` asks it (the chat's own question, which may remember the answer),
    else the defer prompt."""
    from tuiclient.screens.prompts import AddressScreen, DeferScreen

    app = client_app(screen)
    engine = app.engine
    assert draft.message.id is not None
    attachments = list(draft.attachments) or None
    mixed = False
    answered: dict[str, str] = {}
    for _ in range(6):
        try:
            return await engine.reply(draft.message.id, draft.text, via=draft.via,
                                      reply_all=draft.reply_all, history=draft.history,
                                      attachments=attachments, when_away=when_away,
                                      mixed=mixed, files=list(draft.files),
                                      sign=draft.sign, encrypt=draft.encrypt,
                                      to=draft.to, cc=draft.cc, quote=draft.quote)
        except UnmappedParty as exc:
            again = [r.query for r in exc.unresolved if r.query in answered]
            if again:
                # Confirmed, and still not mapped: asking again would go round for ever.
                reply_kept(app, draft, keep, f"The address given for {again[0]} "
                           f"({answered[again[0]]}) was not taken; reply not sent.",
                           severity="error")
                return None
            answer = await app.push_screen_wait(AddressScreen(exc.transport, exc.unresolved))
            if answer is None:
                reply_kept(app, draft, keep, "Reply not sent.")
                return None
            if answer == "mixed":
                mixed = True
                continue
            answered.update(answer)
            for query, address in answer.items():
                if exc.transport == "xmpp":
                    engine.confirm_address(query, address)
                else:
                    engine.confirm_address(address, query)
        except ContactAway as exc:
            choice = await ask_away(exc.presences) if ask_away is not None else \
                await app.push_screen_wait(DeferScreen(exc.presences))
            if choice is None:
                reply_kept(app, draft, keep, "Reply not sent.")
                return None
            when_away = choice
        except EncryptionRefused as exc:
            m = draft.message
            kept(app, exc, m.account, [m.sender.address], m.subject, draft.text)
            return None
        except (EngineError, OSError) as exc:
            reply_kept(app, draft, keep, str(exc), severity="error")
            return None
    reply_kept(app, draft, keep, "Reply not sent: too many questions.", severity="error")
    return None


async def send_new(screen: Screen, new: NewMessage) -> ReplyResult | None:
    from tuiclient.screens.prompts import DeferScreen

    app = client_app(screen)
    engine = app.engine
    when_away = "ask"
    for _ in range(3):
        try:
            return await engine.send_message(new.account, new.to, new.text, via=new.via,
                                             subject=new.subject, when_away=when_away,
                                             attachments=new.files, sign=new.sign,
                                             encrypt=new.encrypt, cc=new.cc, bcc=new.bcc,
                                             sender=new.sender)
        except ContactAway as exc:
            choice = await app.push_screen_wait(DeferScreen(exc.presences))
            if choice is None:
                new_kept(app, new, "Message not sent.")
                return None
            when_away = choice
        except EncryptionRefused as exc:
            kept(app, exc, new.account, new.to, new.subject, new.text, cc=new.cc,
                 bcc=new.bcc, sender=new.sender)
            return None
        except (EngineError, OSError, UnmappedParty) as exc:
            new_kept(app, new, str(exc), severity="error")
            return None
    new_kept(app, new, "Message not sent: too many questions.", severity="error")
    return None


def reply_kept(app: App, draft: ReplyDraft, keep: Callable[[], str] | None, words: str, *,
               severity: SeverityLevel = "warning") -> None:
    """A reply that did not go (the user gave up at a question, or the engine
    refused): the compose screen is closed by now, so its text is kept, by `keep`
    or on this machine as a new message to the same people (P offers it again),
    and the toast says where."""
    m = draft.message
    to = list(draft.to) if draft.to else [m.sender.address]
    subject = m.subject if m.subject.lower().startswith("re:") or not m.subject \
        else f"Re: {m.subject}"

    def as_new() -> str:
        keep_unsent(m.account, to, subject, draft.text, cc=list(draft.cc or []),
                    via=draft.via)
        return KEPT

    not_sent(app, "Reply not sent", words, keep or as_new, severity=severity)


def new_kept(app: App, new: NewMessage, words: str, *, severity: SeverityLevel = "warning") -> None:
    """A new message that did not go: its text is kept as `reply_kept` keeps a
    reply's."""
    def as_new() -> str:
        keep_unsent(new.account, new.to, new.subject, new.text, cc=new.cc, bcc=new.bcc,
                    sender=new.sender, via=new.via)
        return KEPT

    not_sent(app, "Message not sent", words, as_new, severity=severity)


KEPT = "Your text is kept: P offers it again."


def not_sent(app: App, title: str, words: str, keep: Callable[[], str], *,
             severity: SeverityLevel = "warning") -> None:
    try:
        where = keep()
    except OSError as failed:
        where = f"Your text could not be kept ({failed}): copy it before leaving."
    app.notify(f"{words} {where}", title=title, severity=severity, timeout=10,
               markup=False)


def kept(app: App, exc: EncryptionRefused, account: str, to: list[str], subject: str,
         text: str, *, cc: list[str] | None = None, bcc: list[str] | None = None,
         sender: str | None = None) -> None:
    """An encryption refusal: nothing was sent; the text is kept on this machine
    (0600, never on the server in clear), with its Cc, Bcc and From, and P offers
    it again."""
    try:
        keep_unsent(account, to, subject, text, cc=cc, bcc=bcc, sender=sender)
        where = "Your text is kept: P offers it again."
    except OSError as failed:
        where = f"Your text could not be kept ({failed}): copy it before leaving."
    words = in_app_words(exc, client_app(app).config.keys)
    app.notify(f"{words} {where}", title="Not encrypted, not sent",
               severity="error", timeout=15, markup=False)


# What to do after a refusal (the engine's `Hint`), in the app's words: its keys
# (as the [keys] config binds them) and screens, where the command line names its
# verbs and options (bridge.errors.CLI_HINTS).
APP_HINTS = {
    "import-key-or-clear": " (import their key: {keys}, then i; or ctrl+g in compose to "
                           "send in clear)",
    "verify-device": "; compare its fingerprint with theirs, then verify it ({keys}, then "
                     "v), or distrust it",
    "omemo-clear": "; ctrl+g in the reply line (or /omemo off) sends it in clear",
    "one-way-or-clear": "; send it to them all by email or all by chat (the address "
                        "prompt's first choice), or in clear (ctrl+g)",
    "encrypt-or-no-history": "; send it encrypted (ctrl+g), or untick Include history",
}


def app_words(hint: Hint | None, overrides: dict[str, tuple[str, ...]]) -> str:
    """A refusal's hint as the app says it ("" for none, or one it has no words
    for: the reason stands alone then)."""
    if hint is None or hint.action not in APP_HINTS:
        return ""
    return APP_HINTS[hint.action].format(argument=hint.argument,
                                         keys=shown("keys", overrides))


def in_app_words(exc: EncryptionRefused, overrides: dict[str, tuple[str, ...]]) -> str:
    """A refusal as the app says it: its reason without the title's "not sent",
    then what to do in the app's keys, ending in a full stop."""
    reason = (exc.reason.removeprefix("not sent: ") + app_words(exc.hint, overrides)).rstrip()
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


def sent_words(result: ReplyResult) -> str:
    if result.deferred:
        return "Deferred: it goes when they are available (see the outbox, O)."
    if result.via == "email":
        return "Email queued for sending." if result.emails or result.email_ids else \
            "Sent by email."
    where = f" in {result.room}" if result.room else ""
    extra = f", and {len(result.emails)} by email" if result.emails else ""
    return f"Sent by IM{where}{extra}."
