"""[chat] idle_after: how long `serve` waits without a command before it tells the
chat servers nobody is looking (XEP-0352); a duration read like every other."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import ConfigError, load_config
from bridge.headless.serve import SERVE_IDLE


def config(tmp_path: Path, chat: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(chat)
    return path


def test_idle_after_defaults_to_a_minute(tmp_path):
    assert load_config(config(tmp_path, "")).chat.idle_after == SERVE_IDLE == 60.0
    assert load_config(config(tmp_path, "[chat]\nchat_states = true\n")).chat.idle_after == 60.0


@pytest.mark.parametrize(("value", "seconds"), [('"2s"', 2.0), ('"5m"', 300.0), ("30", 30.0)])
def test_idle_after_is_a_duration(tmp_path, value, seconds):
    loaded = load_config(config(tmp_path, f"[chat]\nidle_after = {value}\n"))
    assert loaded.chat.idle_after == seconds


@pytest.mark.parametrize("value", ['"soon"', "0", "true"])
def test_idle_after_refuses_what_is_not_a_duration(tmp_path, value):
    with pytest.raises(ConfigError) as info:
        load_config(config(tmp_path, f"[chat]\nidle_after = {value}\n"))
    assert "chat.idle_after" in str(info.value)
