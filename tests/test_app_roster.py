"""The roster screen draws again only the rows whose contact changed: a burst of
presences costs its rows and one engine read, not the whole table."""

from __future__ import annotations

from textual.screen import Screen

from bridge.events import PresenceChanged, RosterChanged
from bridge.model import Availability, ContactPresence
from bridge.xmpp.core import RosterItem
from tests.test_app_snapshots import make_app
from tuiclient.engine_events import EngineEvents
from tuiclient.screens.roster import RosterScreen, RosterTable, show_roster

ACCOUNT = "alice"


async def test_a_presence_redraws_its_row_only(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    engine = app.engine
    roster = [RosterItem(f"c{n:03d}@example.test", f"Contact {n:03d}", "both", False)
              for n in range(50)]
    presence = {i.jid: ContactPresence(i.jid, Availability.OFFLINE) for i in roster}
    reads: list[list[str]] = []

    def availabilities(account, addresses):
        wanted = list(addresses)
        reads.append(wanted)
        return {a: presence[a] for a in wanted}

    monkeypatch.setattr(engine, "roster", lambda account: list(roster))
    monkeypatch.setattr(engine, "availabilities", availabilities)
    async with app.run_test(size=(140, 40)) as pilot:
        app.push_screen(RosterScreen())
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RosterScreen)
        table = screen.query_one(RosterTable)
        assert table.row_count == 50 and len(reads) == 1 and len(reads[0]) == 50
        screen.query_one(RosterTable).move_cursor(row=7)
        drawn = [table.get_row_at(n) for n in range(50)]

        # Two presences in one burst: their rows, one read, the cursor stays.
        presence["c003@example.test"] = ContactPresence(
            "c003@example.test", Availability.AWAY, "lunch")
        presence["c010@example.test"] = ContactPresence(
            "c010@example.test", Availability.AVAILABLE)
        screen.post_message(EngineEvents([
            PresenceChanged(ACCOUNT, "c003@example.test", "away", "lunch"),
            PresenceChanged(ACCOUNT, "c010@example.test", "available"),
            PresenceChanged(ACCOUNT, "stranger@example.test", "available")]))
        await pilot.pause()
        assert len(reads) == 2 and sorted(reads[1]) == ["c003@example.test",
                                                        "c010@example.test"]
        now = [table.get_row_at(n) for n in range(50)]
        assert [n for n in range(50) if now[n] != drawn[n]] == [3, 10]
        # (columns: presence dot, avatar mark, name, address, presence, ...)
        assert now[3][4] == "away: lunch" and now[10][4] == "available"
        assert table.cursor_row == 7 and table.row_count == 50

        # A contact new to the roster: the whole table, with it.
        roster.append(RosterItem("new@example.test", "Newcomer", "none", True))
        presence["new@example.test"] = ContactPresence("new@example.test",
                                                       Availability.UNKNOWN)
        screen.post_message(EngineEvents([RosterChanged(ACCOUNT, "new@example.test",
                                                        "none")]))
        await pilot.pause()
        assert table.row_count == 51 and len(reads[-1]) == 51
        assert screen.rows[-1] == (ACCOUNT, "new@example.test")
        assert "you asked to see them" in str(table.get_row_at(50)[5])
        # One that left: the whole table, without it.
        del roster[0]
        screen.post_message(EngineEvents([RosterChanged(ACCOUNT, "c000@example.test",
                                                        "remove")]))
        await pilot.pause()
        assert table.row_count == 50 and ("alice", "c000@example.test") not in screen.rows


async def test_enter_in_the_roster_opens_the_conversation_with_them(tmp_path, monkeypatch):
    """Enter on a contact in the roster goes where Enter on them in the sidebar goes:
    their conversation (bob's chat), not a new message."""
    from tuiclient.screens.compose import NewMessageScreen
    from tuiclient.screens.main import MainScreen

    app = make_app(tmp_path)
    engine = app.engine
    roster = [RosterItem("bob@example.test", "Bob", "both", False),
              RosterItem("carol@example.test", "Carol", "both", False)]
    monkeypatch.setattr(engine, "roster", lambda account: list(roster))
    monkeypatch.setattr(engine, "availabilities", lambda account, addresses: {
        a: ContactPresence(a, Availability.AVAILABLE) for a in addresses})
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"roster", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RosterScreen)
        table = screen.query_one(RosterTable)
        table.move_cursor(row=screen.rows.index((ACCOUNT, "bob@example.test")))
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, MainScreen), app.screen
        assert not isinstance(app.screen, NewMessageScreen)
        opened = app.screen.opened
        assert opened is not None and any(m.text == "Coffee at 3?" for m in opened.messages)


async def test_the_roster_opened_again_is_the_kept_screen_with_what_changed(tmp_path,
                                                                           monkeypatch):
    """`:roster` a second time resumes the screen the app keeps (no table built again)
    and draws what changed while it was away, which it heard no events of: a presence
    redraws its row, a contact who came redraws the table; the cursor stays."""
    app = make_app(tmp_path)
    roster = [RosterItem(f"c{n:03d}@example.test", f"Contact {n:03d}", "both", False)
              for n in range(30)]
    presence = {i.jid: ContactPresence(i.jid, Availability.OFFLINE) for i in roster}
    monkeypatch.setattr(app.engine, "roster", lambda account: list(roster))
    monkeypatch.setattr(app.engine, "availabilities",
                        lambda account, addresses: {a: presence[a] for a in addresses})
    chosen: list[str | None] = []
    async with app.run_test(size=(140, 40)) as pilot:
        show_roster(app, chosen.append)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RosterScreen)
        table = screen.query_one(RosterTable)
        table.move_cursor(row=4)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RosterScreen) and chosen == [None]
        added = table.row_count

        presence["c002@example.test"] = ContactPresence("c002@example.test",
                                                        Availability.AWAY, "lunch")
        before = [table.get_row_at(n) for n in range(30)]
        show_roster(app, chosen.append)
        await pilot.pause()
        assert app.screen is screen and table.row_count == added == 30
        now = [table.get_row_at(n) for n in range(30)]
        assert [n for n in range(30) if now[n] != before[n]] == [2]
        assert now[2][4] == "away: lunch" and table.cursor_row == 4

        await pilot.press("escape")
        await pilot.pause()
        roster.insert(0, RosterItem("new@example.test", "Newcomer", "none", True))
        presence["new@example.test"] = ContactPresence("new@example.test",
                                                       Availability.UNKNOWN)
        show_roster(app, chosen.append)
        await pilot.pause()
        assert app.screen is screen and table.row_count == 31
        assert screen.rows[0] == ("alice", "new@example.test")
        # Asked for again while it is open under another screen: left where it is.
        other = Screen()
        app.push_screen(other)
        await pilot.pause()
        show_roster(app, chosen.append)
        await pilot.pause()
        assert app.screen is other and [s for s in app.screen_stack if s is screen] == [screen]
        app.pop_screen()
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("enter")  # the row under the cursor (row 4) is written to
        await pilot.pause()
        assert chosen == [None, None, roster[4].jid]
