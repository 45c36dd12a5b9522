"""The chat commands: `correct`, `react`, `retract`, `quote`, `msg`, `join`, `leave`, `invite`,
`bookmarks`, `bookmark`, `rooms`, `voice`, `register`, `roster`, `presence`, `avatar`,
`block`, `unblock` (issue 20) and `who` (a contact's presence, the chat input's /who),
each an Engine method, each with `--json` (before or after a sub-command's name).

Their own module so that bridge.headless.cli only adds them (`CHAT_HANDLERS`):
the command line and its exit codes stay as cli.py's docstring says. Their
arguments are chat_args.py's (argparse only, so `--help` imports none of this
module; `add_chat_commands`, `CHAT_COMMANDS` and `SHOWS` importable from here
as before). A refusal by the server or the room (a wrong room password, a line that is
not ours) is exit 1 with the reason; bad arguments exit 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..emoji_shape import is_emoji
from ..errors import EngineError, not_an_emoji
from ..model import DeliveryState, Message
from . import output as out
from .chat_args import CHAT_COMMANDS as CHAT_COMMANDS
from .chat_args import SHOWS as SHOWS
from .chat_args import add_chat_commands as add_chat_commands
from .omemo_cli import cmd_omemo
from .outcome import (
    EXIT_FAILED,
    EXIT_NOT_DELIVERED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Outcome,
)

if TYPE_CHECKING:  # asyncio where a verb waits: `--help` builds the parser without it
    import asyncio


class Headless(Protocol):
    """What these commands use of bridge.headless.host's Headless (named here, not
    imported: cli imports this module)."""

    # The bridge.engine.Engine, which only the entry points (cli) import.
    engine: Any

    # Set when the process is asked to stop (a signal): waits end at once.
    stop: asyncio.Event

    async def up(self, *, mail: bool = False, xmpp: bool = True) -> None: ...

    def need_xmpp(self, account: str) -> None: ...

def _line(h: Headless, ref: str, account: str | None) -> Message:
    """A chat line by its row id (`#812` or `812`, as `show` and `search` print it)."""
    number = ref.lstrip("#")
    try:
        m = h.engine.message(int(number)) if number.isdigit() else None
    except EngineError:
        m = None
    if m is None or (account is not None and m.account != account):
        raise CommandError(EXIT_FAILED, f"no message {ref!r} (see `tuiclient show`)")
    return m


async def _up(h: Headless, account: str) -> None:
    await h.up(xmpp=True)
    h.need_xmpp(account)


def _account(h: Headless, a: argparse.Namespace) -> str:
    return h.engine.account(a.account).name


def _changed(m: Message, what: str) -> Outcome:
    return Outcome(EXIT_OK, m, [f"#{m.id} {what}"])


async def cmd_correct(h: Headless, a: argparse.Namespace) -> Outcome:
    m = _line(h, a.id, a.account)
    if not a.text.strip():
        raise CommandError(EXIT_USAGE, "the text is empty (use `retract` to take it back)")
    await _up(h, m.account)
    return _changed(await h.engine.correct(m.id or 0, a.text), "corrected")


async def cmd_react(h: Headless, a: argparse.Namespace) -> Outcome:
    m = _line(h, a.id, a.account)
    if not a.emoji and not a.remove:
        raise CommandError(EXIT_USAGE, "which reaction? (or --remove to take yours back)")
    if a.emoji and not a.remove and not is_emoji(a.emoji.strip()):
        raise CommandError(EXIT_USAGE, not_an_emoji(a.emoji))
    await _up(h, m.account)
    mine = await h.engine.react(m.id or 0, a.emoji, remove=a.remove)
    return Outcome(EXIT_OK, {"id": m.id, "reactions": mine},
                   [f"#{m.id} your reactions: {' '.join(mine) or '(none)'}"])


async def cmd_retract(h: Headless, a: argparse.Namespace) -> Outcome:
    m = _line(h, a.id, a.account)
    await _up(h, m.account)
    return _changed(await h.engine.retract(m.id or 0), "retracted")


async def cmd_quote(h: Headless, a: argparse.Namespace) -> Outcome:
    """Exit 0 once the server took the answer, 6 if it did not within --wait (or
    it was deferred); deferred or sent by email, the outbox's report."""
    m = _line(h, a.id, a.account)
    if not a.text.strip():
        raise CommandError(EXIT_USAGE, "the text is empty")
    await _up(h, m.account)
    result = await h.engine.reply_to_line(m.id or 0, a.text, when_away=a.when_away)
    if result.deferred or not result.chat:
        # Here, not at the top: host makes the Engine, and parsing the command
        # line (which imports this module) must not load it (cli.py does the same).
        from .host import settle
        return await settle(h.engine, result, a.wait, h.stop)
    import asyncio

    sent = result.chat[0]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, a.wait)
    while loop.time() < deadline:
        sent = h.engine.message(sent.id)
        if sent.delivery not in (None, DeliveryState.SENDING):
            break
        await asyncio.sleep(0.05)
    taken = sent.delivery not in (None, DeliveryState.SENDING)
    return Outcome(EXIT_OK if taken else EXIT_NOT_DELIVERED, sent,
                   [f"#{sent.id} answers #{m.id}: {sent.delivery.value if sent.delivery else ''}"])


async def cmd_msg(h: Headless, a: argparse.Namespace) -> Outcome:
    """Through the outbox like every chat line: the outbox's report (exit 6
    while it waits, deferred or not yet taken by the server)."""
    if not a.text.strip():
        raise CommandError(EXIT_USAGE, "the text is empty")
    account = _account(h, a)
    await _up(h, account)
    result = await h.engine.send_private(account, a.room, a.nick, a.text,
                                         when_away=a.when_away)
    from .host import settle  # see cmd_quote
    return await settle(h.engine, result, a.wait, h.stop)


def _occupants(room: str, occupants: list[Any]) -> Outcome:
    lines = [f"in {out.t(room)}:"] + [
        f"  {out.t(o.nick)} ({o.role}, {o.affiliation})" + (f" <{out.t(o.jid)}>" if o.jid
                                                             else "")
        for o in occupants]
    return Outcome(EXIT_OK, {"room": room, "occupants": occupants}, lines)


async def cmd_join(h: Headless, a: argparse.Namespace) -> Outcome:
    account = _account(h, a)
    await _up(h, account)
    return _occupants(a.room, await h.engine.join_room(account, a.room, nick=a.nick,
                                                       password=a.password))


async def cmd_leave(h: Headless, a: argparse.Namespace) -> Outcome:
    account = _account(h, a)
    await _up(h, account)
    await h.engine.leave_room(account, a.room)
    return Outcome(EXIT_OK, {"room": a.room, "left": True}, [f"left {out.t(a.room)}"])


async def cmd_invite(h: Headless, a: argparse.Namespace) -> Outcome:
    account = _account(h, a)
    await _up(h, account)
    if a.invite_command == "accept":
        return _occupants(a.room, await h.engine.accept_invitation(
            account, a.room, nick=a.nick, password=a.password))
    if a.invite_command == "decline":
        await h.engine.decline_invitation(account, a.room, a.inviter, a.reason,
                                          direct=a.direct)
        return Outcome(EXIT_OK, {"room": a.room, "declined": a.inviter},
                       [f"dropped {out.t(a.inviter)}'s invitation to {out.t(a.room)}"
                        if a.direct else
                        f"declined {out.t(a.inviter)}'s invitation to {out.t(a.room)}"])
    await h.engine.invite(account, a.room, a.jid, a.reason, direct=a.direct)
    return Outcome(EXIT_OK, {"room": a.room, "invited": a.jid},
                   [f"invited {out.t(a.jid)} to {out.t(a.room)}"])


def _bookmark_row(b: Any) -> dict[str, Any]:
    """A bookmark for output: its password is never printed, only whether it has one."""
    return {"room": b.room, "name": b.name, "nick": b.nick, "autojoin": b.autojoin,
            "password": bool(b.password)}


def _bookmark_line(b: Any) -> str:
    return f"{out.t(b.room)}" + (f"  {out.t(b.name)}" if b.name else "") + \
        (f"  as {out.t(b.nick)}" if b.nick else "") + ("  [autojoin]" if b.autojoin else "")


async def cmd_bookmarks(h: Headless, a: argparse.Namespace) -> Outcome:
    account = _account(h, a)
    await _up(h, account)
    marks = await h.engine.bookmarks(account)
    return Outcome(EXIT_OK, [_bookmark_row(b) for b in marks],
                   [_bookmark_line(b) for b in marks] or ["no bookmarks"])


async def cmd_rooms(h: Headless, a: argparse.Namespace) -> Outcome:
    account = _account(h, a)
    await _up(h, account)
    rooms = await h.engine.discover_rooms(account, a.service)
    return Outcome(EXIT_OK, [{"jid": r.jid, "name": r.name, "occupants": r.occupants}
                             for r in rooms],
                   [out.t(r.jid) + (f"  {out.t(r.name)}" if r.name else "")
                    + (f"  ({r.occupants} in)" if r.occupants is not None else "")
                    for r in rooms] or ["no rooms listed"])


async def cmd_voice(h: Headless, a: argparse.Namespace) -> Outcome:
    account = _account(h, a)
    await _up(h, account)
    if a.room not in h.engine.joined_rooms(account):  # (in `serve`, it stays joined)
        await h.engine.join_room(account, a.room)
    await h.engine.request_voice(account, a.room)
    return Outcome(EXIT_OK, {"room": a.room, "voice": "requested"},
                   [f"asked the moderators of {out.t(a.room)} to let you speak"])


async def cmd_register(h: Headless, a: argparse.Namespace) -> Outcome:
    account = _account(h, a)
    await _up(h, account)
    nick = await h.engine.register_with_room(account, a.room, a.nick)
    return Outcome(EXIT_OK, {"room": a.room, "registered": nick},
                   [f"{out.t(nick)} is yours in {out.t(a.room)}"])


async def cmd_bookmark(h: Headless, a: argparse.Namespace) -> Outcome:
    if "@" not in a.room or "/" in a.room:
        raise CommandError(EXIT_USAGE, f"{a.room!r} is not a room's address "
                                       "(room@conference.example)")
    account = _account(h, a)
    await _up(h, account)
    if a.bookmark_command == "remove":
        await h.engine.unbookmark(account, a.room)
        return Outcome(EXIT_OK, {"room": a.room, "removed": True},
                       [f"removed the bookmark of {out.t(a.room)}"])
    mark = await h.engine.bookmark(account, a.room, name=a.name, nick=a.nick,
                                   autojoin=a.autojoin)
    return Outcome(EXIT_OK, _bookmark_row(mark), ["bookmarked " + _bookmark_line(mark)])


async def cmd_roster(h: Headless, a: argparse.Namespace) -> Outcome:
    account = _account(h, a)
    await _up(h, account)
    e = h.engine
    if a.roster_command == "add":
        item = await e.roster_add(account, a.jid, a.name, a.group)
        return Outcome(EXIT_OK, item, [f"added {out.t(item.jid)}; asked to see their presence"])
    if a.roster_command == "remove":
        await e.roster_remove(account, a.jid)
        return Outcome(EXIT_OK, {"jid": a.jid, "removed": True}, [f"removed {out.t(a.jid)}"])
    if a.roster_command == "set":
        if a.name is None and a.group is None:
            raise CommandError(EXIT_USAGE, "roster set JID --name NAME and/or --group GROUP")
        groups = None if a.group is None else [g for g in a.group if g]
        item = await e.roster_change(account, a.jid, a.name, groups)
        return Outcome(EXIT_OK, item, [f"{out.t(item.jid)}  {out.t(item.name)}"
                                       f"  groups: {', '.join(map(out.t, item.groups))}"])
    if a.roster_command in ("approve", "deny", "cancel"):
        await {"approve": e.roster_approve, "deny": e.roster_deny,
               "cancel": e.roster_cancel}[a.roster_command](account, a.jid)
        word = {"approve": "approved", "deny": "denied",
                "cancel": "no longer asking to see"}[a.roster_command]
        return Outcome(EXIT_OK, {"jid": a.jid, a.roster_command: True},
                       [f"{word} {out.t(a.jid)}"])
    items = e.roster(account)
    return Outcome(EXIT_OK, items, [
        f"{out.t(i.jid)}  {out.t(i.name)}  [{i.subscription}"
        + (", asked" if i.pending_out else "") + "]"
        + (f"  groups: {', '.join(out.t(g) for g in i.groups)}" if i.groups else "")
        for i in items] or ["the roster is empty"])


async def cmd_avatar(h: Headless, a: argparse.Namespace) -> Outcome:
    """`set`: exit 0 once published; `get`: 0 with the file's path, 1 if the
    contact has none we may see."""
    account = _account(h, a)
    if a.avatar_command == "set" and not a.path.is_file():
        raise CommandError(EXIT_USAGE, f"no file {a.path}")
    await _up(h, account)
    if a.avatar_command == "set":
        avatar_id = await h.engine.avatar_set(account, a.path)
        return Outcome(EXIT_OK, {"id": avatar_id, "path": str(a.path)},
                       [f"published {out.t(str(a.path))} as your avatar ({avatar_id})"])
    path = await h.engine.avatar_get(account, a.jid)
    if path is None:
        return Outcome(EXIT_FAILED, {"jid": a.jid, "path": None},
                       [f"{out.t(a.jid)} has no avatar you may see"])
    return Outcome(EXIT_OK, {"jid": a.jid, "path": str(path)}, [out.t(str(path))])


async def cmd_presence(h: Headless, a: argparse.Namespace) -> Outcome:
    """`presence set SHOW [STATUS]`: set by the running clients of the account
    (the app, `serve`, `watch`, `run`) on their sessions, asked through the
    store (bridge.presence_wanted); a one-shot command's own session would take
    it away with it. Exit 1 when no client set it. Within `serve`, set there."""
    account = _account(h, a)
    if not h.engine.account(account).jid:
        raise CommandError(EXIT_FAILED, f"{account} has no chat account (jid) to set "
                                        "a presence on")
    show = "" if a.show == "available" else a.show
    said = f"{a.show}" + (f" ({out.t(a.status)})" if a.status else "")
    if h.engine.present:  # this process is a client (`serve`): it sets it itself
        await _up(h, account)
    answers = await h.engine.set_presence_by_clients(account, show, a.status, a.wait)
    by = [str(x["by"]) for x in answers if not x.get("error")]
    errors = [f"{x['by']}: {x['error']}" for x in answers if x.get("error")]
    result = {"show": a.show, "status": a.status, "set": bool(by), "by": by,
              "errors": errors}
    if by:
        return Outcome(EXIT_OK, result, [f"presence: {said}, set by {out.t(', '.join(by))}"]
                       + [f"not set by {out.t(e)}" for e in errors])
    if errors:
        return Outcome(EXIT_FAILED, dict(result, error="; ".join(errors)),
                       [f"presence not set: {out.t(e)}" for e in errors])
    why = (f"presence not set: no app, `serve`, `watch` or `run` of {account} is running "
           f"and online to set it (a command's own session ends with the command, and "
           f"its presence with it); nothing was changed")
    return Outcome(EXIT_FAILED, dict(result, error=why), [why])


async def cmd_block(h: Headless, a: argparse.Namespace) -> Outcome:
    """`block JID`, `block --list` (whom the server blocks for us), `unblock JID`."""
    verb = a.command
    if verb == "block" and bool(a.jid) == a.list:
        raise CommandError(EXIT_USAGE, "block JID, or block --list")
    account = _account(h, a)
    await _up(h, account)
    if verb == "block" and a.list:
        jids = await h.engine.blocked(account)
        return Outcome(EXIT_OK, jids, [out.t(j) for j in jids] or ["nobody is blocked"])
    await (h.engine.block if verb == "block" else h.engine.unblock)(account, a.jid)
    return Outcome(EXIT_OK, {"jid": a.jid, verb + "ed": True}, [f"{verb}ed {out.t(a.jid)}"])


async def cmd_who(h: Headless, a: argparse.Namespace) -> Outcome:
    """A contact's presence as the server told it after our login (their
    devices, each with its show and status)."""
    account = _account(h, a)
    await _up(h, account)
    p = h.engine.availability(account, a.jid)
    devices = [{"resource": r.resource, "show": r.show, "status": r.status,
                "priority": r.priority} for r in p.resources]
    lines = [f"{out.t(p.jid)} is {p.availability.value}"
             + (f": {out.t(p.status)}" if p.status else "")]
    lines += [f"  {out.t(r.resource)}  {out.t(r.show) or 'available'}"
              + (f"  {out.t(r.status)}" if r.status else "") for r in p.resources]
    return Outcome(EXIT_OK, {"jid": p.jid, "availability": p.availability.value,
                             "status": p.status, "devices": devices}, lines)


CHAT_HANDLERS: dict[str, Callable[[Headless, argparse.Namespace], Awaitable[Outcome]]] = {
    "correct": cmd_correct, "react": cmd_react, "retract": cmd_retract, "quote": cmd_quote,
    "msg": cmd_msg,
    "join": cmd_join,
    "leave": cmd_leave, "invite": cmd_invite, "bookmarks": cmd_bookmarks,
    "bookmark": cmd_bookmark, "roster": cmd_roster, "presence": cmd_presence,
    "avatar": cmd_avatar, "block": cmd_block, "unblock": cmd_block, "rooms": cmd_rooms,
    "voice": cmd_voice, "register": cmd_register, "omemo": cmd_omemo, "who": cmd_who,
}
