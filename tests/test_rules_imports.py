"""The rules file is read by the config's own reader, through its public names:
headless/rules.py (and the rules_* modules it is made of) import nothing private
from bridge.config, nor from its modules."""

from __future__ import annotations

import ast
from pathlib import Path

HEADLESS = Path(__file__).resolve().parent.parent / "bridge" / "headless"
RULES = sorted(HEADLESS.glob("rules*.py"))


def _config_imports(tree: ast.Module) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            # `from ..config import x` inside bridge/headless is bridge.config too.
            if node.level == 2 and (module == "config" or module.startswith("config.")):
                module = "bridge." + module
            if module == "bridge.config" or module.startswith("bridge.config."):
                found += [(module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, alias.name) for alias in node.names
                      if alias.name == "bridge.config" or alias.name.startswith("bridge.config.")]
    return found


def test_rules_imports_only_public_names_from_config() -> None:
    assert HEADLESS / "rules.py" in RULES
    imports = []
    for path in RULES:
        imports += _config_imports(ast.parse(path.read_text(), str(path)))
    assert ("bridge.config.reader", "TomlReader") in imports, \
        "the rules file is no longer read by bridge.config's reader"
    private = [f"{module}.{name}" for module, name in imports
               if name.startswith("_") or any(p.startswith("_") for p in module.split("."))]
    assert not private, f"the rules import private names from bridge.config: {private}"


def test_rules_have_no_reader_of_their_own() -> None:
    # The TOML reading (file, syntax errors, line locator) is the config's; a copy
    # here would drift from it.
    for path in RULES:
        source = path.read_text()
        assert "tomllib" not in source, path.name
        assert "class _Locator" not in source and "def _syntax_error" not in source, path.name
