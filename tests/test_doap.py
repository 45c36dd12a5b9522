"""The conformance statement cannot lie: `doap.xml` (the XSF's DOAP format) lists
only XEPs whose slixmpp plugin our client registers (or, for the two that only
change what the screen shows, the module that does it), every plugin we register
is listed, each entry has a status and the version implemented, and the README's
"XMPP conformance" section names each one and the XEP-0479 level reached."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from slixmpp.stanza import Message as MessageStanza

from bridge.config import AccountConfig, ServerConfig
from bridge.events import EventBus
from bridge.store import Store
from bridge.xmpp.client import XmppClient
from bridge.xmpp.core import PLUGINS

ROOT = Path(__file__).resolve().parent.parent
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DOAP = "http://usefulinc.com/ns/doap#"
XMPP = "https://linkmauve.fr/ns/xmpp-doap#"
STATUSES = {"complete", "partial", "planned", "deprecated", "removed", "wontfix"}
COMPLIANCE = "0479"  # the compliance suite: a level reached, not a plugin
# XEPs that change only what the screen shows: no stanza of their own to handle.
VIEW_ONLY = {"0245": ROOT / "tuiclient" / "widgets" / "timeline.py",
             "0393": ROOT / "tuiclient" / "styling.py"}
# XEPs used through their stanza only, their plugin's service unwanted (its
# docstring says why): the stanza must be registered where it is read.
STANZA_ONLY = {"0066": (MessageStanza, "oob")}
# Our own plugins (bridge/xmpp/plugins/), each serving one XEP.
OURS = {"mam_pages": "0313", "upload_slots": "0363"}


def supported() -> dict[str, ET.Element]:
    """The doap's SupportedXep entries by XEP number."""
    tree = ET.parse(ROOT / "doap.xml")
    assert tree.getroot().tag == f"{{{RDF}}}RDF"
    project = tree.getroot().find(f"{{{DOAP}}}Project")
    assert project is not None and project.findtext(f"{{{DOAP}}}name") == "tuiclient"
    out: dict[str, ET.Element] = {}
    for entry in project.iter(f"{{{XMPP}}}SupportedXep"):
        xep = entry.find(f"{{{XMPP}}}xep")
        assert xep is not None
        url = xep.get(f"{{{RDF}}}resource") or ""
        found = re.fullmatch(r"https://xmpp\.org/extensions/xep-(\d{4})\.html", url)
        assert found, url
        assert found.group(1) not in out, f"XEP-{found.group(1)} is listed twice"
        out[found.group(1)] = entry
    return out


@pytest.fixture
def client(tmp_path: Path) -> Iterator[XmppClient]:
    account = AccountConfig("me", jid="me@example.test",
                            xmpp=ServerConfig("127.0.0.1", 5222, "tls"))
    store = Store.open(tmp_path / "store.sqlite")
    try:
        yield XmppClient(account, "pw", store, EventBus(), state_dir=tmp_path)
    finally:
        store.close()


def test_every_entry_has_a_status_and_the_version_implemented():
    entries = supported()
    assert len(entries) > 30
    for xep, entry in entries.items():
        assert entry.findtext(f"{{{XMPP}}}status") in STATUSES, xep
        version = entry.findtext(f"{{{XMPP}}}version") or ""
        assert re.fullmatch(r"\d+(\.\d+)+(rc\d+)?", version), (xep, version)


async def test_every_listed_xep_is_a_plugin_our_client_registers(client):
    """Listed means done by a plugin we ask for: named in core.PLUGINS (not just
    pulled in by another's dependencies) and registered in a real client's session."""
    ours = {xep: name for name, xep in OURS.items()}
    for xep in supported():
        if xep == COMPLIANCE:
            continue
        if xep in VIEW_ONLY:
            assert f"XEP-{xep}" in VIEW_ONLY[xep].read_text(), xep
            continue
        if xep in STANZA_ONLY:
            kind, attrib = STANZA_ONLY[xep]
            assert attrib in kind.plugin_attrib_map, xep
            continue
        # slixmpp's plugin for it, or ours (bridge/xmpp/plugins/) where theirs
        # does not fit.
        names = [n for n in (f"xep_{xep}", ours.get(xep)) if n in PLUGINS]
        assert names, f"doap.xml lists XEP-{xep}, but core.PLUGINS has no plugin for it"
        for name in names:
            assert name in client.session.plugin, name


def test_every_plugin_we_register_is_listed():
    listed = supported()
    for name in PLUGINS:
        xep = OURS.get(name) or name.removeprefix("xep_")
        assert xep in listed, f"{name} is registered but doap.xml does not list XEP-{xep}"


def test_the_readme_states_the_level_and_names_every_listed_xep():
    readme = (ROOT / "README.md").read_text()
    section = " ".join(readme.split("## XMPP conformance", 1)[1].split("\n## ", 1)[0].split())
    assert "XEP-0479" in section and "Advanced IM client" in section
    assert "still missing" in section
    for xep in supported():
        assert f"XEP-{xep}" in section or f"/{xep}" in section, \
            f"README's XMPP conformance section does not name XEP-{xep}"
