"""Snapshots of the list's limit (l): the prompt, and the list under a limit with
its title saying so. The fixed store and clock of test_app_snapshots."""

from __future__ import annotations

from tests.test_app_snapshots import WIDE, make_app


def test_limit_prompt(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["l", *"from:bob"], terminal_size=WIDE)


def test_list_under_a_limit(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["l", *"from:bob", "enter"],
                        terminal_size=WIDE)
