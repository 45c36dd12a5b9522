"""The command line of headless mode: every verb's arguments, and `parse`.

`add_commands` adds them to tuiclient's own parser (tuiclient/__main__.py);
`build_serve_parser` is the same grammar for `serve`'s JSON lines, where a
mistake is an answer, not an exit. One function per verb (`add_send`,
`add_list`...); the mail, keys and chat verbs' are in mail_args.py,
keys_args.py and chat_args.py. Like those, this module imports argparse only:
`--help` and a usage error load nothing a command runs with
(tests/test_headless_fast_paths.py).

A verb's parser is made when it is needed (`Verbs`): `tuiclient list` makes
`list`'s alone, `--help` all of them; `PARSERS` says which function makes which.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any, cast

from .chat_args import CHAT_PARSERS, WHEN_AWAY
from .common_args import Maker, Parser, Sub, common_options, plain
from .keys_args import add_keys_commands
from .mail_args import MAIL_PARSERS


def text_args(p: Parser) -> None:
    p.add_argument("text", nargs="?", help="the text; '-' or nothing reads stdin")


def send_options(p: Parser) -> None:
    p.add_argument("--when-away", choices=WHEN_AWAY, default=None,
                   help="if the contact is not available: ask (exit 7), send anyway, "
                        "defer, or send by email (default: the config's policy)")
    p.add_argument("--wait", type=float, default=10.0,
                   help="seconds to wait for the server and the receipt (default 10)")


def crypto_options(p: Parser) -> None:
    # None: the config's [crypto] default; refusals exit 9 (EXIT_ENCRYPTION).
    p.add_argument("--sign", action="store_const", const=True, default=None,
                   help="sign the email with your OpenPGP key (PGP/MIME)")
    p.add_argument("--no-sign", action="store_const", const=False, dest="sign",
                   help="do not sign, whatever the config says")
    p.add_argument("--encrypt", action="store_const", const=True, default=None,
                   help="encrypt the email to every recipient (and to you); refused "
                        "with exit 9 when someone has no key, nothing sent")
    p.add_argument("--no-encrypt", action="store_const", const=False, dest="encrypt",
                   help="send in clear, whatever the config says")


def reply_options(p: Parser) -> None:
    p.add_argument("--all", action="store_true", dest="reply_all",
                   help="to every party, not just the sender")
    p.add_argument("--history", action="store_true",
                   help="carry the earlier messages along")
    p.add_argument("--attach", action="append", default=[], metavar="NAME",
                   help="a file of the thread to send along ('all' for every one)")
    p.add_argument("--mixed", action="store_true",
                   help="parties without an address on that transport get the other one")
    p.add_argument("--separate-chats", action="store_true",
                   help="one chat per person instead of a room")


def add_sync(sub: Sub, common: Parser) -> None:
    sub.add_parser("sync", parents=[common], help="fetch new mail and chat now")


def add_list(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("list", parents=[common], help="list conversations")
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--unread", action="store_true")
    p.add_argument("--transport", choices=("email", "xmpp"))
    p.add_argument("--sort", choices=("date", "from", "unread"), default="date",
                   help="newest first (date, the default), by sender, or unread first")
    p.add_argument("--reverse", action="store_true", help="the order turned around")
    p.add_argument("--match", metavar="QUERY",
                   help="only conversations with a message the search finds "
                        "(the search's language: from:bob is:unread)")
    p.add_argument("--folder", metavar="NAME",
                   help="only conversations with an email in this folder of the account "
                        "(the sidebar's folder in the app: Sent, Archive, ...)")


def add_show(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("show", parents=[common], help="one conversation as one timeline")
    p.add_argument("thread", help="a conversation: its number from `list` or its thread id")
    p.add_argument("--no-fetch", action="store_true", help="do not fetch missing email bodies")


def add_search(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("search", parents=[common], help="search mail and chat")
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=30)


def add_send(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("send", parents=[common], help="start a conversation")
    p.add_argument("--to", action="append", required=True, metavar="ADDRESS",
                   help="an email address or a JID; a room you are in (with --via im): "
                        "the line goes to everyone there")
    p.add_argument("--via", choices=("email", "im", "auto"), default="auto")
    p.add_argument("--subject", default="")
    p.add_argument("--cc", action="append", default=[], metavar="ADDRESS",
                   help="a copy to (repeatable; makes it an email)")
    p.add_argument("--bcc", action="append", default=[], metavar="ADDRESS",
                   help="a blind copy to (repeatable; never in the sent headers)")
    p.add_argument("--from", dest="sender", metavar="ADDRESS",
                   help="the email's From: the account's address or one of its aliases "
                        "(default: the account's address; any other is refused, exit 2)")
    p.add_argument("--file", action="append", default=[], type=Path, metavar="PATH",
                   help="attach a file (repeatable); by IM each goes as its own line "
                        "with its link, and no text is needed")
    send_options(p)
    crypto_options(p)
    text_args(p)


def add_reply(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("reply", parents=[common], help="answer a message by email or IM")
    p.add_argument("message", help="a message number (#N in `show`) or its message id")
    p.add_argument("--via", choices=("email", "im", "auto"), default="auto")
    p.add_argument("--file", action="append", default=[], type=Path, metavar="PATH",
                   help="attach a file from disk (repeatable; the reply goes by email)")
    reply_options(p)
    send_options(p)
    crypto_options(p)
    text_args(p)


def add_handoff(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("handoff", parents=[common], help="move a conversation to IM or email")
    p.add_argument("thread")
    p.add_argument("--to", choices=("im", "email"), required=True, dest="target")
    p.add_argument("--no-files", action="store_true",
                   help="to email: leave out the files shared in the chat (carried by default)")
    reply_options(p)
    send_options(p)
    crypto_options(p)
    text_args(p)


def add_outbox(sub: Sub, common: Parser, inner: Parser) -> None:
    p = sub.add_parser("outbox", parents=[common], help="what waits to be sent")
    osub = p.add_subparsers(dest="outbox_command")
    ol = osub.add_parser("list", parents=[inner])
    ol.add_argument("--all", action="store_true", help="settled ones too")
    ol.add_argument("--log", action="store_true", help="with each row's log")
    for name, what in (("retry", "send now"), ("cancel", "stop it"),
                       ("email", "send a chat message by email instead"),
                       ("im", "send an email by chat instead")):
        op = osub.add_parser(name, parents=[inner], help=what)
        op.add_argument("id", type=int)
        op.add_argument("--wait", type=float, default=10.0,
                        help="seconds to wait for the server and the receipt (default 10)")
        if name == "email":
            op.add_argument("--no-encrypt", action="store_true", dest="clear",
                            help="send it in clear even though it was to be encrypted "
                                 "(the refusal, exit 9, says why it was)")


def add_contacts(sub: Sub, common: Parser, inner: Parser) -> None:
    p = sub.add_parser("contacts", parents=[common], help="who is who across transports")
    csub = p.add_subparsers(dest="contacts_command")
    csub.add_parser("list", parents=[inner])
    cm = csub.add_parser("map", parents=[inner], help="say an email address and a JID "
                                                     "are the same person")
    cm.add_argument("email")
    cm.add_argument("jid")
    cm.add_argument("--name", default="")
    cu = csub.add_parser("unmap", parents=[inner], help="forget a learned address")
    cu.add_argument("address")
    cs = csub.add_parser("suggest", parents=[inner], help="mappings waiting for your yes")
    cs.add_argument("--vcard", action="store_true",
                    help="ask the roster's vCards for email addresses first")


def add_watch(sub: Sub, common: Parser) -> None:
    sub.add_parser("watch", parents=[common], help="print the engine's events as JSON lines")


def add_serve(sub: Sub, common: Parser) -> None:
    sub.add_parser("serve", parents=[common], help="take JSON-line commands on stdin")


def add_run(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("run", parents=[common],
                       help="stay connected: retry deferred and queued sends, apply reply rules")
    p.add_argument("--rules", type=Path, default=None,
                   help="the rules file (TOML); without it, no rules: only the outbox's "
                        "retries, IMAP IDLE and XMPP")


def add_health(sub: Sub, common: Parser) -> None:
    sub.add_parser("health", parents=[common],
                   help="probe every server once: reachable, login, round trip, clock")


# Each verb's parser, in the order `--help` lists them.
PARSERS: dict[str, Maker] = {
    "sync": plain(add_sync),
    "list": plain(add_list),
    "show": plain(add_show),
    "search": plain(add_search),
    "send": plain(add_send),
    "reply": plain(add_reply),
    "handoff": plain(add_handoff),
    "outbox": add_outbox,
    "contacts": add_contacts,
    "watch": plain(add_watch),
    "serve": plain(add_serve),
    "run": plain(add_run),
    "health": plain(add_health),
    **MAIL_PARSERS,
    "keys": plain(add_keys_commands),
    # -- chat: corrections, reactions, rooms, roster --
    **CHAT_PARSERS,
}


class Verbs(argparse._SubParsersAction):
    """tuiclient's verbs, each one's parser made when first needed: the verb a
    command line names (`__call__`), or every one for the help that lists them
    (`_get_subactions`). argparse makes a parser with all its arguments when it is
    added; making the ~90 of the verbs and their sub-commands was most of the time
    `tuiclient list` spent before reading the store. Until then a verb is a name
    in `choices` (what the command line may give, in --help's order), and no
    entry of `_name_parser_map` (argparse's parsers by name, filled by
    `add_parser` as each is made). `add_commands` turns argparse's own action into
    this one."""

    pending: dict[str, Maker]  # the verbs not made yet
    rank: dict[str, int]  # the order --help lists the verbs in
    parents: tuple[Parser, Parser] | None  # (common, inner), made with the first verb

    def __call__(self, parser: Parser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        self.make(values[:1])
        super().__call__(parser, namespace, values, option_string)

    def _get_subactions(self) -> list[argparse.Action]:
        self.make(list(self.pending))
        return super()._get_subactions()

    def add_parser(self, name: str, **kwargs: Any) -> Parser:
        made = super().add_parser(name, **kwargs)
        for known in (name, *kwargs.get("aliases", ())):  # one not of PARSERS too
            self.choices.setdefault(known, None)
            self.rank.setdefault(known, len(self.rank))
        return made

    def make(self, names: list[str]) -> None:
        todo = [self.pending.pop(name) for name in names if name in self.pending]
        if not todo:
            return
        if self.parents is None:
            # `inner`: the options under `outbox`, `contacts`, `draft`...
            self.parents = (common_options(), common_options(nested=True))
        make_parsers(self, todo, self.parents)
        # --help lists the verbs in PARSERS' order, whichever was made first.
        self._choices_actions.sort(key=lambda action: self.rank.get(action.dest, 0))


def make_parsers(sub: Sub, makers: list[Maker], parents: tuple[Parser, Parser]) -> None:
    """Make verbs' parsers, with each of argparse's words looked up once.

    argparse asks gettext for its words ("usage: ", "options", the help option's
    text) for every parser and argument it makes, and gettext looks for a
    catalogue on disk at each call: two stat()s a word with LANG=C.UTF-8, more
    with a country in it (10 of the 16 ms that making every verb took). While
    they are made, each word is looked up once. (Outside: argparse's own
    function, so a usage error or --help reads the catalogue as before.)
    """
    looked_up = vars(argparse)["_"]
    vars(argparse)["_"] = functools.cache(looked_up)
    try:
        for make in makers:
            make(sub, *parents)
    finally:
        vars(argparse)["_"] = looked_up


def add_commands(sub: Sub) -> None:
    """Add the headless commands to tuiclient's parser, in the order `--help`
    lists them; their parsers are made when needed (`Verbs`)."""
    if type(sub) is not argparse._SubParsersAction or not isinstance(sub.choices, dict):
        # Not argparse's own action: every verb's parser made now.
        make_parsers(sub, list(PARSERS.values()),
                     (common_options(), common_options(nested=True)))
        return
    names = [*sub.choices, *PARSERS]
    sub.__class__ = Verbs
    verbs = cast(Verbs, sub)
    verbs.pending = dict(PARSERS)
    verbs.rank = {name: n for n, name in enumerate(names)}
    verbs.parents = None
    # Names only: the map of parsers stays argparse's (filled as each is made),
    # while the check of the verb given and the usage line read `choices`.
    verbs.choices = dict.fromkeys(names)


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, except that a command's text may come after its options
    (`reply 12 --via im "On my way"`), which argparse alone refuses when an
    optional positional was already matched empty before the options."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "text") and args.text is None and \
                not any(x.startswith("-") and x != "-" for x in extra):
            args.text = " ".join(extra)
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


class _UsageError(Exception):
    pass


class _QuietParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _UsageError(message)


def build_serve_parser() -> argparse.ArgumentParser:
    parser = _QuietParser(prog="serve")
    sub = parser.add_subparsers(dest="command", parser_class=_QuietParser)
    add_commands(sub)
    return parser
