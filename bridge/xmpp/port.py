"""One account's chat as a port (bridge.ports.ChatPort), over XmppClient.

The transport's face to policy (outbox, handoff, health): it calls only
XmppClient's public methods, so the client can change inside without policy
noticing. Two jobs of the transport live here because they span the client's
layers:

- sending a chat leg (`send_leg`): room, invitations, thread binding, then the
  history, the text (a reply to a line, XEP-0461, when the plan says so) and
  the files, each with the id the plan fixed;
- the health probe (`probe_xmpp`): through the running client's session when
  there is one (its stream is what needs checking), else a short session of its
  own: XEP-0199 ping (the round trip), XEP-0202 entity time (the skew) and the
  upload service by disco, each through slixmpp's own plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Iterable
from typing import Any

from slixmpp import JID
from slixmpp.plugins import xep_0082

from ..config import AccountConfig, SecretError, get_password
from ..crypto.status import OmemoDevice
from ..identity import normalize_jid
from ..model import Attachment, ContactPresence, HealthReport, ImPlan, Message
from ..store import Store
from .client import RESEND_TRIES, RESEND_WINDOW, XmppClient
from .core import Reply
from .session import XmppLoginError, XmppSession

log = logging.getLogger(__name__)

NS_UPLOAD = "urn:xmpp:http:upload:0"
NS_TIME = "urn:xmpp:time"


class XmppTransport:
    """The chat side of one account, over its running XmppClient."""

    def __init__(self, client: XmppClient, cfg: AccountConfig, store: Store) -> None:
        self.client = client
        self.cfg = cfg
        self.store = store

    @property
    def account(self) -> str:
        return self.cfg.name

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def own(self) -> str:
        return self.client.own

    @property
    def domain(self) -> str:
        return self.client.domain

    @property
    def resend_window(self) -> float:
        return RESEND_WINDOW

    @property
    def resend_tries(self) -> int:
        return RESEND_TRIES

    async def start(self) -> None:
        await self.client.start()

    async def stop(self) -> None:
        await self.client.stop()

    async def fetch_body(self, row_id: int) -> None:
        await self.client.download(row_id)

    async def mark_read(self, row_id: int, *, tell: bool = True) -> None:
        self.client.mark_displayed(row_id, tell=tell)

    def availability(self, address: str) -> ContactPresence:
        return self.client.availability(address)

    async def probe(self, timeout: float) -> list[HealthReport]:
        return [await probe_xmpp(self.cfg, self.client, timeout)]

    async def on_server(self, peer: str, msg_ids: Iterable[str], since: float, *,
                        room: bool = False) -> set[str] | None:
        held = await self.client.on_server(peer, list(msg_ids), since, room=room)
        return None if held is None else set(held)

    async def answers_receipts(self, jid: str) -> bool:
        return await self.client.answers_receipts(jid)

    def forget(self, msg_ids: Iterable[str]) -> None:
        self.client.forget(msg_ids)

    def rooms(self) -> set[str]:
        return set(self.client.rooms()) | set(self.client.state.rooms)

    def occupants(self, room: str) -> list[str]:
        return [normalize_jid(o.jid) for o in self.client.occupants(room) if o.jid]

    def knows(self, jid: str) -> bool:
        return any(item.jid == jid for item in self.client.roster()) or \
            jid in self.client.state.threads

    def thread_with(self, jid: str) -> str | None:
        return self.client.state.threads.get(jid)

    def room_for_thread(self, thread_id: str) -> str | None:
        for jid, bound in self.client.state.threads.items():
            if bound == thread_id and jid in self.client.state.rooms:
                return jid
        return None

    async def muc_service(self) -> str:
        return await self.client.muc_service()

    async def download(self, row_id: int) -> list[Attachment]:
        return await self.client.download(row_id)

    async def omemo_ready(self, jid: str) -> None:
        await self.client.omemo_ready(jid)

    async def omemo_ready_room(self, room: str) -> None:
        await self.client.omemo_ready_room(room)

    async def omemo_devices(self, jids: list[str]) -> list[OmemoDevice]:
        return await self.client.omemo_devices(jids)

    async def omemo_trust(self, jid: str, device: str, level: str) -> OmemoDevice:
        return await self.client.omemo_trust(jid, device, level)

    async def send_leg(self, plan: ImPlan, skip: frozenset[str] = frozenset()
                       ) -> list[Message]:
        """Send one chat leg: join or create the room, invite, then the history,
        the new text and the files, each with the thread id and its own fixed id.
        The parts whose ids are in `skip` (the server already holds them) are not
        sent again."""
        client = self.client
        sent: list[Message] = []
        if plan.room:
            if plan.to not in client.rooms():
                await client.create_room(plan.to, members_only=True, public_jids=True,
                                         name=plan.room_name)
            for jid in plan.invite:
                await client.grant_membership(plan.to, jid)
                client.invite(plan.to, jid, reason=plan.room_name)
        client.bind_thread(plan.to, plan.thread_id)
        send = functools.partial(client.send_room if plan.room else client.send_chat,
                                 encrypt=plan.encrypt)
        if plan.history and plan.history_id and plan.history_id not in skip:
            sent.append(send(plan.to, plan.history, thread_id=plan.thread_id,
                             msg_id=plan.history_id))
        if plan.msg_id not in skip and not plan.file_only:
            reply = plan.reply or {}
            sent.append(send(plan.to, plan.text, thread_id=plan.thread_id,
                             msg_id=plan.msg_id,
                             reply=Reply(reply["to"], reply["id"], reply.get("quote", ""),
                                         reply.get("nick", "")) if reply else None,
                             reply_to_line=reply.get("line") or None))
        for f in plan.files:
            if str(f["id"]) in skip:
                continue
            data = self.store.blob_path(str(f["sha256"])).read_bytes()
            sent.append(await client.send_file(plan.to, data, str(f["name"]),
                                               str(f["type"]), thread_id=plan.thread_id,
                                               msg_id=str(f["id"]), encrypt=plan.encrypt))
        return sent


# -- the health probe ---------------------------------------------------------------


async def probe_xmpp(account: AccountConfig, client: XmppClient | None,
                     timeout: float) -> HealthReport:
    started = time.time()
    if client is not None and client.connected:
        report = await _checks(client.session, account, started, timeout, running=True)
        if report.push_alive is not False:
            return report
        if client.session.transport is not None:
            # Connected, yet the server does not answer: the stream is dead.
            client.session.reconnect(0.0, "Ping timeout (health probe)")
        # Whether the server itself answers, a session of our own tells.
    try:
        password = await asyncio.to_thread(get_password, account, "xmpp")
        assert account.jid is not None and account.xmpp is not None
        session = XmppSession(account.jid, password, account.xmpp)
        await session.start(timeout=timeout)
    except (XmppLoginError, SecretError) as exc:
        return HealthReport.failed(account.name, "xmpp", exc, started,
                                   secret=isinstance(exc, SecretError))
    try:
        report = await _checks(session, account, started, timeout, running=False)
    finally:
        with contextlib.suppress(Exception):
            await session.stop()
    if client is not None:
        # Our own client is down while the server answers: it is reconnecting.
        return HealthReport(report.account, "xmpp", report.reachable, report.logged_in,
                            False, report.rtt_ms, report.clock_skew_s,
                            "server up, our connection is reconnecting; " + report.detail,
                            started)
    return report


async def _checks(session: Any, account: AccountConfig, started: float, timeout: float, *,
                  running: bool) -> HealthReport:
    """Ping (XEP-0199), entity time (XEP-0202) and the upload service (disco),
    each through slixmpp's own plugin."""
    domain = JID(session.boundjid.domain)
    try:
        rtt = await session.plugin["xep_0199"].ping(domain, timeout=timeout) * 1000
    except Exception as exc:
        return HealthReport(account.name, "xmpp", True, True, False if running else None,
                            detail=f"no answer to ping: {exc or type(exc).__name__}",
                            checked_at=started)
    skew = None
    try:
        sent = time.time()
        answer = await session.plugin["xep_0202"].get_entity_time(domain, timeout=timeout)
        back = time.time()
        # Read from the element, not ["utc"]: slixmpp 1.17's get_utc appends a
        # second "Z" to the (already Z-suffixed, XEP-0202 3) value and fails.
        utc = answer["entity_time"].xml.find(f"{{{NS_TIME}}}utc")
        if utc is not None and utc.text:
            stamp = xep_0082.parse(utc.text.strip()).timestamp()
            if "." not in utc.text:
                stamp += 0.5  # whole seconds (Prosody): the moment lies within it
            skew = stamp - (sent + back) / 2
    except Exception as exc:  # a server without XEP-0202: the clock is unknown
        log.info("%s: no entity time from %s: %r", account.name, domain, exc)
    upload = await _upload_service(session, domain, timeout)
    detail = f"online as {account.jid}; " + (f"upload at {upload}" if upload
                                             else "no upload service")
    return HealthReport(account.name, "xmpp", True, True, True if running else None, rtt,
                        skew, detail, started)


async def _upload_service(session: Any, domain: JID, timeout: float) -> str | None:
    """The first of the server and its items that offers HTTP upload (XEP-0363)."""
    disco = session.plugin["xep_0030"]
    with contextlib.suppress(Exception):
        for info in await disco.get_info_from_domain(domain=domain, timeout=timeout,
                                                     cached=True):
            if NS_UPLOAD in info["disco_info"]["features"]:
                return str(info["from"])
    return None
