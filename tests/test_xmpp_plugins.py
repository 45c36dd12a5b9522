"""The XMPP client's shape: features on slixmpp plugins (ours where theirs do not
fit), layers that only build on the layers below, and the trust checks that stand
between the plugins' own handlers and the store. No server: what is checked here
is what we ask the plugins to do, and what the gates let through."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from xml.etree import ElementTree as ET

import pytest
from slixmpp.stanza import Iq

from bridge.config import AccountConfig, ServerConfig
from bridge.events import EventBus
from bridge.store import Store
from bridge.xmpp.client import XmppClient
from bridge.xmpp.core import PLUGINS
from bridge.xmpp.plugins.mam_pages import Page

ME = "me@example.test"
ROOM = "den@rooms.example.test"
XMPP = Path(__file__).resolve().parent.parent / "bridge" / "xmpp"
LAYERS = ["core", "delivery", "files", "edits", "inbound", "archive", "rooms", "client"]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[XmppClient]:
    account = AccountConfig("me", jid=ME, xmpp=ServerConfig("127.0.0.1", 5222, "tls"))
    store = Store.open(tmp_path / "store.sqlite")
    try:
        yield XmppClient(account, "pw", store, EventBus(), state_dir=tmp_path)
    finally:
        store.close()


def stanza(client: XmppClient, xml: str) -> Any:
    """A stanza as slixmpp would hand it to the filters, from its text."""
    return client.session._build_stanza(ET.fromstring(
        xml.replace("<message ", "<message xmlns='jabber:client' ", 1)))


async def test_every_plugin_is_enabled_and_receipts_are_never_sent_by_the_plugin(client):
    for name in PLUGINS:
        assert name in client.session.plugin, name
    receipts = client.session.plugin["xep_0184"]
    # Receipts go only for what we store, quoting the id the sender gave.
    assert receipts.auto_ack is False and receipts.auto_request is False


async def test_the_gate_comes_after_stream_management_counts_a_stanza(client):
    # A stanza the gate drops is still one the server sent: XEP-0198 must count it,
    # or our acks fall behind and the server ends the stream.
    filters = client.session._XMLStream__filters["in"]
    counter = client.session.plugin["xep_0198"]._handle_incoming
    assert filters.index(counter) < filters.index(client._gate)


async def test_the_gate_drops_foreign_carbons_and_malformed_addresses(client):
    def carbon(sender: str) -> str:
        return (f"<message from='{sender}' to='{ME}/tui'><received xmlns='urn:xmpp:carbons:2'>"
                "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
                f"from='bob@example.test/x' to='{ME}' type='chat'><body>hi</body></message>"
                "</forwarded></received></message>")
    assert client._gate(stanza(client, carbon(ME))) is not None
    # slixmpp's xep_0280 compares bare JIDs: another resource of ours would pass it.
    for forger in (f"{ME}/other", "mallory@example.test", "example.test"):
        assert client._gate(stanza(client, carbon(forger))) is None, forger
    assert client._gate(stanza(client, "<message from='a@b@c' type='chat'>"
                                       "<body>x</body></message>")) is None
    assert client._gate(stanza(client, "<message from='bob@example.test/x' type='chat'>"
                                       "<body>x</body></message>")) is not None


async def test_archive_results_count_only_from_the_archive_that_was_asked(client):
    def result(sender: str, archive_id: str) -> Any:
        return stanza(client, f"<message from='{sender}' to='{ME}/tui'><result "
                      f"xmlns='urn:xmpp:mam:2' queryid='q' id='{archive_id}'><forwarded "
                      "xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' "
                      "stamp='2020-01-01T00:00:00Z'/><message xmlns='jabber:client' "
                      f"from='bob@example.test/x' to='{ME}' type='chat'><body>hi</body>"
                      "</message></forwarded></result></message>")
    page = Page([result(ME, "ours"), result("mallory@example.test", "theirs"),
                 result(f"{ME}/other", "resource"), result(ROOM, "room")], True, None)
    assert [r[0] for r in client._archive_results(ME, page)] == ["ours"]
    assert [r[0] for r in client._archive_results(ROOM, page)] == ["room"]
    ((_id, stamp, inner),) = client._archive_results(ME, page)
    assert stamp == 1577836800.0 and inner["body"] == "hi"


async def test_mam_pages_asks_for_the_newest_page_and_leaves_no_collector(client, monkeypatch):
    sent: list[Iq] = []

    async def answer(iq: Iq, *args: object, **kwargs: object) -> Iq:
        sent.append(iq)
        query_id = iq["mam"]["queryid"]
        client.session.recv_stanza(stanza(client, (
            f"<message from='{ME}' to='{ME}/tui'><result xmlns='urn:xmpp:mam:2' "
            f"queryid='{query_id}' id='a1'><forwarded xmlns='urn:xmpp:forward:0'>"
            f"<message xmlns='jabber:client' from='{ME}/x' to='bob@example.test'>"
            "<body>mine</body></message></forwarded></result></message>")))
        return cast(Iq, client.session._build_stanza(ET.fromstring(
            f"<iq xmlns='jabber:client' type='result' id='{iq['id']}'><fin "
            "xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'>"
            "<first>a1</first><last>a1</last></set></fin></iq>")))

    monkeypatch.setattr(Iq, "send", answer)
    page = await client.mam_pages.page(None, before="", limit=5, timeout=1)
    rsm = sent[0].xml.find("{urn:xmpp:mam:2}query/{http://jabber.org/protocol/rsm}set")
    assert rsm is not None
    before = rsm.find("{http://jabber.org/protocol/rsm}before")
    assert before is not None and not before.text  # <before/>: the newest page
    assert rsm.findtext("{http://jabber.org/protocol/rsm}max") == "5"
    assert page.complete and page.last == "a1" and len(page.results) == 1
    assert not client.mam_pages._collectors


async def test_upload_slots_asks_with_its_request_stanza(client, monkeypatch):
    sent: list[Iq] = []

    async def answer(iq: Iq, *args: object, **kwargs: object) -> Iq:
        sent.append(iq)
        return cast(Iq, client.session._build_stanza(ET.fromstring(
            f"<iq xmlns='jabber:client' type='result' id='{iq['id']}'>"
            "<slot xmlns='urn:xmpp:http:upload:0'><put url='https://up.example.test/p'>"
            "<header name='Authorization'>t</header><header name='X-Evil'>e</header></put>"
            "<get url='https://up.example.test/g'/></slot></iq>")))

    monkeypatch.setattr(Iq, "send", answer)
    slot = await client.upload_slots.request_slot("upload.example.test", "a.txt", 3,
                                                  "text/plain")
    request = sent[0].xml.find("{urn:xmpp:http:upload:0}request")
    assert request is not None and dict(request.attrib) == {
        "filename": "a.txt", "size": "3", "content-type": "text/plain"}
    assert slot.get_url == "https://up.example.test/g"
    assert slot.headers == {"Authorization": "t"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {node.module or "" for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1}


def test_each_layer_builds_only_on_the_layers_below_it():
    for n, layer in enumerate(LAYERS):
        above = set(LAYERS[n + 1:])
        wrong = _imports(XMPP / f"{layer}.py") & above
        assert not wrong, f"{layer}.py imports {wrong}, a layer above it"


def test_no_stanza_is_built_by_hand_and_no_module_is_too_long():
    for path in sorted(XMPP.rglob("*.py")):
        text = path.read_text("utf-8")
        assert "SubElement(" not in text, f"{path.name} builds XML by hand"
        assert len(text.splitlines()) <= 600, f"{path.name} is over 600 lines"
