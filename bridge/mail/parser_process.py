"""The header parser process: batches of fetched headers in, store rows out.

From `sync.WORKER_MIN` headers on, parsing runs in a child process while the
syncing one fetches and stores: parsing and SQLite then use both cores instead
of taking turns under the GIL. Frames on the pipes are a length and a pickle of
plain tuples (pickling dataclasses costs more than parsing). The child imports
only this module and the parse step (bridge.mail.header_rows), not the IMAP
client.
"""

from __future__ import annotations

import gc
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from .header_rows import header_rows

_FRAME = struct.Struct("!Q")


def _write_frame(out: IO[bytes], payload: bytes) -> None:
    out.write(_FRAME.pack(len(payload)))
    out.write(payload)
    out.flush()


def _read_frame(src: IO[bytes]) -> bytes | None:
    head = src.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    size = _FRAME.unpack(head)[0]
    payload = src.read(size)
    if len(payload) < size:
        return None
    return payload


def _worker_main() -> None:
    """The parser process: batches of fetched headers in, store rows out, in order.

    Only plain tuples cross the pipe: pickling dataclasses costs more than parsing.
    """
    # Parsing makes no reference cycles, and the cyclic collector would walk the
    # parser's caches (a hundred thousand objects) over and over: this process
    # lives for one sync and frees by reference counting alone.
    gc.disable()
    src, out = sys.stdin.buffer, sys.stdout.buffer
    # Answers go out from a thread of their own: the pipe takes an answer only as
    # fast as the syncing process reads it, which it does between two batches'
    # inserts, and this process parses the next batch in the meantime.
    answers: queue.Queue[bytes | None] = queue.Queue(maxsize=1)

    def send() -> None:
        broken = False
        while (answer := answers.get()) is not None:
            if not broken:
                try:
                    _write_frame(out, answer)
                except OSError:
                    broken = True  # the syncing process is gone; drain until the end

    sender = threading.Thread(target=send, name="parser-answers", daemon=True)
    sender.start()
    while (payload := _read_frame(src)) is not None:
        try:
            account, folder, own, items = pickle.loads(payload)
            reply: Any = ("ok", header_rows(account, folder, items, own))
        except Exception as exc:  # reported to the syncing process, which raises it
            reply = ("error", f"{type(exc).__name__}: {exc}")
        answers.put(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    answers.put(None)
    sender.join()


class ParserProcess:
    """A child process that parses header batches while this one fetches and stores."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c",
             "from bridge.mail.parser_process import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)

    def submit(self, account: str, folder: str, own: frozenset[str],
               items: list[tuple[int, frozenset[str], bytes]]) -> None:
        assert self.proc.stdin is not None
        _write_frame(self.proc.stdin, pickle.dumps((account, folder, own, items),
                                                   protocol=pickle.HIGHEST_PROTOCOL))

    def result(self) -> list[tuple[Any, ...]]:
        assert self.proc.stdout is not None
        payload = _read_frame(self.proc.stdout)
        if payload is None:
            raise RuntimeError(f"the header parser process died ({self.proc.poll()})")
        status, value = pickle.loads(payload)
        if status != "ok":
            raise RuntimeError(f"the header parser process failed: {value}")
        return value

    def kill(self) -> None:
        with suppress(OSError):
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        with suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_ParserProcess = ParserProcess  # its name while it lived in bridge.mail.sync
