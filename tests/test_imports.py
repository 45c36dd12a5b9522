"""The layering of bridge/, read from its source: no import circles, and the
engine is the one door (only the front ends' entry points import it).

Every import counts, also one inside a function or under TYPE_CHECKING: a
lazy import hides a circle from Python, not from the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = ROOT / "bridge"

# Who may import bridge.engine: the front ends' entry points. Headless mode's
# is cli.py (the dispatcher) with host.py (which makes the Engine) and verbs.py
# (which names its ReplyResult); daemon.py is the `run` verb of the same front
# end, and names Engine for its types.
ENGINE_IMPORTERS = {"bridge.headless.cli", "bridge.headless.daemon", "bridge.headless.host",
                    "bridge.headless.verbs"}

# Circles whose fix is still to come. Each entry says what the fix is; the test
# fails when a listed circle is gone too, so the list only shrinks.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in BRIDGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The bridge modules `name` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from pkg import sub` imports the submodule `pkg.sub`; it reads
            # nothing of `pkg` itself when every name is a submodule.
            subs = [f"{origin}.{a.name}" for a in node.names]
            targets = subs if all(t in known for t in subs) else [origin, *subs]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("bridge") and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_the_imports_it_should() -> None:
    edges = graph()
    # Relative, package-relative and `from pkg import module` forms all resolve.
    assert "bridge.engine" in edges["bridge.headless.host"]
    assert "bridge.headless.output" in edges["bridge.headless.cli"]
    assert "bridge.mail.deferred" in edges["bridge.mail.port"]
    assert "bridge.model" in edges["bridge.events"]


def test_bridge_has_no_import_circles() -> None:
    found = cycles(graph())
    unexpected = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    assert not unexpected, f"import circles in bridge/: {unexpected}"
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert not gone, f"these circles are gone: take them off KNOWN_CYCLES: {gone}"


def test_only_the_front_ends_entry_points_import_the_engine() -> None:
    importers = {name for name, targets in graph().items() if "bridge.engine" in targets}
    assert importers <= ENGINE_IMPORTERS, (
        f"{sorted(importers - ENGINE_IMPORTERS)} import bridge.engine: policy and "
        "transports get ports and the store, not the engine")


PROTOCOL_LIBRARIES = {"imapclient", "imaplib", "smtplib", "slixmpp", "aiosmtplib"}
# Where protocol code may live: the transports (their ports included).
PROTOCOL_HOMES = ("bridge.mail", "bridge.xmpp")


def test_protocol_libraries_are_used_only_below_the_ports() -> None:
    for name, path in modules().items():
        if any(name == home or name.startswith(home + ".") for home in PROTOCOL_HOMES):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & PROTOCOL_LIBRARIES, (
                f"{name} imports {sorted(roots & PROTOCOL_LIBRARIES)}: protocol work "
                "belongs in bridge/mail or bridge/xmpp, behind bridge.ports")


def test_bridge_never_imports_the_screen() -> None:
    for name, path in modules().items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & {"textual", "tuiclient"}, f"{name} imports {roots}"
