"""The verbs of conversations, the outbox and contacts: `show`, `sync`,
`send`, `reply`, `handoff`, `outbox`, `contacts`, `health` and `run` (the rules
daemon, bridge.headless.daemon); `list`, `search`, `show` and `outbox list`,
which only read the store, are in reads.py (importable from here too).

Each takes the `Headless` host and its parsed arguments and returns an
`Outcome` (what to print, the JSON result, the exit code); every expected
failure is a CommandError or one of the engine's answers, which cli.execute
turns into an Outcome.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Protocol

from ..engine import EngineError, ReplyResult
from ..errors import EncryptionRefused
from ..identity import normalize_email, normalize_jid
from ..model import Direction, Message, Transport
from . import output as out
from .host import Headless, find_message, find_thread, read_text, settle
from .outcome import (
    EXIT_AUTH,
    EXIT_ENCRYPTION,
    EXIT_FAILED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Outcome,
)

# Importable from here as before; their own module imports no engine (reads.py).
from .reads import cmd_list as cmd_list
from .reads import cmd_outbox_list
from .reads import cmd_search as cmd_search
from .reads import cmd_show as cmd_show


async def cmd_sync(h: Headless, a: argparse.Namespace) -> Outcome:
    before = h.engine.message_count(a.account)
    for account in h.engine.accounts:
        if a.account and account.name != a.account:
            continue
        if account.imap:
            try:
                await h.engine.sync(account.name, here=True)
            except EngineError as exc:
                raise CommandError(EXIT_AUTH if "login refused" in str(exc) else EXIT_NETWORK,
                                   str(exc)) from exc
    await h.up(xmpp=True)  # logging in catches up with the archive
    for account in h.engine.accounts:
        if account.xmpp and (not a.account or account.name == a.account):
            h._raise_failure(account.name, "xmpp")
    # Syncing includes the outbox: due emails go, and chat lines a stopped
    # process left unconfirmed are looked at (see Outbox._adopt).
    await h.engine.outbox_tick()
    await h.engine.drain()
    after = h.engine.message_count(a.account)
    return Outcome(EXIT_OK, {"messages": after, "new": after - before},
                   [f"{after} messages in the store, {after - before} new"])


async def _reply(h: Headless, original: Message, text: str, via: str,
                 a: argparse.Namespace) -> Outcome:
    attach: list[str] | str | None = a.attach or None
    if attach and "all" in attach:
        attach = "all"
    files: list[Path] = getattr(a, "file", [])  # `reply --file`; a handoff has none
    for path in files:
        if not path.is_file():
            raise CommandError(EXIT_USAGE, f"no file {path}")
    if files and via == "im":
        raise CommandError(EXIT_USAGE, "--file goes with a reply by email (--via email)")
    if files:
        via = "email"  # "auto" with files from disk: they go by email
    await h.up(xmpp=True)
    if via == "im" and not h.engine.chat_online(original.account):
        h.need_xmpp(original.account)
        via = "email"
    if via == "auto" and (await h.engine.reply_protection(original.id or 0, a.sign,
                                                          a.encrypt)).encrypt:
        via = "email"  # an encrypted reply goes by email (chat has no encryption yet)
    # "auto" is the engine's one rule (bridge.handoff.auto): email without a chat
    # connection, chat when everyone is mapped and available.
    word = ""
    try:
        if via == "email":
            word = await _autocrypt_word(
                h, original.account, _reply_people(h, original, a),
                await h.engine.reply_protection(original.id or 0, a.sign, a.encrypt),
                a.encrypt, reply_to_encrypted=h.engine.conversation_encrypted(
                    original.account, original.thread_id))
        result = await h.engine.reply(original.id or 0, text, via=via, reply_all=a.reply_all,
                                      history=a.history, attachments=attach, mixed=a.mixed,
                                      separate_chats=a.separate_chats, when_away=a.when_away,
                                      files=files, sign=a.sign, encrypt=a.encrypt)
    except EncryptionRefused as exc:
        raise await _refused(h, exc, original.account, text, answering=original.id) from exc
    return _with_autocrypt(await settle(h.engine, result, a.wait, h.stop), word)


# Autocrypt's "discourage", in the words of a refusal and of the plain output.
DISCOURAGED = ("Autocrypt discourages encrypting to them: the key it has is old (their "
               "recent mail came without it) or was only passed on by someone else, so "
               "they may not be able to read it")


class Decided(Protocol):
    """What the engine decided a send must be (bridge.crypto.outgoing.Protection)."""

    @property
    def encrypt(self) -> bool: ...

    @property
    def why(self) -> str: ...


def _reply_people(h: Headless, original: Message, a: argparse.Namespace) -> list[str]:
    """The addresses an email reply goes to (To and Cc, as the engine fills them)."""
    try:
        fields = h.engine.reply_fields(original.id or 0, a.reply_all)
    except (EngineError, LookupError, ValueError):
        return []
    return [p.address for p in (*fields.to, *fields.cc)]


async def _autocrypt_word(h: Headless, account: str, people: list[str],
                          decided: Decided, asked: bool | None, *,
                          reply_to_encrypted: bool = False) -> str:
    """Autocrypt's recommendation for an email from `account` to `people` ("" when
    it is off). An email that would be encrypted to a peer Autocrypt discourages
    encrypting to is refused (EncryptionRefused naming who) unless the user
    asked for the encryption (--encrypt): the spec's UI guidance, as the
    compose screen asks first. A reply to an encrypted email is "encrypt"
    whatever the peer's state (the spec's final recommendation)."""
    if not people:
        return ""
    word = await h.engine.autocrypt_recommendation(account, people)
    if reply_to_encrypted and word in ("available", "discourage"):
        return "encrypt"
    if word != "discourage" or not decided.encrypt or asked is True:
        return word
    who = [p for p in people
           if await h.engine.autocrypt_recommendation(account, [p]) == "discourage"]
    who = who or list(people)
    raise EncryptionRefused(
        f"not sent: it would be encrypted to {', '.join(who)}, and {DISCOURAGED}"
        + (f"; it must be encrypted because {decided.why}" if decided.why else "")
        + " (send it with --encrypt to encrypt anyway, or with --no-encrypt)", who)


def _with_autocrypt(outcome: Outcome, word: str) -> Outcome:
    """The send's outcome with Autocrypt's word: `autocrypt` in --json, and a
    line for people when it discourages encryption."""
    if not word:
        return outcome
    if isinstance(outcome.result, dict):
        outcome.result["autocrypt"] = word
    if word == "discourage":
        outcome.lines.append(f"autocrypt: discourage ({DISCOURAGED})")
    return outcome


async def _refused(h: Headless, exc: EncryptionRefused, account: str, text: str, *,
                   to: list[str] | None = None, subject: str = "",
                   answering: int | None = None) -> CommandError:
    """Exit 9 for an encryption refusal; the typed text is kept as a draft in the
    account's Drafts folder (resume it once the keys are there), where it can be."""
    kept = ""
    detail: dict[str, object] = {"kind": "encryption", "missing": exc.missing}
    if h.engine.account(account).imap is not None:
        try:
            draft = await h.engine.draft_save(account, to or [], subject, text,
                                              answering=answering)
        except (EngineError, OSError) as failed:
            kept = f" The text could not be kept as a draft either: {failed}"
        else:
            detail["draft"] = draft.id
            kept = (" The text is kept in Drafts, unencrypted like any draft "
                    f"(draft #{draft.id}).")
    return CommandError(EXIT_ENCRYPTION, f"{exc}.{kept}", detail)


async def cmd_reply(h: Headless, a: argparse.Namespace) -> Outcome:
    original = find_message(h.engine, a.message, a.account)
    return await _reply(h, original, read_text(a.text), a.via, a)


async def cmd_handoff(h: Headless, a: argparse.Namespace) -> Outcome:
    th = find_thread(h.engine, a.thread, a.account)
    timeline = h.engine.timeline(th.account, th.thread_id)
    if not timeline:
        raise CommandError(EXIT_FAILED, f"conversation {a.thread} is empty")
    # Answer the newest message someone else wrote; ours if there is none.
    theirs = [m for m in timeline if m.direction is Direction.IN]
    original = (theirs or timeline)[-1]
    default = ("Let's continue this conversation by chat." if a.target == "im"
               else "Continuing our chat by email.")
    text = a.text if a.text and a.text != "-" else (
        read_text(a.text) if a.text == "-" else default)
    if a.target == "email" and not a.attach and not a.no_files:
        # The handoff promise: history and attachments carried over. The files the
        # chat shared go along as MIME parts unless told not to.
        a.attach = ["all"]
    return await _reply(h, original, text, a.target, a)


async def cmd_send(h: Headless, a: argparse.Namespace) -> Outcome:
    text = read_text(a.text, files=bool(a.file))
    account = h.engine.account(a.account).name
    for path in a.file:
        if not path.is_file():
            raise CommandError(EXIT_USAGE, f"no file {path}")
    own = h.engine.own_addresses(account)
    if a.sender and a.sender.strip().lower() not in {x.lower() for x in own}:
        raise CommandError(EXIT_USAGE, f"--from {a.sender} is not an address of the account "
                           f"{account}: use one of {', '.join(own) or '(none: no email)'}")
    via = a.via
    if (a.cc or a.bcc or a.sender) and via != "email":
        if via == "im":
            raise CommandError(EXIT_USAGE, "--cc, --bcc and --from are an email's: "
                               "use --via email")
        via = "email"
    await h.up(xmpp=True)
    if via == "auto" and h.engine.send_protection(account, a.to, a.sign, a.encrypt).encrypt:
        via = "email"  # an encrypted message goes by email (chat has no encryption yet)
    if via == "auto":
        via = h.engine.auto_via(account, a.to)  # the engine's one rule
    elif via == "im" and not h.engine.chat_online(account):
        # The chat server is out of reach: the line waits in the outbox (exit 6)
        # for the next process that reaches it. A refused login is the user's to fix.
        detail = h.failures.get((account, "xmpp"), "")
        if "login refused" in detail or "auth" in detail.lower():
            h.need_xmpp(account)
    word = ""
    try:
        if via == "email":
            everyone = [*a.to, *a.cc, *a.bcc]
            word = await _autocrypt_word(h, account, everyone, h.engine.send_protection(
                account, everyone, a.sign, a.encrypt), a.encrypt)
        result = await h.engine.send_message(account, a.to, text, via=via, subject=a.subject,
                                             when_away=a.when_away, attachments=a.file,
                                             sign=a.sign, encrypt=a.encrypt, cc=a.cc,
                                             bcc=a.bcc, sender=a.sender)
    except EncryptionRefused as exc:
        raise await _refused(h, exc, account, text, to=a.to, subject=a.subject) from exc
    return _with_autocrypt(await settle(h.engine, result, a.wait, h.stop), word)


async def cmd_outbox(h: Headless, a: argparse.Namespace) -> Outcome:
    command = a.outbox_command or "list"
    engine = h.engine
    if command == "list":
        return await cmd_outbox_list(h, a)
    item = engine.outbox_item(a.id)
    if item is None:
        raise CommandError(EXIT_FAILED, f"Nothing in the outbox has the number {a.id}: "
                           "`tuiclient outbox list --all` shows their numbers.")
    await h.up(xmpp=item.transport is Transport.XMPP or command in ("email", "im"))
    if command == "retry":
        if item.transport is Transport.XMPP:
            h.need_xmpp(item.account)
        await h.engine.outbox_retry(a.id)
        reply = ReplyResult(item.transport.value)
        (reply.outbox if item.transport is Transport.XMPP else reply.emails).append(a.id)
        return await settle(h.engine, reply, a.wait, h.stop)
    if command == "cancel":
        try:
            await h.engine.outbox_cancel(a.id)
        except ValueError as exc:
            raise CommandError(EXIT_FAILED, str(exc)) from exc
        return Outcome(EXIT_OK, engine.outbox_item(a.id),
                       [f"{a.id} cancelled: it will not be sent"])
    if command == "im":
        h.need_xmpp(item.account)
        try:
            chat_ids = await h.engine.outbox_im(a.id)
        except EncryptionRefused as exc:
            raise CommandError(EXIT_ENCRYPTION, str(exc), {"kind": "encryption",
                                                           "outbox": a.id}) from exc
        except ValueError as exc:
            raise CommandError(EXIT_FAILED, str(exc)) from exc
        return await settle(h.engine, ReplyResult("im", outbox=list(chat_ids)), a.wait, h.stop)
    try:
        msg_id = await h.engine.outbox_email(a.id, clear=getattr(a, "clear", False))
    except EncryptionRefused as exc:
        # Nothing sent, in clear or otherwise: the row stays, its text with it.
        raise CommandError(EXIT_ENCRYPTION, str(exc), {
            "kind": "encryption", "missing": exc.missing, "outbox": a.id}) from exc
    except ValueError as exc:
        raise CommandError(EXIT_FAILED, str(exc)) from exc
    email_item = next((i for i in engine.outbox_items() if i.msg_id == msg_id), None)
    reply = ReplyResult("email", email_ids=[msg_id])
    if email_item is not None:
        reply.emails.append(email_item.id)
    return await settle(h.engine, reply, a.wait, h.stop)


async def cmd_contacts(h: Headless, a: argparse.Namespace) -> Outcome:
    command = a.contacts_command or "list"
    engine = h.engine
    if command == "list":
        contacts = engine.contacts()
        conflicts = engine.contact_conflicts()
        lines = [out.contact_line(c) for c in contacts] or ["no contacts"]
        lines += [f"conflict: {out.t(r.describe())}" for r in conflicts]
        return Outcome(EXIT_OK, {"contacts": contacts, "conflicts": conflicts}, lines)
    if command == "map":
        if not normalize_email(a.email) or not normalize_jid(a.jid):
            raise CommandError(EXIT_USAGE, "map EMAIL JID: both must be local@domain")
        r = engine.map_contact(a.email, a.jid, a.name)
        return Outcome(EXIT_OK, r, [out.t(r.describe())])
    if command == "unmap":
        removed = engine.forget_address(a.address)
        if not removed:
            raise CommandError(EXIT_FAILED, f"{a.address} is not a learned address (addresses "
                                            "from the config file are changed there)")
        return Outcome(EXIT_OK, {"removed": a.address}, [f"forgot {a.address}"])
    if a.vcard:
        await h.up(xmpp=True)
        await engine.learn_contacts_from_vcards()
    pending = [c for c in engine.contacts() if any(not x.confirmed for x in c.addresses)]
    lines = [out.contact_line(c) + "   -> tuiclient contacts map EMAIL JID" for c in pending]
    return Outcome(EXIT_OK, pending, lines or ["no suggestions"])


async def cmd_health(h: Headless, a: argparse.Namespace) -> Outcome:
    """One probe of each server; exit 4 if a login was refused, 5 if unreachable."""
    if a.account:
        h.engine.account(a.account)  # an unknown name is an error, not an empty report
    reports = await h.engine.health.probe(a.account)
    code = EXIT_OK
    for r in reports:
        if not r.reachable:
            code = max(code, EXIT_NETWORK)
        elif not r.logged_in and code != EXIT_NETWORK:
            code = EXIT_AUTH
    lines = [f"{r.account} {r.service}: {out.t(r.summary())}" for r in reports]
    if code == EXIT_OK:
        return Outcome(code, reports, lines or ["no servers configured"])
    return Outcome(code, {"error": "a server failed its probe", "reports": reports}, lines)


async def cmd_run(h: Headless, a: argparse.Namespace) -> Outcome:
    from .daemon import run_rules
    return await run_rules(h, a)
