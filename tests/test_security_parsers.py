"""Issue #10, parsers: hostile stanzas, and a property-based fuzz of stanza handling.

The MIME side has its hostile corpus and fuzz run in test_mime.py; this is the
XMPP side: every function that reads a remote stanza is fed broken, deep, huge
and unexpected trees, and must return sane values without raising or hanging.
"""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.safe import inert_text, safe_basename
from bridge.xmpp.stanzas import (
    MAX_BODY_CHARS,
    MAX_ID_CHARS,
    NS_CARBONS,
    NS_CLIENT,
    NS_DELAY,
    NS_FORWARD,
    NS_MAM,
    NS_MARKERS,
    NS_MUC_USER,
    NS_OOB,
    NS_RECEIPTS,
    NS_SID,
    NS_STANZAS,
    ParsedChat,
    error_condition,
    filename_from_url,
    is_web_url,
    parse_message,
    parse_stamp,
)
from bridge.xmpp.upload import NS_UPLOAD, TransferError, parse_slot

ME = "me@example.test"


def check(p: ParsedChat, xml: ET.Element) -> None:
    """What the store may rely on, whatever came in."""
    assert isinstance(p.sender, str) and isinstance(p.to, str)
    assert p.body is None or (isinstance(p.body, str) and len(p.body) <= MAX_BODY_CHARS)
    for value in (p.attr_id, p.thread, p.origin_id, p.stanza_id):
        assert value is None or (0 < len(value) <= MAX_ID_CHARS and value.isprintable()
                                 and value == value.strip())
    assert all(is_web_url(u) and u.startswith("https://") for u in p.oob_urls)
    assert p.delay is None or math.isfinite(p.delay)
    if p.stanza_id is not None:
        # Only an id stamped by a JID we trust is ever believed.
        trusted = [el for el in xml.iter(f"{{{NS_SID}}}stanza-id")
                   if (el.get("by") or "").split("/")[0].lower() == ME]
        assert trusted
    for url in p.oob_urls:
        name = safe_basename(filename_from_url(url))
        assert name and "/" not in name and "\\" not in name and not name.startswith(".")
        assert inert_text(name) == name
    condition, text, _ = error_condition(xml)
    assert isinstance(condition, str) and len(text) <= 500


def parse(text: str) -> tuple[ParsedChat, ET.Element]:
    xml = ET.fromstring(text)
    started = time.monotonic()
    p = parse_message(xml, {ME})
    assert time.monotonic() - started < 2
    check(p, xml)
    return p, xml


M = f"<message xmlns='{NS_CLIENT}' from='mallory@evil.test/x' to='{ME}' type='chat' id='m1'>"

HOSTILE = {
    "deep nesting": M + "<x xmlns='urn:x'>" * 20000 + "</x>" * 20000
                    + "<body>deep</body></message>",
    "many oob links": M + "".join(
        f"<x xmlns='{NS_OOB}'><url>https://h/{i}</url></x>" for i in range(5000)) + "</message>",
    "huge body": M + "<body>" + "A" * (MAX_BODY_CHARS * 2) + "</body></message>",
    "huge attribute id": f"<message xmlns='{NS_CLIENT}' id='{'i' * 1_000_000}'/>",
    "body with children": M + "<body>a<b>bold</b>c<script>x</script></body></message>",
    "two bodies": M + "<body>first</body><body>second</body></message>",
    "body in another namespace": M + "<body xmlns='urn:evil'>not a body</body></message>",
    "forged stanza-id": M + f"<stanza-id xmlns='{NS_SID}' by='mallory@evil.test' id='f'/>"
                            f"<stanza-id xmlns='{NS_SID}' id='no-by'/></message>",
    "ids with controls": M.replace("id='m1'", "id='a&#x9;b&#xA;c'")
                         + "<thread>t&#xD;x</thread>"
                         + f"<origin-id xmlns='{NS_SID}' id='   '/></message>",
    "stamps": M + "".join(f"<delay xmlns='{NS_DELAY}' stamp='{s}'/>" for s in (
        "0001-01-01T00:00:00", "9999-12-31T23:59:59-23:59", "1e309", "", "Z",
        "2024-02-30T00:00:00Z", "+275760-09-13T00:00:00Z")) + "</message>",
    "oob schemes": M + "".join(
        f"<x xmlns='{NS_OOB}'><url>{u}</url></x>" for u in (
            "file:///etc/passwd", "javascript:alert(1)", "http://plain/x", "https://",
            "https://[::1/x", "https://h/..%2F..%2F.ssh%2Fid_rsa", "https://h/%00%1b[2J",
            "  https://h/space  ", "data:text/html,x")) + "</message>",
    "carbon and mam with junk": M + f"<sent xmlns='{NS_CARBONS}'><forwarded xmlns="
        f"'{NS_FORWARD}'><message xmlns='{NS_CLIENT}'><body>inner</body></message>"
        f"</forwarded></sent><result xmlns='{NS_MAM}'><junk/></result></message>",
    "muc item without jid": M + f"<x xmlns='{NS_MUC_USER}'><item/><item jid=''/></x></message>",
    "error soup": f"<message xmlns='{NS_CLIENT}' type='error'><error><text xmlns="
                  f"'{NS_STANZAS}'>{'e' * 100000}</text><a xmlns='{NS_STANZAS}'/>"
                  "<b xmlns='urn:x'/></error></message>",
    "receipts and markers empty": M + f"<request xmlns='{NS_RECEIPTS}'>junk</request>"
                                      f"<markable xmlns='{NS_MARKERS}'><x/></markable></message>",
    "no attributes at all": f"<message xmlns='{NS_CLIENT}'/>",
    "wrong root": f"<iq xmlns='{NS_CLIENT}' type='set'><body>iq body</body></iq>",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_stanzas_give_sane_values(name: str) -> None:
    p, _ = parse(HOSTILE[name])
    if name == "huge body":
        assert p.truncated and len(p.body or "") == MAX_BODY_CHARS
    if name == "forged stanza-id":
        assert p.stanza_id is None
    if name == "ids with controls":
        assert p.attr_id is None and p.thread is None and p.origin_id is None
    if name == "oob schemes":
        assert p.oob_urls == ["https://h/..%2F..%2F.ssh%2Fid_rsa", "https://h/%00%1b[2J",
                              "https://h/space"]
    if name == "two bodies":
        assert p.body == "first"
    if name == "body in another namespace":
        assert p.body is None


def test_hostile_upload_slots_are_refused_or_cleaned() -> None:
    for text in (
        f"<iq xmlns='{NS_CLIENT}'/>",
        f"<iq xmlns='{NS_CLIENT}'><slot xmlns='{NS_UPLOAD}'><put/><get/></slot></iq>",
        f"<iq xmlns='{NS_CLIENT}'><slot xmlns='{NS_UPLOAD}'><put url='https://[x'/>"
        "<get url='https://h/g'/></slot></iq>",
        f"<iq xmlns='{NS_CLIENT}'><slot xmlns='{NS_UPLOAD}'><put url='file:///x'/>"
        "<get url='https://h/g'/></slot></iq>",
        f"<iq xmlns='{NS_CLIENT}'><slot xmlns='{NS_UPLOAD}'><put url='https://h:port/p'/>"
        "<get url='https:///g'/></slot></iq>",
    ):
        with pytest.raises(TransferError):
            parse_slot(ET.fromstring(text))


# --- property-based fuzz ---------------------------------------------------------

KNOWN = [
    (NS_CLIENT, "body"), (NS_CLIENT, "thread"), (NS_CLIENT, "error"), (NS_CLIENT, "message"),
    (NS_SID, "origin-id"), (NS_SID, "stanza-id"), (NS_RECEIPTS, "request"),
    (NS_RECEIPTS, "received"), (NS_MARKERS, "markable"), (NS_OOB, "x"), (NS_OOB, "url"),
    (NS_DELAY, "delay"), (NS_MUC_USER, "x"), (NS_MUC_USER, "item"), (NS_STANZAS, "text"),
    (NS_STANZAS, "item-not-found"), (NS_CARBONS, "sent"), (NS_FORWARD, "forwarded"),
    (NS_MAM, "result"), ("urn:x", "junk"), ("", "body"),
]
ATTRS = ["id", "by", "stamp", "jid", "type", "from", "to", "url", "{urn:x}id"]
# Anything an XML parser could hand us (and more: no character is excluded but
# the surrogates, which a str from a parser never holds).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60) | st.sampled_from([
    ME, "mallory@evil.test", "https://h/a%2F..%2Fb.png", "2024-01-02T03:04:05Z", "yesterday",
    "https://h/" + "x" * 300, "\x1b]52;c;ZXZpbA==\x07", "\u202egpj.exe", "",
])


def element(children: st.SearchStrategy[list[ET.Element]]) -> st.SearchStrategy[ET.Element]:
    @st.composite
    def build(draw: st.DrawFn) -> ET.Element:
        ns, tag = draw(st.sampled_from(KNOWN))
        el = ET.Element(f"{{{ns}}}{tag}" if ns else tag)
        for name in draw(st.lists(st.sampled_from(ATTRS), max_size=4, unique=True)):
            el.set(name, draw(TEXT))
        if draw(st.booleans()):
            el.text = draw(TEXT)
        el.extend(draw(children))
        return el
    return build()


TREES = st.recursive(element(st.just([])), lambda inner: element(st.lists(inner, max_size=5)),
                     max_leaves=40)


@st.composite
def stanzas(draw: st.DrawFn) -> ET.Element:
    root = ET.Element(f"{{{NS_CLIENT}}}message")
    for name in draw(st.lists(st.sampled_from(["type", "from", "to", "id"]), unique=True)):
        root.set(name, draw(TEXT))
    root.extend(draw(st.lists(TREES, max_size=6)))
    return root


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stanzas())
def test_fuzz_stanza_parsing_never_raises(xml: ET.Element) -> None:
    check(parse_message(xml, {ME}), xml)


@settings(max_examples=300, deadline=None, database=None)
@given(TEXT)
def test_fuzz_stamps_urls_and_names_never_raise(value: str) -> None:
    stamp = parse_stamp(value)
    assert stamp is None or math.isfinite(stamp)
    for url in (value, "https://h/" + value, "https://" + value):
        is_web_url(url)
        name = safe_basename(filename_from_url(url))
        assert name and "/" not in name and inert_text(name) == name
