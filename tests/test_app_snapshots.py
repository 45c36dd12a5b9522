"""Snapshot tests: each screen of the app, pinned, on fixed data.

No servers here: the engine is not started and reads a store filled with a
fixed conversation set, the clock is fixed and the time zone is UTC, so every
run draws the same picture. Update with `pytest --snapshot-update` and look at
the report before committing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest.mock import patch

import pytest
from textual.widgets import Input

from bridge.config import load_config
from bridge.engine import Engine
from bridge.events import HealthChanged
from bridge.health import HealthReport, HealthReported
from bridge.identity import Mapping, Resolution
from bridge.model import Attachment, DeliveryState, Direction, Message, Party, Transport
from bridge.store import Store
from bridge.xmpp.availability import Availability, ContactPresence
from tests.test_app import pilot_until
from tuiclient.app import TuiClientApp
from tuiclient.screens.prompts import AddressScreen, DeferScreen

NOW = 1_760_000_000.0  # fixed: Thu 9 Oct 2025 08:53 UTC
HOUR, DAY = 3600.0, 86400.0
ME = "alice"
AWAY = "In meetings until 3pm"

CONFIG = """
[[accounts]]
name = "alice"
email = "alice@example.test"
jid = "alice@example.test"
display_name = "Alice"
password_command = "false"

[accounts.imap]
host = "127.0.0.1"
port = 9
tls = "plain"

[accounts.smtp]
host = "127.0.0.1"
port = 9
tls = "plain"

[accounts.xmpp]
host = "127.0.0.1"
port = 9
tls = "plain"

[[contacts]]
name = "Bob"
emails = ["bob@example.test"]
jids = ["bob@example.test"]

[[contacts]]
name = "Carol"
emails = ["carol@example.test"]
jids = ["carol@example.test"]
"""

ALICE = Party("alice@example.test", "Alice", "from")
BOB = Party("bob@example.test", "Bob", "from")
CAROL = Party("carol@example.test", "Carol", "from")


def email(n: int, sender: Party, to: list[Party], subject: str, text: str, ago: float,
          thread: str, *, attachments: tuple[Attachment, ...] = (), unread: bool = False,
          cc: list[Party] = ()) -> Message:
    out = sender.address == ALICE.address
    return Message(
        msg_id=f"m{n}@example.test", account=ME, transport=Transport.EMAIL,
        direction=Direction.OUT if out else Direction.IN, thread_id=thread, date=NOW - ago,
        sender=sender, recipients=[Party(p.address, p.name, "to") for p in to]
        + [Party(p.address, p.name, "cc") for p in cc],
        subject=subject, text=text, folder="Sent" if out else "INBOX", uid=n,
        message_id_header=f"<m{n}@example.test>", flags=set() if unread else {"\\Seen"},
        attachments=list(attachments), delivery=DeliveryState.SENT if out else None)


def chat(n: int, sender: Party, to: Party, text: str, ago: float, thread: str, *,
         delivery: DeliveryState | None = None, unread: bool = False) -> Message:
    out = sender.address == ALICE.address
    return Message(
        msg_id=f"c{n}@example.test", account=ME, transport=Transport.XMPP,
        direction=Direction.OUT if out else Direction.IN, thread_id=thread, date=NOW - ago,
        sender=Party(sender.address, sender.name, "from"),
        recipients=[Party(to.address, to.name, "to")], text=text,
        origin_id=f"c{n}@example.test", flags=set() if unread else {"\\Seen"},
        delivery=delivery if out else None)


def fixed_store(path: Path) -> Store:
    store = Store.open(path)
    q3 = "m1@example.test"
    pdf = Attachment("q3-report.pdf", "application/pdf", 23, sha256="0" * 64)
    store.insert_messages([
        email(1, BOB, [ALICE], "Q3 report draft",
              "Hi Alice,\n\nattached is the draft of the Q3 report. Could you check the\n"
              "numbers in section 2 before Friday?\n\nThanks,\nBob", 4 * DAY, q3,
              attachments=(pdf,), cc=[CAROL]),
        email(2, CAROL, [BOB], "Re: Q3 report draft",
              "Section 2 looks right to me. The chart on page 3 needs a legend.\n\n"
              "> Could you check the numbers in section 2 before Friday?", 3 * DAY, q3,
              cc=[ALICE]),
        chat(3, BOB, ALICE, "Did you see the Q3 draft?", 2 * DAY, q3),
        chat(4, ALICE, BOB, "Yes, reading it now. Section 2 is fine.", 2 * DAY - 60, q3,
             delivery=DeliveryState.READ),
        chat(5, BOB, ALICE, "Coffee at 3?", 2 * HOUR, "chat-bob@example.test", unread=True),
        email(7, CAROL, [ALICE], "Photos from the weekend",
              "Two of my favourites from the hike.", 30 * HOUR, "m7@example.test",
              unread=True),
        email(8, ALICE, [BOB], "Trip to Lisbon",
              "Bob, are we still on for Lisbon in March?", 10 * DAY, "m8@example.test"),
    ])
    lunch = chat(6, ALICE, CAROL, "Lunch tomorrow?", 1 * HOUR, "chat-carol@example.test",
                 delivery=DeliveryState.DEFERRED)
    with patch("time.time", lambda: NOW - HOUR):
        row = store.outbox_add(lunch.msg_id, ME, Transport.XMPP, payload={"plan": {
            "to": CAROL.address, "text": lunch.text}, "retries": 1}, parties=[CAROL],
            state=DeliveryState.DEFERRED, next_attempt=NOW + 20 * 60, message=lunch)
        store.outbox_log(row, "deferred", f"{CAROL.address} is away: {AWAY}")
    with patch("time.time", lambda: NOW - HOUR + 30):
        # As the outbox writes a retry (bridge/outbox.py, _retry_deferred).
        store.outbox_log(row, "retry", f"still away: {AWAY}; next try in 20 min")
    return store


def make_app(tmp: Path) -> TuiClientApp:
    path = tmp / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    engine = Engine(config, fixed_store(tmp / "store.db"))
    return TuiClientApp(config, probe_on_start=False, start_engine=False, engine=engine,
                        clock=lambda: NOW)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


WIDE, NARROW = (140, 40), (80, 30)
Q3 = ["j", "j", "j", "enter", "g"]  # the Q3 thread, at its first email


def test_main_screen_with_an_email_and_its_responses(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=Q3, terminal_size=WIDE)


def test_narrow_list(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), terminal_size=NARROW)


def test_narrow_message(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=[*Q3, "enter"], terminal_size=NARROW)


def test_narrow_chat(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=Q3, terminal_size=NARROW)


def test_compose_email_reply(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=[*Q3, "R", *"Looks good."],
                        terminal_size=WIDE)


def test_reply_options(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=[*Q3, "i", "ctrl+o"], terminal_size=WIDE)


def test_inline_chat_reply(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=[*Q3, "i", *"On it"], terminal_size=WIDE)


def test_defer_prompt(snap_compare, tmp_path):
    async def ask(pilot) -> None:
        pilot.app.push_screen(DeferScreen([ContactPresence(CAROL.address, Availability.AWAY,
                                                           AWAY)]))
    assert snap_compare(make_app(tmp_path), run_before=ask, terminal_size=WIDE)


def test_address_prompt(snap_compare, tmp_path):
    async def ask(pilot) -> None:
        await pilot.app.push_screen(AddressScreen("xmpp", [Resolution(
            "erin@example.test", None, None, suggestions=(
                Mapping("erin@chat.example.test", "learned", "wrote from it in March"),))]))
        # The prompt up with its address field focused (its text selected), not a
        # fixed pause: under load the focus comes a few frames after the mount. Its
        # cursor held on: a blink's off half-second would be taken under load.
        assert await pilot_until(pilot, lambda: isinstance(pilot.app.focused, Input))
        field = pilot.app.focused
        assert isinstance(field, Input)
        field.cursor_blink = False
    assert snap_compare(make_app(tmp_path), run_before=ask, terminal_size=WIDE)


def test_outbox(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["O"], terminal_size=WIDE)


def test_search(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["slash", *"section", "enter"],
                        terminal_size=WIDE)


def test_help(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["question_mark"], terminal_size=WIDE)


def test_servers(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["H"], terminal_size=WIDE)


def report_health(app: TuiClientApp) -> None:
    """Probe reports as the health monitor publishes them: IMAP and XMPP fine, SMTP
    down and on the critical list."""
    events = app.engine.events
    for report, critical in (
            (HealthReport(ME, "imap", True, True, True, 3.2, 0.4,
                          "INBOX 7 messages (2 unread)", NOW - 40), False),
            (HealthReport(ME, "smtp", False, False, None, None, None,
                          "cannot connect to 127.0.0.1:9: Connection refused", NOW - 10), True),
            (HealthReport(ME, "xmpp", True, True, True, 1.1, -0.2,
                          "online as alice@example.test; upload at upload.example.test",
                          NOW - 40), False)):
        events.publish(HealthReported(report, critical))
        events.publish(HealthChanged(ME, report.service, report.ok, report.summary(),
                                     from_probe=True))


def test_status_bar_with_server_health(snap_compare, tmp_path):
    async def probed(pilot) -> None:
        report_health(pilot.app)
        await pilot.pause()
    assert snap_compare(make_app(tmp_path), run_before=probed, terminal_size=WIDE)


def test_servers_with_server_health(snap_compare, tmp_path):
    async def probed(pilot) -> None:
        report_health(pilot.app)
        await pilot.press("H")
        await pilot.pause()
    assert snap_compare(make_app(tmp_path), run_before=probed, terminal_size=WIDE)


if __name__ == "__main__":  # a look at the fixed world: python -m tests.test_app_snapshots
    import tempfile
    os.environ["TZ"] = "UTC"
    make_app(Path(tempfile.mkdtemp())).run()


# -- the screens of issue 21: the command line, a folder as a list, the roster, the
# chat's questions, revisions, the outbox's confirmation, a reload error.


def test_command_line(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["colon", "s", "e"], terminal_size=WIDE)


def test_folder_as_a_list(snap_compare, tmp_path):
    async def folder(pilot) -> None:
        await pilot.pause()
        main = pilot.app.main_screen()
        main.show_folder(ME, "INBOX")
        await pilot.pause()
    assert snap_compare(make_app(tmp_path), run_before=folder, terminal_size=WIDE)


def test_roster(snap_compare, tmp_path):
    from bridge.xmpp.core import RosterItem
    from tuiclient.screens.roster import RosterScreen

    app = make_app(tmp_path)
    # The roster as the server would give it (no server here), with presences.
    items = [RosterItem(BOB.address, "Bob", "both", False, ("work",)),
             RosterItem(CAROL.address, "Carol", "both", False),
             RosterItem("erin@example.test", "", "none", True)]
    shows = {BOB.address: (Availability.AVAILABLE, ""),
             CAROL.address: (Availability.AWAY, AWAY),
             "erin@example.test": (Availability.UNKNOWN, "")}
    app.engine.roster = lambda account: items  # type: ignore[method-assign]
    app.engine.availabilities = lambda account, jids: {  # type: ignore[method-assign]
        j: ContactPresence(j, *shows[j]) for j in jids}

    async def roster(pilot) -> None:
        pilot.app.push_screen(RosterScreen())
        await pilot.pause()
    assert snap_compare(app, run_before=roster, terminal_size=WIDE)


def test_invitation_prompt(snap_compare, tmp_path):
    from bridge.events import RoomInvitation
    from tuiclient.screens.chat_prompts import invitation_screen

    async def ask(pilot) -> None:
        pilot.app.push_screen(invitation_screen(RoomInvitation(
            ME, "den@rooms.example.test", BOB.address, "planning the offsite"), BOB.address))
    assert snap_compare(make_app(tmp_path), run_before=ask, terminal_size=WIDE)


def test_subscription_prompt(snap_compare, tmp_path):
    from bridge.events import SubscriptionRequest
    from tuiclient.screens.chat_prompts import subscription_screen

    async def ask(pilot) -> None:
        pilot.app.push_screen(subscription_screen(
            SubscriptionRequest(ME, "erin@example.test"), "Erin"))
    assert snap_compare(make_app(tmp_path), run_before=ask, terminal_size=WIDE)


def test_revisions(snap_compare, tmp_path):
    from bridge.store import Revision
    from tuiclient.screens.chat_prompts import RevisionsScreen

    async def show(pilot) -> None:
        line = chat(5, BOB, ALICE, "Coffee at 3?", 2 * HOUR, "chat-bob@example.test")
        pilot.app.push_screen(RevisionsScreen(line, [
            Revision("Cofee at 2?", NOW - 2 * HOUR - 90, "c5a@example.test"),
            Revision("Coffee at 2?", NOW - 2 * HOUR - 30, "c5b@example.test")],
            clock=lambda: NOW))
    assert snap_compare(make_app(tmp_path), run_before=show, terminal_size=WIDE)


def test_outbox_confirm(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["O", "x"], terminal_size=WIDE)


def test_reload_error(snap_compare, tmp_path):
    # The error names the file: one path in every run, for the picture to hold.
    folder = Path("/tmp/tuiclient-snapshot-reload")
    folder.mkdir(exist_ok=True)
    path = folder / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    engine = Engine(config, fixed_store(tmp_path / "store.db"))
    app = TuiClientApp(config, probe_on_start=False, start_engine=False, engine=engine,
                       clock=lambda: NOW)

    async def broken(pilot) -> None:
        path.write_text(CONFIG + '\n[notify]\nbell = "loud"\n')
        pilot.app.reload_config()
        await pilot.pause()
    assert snap_compare(app, run_before=broken, terminal_size=WIDE)
