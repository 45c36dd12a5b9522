"""Pure parts of the XMPP client: presence summary, stanza reading, saved state."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from bridge.xmpp.availability import Availability, ResourcePresence, summarize
from bridge.xmpp.stanzas import (
    MAX_BODY_CHARS,
    MAX_REACTIONS,
    default_thread_id,
    error_condition,
    filename_from_url,
    parse_message,
)
from bridge.xmpp.state import ArchiveMark, RoomMembership, XmppState
from bridge.xmpp.upload import TransferError, parse_slot

ME = "me@example.test"


def test_highest_priority_resource_decides_and_ties_favour_the_reachable():
    res = {
        "phone": ResourcePresence("phone", "away", "on the train", 5),
        "desk": ResourcePresence("desk", "dnd", "meeting", 10),
    }
    got = summarize("bob@x", res, subscribed=True, blocked=False)
    assert (got.availability, got.status) == (Availability.BUSY, "meeting")
    res["laptop"] = ResourcePresence("laptop", "", "", 10)
    assert summarize("bob@x", res, subscribed=True, blocked=False).availability \
        is Availability.AVAILABLE
    assert summarize("bob@x", {}, subscribed=True, blocked=False).availability \
        is Availability.OFFLINE
    assert summarize("bob@x", {}, subscribed=False, blocked=False).availability \
        is Availability.UNKNOWN
    assert summarize("bob@x", res, subscribed=True, blocked=True).availability \
        is Availability.BLOCKED
    xa = {"r": ResourcePresence("r", "xa", "gone fishing")}
    assert summarize("bob@x", xa, subscribed=True, blocked=False).availability \
        is Availability.AWAY


def _xml(text: str) -> ET.Element:
    return ET.fromstring(text)


def test_parse_keeps_trusted_ids_only_and_survives_junk():
    msg = _xml(
        "<message xmlns='jabber:client' from='bob@x/r' to='me@example.test' type='chat' id='a1'>"
        "<body>hi</body><thread>t@x</thread><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='bob@x' id='forged'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='me@example.test' id='s1'/>"
        "<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>"
        "<x xmlns='jabber:x:oob'><url>https://h/f/a%20b.png</url></x>"
        "<x xmlns='jabber:x:oob'><url>file:///etc/passwd</url></x>"
        "<delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05Z'/><junk><more/></junk>"
        "</message>")
    p = parse_message(msg, {ME})
    assert (p.body, p.thread, p.origin_id, p.stanza_id) == ("hi", "t@x", "o1", "s1")
    assert p.receipt_request and p.markable
    assert p.oob_urls == ["https://h/f/a%20b.png"]
    assert p.delay == 1704164645.0
    odd = parse_message(_xml(
        "<message xmlns='jabber:client'><thread>" + "x" * 300 + "</thread>"
        "<delay xmlns='urn:xmpp:delay' stamp='soon'/><origin-id xmlns='urn:xmpp:sid:0'/>"
        "</message>"), {ME})
    assert (odd.body, odd.thread, odd.origin_id, odd.delay) == (None, None, None, None)
    huge = parse_message(_xml("<message xmlns='jabber:client'><body>"
                              + "a" * (MAX_BODY_CHARS + 5) + "</body></message>"), {ME})
    assert huge.truncated and len(huge.body or "") == MAX_BODY_CHARS


def test_thread_ids_are_stable_and_message_id_shaped():
    one = default_thread_id(ME, "bob@x")
    assert one == default_thread_id("ME@example.test", "BOB@x")
    assert one != default_thread_id(ME, "carol@x")
    assert one.endswith("@example.test") and one.count("@") == 1


def test_file_names_and_errors():
    assert filename_from_url("https://h/share/x/..%2F..%2Fetc%2Fpasswd") == "../../etc/passwd"
    assert filename_from_url("https://h/") == "attachment"
    err = _xml("<message xmlns='jabber:client' type='error'><error type='cancel'>"
               "<not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
               "<blocked xmlns='urn:xmpp:blocking:errors'/></error></message>")
    assert error_condition(err) == ("not-acceptable", "", True)
    assert error_condition(_xml("<message xmlns='jabber:client'/>"))[0] == \
        "undefined-condition"


def test_upload_slot_drops_unknown_headers_and_plain_http():
    ns = "urn:xmpp:http:upload:0"
    slot = _xml(f"<iq xmlns='jabber:client'><slot xmlns='{ns}'><put url='https://u/p'>"
                "<header name='Authorization'>Bearer x\r\nInjected: 1</header>"
                "<header name='X-Evil'>1</header></put><get url='https://u/g'/></slot></iq>")
    parsed = parse_slot(slot)
    assert parsed.headers == {"Authorization": "Bearer xInjected: 1"}
    plain = _xml(f"<iq xmlns='jabber:client'><slot xmlns='{ns}'><put url='http://u/p'/>"
                 "<get url='https://u/g'/></slot></iq>")
    try:
        parse_slot(plain)
    except TransferError:
        pass
    else:
        raise AssertionError("plain http slot accepted")


def test_state_round_trip_and_damaged_file(tmp_path):
    path = tmp_path / "x" / "acct.json"
    state = XmppState.load(path)
    assert state.archives == {} and state.rooms == {}
    state.archives[ME] = ArchiveMark("id-9", 123.5)
    state.rooms["r@c"] = RoomMembership("r@c", "me")
    state.save()
    again = XmppState.load(path)
    assert again.archives == state.archives and again.rooms == state.rooms
    path.write_text("{not json")
    assert XmppState.load(path).archives == {}
    path.write_text('{"archives": {"a": {"last_id": 1}}, "rooms": [1, 2]}')
    assert XmppState.load(path).archives == {}
    path.write_text('[1]')
    assert XmppState.load(path).rooms == {}


def test_changes_to_earlier_lines_are_read_carefully() -> None:
    """Corrections, retractions and reactions from remote input: ids cleaned,
    reactions cut to a handful of short printable ones (emoji joiners allowed,
    direction overrides not)."""
    def parsed(inner: str):
        return parse_message(ET.fromstring(
            f"<message xmlns='jabber:client' from='bob@x.test/r' type='chat'>{inner}"
            "</message>"), set())

    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"
    many = "".join(f"<reaction>{chr(0x1F600 + i)}</reaction>" for i in range(40))
    p = parsed(f"<reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>{family}"
               "</reaction><reaction>\u202eevil</reaction><reaction>👍</reaction>"
               f"<reaction>👍</reaction><reaction>{'x' * 100}</reaction>{many}</reactions>")
    assert p.edit and p.reactions_to == "m1"
    assert p.reactions is not None and p.reactions[:2] == [family, "👍"]
    assert len(p.reactions) <= MAX_REACTIONS
    assert parsed("<reactions xmlns='urn:xmpp:reactions:0'/>").edit is False
    p = parsed("<body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m2'/>")
    assert (p.replace_id, p.body) == ("m2", "fixed")
    p = parsed("<apply-to xmlns='urn:xmpp:fasten:0' id='m3'>"
               "<retract xmlns='urn:xmpp:message-retract:0'/></apply-to>")
    assert p.retract_id == "m3"
    p = parsed("<retract xmlns='urn:xmpp:message-retract:1' id='\n'/>")
    assert p.retract_id is None and not p.edit


def test_a_stanza_queued_when_the_connection_was_gone_prints_no_traceback(caplog):
    """slixmpp logs a traceback for a stanza its send queue held after the
    connection went (a daemon stopped by SIGINT printed it); other errors there
    are still logged."""
    import logging

    from slixmpp.xmlstream.xmlstream import NotConnectedError

    import bridge.xmpp.session  # noqa: F401  # installs the filter

    log = logging.getLogger("slixmpp.xmlstream.xmlstream")
    for error in (NotConnectedError(), ValueError("broken stanza")):
        try:
            raise error
        except Exception:
            log.error("Exception raised in send queue:", exc_info=True)
    kept = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [type(e) for e in kept] == [ValueError]
