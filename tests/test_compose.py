"""Outgoing email: round trips through the parser, and reply header rules."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from bridge.mail.compose import MAX_REFERENCES, build_email, reply_headers, reply_subject
from bridge.mail.mime import parse_headers, parse_message, to_message
from bridge.model import Party, thread_id_for_email
from bridge.safe import inert_text, safe_basename

ME = Party("me@example.test", "Zoë Ünïcode")


def test_round_trip_parties_subject_and_attachment_bytes() -> None:
    pdf = bytes(range(256)) * 100
    text_bytes = "Grüße\n".encode("iso-8859-1")
    msg = build_email(
        ME,
        [Party("ann@x.test", 'Ann "the boss", Smith'), "bob@x.test"],
        [Party("chloe@x.test", "Chloé Dubois")],
        "Grüße — ein Bericht über 100 % 日本語",
        "Hello,\r\nline two\n" + "long " * 40 + "\n.\nFrom the start\n",
        msg_id="abc123@example.test",
        attachments=[("../€ Bericht.pdf", "application/pdf", pdf),
                     ("notes.txt", "text/plain", text_bytes),
                     ("blob", "nonsense", b"\x00\x01")],
        date=datetime(2026, 11, 24, 14, 3, 38, tzinfo=UTC),
        extra_headers={"X-Mailer": "tuiclient"},
    )
    raw = msg.as_bytes()
    assert raw.isascii(), "everything non-ASCII is encoded for a 7-bit transport"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))

    std = email.message_from_bytes(raw, policy=policy.default)
    assert std["Message-ID"] == "<abc123@example.test>"
    assert str(std["Subject"]) == "Grüße — ein Bericht über 100 % 日本語"
    assert std["X-Mailer"] == "tuiclient"

    p = parse_message(raw)
    assert not p.malformed, p.reason
    h = p.headers
    assert h.subject == "Grüße — ein Bericht über 100 % 日本語"
    assert h.sender == Party("me@example.test", "Zoë Ünïcode", "from")
    assert [(x.address, x.name) for x in h.to] == [("ann@x.test", 'Ann "the boss", Smith'),
                                                   ("bob@x.test", "")]
    assert [(x.address, x.name) for x in h.cc] == [("chloe@x.test", "Chloé Dubois")]
    assert h.message_id == "abc123@example.test"
    assert h.date == datetime(2026, 11, 24, 14, 3, 38, tzinfo=UTC).timestamp()
    assert p.text.splitlines()[:2] == ["Hello,", "line two"]
    assert ".\nFrom the start" in p.text
    atts = {a.filename: a for a in p.attachments}
    assert atts["€ Bericht.pdf"].data == pdf
    assert atts["€ Bericht.pdf"].content_type == "application/pdf"
    assert atts["notes.txt"].data == text_bytes
    assert atts["notes.txt"].content_type == "text/plain"
    assert atts["blob"].data == b"\x00\x01"
    assert atts["blob"].content_type == "application/octet-stream"
    assert b"filename*=utf-8''%E2%82%AC%20Bericht.pdf" in raw


def test_long_non_ascii_names_keep_their_spaces() -> None:
    # The stdlib folder breaks lines at the space between two encoded words,
    # where RFC 2047 readers drop it: "Zoë Ünïcode-Långnamn ..." lost spaces.
    name = "Zoë Ünïcode-Långnamn " * 4 + "Ørsted"
    subject = "Grüße " * 20
    msg = build_email(Party("me@x.test", name), [Party("a@x.test", name)], [], subject, "b",
                      msg_id="sp@x.test")
    raw = msg.as_bytes()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    h = parse_headers(raw)
    assert h.sender is not None and h.sender.name == name.strip()
    assert h.to[0].name == name.strip()
    assert h.subject == subject.strip()
    std = email.message_from_bytes(raw, policy=policy.default)
    assert str(std["Subject"]) == subject.strip()


def test_threading_headers_survive_long_ids() -> None:
    long_id = "a" * 150 + "@example.test"
    refs = [f"r{i}@x.test" for i in range(30)] + [long_id]
    msg = build_email(ME, ["a@x.test"], [], "Re: x", "t", msg_id="new@example.test",
                      in_reply_to=long_id, references=refs)
    raw = msg.as_bytes()
    head = raw.split(b"\r\n\r\n")[0].decode()
    threading = head[head.index("In-Reply-To:") : head.index("Content-Type:")]
    assert "=?" not in threading and long_id in threading
    h = parse_headers(raw)
    assert h.in_reply_to == long_id
    assert len(h.references) == MAX_REFERENCES
    assert h.references[0] == "r0@x.test" and h.references[-1] == long_id
    assert thread_id_for_email(h.message_id, h.in_reply_to, h.references) == "r0@x.test"


def test_header_injection_is_neutralised() -> None:
    msg = build_email(Party("me@x.test", "Me\r\nBcc: evil@x.test"), ["a@x.test"], [],
                      "hi\r\nBcc: evil@x.test", "body", msg_id="i@x.test")
    head = msg.as_bytes().split(b"\r\n\r\n")[0]
    assert b"\r\nBcc:" not in head
    std = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert std["Bcc"] is None
    with pytest.raises(ValueError):
        build_email(ME, ["a@x.test"], [], "s", "b", msg_id="<bracketed@x.test>")
    with pytest.raises(ValueError):
        build_email(ME, ["a@x.test"], [], "s", "b", msg_id="m@x.test",
                    extra_headers={"Message-ID": "<other@x.test>"})
    with pytest.raises(ValueError):
        build_email(ME, ["a@x.test"], [], "s", "b", msg_id="m@x.test",
                    extra_headers={"X-Evil\r\nBcc": "x"})


@pytest.mark.parametrize(("subject", "expected"), [
    ("Hello", "Re: Hello"),
    ("Re: Hello", "Re: Hello"),
    ("RE: re: Aw: Hello", "Re: Hello"),
    ("Re[2]: Hello", "Re: Hello"),
    ("SV: Hej", "Re: Hej"),
    ("Fwd: Hello", "Re: Fwd: Hello"),
    ("[dev] Re: patch", "Re: [dev] patch"),
    ("", "Re:"),
    ("Re: \x1b[31mred", "Re: red"),
])
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def original(headers: str) -> bytes:
    return (headers.strip("\n").replace("\n", "\r\n") + "\r\n\r\nbody\r\n").encode()


ORIGINAL = original("""
From: Ann <ann@x.test>
To: Me <ME@example.test>, Bob <bob@x.test>, ann@x.test
Cc: carol@x.test, "Bob again" <BOB@x.test>, me.alias@example.test
Subject: Re: Plans
Message-ID: <m3@x.test>
In-Reply-To: <m2@x.test>
References: <m1@x.test> <m2@x.test>
""")


def test_reply_goes_to_sender_with_threading() -> None:
    to, cc, subject, irt, refs = reply_headers(parse_message(ORIGINAL), "me@example.test",
                                               reply_all=False)
    assert [(p.address, p.name, p.role) for p in to] == [("ann@x.test", "Ann", "to")]
    assert cc == []
    assert subject == "Re: Plans"
    assert irt == "m3@x.test"
    assert refs == ["m1@x.test", "m2@x.test", "m3@x.test"]


def test_reply_all_without_me_and_without_duplicates() -> None:
    r = reply_headers(parse_message(ORIGINAL), ["me@example.test", "me.alias@example.test"],
                      reply_all=True)
    assert [p.address for p in r.to] == ["ann@x.test"]
    assert [p.address for p in r.cc] == ["bob@x.test", "carol@x.test"]
    assert all(p.role == "cc" for p in r.cc)


def test_reply_to_header_wins_over_from() -> None:
    raw = original("""
From: Ann <ann@x.test>
Reply-To: The List <list@lists.test>
To: list@lists.test, me@example.test
Subject: [list] topic
Message-ID: <l1@x.test>
""")
    r = reply_headers(parse_message(raw), "me@example.test", reply_all=False)
    assert [p.address for p in r.to] == ["list@lists.test"]
    assert r.references == ["l1@x.test"] and r.subject == "Re: [list] topic"
    r = reply_headers(parse_message(raw), "me@example.test", reply_all=True)
    assert [p.address for p in r.to] == ["list@lists.test"]
    assert [p.address for p in r.cc] == ["ann@x.test"]


def test_reply_to_my_own_message_goes_to_its_recipients() -> None:
    raw = original("""
From: me@example.test
To: ann@x.test
Cc: bob@x.test
Subject: mine
Message-ID: <mine@example.test>
""")
    r = reply_headers(parse_message(raw), "me@example.test", reply_all=True)
    assert [p.address for p in r.to] == ["ann@x.test"]
    assert [p.address for p in r.cc] == ["bob@x.test"]


def test_reply_uses_in_reply_to_when_references_are_missing() -> None:
    raw = original("From: a@x.test\nMessage-ID: <c@x.test>\nIn-Reply-To: <b@x.test>")
    assert reply_headers(parse_message(raw), "me@x.test", False).references == [
        "b@x.test", "c@x.test"]


def test_reply_to_a_model_message_and_long_reference_chains() -> None:
    refs = " ".join(f"<r{i}@x.test>" for i in range(50))
    raw = original(f"From: a@x.test\nTo: me@x.test, b@x.test\nSubject: s\n"
                   f"Message-ID: <last@x.test>\nReferences: {refs}")
    m = to_message(parse_message(raw), account="acc", folder="INBOX", uid=1)
    r = reply_headers(m, "me@x.test", reply_all=True)
    assert [p.address for p in r.to] == ["a@x.test"]
    assert [p.address for p in r.cc] == ["b@x.test"]
    assert len(r.references) == MAX_REFERENCES
    assert r.references[0] == "r0@x.test" and r.references[-1] == "last@x.test"
    assert r.in_reply_to == "last@x.test"
    # The reply threads into the same conversation as the original.
    assert thread_id_for_email("new@x.test", r.in_reply_to, r.references) == m.thread_id


def test_reply_then_build_round_trip() -> None:
    r = reply_headers(parse_message(ORIGINAL), ["me@example.test", "me.alias@example.test"],
                      reply_all=True)
    msg = build_email(ME, r.to, r.cc, r.subject, "ok", msg_id="m4@example.test",
                      in_reply_to=r.in_reply_to, references=r.references)
    h = parse_headers(msg.as_bytes())
    assert h.subject == "Re: Plans"
    assert h.in_reply_to == "m3@x.test" and h.references == ["m1@x.test", "m2@x.test", "m3@x.test"]
    assert [p.address for p in h.to] == ["ann@x.test"]
    assert [p.address for p in h.cc] == ["bob@x.test", "carol@x.test"]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)


@settings(max_examples=200, deadline=None, database=None)
@given(name=_text, subject=_text, filename=_text, data=st.binary(max_size=300))
def test_fuzz_build_and_parse_round_trip(name: str, subject: str, filename: str,
                                         data: bytes) -> None:
    msg = build_email(Party("me@x.test", name), [Party("you@y.test", name), "z@z.test"], [],
                      subject, "body", msg_id="fz@x.test",
                      attachments=[(filename, "application/octet-stream", data)])
    raw = msg.as_bytes()
    assert raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    p = parse_message(raw)
    name_shown = " ".join(inert_text(name).split())
    assert p.headers.subject == " ".join(inert_text(subject).split())
    assert p.headers.sender is not None and p.headers.sender.address == "me@x.test"
    assert p.headers.sender.name == name_shown
    assert [(x.address, x.name) for x in p.headers.to] == [("you@y.test", name_shown),
                                                           ("z@z.test", "")]
    (att,) = p.attachments
    assert att.data == data and att.filename == safe_basename(filename)


def test_an_attached_email_goes_as_a_message_part() -> None:
    """An .eml file attached (what a resumed forward's draft carries) goes as a
    message/rfc822 part, which the stdlib reads back as the email; it went as
    base64, which RFC 2046 does not allow there, and readers took the encoded
    text for the email (tests/test_app_draft_kept.py sends one for real)."""
    mail = build_email(ME, ["b@y.test"], [], "Fwd: Hi", "see below", msg_id="1@x.test",
                       attachments=[("Hi.eml", "message/rfc822",
                                     b"Subject: Hi\nFrom: c@z.test\n\nthe text\n")])
    again = email.message_from_bytes(mail.as_bytes(), policy=policy.default)
    (part,) = list(again.iter_attachments())
    assert part.get_filename() == "Hi.eml" and part["Content-Transfer-Encoding"] != "base64"
    inner = part.get_content()
    assert str(inner["Subject"]) == "Hi"
    assert inner.get_body(("plain",)).get_content().strip() == "the text"
    parsed = parse_message(mail.as_bytes())
    assert [(a.filename, a.data) for a in parsed.attachments] == \
        [("Hi.eml", b"Subject: Hi\nFrom: c@z.test\n\nthe text\n")]
