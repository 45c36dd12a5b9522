"""Links as OSC 8 hyperlinks (issue 21): a long URL in an email, wrapped over
several lines of the email view, is one hyperlink to the whole address on each
of them; the terminal gets the OSC 8 sequence, the text shows the URL in full.
Against the real servers: bob's email comes over SMTP and IMAP.
"""

from __future__ import annotations

import pytest
from textual.widgets import Static

from tests.others import person, send_email
from tests.test_app import alice_app, go_to_row, listing, pilot_until
from tuiclient.links import urls

URL = ("https://tickets.example.org/booking/confirm?reference=QX7-2291-ALPHA"
       "&passenger=alice&return=2027-03-14T18%3A40&seat=14C&class=economy")


def test_urls_leave_the_sentence_around_them_alone() -> None:
    text = (f"See {URL}. Or (https://en.wikipedia.org/wiki/Foo_(bar)), mail "
            "mailto:bob@example.org, not http:// nor javascript:alert(1).")
    assert [u for _s, _e, u in urls(text)] == [
        URL, "https://en.wikipedia.org/wiki/Foo_(bar)", "mailto:bob@example.org"]
    assert "\x1b" not in "".join(u for _s, _e, u in urls("https://a.example/\x1b]8;;x"))


@pytest.mark.servers
async def test_a_long_url_in_an_email_is_one_hyperlink_on_every_line(world, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("TERM_PROGRAM", "WezTerm")  # a terminal that takes OSC 8
    alice, bob = person(world, "alice"), person(world, "bob")
    send_email(world, bob, [alice.email], [], "Your tickets",
               f"Here is the booking:\n{URL}\nSee you on the train.")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(t.subject == "Your tickets"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Your tickets")
        await pilot.press("enter")
        body = app.screen.query_one("#email-body", Static)
        assert await pilot_until(pilot, lambda: "booking" in str(body.render()))
        await pilot.pause()
        lines = [body.render_line(y) for y in range(body.size.height)]
        shown = [strip.text for strip in lines]
        linked_lines = [strip.render(app.console) for strip in lines
                        if any(s.style is not None and s.style.link == URL for s in strip)]
        assert len(linked_lines) >= 2, shown  # wrapped, and a link on each line
        assert all("\x1b]8;id=" in out and f";{URL}\x1b\\" in out for out in linked_lines)
        assert "".join(s.strip() for s in shown).count(URL) == 1  # the URL in full, as text
