"""Regenerate screenshots/ from the real app on the demo world.

    scripts/dev screenshots

Each screen is captured as SVG (Textual's own export) and, where `rsvg-convert`
is installed (Debian's librsvg2-bin), also as PNG. The demo's people are real
accounts on the harness servers: carol's away message in the defer prompt is the
one her client really sent, and bob is his real headless daemon: the launch email
alice sends him at the start comes back as a chat, with its history.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from textual.pilot import Pilot

from bridge.config import load_config
from bridge.model import Transport
from tuiclient.app import TuiClientApp
from tuiclient.screens.main import MainScreen
from tuiclient.screens.prompts import DeferScreen
from tuiclient.widgets.conversation import ChatReply, Timeline
from tuiclient.widgets.conversation_list import ConversationList

from .demo import BobDaemon, Presences, build, send_launch_mail
from .servers import REPO_ROOT, World

OUT = REPO_ROOT / "screenshots"
SIZE = (140, 40)
NARROW = (80, 30)
LAUNCH = "Launch date for the new site"


def save(app: TuiClientApp, name: str) -> Path:
    OUT.mkdir(exist_ok=True)
    svg = OUT / f"{name}.svg"
    app.save_screenshot(filename=svg.name, path=str(OUT))
    if shutil.which("rsvg-convert"):
        # rsvg collapses the non-breaking spaces of Textual's export; plain spaces
        # with xml:space="preserve" keep the columns where the terminal has them.
        text = svg.read_text().replace("&#160;", " ").replace(
            '<svg class="rich-terminal"', '<svg xml:space="preserve" class="rich-terminal"', 1)
        subprocess.run(["rsvg-convert", "-o", str(svg.with_suffix(".png"))],
                       input=text.encode(), check=True)
    return svg


async def until(predicate, pilot, tries: int = 400) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.05)
    await pilot.pause()


async def go_to_row(pilot, app: TuiClientApp, subject: str) -> None:  # type: ignore[no-untyped-def]
    listing = app.screen.query_one(ConversationList)
    target = next(i for i, t in enumerate(listing.rows) if subject in (t.subject, t.snippet))
    listing.focus()
    while listing.cursor != target:
        await pilot.press("j" if listing.cursor < target else "k")
    await pilot.press("enter")
    await pilot.pause(0.3)


async def go_to_first(pilot, app: TuiClientApp) -> None:  # type: ignore[no-untyped-def]
    timeline = app.screen.query_one(Timeline)
    timeline.focus()
    await pilot.press("g")
    await until(lambda: "fetching" not in str(app.screen.query_one("#email-body").render()),
                pilot)
    await pilot.pause(0.3)


async def capture(config_path: Path) -> list[Path]:
    shots = []
    app = TuiClientApp(load_config(config_path))
    async with app.run_test(size=SIZE) as pilot:
        listing = lambda: app.screen.query_one(ConversationList)  # noqa: E731
        await until(lambda: len(listing().rows) >= 6 and len(app.health) >= 3, pilot)
        # bob's daemon hands the launch email over to chat once alice is online (now):
        # its chat lines, the history digest first, join the email's thread.
        handed = lambda: next((t for t in listing().rows if t.subject == LAUNCH  # noqa: E731
                               and Transport.XMPP in t.transports
                               and t.message_count >= 3), None)
        await until(handed, pilot, tries=1200)
        if handed() is None:
            raise RuntimeError("bob's daemon did not hand the launch email over to chat")
        await pilot.pause(1.0)
        shots.append(save(app, "main-list"))

        await go_to_row(pilot, app, LAUNCH)
        await go_to_first(pilot, app)
        shots.append(save(app, "launch-handoff"))

        await go_to_row(pilot, app, "Q3 report draft")
        await go_to_first(pilot, app)
        shots.append(save(app, "main-email-with-responses"))

        # bob's email came encrypted and signed by gpg: its outer Subject says "..."
        # (Protected Headers); opened, the real one shows, and who signed it.
        await go_to_row(pilot, app, "...")
        await go_to_first(pilot, app)
        await pilot.pause(0.5)
        shots.append(save(app, "encrypted-mail"))

        await pilot.press("R", *"Numbers in section 2 are right.")
        await pilot.pause(0.5)
        shots.append(save(app, "compose-email-reply"))
        await pilot.press("escape", "d")  # leave, and discard the words typed
        await pilot.pause()

        await pilot.press("i", "ctrl+o")
        await pilot.pause(0.5)
        shots.append(save(app, "reply-options"))
        await pilot.press("space", "tab", "space", "ctrl+s")
        await pilot.press(*"Let's finish this in chat")
        await pilot.pause(0.3)
        shots.append(save(app, "inline-chat-reply"))
        await pilot.press("escape")

        # carol is away: replying to her by IM asks first, with her status text.
        await go_to_row(pilot, app, "Photos from the weekend")
        await pilot.press("i", *"Lovely photos!", "enter")
        await until(lambda: isinstance(app.screen, DeferScreen), pilot)
        await pilot.pause(0.3)
        shots.append(save(app, "defer-prompt"))
        await pilot.press("d")
        await until(lambda: app.engine.store.outbox_items(["deferred"]), pilot)
        await pilot.press("escape")
        await pilot.pause(0.5)

        await pilot.press("O")
        await pilot.pause(0.5)
        shots.append(save(app, "outbox"))
        await pilot.press("escape")

        await pilot.press("slash", *"lisbon", "enter")
        await pilot.pause(0.5)
        shots.append(save(app, "search"))
        await pilot.press("escape")

        shots += await mail_keys(pilot, app)
        shots += await chat_keys(pilot, app)

        shots += await more_screens(pilot, app)

        await pilot.press("question_mark")
        await pilot.pause(0.3)
        shots.append(save(app, "help"))
        await pilot.press("escape")

        await pilot.press("H")
        await pilot.pause(0.3)
        shots.append(save(app, "servers"))
        await pilot.press("escape")

        await pilot.resize_terminal(*NARROW)
        await pilot.pause(0.5)
        assert isinstance(app.screen, MainScreen)
        app.screen.show_pane("list")
        await pilot.pause(0.3)
        shots.append(save(app, "narrow-list"))
        await go_to_row(pilot, app, "Q3 report draft")
        await go_to_first(pilot, app)
        await pilot.press("enter")
        await pilot.pause(0.3)
        shots.append(save(app, "narrow-message"))
        await pilot.press("tab")
        await pilot.pause(0.3)
        shots.append(save(app, "narrow-chat"))
    return shots


async def chat_keys(pilot: Pilot[object], app: TuiClientApp) -> list[Path]:
    """The chat client's screen: a reaction, a correction and /me in the chat with
    bob. (A room joined with /join shows no conversation until its first line, so
    it has no screenshot yet.)"""
    shots = []
    listing = app.screen.query_one(ConversationList)
    listing.focus()
    target = next(i for i, t in enumerate(listing.rows)
                  if Transport.XMPP in t.transports and not t.subject
                  and "bob" in t.last_sender.lower())
    while listing.cursor != target:
        await pilot.press("j" if listing.cursor < target else "k")
    await pilot.press("enter")
    await pilot.pause(0.5)
    timeline = app.screen.query_one(Timeline)
    timeline.focus()
    await pilot.press("G")  # bob's last line: "Coffee at 3?"
    await pilot.pause(0.2)
    await pilot.press("i")
    reply = app.screen.query_one(ChatReply)
    reply.value = "/react 👍"  # typed as one character: Pilot has no key for it
    await pilot.press("enter")
    await pilot.pause(0.5)
    await pilot.press(*"See you at 3", "enter")
    await pilot.pause(0.5)
    await pilot.press(*"/correct See you at 3:15", "enter")
    await pilot.pause(0.5)
    await pilot.press(*"/me brings the cake", "enter")
    await until(lambda: timeline.reactions and any(
        m.edited for m in timeline.messages if m.edited), pilot)
    await pilot.pause(1.0)
    shots.append(save(app, "chat-edits"))
    await pilot.press("escape")

    return shots


async def mail_keys(pilot: Pilot[object], app: TuiClientApp) -> list[Path]:
    """The mail keys' screens: marks and tags in the list, the folder picker, an
    email's files, forward, the unsent prompt and the drafts."""
    shots = []
    listing = app.screen.query_one(ConversationList)
    listing.focus()
    for subject in ("Coffee?", "Q3 report draft"):
        def at(subject: str = subject) -> int:
            return next(i for i, t in enumerate(listing.rows) if t.subject == subject)
        while listing.cursor != at():
            await pilot.press("j" if listing.cursor < at() else "k")
        await pilot.press("space")
        await pilot.pause(0.2)
    await pilot.press("T")
    await pilot.press(*"+work")
    await pilot.pause(0.3)
    shots.append(save(app, "tags-prompt"))
    await pilot.press("enter")
    await until(lambda: any("work" in label.tags for label in listing.labels.values()), pilot)
    await pilot.pause(0.5)
    shots.append(save(app, "triage-tags"))
    await pilot.press("k", "m", *"ar")
    await pilot.pause(0.3)
    shots.append(save(app, "folder-picker"))
    await pilot.press("escape")

    await go_to_row(pilot, app, "Photos from the weekend")
    await go_to_first(pilot, app)
    await pilot.press("s")
    await until(lambda: not isinstance(app.screen, MainScreen), pilot)
    if isinstance(app.screen, MainScreen):  # keys meant for a dialog would triage
        raise RuntimeError(f"no dialog: {[n.message for n in app._notifications]}")
    await pilot.pause(1.0)
    shots.append(save(app, "attachments"))
    await pilot.press("escape", "f")
    await until(lambda: not isinstance(app.screen, MainScreen), pilot)
    if isinstance(app.screen, MainScreen):  # keys meant for a dialog would triage
        raise RuntimeError(f"no dialog: {[n.message for n in app._notifications]}")
    await pilot.press(*"dave@example.test")
    await pilot.pause(0.5)
    shots.append(save(app, "forward"))
    await pilot.press("escape")  # nothing written yet: no question
    await until(lambda: isinstance(app.screen, MainScreen), pilot)

    await pilot.press("c", *"bob@example.test", "tab", *"Offsite agenda", "tab",
                      *"First draft of the agenda")
    await pilot.press("escape")
    await pilot.pause(0.3)
    shots.append(save(app, "unsent-prompt"))
    await pilot.press("s")
    await until(lambda: isinstance(app.screen, MainScreen), pilot)
    await pilot.press("P")
    await pilot.pause(1.5)
    shots.append(save(app, "drafts"))
    await pilot.press("escape")
    await pilot.pause(0.3)

    # The list's order (S), a conversation unfolded in place (z) and, reading,
    # the quotes folded (z).
    listing.focus()
    await pilot.press("S")
    await pilot.pause(0.3)
    shots.append(save(app, "sort-prompt"))
    await pilot.press("f")
    await pilot.pause(0.5)
    shots.append(save(app, "sorted-by-sender"))
    await pilot.press("S", "d")
    await pilot.pause(0.3)
    await go_to_row(pilot, app, LAUNCH)
    listing.focus()
    await pilot.press("z")
    await pilot.pause(0.5)
    shots.append(save(app, "unfolded-conversation"))
    await pilot.press("z")
    await pilot.pause(0.3)
    return shots


async def more_screens(pilot: Pilot[object], app: TuiClientApp) -> list[Path]:
    """A new message completing an address (with the email <-> chat mapping) and
    its Cc/Bcc/From, the bounce prompt, the limit prompt, the
    roster and the keys screen."""
    shots = []
    await pilot.press("c", *"Bo")
    await pilot.pause(0.8)
    await pilot.press("ctrl+b")
    await pilot.pause(0.3)
    shots.append(save(app, "new-message-completion"))
    await pilot.press("escape")
    await until(lambda: isinstance(app.screen, MainScreen), pilot)

    await go_to_row(pilot, app, "Q3 report draft")
    await go_to_first(pilot, app)
    await pilot.press("b", *"dave@example.test")
    await pilot.pause(0.3)
    shots.append(save(app, "bounce-prompt"))
    await pilot.press("escape")
    await until(lambda: isinstance(app.screen, MainScreen), pilot)

    app.screen.query_one(ConversationList).focus()
    await pilot.press("l", *"from:bob")
    await pilot.pause(0.3)
    shots.append(save(app, "limit-prompt"))
    await pilot.press("escape")
    await until(lambda: isinstance(app.screen, MainScreen), pilot)

    await pilot.press("colon", *"roster", "enter")
    await pilot.pause(1.0)
    shots.append(save(app, "roster"))
    await pilot.press("escape")
    await until(lambda: isinstance(app.screen, MainScreen), pilot)

    await pilot.press("K")
    await pilot.pause(1.0)
    shots.append(save(app, "keys"))
    await pilot.press("escape")
    await until(lambda: isinstance(app.screen, MainScreen), pilot)
    return shots


def main() -> int:
    for old in OUT.glob("home.*"):
        old.unlink()  # the first screen before the mail and chat views
    with World() as world:
        people, config_path = build(world)
        os.environ["XDG_DATA_HOME"] = str(world.base / "alice" / "data")
        presences = Presences(world, people)
        presences.start()
        bob = BobDaemon(world, people)
        try:
            bob.start()
            send_launch_mail(world, people)
            shots = asyncio.run(capture(config_path))
        finally:
            bob.stop()
            presences.stop()
    for shot in shots:
        print(shot.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
