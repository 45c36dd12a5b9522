"""The other side of an OMEMO chat: plain slixmpp with slixmpp-omemo, written the
way slixmpp-omemo's own example client (examples/echo_client.py) is, and nothing
of ours. It keeps its keys in a JSON file of its own, trusts blindly (BTBV), and
records every line it received with what it could open of it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import pytest
import slixmpp
from omemo.storage import Just, Maybe, Nothing, Storage
from omemo.types import DeviceInformation, JSONType
from slixmpp.plugins import register_plugin
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath
from slixmpp_omemo import XEP_0384

NS_CLIENT = "jabber:client"


class PeerStorage(Storage):
    """All OMEMO data in one JSON file (the example client's storage)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.data: dict[str, JSONType] = {}
        if path.exists():
            self.data = json.loads(path.read_text())

    async def _load(self, key: str) -> Maybe[JSONType]:
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key: str, value: JSONType) -> None:
        self.data[key] = value
        self.path.write_text(json.dumps(self.data))

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)
        self.path.write_text(json.dumps(self.data))


class PeerOmemo(XEP_0384):
    name = "xep_0384"
    default_config = {"fallback_message": "This message is OMEMO encrypted.",
                      "json_file_path": None}

    def plugin_init(self) -> None:
        self._peer_storage = PeerStorage(Path(self.json_file_path))  # type: ignore[attr-defined]  # plugin config
        super().plugin_init()

    @property
    def storage(self) -> Storage:
        return self._peer_storage

    @property
    def _btbv_enabled(self) -> bool:
        return True

    async def _prompt_manual_trust(self, manually_trusted: frozenset[DeviceInformation],
                                   identifier: str | None) -> None:
        raise AssertionError(f"BTBV should have decided: {manually_trusted}")


register_plugin(PeerOmemo)


@dataclass
class Opened:
    sender: str
    body: str
    encrypted: bool
    device_id: int | None = None


@dataclass
class OmemoPeer:
    jid: str
    password: str
    host: str
    port: int
    ca_file: str
    data: Path
    omemo: bool = True  # False: a plain client with no OMEMO at all
    opened: list[Opened] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stanzas: list[ET.Element] = field(default_factory=list)  # every <message> as it came

    def __post_init__(self) -> None:
        x = self.xmpp = slixmpp.ClientXMPP(self.jid, self.password)
        for plugin in ("xep_0030", "xep_0045", "xep_0060", "xep_0163", "xep_0199",
                       "xep_0380", "xep_0280", "xep_0334"):
            x.register_plugin(plugin)
        if self.omemo:
            import sys

            x.register_plugin("xep_0384", {"json_file_path": str(self.data)},
                              module=sys.modules[__name__])
        x.ssl_context = ssl.create_default_context(cafile=self.ca_file)
        x.enable_direct_tls = False
        x.enable_starttls = True
        x.enable_plaintext = False
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        x.add_event_handler("session_start", self._on_start)
        x.register_handler(CoroutineCallback("messages", MatchXPath(f"{{{NS_CLIENT}}}message"),
                                             self._on_message))

    async def start(self) -> OmemoPeer:
        if self.omemo:
            initialized = asyncio.get_running_loop().create_future()
            self.xmpp.add_event_handler("omemo_initialized",
                                        lambda *_: initialized.done() or
                                        initialized.set_result(None))
        self.xmpp.connect(self.host, self.port)
        await asyncio.wait_for(self._ready, 20)
        if self.omemo:
            await asyncio.wait_for(initialized, 60)  # keys made and published
        return self

    async def stop(self) -> None:
        await self.xmpp.disconnect(wait=2.0)

    async def _on_start(self, _event: Any) -> None:
        self.xmpp.send_presence()
        await self.xmpp.get_roster()
        if not self._ready.done():
            self._ready.set_result(None)

    async def _on_message(self, stanza: slixmpp.Message) -> None:
        self.stanzas.append(stanza.xml)
        if stanza["type"] not in ("chat", "normal", "groupchat") or not self.omemo:
            return
        omemo: XEP_0384 = self.xmpp["xep_0384"]
        sender = str(stanza["from"].bare)
        if stanza["type"] == "groupchat":  # the occupant's real JID, as the room showed it
            room, nick = stanza["from"].bare, stanza["from"].resource
            real = self.xmpp["xep_0045"].get_jid_property(slixmpp.JID(room), nick, "jid")
            sender = str(slixmpp.JID(real).bare) if real else f"{room}/{nick}"
        if not omemo.is_encrypted(stanza):
            if stanza["body"]:
                self.opened.append(Opened(sender, stanza["body"], False))
            return
        try:
            message, device = await omemo.decrypt_message(stanza)
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        if message["body"]:
            self.opened.append(Opened(sender, message["body"], True, device.device_id))

    async def send_encrypted(self, to: str, body: str, replace: str | None = None) -> str:
        """One line OMEMO-encrypted to `to` (as the example's encrypted_reply);
        `replace`: it corrects that line id (XEP-0308), the reference in clear
        beside the sealed body, as Conversations sends it."""
        omemo: XEP_0384 = self.xmpp["xep_0384"]
        msg = self.xmpp.make_message(mto=to, mtype="chat")
        msg["body"] = body
        msg.set_from(self.xmpp.boundjid)
        # Their device list as the server has it now, not as a notification may
        # have told us before they published it.
        await omemo.refresh_device_lists({slixmpp.JID(to)}, force_download=True)
        sealed, _errors = await omemo.encrypt_message(msg, slixmpp.JID(to))
        assert sealed is not None
        sealed["eme"]["namespace"] = "eu.siacs.conversations.axolotl"
        sealed["eme"]["name"] = self.xmpp["xep_0380"].mechanisms[
            "eu.siacs.conversations.axolotl"]
        if replace:
            ET.SubElement(sealed.xml, "{urn:xmpp:message-correct:0}replace", {"id": replace})
        sealed.send()
        return str(sealed["id"])

    async def join_room(self, room: str, nick: str) -> None:
        """Join a room (slixmpp's xep_0045, which follows its occupants' real JIDs
        for slixmpp-omemo), with no history replay."""
        await self.xmpp["xep_0045"].join_muc_wait(slixmpp.JID(room), nick, maxstanzas=0,
                                                  timeout=20)

    async def leave_room(self, room: str, nick: str) -> None:
        self.xmpp["xep_0045"].leave_muc(slixmpp.JID(room), nick)
        await asyncio.sleep(0.3)

    async def send_room_encrypted(self, room: str, body: str, members: list[str]) -> str:
        """One line OMEMO-encrypted in a room for `members` (bare JIDs), as
        slixmpp-omemo's groupchat support is used."""
        omemo: XEP_0384 = self.xmpp["xep_0384"]
        msg = self.xmpp.make_message(mto=room, mtype="groupchat")
        msg["body"] = body
        recipients = {slixmpp.JID(m) for m in members}
        await omemo.refresh_device_lists(recipients, force_download=True)
        sealed, _errors = await omemo.encrypt_message(msg, recipients)
        assert sealed is not None
        sealed.send()
        return str(sealed["id"])

    async def upload_sealed(self, data: bytes, name: str, service: str) -> str:
        """A file as OMEMO clients share it (XEP-0454): sealed with slixmpp's
        xep_0454 cipher, uploaded through a slot of `service` (XEP-0363, asked
        with a raw IQ and put with the standard library: slixmpp's xep_0363
        needs aiohttp); returns the aesgcm:// link."""
        import http.client
        from urllib.parse import urlsplit

        from slixmpp.plugins.xep_0454 import XEP_0454

        payload, fragment = XEP_0454.encrypt(input_file=__import__("io").BytesIO(data))
        iq = self.xmpp.make_iq_get(ito=service)
        request = ET.SubElement(iq.xml, "{urn:xmpp:http:upload:0}request",
                                {"filename": name, "size": str(len(payload)),
                                 "content-type": "application/octet-stream"})
        assert request is not None
        answer = await iq.send(timeout=20)
        slot = answer.xml.find("{urn:xmpp:http:upload:0}slot")
        put_el = slot.find("{urn:xmpp:http:upload:0}put")
        put = put_el.get("url")
        headers = {h.get("name"): h.text or "" for h in put_el}
        headers["Content-Type"] = "application/octet-stream"
        get = slot.find("{urn:xmpp:http:upload:0}get").get("url")
        parts = urlsplit(put)

        def send() -> int:
            conn = http.client.HTTPSConnection(parts.hostname, parts.port,
                                               context=ssl.create_default_context(
                                                   cafile=self.ca_file))
            conn.request("PUT", parts.path, body=payload, headers=headers)
            status = conn.getresponse().status
            conn.close()
            return status

        assert await asyncio.to_thread(send) in (200, 201)
        return XEP_0454.format_url(get, fragment)

    async def fetch_sealed(self, link: str) -> bytes:
        """The opened bytes behind an aesgcm:// link (slixmpp's xep_0454 decrypt)."""
        import http.client
        import io
        from urllib.parse import urlsplit

        from slixmpp.plugins.xep_0454 import XEP_0454

        url, _, fragment = link.partition("#")
        parts = urlsplit("https" + url[len("aesgcm"):])

        def get() -> bytes:
            conn = http.client.HTTPSConnection(parts.hostname, parts.port,
                                               context=ssl.create_default_context(
                                                   cafile=self.ca_file))
            conn.request("GET", parts.path)
            data = conn.getresponse().read()
            conn.close()
            return data

        return XEP_0454.decrypt(io.BytesIO(await asyncio.to_thread(get)), fragment)

    def bodies(self, sender: str | None = None, *, encrypted: bool = True) -> list[str]:
        return [o.body for o in self.opened
                if o.encrypted == encrypted and (sender is None or o.sender == sender)]

    def raw(self) -> str:
        """Everything received, as the wire had it."""
        return "\n".join(ET.tostring(s, encoding="unicode") for s in self.stanzas)


if TYPE_CHECKING:
    from tests.harness.servers import Account, World


@pytest.fixture
async def peers(world: World, tmp_path: Path) -> AsyncIterator[Callable[..., OmemoPeer]]:
    """Plain slixmpp-omemo peers for a test: `peers(account, omemo=True)` makes one
    (not started); all of them are stopped at the test's end."""
    made: list[OmemoPeer] = []

    def make(who: Account, omemo: bool = True) -> OmemoPeer:
        p = OmemoPeer(who.jid, who.password, "127.0.0.1", world.ports.c2s,
                      str(world.ca_file), tmp_path / f"peer-{who.name}.json", omemo=omemo)
        made.append(p)
        return p
    yield make
    for p in made:
        await p.stop()
