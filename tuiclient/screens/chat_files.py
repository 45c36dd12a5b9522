"""The chat input's `/sendfile PATH` (and `/attach PATH`, Profanity's and
Poezio's words): a file from disk to the open chat, a contact or a room, as
its own line with its link (HTTP upload, XEP-0363; OMEMO-sealed, XEP-0454,
when the chat is), through the engine's `send_message` and its outbox like
every line (asked about when the contact is away, deferred, or by email).

A part of `Chatting` (its base class), as chat_contacts is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bridge.engine import EngineError, ReplyResult
from tuiclient.format import one_line, size
from tuiclient.replies import sent_words

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bridge.engine import Engine
    from tuiclient.screens.main import MainScreen


class FileCommands:
    if TYPE_CHECKING:  # what Chatting has
        screen: MainScreen
        peer: tuple[str, str] | None
        room: bool

        @property
        def engine(self) -> Engine: ...

        async def send_asking(self, send: Callable[[str], Awaitable[ReplyResult]]
                              ) -> ReplyResult: ...

    async def _cmd_sendfile(self, typed: str) -> str:
        if self.peer is None:
            raise EngineError("open a chat first: the file goes to it")
        path = Path(typed.strip()).expanduser()
        if not path.is_file():
            raise EngineError(f"no file {typed.strip()}")
        account, jid = self.peer
        result = await self.send_asking(lambda when_away: self.engine.send_message(
            account, [jid], "", via="im", when_away=when_away, attachments=[path]))
        said = f"{one_line(path.name)} ({size(path.stat().st_size)})"
        if result.deferred or result.via == "email":
            return f"{said}: {sent_words(result)}"
        return f"sending {said}"

    async def _cmd_attach(self, typed: str) -> str:
        return await self._cmd_sendfile(typed)
