"""The send side's check that a reaction is one emoji (bridge/emoji_shape.py):
what a person reacts with passes, words and two emoji do not. The servers' side
of it (a refused `react` sends nothing) is in test_headless_chat and
test_app_chat."""

from __future__ import annotations

import pytest

from bridge.emoji_shape import is_emoji
from bridge.errors import not_an_emoji

EMOJI = ["👍", "👍🏽", "❤️", "❤", "🇫🇷", "1️⃣", "#⃣", "👨‍👩‍👧", "🏃🏽‍♀️", "🎉", "😀", "☺️",
         "©️", "🫠", "🟢", "👁️‍🗨️", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"]
NOT = ["ok", ":)", "✓", "👍👍", "a", "", "1", "🇫", "→", "─", "★", "😀x", "🅲", "+1", "👍 ok"]


@pytest.mark.parametrize("text", EMOJI)
def test_one_emoji_is_a_reaction(text: str) -> None:
    assert is_emoji(text)


@pytest.mark.parametrize("text", NOT)
def test_words_and_two_emoji_are_not(text: str) -> None:
    assert not is_emoji(text)


def test_the_refusal_is_one_line() -> None:
    said = not_an_emoji("ok\nthen")
    assert "\n" not in said and "is not an emoji" in said
