"""The config's key clash report sees every group of keys live on the main screen,
the triage, email and chat keys of issue #19 included: rebinding `reply_im` to `d`
(delete) is told with the file and line of the rebinding."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_config
from tests.test_config import GOOD, write_good
from tuiclient.keys import DEFAULTS, SCOPES, clashes


@pytest.mark.parametrize(("key", "other"), [("d", "delete"), ("m", "move"), ("T", "tags"),
                                            ("s", "save"), ("b", "bounce"),
                                            ("E", "revisions"), ("Q", "quote_reply")])
def test_a_rebound_key_clashing_with_a_triage_email_or_chat_key(tmp_path: Path, key: str,
                                                                  other: str) -> None:
    text = GOOD + f'\n[keys]\nhelp = "f1"\nreply_im = "{key}"\n'
    path = write_good(tmp_path, text)
    line = text.splitlines().index(f'reply_im = "{key}"') + 1
    config = load_config(path)
    told = [c.describe(config.key_origins) for c in clashes(config.keys)]
    assert told == [f"{path}:{line}: [keys] reply_im takes {key!r}, already {other}'s key "
                    "in the main screen; one of them does nothing"]


def test_every_group_of_keys_is_in_a_scope() -> None:
    groups = {k.where for k in DEFAULTS.values()}
    assert groups <= {g for scope in SCOPES.values() for g in scope}
    assert not clashes({})
