"""A plain XMPP client for the other side of a test: slixmpp and raw stanzas only.

The people our engine talks to must not run our code, or a bug on both sides could
cancel out. This client logs in, stays online, joins rooms it is invited to, keeps
every message it receives (with its <thread> and out-of-band links), and can share
a file by HTTP upload with nothing but the standard library.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_CLIENT = "jabber:client"
NS_OOB = "jabber:x:oob"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_UPLOAD = "urn:xmpp:http:upload:0"
NS_SID = "urn:xmpp:sid:0"
NS_MARKERS = "urn:xmpp:chat-markers:0"


@dataclass
class Received:
    sender: str
    mtype: str
    body: str
    thread: str | None
    oob: list[str]
    origin_id: str | None


@dataclass
class PlainXmpp:
    jid: str
    password: str
    host: str
    port: int
    ca_file: str
    join_on_invite: bool = True
    receipts: bool = True  # answer receipt requests (XEP-0184), as most clients do
    show: str = ""  # presence at login: "", away, xa, dnd
    status: str = ""
    received: list[Received] = field(default_factory=list)
    invites: list[str] = field(default_factory=list)
    joined: set[str] = field(default_factory=set)
    # Chat markers (XEP-0333) that reached this client: (kind, from, the id quoted).
    markers: list[tuple[str, str, str]] = field(default_factory=list)
    # Every <message> that reached this client, as XML (receipts, reactions, ...).
    stanzas: list[ET.Element] = field(default_factory=list)
    presences: list[ET.Element] = field(default_factory=list)

    def __post_init__(self) -> None:
        x = self.xmpp = slixmpp.ClientXMPP(self.jid, self.password)
        x.register_plugin("xep_0030")
        x.register_plugin("xep_0045")
        x.register_plugin("xep_0184")
        x.plugin["xep_0184"].auto_ack = self.receipts
        x.ssl_context = ssl.create_default_context(cafile=self.ca_file)
        x.enable_direct_tls = False
        x.enable_starttls = True
        x.enable_plaintext = False
        self._ready = asyncio.get_running_loop().create_future()
        x.add_event_handler("session_start", self._on_start)
        x.add_event_handler("message", self._on_message)
        x.add_event_handler("groupchat_message", self._on_message)
        x.add_event_handler("groupchat_invite", self._on_invite)
        x.register_handler(Callback("every message", MatchXPath(f"{{{NS_CLIENT}}}message"),
                                    lambda msg: self.stanzas.append(msg.xml)))
        x.register_handler(Callback("every presence", MatchXPath(f"{{{NS_CLIENT}}}presence"),
                                    lambda pres: self.presences.append(pres.xml)))
        # Markers come in bodiless messages, which slixmpp's "message" event skips.
        for kind in ("received", "displayed", "acknowledged"):
            x.register_handler(Callback(f"marker-{kind}", MatchXPath(
                f"{{{NS_CLIENT}}}message/{{{NS_MARKERS}}}{kind}"),
                lambda msg, kind=kind: self._on_marker(msg, kind)))

    async def start(self) -> PlainXmpp:
        self.xmpp.connect(self.host, self.port)
        await asyncio.wait_for(self._ready, 20)
        return self

    async def stop(self) -> None:
        await self.xmpp.disconnect(wait=2.0)

    async def _on_start(self, _event: object) -> None:
        self.xmpp.send_presence(pshow=self.show or None, pstatus=self.status or None)
        await self.xmpp.get_roster()
        if not self._ready.done():
            self._ready.set_result(None)

    def _on_message(self, msg: slixmpp.Message) -> None:
        xml = msg.xml
        if (xml.get("type") or "normal") == "error":
            return
        body = xml.find(f"{{{NS_CLIENT}}}body")
        if body is None:
            return
        thread = xml.find(f"{{{NS_CLIENT}}}thread")
        origin = xml.find(f"{{{NS_SID}}}origin-id")
        self.received.append(Received(
            sender=xml.get("from") or "", mtype=xml.get("type") or "normal",
            body=body.text or "", thread=thread.text if thread is not None else None,
            oob=[(u.text or "") for u in xml.iter(f"{{{NS_OOB}}}url")],
            origin_id=origin.get("id") if origin is not None else None))

    def _on_marker(self, msg: slixmpp.Message, kind: str) -> None:
        xml = msg.xml
        for marker in xml.findall(f"{{{NS_MARKERS}}}{kind}"):
            self.markers.append((kind, xml.get("from") or "", marker.get("id") or ""))

    async def _on_invite(self, msg: slixmpp.Message) -> None:
        room = str(msg["from"].bare)
        self.invites.append(room)
        if self.join_on_invite:
            await self.join(room)

    async def join(self, room: str) -> None:
        nick = self.jid.partition("@")[0]
        # Ask for the room's recent history, as most clients do on joining.
        await self.xmpp.plugin["xep_0045"].join_muc_wait(room, nick, maxstanzas=50)
        self.joined.add(room)

    def send(self, to: str, body: str, *, groupchat: bool = False, thread: str | None = None,
             oob: str | None = None, markable: bool = False) -> str:
        """Send a message (no origin-id: slixmpp's own 'id' attribute only); returns
        that id, which receipts and markers quote back."""
        msg = self.xmpp.make_message(mto=to, mbody=body, mtype="groupchat" if groupchat
                                     else "chat")
        if markable:
            ET.SubElement(msg.xml, f"{{{NS_MARKERS}}}markable")
        if thread:
            msg["thread"] = thread
        if oob:
            x = ET.SubElement(msg.xml, f"{{{NS_OOB}}}x")
            ET.SubElement(x, f"{{{NS_OOB}}}url").text = oob
        msg_id = msg["id"]
        msg.send()
        return msg_id

    async def upload(self, data: bytes, filename: str, content_type: str,
                     service: str) -> str:
        """HTTP File Upload (XEP-0363) with a raw slot request and urllib."""
        iq = self.xmpp.make_iq_get(ito=service)
        request = ET.SubElement(iq.xml, f"{{{NS_UPLOAD}}}request", {
            "filename": filename, "size": str(len(data)), "content-type": content_type})
        del request
        answer = await iq.send(timeout=10)
        slot = answer.xml.find(f"{{{NS_UPLOAD}}}slot")
        assert slot is not None, ET.tostring(answer.xml)
        put = slot.find(f"{{{NS_UPLOAD}}}put")
        get = slot.find(f"{{{NS_UPLOAD}}}get")
        assert put is not None and get is not None
        headers = {"Content-Type": content_type}
        for h in put.findall(f"{{{NS_UPLOAD}}}header"):
            headers[h.get("name") or ""] = h.text or ""
        req = urllib.request.Request(put.get("url") or "", data=data, method="PUT",
                                     headers=headers)
        ctx = ssl.create_default_context(cafile=self.ca_file)
        await asyncio.to_thread(lambda: urllib.request.urlopen(req, context=ctx).close())
        return get.get("url") or ""

    def send_xml(self, xml: str) -> None:
        """Send a stanza written out by hand (jabber:client is the stream's default
        namespace): what another client puts on the wire, with no library's help."""
        self.xmpp.send_raw(xml)

    def with_child(self, ns: str, tag: str) -> list[ET.Element]:
        """The messages received that carry a <tag xmlns=ns> child."""
        return [m for m in self.stanzas if m.find(f"{{{ns}}}{tag}") is not None]

    def set_presence(self, show: str = "", status: str = "") -> None:
        self.xmpp.send_presence(pshow=show or None, pstatus=status or None)

    def displayed(self) -> list[str]:
        return [i for kind, _frm, i in self.markers if kind == "displayed"]

    def bodies(self, frm: str | None = None) -> list[str]:
        return [r.body for r in self.received if frm is None or r.sender.startswith(frm)]


def fetch(url: str, ca_file: str) -> bytes:
    ctx = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(url, context=ctx) as response:
        return response.read()
