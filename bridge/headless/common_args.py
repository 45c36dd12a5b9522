"""The options every headless verb takes (`--json`, `--account`), for the verbs and
for the sub-commands under them (`draft list`, `outbox retry`, `contacts map`).

A sub-command's parser copies every attribute it sets onto the verb's namespace,
its defaults included, so a plain default there would undo `draft --json list`:
under a verb the options default to "not set" (argparse.SUPPRESS), and the verb's
own parser gives the defaults. Both orders then work.

`Maker` is what the tables of verbs (arguments.PARSERS, mail_args.MAIL_PARSERS,
chat_args.CHAT_PARSERS) hold for each verb: the function that adds its parser,
given the shared options as the verb's parents (`common`) and its sub-commands'
(`inner`). The command line makes a verb's parser only when it is needed
(arguments.add_commands).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Sub = argparse._SubParsersAction
Parser = argparse.ArgumentParser
# (the verbs' sub-parsers, the verb's parents, its sub-commands' parents)
Maker = Callable[[Sub, Parser, Parser], None]


def plain(add: Callable[[Sub, Parser], None]) -> Maker:
    """The Maker of a verb without sub-commands (its `add_...(sub, common)`)."""
    return lambda sub, common, inner: add(sub, common)


def common_options(*, nested: bool = False) -> argparse.ArgumentParser:
    """The shared options as a parent parser; `nested` for a sub-command's."""
    common = argparse.ArgumentParser(add_help=False)
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if nested else {}
    common.add_argument("--json", action="store_true", help="print JSON for programs",
                        **unset)
    common.add_argument("--account", help="the account (default: the first one)", **unset)
    return common
