"""The chat commands: `correct`, `react`, `retract`, `quote`, `msg`, `join`, `leave`, `invite`,
`bookmarks`, `bookmark`, `rooms`, `voice`, `register`, `roster`, `presence`, `avatar`,
`block` and `unblock` (issue 20),
each an Engine method, each with `--json` (before or after a sub-command's name).

Their own module so that bridge.headless.cli only adds them (`add_chat_commands`,
`CHAT_HANDLERS`): the command line and its exit codes stay as cli.py's docstring
says. A refusal by the server or the room (a wrong room password, a line that is
not ours) is exit 1 with the reason; bad arguments exit 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import WHEN_AWAY, EngineError
from ..model import DeliveryState, Message
from . import output as out
from .common_args import common_options
from .omemo_cli import add_omemo_command, cmd_omemo
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

CHAT_COMMANDS = ("correct", "react", "retract", "quote", "msg", "join", "leave", "invite",
                 "bookmarks", "bookmark", "roster", "presence", "avatar", "block", "unblock",
                 "rooms", "voice", "register", "omemo")
SHOWS = ("available", "chat", "away", "xa", "dnd", "invisible")


def add_chat_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser
                      ) -> None:
    verb_common = common
    # Under a verb (`invite send`, `roster add`...): options that default to unset,
    # so `invite --json send` keeps its --json (common_args says why).
    common = common_options(nested=True)
    p = sub.add_parser("correct", parents=[verb_common],
                       help="correct your last line of a chat (XEP-0308)")
    p.add_argument("id", help="the line (#row id, as `show` prints it)")
    p.add_argument("text", help="the corrected text")
    p = sub.add_parser("react", parents=[verb_common], help="react to a chat line (XEP-0444)")
    p.add_argument("id", help="the line (#row id)")
    p.add_argument("emoji", nargs="?", default="", help="the reaction to add")
    p.add_argument("--remove", action="store_true",
                   help="take this reaction back (no emoji: all of yours)")
    p = sub.add_parser("retract", parents=[verb_common],
                       help="take back a line you sent (XEP-0424)")
    p.add_argument("id", help="the line (#row id)")

    p = sub.add_parser("quote", parents=[verb_common],
                       help="answer a chat line, quoting it (XEP-0461)")
    p.add_argument("id", help="the line (#row id)")
    p.add_argument("text", help="your answer")
    p.add_argument("--wait", type=float, default=10.0,
                   help="seconds to wait for the server to take it (default 10)")
    p.add_argument("--when-away", choices=WHEN_AWAY, default=None,
                   help="if the contact is not available: ask (exit 7), send anyway, "
                        "defer, or send by email, quoting the line (default: the "
                        "config's policy)")

    p = sub.add_parser("msg", parents=[verb_common],
                       help="a private line to one occupant of a room you are in")
    p.add_argument("room", help="the room's address, room@conference.example")
    p.add_argument("nick", help="the occupant's nick there")
    p.add_argument("text")
    p.add_argument("--wait", type=float, default=10.0,
                   help="seconds to wait for the server to take it (default 10)")
    p.add_argument("--when-away", choices=WHEN_AWAY, default=None,
                   help="if they are away or gone: ask (exit 7), send anyway, defer, or "
                        "send by email (default: the config's policy)")

    p = sub.add_parser("join", parents=[verb_common], help="join a room (XEP-0045)")
    p.add_argument("room", help="the room's address, room@conference.example")
    p.add_argument("--nick", help="your nickname there (default: your JID's name)")
    p.add_argument("--password", help="the room's password, if it has one")
    p = sub.add_parser("leave", parents=[verb_common], help="leave a room")
    p.add_argument("room")
    p = sub.add_parser("invite", parents=[verb_common],
                       help="invite someone to a room, or answer an invitation")
    isub = p.add_subparsers(dest="invite_command", required=True)
    ip = isub.add_parser("send", parents=[common], help="invite JID to ROOM")
    ip.add_argument("room")
    ip.add_argument("jid")
    ip.add_argument("--reason", default="")
    ip.add_argument("--direct", action="store_true",
                    help="straight to them (XEP-0249), not through the room")
    ip = isub.add_parser("accept", parents=[common], help="join the room you were invited to")
    ip.add_argument("room")
    ip.add_argument("--nick")
    ip.add_argument("--password", help="(default: the one the invitation gave)")
    ip = isub.add_parser("decline", parents=[common], help="say no to an invitation")
    ip.add_argument("room")
    ip.add_argument("inviter", help="who invited you (as the invitation named them)")
    ip.add_argument("--reason", default="")
    ip.add_argument("--direct", action="store_true",
                    help="a direct invitation (XEP-0249): it has no answer, nothing is sent")

    sub.add_parser("bookmarks", parents=[verb_common],
                   help="the rooms you keep (XEP-0402, shared with your other clients)")
    p = sub.add_parser("rooms", parents=[verb_common],
                       help="the rooms a chat service lists (XEP-0045 §6), with their "
                            "names and how many are in")
    p.add_argument("service", nargs="?",
                   help="a multi-user chat service (default: your server's own)")
    p = sub.add_parser("voice", parents=[verb_common],
                       help="ask a moderated room to let you speak (XEP-0045 §7.13; "
                            "in `serve`, where you stay in the room to be granted it)")
    p.add_argument("room")
    p = sub.add_parser("register", parents=[verb_common],
                       help="register (reserve) your nick with a room (XEP-0045 §7.10)")
    p.add_argument("room")
    p.add_argument("nick")
    p = sub.add_parser("bookmark", parents=[verb_common], help="keep a room, or stop keeping it")
    bsub = p.add_subparsers(dest="bookmark_command", required=True)
    bp = bsub.add_parser("add", parents=[common],
                         help="bookmark ROOM (or change its bookmark); joined at every login")
    bp.add_argument("room", help="the room's address, room@conference.example")
    bp.add_argument("--name", default="", help="what to call it")
    bp.add_argument("--nick", default="", help="your nickname there")
    bp.add_argument("--no-autojoin", dest="autojoin", action="store_false",
                    help="keep it without joining it at login")
    bp = bsub.add_parser("remove", parents=[common],
                         help="forget ROOM's bookmark (a joined room is not left)")
    bp.add_argument("room")

    p = sub.add_parser("roster", parents=[verb_common], help="your contacts (RFC 6121)")
    rsub = p.add_subparsers(dest="roster_command", required=True)
    rsub.add_parser("list", parents=[common])
    rp = rsub.add_parser("add", parents=[common],
                         help="add a contact and ask to see their presence")
    rp.add_argument("jid")
    rp.add_argument("--name", default="")
    rp.add_argument("--group", action="append", default=[], help="(repeatable)")
    for verb, what in (("remove", "take a contact out of the roster"),
                       ("approve", "let someone who asked see your presence"),
                       ("deny", "refuse (or end) someone's view of your presence"),
                       ("cancel", "withdraw your request to see someone's presence "
                                  "(or stop seeing it); they stay in the roster")):
        rp = rsub.add_parser(verb, parents=[common], help=what)
        rp.add_argument("jid")

    rp = rsub.add_parser("set", parents=[common],
                         help="rename a contact or set their groups (nothing else changes)")
    rp.add_argument("jid")
    rp.add_argument("--name", default=None, help="what to call them ('' for no name)")
    rp.add_argument("--group", action="append", default=None,
                    help="(repeatable) their groups, all of them; --group '' for none")

    p = sub.add_parser("avatar", parents=[verb_common],
                       help="avatars (XEP-0084, XEP-0153): publish yours, fetch a contact's")
    asub = p.add_subparsers(dest="avatar_command", required=True)
    ap = asub.add_parser("set", parents=[common],
                         help="publish the image at PATH (PNG, JPEG, GIF, WebP) as yours")
    ap.add_argument("path", type=Path)
    ap = asub.add_parser("get", parents=[common],
                         help="a contact's avatar: the cached file's path (fetched if needed)")
    ap.add_argument("jid")

    p = sub.add_parser("block", parents=[verb_common],
                       help="block someone (XEP-0191): no lines or presence either way")
    p.add_argument("jid", nargs="?", help="whom to block (a contact, or a whole domain)")
    p.add_argument("--list", action="store_true", help="whom you block")
    p = sub.add_parser("unblock", parents=[verb_common], help="stop blocking someone")
    p.add_argument("jid")

    p = sub.add_parser("presence", parents=[verb_common], help="your own presence")
    psub = p.add_subparsers(dest="presence_command", required=True)
    pp = psub.add_parser("set", parents=[common],
                         help="available, away, xa, dnd, chat, or invisible where the "
                              "server offers it (XEP-0186)")
    pp.add_argument("show", choices=SHOWS)
    pp.add_argument("status", nargs="?", default="", help="a status message")
    add_omemo_command(sub, verb_common)


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
    account = _account(h, a)
    await _up(h, account)
    show = "" if a.show == "available" else a.show
    await h.engine.set_presence(account, show, a.status)
    return Outcome(EXIT_OK, {"show": a.show, "status": a.status},
                   [f"presence: {a.show}" + (f" ({out.t(a.status)})" if a.status else "")])


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


CHAT_HANDLERS: dict[str, Callable[[Headless, argparse.Namespace], Awaitable[Outcome]]] = {
    "correct": cmd_correct, "react": cmd_react, "retract": cmd_retract, "quote": cmd_quote,
    "msg": cmd_msg,
    "join": cmd_join,
    "leave": cmd_leave, "invite": cmd_invite, "bookmarks": cmd_bookmarks,
    "bookmark": cmd_bookmark, "roster": cmd_roster, "presence": cmd_presence,
    "avatar": cmd_avatar, "block": cmd_block, "unblock": cmd_block, "rooms": cmd_rooms,
    "voice": cmd_voice, "register": cmd_register, "omemo": cmd_omemo,
}
