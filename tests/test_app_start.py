"""The app's start: its own command line is read without the commands' parser
(whose verbs and their modules the app does not need), and reads as that parser
would; anything else goes to the parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.headless.cli import parse
from tuiclient.__main__ import app_config, build_parser

ROOT = Path(__file__).resolve().parent.parent

APP = [[], ["--config", "x.toml"], ["--config=x.toml"], ["--config", "dir/with space.toml"]]
NOT_APP = [["--config"], ["--config="], ["--config", "-x"], ["list"], ["--help"], ["-h"],
           ["--config", "x.toml", "list"], ["list", "--config", "x.toml"], ["--conf", "x"],
           ["--config", "a", "--config", "b"], ["config", "check"]]


@pytest.mark.parametrize("argv", APP)
def test_the_apps_command_line_reads_as_the_parser_reads_it(argv):
    app, path = app_config(argv)
    assert app
    full = parse(build_parser(), argv)
    assert full.command is None and full.config == path


@pytest.mark.parametrize("argv", NOT_APP)
def test_anything_else_goes_to_the_parser(argv):
    assert app_config(argv) == (False, None)


def test_the_app_path_loads_no_command_module():
    """What `python -m tuiclient --config FILE` imports before the app's class:
    not the headless commands (their parser, verbs, chat and mail verbs)."""
    code = (
        "import sys, tuiclient.__main__ as m\n"
        "app, path = m.app_config(['--config', 'x.toml'])\n"
        "assert app\n"
        "import tuiclient.app\n"
        "loaded = sorted(n for n in sys.modules if n.startswith('bridge.headless'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_after_the_first_frame_the_collector_is_on_and_the_start_frozen_later():
    """settle_garbage (called at the app's first frame): collection on at once;
    its timer collects and freezes what the start built. In a fresh interpreter,
    not to freeze the test process."""
    code = (
        "import gc, sys\n"
        "from tuiclient.__main__ import FREEZE_AFTER, settle_garbage\n"
        "timers = []\n"
        "class App:\n"
        "    def set_timer(self, delay, callback, name=None):\n"
        "        timers.append((delay, callback))\n"
        "gc.disable()\n"
        "settle_garbage(App())\n"
        "assert gc.isenabled() and gc.get_freeze_count() == 0\n"
        "assert [d for d, _ in timers] == [FREEZE_AFTER]\n"
        "timers[0][1]()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
