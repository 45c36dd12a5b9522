"""The chat bench (bench/bench_chat.py) at a tiny size, so its code cannot rot: every
moment of rows 9-11 is reached, ours and the wire floor's, with the real servers
and the real TUI in tmux. No timing is asserted; Profanity's MAM moment is allowed
not to come (Profanity 0.13 shows an archive from its oldest end)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.servers


# The bench as `python -m bench.bench_chat` runs it, but waiting PROFANITY_WAIT seconds
# (not the bench's 30) for Profanity's MAM moment: it does not come (see above), and
# the wait for it was most of this test's time.
PROFANITY_WAIT = 5.0
BENCH = ("import sys; import bench.bench_chat as bench; "
         f"bench.PROFANITY_TIMEOUT = {PROFANITY_WAIT}; sys.exit(bench.main(sys.argv[1:]))")


def test_the_chat_bench_reaches_every_moment_at_a_tiny_size() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BENCH, "--lines", "60", "--contacts", "12",
         "--file-kb", "16", "--runs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    table = "\n".join(rows)
    for number in ("9", "10", "11"):
        assert any(r.startswith(f"| {number} |") for r in rows), table
    # Every figure of ours and of the floors came; the ratio column is filled.
    for who in ("TUI, empty store: newest line on screen", "engine, empty store",
                "engine: start() to all lines stored", "wire floor: login + newest page",
                "wire floor: login + whole archive", "TUI: launch, `:roster`",
                "TUI, logged in: `:roster`", "engine: start() until roster()",
                "wire floor: login + roster get", "Profanity: launch until its roster",
                "TUI: Enter that sends", "engine: reply(via=im", "wire floor, connected",
                "go-sendxmpp"):
        assert who in table, (who, table)
    reached = [r for r in rows if "not reached" in r]
    assert all("Profanity /mam on" in r for r in reached), "\n".join(reached)
    assert "12 contacts" in table and "60 stored" in table, table
