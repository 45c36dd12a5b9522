"""The options every headless verb takes (`--json`, `--account`), for the verbs and
for the sub-commands under them (`draft list`, `outbox retry`, `contacts map`).

A sub-command's parser copies every attribute it sets onto the verb's namespace,
its defaults included, so a plain default there would undo `draft --json list`:
under a verb the options default to "not set" (argparse.SUPPRESS), and the verb's
own parser gives the defaults. Both orders then work.
"""

from __future__ import annotations

import argparse
from typing import Any


def common_options(*, nested: bool = False) -> argparse.ArgumentParser:
    """The shared options as a parent parser; `nested` for a sub-command's."""
    common = argparse.ArgumentParser(add_help=False)
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if nested else {}
    common.add_argument("--json", action="store_true", help="print JSON for programs",
                        **unset)
    common.add_argument("--account", help="the account (default: the first one)", **unset)
    return common
