"""Issue #10, HTML mail: shown as text, links with their real target, nothing fetched.

A link whose text names one address and whose target is another is the phishing
trick; the reader must see the target. A document built to make the HTML parser
give up (and fall back to stripping tags) must not hide the targets either.
"""

from __future__ import annotations

import quopri
import socket
import threading
import time

import pytest

from bridge.mail import body_text
from bridge.mail.mime import html_to_text, parse_message, to_message

DECEPTIVE = [
    # (html, the real target the reader must see)
    ('<a href="http://evil.example/login">http://good.example/login</a>',
     "http://evil.example/login"),
    ('<a href="https://evil.example/"><b>https://bank.example</b>/account</a>',
     "https://evil.example/"),
    ('<a href="HTTPS://EVIL.example/x">https://evil.example.good.example/x</a>',
     "HTTPS://EVIL.example/x"),
    ('<a href="h&#116;tp://evil.example/&#x61;">http://good.example/a</a>',
     "http://evil.example/a"),
    ("<a href='mailto:evil@evil.example'>boss@corp.example</a>", "mailto:evil@evil.example"),
    ('<A HREF=http://evil.example/u>Your account</A>', "http://evil.example/u"),
    ('<a href="  https://evil.example/sp  ">click here</a>', "https://evil.example/sp"),
]

# Appended to a document, this makes the HTML parser give up (an unclosed
# comment bigger than it will buffer): the tag-stripping fallback takes over.
PARSER_BREAKER = "<!--" + "x" * (body_text._HTML_MAX_PENDING + 1000) + "<br>"


def test_the_parser_breaker_does_break_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []
    real = body_text._strip_tags
    monkeypatch.setattr(body_text, "_strip_tags", lambda html: used.append(html) or real(html))
    html_to_text("<p>a</p>" + PARSER_BREAKER)
    assert used, "the fallback was not used"


@pytest.mark.parametrize(("html", "target"), DECEPTIVE)
def test_a_link_shows_its_real_target(html: str, target: str) -> None:
    text = html_to_text(f"<p>Dear customer, {html} today.</p>")
    assert f"[{target}]" in text, text


@pytest.mark.parametrize(("html", "target"), DECEPTIVE)
def test_a_document_that_breaks_the_parser_still_shows_link_targets(
        html: str, target: str) -> None:
    text = html_to_text(f"<p>Dear customer, {html} today.</p>{PARSER_BREAKER}")
    assert f"[{target}]" in text, text[:500]
    assert "Dear customer" in text


def test_a_parser_crash_still_shows_link_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object, *args: object) -> None:
        raise RecursionError("simulated")

    monkeypatch.setattr(body_text._HtmlText, "handle_starttag", boom)
    html = "".join(h for h, _ in DECEPTIVE)
    text = html_to_text(html)
    for _, target in DECEPTIVE:
        assert f"[{target}]" in text, text


def test_a_link_that_is_its_own_target_is_not_repeated_and_scripts_are_not_links() -> None:
    text = html_to_text('<a href="https://good.example/">https://good.example/</a> '
                        '<a href="javascript:steal()">https://good.example/2</a>')
    assert text.count("https://good.example/") == 2
    assert "javascript" not in text and "[" not in text


def mail(html: str) -> bytes:
    return (b"From: Bank <noreply@bank.example>\r\nTo: you@example.test\r\n"
            b"Subject: Action needed\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            + quopri.encodestring(html.encode()))


def test_an_html_mail_is_stored_as_text_with_real_link_targets() -> None:
    html = "<html><body>" + "".join(f"<p>{h}</p>" for h, _ in DECEPTIVE) + "</body></html>"
    parsed = parse_message(mail(html))
    message = to_message(parsed, account="a", folder="INBOX", uid=1)
    for text in (parsed.text, message.text):
        assert "<a" not in text.lower() and "href" not in text.lower()
        for _, target in DECEPTIVE:
            assert f"[{target}]" in text


class Listener:
    """A TCP port that counts who connects to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_nothing_remote_is_fetched_and_no_resource_address_is_shown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    listener = Listener()
    base = f"http://127.0.0.1:{listener.port}"
    html = f"""<html><head>
<link rel="stylesheet" href="{base}/style.css">
<style>@import url("{base}/import.css"); body {{ background: url({base}/bg.png) }}</style>
<meta http-equiv="refresh" content="0; url={base}/refresh">
<script src="{base}/script.js"></script>
<link rel="dns-prefetch" href="//tracker.example">
</head><body background="{base}/body.png">
<p>Your statement is ready.</p>
<img src="{base}/pixel.gif?u=you%40example.test" width="1" height="1">
<img srcset="{base}/a.png 1x, {base}/b.png 2x" alt="logo">
<picture><source srcset="{base}/c.webp"></picture>
<iframe src="{base}/frame.html"></iframe>
<object data="{base}/object.swf"></object><embed src="{base}/embed.swf">
<video poster="{base}/poster.jpg"><source src="{base}/v.mp4"></video>
<audio src="{base}/a.mp3"></audio>
<input type="image" src="{base}/input.png">
<table background="{base}/table.png"><tr><td>row</td></tr></table>
<svg><image href="{base}/svg.png"/></svg>
<a href="{base}/statement">View statement</a>
</body></html>"""
    calls: list[object] = []
    real_connect = socket.socket.connect

    def spy_connect(self: socket.socket, address: object) -> None:
        calls.append(address)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy_connect)
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(OSError))
    try:
        parsed = parse_message(mail(html))
        message = to_message(parsed, account="a", folder="INBOX", uid=1)
        text = html_to_text(html)
        time.sleep(0.2)
    finally:
        monkeypatch.undo()
        listener.close()
    assert calls == [] and listener.connections == 0
    for shown in (parsed.text, message.text, text):
        assert "Your statement is ready." in shown and "row" in shown
        # The one link is shown as a link; no resource address surfaces anywhere.
        assert f"[{base}/statement]" in shown
        assert shown.count(base) == 1, shown
        assert "tracker.example" not in shown
