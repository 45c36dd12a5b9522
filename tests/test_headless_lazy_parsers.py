"""The verbs' parsers are made when needed (bridge/headless/arguments.py `Verbs`):
a command line makes its verb's alone, `--help` every one, and what argparse
prints or parses is the same as with every parser made at once (issue 22, row 2).
"""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from bridge.headless.arguments import PARSERS, Verbs, make_parsers
from bridge.headless.chat_args import CHAT_COMMANDS, CHAT_PARSERS
from bridge.headless.cli import COMMANDS
from bridge.headless.common_args import common_options
from bridge.headless.mail_args import MAIL_COMMANDS, MAIL_PARSERS
from tuiclient.__main__ import build_parser


def eager_parser() -> argparse.ArgumentParser:
    """tuiclient's parser with every verb made at once, as before `Verbs`."""
    parser = build_parser()
    verbs = verbs_of(parser)
    verbs.make(list(PARSERS))
    return parser


def verbs_of(parser: argparse.ArgumentParser) -> Verbs:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert isinstance(sub, Verbs)
    return sub


def outcome(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            got: object = vars(parser.parse_args(argv))
        except SystemExit as exc:
            got = exc.code
    return got, out.getvalue(), err.getvalue()


def test_the_tables_name_every_verb():
    assert set(PARSERS) == set(COMMANDS)
    assert list(MAIL_PARSERS) == list(MAIL_COMMANDS)
    assert set(CHAT_PARSERS) == set(CHAT_COMMANDS)


def test_a_command_line_makes_its_verb_only():
    parser = build_parser()
    verbs = verbs_of(parser)
    assert set(verbs._name_parser_map) == {"config"}
    args = parser.parse_args(["list", "--limit", "3"])
    assert (args.command, args.limit) == ("list", 3)
    assert set(verbs._name_parser_map) == {"config", "list"}
    assert set(verbs.pending) == set(PARSERS) - {"list"}


@pytest.mark.parametrize("verb", ["list", "draft", "roster", "keys", "outbox"])
def test_help_after_a_verb_was_made_lists_every_verb_in_order(verb, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    fresh = build_parser().format_help()
    parser = build_parser()
    outcome(parser, [verb, "--help"])
    assert parser.format_help() == fresh == eager_parser().format_help()
    assert parser.format_usage() == build_parser().format_usage()


ARGVS = (["--help"], [], ["nope"], ["list", "1", "2"], ["list", "--unread", "--json"],
         ["search", "from:bob", "budget", "--limit", "5"], ["draft"], ["draft", "list"],
         ["outbox", "retry", "4", "--wait", "1"], ["tag", "12", "+work", "-old"],
         ["roster", "add", "bob@example.test"], ["send", "--to", "a@b", "hi"],
         ["keys", "list"], ["contacts", "map", "a@b", "b@c"], ["show"], ["list", "--bad"])


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_the_same_as_every_parser_made_at_once(argv, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert outcome(build_parser(), argv) == outcome(eager_parser(), argv)


def test_one_parser_reads_many_command_lines():
    """serve's parser reads one command after another (serve.py)."""
    parser = build_parser()
    for argv in (["list"], ["search", "x"], ["list", "--limit", "2"], ["roster", "list"]):
        assert vars(parser.parse_args(argv)) == vars(eager_parser().parse_args(argv))


def test_a_plain_subparsers_action_gets_every_verb_at_once():
    """Another action than argparse's own: every verb's parser made when added."""

    class Own(argparse._SubParsersAction):
        pass

    parser = argparse.ArgumentParser(prog="x")
    parser.register("action", "parsers", Own)
    sub = parser.add_subparsers(dest="command")
    from bridge.headless.arguments import add_commands

    add_commands(sub)
    assert set(sub._name_parser_map) >= set(PARSERS)
    assert parser.parse_args(["search", "x"]).query == ["x"]


def test_make_parsers_puts_argparse_words_back():
    looked_up = vars(argparse)["_"]
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    make_parsers(sub, [PARSERS["list"]], (common_options(), common_options(nested=True)))
    assert vars(argparse)["_"] is looked_up
