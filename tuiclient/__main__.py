"""`tuiclient`: open the app, or run a command without a screen.

Commands never import Textual, so they run where no terminal UI can. The app's own
command line (nothing, or only `--config FILE`) is read without the commands'
parser, whose verbs the app does not need (`app_config`); anything else goes
through that parser.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuiclient.app import TuiClientApp

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONFIG = 3
FREEZE_AFTER = 2.0  # seconds after the app's first frame (settle_garbage)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuiclient", description="Email and XMPP side by side, in the terminal.")
    parser.add_argument("--config", type=Path, default=None,
                        help="config file (default: $XDG_CONFIG_HOME/tuiclient/config.toml)")
    sub = parser.add_subparsers(dest="command")
    config = sub.add_parser("config", help="inspect the config file")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("check", help="load the config and print what it holds")
    from bridge.headless.cli import add_commands

    add_commands(sub)
    return parser


def app_config(argv: list[str]) -> tuple[bool, Path | None]:
    """(True, the --config path or None) when `argv` opens the app and nothing else:
    `[]`, `--config FILE` or `--config=FILE`, as the whole parser reads them; else
    (False, None) and the whole parser reads it (a command, --help, an error)."""
    if not argv:
        return True, None
    if len(argv) == 2 and argv[0] == "--config" and not argv[1].startswith("-"):
        return True, Path(argv[1])
    if len(argv) == 1 and argv[0].startswith("--config=") and len(argv[0]) > 9:
        return True, Path(argv[0][9:])
    return False, None


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:
        gc.enable()  # (held off while the app starts, see below)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    app, path = app_config(argv)
    if app:
        args = argparse.Namespace(config=path, command=None)
        # The app's start allocates much and frees little (imports, CSS, the first
        # screen): no garbage collection until its first frame (settle_garbage).
        # CPU to the first frame, 7 runs each: 432 ms with it, 415 ms without.
        # (A command's start gains nothing from it: same CPU for --help and list.)
        gc.disable()
    else:
        from bridge.headless.cli import parse

        args = parse(build_parser(), argv)
    from bridge.config import ConfigError, check_ca_files, describe, load_config

    try:
        config = load_config(args.config)
        # A CA file that holds no certificate is a config error here, for the app
        # and `config check` too, not a TLS failure at every connection.
        check_ca_files(config)
    except ConfigError as exc:
        if args.command not in (None, "config"):
            from bridge.headless.cli import fail

            return fail(args, EXIT_CONFIG, str(exc), "config")
        print(f"tuiclient: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    if args.command == "config":
        print(describe(config))
        return EXIT_OK

    if args.command is not None:
        from bridge.headless.cli import main as headless

        return headless(args, config)

    from bridge.logs import to_file
    from tuiclient.app import TuiClientApp

    to_file()  # never over the screen
    tui = TuiClientApp(config)
    tui.when_drawn.append(lambda: settle_garbage(tui))
    # What the imports and the app's construction made (~70,000 objects, nearly
    # all of them living as long as the app) stays out of the collector's walks
    # from here on (settle_garbage's collection takes it back in): with the
    # collector on after the first frame, the imports that follow it (the mail
    # stack, in the engine's thread) set off full collections of everything,
    # 15-45 ms each, while INBOX's first page waited (issue 22, row 1).
    gc.freeze()
    tui.run()
    return EXIT_OK


def settle_garbage(tui: TuiClientApp) -> None:
    """After the app's first frame: garbage collection on again, and FREEZE_AFTER
    later (the engine started, the screen filled) one collection, after which what
    is left, most of it living as long as the app (modules, styles, widgets, the
    engine: ~150,000 objects), leaves the collector's generations (`gc.freeze`).
    A full collection, which a screen of many new rows triggers, then walks only
    what came after: the roster screen of 1,000 contacts opened in a median of
    172-254 ms instead of 212-433 ms (bench_chat's row 10 setting, 10 opens a
    round, 4 rounds alternating, load 2.7-4.4)."""
    gc.enable()

    def freeze() -> None:
        gc.unfreeze()  # (what `_main` froze before the first frame: its garbage too)
        gc.collect()
        gc.freeze()

    tui.set_timer(FREEZE_AFTER, freeze, name="freeze the start")


if __name__ == "__main__":
    sys.exit(main())
