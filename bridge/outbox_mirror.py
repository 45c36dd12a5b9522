"""The outbox's mirror of deferred chat lines in the mail store.

A deferred chat line is kept as an email in the IMAP folder `Deferred` (its
text, history, files, and the plan as JSON), so another machine sees it and it
survives the loss of the local store; it is removed once the line is sent. At
start-up the folder and the outbox rows are reconciled both ways: a copy with no
row becomes a row again (`recovered`, sent only after the server's archive says
it never went), a row with no copy gets one. The IMAP side is the mail port's
(bridge.mail.deferred); this module decides what is mirrored, and writes the
rows' log through bridge.delivery.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time

from .config import AccountConfig, Config
from .delivery import SETTLED, Deliveries
from .errors import EngineError
from .handoff.reply import sender_party
from .handoff.text import history_below
from .identity import Identity
from .mail.compose import build_email
from .mail.deferred_names import DEFERRED_FOLDER, DEFERRED_HEADER, PLAN_FILE
from .model import DeliveryState, Direction, ImPlan, Message, OutboxItem, Party, Transport
from .ports import Ports
from .store import Store

log = logging.getLogger(__name__)


def account_config(config: Config, name: str) -> AccountConfig:
    """An account's config, or EngineError naming the unknown account."""
    try:
        return config.account(name)
    except KeyError as exc:
        raise EngineError(str(exc.args[0]) if exc.args else str(exc)) from None


def outbox_row(store: Store, outbox_id: int) -> OutboxItem:
    """An outbox row, or KeyError when there is none."""
    item = store.outbox_get(outbox_id)
    if item is None:
        raise KeyError(f"no outbox item {outbox_id}")
    return item


class DeferredMirror:
    def __init__(self, store: Store, config: Config, identity: Identity, ports: Ports,
                 deliveries: Deliveries) -> None:
        self.store = store
        self.config = config
        self.identity = identity
        self.ports = ports
        self.deliveries = deliveries
        self.folder = config.deferral.folder or DEFERRED_FOLDER

    def _account(self, name: str) -> AccountConfig:
        return account_config(self.config, name)

    def _get(self, outbox_id: int) -> OutboxItem:
        return outbox_row(self.store, outbox_id)

    def email(self, item: OutboxItem) -> bytes:
        """The mirror copy of a deferred chat row, as the bytes of an email."""
        plan = ImPlan.from_payload(item.payload["plan"])
        account = self._account(item.account)
        targets = item.payload.get("targets") or [plan.to]
        to = []
        for jid in targets:
            r = self.identity.email_for(jid)
            contact = self.store.contact_for(jid)
            to.append(Party(r.address or jid, contact.name if contact is not None else "",
                            "to"))
        first = " ".join(plan.text.split())[:60]
        # A reply says what it answers, as it would by email (`with_quote`).
        body = (f"Deferred chat message to {', '.join(targets)}; tuiclient sends it when "
                f"they are available.\n\n{with_quote(plan).text}\n")
        if plan.history:
            body += f"\n{history_below(plan.history)}\n"
        files = [(str(f["name"]), str(f["type"]),
                  self.store.blob_path(str(f["sha256"])).read_bytes()) for f in plan.files]
        files.append((PLAN_FILE, "application/json",
                      json.dumps(item.payload, sort_keys=True).encode()))
        mail = build_email(sender_party(account), to, [], f"Deferred chat: {first}", body,
                           msg_id=plan.msg_id, in_reply_to=plan.thread_id,
                           references=[plan.thread_id], attachments=files,
                           extra_headers={DEFERRED_HEADER: str(item.id)})
        return mail.as_bytes()

    async def put(self, outbox_id: int) -> None:
        item = self._get(outbox_id)
        account = self._account(item.account)
        if account.imap is None:
            return
        raw = self.email(item)
        try:
            await self.ports.mail(item.account).deferred_put(self.folder, raw)
        except Exception as exc:  # the row is safe locally; the mirror comes next start
            self.deliveries.note(outbox_id, "mirror failed", str(exc))
            return
        self._mark(outbox_id, "mirrored", f"kept in the {self.folder} folder", True)

    async def remove(self, outbox_id: int) -> None:
        item = self._get(outbox_id)
        try:
            await self.ports.mail(item.account).deferred_remove(self.folder, item.msg_id)
        except Exception as exc:
            self.deliveries.note(outbox_id, "unmirror failed", str(exc))
            return
        self._mark(outbox_id, "unmirrored", f"removed from the {self.folder} folder", False)

    def _mark(self, outbox_id: int, log: str, detail: str, mirrored: bool) -> None:
        """Note the mirror's state on the row as it is NOW: the IMAP round trip
        before this took its time, and a deferred row's retry may have counted a
        try in the payload meanwhile ("tried once"); writing the payload read before
        the round trip would undo that count (`payload_set`: the key set in the
        row's payload inside the write's transaction)."""
        self.deliveries.note(outbox_id, log, detail, payload_set={"mirrored": mirrored})

    async def reconcile(self, account: str) -> None:
        """The folder and the rows, both ways (see the module's docstring)."""
        cfg = self._account(account)
        if cfg.imap is None or cfg.xmpp is None:
            return
        mail = self.ports.mail(account)
        try:
            mirrored = await mail.deferred_read(self.folder)
        except Exception as exc:
            log.warning("%s: reading the %s folder failed: %s", account, self.folder, exc)
            return
        local = {i.msg_id: i for i in self.store.outbox_items()
                 if i.account == account and i.transport is Transport.XMPP}
        for copy in mirrored:
            known = local.get(copy.msg_id)
            if known is None:
                self._recreate(account, copy.msg_id, copy.payload, copy.files)
            elif known.state in SETTLED or known.state is DeliveryState.SENT:
                with contextlib.suppress(Exception):
                    await mail.deferred_remove(self.folder, copy.msg_id)
        seen = {c.msg_id for c in mirrored}
        for item in local.values():
            if item.state is DeliveryState.DEFERRED and item.msg_id not in seen:
                await self.put(item.id)

    def _recreate(self, account: str, msg_id: str, payload: dict,
                  files: list[bytes]) -> None:
        for data in files:
            self.store.store_blob(data)  # the files come back from the mirror
        plan = ImPlan.from_payload(payload["plan"])
        cfg = self._account(account)
        message = Message(
            msg_id=msg_id, account=account, transport=Transport.XMPP,
            direction=Direction.OUT, thread_id=plan.thread_id, date=time.time(),
            sender=Party((cfg.jid or "").partition("/")[0], cfg.display_name or "", "from"),
            recipients=[Party(plan.to, "", "to")], text=plan.text, origin_id=msg_id,
            delivery=DeliveryState.DEFERRED)
        exists = self.store.find_by_msg_id(account, msg_id) is not None
        outbox_id = self.store.outbox_add(
            msg_id, account, Transport.XMPP,
            payload=dict(payload, mirrored=True, recovered=True),
            parties=[Party(t, "", "to") for t in (payload.get("targets") or [plan.to])],
            state=DeliveryState.DEFERRED, next_attempt=time.time(),
            message=None if exists else message)
        self.deliveries.created(outbox_id, f"recovered from the {self.folder} folder",
                                log="recovered", log_detail=f"from the {self.folder} folder")


def with_quote(plan: ImPlan) -> ImPlan:
    """A chat reply (XEP-0461) as an email says it: the line it answers quoted
    above its text ("bob wrote:" and "> " lines), as the chat showed it."""
    reply = plan.reply or {}
    if not reply.get("quote"):
        return plan
    who = reply.get("name") or reply.get("nick") or reply.get("to", "").partition("/")[0]
    quoted = "\n".join("> " + line for line in reply["quote"].splitlines())
    head = f"{who} wrote:\n" if who else ""
    return dataclasses.replace(plan, text=f"{head}{quoted}\n\n{plan.text}")
