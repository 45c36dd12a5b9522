"""Headless mode's walls: the command line and the rules daemon (bridge/headless/)
go through the engine's door, as the TUI does (tests/test_app_layering.py).

The rule, read from the code under bridge/headless/:

- No `engine.X` (nor getattr/hasattr/setattr of it) where X is one of the
  engine's parts: `store`, `identity`, `xmpp`, `mail`, `ports`, `outbox`,
  `handoff`, `mailbox`; nor `engine._anything`. What a command needs of them
  is an Engine call (`find_thread`, `outbox_item`, `message_count`,
  `chat_online`, `contact_for`, `map_contact`, `logged_events`, `store_path`...).
  Allowed are the engine's calls and the three things every front end shares:
  `engine.events` (the bus it listens to), `engine.config` (what it was given)
  and `engine.health` (the monitor, whose probe and report the TUI shows too).
- Of bridge/, a headless module imports only: bridge.engine (the entry points,
  see tests/test_imports.py) and bridge.reader (the engine's reads over the
  store alone, for the verbs that only read it: reads.py), the vocabulary
  every layer shares (bridge.model, bridge.events, bridge.errors),
  bridge.config (the front end loads and checks its own config; the rules
  file uses the same reader), bridge.paths, bridge.logs (where a front end's
  log records go), bridge.safe, and from bridge.identity only the address grammar and the
  question it asks (`normalize_email`, `normalize_jid`, `UnmappedParty`).
  Never bridge.store, bridge.xmpp, bridge.mail, bridge.outbox, bridge.handoff,
  bridge.health, bridge.delivery, bridge.ports: those are behind the door.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADLESS = ROOT / "bridge" / "headless"

HIDDEN = {"store", "identity", "xmpp", "mail", "ports", "outbox", "handoff", "mailbox"}
# bridge.emoji_shape: what text is one emoji (a pure function, as bridge.safe's),
# for `react` to refuse other text as a usage error before it connects.
ALLOWED_MODULES = {"bridge.engine", "bridge.reader", "bridge.model", "bridge.events",
                   "bridge.errors", "bridge.config", "bridge.paths", "bridge.safe",
                   "bridge.emoji_shape", "bridge.logs"}
ALLOWED_NAMES = {"bridge.identity": {"normalize_email", "normalize_jid", "UnmappedParty"}}


def sources(under: Path = HEADLESS) -> list[Path]:
    return sorted(under.rglob("*.py"))


def is_engine(node: ast.expr) -> bool:
    """`engine`, `self.engine`, `h.engine`, `self.h.engine`..."""
    return (isinstance(node, ast.Name) and node.id == "engine") or \
        (isinstance(node, ast.Attribute) and node.attr == "engine")


def hidden(name: str) -> bool:
    return name in HIDDEN or name.startswith("_")


def reaches_past_the_engine(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and is_engine(node.value) and hidden(node.attr):
            found.append(f"{path.name}:{node.lineno}: engine.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2 \
                and is_engine(node.args[0]) and isinstance(node.args[1], ast.Constant):
            name = str(node.args[1].value)
            if hidden(name):
                found.append(f"{path.name}:{node.lineno}: {node.func.id}(engine, {name!r})")
    return found


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def bridge_imports(path: Path, name: str = "") -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of a bridge module, wherever it is
    (in a function, under TYPE_CHECKING): relative ones resolved from `name`,
    the module's dotted name (by default, where the file is)."""
    name = name or module_of(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names
                      if a.name.split(".")[0] == "bridge"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if origin.split(".")[0] == "bridge":
                found.append((node.lineno, origin, [a.name for a in node.names]))
    return found


def forbidden_imports(path: Path, name: str = "") -> list[str]:
    found = []
    for line, origin, names in bridge_imports(path, name):
        if origin == "bridge.headless" or origin.startswith("bridge.headless."):
            continue
        if any(origin == m or origin.startswith(m + ".") for m in ALLOWED_MODULES):
            continue
        allowed = ALLOWED_NAMES.get(origin)
        if allowed is not None and names and set(names) <= allowed:
            continue
        found.append(f"{path.name}:{line}: {origin} {names or ''}".rstrip())
    return found


def test_headless_reads_through_the_engine_only():
    found = [hit for path in sources() for hit in reaches_past_the_engine(path)]
    assert not found, found
    # And as text, for what the tree walk would not see (a string, a comment).
    words = [f"{path.name}: {m.group(0)}" for path in sources() for m in
             re.finditer(r"\bengine\.(_\w*|(" + "|".join(sorted(HIDDEN)) + r")\b)",
                         path.read_text())]
    assert not words, words


def test_headless_imports_only_what_the_door_lets_through():
    found = [hit for path in sources() for hit in forbidden_imports(path)]
    assert not found, found


def test_the_walks_catch_what_they_look_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(self, h, engine):\n    engine.store.x()\n"
                   "    h.engine.xmpp['a']\n    self.engine._imap\n"
                   "    getattr(h.engine, 'identity', None)\n    self.h.engine.outbox.tick()\n"
                   "    h.engine.events.subscribe(print)\n    engine.config.path\n")
    assert sorted(h.split(": ", 1)[1] for h in reaches_past_the_engine(bad)) == [
        "engine._imap", "engine.outbox", "engine.store", "engine.xmpp",
        "getattr(engine, 'identity')"]
    mod = tmp_path / "probe.py"
    mod.write_text("from ..store import Store\nfrom ..identity import Identity\n"
                   "from ..identity import UnmappedParty, normalize_jid\n"
                   "from ..model import Message\nfrom .output import dump_json\n"
                   "import bridge.xmpp.client\nfrom bridge.config.reader import parse_toml\n"
                   "def f():\n    from ..mail.sync import MailSync\n")
    hits = forbidden_imports(mod, "bridge.headless.probe")
    assert [h.split(": ", 1)[1].split(" ")[0] for h in hits] == [
        "bridge.store", "bridge.identity", "bridge.xmpp.client", "bridge.mail.sync"]


# -- a command imports what it needs -------------------------------------------------------

PROBE = """
import json, sys
from tuiclient.__main__ import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:  # --help
    code = exc.code
wanted = {"slixmpp", "imapclient", "textual"}
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "loaded": sorted({m.split(".")[0] for m in sys.modules} & wanted)},
              out)
"""

CONFIG = """
[[accounts]]
name = "alice"
email = "alice@example.test"
jid = "alice@example.test"
password_command = "echo secret"

[accounts.imap]
host = "127.0.0.1"
port = 1
tls = "plain"

[accounts.xmpp]
host = "127.0.0.1"
port = 3
"""


def loaded_by(tmp_path: Path, *argv: str) -> dict:
    """Run `tuiclient ARGV` in a fresh interpreter; its exit code and which of the
    protocol and screen libraries it imported."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    report = tmp_path / "report.json"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", PROBE, str(report), "--config", str(config), *argv],
                   env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=60, check=False)
    return json.loads(report.read_text())


def test_the_commands_that_read_the_store_load_no_protocol_library(tmp_path):
    """`list`, `show` and `search` read the store through an engine that never goes
    online: neither slixmpp nor imapclient is imported (the engine imports them
    when an account starts or a mail action runs)."""
    for argv in (["list", "--json"], ["show", "1", "--json", "--no-fetch"],
                 ["search", "hello", "--json"]):
        got = loaded_by(tmp_path, *argv)
        assert got["code"] in (0, 1), (argv, got)  # `show 1` of an empty store: exit 1
        assert got["loaded"] == [], (argv, got)


def test_help_loads_no_protocol_library(tmp_path):
    """`tuiclient --help` builds the parser only: no engine, no transports."""
    got = loaded_by(tmp_path, "--help")
    assert got == {"code": 0, "loaded": []}
