"""`tuiclient <command>`: every action of the app, without a screen.

Human-readable output by default, `--json` for programs. Exit codes:

    0  done
    1  failed (the message says why)
    2  usage: bad arguments
    3  config: the config file is wrong (file, line and key are named)
    4  auth: a server refused the login
    5  network: a server could not be reached
    6  not yet delivered: deferred, or waiting in the outbox for a server
    7  needs a decision: a party has no address on that transport, or the
       contact is away and --when-away is "ask"
    8  store not writable: the disk is full or read-only (the path is named);
       nothing was half-written, so the same command can simply be run again
    9  encryption refused: it must be encrypted and cannot be (someone has no
       key, or it would go by chat); nothing was sent, in clear or otherwise

`serve` reads commands as JSON lines on stdin (`{"id": 1, "argv": ["send", ...]}`)
and answers each with one JSON line, so a long-running script drives one engine
without reconnecting for every call; `{"id": 2, "watch": true}` adds the engine's
events to the output stream.

This module is the dispatcher: which verb runs which handler, the checks before
a command (`preflight`), what a failure becomes (`execute`), and `main`. The
verbs and their helpers are modules of their own:

    arguments.py   the command line (add_commands, parse)
    host.py        Headless (the engine, brought up as far as a command needs),
                   finding a thread or message, `settle` (wait for the outbox)
    reads.py       list, search, show --no-fetch and outbox list, served from the
                   store by ReadOnly (no engine: `read_only` says which command
                   lines)
    verbs.py       show, sync, send, reply, handoff, outbox, contacts, health, run
    serve.py       watch and serve, and the stop signals
    mail_verbs.py  the mail verbs (delete, archive, move, ... drafts)
    chat.py        the chat verbs (correct, react, ... presence)
    keys.py        `keys`: OpenPGP keys (list, import, verify, trust, prefer)
    daemon.py      `run`: the rules daemon
    output.py      plain text and JSON; outcome.py: exit codes and Outcome
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Defined in their own modules, and importable from here as before (see __all__).
from .arguments import add_commands, build_serve_parser, parse
from .chat_args import CHAT_COMMANDS
from .keys_args import KEYS_COMMANDS
from .mail_args import MAIL_COMMANDS
from .outcome import (
    EXIT_AUTH,
    EXIT_CONFIG,
    EXIT_DECIDE,
    EXIT_FAILED,
    EXIT_NETWORK,
    EXIT_NOT_DELIVERED,
    EXIT_OK,
    EXIT_STORE,
    EXIT_USAGE,
    STOP_GRACE,
    CommandError,
    Outcome,
    store_not_writable,
)

if TYPE_CHECKING:
    import asyncio

    from ..config import Config
    from .host import Headless
    from .reads import ReadOnly

# asyncio, sqlite3, ssl, socket, the config's loader (with its schema and secrets),
# the output's formats and the identity layer (with the store) are imported where a
# command runs (`main`, `execute`, `preflight`, `fail`), not with the module:
# `--help` and a usage error need the parser only (tests/test_headless_layering.py,
# tests/test_cli_imports.py, tests/test_headless_fast_paths.py).

COMMANDS = ("sync", "list", "show", "search", "send", "reply", "handoff", "outbox",
            "contacts", "watch", "serve", "run", "health", *MAIL_COMMANDS, *CHAT_COMMANDS,
            *KEYS_COMMANDS)

# A command imports what it needs when it runs: the engine and its parts (host.py),
# the verbs and the loops of watch and serve. So `tuiclient --help` builds its
# parser without them, and no command that only reads the store loads slixmpp
# (tests/test_headless_layering.py). These names stay importable from here, the
# first use of one imports its module (`__getattr__` below).
LAZY = {
    **dict.fromkeys(("Headless", "find_message", "find_thread", "read_text", "self_command",
                     "settle"), ".host"),
    **dict.fromkeys(("cmd_contacts", "cmd_handoff", "cmd_health", "cmd_outbox", "cmd_reply",
                     "cmd_run", "cmd_send", "cmd_show", "cmd_sync"), ".verbs"),
    **dict.fromkeys(("ReadOnly", "cmd_list", "cmd_search"), ".reads"),
    **dict.fromkeys(("cmd_watch", "serve", "stop_on_signals"), ".serve"),
    # Lived here before (imported by this module, whose parts moved out).
    **dict.fromkeys(("Engine", "ReplyResult"), "..engine"),
}


def __getattr__(name: str) -> Any:
    if name == "HANDLERS":
        return handlers()
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def cmd_serve(h: Headless, a: argparse.Namespace) -> Outcome:
    """`serve`: JSON-line commands on stdin, each run by `execute` (serve.py)."""
    from .serve import serve

    return await serve(h, a, execute)


async def _cmd_watch(h: Headless, a: argparse.Namespace) -> Outcome:
    """`watch` (serve.py, imported when it runs: no other command needs it)."""
    from .serve import cmd_watch

    return await cmd_watch(h, a)


Handler = Callable[["Headless", argparse.Namespace], Awaitable[Outcome]]


@cache
def handlers() -> dict[str, Handler]:
    """Which function runs which command (`HANDLERS`), its modules imported now."""
    from .chat import CHAT_HANDLERS
    from .keys import KEYS_HANDLERS
    from .mail_verbs import MAIL_HANDLERS
    from .verbs import (
        cmd_contacts,
        cmd_handoff,
        cmd_health,
        cmd_list,
        cmd_outbox,
        cmd_reply,
        cmd_run,
        cmd_search,
        cmd_send,
        cmd_show,
        cmd_sync,
    )

    table: dict[str, Handler] = {
        "sync": cmd_sync, "list": cmd_list, "show": cmd_show, "search": cmd_search,
        "send": cmd_send, "reply": cmd_reply, "handoff": cmd_handoff, "outbox": cmd_outbox,
        "contacts": cmd_contacts, "watch": _cmd_watch, "serve": cmd_serve, "run": cmd_run,
        "health": cmd_health,
        **MAIL_HANDLERS,  # delete, archive, move, copy, flag, tag, undo, save, forward, ...
    }
    table.update(CHAT_HANDLERS)  # -- chat: corrections, reactions, rooms, roster --
    table.update(KEYS_HANDLERS)  # OpenPGP keys (keys.py)
    return table


def read_only(args: argparse.Namespace) -> bool:
    """A command line the store alone answers (reads.ReadOnly, no engine): `list`
    (without --match, a search the engine's mail verbs run), `search`, `show
    --no-fetch` (a body fetched needs a server) and `outbox list`."""
    if args.command == "list":
        return not getattr(args, "match", None)
    if args.command == "show":
        return bool(getattr(args, "no_fetch", False))
    if args.command == "outbox":
        return getattr(args, "outbox_command", None) in (None, "list")
    return args.command == "search"


async def execute(h: Headless | ReadOnly, args: argparse.Namespace) -> Outcome:
    """Run one parsed command; every expected failure becomes an Outcome."""
    from .reads import ReadOnly, cmd_list, cmd_outbox_list, cmd_search, cmd_show

    try:
        if isinstance(h, ReadOnly):  # a command line of `read_only`
            return await {"list": cmd_list, "search": cmd_search, "show": cmd_show,
                          "outbox": cmd_outbox_list}[args.command](h, args)
        return await handlers()[args.command](h, args)
    except Exception as exc:
        outcome = failure(h, exc)
        if outcome is None:
            raise
        return outcome


def failure(h: Headless | ReadOnly, exc: Exception) -> Outcome | None:
    """What an expected failure of a command becomes (None: not one, a bug).

    The kinds are tried in this order, the first that matches answers. Their
    modules are imported here, once a command failed: the identity layer's
    `UnmappedParty` is no import of `list` or `search`, which never raise it.
    """
    import sqlite3

    from ..config import ConfigError, SecretError
    from ..errors import ContactAway, EngineError, describe_presence
    from ..identity import UnmappedParty
    from . import output as out

    if isinstance(exc, CommandError):
        # The message may carry a server's words (an IMAP NO, a socket error).
        return Outcome(exc.code, {"error": str(exc), "detail": exc.detail},
                       [out.t(str(exc)).replace("\n", " ")])
    if isinstance(exc, UnmappedParty):
        return Outcome(EXIT_DECIDE, {"error": "unmapped", "transport": exc.transport,
                                     "unresolved": exc.unresolved}, [out.t(str(exc))])
    if isinstance(exc, ContactAway):
        lines = [out.t(describe_presence(p)) for p in exc.presences]
        lines.append("Choose with --when-away send|defer|email.")
        return Outcome(EXIT_DECIDE, {"error": "away", "presences": exc.presences}, lines)
    if isinstance(exc, (ConfigError, SecretError)):
        return Outcome(EXIT_CONFIG, {"error": str(exc), "kind": "config"}, [out.t(str(exc))])
    if isinstance(exc, (sqlite3.Error, OSError, EngineError)):
        # An engine error may wrap a store that could not be written (a sync's rows).
        cause = exc.__cause__ if isinstance(exc, EngineError) and exc.__cause__ else exc
        line = store_not_writable(cause, h.engine.store_path)
        if line is not None:
            return Outcome(EXIT_STORE, {"error": line, "kind": "store"}, [line])
        if isinstance(exc, EngineError):
            return Outcome(EXIT_FAILED, {"error": str(exc)}, [out.t(str(exc))])
        import socket
        import ssl

        if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError)):
            # A connection that broke where no layer below put it into words.
            text = out.t(f"network: {exc.strerror or exc}").replace("\n", " ")
            return Outcome(EXIT_NETWORK, {"error": text, "kind": "network"}, [text])
        return None
    if isinstance(exc, (LookupError, ValueError)):
        return Outcome(EXIT_FAILED, {"error": str(exc)}, [out.t(str(exc))])
    return None


# Commands that log in to a server; the others only read or change the store.
LOGIN_COMMANDS = {"sync", "send", "reply", "handoff", "watch", "serve", "run", "health",
                  *MAIL_COMMANDS}
LOGIN_COMMANDS |= set(CHAT_COMMANDS)  # every chat command needs the chat server


def logs_in(args: argparse.Namespace) -> bool:
    if args.command == "outbox":
        return getattr(args, "outbox_command", None) in ("retry", "email", "im")
    if args.command == "presence":
        return False  # asks the running clients through the store (presence_wanted)
    if args.command == "contacts":
        return bool(getattr(args, "vcard", False))
    return args.command in LOGIN_COMMANDS


def preflight(config: Config, args: argparse.Namespace) -> None:
    """What the config promises, checked before any command runs: every CA file
    loads and every password_command is there; a command that logs in also gets
    each password it will need now, so a broken one is a config error (file, line,
    key; exit 3) instead of a failure somewhere inside a sync or a daemon."""
    from ..config import SERVICES, check_ca_files, check_password_commands, get_password

    check_ca_files(config)
    check_password_commands(config)
    if not logs_in(args):
        return
    asked: set[str] = set()  # one run per command, however many servers share it
    for account in config.accounts:
        if args.account and account.name != args.account:
            continue
        for service in SERVICES:
            server = account.server(service)
            if server is None:
                continue
            command = server.password_command or account.password_command
            if command is None or command not in asked:
                get_password(account, service)
            if command is not None:
                asked.add(command)


def fail(args: argparse.Namespace, code: int, message: str, kind: str) -> int:
    """An error before or outside a command: one line on stderr, or with --json
    one JSON object (`error`, `kind`, `code`) on stdout like every other failure."""
    from . import output as out

    message = out.t(message).replace("\n", " ")
    if getattr(args, "json", False):
        out.dump_json({"error": message, "kind": kind, "code": code}, sys.stdout)
    else:
        print(f"tuiclient: {kind} error: {message}", file=sys.stderr, flush=True)
    return code


async def _stop_now(closing: asyncio.Future, code: int) -> None:
    """End the process once the engine closed, or after STOP_GRACE if a server
    that does not answer holds it up. A thread blocked on such a server (a TLS
    handshake, a connect) would otherwise keep the interpreter from exiting until
    its socket times out. Leaving early is like a crash, which the store and the
    outbox are built to survive: what was committed is in the store, and a send
    in flight is settled by the next process."""
    import asyncio
    import contextlib
    import os

    with contextlib.suppress(Exception):
        await asyncio.wait({closing}, timeout=STOP_GRACE)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main(args: argparse.Namespace, config: Config) -> int:
    """Entry point from `tuiclient <command>`."""
    import contextlib
    import os
    import sqlite3

    from ..config import ConfigError, SecretError
    from . import output as out

    try:
        preflight(config, args)
    except (ConfigError, SecretError) as exc:
        return fail(args, EXIT_CONFIG, str(exc), "config")
    except KeyboardInterrupt:  # Ctrl-C while a password command runs
        return 130
    if args.command == "outbox" and not getattr(args, "outbox_command", None):
        args.outbox_command = "list"
    if args.command == "contacts" and not getattr(args, "contacts_command", None):
        args.contacts_command = "list"
    for name in ("all", "log"):
        if not hasattr(args, name):
            setattr(args, name, False)

    def unopened(exc: sqlite3.Error | OSError) -> Outcome:
        line = store_not_writable(exc, store_path)
        if line is None:
            raise exc
        return Outcome(EXIT_STORE, {"error": line, "kind": "store"}, [line])

    async def read() -> Outcome:
        """A command the store alone answers: no engine imported or made, and no
        event loop (reads.at_once runs it)."""
        from .reads import ReadOnly

        try:
            h = ReadOnly(config)
        except (sqlite3.Error, OSError) as exc:
            return unopened(exc)
        try:
            return await execute(h, args)
        finally:
            with contextlib.suppress(Exception):
                await h.close()

    async def go() -> Outcome:
        import asyncio

        from .host import Headless

        try:
            h = Headless(config, present=args.command in ("watch", "serve", "run"))
        except (sqlite3.Error, OSError) as exc:
            return unopened(exc)
        if args.command in ("watch", "serve", "run"):
            from .serve import stop_on_signals

            stop_on_signals(h.stop)
        outcome = Outcome(EXIT_FAILED)
        try:
            outcome = await execute(h, args)
            return outcome
        finally:
            closing = asyncio.ensure_future(h.close())
            if h.stop.is_set():
                await _stop_now(closing, outcome.code)
            with contextlib.suppress(Exception):
                await closing
    from ..reader import default_store_path  # (bridge.engine's, without the engine)

    try:
        store_path = default_store_path()
    except OSError as exc:  # the data folder itself cannot be made
        store_path = Path(exc.filename or ".") / "store.db"
        line = store_not_writable(exc, store_path) or f"cannot make {exc.filename}: {exc}"
        return fail(args, EXIT_STORE, line, "store")
    try:
        if read_only(args):
            from .reads import at_once

            outcome = at_once(read())
        else:
            import asyncio

            from ..logs import to_file

            to_file(echo=True)  # a library's warning is not this command's output
            outcome = asyncio.run(go())
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last resort: one line, never a traceback
        if os.environ.get("TUICLIENT_DEBUG"):
            raise
        return fail(args, EXIT_FAILED, f"{type(exc).__name__}: {exc} (TUICLIENT_DEBUG=1 "
                                       "shows where)", "internal")
    if args.command in ("watch", "serve", "run"):
        return outcome.code
    if getattr(args, "json", False):
        if outcome.code in (EXIT_OK, EXIT_NOT_DELIVERED):
            out.dump_json(outcome.result)
        else:
            out.dump_json(dict(outcome.result or {}, code=outcome.code), sys.stdout)
    else:
        stream = sys.stdout if outcome.code in (EXIT_OK, EXIT_NOT_DELIVERED) else sys.stderr
        for line in outcome.lines:
            print(line, file=stream)
    return outcome.code


# With the names of LAZY, imported on first use.
__all__ = [
    "COMMANDS",
    "EXIT_AUTH",
    "EXIT_CONFIG",
    "EXIT_DECIDE",
    "EXIT_FAILED",
    "EXIT_NETWORK",
    "EXIT_NOT_DELIVERED",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_USAGE",
    "LAZY",
    "LOGIN_COMMANDS",
    "STOP_GRACE",
    "CommandError",
    "Outcome",
    "add_commands",
    "build_serve_parser",
    "cmd_serve",
    "execute",
    "fail",
    "handlers",
    "main",
    "parse",
    "preflight",
    "store_not_writable",
]
