"""The chat verbs' command line (issue 20): one function per verb, each adding
that verb's parser and its options; `CHAT_PARSERS` names them in the order
`--help` lists them, and `add_chat_commands` adds them all.

argparse only: `tuiclient --help` and a usage error build the parser from this
module without the verbs' handlers (chat.py) and what those import (the model,
the errors, the output's formats; tests/test_headless_fast_paths.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common_args import Maker, common_options, plain

CHAT_COMMANDS = ("correct", "react", "retract", "quote", "msg", "join", "leave", "invite",
                 "bookmarks", "bookmark", "roster", "presence", "avatar", "block", "unblock",
                 "rooms", "voice", "register", "omemo", "who")
SHOWS = ("available", "chat", "away", "xa", "dnd", "invisible")
# bridge.errors.WHEN_AWAY, spelled here so that the parser needs no errors module
# (tests/test_headless_fast_paths.py checks they are the same).
WHEN_AWAY = ("ask", "send", "defer", "email")

Sub = argparse._SubParsersAction
Parser = argparse.ArgumentParser


def when_away_option(p: Parser, *, what: str) -> None:
    p.add_argument("--when-away", choices=WHEN_AWAY, default=None, help=what)


def wait_option(p: Parser) -> None:
    p.add_argument("--wait", type=float, default=10.0,
                   help="seconds to wait for the server to take it (default 10)")


def add_correct(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("correct", parents=[common],
                       help="correct your last line of a chat (XEP-0308)")
    p.add_argument("id", help="the line (#row id, as `show` prints it)")
    p.add_argument("text", help="the corrected text")


def add_react(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("react", parents=[common], help="react to a chat line (XEP-0444)")
    p.add_argument("id", help="the line (#row id)")
    p.add_argument("emoji", nargs="?", default="",
                   help="the reaction to add: one emoji (other text: exit 2)")
    p.add_argument("--remove", action="store_true",
                   help="take this reaction back (no emoji: all of yours)")


def add_retract(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("retract", parents=[common],
                       help="take back a line you sent (XEP-0424)")
    p.add_argument("id", help="the line (#row id)")


def add_quote(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("quote", parents=[common],
                       help="answer a chat line, quoting it (XEP-0461)")
    p.add_argument("id", help="the line (#row id)")
    p.add_argument("text", help="your answer")
    wait_option(p)
    when_away_option(p, what="if the contact is not available: ask (exit 7), send anyway, "
                             "defer, or send by email, quoting the line (default: the "
                             "config's policy)")


def add_msg(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("msg", parents=[common],
                       help="a private line to one occupant of a room you are in")
    p.add_argument("room", help="the room's address, room@conference.example")
    p.add_argument("nick", help="the occupant's nick there")
    p.add_argument("text")
    wait_option(p)
    when_away_option(p, what="if they are away or gone: ask (exit 7), send anyway, defer, "
                             "or send by email (default: the config's policy)")


def add_join(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("join", parents=[common], help="join a room (XEP-0045)")
    p.add_argument("room", help="the room's address, room@conference.example")
    p.add_argument("--nick", help="your nickname there (default: your JID's name)")
    p.add_argument("--password", help="the room's password, if it has one")


def add_leave(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("leave", parents=[common], help="leave a room")
    p.add_argument("room")


def add_invite(sub: Sub, common: Parser, inner: Parser) -> None:
    p = sub.add_parser("invite", parents=[common],
                       help="invite someone to a room, or answer an invitation")
    isub = p.add_subparsers(dest="invite_command", required=True)
    ip = isub.add_parser("send", parents=[inner], help="invite JID to ROOM")
    ip.add_argument("room")
    ip.add_argument("jid")
    ip.add_argument("--reason", default="")
    ip.add_argument("--direct", action="store_true",
                    help="straight to them (XEP-0249), not through the room")
    ip = isub.add_parser("accept", parents=[inner], help="join the room you were invited to")
    ip.add_argument("room")
    ip.add_argument("--nick")
    ip.add_argument("--password", help="(default: the one the invitation gave)")
    ip = isub.add_parser("decline", parents=[inner], help="say no to an invitation")
    ip.add_argument("room")
    ip.add_argument("inviter", help="who invited you (as the invitation named them)")
    ip.add_argument("--reason", default="")
    ip.add_argument("--direct", action="store_true",
                    help="a direct invitation (XEP-0249): it has no answer, nothing is sent")


def add_bookmarks(sub: Sub, common: Parser) -> None:
    sub.add_parser("bookmarks", parents=[common],
                   help="the rooms you keep (XEP-0402, shared with your other clients)")


def add_rooms(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("rooms", parents=[common],
                       help="the rooms a chat service lists (XEP-0045 §6), with their "
                            "names and how many are in")
    p.add_argument("service", nargs="?",
                   help="a multi-user chat service (default: your server's own)")


def add_voice(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("voice", parents=[common],
                       help="ask a moderated room to let you speak (XEP-0045 §7.13; "
                            "in `serve`, where you stay in the room to be granted it)")
    p.add_argument("room")


def add_register(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("register", parents=[common],
                       help="register (reserve) your nick with a room (XEP-0045 §7.10)")
    p.add_argument("room")
    p.add_argument("nick")


def add_bookmark(sub: Sub, common: Parser, inner: Parser) -> None:
    p = sub.add_parser("bookmark", parents=[common], help="keep a room, or stop keeping it")
    bsub = p.add_subparsers(dest="bookmark_command", required=True)
    bp = bsub.add_parser("add", parents=[inner],
                         help="bookmark ROOM (or change its bookmark); joined at every login")
    bp.add_argument("room", help="the room's address, room@conference.example")
    bp.add_argument("--name", default="", help="what to call it")
    bp.add_argument("--nick", default="", help="your nickname there")
    bp.add_argument("--no-autojoin", dest="autojoin", action="store_false",
                    help="keep it without joining it at login")
    bp = bsub.add_parser("remove", parents=[inner],
                         help="forget ROOM's bookmark (a joined room is not left)")
    bp.add_argument("room")


def add_roster(sub: Sub, common: Parser, inner: Parser) -> None:
    p = sub.add_parser("roster", parents=[common], help="your contacts (RFC 6121)")
    rsub = p.add_subparsers(dest="roster_command", required=True)
    rsub.add_parser("list", parents=[inner])
    rp = rsub.add_parser("add", parents=[inner],
                         help="add a contact and ask to see their presence")
    rp.add_argument("jid")
    rp.add_argument("--name", default="")
    rp.add_argument("--group", action="append", default=[], help="(repeatable)")
    for verb, what in (("remove", "take a contact out of the roster"),
                       ("approve", "let someone who asked see your presence"),
                       ("deny", "refuse (or end) someone's view of your presence"),
                       ("cancel", "withdraw your request to see someone's presence "
                                  "(or stop seeing it); they stay in the roster")):
        rp = rsub.add_parser(verb, parents=[inner], help=what)
        rp.add_argument("jid")

    rp = rsub.add_parser("set", parents=[inner],
                         help="rename a contact or set their groups (nothing else changes)")
    rp.add_argument("jid")
    rp.add_argument("--name", default=None, help="what to call them ('' for no name)")
    rp.add_argument("--group", action="append", default=None,
                    help="(repeatable) their groups, all of them; --group '' for none")


def add_avatar(sub: Sub, common: Parser, inner: Parser) -> None:
    p = sub.add_parser("avatar", parents=[common],
                       help="avatars (XEP-0084, XEP-0153): publish yours, fetch a contact's")
    asub = p.add_subparsers(dest="avatar_command", required=True)
    ap = asub.add_parser("set", parents=[inner],
                         help="publish the image at PATH (PNG, JPEG, GIF, WebP) as yours")
    ap.add_argument("path", type=Path)
    ap = asub.add_parser("get", parents=[inner],
                         help="a contact's avatar: the cached file's path (fetched if needed)")
    ap.add_argument("jid")


def add_block(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("block", parents=[common],
                       help="block someone (XEP-0191): no lines or presence either way")
    p.add_argument("jid", nargs="?", help="whom to block (a contact, or a whole domain)")
    p.add_argument("--list", action="store_true", help="whom you block")


def add_who(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("who", parents=[common],
                       help="a contact's presence: available, away, busy, offline or "
                            "unknown, their status and devices (the chat input's /who; "
                            "a room's occupants: `join ROOM`)")
    p.add_argument("jid", help="the contact's JID (or a mapped email address)")


def add_unblock(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("unblock", parents=[common], help="stop blocking someone")
    p.add_argument("jid")


def add_presence(sub: Sub, common: Parser, inner: Parser) -> None:
    p = sub.add_parser("presence", parents=[common], help="your own presence")
    psub = p.add_subparsers(dest="presence_command", required=True)
    pp = psub.add_parser(
        "set", parents=[inner],
        help="available, away, xa, dnd, chat, or invisible where the server offers it "
             "(XEP-0186): set by the running app, `serve`, `watch` or `run` of the "
             "account on its session (a command's own session ends with the command, "
             "and its presence with it); exit 1, nothing changed, when none is running",
        description="Asks the running clients of the account (the app, `serve`, `watch`, "
                    "`run`) to set your presence on their sessions, and says which did "
                    "(--json: set, by, errors). A presence lasts as long as the session "
                    "that sent it, so this command does not send one of its own: when no "
                    "client is running and online, nothing is set and it exits 1.")
    pp.add_argument("show", choices=SHOWS)
    pp.add_argument("status", nargs="?", default="", help="a status message")
    pp.add_argument("--wait", type=float, default=5.0,
                    help="seconds to wait for the running clients to answer (default 5)")


OMEMO_CHOICES = ("on", "off", "default")


def add_omemo(sub: Sub, common: Parser) -> None:
    """`omemo on|off|default JID` (its handler: omemo_cli.py)."""
    p = sub.add_parser("omemo", parents=[common],
                       help="OMEMO for a chat: on (every line encrypted), off, or default")
    p.add_argument("choice", choices=OMEMO_CHOICES)
    p.add_argument("jid", help="the contact's (or the room's) JID")


# Each chat verb's parser, in the order `--help` lists them.
CHAT_PARSERS: dict[str, Maker] = {
    "correct": plain(add_correct),
    "react": plain(add_react),
    "retract": plain(add_retract),
    "quote": plain(add_quote),
    "msg": plain(add_msg),
    "join": plain(add_join),
    "leave": plain(add_leave),
    "invite": add_invite,
    "bookmarks": plain(add_bookmarks),
    "rooms": plain(add_rooms),
    "voice": plain(add_voice),
    "register": plain(add_register),
    "bookmark": add_bookmark,
    "roster": add_roster,
    "avatar": add_avatar,
    "block": plain(add_block),
    "unblock": plain(add_unblock),
    "presence": add_presence,
    "omemo": plain(add_omemo),
    "who": plain(add_who),
}


def add_chat_commands(sub: Sub, common: Parser) -> None:
    """Every chat verb, in the order `--help` lists them."""
    # Under a verb (`invite send`, `roster add`...): options that default to unset,
    # so `invite --json send` keeps its --json (common_args says why).
    inner = common_options(nested=True)
    for make in CHAT_PARSERS.values():
        make(sub, common, inner)
