"""One page of a message archive (XEP-0313) at a time, on slixmpp's xep_0313
and xep_0059 stanza interfaces.

Why not `xep_0313.retrieve` or `iterate`: `retrieve` turns every RSM value into a
string, so the newest page (an empty `<before/>`, XEP-0059 §2.5) cannot be asked
for ("True" goes out instead); `iterate` swallows the server's errors (we need
item-not-found: a kept archive id expired), takes no timeout, and leaves its
result collector registered after an empty page. Both, like this one, collect
results for our own archive from any sender: the caller keeps only those from
the archive it asked (`archive.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slixmpp import JID
from slixmpp.plugins import BasePlugin
from slixmpp.stanza import Message
from slixmpp.xmlstream.handler import Collector
from slixmpp.xmlstream.matcher import MatchXMLMask


@dataclass
class Page:
    results: list[Message]  # the <message> stanzas that carry a <result>
    complete: bool  # the server says this is the end of what matched
    last: str | None  # the archive id to page on from (RSM <last>)


class MamPages(BasePlugin):
    name = "mam_pages"
    description = "One page of a message archive at a time (XEP-0313, XEP-0059)"
    dependencies = {"xep_0313", "xep_0059"}

    def plugin_init(self) -> None:
        self._collectors: set[str] = set()

    def plugin_end(self) -> None:
        for name in list(self._collectors):
            self.xmpp.remove_handler(name)
        self._collectors.clear()

    async def page(self, archive: JID | None, *, after: str | None = None,
                   before: str | None = None, start: datetime | None = None,
                   with_jid: JID | None = None, limit: int = 100,
                   timeout: float = 30) -> Page:
        """Ask `archive` (None: our own) for one page: `after` or `before` an
        archive id (`before=""`: the newest page), since `start`, with `with_jid`.
        Raises IqError or IqTimeout as `Iq.send` does."""
        iq = self.xmpp.make_iq_set(ito=archive)
        query_id = iq["id"]
        iq["mam"]["queryid"] = query_id
        if start is not None:
            iq["mam"]["start"] = start
        if with_jid is not None:
            iq["mam"]["with"] = with_jid
        rsm = iq["mam"]["rsm"]
        rsm["max"] = str(limit)
        if after is not None:
            rsm["after"] = after
        if before is not None:
            rsm["before"] = before or True
        # Results match by query id only (see the module's docstring).
        mask = self.xmpp.Message()
        del mask["id"]
        del mask["lang"]
        mask["mam_result"]["queryid"] = query_id
        name = f"MAM page {query_id}"
        collector = Collector(name, MatchXMLMask(str(mask)))
        self._collectors.add(name)
        self.xmpp.register_handler(collector)
        try:
            answer: Any = await iq.send(timeout=timeout)
        finally:
            results = collector.stop()
            self._collectors.discard(name)
        fin = answer.get_plugin("mam_fin", check=True)
        complete = fin is None or (fin.xml.get("complete") or "") in ("true", "1")
        last = None
        if fin is not None and fin.get_plugin("rsm", check=True) is not None:
            last = fin["rsm"]["last"] or None
        return Page([r for r in results if isinstance(r, Message)], complete, last)
