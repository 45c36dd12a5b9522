"""The mail verbs of `tuiclient` (issue 19): triage, flags and tags, saving
attachments, forward, bounce and drafts. Each is one Engine call; their exit
codes are the command line's (bridge.headless.outcome): 0 done, 1 failed (the
server refused, no such message), 2 usage, 4 a login refused, 5 a server out of
reach, 6 an email still waiting in the outbox.

    delete ID...             to Trash (expunged when the account says so)
    archive ID...            to the Archive folder
    move ID... FOLDER        copy ID... FOLDER
    flag ID... [--off]       read ID... / unread ID...
    tag ID... +NAME -NAME    IMAP keywords, found again by `search tag:NAME`
    undo                     the last triage action, from any process on the store
    save ID... [--all] [--part N] [--dir DIR]   an email's files, or a chat line's
    forward ID --to ADDR [--as-attachment] [--file PATH] [TEXT]
    forward ID ID... --to ADDR [--file PATH] [TEXT]
                             one email, each message attached whole (message/rfc822)
    bounce ID... --to ADDR   each redirected as it is; the exit code the worst
    draft save --to ADDR [--cc ADDR] [--bcc ADDR] [--from ADDR] --subject S
               [--in-reply-to ID] [--replace ID [--drop-file NAME]]
               [--forward ID...] [TEXT]
                             (a replaced draft's files are kept, from the server;
                             --in-reply-to a chat line: the email answering it;
                             --forward: each email carried whole, message/rfc822)
    draft list               each draft, "[+N files]" when it carries some
    draft send ID...
    links ID                 the links of a message, numbered, with the words around them
    conversation archive|unarchive|mute|unmute|delete ID...
                             on this machine only: a chat has no server folder

Their arguments are mail_args.py's (argparse only, so `--help` imports none of
this module; `add_mail_commands`, `MAIL_COMMANDS` and `CONVERSATION_ACTIONS`
importable from here as before).
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from ..errors import EncryptionRefused, LoginRejected, ServerUnreachable
from ..events import TriageDone
from ..model import DeliveryState, Message
from . import output as out
from .mail_args import CONVERSATION_ACTIONS as CONVERSATION_ACTIONS
from .mail_args import MAIL_COMMANDS as MAIL_COMMANDS
from .mail_args import add_mail_commands as add_mail_commands
from .outcome import (
    EXIT_AUTH,
    EXIT_ENCRYPTION,
    EXIT_FAILED,
    EXIT_NETWORK,
    EXIT_NOT_DELIVERED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Outcome,
)


class Headless(Protocol):
    """What these commands use of bridge.headless.host.Headless: its engine (the
    command line is the one module that imports the engine, see test_imports)."""

    @property
    def engine(self) -> Any: ...

# -- helpers -----------------------------------------------------------------------------


def _rows(h: Headless, refs: list[str], account: str | None) -> list[int]:
    rows = []
    for ref in refs:
        try:
            rows.append(h.engine.find_message(ref, account).id or 0)
        except LookupError as exc:
            raise CommandError(EXIT_FAILED, str(exc)) from exc
    return rows


async def _guard(work: Awaitable[Any]) -> Any:
    """A server that refused our login is exit 4, one that cannot be reached exit
    5 (the engine's typed refusals, bridge.errors)."""
    try:
        return await work
    except LoginRejected as exc:
        raise CommandError(EXIT_AUTH, str(exc)) from exc
    except ServerUnreachable as exc:
        raise CommandError(EXIT_NETWORK, str(exc)) from exc


def _triaged(event: TriageDone) -> Outcome:
    what = {"delete": "moved to Trash", "expunge": "deleted for good", "archive": "archived",
            "move": "moved", "copy": "copied", "flags": "flags changed",
            "tag": "tags changed"}
    moved = event.done.get("moved", [])
    targets = sorted({m[3] for m in moved if m[3]})
    where = f" to {', '.join(targets)}" if targets and event.action in ("move", "copy") else ""
    line = f"{len(event.rows)} message(s) {what.get(event.action, event.action)}{where}"
    if event.undoes:
        line = f"undone: {event.action.removeprefix('undo ')} of {len(event.rows)} message(s)"
    return Outcome(EXIT_OK, event, [line])


async def _sent(h: Headless, msg_id: str, outbox_id: int, wait: float, what: str) -> Outcome:
    await h.engine.drain(timeout=wait)
    item = h.engine.outbox_items()
    row = next((i for i in item if i.id == outbox_id), None)
    state = row.state if row is not None else DeliveryState.SENT
    code = EXIT_OK if state in (DeliveryState.SENT, DeliveryState.DELIVERED) else (
        EXIT_FAILED if state is DeliveryState.FAILED else EXIT_NOT_DELIVERED)
    return Outcome(code, {"msg_id": msg_id, "outbox_id": outbox_id, "state": state.value},
                   [f"{what} {msg_id}: {state.value}"])


def _read_text(text: str | None) -> str:
    import sys
    if text is None or text == "-":
        return "" if sys.stdin.isatty() else sys.stdin.read()
    return text


# -- commands ----------------------------------------------------------------------------


async def cmd_triage(h: Headless, a: argparse.Namespace) -> Outcome:
    e = h.engine
    if a.command == "undo":
        return _triaged(await _guard(e.undo()))
    if a.command == "tag":
        refs = [w for w in a.words if w[0] not in "+-"]
        add = [w[1:] for w in a.words if w.startswith("+")]
        remove = [w[1:] for w in a.words if w.startswith("-")]
        if not refs or not (add or remove):
            raise CommandError(EXIT_USAGE, "tag ID... +NAME -NAME: name messages and tags")
        return _triaged(await _guard(e.tag(_rows(h, refs, a.account), add, remove)))
    rows = _rows(h, a.ids, a.account)
    jobs: dict[str, Callable[[], Awaitable[TriageDone]]] = {
        "delete": lambda: e.delete(rows),
        "archive": lambda: e.archive(rows),
        "move": lambda: e.move(rows, a.folder),
        "copy": lambda: e.copy(rows, a.folder),
        "flag": lambda: e.flag(rows, not getattr(a, "off", False)),
        "read": lambda: e.mark_read(rows, True),
        "unread": lambda: e.mark_read(rows, False),
    }
    return _triaged(await _guard(jobs[a.command]()))


async def cmd_save(h: Headless, a: argparse.Namespace) -> Outcome:
    """The files of each message: every one (--all), the --part ones, or its only
    one; a message with several and neither option is a usage error, before any
    file is written."""
    chosen = []
    for ref, row in zip(a.ids, _rows(h, a.ids, a.account), strict=True):
        positions = None if a.all else [n - 1 for n in a.part] or None
        if positions is None and not a.all:
            m = await _guard(h.engine.fetch_body(row))
            if len(m.attachments) != 1:
                raise CommandError(EXIT_USAGE, f"message {ref} has {len(m.attachments)} "
                                   "attachments: choose with --part N or --all")
            positions = [0]
        chosen.append((row, positions))
    paths = []
    for row, positions in chosen:
        paths += await _guard(h.engine.save_attachments(row, positions, a.dir))
    return Outcome(EXIT_OK, {"saved": [str(p) for p in paths]},
                   [f"saved {out.t(str(p))}" for p in paths])


# A word that names a message: #12, 12, or a Message-ID (<id@host> or id@host).
_MESSAGE_REF = re.compile(r"#?\d+|<?[^\s<>@]+@[^\s<>@]+>?")


async def cmd_forward(h: Headless, a: argparse.Namespace) -> Outcome:
    """One message: inline, or --as-attachment. Several: one email with each of
    them attached whole (mutt's mime_forward of tagged messages). The note may
    come right after the IDs (`forward 12 "For you." --to x`): the last word is
    the note when it names no message."""
    refs, text = list(a.ids), a.text
    if text is None and len(refs) > 1 and not _MESSAGE_REF.fullmatch(refs[-1]):
        text = refs.pop()
    rows = _rows(h, refs, a.account)
    for path in a.file:
        if not path.is_file():
            raise CommandError(EXIT_USAGE, f"no file {path}")
    try:
        if len(rows) > 1:
            msg_id, outbox_id = await _guard(h.engine.forward_several(
                rows, a.to, text or "", files=a.file, sign=a.sign, encrypt=a.encrypt))
        else:
            msg_id, outbox_id = await _guard(h.engine.forward(
                rows[0], a.to, text or "", as_attachment=a.as_attachment, files=a.file,
                sign=a.sign, encrypt=a.encrypt))
    except EncryptionRefused as exc:  # nothing queued, in clear or otherwise
        raise CommandError(EXIT_ENCRYPTION, str(exc), {"kind": "encryption",
                                                       "missing": exc.missing}) from exc
    return await _sent(h, msg_id, outbox_id, a.wait, "forward")


async def _each_sent(h: Headless, rows: list[int], wait: float, what: str,
                     send: Callable[[int], Awaitable[tuple[str, int]]]) -> Outcome:
    """One email per message, each queued, then waited for: one message answers
    as `_sent` does, several as a list, with the worst exit code of them."""
    queued = [await _guard(send(row)) for row in rows]
    outcomes = [await _sent(h, msg_id, outbox_id, wait, what) for msg_id, outbox_id in queued]
    if len(outcomes) == 1:
        return outcomes[0]
    codes = {o.code for o in outcomes}
    return Outcome(EXIT_FAILED if EXIT_FAILED in codes else max(codes),
                   [o.result for o in outcomes], [line for o in outcomes for line in o.lines])


async def cmd_bounce(h: Headless, a: argparse.Namespace) -> Outcome:
    return await _each_sent(h, _rows(h, a.ids, a.account), a.wait, "bounce",
                            lambda row: h.engine.bounce(row, a.to))


def _draft_line(m: Message) -> str:
    to = ", ".join(p.address for p in m.recipients) or "(nobody yet)"
    n = len(m.attachments)
    return f"#{m.id:<6} {out.when(m.date)}  to {out.one_line(to, 30):<30}  " \
           f"{out.one_line(m.subject, 50) or out.NO_SUBJECT}" + \
           (f"  [+{n} file{'s' * (n != 1)}]" if n else "")


def _answering(h: Headless, ref: str | None,
               account: str | None) -> tuple[int | None, str | None]:
    """`--in-reply-to`: a stored message (its row: the engine reads its thread),
    else a bare Message-ID the store does not hold (`<id>` or `id@host`)."""
    if not ref:
        return None, None
    try:
        return h.engine.find_message(ref, account).id, None
    except LookupError:
        if "@" not in ref:
            raise CommandError(EXIT_FAILED, f"no message {ref}") from None
        return None, ref.strip().strip("<>")


async def cmd_draft(h: Headless, a: argparse.Namespace) -> Outcome:
    e = h.engine
    account = e.account(a.account).name
    if a.draft_command == "list":
        found = await _guard(e.drafts(account))
        return Outcome(EXIT_OK, found, [_draft_line(m) for m in found] or ["no drafts"])
    if a.draft_command == "save":
        for path in a.file:
            if not path.is_file():
                raise CommandError(EXIT_USAGE, f"no file {path}")
        replaces = e.find_message(a.replace, a.account).id if a.replace else None
        answering, in_reply_to = _answering(h, a.in_reply_to, a.account)
        forwarding = _rows(h, a.forward, a.account) if a.forward else []
        text = _read_text(a.text)
        with tempfile.TemporaryDirectory(prefix="tuiclient-draft-") as folder:
            # The replaced draft's files go on in the new one (from the server, as
            # the app's resumed draft has them), but those --drop-file names.
            kept = [] if replaces is None else [
                p for p in await _guard(e.draft_files(replaces, Path(folder)))
                if p.name not in a.drop_file]
            saved = await _guard(e.draft_save(account, a.to, a.subject, text,
                                              cc=a.cc, bcc=a.bcc, sender=a.sender,
                                              files=[*kept, *a.file], replaces=replaces,
                                              in_reply_to=in_reply_to,
                                              references=a.references,
                                              answering=answering,
                                              forwarding=forwarding))
        return Outcome(EXIT_OK, saved, [f"draft saved: {_draft_line(saved)}"])
    return await _each_sent(h, _rows(h, a.ids, a.account), a.wait, "draft sent as",
                            e.draft_send)


async def cmd_links(h: Headless, a: argparse.Namespace) -> Outcome:
    m = h.engine.find_message(a.id, a.account)
    found = await _guard(h.engine.links(m.id or 0))
    lines = [f"{n:>3}  {out.t(link.url)}" + (f"\n     {out.one_line(link.context, 72)}"
                                            if link.context else "")
             for n, link in enumerate(found, 1)]
    return Outcome(EXIT_OK, [{"n": n, "url": link.url, "context": link.context}
                             for n, link in enumerate(found, 1)], lines or ["no links"])


async def cmd_conversation(h: Headless, a: argparse.Namespace) -> Outcome:
    """Archive, mute or delete conversations on this machine (a chat has no server
    folder; an email conversation's emails are moved with `archive`/`delete`)."""
    e = h.engine
    if a.action == "delete" and not a.yes:
        raise CommandError(EXIT_USAGE, "delete removes the conversation's lines from this "
                                       "store for good: say --yes")
    done = []
    for ref in a.threads:
        th = e.find_thread(ref, a.account)
        key = (th.account, th.thread_id)
        gone = 0
        if a.action == "archive":
            e.archive_conversation(*key)
        elif a.action == "unarchive":
            e.unarchive_conversation(*key)
        elif a.action in ("mute", "unmute"):
            e.mute_conversation(*key, a.action == "mute")
        else:
            gone = e.delete_conversation(*key)
        done.append({"id": th.id, "account": th.account, "thread_id": th.thread_id,
                     "action": a.action, **({"removed": gone} if a.action == "delete" else {})})
    words = {"archive": "archived (back with the next line)", "unarchive": "in the list again",
             "mute": "muted", "unmute": "unmuted", "delete": "deleted from this store"}
    return Outcome(EXIT_OK, done, [f"conversation {d['id']}: {words[a.action]}"
                                   for d in done])


MAIL_HANDLERS: dict[str, Callable[[Headless, argparse.Namespace], Awaitable[Outcome]]] = {
    **{name: cmd_triage for name in ("delete", "archive", "move", "copy", "flag", "read",
                                     "unread", "tag", "undo")},
    "save": cmd_save, "forward": cmd_forward, "bounce": cmd_bounce, "draft": cmd_draft,
    "links": cmd_links, "conversation": cmd_conversation,
}
