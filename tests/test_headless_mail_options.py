"""Headless mail verbs, the options the older tests left out: `--json` and
`--account` before or after a sub-command (`draft --json list`), against the real
Dovecot; the parse of every nested sub-command in both orders.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from bridge.headless.cli import EXIT_OK
from tests.others import person
from tests.test_headless import REPO_ROOT, cli, write_config
from tuiclient.__main__ import build_parser

NESTED = (("draft", "list"), ("draft", "send", "3"), ("draft", "save", "--to", "a@b", "hi"),
          ("outbox", "list"), ("outbox", "retry", "4"), ("contacts", "list"),
          ("contacts", "unmap", "a@b"))


@pytest.mark.parametrize("argv", NESTED, ids=lambda a: " ".join(a[:2]))
def test_json_and_account_before_or_after_a_sub_command(argv):
    parser = build_parser()
    verb, rest = argv[0], list(argv[1:])
    for line in ([verb, "--json", "--account", "work", *rest],
                 [verb, *rest, "--json", "--account", "work"],
                 [verb, "--json", *rest, "--account", "work"]):
        args = parser.parse_args(line)
        assert (args.json, args.account) == (True, "work"), line
    args = parser.parse_args([verb, *rest])
    assert (args.json, args.account) == (False, None)


async def run(config, *argv: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "tuiclient", "--config", str(config), *argv],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


@pytest.mark.servers
async def test_draft_options_before_the_sub_command(world, tmp_path):
    alice, carol = person(world, "alice"), person(world, "carol")
    config = write_config(world, tmp_path, alice)
    code, _, err = await cli(config, "draft", "save", "--to", carol.email, "--subject",
                             "Later", "Half a thought")
    assert code == EXIT_OK, err
    done = await run(config, "draft", "--json", "list")
    assert done.returncode == EXIT_OK, done.stderr
    assert [d["subject"] for d in json.loads(done.stdout)] == ["Later"]
    # An account that does not exist is refused, not quietly the first one.
    done = await run(config, "draft", "--account", "nobody", "list")
    assert done.returncode != EXIT_OK and "nobody" in done.stderr + done.stdout
