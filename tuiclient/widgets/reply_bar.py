"""The reply line under the timeline: the inline chat reply and, over it, whom
the reply being written goes to and how.

The chat input reads `/` commands the way Profanity users type them
(`tuiclient.chat_commands`): a known one goes up as `Command`, anything else
as `Refused` with the text kept; Tab completes a command's name, then its
arguments from `words` (rooms, nicks, contacts, the last line for `/correct`:
set by the screen), and with nothing to complete does nothing (the keys stay
here; Shift+Tab and the window keys move on); ↑ in an empty
input asks to correct the last line (`EditLast`). While words are typed it says
so (`Typing`: composing, then paused after a pause, active when cleared), for
the screen to tell the peer (XEP-0085). An Alt+key types nothing (the window
keys, Alt+1..9, are the screen's: tuiclient.keys.window_bindings).

Its hint says where the keys go, from its focus alone (`show_hint`, at each
focus and blur): with the focus, "your message"; without, the key that brings
it here. When the keys came here by themselves (another conversation opened
under them, Alt+N; back from a screen over this one, `/help`'s, ctrl+o's), the
reply key typed first is taken for a slip: Enter asks once before such a line
goes (`slip`), as it does for a known command typed after a stray character
("i/omemo on"): never sent as text unasked.

A paste of several lines keeps them all (Input keeps the first only): each line
break shows as ↵ (`BREAK`) in the one line, the input's frame says how many
lines, and Enter sends them as one message of that many lines, as Poezio and
Profanity send a paste. A ↵ in the line is a line break, however it came.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message as TMessage
from textual.timer import Timer
from textual.widgets import Input

from tuiclient.chat_commands import (
    COMMANDS,
    NotACommand,
    Typed,
    complete_line,
    is_command,
    literal,
    parse,
)
from tuiclient.chat_lines import NOWHERE, Key, load_lines, save_lines
from tuiclient.drafts import ReplyDraft
from tuiclient.people import SELF, Directory, reply_names, room_of_line

IDLE = "press {key} to reply by IM"
IDLE_ROOM = "press {key} to write to the room"
WRITING = "your message"
BREAK = "↵"  # a line break, as the one-line input shows it


def shown(text: str) -> str:
    """A message's text as the one-line input holds it."""
    return BREAK.join(text.splitlines()) if "\n" in text or "\r" in text else text


def meant(line: str) -> str:
    """The text of what the input holds: its breaks are line breaks again."""
    return line.replace(BREAK, "\n")
# A known command typed after one stray character: "i/omemo on".
AFTER_STRAY = re.compile(r"(\S)/(\w+)(?:\s|$)")


def slip(line: str, stray_key: bool) -> str:
    """Why `line` looks like a slip, to ask before it goes ("" if it does not):
    a known `/command` after one character, or (`stray_key`) the reply key typed
    first while the keys had come to the input by themselves."""
    found = AFTER_STRAY.match(line)
    if found and found.group(2).lower() in COMMANDS:
        return (f"not sent: it reads as /{found.group(2).lower()} after a stray "
                f"\"{found.group(1)}\" (take it away to run the command); enter "
                "again sends the line as typed")
    if stray_key:
        return (f"not sent: its first \"{line[0]}\" was typed as the keys came to "
                "this line (no key is needed to write here); enter again sends it "
                "as typed")
    return ""


class ChatReply(Input):
    """The inline chat reply: Enter sends, Escape leaves."""

    BINDINGS = [Binding("escape", "leave", "leave", show=False),
                Binding("ctrl+o", "options", "reply options"),
                Binding("tab", "complete", "complete", show=False),
                Binding("up", "edit_last", "correct the last line", show=False),
                # As ctrl+g in compose walks OpenPGP: OMEMO on or off for this chat.
                Binding("ctrl+g", "omemo", "OMEMO on/off", show=False)]

    PAUSED_AFTER = 5.0  # seconds without a keystroke: "paused" (XEP-0085 §5.2)
    KEEP_AFTER = 0.3  # seconds without a keystroke: the lines written to disk

    class Send(TMessage):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Command(TMessage):
        """A `/` command, parsed; the input is cleared."""

        def __init__(self, typed: Typed) -> None:
            super().__init__()
            self.typed = typed

    class Refused(TMessage):
        """A `/` line that is no command (or has the wrong words): `reason` is the
        one line to show; the input keeps the text."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    class EditLast(TMessage):
        """↑ in an empty input: correct the last line of the conversation."""

    class Typing(TMessage):
        """Our chat state changed: composing, paused or active."""

        def __init__(self, state: str) -> None:
            super().__init__()
            self.state = state

    # When a key last typed here (text, or the Enter that sent it): monotonic, a
    # key's time; a prompt that a send opens takes keys this soon after as text.
    last_typed = 0.0

    async def on_key(self, event: events.Key) -> None:
        """An Alt+key is a key, never text: a terminal sends ESC then the key, which
        Input would type (a window key, Alt+1, rebound in [keys]: no stray "1").

        Enter sends here, in the order the keys came: as a binding it ran only
        once the key had gone up to the app, after the keys typed on behind it
        were in the line already ("except the cablesone more thing" went)."""
        if event.key.startswith("alt+"):
            event.prevent_default()
            return
        if self._fresh and not self.value and event.character in self.reply_keys:
            self._stray = True  # the key that would have brought the user here
        self._fresh = False
        if event.is_printable or event.key in ("backspace", "enter"):
            self.last_typed = event.time
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            await self.action_submit()

    def _on_paste(self, event: events.Paste) -> None:
        """Several lines pasted: every one kept (Input would keep the first)."""
        if len(event.text.splitlines()) < 2:
            return  # Input's own paste
        event.prevent_default()
        event.stop()
        self._fresh = False
        text = shown(event.text)
        if self.selection.is_empty:
            self.insert_text_at_cursor(text)
        else:
            self.replace(text, *self.selection)

    def write(self, text: str) -> None:
        """`text` in the input to go on with (a command brought back, a line to
        correct), its line breaks kept, the cursor after it."""
        self.value = shown(text)
        self.cursor_position = len(self.value)

    def _mark_lines(self) -> None:
        breaks = self.value.count(BREAK)
        self.border_subtitle = f"{breaks + 1} lines: enter sends them as one message" \
            if breaks else ""

    # -- the hint: where the keys go ------------------------------------------------------

    idle_hint = IDLE.format(key="i")  # without the focus (the key as bound: ChatView)
    reply_keys: frozenset[str] = frozenset("i")  # what the reply key types
    _fresh = False  # the keys came here by themselves; nothing typed since
    _stray = False  # the line's first character is the reply key, typed then
    _asked: str | None = None  # a slip asked about: Enter again sends it

    def watch_has_focus(self, has_focus: bool) -> None:
        super().watch_has_focus(has_focus)
        self.show_hint()

    def show_hint(self) -> None:
        """The hint as the focus is now: never "your message" to keys that go
        elsewhere, never "press i" to keys that type here."""
        self.placeholder = WRITING if self.has_focus else self.idle_hint

    def keys_came(self) -> None:
        """The keys are here, and the user may not know it (another conversation
        opened under them; a screen over this one left: the screen says so)."""
        if self.has_focus:
            self._fresh, self._stray = True, False

    def action_omemo(self) -> None:
        """ctrl+g: OMEMO on or off for the open chat (/omemo, toggled by the screen,
        which knows the chat and its setting)."""
        self.post_message(self.Command(Typed("omemo", ("toggle",))))

    chat_state = "active"  # what the peer was told last
    # The arguments Tab offers, by kind (`chat_commands.complete_line`): read at
    # each Tab from whoever owns the screen, since rooms and people come and go.
    words: Callable[[], Mapping[str, Sequence[str]]] | None = None
    _pause: Timer | None = None
    _keep: Timer | None = None
    conversation: Key = NOWHERE  # whose line the input holds
    _restored: str | None = None  # a line brought back, not typed: no chat state

    def on_mount(self) -> None:
        # Coming back to a half-typed line (or to ":"'s "/") goes on typing it.
        self.select_on_focus = False
        self._lines = load_lines()
        self._show(self._lines.get(self.conversation, ""))

    def on_unmount(self) -> None:
        self.keep_now()

    def keep_now(self) -> None:
        """The lines typed so far, on disk now (the app closes, or its terminal
        went away)."""
        if self._keep is not None:
            self._keep.stop()
        self._write()

    def belongs_to(self, key: Key | None) -> None:
        """The input now holds the line of conversation `key` (None: none open): the
        line typed so far stays with the conversation it was typed in."""
        key = key or NOWHERE
        if key == self.conversation:
            return
        self._lines[self.conversation] = self.value
        self.conversation = key
        self._show(self._lines.get(key, ""))
        self._keep_soon()
        self.keys_came()

    def put_back(self, key: Key | None, text: str) -> bool:
        """A line that did not go, back as the unsent line of conversation `key`
        (the one it was typed in, open or not), unless another was typed there:
        whether it was put there."""
        key = key or NOWHERE
        if key == self.conversation:
            if self.value:
                return False
            self._show(text)
            return True
        if self._lines.get(key):
            return False
        self._lines[key] = text
        self._keep_soon()
        return True

    def _show(self, text: str) -> None:
        text = shown(text)
        if text != self.value:
            self._restored = text
            self.value = text
        self.cursor_position = len(text)

    def _keep_soon(self) -> None:
        if self._keep is not None:
            self._keep.stop()
        self._keep = self.set_timer(self.KEEP_AFTER, self._write)

    def _write(self) -> None:
        self._keep = None
        self._lines[self.conversation] = self.value
        try:
            save_lines(self._lines)
        except OSError as exc:
            self.notify(f"Could not keep the unsent chat line: {exc}", severity="warning",
                        markup=False)

    def _tell(self, state: str) -> None:
        if state != self.chat_state:
            self.chat_state = state
            self.post_message(self.Typing(state))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is not self:
            return
        self._lines[self.conversation] = self.value
        self._keep_soon()
        self._mark_lines()
        if self._stray and self.value[:1] not in self.reply_keys:
            self._stray = False
        if self._restored is not None and event.value == self._restored:
            self._restored = None  # brought back, not typed: the peer is told nothing
            return
        self._restored = None
        if self._pause is not None:
            self._pause.stop()
            self._pause = None
        if not self.value or is_command(self.value):
            self._tell("active" if self.chat_state != "active" else self.chat_state)
            return
        self._tell("composing")
        self._pause = self.set_timer(self.PAUSED_AFTER, lambda: self._tell("paused"))

    def sent(self) -> None:
        """The line went: a message carries "active" itself (no state of its own)."""
        if self._pause is not None:
            self._pause.stop()
            self._pause = None
        self.chat_state = "active"

    def _completions(self) -> list[str]:
        return complete_line(self.value, self.words() if self.words is not None else None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "complete":  # in Profanity's and Poezio's input Tab only completes
            return True
        if action == "edit_last":
            return not self.value
        return True

    def action_complete(self) -> None:
        lines = self._completions()
        if not lines:
            return
        if len(lines) == 1:
            self.value = lines[0]
        else:  # the longest common start, and the choices
            common = lines[0]
            for line in lines[1:]:
                while not line.lower().startswith(common.lower()):
                    common = common[:-1]
            self.value = common
            shown = [line.rstrip().rpartition(" ")[2] if " " in line.rstrip()
                     else line.rstrip() for line in lines]
            self.post_message(self.Refused("  ".join(shown)))
        self.cursor_position = len(self.value)

    def action_edit_last(self) -> None:
        self.post_message(self.EditLast())

    class Leave(TMessage):
        pass

    class Options(TMessage):
        pass

    async def action_submit(self) -> None:
        if not self.value.strip():
            return
        why = slip(self.value, self._stray)
        if why and self._asked != self.value:
            self._asked = self.value  # asked: Enter again is the answer
            self.post_message(self.Refused(why))
            return
        self._asked, self._stray = None, False
        if not is_command(self.value):
            self.sent()
            # The words go with the message, and the input is empty at once: keys
            # typed on before the screen takes them are the next line, not lost.
            text, self.value = meant(literal(self.value)), ""
            self.post_message(self.Send(text))
            return
        try:
            typed = parse(self.value)
        except NotACommand as refusal:
            self.post_message(self.Refused(str(refusal)))
            return
        self.value = ""
        self.post_message(self.Command(Typed(typed.name, tuple(map(meant, typed.args)))))

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def action_options(self) -> None:
        self.post_message(self.Options())


def target_text(draft: ReplyDraft | None, directory: Directory, room: str = "",
                person: str = "") -> Text:
    """The line over the reply: to whom, with what, and the keys; empty when no
    IM reply is being written. In a room (its line answered, or `room`, the
    open room's name, with none to answer) the room: what is typed goes to
    everyone there, whoever said the line. A private line through a room is
    its own conversation, with the occupant: named as the reply's person. In a
    1:1 chat opened as one (`person`, its contact's name), with no line
    answered: to them."""
    in_room = room_of_line(directory, draft.message) if draft is not None else None
    if draft is None and person and not room:
        t = Text("IM to ", style="dim")
        t.append(person, style="bold")
        t.append(" (the chat with them)\n", style="dim")
        t.append("enter: send · esc: leave", style="dim italic")
        return t
    if draft is None and not room:
        return Text("")
    t = Text("IM to the room " if in_room or draft is None else "IM reply to ", style="dim")
    if draft is None or in_room:
        t.append(in_room[1] if in_room else room, style="bold")
        extras = draft.describe(room=True) if draft is not None else ""
        t.append(f" (everyone in it{', ' + extras if extras else ''})\n", style="dim")
        t.append("enter: send · ctrl+o: options · esc: leave" if draft is not None
                 else "enter: send · esc: leave", style="dim italic")
        return t
    names = reply_names(directory, draft.message, draft.reply_all)
    t.append(names, style="bold")
    if names == SELF:  # a note to self: no sender to answer, nobody else
        extras = draft.describe(room=True)
        t.append(f" (a note to self{', ' + extras if extras else ''})\n", style="dim")
    else:
        t.append(f" ({draft.describe()})\n", style="dim")
    t.append("enter: send · ctrl+o: options · esc: leave", style="dim italic")
    return t
