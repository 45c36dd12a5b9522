"""The code stays clean: ruff's lint rules and mypy's type check, both as configured
in pyproject.toml, run over the repository like CI runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, f"ruff check . failed:\n{result.stdout}{result.stderr}"


def test_mypy_is_clean() -> None:
    # The [tool.mypy] section of pyproject.toml holds the settings; the packages are named
    # here so the test checks the same thing whatever `files` says. bench/ is scripts
    # (no package): its modules are named from the repository's root.
    result = _run("mypy", "--explicit-package-bases", "bridge", "tuiclient", "bench")
    assert result.returncode == 0, \
        f"mypy bridge tuiclient bench failed:\n{result.stdout}{result.stderr}"
