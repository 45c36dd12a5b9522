"""Row 8 of issue 22 by import: the app's memory as its start loads each stage.

    python -m bench.bench_rss_imports [--stages N]

In a fresh interpreter each (so one stage's pages are not counted for the next
tree), imports the stages the app loads, in the order it loads them (the
first frame's modules, then what `Engine.start` imports in its thread: the mail
stack, the outbox and the handoff, slixmpp with the plugins its session
registers, python-omemo with OMEMO on; then GPGME's binding, loaded on the first
OpenPGP message), and prints VmRSS (/proc/self/status) after each, with what the
stage added and how many modules. No servers, no data: what is left of the
app's RSS above the last line is data (the store's caches, the screen).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STAGES: list[tuple[str, list[str]]] = [
    ("Textual (textual.app)", ["textual.app"]),
    ("the first frame's modules (tuiclient.app)", ["tuiclient.app"]),
    ("the mail stack (bridge.mail.port)", ["bridge.mail.port"]),
    ("the outbox and the handoff", ["bridge.outbox", "bridge.handoff.policy"]),
    ("slixmpp and our client (bridge.xmpp.client)", ["bridge.xmpp.client"]),
    ("the slixmpp plugins the session registers", ["PLUGINS"]),
    ("OMEMO: slixmpp-omemo, python-omemo", ["slixmpp.plugins.xep_0380",
                                            "bridge.xmpp.omemo_plugin"]),
    ("GPGME's binding (gpg)", ["gpg"]),
]

CHILD = """
import importlib, sys
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS'):
                return int(line.split()[1]) / 1024
    return 0.0
stages = {stages!r}
prev = rss()
print(f"{{'python':46s}} {{prev:6.1f}} MiB")
for label, names in stages:
    if names == ["PLUGINS"]:
        from bridge.xmpp.core import PLUGINS
        names = [f"slixmpp.plugins.{{p}}" for p in PLUGINS if p.startswith("xep_")]
    before = len(sys.modules)
    for name in names:
        importlib.import_module(name)
    now = rss()
    print(f"{{label:46s}} {{now:6.1f}} MiB  +{{now - prev:5.1f}}  "
          f"({{len(sys.modules) - before}} modules)")
    prev = now
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", type=int, default=len(STAGES), help="the first N stages only")
    args = ap.parse_args()
    code = CHILD.format(stages=STAGES[:args.stages])
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
