"""The reply line under the timeline: the inline chat reply and, over it, whom
the reply being written goes to and how."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message as TMessage
from textual.widgets import Input

from tuiclient.drafts import ReplyDraft
from tuiclient.people import Directory, reply_names

IDLE = "press i to reply by IM"
WRITING = "your message"


class ChatReply(Input):
    """The inline chat reply: Enter sends, Escape leaves."""

    BINDINGS = [Binding("escape", "leave", "leave", show=False),
                Binding("ctrl+o", "options", "reply options")]

    class Send(TMessage):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Leave(TMessage):
        pass

    class Options(TMessage):
        pass

    async def action_submit(self) -> None:
        if self.value.strip():
            self.post_message(self.Send(self.value))

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def action_options(self) -> None:
        self.post_message(self.Options())


def target_text(draft: ReplyDraft | None, directory: Directory) -> Text:
    """The line over the reply: to whom, with what, and the keys; empty when no
    IM reply is being written."""
    if draft is None:
        return Text("")
    t = Text("IM reply to ", style="dim")
    t.append(reply_names(directory, draft.message, draft.reply_all), style="bold")
    t.append(f" ({draft.describe()})\n", style="dim")
    t.append("enter: send · ctrl+o: options · esc: leave", style="dim italic")
    return t
