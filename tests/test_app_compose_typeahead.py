"""Keys typed ahead of the screen (a fast typist, a loaded machine, a paste of keys
from tmux) go where they would have gone one at a time: Tab moves to the next field
before the keys after it are read, so text typed after "Tab Tab" lands in the body,
not in the Subject the first Tab reached. And Tab moves on, as in mutt's and aerc's
compose: the completion offered in To is taken with → only, never by Tab (whether it
showed before the Tab or came after it). Against the real servers."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input, TextArea

from tests.others import person
from tests.test_app import alice_app, pilot_until
from tuiclient.screens.compose import NewMessageScreen
from tuiclient.screens.main import MainScreen

pytestmark = pytest.mark.servers


def burst(app, keys: list[str]) -> None:
    """The keys as a terminal hands over what was typed ahead: all in the app's queue
    before it reads the first (Pilot's press waits for each, which hides the race)."""
    for key in keys:
        char = "\t" if key == "tab" else key if len(key) == 1 else None
        app.post_message(events.Key(key, char))


async def test_text_typed_ahead_of_two_tabs_lands_in_the_body(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 32)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        assert await pilot_until(pilot, lambda: screen.focused is screen.query_one("#to"))
        burst(app, [*"bob@example.test", "tab", "tab", *"half a thought"])
        body = screen.query_one("#body", TextArea)
        assert await pilot_until(pilot, lambda: body.text == "half a thought"), (
            screen.query_one("#subject", Input).value, body.text,
            screen.query_one("#to", Input).value, screen.focused)
        assert screen.query_one("#subject", Input).value == ""
        assert screen.query_one("#to", Input).value == "bob@example.test"
        assert screen.focused is body


async def test_tab_leaves_a_completion_offered_in_to_as_typed(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 32)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        to = screen.query_one("#to", Input)
        typed = bob.email[:3]
        await pilot.press(*typed)
        assert await pilot_until(pilot, lambda: to._suggestion == bob.email)
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#subject", Input)
        assert to.value == typed  # Tab moved on; → would have taken the completion
        # Typed and Tab at once: a completion that comes after the Tab takes nothing.
        await pilot.press("shift+tab")
        assert screen.focused is to
        to.value = ""
        burst(app, [*typed, "tab", *"Hi"])
        subject = screen.query_one("#subject", Input)
        assert await pilot_until(pilot, lambda: subject.value == "Hi"), (to.value, subject.value)
        assert to.value == typed


def test_the_engines_refusals_carry_their_hint_as_data() -> None:
    """A reply by email and chat at once that must be encrypted, and history that
    would carry decrypted text in clear: the reason is the engine's, what to do is a
    `Hint` the app says in its keys; the command line's sentence is word for word
    what it was."""
    from bridge.engine_sending import SendingVerbs
    from bridge.errors import EncryptionRefused, Hint
    from tuiclient.replies import in_app_words

    with pytest.raises(EncryptionRefused) as mixed:
        SendingVerbs._encrypted_via("email", mixed=True)
    assert str(mixed.value) == ("not sent: a message by email and chat at once cannot be "
                                "encrypted; send it by email or by chat, or with "
                                "--no-encrypt")
    history = EncryptionRefused("not sent: the history would carry the decrypted text of "
                                "an encrypted email or chat line in clear",
                                hint=Hint("encrypt-or-no-history"))
    assert str(history) == ("not sent: the history would carry the decrypted text of an "
                            "encrypted email or chat line in clear; send it encrypted "
                            "(--encrypt), or without --history")
    for exc in (mixed.value, history):
        said = in_app_words(exc, {})
        assert "--" not in said and "`" not in said, said
    assert "ctrl+g" in in_app_words(mixed.value, {})


async def test_in_an_im_the_subject_is_out_of_tabs_way(world, tmp_path):
    """A new message by IM: Tab from To reaches the text, not the Subject (an
    email's, kept for ctrl+t back, shown disabled)."""
    alice, bob = person(world, "alice"), person(world, "bob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 32)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        screen = app.screen
        assert await pilot_until(pilot, lambda: screen.focused is screen.query_one("#to"))
        await pilot.press("ctrl+t", *"bob", "tab", *"see you")
        body, subject = screen.query_one("#body", TextArea), screen.query_one("#subject", Input)
        assert await pilot_until(pilot, lambda: body.text == "see you"), (
            subject.value, body.text, screen.focused)
        assert subject.value == "" and subject.disabled
        await pilot.press("ctrl+t")  # back to an email: the Subject is a field again
        await pilot.pause()
        assert not subject.disabled
