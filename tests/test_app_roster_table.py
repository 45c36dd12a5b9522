"""How the roster table is built: fixed column widths taken from the texts (nothing
for DataTable to measure), the first rows before the first frame and the others
right after it, every contact in the end, in order; names are text, never markup."""

from __future__ import annotations

from bridge.events import PresenceChanged, RosterChanged
from bridge.model import Availability, ContactPresence
from bridge.xmpp.core import RosterItem
from tests.test_app_snapshots import make_app
from tuiclient.engine_events import EngineEvents
from tuiclient.screens.roster import COLUMNS, FIRST_ROWS, Cell, RosterScreen, RosterTable

ACCOUNT = "alice"
N = FIRST_ROWS * 4 + 7


def roster_app(tmp_path, monkeypatch, roster):
    app = make_app(tmp_path)
    presence = {i.jid: ContactPresence(i.jid, Availability.OFFLINE) for i in roster}
    monkeypatch.setattr(app.engine, "roster", lambda account: list(roster))
    monkeypatch.setattr(app.engine, "availabilities", lambda account, addresses: {
        a: presence.get(a, ContactPresence(a, Availability.UNKNOWN)) for a in addresses})
    return app, presence


async def filled(pilot, table, n):
    for _ in range(200):
        if table.row_count == n:
            return True
        await pilot.pause()
    return False


async def test_a_long_roster_is_drawn_whole_in_order(tmp_path, monkeypatch):
    roster = [RosterItem(f"c{n:04d}@example.test", f"Contact {n:04d}", "both", False)
              for n in range(N)]
    roster[3] = RosterItem("odd@example.test", "[/b] [bold]not bold[/bold]", "none", True)
    app, presence = roster_app(tmp_path, monkeypatch, roster)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = RosterScreen()
        await app.push_screen(screen)  # mounted: the first rows are in
        table = screen.query_one(RosterTable)
        assert len(screen.rows) == N and table.row_count == FIRST_ROWS  # the rest after a frame
        # A presence for a row not in the table yet: it goes in as it is now.
        late = roster[N - 1].jid
        presence[late] = ContactPresence(late, Availability.AWAY, "lunch")
        screen.post_message(EngineEvents([PresenceChanged(ACCOUNT, late, "away", "lunch")]))
        assert await filled(pilot, table, N)
        await pilot.pause()
        assert [table.get_row_at(n)[3] for n in range(N)] == [i.jid for i in roster]
        assert screen.rows == [(ACCOUNT, i.jid) for i in roster]
        assert table.get_row_at(N - 1)[4] == "away: lunch"
        # Markup in a name is the name's text.
        assert str(table.get_row_at(3)[2]) == "[/b] [bold]not bold[/bold]"
        # Fixed widths, each the widest text of its column (or its label).
        columns = table.ordered_columns
        assert [c.auto_width for c in columns] == [False] * len(COLUMNS)
        widest = [max([len(label)] + [len(str(table.get_row_at(n)[i])) for n in range(N)])
                  for i, label in enumerate(COLUMNS)]
        assert [c.width for c in columns] == widest
        assert all(isinstance(cell, Cell) for cell in table.get_row_at(0))
        # A longer status on a row in the table widens its column.
        first = roster[0].jid
        presence[first] = ContactPresence(first, Availability.AWAY, "at a very long lunch")
        screen.post_message(EngineEvents([PresenceChanged(ACCOUNT, first, "away", "")]))
        await pilot.pause()
        assert table.get_row_at(0)[4] == "away: at a very long lunch"
        assert columns[4].width == len("away: at a very long lunch")

        # A full redraw keeps the cursor on its row, far down the list.
        table.move_cursor(row=N - 2)
        roster.append(RosterItem("new@example.test", "Newcomer", "none", True))
        screen.post_message(EngineEvents([RosterChanged(ACCOUNT, "new@example.test",
                                                        "none")]))
        assert await filled(pilot, table, N + 1)
        assert table.cursor_row == N - 2
        assert screen.current() == (ACCOUNT, roster[N - 2].jid)
