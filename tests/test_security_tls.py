"""Issue #10, TLS: bad certificates and stripped STARTTLS are refused, plaintext warns.

Small fake servers on loopback speak just enough IMAP, SMTP, XMPP and HTTPS to
reach the TLS handshake (or to offer no STARTTLS at all), so every client path of
the app meets a wrong host name, an expired and a self-signed certificate. Each
fake server accepts any login: a client that skipped a check would get in, and
the test would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.config import ServerConfig
from bridge.mail.connect import ConnectError, open_imap, open_smtp
from bridge.tls import client_context
from bridge.xmpp.session import XmppLoginError, XmppSession
from bridge.xmpp.upload import TransferError, get_file
from tests.harness.certs import BadCerts, make_bad_certs

JID = "alice@example.test"
PASSWORD = "pw-that-must-not-leak-7c1e"
BAD_KINDS = ("wrong_host", "expired", "self_signed")
# What OpenSSL says for each, as the user reads it in the error.
REASON = {
    "wrong_host": r"mismatch|not valid for",
    "expired": r"expired",
    "self_signed": r"self.signed",
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> BadCerts:
    return make_bad_certs(tmp_path_factory.mktemp("badcerts"),
                          ["example.test", "localhost", "127.0.0.1"])


# --- fake servers -----------------------------------------------------------------


class FakeServer:
    """A loopback server running `script(conn, server)` for each connection.

    `seen` collects what the client said (decoded, per line or chunk) so tests can
    check that no login ever reached a server it should have refused.
    """

    def __init__(self, script: Callable[[socket.socket, FakeServer], None],
                 cert: tuple[Path, Path] | None = None, starttls: bool = True) -> None:
        self.script = script
        self.starttls = starttls
        self.seen: list[str] = []
        self.handshakes = 0  # TLS handshakes that completed on the server side
        self.ctx: ssl.SSLContext | None = None
        if cert is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*cert)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with contextlib.suppress(OSError, ValueError), conn:
                self.script(conn, self)

    def wrap(self, conn: socket.socket) -> ssl.SSLSocket | None:
        assert self.ctx is not None
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return None  # the client refused our certificate
        self.handshakes += 1
        return tls

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() at once
        self.sock.close()
        self._thread.join(5)

    def logins(self) -> list[str]:
        return [s for s in self.seen if re.search(r"LOGIN|AUTH|<auth|<iq", s, re.I)]


def _lines(conn: socket.socket) -> Iterator[str]:
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buf += chunk
        line, _, buf = buf.partition(b"\n")
        yield line.decode("utf-8", "replace").rstrip("\r")


def implicit_tls(conn: socket.socket, server: FakeServer) -> None:
    """TLS first, whatever the protocol; on success, an IMAP/SMTP-ish greeting."""
    tls = server.wrap(conn)
    if tls is not None:
        server.seen.append("<handshake>")
        with tls:
            tls.sendall(b"* OK hello\r\n")
            tls.recv(1024)


def fake_imap(conn: socket.socket, server: FakeServer) -> None:
    """IMAP on the STARTTLS port; any LOGIN is accepted."""
    offer = server.starttls
    caps = lambda: b"IMAP4rev1 AUTH=PLAIN" + (b" STARTTLS" if offer else b"")  # noqa: E731
    sock: socket.socket = conn
    sock.sendall(b"* OK [CAPABILITY " + caps() + b"] fake IMAP ready\r\n")
    lines = _lines(sock)
    while (line := next(lines, None)) is not None:
        server.seen.append(line)
        tag, _, rest = line.partition(" ")
        command = rest.split(" ", 1)[0].upper()
        if command == "STARTTLS" and offer:
            sock.sendall(tag.encode() + b" OK begin TLS\r\n")
            tls = server.wrap(sock)
            if tls is None:
                return
            sock, lines, offer = tls, _lines(tls), False
            continue
        sock.sendall(_imap_reply(tag, command, caps()))
        if command == "LOGOUT":
            return


def _imap_reply(tag: str, command: str, caps: bytes) -> bytes:
    t = tag.encode()
    if command == "CAPABILITY":
        return b"* CAPABILITY " + caps + b"\r\n" + t + b" OK done\r\n"
    if command == "LOGIN":
        return t + b" OK [CAPABILITY " + caps + b"] logged in (any password will do)\r\n"
    if command == "LOGOUT":
        return b"* BYE\r\n" + t + b" OK bye\r\n"
    return t + b" OK fine\r\n"


def fake_smtp(conn: socket.socket, server: FakeServer) -> None:
    sock: socket.socket = conn
    sock.sendall(b"220 fake.test ESMTP\r\n")
    lines = _lines(sock)
    secure = False
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        server.seen.append(line)
        verb = line.split(" ", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            offer = server.starttls and not secure
            sock.sendall(b"250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n"
                         + (b"250-STARTTLS\r\n" if offer else b"") + b"250 8BITMIME\r\n")
        elif verb == "STARTTLS" and server.starttls:
            sock.sendall(b"220 go ahead\r\n")
            tls = server.wrap(sock)
            if tls is None:
                return
            sock, lines, secure = tls, _lines(tls), True
        elif verb == "AUTH":
            sock.sendall(b"235 2.7.0 any password will do\r\n")
        elif verb == "QUIT":
            sock.sendall(b"221 bye\r\n")
            return
        else:
            sock.sendall(b"250 ok\r\n")


STREAM_HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='fake1' from='example.test' "
    "version='1.0'>"
)


def fake_xmpp(conn: socket.socket, server: FakeServer) -> None:
    """A c2s port; without STARTTLS it offers resource binding with no login at all,
    which is what someone in the middle would do to get a client to talk."""
    seen = ""
    if not conn.recv(1, socket.MSG_PEEK).startswith(b"<"):
        return  # a TLS ClientHello: this port does not speak TLS
    while "<stream:stream" not in seen or ">" not in seen.split("<stream:stream", 1)[1]:
        chunk = conn.recv(4096)
        if not chunk:
            return
        seen += chunk.decode("utf-8", "replace")
    if server.starttls:
        features = ("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>")
    else:
        features = ("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                    "<mechanism>PLAIN</mechanism><mechanism>ANONYMOUS</mechanism></mechanisms>"
                    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>")
    conn.sendall((STREAM_HEADER + f"<stream:features>{features}</stream:features>").encode())
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return
        text = chunk.decode("utf-8", "replace")
        server.seen.append(text)
        if "<starttls" in text and server.starttls:
            conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            tls = server.wrap(conn)
            if tls is not None:
                with tls:
                    server.seen.append(tls.recv(4096).decode("utf-8", "replace"))
            return
        if "<iq" in text:
            conn.sendall(b"<iq type='result' id='x'/>")


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(script: Callable[[socket.socket, FakeServer], None],
              cert: tuple[Path, Path] | None = None, starttls: bool = True) -> FakeServer:
        server = FakeServer(script, cert, starttls)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


def config(server: FakeServer, tls: str, ca: Path | None) -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=server.port, tls=tls, ca_file=ca)


async def xmpp_start(cfg: ServerConfig, timeout: float = 10.0) -> float:
    """Start a session and return how long the refusal took (it must be refused)."""
    session = XmppSession(JID, PASSWORD, cfg)
    began = time.monotonic()
    try:
        with pytest.raises(XmppLoginError) as info:
            await session.start(timeout=timeout)
    finally:
        session.cancel_connection_attempt()
        session.abort()
    elapsed = time.monotonic() - began
    info.value.elapsed = elapsed  # type: ignore[attr-defined]
    raise info.value


# --- the refusals -----------------------------------------------------------------


def test_the_fake_servers_accept_a_good_certificate(certs, serve):
    """The control: with a certificate the CA vouches for, the very same fake
    servers are logged in to, so the refusals below are the certificate's doing."""
    imaps = serve(implicit_tls_imap, certs.good)
    client = open_imap(config(imaps, "tls", certs.ca_cert), JID, PASSWORD)
    client.logout()
    imap = serve(fake_imap, certs.good)
    client = open_imap(config(imap, "starttls", certs.ca_cert), JID, PASSWORD)
    client.logout()
    smtp = serve(fake_smtp, certs.good)
    open_smtp(config(smtp, "starttls", certs.ca_cert), JID, PASSWORD).quit()
    https = serve(fake_https(b"x" * 10), certs.good)
    data, _ = asyncio.run(get_file(f"https://127.0.0.1:{https.port}/f",
                                   100, client_context(certs.ca_cert)))
    assert data == b"x" * 10
    # The XMPP domain's name is on the good certificate too.
    raw = client_context(certs.ca_cert).wrap_socket(
        socket.create_connection(("127.0.0.1", serve(implicit_tls, certs.good).port)),
        server_hostname="example.test")
    raw.close()
    for server in (imaps, imap, smtp, https):
        assert server.handshakes >= 1


def implicit_tls_imap(conn: socket.socket, server: FakeServer) -> None:
    tls = server.wrap(conn)
    if tls is None:
        return
    with tls:
        server.starttls = False
        _imap_in(tls, server)


def _imap_in(sock: ssl.SSLSocket, server: FakeServer) -> None:
    caps = b"IMAP4rev1 AUTH=PLAIN"
    sock.sendall(b"* OK [CAPABILITY " + caps + b"] fake IMAPS ready\r\n")
    for line in _lines(sock):
        server.seen.append(line)
        tag, _, rest = line.partition(" ")
        command = rest.split(" ", 1)[0].upper()
        sock.sendall(_imap_reply(tag, command, caps))
        if command == "LOGOUT":
            return


def implicit_tls_smtp(conn: socket.socket, server: FakeServer) -> None:
    tls = server.wrap(conn)
    if tls is None:
        return
    with tls:
        server.starttls = False
        fake_smtp(tls, server)


def fake_https(body: bytes, headers: bytes = b"") -> Callable[[socket.socket, FakeServer], None]:
    def script(conn: socket.socket, server: FakeServer) -> None:
        tls = server.wrap(conn)
        if tls is None:
            return
        with tls:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                request += chunk
            server.seen.append(request.decode("latin-1"))
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        + (headers or f"Content-Length: {len(body)}\r\n".encode())
                        + b"Connection: close\r\n\r\n")
            with contextlib.suppress(OSError):
                tls.sendall(body)
    return script


CLIENTS = ("imap-tls", "imap-starttls", "smtp-tls", "smtp-starttls",
           "xmpp-tls", "xmpp-starttls", "https-download")


def refuse(client: str, kind: str, certs: BadCerts, serve: Callable[..., FakeServer]
           ) -> tuple[str, FakeServer]:
    """Connect `client` to a server presenting the `kind` certificate; the error text."""
    cert = getattr(certs, kind)
    ca = certs.ca_cert
    if client == "imap-tls":
        server = serve(implicit_tls_imap, cert)
        with pytest.raises(ConnectError) as info:
            open_imap(config(server, "tls", ca), JID, PASSWORD)
    elif client == "imap-starttls":
        server = serve(fake_imap, cert)
        with pytest.raises(ConnectError) as info:
            open_imap(config(server, "starttls", ca), JID, PASSWORD)
    elif client == "smtp-tls":
        server = serve(implicit_tls_smtp, cert)
        with pytest.raises(ConnectError) as info:
            open_smtp(config(server, "tls", ca), JID, PASSWORD)
    elif client == "smtp-starttls":
        server = serve(fake_smtp, cert)
        with pytest.raises(ConnectError) as info:
            open_smtp(config(server, "starttls", ca), JID, PASSWORD)
    elif client.startswith("xmpp"):
        mode = client.split("-")[1]
        server = serve(implicit_tls if mode == "tls" else fake_xmpp, cert)
        with pytest.raises(XmppLoginError) as info:
            asyncio.run(xmpp_start(config(server, mode, ca)))
        assert info.value.elapsed < 5, "refused only by the timeout"  # type: ignore[attr-defined]
    else:
        server = serve(fake_https(b"secret file"), cert)
        with pytest.raises(TransferError) as info:
            asyncio.run(get_file(f"https://127.0.0.1:{server.port}/f", 1000,
                                 client_context(ca)))
    return str(info.value), server


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("client", CLIENTS)
def test_a_bad_certificate_is_refused_with_an_error_naming_the_server(
        client, kind, certs, serve):
    message, server = refuse(client, kind, certs, serve)
    assert f"127.0.0.1:{server.port}" in message
    assert "TLS failed" in message
    assert re.search(REASON[kind], message, re.I), message
    # Nothing was said inside a TLS session with that server, and no login was sent.
    assert server.handshakes == 0
    assert server.logins() == [] and PASSWORD not in " ".join(server.seen)


def test_no_ca_file_means_the_system_store_which_does_not_know_a_private_ca(certs, serve):
    server = serve(implicit_tls_imap, certs.good)
    with pytest.raises(ConnectError, match=r"TLS failed.*(verify failed|unable to get)"):
        open_imap(config(server, "tls", None), JID, PASSWORD)
    assert server.logins() == []


# --- STARTTLS stripping -------------------------------------------------------------


def test_imap_without_starttls_is_refused_when_starttls_is_configured(serve):
    server = serve(fake_imap, starttls=False)
    with pytest.raises(ConnectError, match=f"127.0.0.1:{server.port} does not offer STARTTLS"):
        open_imap(config(server, "starttls", None), JID, PASSWORD)
    assert server.logins() == [] and PASSWORD not in " ".join(server.seen)


def test_smtp_without_starttls_is_refused_when_starttls_is_configured(serve):
    server = serve(fake_smtp, starttls=False)
    with pytest.raises(ConnectError, match=f"127.0.0.1:{server.port} does not offer STARTTLS"):
        open_smtp(config(server, "starttls", None), JID, PASSWORD)
    assert server.logins() == [] and PASSWORD not in " ".join(server.seen)


def test_xmpp_without_starttls_is_refused_when_starttls_is_configured(serve):
    """The stripped server offers to skip the login and bind at once: a client that
    only relied on SASL refusing PLAIN over plaintext would go online unencrypted."""
    server = serve(fake_xmpp, starttls=False)
    with pytest.raises(XmppLoginError,
                       match=f"127.0.0.1:{server.port} does not offer STARTTLS") as info:
        asyncio.run(xmpp_start(config(server, "starttls", None)))
    assert info.value.elapsed < 5  # type: ignore[attr-defined]
    assert server.logins() == [] and PASSWORD not in " ".join(server.seen)


def test_xmpp_direct_tls_is_never_downgraded_to_starttls_or_plain(serve):
    """A `tls = "tls"` port that answers in plaintext is not talked to in plaintext."""
    server = serve(fake_xmpp, starttls=True)
    with pytest.raises(XmppLoginError):
        asyncio.run(xmpp_start(config(server, "tls", None), timeout=3))
    assert server.seen == [] or not any("<stream" in s for s in server.seen)


# --- plaintext only on request, and with a warning ------------------------------------


def test_plain_is_used_only_when_configured_and_warns(serve, caplog):
    imap, smtp = serve(fake_imap, starttls=False), serve(fake_smtp, starttls=False)
    caplog.set_level(logging.WARNING)
    client = open_imap(config(imap, "plain", None), JID, PASSWORD)
    client.logout()
    open_smtp(config(smtp, "plain", None), JID, PASSWORD).quit()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for protocol, server in (("IMAP", imap), ("SMTP", smtp)):
        assert any(f"{protocol} 127.0.0.1:{server.port}" in w and "plain" in w
                   and "unencrypted" in w for w in warnings), warnings
    # Nothing leaks the password into the warning itself.
    assert not any(PASSWORD in w for w in warnings)


def test_xmpp_plain_warns(serve, caplog):
    server = serve(fake_xmpp, starttls=False)
    caplog.set_level(logging.WARNING)
    with contextlib.suppress(XmppLoginError):
        asyncio.run(xmpp_start(config(server, "plain", None), timeout=0.5))
    assert any(f"XMPP 127.0.0.1:{server.port}" in r.getMessage()
               and "unencrypted" in r.getMessage() for r in caplog.records)


def test_verified_tls_is_the_default_mode(tmp_path):
    from bridge.config import load_config
    path = tmp_path / "c.toml"
    path.write_text('[[accounts]]\nname = "a"\nemail = "a@x.test"\njid = "a@x.test"\n'
                    '[accounts.imap]\nhost = "h"\n[accounts.smtp]\nhost = "h"\n'
                    "[accounts.xmpp]\n")
    account = load_config(path).account("a")
    assert (account.imap.tls, account.smtp.tls, account.xmpp.tls) == ("tls", "tls", "starttls")
    ctx = client_context(None)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


# --- downloads: size limits that a lying server cannot get round ----------------------


@pytest.mark.parametrize("headers", [
    b"",  # an honest Content-Length over the limit
    b"Content-Length: 10\r\n",  # a lie: the body is much longer
    b"Transfer-Encoding: chunked\r\n",  # no length at all
], ids=["honest", "lying-length", "chunked"])
def test_a_download_over_the_limit_is_refused(headers, certs, serve):
    body = b"z" * 300_000
    if headers.startswith(b"Transfer-Encoding"):
        body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n"
                        for c in [body[i:i + 4096] for i in range(0, len(body), 4096)]
                        ) + b"0\r\n\r\n"
    server = serve(fake_https(body, headers), certs.good)
    url = f"https://127.0.0.1:{server.port}/big.bin"
    if headers.startswith(b"Content-Length: 10"):
        # A server that says 10 bytes gets no more than 10 bytes read.
        data, _ = asyncio.run(get_file(url, 1000, client_context(certs.ca_cert)))
        assert data == b"z" * 10
        return
    with pytest.raises(TransferError, match="limit"):
        asyncio.run(get_file(url, 1000, client_context(certs.ca_cert)))


def test_only_https_links_are_fetched():
    for url in ("http://127.0.0.1:1/x", "file:///etc/passwd", "ftp://h/x", "https:///x",
                "https://[::1/x"):
        with pytest.raises(TransferError):
            asyncio.run(get_file(url, 1000, client_context(None)))

