"""The reply editor as mutt users expect it (issue 21), against the real
servers: replying to an email shows its To and Cc as fields to edit and the
original quoted ("On DATE, NAME wrote:", "> " lines) in a box to trim; what is
sent is what was left there. An emptied To and Cc is refused before sending.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from tests.others import person, send_email, wait_inbox
from tests.test_app import alice_app, go_to_row, listing, notes, pilot_until
from tuiclient.screens.compose import ComposeScreen
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers


async def test_reply_shows_the_quote_and_editable_to_and_cc(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    send_email(world, bob, [alice.email], [], "Plans", "Line one.\nLine two.")
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 45), notifications=True) as pilot:
        assert await pilot_until(pilot, lambda: any(t.subject == "Plans"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Plans")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: app.screen.query_one(Timeline).current
                                 is not None)
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen), 20)
        compose = app.screen
        await pilot.pause()
        to, cc = compose.query_one("#reply-to", Input), compose.query_one("#reply-cc", Input)
        quote = compose.query_one("#quote", TextArea)
        assert to.value == f"{bob.display_name} <{bob.email}>" and cc.value == ""
        assert quote.text.splitlines()[0].endswith(f"{bob.display_name} wrote:")
        assert quote.text.splitlines()[1:] == ["> Line one.", "> Line two."]

        # Nobody to send it to: refused in words, nothing sent.
        to.value = ""
        await pilot.press(*"Sounds fine.", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ComposeScreen)
        assert any("nobody to go to" in n for n in notes(app))

        # carol added in Cc, the quote trimmed to its second line, then sent.
        to.value = bob.email
        cc.value = f"Carol <{carol.email}>"
        quote.text = "\n".join(line for line in quote.text.splitlines() if "one" not in line)
        compose.query_one("#body", TextArea).focus()
        await pilot.press("ctrl+s")
        for who in (bob, carol):
            (got,) = await wait_inbox(world, who, lambda m: m["Subject"] == "Re: Plans", 30)
            text = got.get_body(("plain",)).get_content().replace("\r\n", "\n")
            assert text.startswith("Sounds fine.\n\nOn ") and "> Line two." in text, text
            assert "Line one." not in text, text
            assert got["Cc"].addresses[0].addr_spec == carol.email
            assert [a.addr_spec for a in got["To"].addresses] == [bob.email]
