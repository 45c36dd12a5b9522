"""Address fields hold names with commas: `"Doe, Jo" <jo@x>` is one address in every
compose field (new message, Cc, forward, the bounce prompt), read by the stdlib's
getaddresses (tuiclient.widgets.addresses.split_addresses), and completion after
such a name completes the next address; checked as the recipients' own clients see
the mail on the real Dovecot and SMTP server."""

from __future__ import annotations

from email.utils import getaddresses

import pytest
from textual.widgets import Input, TextArea

from tests.others import person, send_email, wait_inbox
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tuiclient.screens.compose import ForwardScreen, NewMessageScreen
from tuiclient.screens.main import MainScreen
from tuiclient.screens.pickers import ToPrompt
from tuiclient.widgets.addresses import (
    AddressSuggester,
    format_address,
    last_item,
    split_addresses,
)
from tuiclient.widgets.timeline import Timeline


def test_split_keeps_a_quoted_comma_and_completion_skips_it():
    assert split_addresses('"Doe, Jo" <jo@x.test>, bob@y.test,') == \
        ['"Doe, Jo" <jo@x.test>', "bob@y.test"]
    assert split_addresses("Jörg Ü <j@x.test>") == ["Jörg Ü <j@x.test>"]  # no RFC 2047
    assert format_address('Jo "JJ" Doe', "jo@x.test") == '"Jo \\"JJ\\" Doe" <jo@x.test>'
    assert last_item('"Doe, Jo" <jo@x.test>, ca') == ('"Doe, Jo" <jo@x.test>,', " ca")
    assert last_item('"Doe, J') == ("", '"Doe, J')


async def test_completion_after_a_name_with_a_comma():
    s = AddressSuggester(["carol@example.test", "jo@x.test"], {"jo@x.test": "Doe, Jo"})
    assert await s.get_suggestion('"Doe, Jo" <jo@x.test>, car') == \
        '"Doe, Jo" <jo@x.test>, carol@example.test'
    assert await s.get_suggestion('"Doe, J') == "jo@x.test"


def parties(header) -> list[tuple[str, str]]:
    return getaddresses([str(header)])


@pytest.mark.servers
async def test_names_with_commas_in_new_message_forward_and_bounce(world, tmp_path):
    alice, bob, carol, dave = (person(world, n) for n in ("alice", "bob", "carol", "dave"))
    send_email(world, bob, [alice.email], [], "Plans", "The plans.")
    app = alice_app(world, tmp_path, alice, bob, carol, dave)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))

        # A new message: To and Cc with a name holding a comma.
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        compose = app.screen
        compose.query_one("#to", Input).value = f'"Doe, Carol" <{carol.email}>, {dave.email}'
        await pilot.press("ctrl+b")
        compose.query_one("#cc", Input).value = f'"Builder, Bob" <{bob.email}>'
        compose.query_one("#subject", Input).value = "Commas"
        compose.query_one("#body", TextArea).text = "Names with commas."
        await pilot.press("ctrl+s")
        for who in (carol, dave, bob):
            (got,) = await wait_inbox(world, who, lambda m: m["Subject"] == "Commas", 30)
            # The name typed beside an address goes along (mutt and aerc keep it).
            assert parties(got["To"]) == [("Doe, Carol", carol.email), ("", dave.email)]
            assert parties(got["Cc"]) == [("Builder, Bob", bob.email)]

        # Forward: the same To.
        assert await pilot_until(pilot, lambda: any(t.subject == "Plans"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Plans")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: app.screen.query_one(Timeline).current
                                 is not None)
        app.screen.query_one(Timeline).focus()
        await pilot.press("f")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ForwardScreen), 20)
        app.screen.query_one("#to", Input).value = \
            f'"Doe, Carol" <{carol.email}>, {dave.email}'
        app.screen.query_one("#body", TextArea).text = "For you both."
        await pilot.press("ctrl+s")
        for who in (carol, dave):
            (got,) = await wait_inbox(world, who, lambda m: "Plans" in str(m["Subject"]), 30)
            assert parties(got["To"]) == [("Doe, Carol", carol.email), ("", dave.email)]

        # Bounce: the To prompt.
        await pilot.press("b")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ToPrompt))
        await pilot.press(*f'"Doe, Carol" <{carol.email}>', "enter")
        (got,) = await wait_inbox(world, carol, lambda m: m["Resent-From"] is not None, 30)
        assert parties(got["Resent-To"]) == [("Doe, Carol", carol.email)]
