"""The terminal going away under the app (tmux killed, an ssh session dropped, a
terminal window closed): how the app learns it, whichever way it comes.

Three ways, because none is enough alone:
- SIGHUP, from the kernel when the terminal hangs up (the app's `_hangup`). It
  may not come: a terminal that is not the app's controlling one hangs up in
  silence, and one signal can stand for two (a reload asked for just before).
- A write that fails. Textual draws through a thread that writes to the
  terminal; on a hung-up terminal the write fails (EIO) and that thread dies,
  after which Textual's queue of writes (30 deep) fills and the UI loop blocks
  on it for good: no signal handler, no timer runs again, the app hangs with
  the user's text in it. `GoneSafeOutput` stands between the thread and the
  terminal: a failed write is dropped and said once (`on_gone`), so the thread
  drains the queue and the loop goes on to close the app.
- A look now and then (`terminal_gone`, every `CHECK_EVERY` seconds from the
  app), for a screen that draws nothing and got no signal.

Textual has no hook for a hung-up output, so `HangupDriver` puts the wrapper in
place of the file its Linux driver draws on (`_file`, the one private name read
here; another Textual draws as before, without the wrapper).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, cast

from textual.drivers.linux_driver import LinuxDriver

CHECK_EVERY = 5.0  # seconds between two looks at the terminal
# Once the terminal is gone and the typed text kept, the app's close has this
# long (seconds) before the process ends anyway: a server that does not answer
# the logout must not keep a process nobody sees (online in the roster, holding
# the store) running for good.
GRACE = 10.0


def terminal_gone() -> bool:
    """Whether the terminal the app draws on has hung up: a hung-up tty answers
    every request with an error (EIO), a live one answers tcgetattr."""
    import termios

    stream = sys.__stderr__  # where Textual draws
    if stream is None:
        return True
    try:
        termios.tcgetattr(stream.fileno())
    except (termios.error, OSError, ValueError):
        return True
    return False


class GoneSafeOutput:
    """The terminal's stream as Textual's writer thread sees it: a write or flush
    that fails with OSError is dropped, and `on_gone` is called once, from that
    thread. Everything else goes to the stream."""

    def __init__(self, stream: IO[str], on_gone: Callable[[], None]) -> None:
        self._stream = stream
        self._on_gone = on_gone
        self.gone = False

    def _failed(self) -> None:
        if not self.gone:
            self.gone = True
            self._on_gone()

    def write(self, text: str) -> int:
        if self.gone:
            return len(text)
        try:
            return self._stream.write(text)
        except OSError:
            self._failed()
            return len(text)

    def flush(self) -> None:
        if self.gone:
            return
        try:
            self._stream.flush()
        except OSError:
            self._failed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class HangupDriver(LinuxDriver):
    """Textual's Linux driver, drawing through `GoneSafeOutput`; a failed write
    calls the app's `terminal_hung_up` on its loop."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        stream = getattr(self, "_file", None)
        if stream is not None and not isinstance(stream, GoneSafeOutput):
            # Duck-typed: the writer thread calls write, flush and fileno.
            self._file = cast(Any, GoneSafeOutput(stream, self._gone))

    def _gone(self) -> None:
        loop = getattr(self._app, "_loop", None)
        hung_up = getattr(self._app, "terminal_hung_up", None)
        if loop is not None and hung_up is not None:
            # A closed loop: the app is ending anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(hung_up)


def end_after(seconds: float, code: int = 1) -> threading.Timer:
    """End the process in `seconds` unless it has ended by then (a daemon
    thread: a close that finishes in time is not held by it)."""
    timer = threading.Timer(seconds, os._exit, (code,))
    timer.daemon = True
    timer.start()
    return timer
