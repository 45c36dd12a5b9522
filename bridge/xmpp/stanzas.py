"""Reading chat stanzas into plain data, straight from their XML.

Stanzas are built, and most are dispatched, by slixmpp's plugins; the message
that goes into the store is read here. Remote stanzas are hostile: this reads
only the few elements we understand, with `find`, and never lets a missing
attribute or an odd child raise. The plugins' stanza interfaces do not fit this
one job: they create elements on access, raise on some malformed values (a
<delay> stamp that is not a date, a JID that is not one), and xep_0359's gives
the first <stanza-id>, where trust needs the last one stamped by our own server.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

# The thread id of a chat with no <thread> is thread policy, kept in model.
from ..model import default_thread_id as default_thread_id

NS_CLIENT = "jabber:client"
NS_SID = "urn:xmpp:sid:0"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_OOB = "jabber:x:oob"
# What a file is, told beside its link: SIMS (XEP-0385, Jingle file metadata) and
# stateless file sharing (XEP-0447, XEP-0446 metadata), as Conversations and Dino send.
NS_REFERENCE = "urn:xmpp:reference:0"
NS_SIMS = "urn:xmpp:sims:1"
NS_JINGLE_FILE = "urn:xmpp:jingle:apps:file-transfer:5"
NS_SFS = "urn:xmpp:sfs:0"
NS_FILE_METADATA = "urn:xmpp:file:metadata:0"
NS_URL_DATA = "http://jabber.org/protocol/url-data"
MAX_FILE_SIZE = 1 << 50  # a size past this is no size (a hostile or broken number)
NS_DELAY = "urn:xmpp:delay"
NS_MAM = "urn:xmpp:mam:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_CONFERENCE = "jabber:x:conference"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_CHAT_STATES = "http://jabber.org/protocol/chatstates"
NS_CORRECT = "urn:xmpp:message-correct:0"
NS_RETRACT = "urn:xmpp:message-retract:1"
NS_RETRACT_0 = "urn:xmpp:message-retract:0"  # inside XEP-0422's apply-to, before v1
NS_FASTEN = "urn:xmpp:fasten:0"
NS_REACTIONS = "urn:xmpp:reactions:0"
NS_REPLY = "urn:xmpp:reply:0"
NS_FALLBACK = "urn:xmpp:fallback:0"

# A body beyond this is kept cut (and the message marked malformed): a chat line
# of megabytes is an attack or an accident, and the store should not carry it.
MAX_BODY_CHARS = 512 * 1024
MAX_ID_CHARS = 256
# Reactions are a handful of emoji; a set beyond these is cut.
MAX_REACTIONS = 20
MAX_REACTION_CHARS = 32

# Thread ids for chats without <thread> are derived, not random, so the live copy,
# the MAM copy and a second device all agree without sharing any state.


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def bare(jid: str) -> str:
    return jid.split("/", 1)[0].lower() if jid else ""



def resource(jid: str) -> str:
    return jid.split("/", 1)[1] if "/" in jid else ""


def _clean_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if not value or len(value) > MAX_ID_CHARS or any(not c.isprintable() for c in value):
        return None
    return value


@dataclass
class ParsedChat:
    """The parts of one <message> that go into the store."""

    stanza_type: str
    sender: str  # full JID as the stanza says
    to: str
    attr_id: str | None
    body: str | None
    thread: str | None
    origin_id: str | None
    stanza_id: str | None  # only when stamped by `trusted_by`
    receipt_request: bool
    markable: bool
    oob_urls: list[str]
    delay: float | None
    muc_real_jid: str | None
    truncated: bool
    # What the message does to an earlier line rather than being one: correct it
    # (XEP-0308), retract it (XEP-0424), or set the sender's reactions (XEP-0444).
    replace_id: str | None = None
    retract_id: str | None = None
    reactions_to: str | None = None
    reactions: list[str] | None = None
    # A reply (XEP-0461): the id of the line it answers, its author as the sender
    # named them, and where in the body the quote for other clients lies
    # (XEP-0428's fallback for replies; None: no such quote, or a range that is
    # not inside the body).
    reply_id: str | None = None
    reply_to: str | None = None
    reply_fallback: tuple[int, int] | None = None
    # What the sender told of the files it links to (`file_metadata`), by link.
    files: dict[str, FileMeta] | None = None

    def body_without_fallback(self) -> str:
        """The body as a client of replies shows it: without the quote."""
        body = self.body or ""
        if self.reply_fallback is None:
            return body
        start, end = self.reply_fallback
        return (body[:start] + body[end:]).strip("\n")

    @property
    def edit(self) -> bool:
        return bool(self.replace_id or self.retract_id or self.reactions_to)


def parse_message(xml: Element, trusted_by: set[str]) -> ParsedChat:
    """Pick out what we use; `trusted_by` are the JIDs whose stanza-id we believe
    (our own bare JID, or the room): anyone else's could be forged."""
    body_el = xml.find(q(NS_CLIENT, "body"))
    body = body_el.text if body_el is not None else None
    if body_el is not None and body is None:
        body = ""
    truncated = False
    if body is not None and len(body) > MAX_BODY_CHARS:
        body, truncated = body[:MAX_BODY_CHARS], True
    thread_el = xml.find(q(NS_CLIENT, "thread"))
    thread = _clean_id(thread_el.text if thread_el is not None else None)
    origin_el = xml.find(q(NS_SID, "origin-id"))
    origin_id = _clean_id(origin_el.get("id") if origin_el is not None else None)
    # The stamping server adds its <stanza-id> after whatever the sender put in, and
    # should strip a sender's copy claiming to be by it (XEP-0359 §8); not every
    # server does (Prosody 0.12 lets one through), so the last one by a trusted JID
    # is the server's, and an earlier one is a forgery, never believed.
    stanza_id = None
    for el in xml.findall(q(NS_SID, "stanza-id")):
        if bare(el.get("by") or "") in trusted_by:
            stanza_id = _clean_id(el.get("id"))
    oob_urls = []
    for x in xml.findall(q(NS_OOB, "x")):
        url_el = x.find(q(NS_OOB, "url"))
        if url_el is not None and url_el.text and is_web_url(url_el.text.strip()):
            oob_urls.append(url_el.text.strip())
    delay_el = xml.find(q(NS_DELAY, "delay"))
    muc_real = None
    muc_x = xml.find(q(NS_MUC_USER, "x"))
    if muc_x is not None:
        item = muc_x.find(q(NS_MUC_USER, "item"))
        if item is not None and item.get("jid"):
            muc_real = bare(item.get("jid") or "")
    replace_el = xml.find(q(NS_CORRECT, "replace"))
    retract_el = xml.find(q(NS_RETRACT, "retract"))
    retract_id = _clean_id(retract_el.get("id") if retract_el is not None else None)
    fasten = xml.find(q(NS_FASTEN, "apply-to"))
    if retract_id is None and fasten is not None \
            and fasten.find(q(NS_RETRACT_0, "retract")) is not None:
        retract_id = _clean_id(fasten.get("id"))
    reactions_el = xml.find(q(NS_REACTIONS, "reactions"))
    reactions_to = _clean_id(reactions_el.get("id") if reactions_el is not None else None)
    reactions = None
    if reactions_el is not None and reactions_to:
        reactions = []
        for el in reactions_el.findall(q(NS_REACTIONS, "reaction"))[:MAX_REACTIONS]:
            value = (el.text or "").strip()
            if value and len(value) <= MAX_REACTION_CHARS and value not in reactions \
                    and value.replace("\u200d", "").isprintable():  # emoji joiners only
                reactions.append(value)
    reply_el = xml.find(q(NS_REPLY, "reply"))
    reply_id = _clean_id(reply_el.get("id") if reply_el is not None else None)
    return ParsedChat(
        reply_id=reply_id,
        reply_to=_clean_id(reply_el.get("to") if reply_el is not None else None),
        reply_fallback=_fallback_range(xml, NS_REPLY, body) if reply_id else None,
        replace_id=_clean_id(replace_el.get("id") if replace_el is not None else None),
        retract_id=retract_id,
        reactions_to=reactions_to,
        reactions=reactions,
        stanza_type=xml.get("type") or "normal",
        sender=xml.get("from") or "",
        to=xml.get("to") or "",
        attr_id=_clean_id(xml.get("id")),
        body=body,
        thread=thread,
        origin_id=origin_id,
        stanza_id=stanza_id,
        receipt_request=xml.find(q(NS_RECEIPTS, "request")) is not None,
        markable=xml.find(q(NS_MARKERS, "markable")) is not None,
        oob_urls=oob_urls,
        delay=parse_stamp(delay_el.get("stamp") if delay_el is not None else None),
        muc_real_jid=muc_real,
        truncated=truncated,
        files=file_metadata(xml) if oob_urls else None,
    )


def _fallback_range(xml: Element, for_ns: str, body: str | None) -> tuple[int, int] | None:
    """Where in the body the fallback text for `for_ns` lies (XEP-0428: start and
    end in characters, a <body/> without them is the whole body); None when there
    is none or its range is nonsense."""
    if body is None:
        return None
    for fallback in xml.findall(q(NS_FALLBACK, "fallback")):
        if fallback.get("for") != for_ns:
            continue
        part = fallback.find(q(NS_FALLBACK, "body"))
        if part is None:
            continue
        if part.get("start") is None and part.get("end") is None:
            return 0, len(body)
        try:
            start, end = int(part.get("start") or ""), int(part.get("end") or "")
        except ValueError:
            return None
        return (start, end) if 0 <= start < end <= len(body) else None
    return None


def parse_stamp(stamp: str | None) -> float | None:
    """An XEP-0082 timestamp as epoch seconds; None when absent or nonsense."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.strip().replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None


def is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.netloc)


@dataclass(frozen=True)
class FileMeta:
    """What a sender told of a linked file; None or "": not told."""

    size: int | None
    name: str
    media_type: str


def file_metadata(xml: Element) -> dict[str, FileMeta]:
    """The files a message describes beside their links, by link: SIMS
    (XEP-0385: <reference><media-sharing><file> with the link in
    <sources><reference uri>) and XEP-0447 (<file-sharing><file> with it in
    <sources><url-data target>). Read here with `find`, as the rest of this
    module: slixmpp's xep_0385/xep_0447 stanzas build elements on access and
    raise on a size that is not a number, which a hostile sender chooses."""
    found: dict[str, FileMeta] = {}
    shares = [(sims, sims.find(q(NS_JINGLE_FILE, "file")),
               [r.get("uri") or "" for r in sims.iterfind(
                   f"{q(NS_SIMS, 'sources')}/{q(NS_REFERENCE, 'reference')}")])
              for ref in xml.findall(q(NS_REFERENCE, "reference"))
              for sims in ref.findall(q(NS_SIMS, "media-sharing"))]
    shares += [(sfs, sfs.find(q(NS_FILE_METADATA, "file")),
                [u.get("target") or "" for u in sfs.iterfind(
                    f"{q(NS_SFS, 'sources')}/{q(NS_URL_DATA, 'url-data')}")])
               for sfs in xml.findall(q(NS_SFS, "file-sharing"))]
    for _share, file_el, urls in shares[:20]:
        if file_el is None:
            continue
        ns = file_el.tag.partition("}")[0] + "}"
        size_text = (file_el.findtext(ns + "size") or "").strip()
        size = int(size_text) if size_text.isdigit() and len(size_text) < 20 \
            and int(size_text) < MAX_FILE_SIZE else None
        name = (file_el.findtext(ns + "name") or "").strip()[:255]
        media_type = (file_el.findtext(ns + "media-type") or "").strip()[:100]
        if "/" not in media_type or any(c.isspace() for c in media_type):
            media_type = ""
        for url in urls[:10]:
            if url.strip():
                found.setdefault(url.strip(), FileMeta(size, name, media_type))
    return found


def filename_from_url(url: str) -> str:
    """The last path segment of a URL, decoded: only a hint, made safe where it is used."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return "attachment"
    return unquote(path.rstrip("/").rpartition("/")[2]) or "attachment"


def fallback_msg_id(sender: str, attr_id: str | None) -> str:
    """An id for a message that brings none we can trust to be unique."""
    if attr_id:
        digest = hashlib.sha256(f"{bare(sender)}\0{attr_id}".encode()).hexdigest()[:32]
        return f"xmpp-{digest}@{bare(sender).rpartition('@')[2] or 'invalid'}"
    return f"{uuid.uuid4().hex}@xmpp.invalid"


def error_condition(xml: Element) -> tuple[str, str, bool]:
    """(condition, text, blocked) of an error stanza."""
    err = xml.find(q(NS_CLIENT, "error"))
    if err is None:
        return "undefined-condition", "", False
    condition, text = "undefined-condition", ""
    blocked = False
    for child in err:
        tag = child.tag
        if tag == q(NS_STANZAS, "text"):
            text = (child.text or "")[:500]
        elif tag.startswith("{" + NS_STANZAS + "}"):
            condition = tag.split("}", 1)[1]
        elif tag == q(NS_BLOCKING_ERRORS, "blocked"):
            blocked = True
    return condition, text, blocked
