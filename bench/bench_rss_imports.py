"""Row 8 of issue 22 by import: the app's memory as its start loads each stage.

    python -m bench.bench_rss_imports [--stages N] [--omemo]

In a fresh interpreter each (so one stage's pages are not counted for the next
tree), imports the stages the app loads, in the order it loads them (the
first frame's modules, then what `Engine.start` imports in its thread: the mail
stack, the outbox and the handoff, slixmpp with the plugins its session
registers, our OMEMO plugin with OMEMO on; then python-omemo's stack, loaded
when an account first needs it (bridge/xmpp/omemo_plugin.py: a sealed line, an
OMEMO line coming, `keys`, our device missing from the server); then GPGME's
binding, loaded on the first OpenPGP message), and prints VmRSS
(/proc/self/status) after each, with what the stage added and how many
modules, split into anonymous pages (the heap: code objects, module dicts,
tables) and file pages (the shared libraries' text,
shared with other processes that map the same file). No servers, no data: what
is left of the app's RSS above the last line is data (the store's caches, the
screen).
`--omemo` splits the OMEMO stage by library, each step in the order of their
dependencies so that it counts only what it adds (cryptography before the
libraries built on it, xmlschema before the schemas oldmemo and twomemo build).
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
    ("the outbox and the handoff", ["bridge.outbox", "bridge.handoff.reply"]),
    ("slixmpp and our client (bridge.xmpp.client)", ["bridge.xmpp.client"]),
    ("the slixmpp plugins the session registers", ["PLUGINS"]),
    ("OMEMO at login: xep_0380, ours (omemo_plugin)", ["slixmpp.plugins.xep_0380",
                                                       "bridge.xmpp.omemo_plugin"]),
    ("OMEMO's stack, at first need (omemo_stack)", ["bridge.xmpp.omemo_stack"]),
    ("GPGME's binding (gpg)", ["gpg"]),
]

OMEMO_STAGE = 7  # the index of the stage OMEMO_STEPS split (the stack's)

OMEMO_STEPS: list[tuple[str, list[str]]] = [
    ("  cryptography (its Rust binding, OpenSSL)", [
        "cryptography.hazmat.bindings._rust",
        "cryptography.hazmat.primitives.asymmetric.x25519",
        "cryptography.hazmat.primitives.asymmetric.ed25519",
        "cryptography.hazmat.primitives.ciphers",
        "cryptography.hazmat.primitives.hmac",
        "cryptography.hazmat.primitives.kdf.hkdf",
        "cryptography.hazmat.primitives.padding"]),
    ("  pydantic, pydantic-core (BaseModel)", ["pydantic.main"]),
    ("  xeddsa (libxeddsa)", ["xeddsa"]),
    ("  x3dh", ["x3dh"]),
    ("  doubleratchet", ["doubleratchet"]),
    ("  python-omemo (omemo)", ["omemo", "omemo.session_manager"]),
    ("  protobuf (upb)", ["google.protobuf.message", "google.protobuf.descriptor_pool",
                          "google.protobuf.internal.builder"]),
    ("  oldmemo, twomemo (their protobuf classes)", ["oldmemo", "twomemo"]),
    ("  elementpath (XPath, for xmlschema)", ["elementpath"]),
    ("  xmlschema", ["xmlschema"]),
    ("  oldmemo.etree, twomemo.etree (6 schemas)", ["oldmemo.etree", "twomemo.etree"]),
    ("  slixmpp-omemo, our concrete plugin", ["slixmpp_omemo", "bridge.xmpp.omemo_stack"]),
]

CHILD = """
import importlib, sys
def rss():
    kb = {{}}
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(('VmRSS', 'RssAnon', 'RssFile')):
                kb[line.split(':')[0]] = int(line.split()[1]) / 1024
    return kb.get('VmRSS', 0.0), kb.get('RssAnon', 0.0), kb.get('RssFile', 0.0)
stages = {stages!r}
prev, prev_anon, prev_file = rss()
print(f"{{'python':46s}} {{prev:6.1f}} MiB  {{'':21s}}  "
      f"anon {{prev_anon:5.1f}}  file {{prev_file:5.1f}}")
for label, names in stages:
    if names == ["PLUGINS"]:
        from bridge.xmpp.core import PLUGINS
        names = [f"slixmpp.plugins.{{p}}" for p in PLUGINS if p.startswith("xep_")]
    before = len(sys.modules)
    for name in names:
        importlib.import_module(name)
    now, anon, file = rss()
    print(f"{{label:46s}} {{now:6.1f}} MiB  +{{now - prev:5.1f}}  "
          f"({{len(sys.modules) - before:3d}} modules)  "
          f"anon +{{anon - prev_anon:4.1f}}  file +{{file - prev_file:4.1f}}")
    prev, prev_anon, prev_file = now, anon, file
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", type=int, default=len(STAGES), help="the first N stages only")
    ap.add_argument("--omemo", action="store_true",
                    help="the OMEMO stage split by library (OMEMO_STEPS)")
    args = ap.parse_args()
    stages = STAGES[:args.stages]
    if args.omemo and len(stages) > OMEMO_STAGE:
        stages = stages[:OMEMO_STAGE] + OMEMO_STEPS + stages[OMEMO_STAGE + 1:]
    code = CHILD.format(stages=stages)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
