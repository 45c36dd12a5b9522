"""The fault-injecting proxy of the harness, against a loopback echo server."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.harness.faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass  # the proxy cut us: expected here


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with FaultProxy(server.server_address[1]) as p:
        yield p
    server.shutdown()
    server.server_close()


def connect(p: FaultProxy, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", p.port), timeout=timeout)


def echo(s: socket.socket, data: bytes) -> bytes:
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def broken(s: socket.socket) -> bool:
    """The proxy cut this connection (reset, or closed before an answer)."""
    try:
        return echo(s, b"anyone there?") != b"anyone there?"
    except OSError:
        return True


def test_passes_bytes_both_ways(proxy):
    with connect(proxy) as s:
        assert echo(s, b"hello" * 1000) == b"hello" * 1000
    assert proxy.bytes >= 10_000


def test_refuse_and_drop(proxy):
    proxy.refuse()
    try:
        s = connect(proxy)
    except OSError:
        pass  # reset before connect() even returned
    else:
        with s:
            assert broken(s)
    proxy.pass_()
    with connect(proxy) as s:
        assert echo(s, b"ping") == b"ping"
        assert proxy.drop() == 1
        assert broken(s)


def test_stall_holds_data_until_released(proxy):
    with connect(proxy, timeout=0.5) as s:
        assert echo(s, b"a") == b"a"
        proxy.stall(existing=True)
        s.sendall(b"held")
        with pytest.raises(TimeoutError):
            s.recv(10)
        with connect(proxy) as fresh:  # new connections still pass
            assert echo(fresh, b"new") == b"new"
        proxy.pass_()
        s.settimeout(5)
        assert echo(s, b"") == b"" and s.recv(10) == b"held"


def test_delay_and_cut_after(proxy):
    proxy.delay(0.3)
    with connect(proxy, timeout=5) as s:
        t = time.monotonic()
        assert echo(s, b"slow") == b"slow"
        assert time.monotonic() - t >= 0.5  # one delay each way
    proxy.cut_after(1000)
    with connect(proxy, timeout=5) as s:
        s.sendall(b"y" * 4000)
        assert broken(s)
    # The client can see the cut's first bytes before the proxy has counted it
    # (the cut's last write is drained first): counted within a moment.
    deadline = time.monotonic() + 5
    while proxy.cuts == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.cuts == 1 and proxy.mode == "pass"  # once: the next one passes
    with connect(proxy) as s:
        assert echo(s, b"z" * 4000) == b"z" * 4000
