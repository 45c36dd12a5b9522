"""A TCP proxy that breaks connections on request, between our client and a server.

    proxy = FaultProxy(world.ports.imaps).start()   # listens on proxy.port
    proxy.refuse()          # new connections are closed at once (RST)
    proxy.drop()            # every open connection is cut now (RST); mode unchanged
    proxy.delay(0.5)        # every chunk waits 0.5 s before it goes on
    proxy.stall()           # connections stay open, nothing goes through
    proxy.stall(existing=True)  # only the connections open now freeze (a dead NAT
                                # mapping): new ones pass
    proxy.cut_after(20_000)     # the next connection is cut once 20,000 bytes went
                                # through it (`once=False`: every connection)
    proxy.pass_()           # back to forwarding; stalled data flows again

Bytes are forwarded untouched, so TLS goes end to end and the client verifies the
real server's certificate (made for 127.0.0.1). The proxy runs its own asyncio
loop in a thread: tests drive it from sync or async code alike, and a test that
blocks its own loop does not freeze the traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

MODES = ("pass", "refuse", "delay", "stall", "cut")


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    stalled: bool = False
    cut_at: int | None = None  # bytes (both directions) after which it is cut
    moved: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, as a crashed peer or a dropped route looks to the other end."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1",
                 listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = listen_port
        self.mode = "pass"
        self.delay_s = 0.0
        self.cut_bytes = 0
        self.cut_once = True
        self.connections = 0  # accepted so far
        self.cuts = 0  # connections cut by cut_after or drop
        self.bytes = 0  # forwarded, both directions
        self._conns: set[_Conn] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"faultproxy-{target_port}")
        self._server: asyncio.AbstractServer | None = None
        self._changed: asyncio.Event | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        self._changed = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for conn in list(self._conns):
            self._cut(conn, count=False)

    # -- modes (callable from any thread) -------------------------------------------------

    def _set(self, mode: str, **values: object) -> None:
        async def apply() -> None:
            for key, value in values.items():
                setattr(self, key, value)
            self.mode = mode
            if mode == "pass":
                for conn in self._conns:
                    conn.stalled = False
                    conn.cut_at = None
            self._kick()
        self._call(apply())

    def _kick(self) -> None:
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()

    def pass_(self) -> None:
        self._set("pass")

    def refuse(self) -> None:
        self._set("refuse")

    def delay(self, seconds: float) -> None:
        self._set("delay", delay_s=seconds)

    def stall(self, existing: bool = False) -> None:
        """Freeze every connection (or only those open now, `existing=True`)."""
        if existing:
            async def freeze() -> None:
                for conn in self._conns:
                    conn.stalled = True
            self._call(freeze())
        else:
            self._set("stall")

    def cut_after(self, n: int, *, once: bool = True) -> None:
        """Cut the next connection (every one, once=False) after `n` bytes."""
        self._set("cut", cut_bytes=n, cut_once=once)

    def drop(self) -> int:
        """Cut every open connection now; returns how many there were."""
        async def cut_all() -> int:
            conns = list(self._conns)
            for conn in conns:
                self._cut(conn)
            return len(conns)
        return int(self._call(cut_all()))

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    # -- forwarding -------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "refuse":
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        conn = _Conn(writer, up_writer)
        if self.mode == "cut":
            conn.cut_at = self.cut_bytes
            if self.cut_once:
                self.mode = "pass"
        self._conns.add(conn)
        conn.tasks = [asyncio.ensure_future(self._pump(conn, reader, up_writer)),
                      asyncio.ensure_future(self._pump(conn, up_reader, writer))]
        await asyncio.gather(*conn.tasks, return_exceptions=True)
        self._conns.discard(conn)
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def _hold(self, conn: _Conn) -> None:
        while (conn.stalled or self.mode == "stall") and conn in self._conns:
            assert self._changed is not None
            await self._changed.wait()

    async def _pump(self, conn: _Conn, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self._hold(conn)
                if self.mode == "delay" and self.delay_s > 0:
                    await asyncio.sleep(self.delay_s)
                    await self._hold(conn)
                if conn not in self._conns:
                    return
                if conn.cut_at is not None and conn.moved + len(data) >= conn.cut_at:
                    part = data[:max(0, conn.cut_at - conn.moved)]
                    if part:
                        writer.write(part)
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(writer.drain(), 1)
                    self._cut(conn)
                    return
                conn.moved += len(data)
                self.bytes += len(data)
                writer.write(data)
                await writer.drain()
            # An orderly close on one side is passed on as one.
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()
        except (OSError, asyncio.IncompleteReadError):
            self._cut(conn, count=False)

    def _cut(self, conn: _Conn, count: bool = True) -> None:
        if conn not in self._conns:
            return
        self._conns.discard(conn)
        if count:
            self.cuts += 1
        _reset(conn.client)
        _reset(conn.server)
        for task in conn.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if self._changed is not None:
            self._kick()
