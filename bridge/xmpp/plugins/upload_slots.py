"""HTTP File Upload (XEP-0363): finding the service and asking it for a slot.

Why not slixmpp's xep_0363: it imports aiohttp when loaded (even its stanza
module), which this project does not carry, and it does the HTTP transfer too;
ours are one request each over the standard library (`upload.py`). The slot's
answer is read by `upload.parse_slot`, which keeps only what is safe to use
(https URLs, the headers the XEP allows).
"""

from __future__ import annotations

from typing import Any

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins import BasePlugin
from slixmpp.stanza import Iq
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

from ..upload import NS_UPLOAD, Slot, parse_slot

NS_DATA = "jabber:x:data"


class Request(ElementBase):
    name = "request"
    namespace = NS_UPLOAD
    plugin_attrib = "http_upload_request"
    interfaces = {"filename", "size", "content-type"}


class UploadSlots(BasePlugin):
    name = "upload_slots"
    description = "XEP-0363: HTTP File Upload slots (the transfer is upload.py's)"
    dependencies = {"xep_0030"}

    def plugin_init(self) -> None:
        register_stanza_plugin(Iq, Request)
        self.service: tuple[str, int | None] | None = None

    def plugin_end(self) -> None:
        self.service = None

    async def find_service(self, domain: str, timeout: float = 30) -> tuple[str, int | None]:
        """The upload service of `domain` (itself, or one of its disco items) and the
        largest file it takes (None: it names no limit). Raises LookupError."""
        if self.service is not None:
            return self.service
        disco = self.xmpp.plugin["xep_0030"]
        items = await disco.get_items(jid=JID(domain), timeout=timeout)
        # In the server's order (the `items` interface is a set).
        candidates = [domain] + [item.xml.get("jid") or ""
                                 for item in items["disco_items"]["substanzas"]]
        for jid in filter(None, candidates):
            try:
                info: Any = await disco.get_info(jid=JID(jid), timeout=timeout)
            except (IqError, IqTimeout):
                continue
            if NS_UPLOAD not in info["disco_info"]["features"]:
                continue
            limit = None
            # The limit is in the service's extended disco form (XEP-0128).
            for field in info.xml.iter(f"{{{NS_DATA}}}field"):
                if field.get("var") == "max-file-size":
                    value = field.find(f"{{{NS_DATA}}}value")
                    text = (value.text or "").strip() if value is not None else ""
                    if text.isdigit():
                        limit = int(text)
            self.service = (jid, limit)
            return self.service
        raise LookupError(f"{domain} offers no HTTP file upload service")

    async def request_slot(self, service: str, filename: str, size: int,
                           content_type: str, timeout: float = 30) -> Slot:
        """Ask `service` for a place to put one file; raises IqError, IqTimeout, or
        TransferError for an answer we cannot use."""
        iq = self.xmpp.make_iq_get(ito=JID(service))
        request = iq["http_upload_request"]
        request["filename"] = filename
        request["size"] = str(size)
        request["content-type"] = content_type
        answer: Any = await iq.send(timeout=timeout)
        return parse_slot(answer.xml)
