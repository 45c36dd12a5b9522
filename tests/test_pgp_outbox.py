"""After "by email instead" is refused for want of a key, the TUI's outbox offers
the ways on (issue 23): keep waiting, send in clear (asked once more), or fix
it by importing the key on the keys screen; gpg is the other side, Dovecot,
the SMTP server and Prosody the real servers in between.
"""

from __future__ import annotations

import email

import pytest

from tests.others import until
from tests.test_crypto_fallback import keyless  # noqa: F401 (the fixture)
from tests.test_crypto_mail import raw_mail
from tests.test_headless import cli

pytestmark = pytest.mark.servers


async def test_the_outbox_offers_wait_clear_or_a_key_after_a_refusal(
        world, keyless) -> None:  # noqa: F811 (the fixture)
    from textual.widgets import Input, Static

    from bridge.config import load_config
    from bridge.model import DeliveryState
    from tests.test_app import notes, pilot_until
    from tuiclient.app import TuiClientApp
    from tuiclient.screens.keys import KeyFilePrompt, KeysScreen
    from tuiclient.screens.main import MainScreen
    from tuiclient.screens.outbox import OutboxScreen, RefusedScreen
    from tuiclient.screens.pickers import Confirm

    p = keyless
    p.encrypted_mail("The secret word is xylophone.")
    config = p.config()
    code, _, err = await cli(config, "sync")
    assert code == 0, err
    code, threads, err = await cli(config, "list")
    code, shown, err = await cli(config, "show", threads[0]["thread_id"])
    row = shown["messages"][0]["id"]
    for words in ("Meet me at the pier.", "Second thought: the harbour."):
        code, result, err = await cli(config, "reply", str(row), "--via", "im",
                                      "--when-away", "defer", words)
        assert code == 6, (result, err)  # deferred: bob is offline
    key_file = p.tmp / "bob.asc"
    key_file.write_bytes(p.theirs.export(p.peer.email))

    app = TuiClientApp(load_config(config), probe_on_start=False)
    async with app.run_test(size=(160, 45)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen), 30)
        await pilot.press("O")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        outbox = app.screen
        assert await pilot_until(pilot, lambda: len(outbox.items) == 2)

        async def refused() -> RefusedScreen:
            await pilot.press("e")
            assert await pilot_until(pilot, lambda: isinstance(app.screen, RefusedScreen))
            screen = app.screen
            assert isinstance(screen, RefusedScreen)
            assert screen.missing == [p.peer.email]
            assert p.peer.email in str(screen.query_one(".dialog-title").render())
            return screen

        # Keep waiting: nothing sent, the row as it was.
        await refused()
        await pilot.press("w")
        assert await pilot_until(pilot, lambda: app.screen is outbox)
        # In clear, but "no" at the question: nothing sent either.
        await refused()
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "anyone on its way" in str(app.screen.query_one(".dialog-help",
                                                                Static).render())
        await pilot.press("n")
        assert await pilot_until(pilot, lambda: app.screen is outbox)
        await pilot.pause(0.5)
        assert raw_mail(world, p.peer) == []
        assert [i.state for i in outbox.items] == [DeliveryState.DEFERRED] * 2
        # In clear, confirmed: the newest goes, in clear.
        await refused()
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await until(lambda: raw_mail(world, p.peer), 20, "bob's copy in clear")
        assert b"harbour" in raw_mail(world, p.peer)[0]
        assert await pilot_until(pilot, lambda: len(outbox.items) == 1)

        # Fix it: the keys screen, i imports bob's key, then e sends it encrypted.
        await refused()
        await pilot.press("k")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, KeysScreen))
        await pilot.press("i")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, KeyFilePrompt))
        app.screen.query_one("#key-file", Input).value = str(key_file)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("1 imported" in n for n in notes(app))), \
            notes(app)
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: app.screen is outbox)
        await pilot.press("e")
        await until(lambda: len(raw_mail(world, p.peer)) == 2, 20, "bob's sealed copy")
    sealed = next(w for w in raw_mail(world, p.peer) if b"harbour" not in w)
    assert b"pier" not in sealed
    assert email.message_from_bytes(sealed).get_content_type() == "multipart/encrypted"
    assert b"Meet me at the pier." in p.decrypt(sealed)
