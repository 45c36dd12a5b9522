"""What the app writes for the terminal itself, by what the terminal is (issue 21):
OSC 8 hyperlinks, OSC 777 / OSC 9 notifications and the bell, detected from the
environment the terminal sets, and forced on or off by the config. With Pilot
against the real servers: bob's email over SMTP and IMAP, his chat line from a
plain slixmpp client.
"""

from __future__ import annotations

import pytest
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widgets import Static

from bridge.model import Availability
from tests.others import person, plain, send_email
from tests.test_app import go_to_row, listing, pilot_until
from tests.test_app_focus import app_with
from tuiclient.format import PRESENCE_DOT
from tuiclient.presence_colours import THEME_VARIABLE, contrast, presence_dot, readable
from tuiclient.terminal import Terminal, desktop_escape, detect, hyperlinks
from tuiclient.widgets.sidebar import Sidebar

URL = "https://tickets.example.org/booking/confirm?reference=QX7-2291-ALPHA"
TERMINAL_ENV = ("TERM_PROGRAM", "TERM_PROGRAM_VERSION", "VTE_VERSION", "KITTY_WINDOW_ID",
                "WT_SESSION", "KONSOLE_VERSION", "ALACRITTY_WINDOW_ID", "ConEmuANSI",
                "DBUS_SESSION_BUS_ADDRESS")


def test_the_terminal_is_known_by_its_environment():
    assert detect({"TERM": "linux"}) == Terminal()
    assert detect({"TERM": "xterm-256color"}) == Terminal()
    kitty = detect({"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"})
    assert kitty.osc8 and kitty.osc777 and not kitty.osc9
    iterm = detect({"TERM_PROGRAM": "iTerm.app", "TERM": "xterm-256color"})
    assert iterm.osc8 and iterm.osc9 and not iterm.osc777
    assert detect({"WT_SESSION": "x"}).osc9
    assert detect({"TERM": "foot"}).osc777
    assert detect({"VTE_VERSION": "7600", "TERM": "xterm-256color"}).osc8
    assert not detect({"VTE_VERSION": "4601"}).osc8
    assert detect({"TERM_PROGRAM": "tmux", "TERM_PROGRAM_VERSION": "3.4"}).osc8
    assert not detect({"TERM_PROGRAM": "tmux", "TERM_PROGRAM_VERSION": "3.3a"}).osc8
    # The config decides first; "auto" asks the terminal.
    assert hyperlinks("auto", kitty) and not hyperlinks("off", kitty)
    assert hyperlinks("on", Terminal())
    assert desktop_escape("auto", kitty, dbus=True) == "dbus"
    assert desktop_escape("auto", kitty, dbus=False) == "osc777"
    assert desktop_escape("auto", iterm, dbus=False) == "osc9"
    assert desktop_escape("auto", Terminal(), dbus=False) == "off"
    assert desktop_escape("osc9", Terminal(), dbus=True) == "osc9"
    assert desktop_escape("off", kitty, dbus=True) == "off"


def linked_lines(app) -> tuple[int, list[str]]:
    body = app.screen.query_one("#email-body", Static)
    lines = [body.render_line(y) for y in range(body.size.height)]
    out = [strip.render(app.console) for strip in lines
           if any(s.style is not None and s.style.link == URL for s in strip)]
    return len(out), out


@pytest.mark.servers
@pytest.mark.parametrize(("env", "setting", "links"), [
    ({"TERM": "linux"}, "", False),  # not known to take them: plain text
    ({"TERM": "linux"}, 'hyperlinks = "on"\n', True),  # forced on
    ({"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "3"}, "", True),  # known to
    ({"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "3"}, 'hyperlinks = "off"\n', False),
])
async def test_hyperlinks_where_the_terminal_takes_them_or_the_config_says(
        world, tmp_path, monkeypatch, env, setting, links):
    for name in TERMINAL_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    alice, bob = person(world, "alice"), person(world, "bob")
    send_email(world, bob, [alice.email], [], "Your tickets", f"Booked:\n{URL}\nBye.")
    app = app_with(world, tmp_path, alice, bob, extra=f"\n[notify]\n{setting}")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(t.subject == "Your tickets"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Your tickets")
        await pilot.press("enter")
        body = app.screen.query_one("#email-body", Static)
        assert await pilot_until(pilot, lambda: "Booked" in str(body.render()))
        await pilot.pause()
        n, out = linked_lines(app)
        assert (n >= 1) is links, out
        assert all("\x1b]8;" in line for line in out)
        assert URL in "".join(s.text for s in (body.render_line(y)
                                               for y in range(body.size.height)))


@pytest.mark.servers
async def test_a_chat_line_rings_the_bell_and_writes_osc_9_in_iterm(
        world, tmp_path, monkeypatch, running):
    """iTerm2 (TERM_PROGRAM), no session bus: "auto" tells by OSC 9; the bell rings
    once for the burst."""
    for name in TERMINAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM_PROGRAM", "iTerm.app")
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    app = app_with(world, tmp_path, alice, bob,
                   extra='\n[notify]\nbell = true\ndesktop = "auto"\n')
    written: list[str] = []
    bells: list[int] = []
    app.notifier.write = written.append
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name))
        bob_x.send(alice.jid, "Lunch at one?")
        bob_x.send(alice.jid, "Or two?")
        assert await pilot_until(pilot, lambda: bool(
            [w for w in written if w.startswith("\x1b]9;")]), 30), written
        await pilot.pause(1.0)
        osc9 = [w for w in written if w.startswith("\x1b]9;")]
        assert osc9 == [f"\x1b]9;Chat from {bob.display_name}: 2 new lines from "
                        f"{bob.display_name}\x07"], osc9
        assert not any(w.startswith("\x1b]777;") for w in written)
        assert bells == [1]


async def test_presence_colours_are_the_themes_and_readable_in_every_theme():
    """Every built-in theme (the ANSI ones take the terminal's own palette): each
    availability's colour reads on the theme's background and surface (3:1, as
    WCAG asks of marks), and the shapes stay apart."""
    from textual.app import App

    app = App()
    async with app.run_test() as pilot:
        for name in sorted(app.available_themes):
            if name.startswith("ansi"):
                continue
            app.theme = name
            await pilot.pause()
            v = app.theme_variables
            for availability in ("available", "away", "busy", "blocked"):
                dot, style = presence_dot(availability, v)
                assert dot == PRESENCE_DOT[availability][0]
                assert isinstance(style, Style) and style.color is not None
                triplet = style.color.get_truecolor()
                colour = Color(triplet.red, triplet.green, triplet.blue)
                assert THEME_VARIABLE[availability] in v
                for ground in ("background", "surface", "panel"):
                    ratio = contrast(colour, Color.parse(v[ground]))
                    assert ratio >= 3.0, (name, availability, ground, ratio)
    assert presence_dot("away") == PRESENCE_DOT["away"]  # no theme: the fixed colours
    assert presence_dot("offline", {"text-muted": "#888888"}) == PRESENCE_DOT["offline"]


@pytest.mark.servers
async def test_the_sidebar_and_status_bar_draw_presence_in_the_themes_colours(
        world, tmp_path, running):
    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    bob_x.set_presence("away", "Lunch")
    app = app_with(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        sidebar = app.screen.query_one(Sidebar)
        index = lambda: sidebar.get_option_index(f"contact:{bob.jid}")  # noqa: E731

        def dot_colour() -> str | None:
            prompt = sidebar.get_option_at_index(index()).prompt
            assert isinstance(prompt, Text) and prompt.plain.startswith("◑")
            style = prompt.style  # the mark's (the first characters')
            assert isinstance(style, Style) and style.color is not None
            return style.color.get_truecolor().hex

        def themed(name: str) -> str:
            """The theme's colour, as made readable (unchanged where it was)."""
            v = app.theme_variables
            grounds = [Color.parse(v[g]) for g in ("background", "surface", "panel")]
            return readable(Color.parse(v[name]), grounds).hex.lower()

        assert await pilot_until(pilot, lambda: sidebar.get_option_at_index(
            index()).prompt.plain.startswith("◑"), 30)
        for theme in ("textual-dark", "textual-light", "solarized-light"):
            app.theme = theme
            await pilot.pause()
            assert dot_colour() == themed("text-warning"), (theme, dot_colour())
        # Our own presence on the status bar: away, in the theme's warning colour.
        await app.engine.set_presence(alice.name, Availability.AWAY, "Out")
        bar = app.screen.query_one("#status", Static)
        assert await pilot_until(pilot, lambda: "◑ away" in str(bar.render()))
        content = bar.render()  # Textual's Content, its spans Textual's styles
        at = content.plain.index("◑")
        colours = {s.style.foreground.hex.lower() for s in getattr(content, "spans", [])
                   if s.start <= at < s.end and getattr(s.style, "foreground", None)}
        assert colours == {themed("text-warning")}, colours


@pytest.mark.servers
async def test_the_occupants_and_the_roster_draw_presence_in_the_themes_colours(
        world, tmp_path, running):
    """As the sidebar: bob away in his room's occupant list and in the roster screen
    is in the theme's warning colour (made readable), in a dark theme and a light
    one, and again when the theme changes with the roster open."""
    import uuid

    from tests.harness.servers import MUC_DOMAIN
    from tests.test_app_chat import command
    from tests.test_xmpp_chat import own_room
    from tuiclient.screens.roster import RosterScreen, RosterTable
    from tuiclient.widgets.occupants import Occupants

    _, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"hue{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    bob_x.set_presence("away", "Lunch")
    app = app_with(world, tmp_path, alice, bob)

    def themed(name: str) -> str:
        v = app.theme_variables
        grounds = [Color.parse(v[g]) for g in ("background", "surface", "panel")]
        return readable(Color.parse(v[name]), grounds).hex.lower()

    def hex_of(style: object) -> str | None:
        if not isinstance(style, Style) or style.color is None:
            return None
        return style.color.get_truecolor().hex.lower()

    async with app.run_test(size=(140, 40)) as pilot:
        engine = app.engine
        assert await pilot_until(pilot, lambda: engine.availability(
            alice.name, bob.jid).availability.value == "away", 30)
        bob_x.send(alice.jid, "Come to the room")
        assert await pilot_until(pilot, lambda: any(t.snippet == "Come to the room"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Come to the room")
        await pilot.press("enter")
        await command(pilot, app, f"/join {room}")
        pane = app.screen.query_one(Occupants)
        assert await pilot_until(pilot, lambda: pane.display and "bob" in {
            o.nick for o in pane.occupants}, 30)
        bob_x.xmpp.send_presence(pto=f"{room}/bob", pshow="away")
        assert await pilot_until(pilot, lambda: "bob away" in str(pane.render()))

        def occupant_colour() -> set[str]:
            content = pane.render()
            at = content.plain.index("◑")
            return {s.style.foreground.hex.lower() for s in getattr(content, "spans", [])
                    if s.start <= at < s.end and getattr(s.style, "foreground", None)}

        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.pause()
            assert occupant_colour() == {themed("text-warning")}, (theme, occupant_colour())

        await command(pilot, app, "/roster")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, RosterScreen)
                                 and (alice.name, bob.jid) in app.screen.rows)
        screen = app.screen
        table = screen.query_one(RosterTable)
        row = lambda: table.get_row_at(screen.rows.index((alice.name, bob.jid)))  # noqa: E731
        assert row()[0] == "◑"
        assert hex_of(row()[0].style) == themed("text-warning"), row()[0].style
        app.theme = "textual-dark"
        await pilot.pause()
        assert hex_of(row()[0].style) == themed("text-warning"), (row()[0].style,
                                                                  themed("text-warning"))
