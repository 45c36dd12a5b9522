"""The mail verbs' command line (issue 19): one function per verb, each adding
that verb's parser and its options; `MAIL_PARSERS` names them in the order
`--help` lists them, and `add_mail_commands` adds them all.

argparse only: `tuiclient --help` and a usage error build the parser from this
module without the verbs' handlers (mail_verbs.py) and what those import
(tests/test_headless_fast_paths.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common_args import Maker, common_options, plain

MAIL_COMMANDS = ("delete", "archive", "move", "copy", "flag", "read", "unread", "tag", "undo",
                 "save", "forward", "bounce", "draft", "links", "conversation")
CONVERSATION_ACTIONS = ("archive", "unarchive", "mute", "unmute", "delete")

Sub = argparse._SubParsersAction
Parser = argparse.ArgumentParser
IDS: dict[str, Any] = {"nargs": "+", "metavar": "ID",
                       "help": "message numbers (#12 or 12) or Message-IDs"}


class _SignedWords:
    """`tag 12 +work -old`: a word after a single '-' that is no option of this
    parser is a tag to take off, not an unknown option."""

    def _parse_optional(self, arg_string: str) -> Any:
        if arg_string.startswith("-") and not arg_string.startswith("--") \
                and len(arg_string) > 1 \
                and arg_string not in self._option_string_actions:  # type: ignore[attr-defined]  # argparse.ArgumentParser's, mixed in below
            return None
        return super()._parse_optional(arg_string)  # type: ignore[misc]  # idem


def add_delete(sub: Sub, common: Parser, name: str = "delete",
               what: str = "move messages to Trash") -> None:
    p = sub.add_parser(name, parents=[common], help=what)
    p.add_argument("ids", **IDS)


def add_archive(sub: Sub, common: Parser) -> None:
    add_delete(sub, common, "archive", "move messages to the Archive folder")


def add_move(sub: Sub, common: Parser, name: str = "move",
             what: str = "move messages to a folder") -> None:
    p = sub.add_parser(name, parents=[common], help=what)
    p.add_argument("ids", **IDS)
    p.add_argument("folder", help="the folder on the server")


def add_copy(sub: Sub, common: Parser) -> None:
    add_move(sub, common, "copy", "copy messages to a folder")


def add_flag(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("flag", parents=[common], help="flag (star) messages")
    p.add_argument("ids", **IDS)
    p.add_argument("--off", action="store_true", help="take the flag off")


def add_read(sub: Sub, common: Parser, name: str = "read") -> None:
    p = sub.add_parser(name, parents=[common], help=f"mark messages {name}")
    p.add_argument("ids", **IDS)


def add_unread(sub: Sub, common: Parser) -> None:
    add_read(sub, common, "unread")


def add_tag(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("tag", parents=[common], help="add (+NAME) and remove (-NAME) tags")
    p.__class__ = type("TagParser", (_SignedWords, type(p)), {})
    p.add_argument("words", nargs="+", metavar="ID|+NAME|-NAME")


def add_undo(sub: Sub, common: Parser) -> None:
    sub.add_parser("undo", parents=[common], help="undo the last triage action")


def add_save(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("save", parents=[common],
                       help="save messages' files: an email's attachments, the files "
                            "a chat line links to (fetched over https)")
    p.add_argument("ids", **IDS)
    p.add_argument("--all", action="store_true", help="every attachment")
    p.add_argument("--part", type=int, action="append", default=[], metavar="N",
                   help="the Nth file as `show` lists them, from 1 (repeatable)")
    p.add_argument("--dir", type=Path, help="where to (default: the account's downloads)")


def add_forward(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("forward", parents=[common],
                       help="forward a message, or several as one email")
    p.add_argument("ids", nargs="+", metavar="ID",
                   help="message numbers or Message-IDs; several go as one email, each "
                        "attached whole (message/rfc822)")
    p.add_argument("text", nargs="?", help="a note above the forwarded message")
    p.add_argument("--to", action="append", required=True, metavar="ADDR")
    p.add_argument("--as-attachment", action="store_true",
                   help="the whole message as an attachment (message/rfc822)")
    p.add_argument("--file", action="append", type=Path, default=[], metavar="PATH",
                   help="a file of ours to attach (repeatable)")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for SMTP")
    # As send's (arguments.crypto_options); an encrypted email's forward is
    # encrypted unless --no-encrypt; refusals exit 9 (EXIT_ENCRYPTION).
    p.add_argument("--sign", action="store_const", const=True, default=None,
                   help="sign the forward with your OpenPGP key (PGP/MIME)")
    p.add_argument("--no-sign", action="store_const", const=False, dest="sign",
                   help="do not sign, whatever the config says")
    p.add_argument("--encrypt", action="store_const", const=True, default=None,
                   help="encrypt the forward to every recipient; refused with exit 9 "
                        "when someone has no key, nothing sent (the default for a "
                        "forward of an encrypted email)")
    p.add_argument("--no-encrypt", action="store_const", const=False, dest="encrypt",
                   help="send in clear, even the decrypted text of an encrypted email")


def add_bounce(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("bounce", parents=[common], help="redirect messages (Resent-*)")
    p.add_argument("ids", **IDS)
    p.add_argument("--to", action="append", required=True, metavar="ADDR")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for SMTP")


def add_draft(sub: Sub, common: Parser, inner: Parser) -> None:
    p = sub.add_parser("draft", parents=[common], help="drafts in the server's Drafts folder")
    dsub = p.add_subparsers(dest="draft_command", required=True)
    d = dsub.add_parser("save", parents=[inner], help="postpone a message as a draft")
    d.add_argument("text", nargs="?", help="the text; '-' or nothing reads stdin")
    d.add_argument("--to", action="append", default=[], metavar="ADDR")
    d.add_argument("--cc", action="append", default=[], metavar="ADDR")
    d.add_argument("--bcc", action="append", default=[], metavar="ADDR",
                   help="kept in the draft, never in what is sent")
    d.add_argument("--from", dest="sender", metavar="ADDR",
                   help="the account's address or one of its aliases")
    d.add_argument("--subject", default="")
    d.add_argument("--file", action="append", type=Path, default=[], metavar="PATH")
    d.add_argument("--replace", metavar="ID",
                   help="the draft this one replaces (its files are kept)")
    d.add_argument("--drop-file", action="append", default=[], metavar="NAME",
                   help="with --replace: a file of the replaced draft left out")
    d.add_argument("--in-reply-to", metavar="ID",
                   help="a reply's draft: the message it answers (its number, or a "
                        "Message-ID); its To, Cc and subject when none are given")
    d.add_argument("--references", action="append", default=[], metavar="MSGID",
                   help="the thread's Message-IDs (default: the answered message's)")
    d.add_argument("--forward", action="append", default=[], metavar="ID",
                   help="a forward's draft: an email it carries whole (message/rfc822; "
                        "repeatable); its subject Fwd: ... when none is given")
    dsub.add_parser("list", parents=[inner], help="the drafts on the server")
    d = dsub.add_parser("send", parents=[inner], help="send drafts")
    d.add_argument("ids", **IDS)
    d.add_argument("--wait", type=float, default=10.0, help="seconds to wait for SMTP")


def add_links(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("links", parents=[common],
                       help="the links of a message (text and HTML parts), nothing fetched")
    p.add_argument("id", metavar="ID", help="a message number (#12 or 12) or Message-ID")


def add_conversation(sub: Sub, common: Parser) -> None:
    p = sub.add_parser("conversation", parents=[common],
                       help="archive, mute or delete a conversation on this machine")
    p.add_argument("action", choices=CONVERSATION_ACTIONS,
                   help="archive: out of the list until a new line comes; mute: no "
                        "notifications; delete: its lines gone from this store (--yes)")
    p.add_argument("threads", nargs="+", metavar="ID",
                   help="conversations: their number from `list`, or thread ids")
    p.add_argument("--yes", action="store_true", help="delete without asking again")


# Each mail verb's parser, in the order `--help` lists them (MAIL_COMMANDS).
MAIL_PARSERS: dict[str, Maker] = {
    "delete": plain(add_delete),
    "archive": plain(add_archive),
    "move": plain(add_move),
    "copy": plain(add_copy),
    "flag": plain(add_flag),
    "read": plain(add_read),
    "unread": plain(add_unread),
    "tag": plain(add_tag),
    "undo": plain(add_undo),
    "save": plain(add_save),
    "forward": plain(add_forward),
    "bounce": plain(add_bounce),
    "draft": add_draft,
    "links": plain(add_links),
    "conversation": plain(add_conversation),
}


def add_mail_commands(sub: Sub) -> None:
    """Every mail verb, in the order `--help` lists them."""
    common = common_options()
    inner = common_options(nested=True)  # under `draft`
    for make in MAIL_PARSERS.values():
        make(sub, common, inner)
