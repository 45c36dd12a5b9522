"""The chat's questions and lists: a room invitation (join or decline), a
subscription request (approve or deny), a visitor asking a room we moderate for
voice (grant or deny), never answered without the user; the
rooms a service lists (`/rooms`, one chosen to join); and the earlier texts of
a corrected line."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static
from textual.widgets.option_list import Option

from bridge.events import RoomInvitation, SubscriptionRequest, VoiceRequested
from bridge.model import Message
from bridge.store import Revision
from tuiclient.format import Clock, one_line, safe, short_date
from tuiclient.screens.pickers import FolderPicker

if TYPE_CHECKING:
    from bridge.engine import Engine
    from bridge.xmpp.rooms import RoomListing


class AskScreen(ModalScreen[str | None]):
    """One question with a few answers, each on a key; escape: later (None)."""

    def __init__(self, title: str, body: Text, answers: Sequence[tuple[str, str, str]],
                 *, id: str | None = None) -> None:
        """`answers`: (key, label, value); the first is the one focused."""
        super().__init__(classes="prompt", id=id)
        self.title_text = title
        self.body = body
        self.answers = list(answers)
        self._bindings.bind("escape", "answer('')", "later")
        for key, label, value in self.answers:
            self._bindings.bind(key, f"answer('{value}')", label)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.body, markup=False, id="ask-body")
            with Horizontal(classes="buttons"):
                for i, (key, label, value) in enumerate(self.answers):
                    yield Button(f"{label} \\[{key}]", id=f"answer-{value}",
                                 variant="primary" if i == 0 else "default")
                yield Button("Later \\[esc]", id="answer-")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer((event.button.id or "answer-").removeprefix("answer-"))

    def action_answer(self, value: str) -> None:
        self.dismiss(value or None)


def invitation_screen(event: RoomInvitation, inviter: str) -> AskScreen:
    """A room invitation: "join" or "decline" (None: not now)."""
    body = Text()
    who, _, nick = inviter.partition("/")
    if nick and who.lower() == event.room.lower():  # the room hides their address
        body.append(one_line(nick), style="bold")
        body.append(" (in the room)")
    else:
        body.append(one_line(inviter), style="bold")
    body.append(" invites you to the group chat ")
    body.append(one_line(event.room), style="bold")
    if event.reason:
        body.append("\n  “")
        body.append(one_line(event.reason), style="italic")
        body.append("”")
    if event.password:
        body.append("\n  (with the room's password)", style="dim")
    return AskScreen("Invitation to a group chat", body,
                     [("a", "Join", "join"), ("d", "Decline", "decline")],
                     id="invitation")


def subscription_screen(event: SubscriptionRequest, known: str) -> AskScreen:
    """Someone asks to see our presence: "approve" or "deny" (None: not now)."""
    body = Text()
    body.append(one_line(event.jid), style="bold")
    if known:
        body.append(f" ({one_line(known)})")
    body.append(" asks to see when you are online (your presence).")
    return AskScreen("Contact request", body,
                     [("a", "Approve", "approve"), ("d", "Deny", "deny")],
                     id="subscription")


class RoomsScreen(FolderPicker):
    """The rooms a service lists (XEP-0045 §6), with their names and how many are
    in, filtered as the user types; Enter takes one (its address) to join."""

    def __init__(self, service: str, rooms: Sequence[RoomListing]) -> None:
        self.rooms = list(rooms)
        super().__init__(f"Rooms of {service}" if service else "Rooms",
                         [r.jid for r in self.rooms])
        self.id = "rooms"

    def _options(self, typed: str) -> list[Option]:
        typed = typed.lower()
        return [Option(one_line(r.jid) + (f"  {one_line(r.name)}" if r.name else "")
                       + (f"  ({r.occupants} in)" if r.occupants is not None else ""),
                       id=r.jid)
                for r in self.rooms if typed in f"{r.jid} {r.name}".lower()]


def voice_screen(event: VoiceRequested) -> AskScreen:
    """A visitor asks to speak in a room we moderate: "grant" or "deny"."""
    body = Text()
    body.append(one_line(event.nick), style="bold")
    if event.jid:
        body.append(f" ({one_line(event.jid)})")
    body.append(" asks to speak in ")
    body.append(one_line(event.room), style="bold")
    return AskScreen("Voice request", body,
                     [("a", "Grant voice", "grant"), ("d", "Deny", "deny")], id="voice")


def voice_answer(engine: Engine, event: VoiceRequested, answer: str | None
                 ) -> tuple[Callable[[], Awaitable[object]] | None, str]:
    """The engine call for the voice prompt's answer, and what to say once done."""
    if answer not in ("grant", "deny"):
        return None, ""
    allow = answer == "grant"
    return (lambda: engine.answer_voice_request(event.account, event.room, event.nick,
                                                event.jid, allow),
            f"{one_line(event.nick)} may {'' if allow else 'not '}speak in "
            f"{one_line(event.room)}")


def revisions_text(m: Message, revisions: Sequence[Revision], now: float) -> Text:
    t = Text()
    for r in revisions:
        t.append(f"{short_date(r.replaced, now)}  ", style="dim")
        t.append(safe(r.body).rstrip() + "\n", style="strike")
    t.append("now  ", style="dim")
    t.append(safe(m.text).rstrip(), style="bold")
    return t


class RevisionsScreen(ModalScreen[None]):
    """The texts a corrected line had, oldest first, and the one it has now."""

    BINDINGS = [Binding("escape,q,E", "app.pop_screen", "back")]

    def __init__(self, m: Message, revisions: Sequence[Revision],
                 clock: Clock = time.time) -> None:
        super().__init__(classes="prompt", id="revisions")
        self.body = revisions_text(m, revisions, clock())

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Earlier texts of this line", classes="dialog-title")
            yield Static(self.body, markup=False, id="revisions-body")
            yield Static("esc: back", classes="dialog-help", markup=False)
