"""Autocrypt Level 1 (https://autocrypt.org/level1.html): the header, each peer's
state, and the recommendation whether to encrypt.

What is ours here is the protocol's bookkeeping, not cryptography: the header is
`addr=...; [prefer-encrypt=mutual;] keydata=BASE64`, a few attributes and a key
in base64; the key itself is only ever handled by GnuPG through GPGME
(bridge.crypto.autocrypt_keys). No library in our stack parses or writes the
header (the stdlib reads header fields, not their attributes), so the attribute
grammar of the spec's section "The Autocrypt Header" is written out here.

The peers' state is a 0600 JSON file beside the store (`autocrypt-peers.json`),
as `keys prefer` keeps its choices (bridge.crypto.preferences), rather than a
store table: it changes at the pace the user opens mail (the header is read
when a body is fetched, never during the header sync), it holds a handful of
small records that no query joins, and it needs no schema step (the store's
migrations are numbered in order, and other work takes the next numbers). A
lock file serialises the read-modify-write of two processes (the TUI and a
headless command) so neither loses the other's update.

Where it is fed: `observe` from `bridge.mail.sync_bodies` when an email's body
is fetched (its raw bytes are then at hand; the spec allows receive or display
time), `observe_gossip` when an encrypted email is opened (gossip lives inside
the encryption). Where it is used: `recommend` feeds
`bridge.crypto.outgoing.required`; `format_value` is our header on every email
the account sends (bridge.crypto.autocrypt_mail.outgoing, called by
bridge.crypto.outgoing.prepare).

Not done: the Autocrypt Setup Message (moving the key to another program) and
Autocrypt-Draft-State; a user's key already lives in their keyring.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message as EmailMessage_
from email.utils import getaddresses, parsedate_to_datetime
from enum import StrEnum
from pathlib import Path

FILE = "autocrypt-peers.json"
# The spec: a header above 10 KiB (with "Autocrypt: " and folding) is invalid.
MAX_HEADER = 10 * 1024
# A peer whose last Autocrypt header is this much older than its last mail
# stopped sending one (another mail program?): encryption is discouraged.
STALE = 35 * 24 * 3600
# Attributes of Level 1; any other without a leading "_" makes a header invalid.
KNOWN = ("addr", "prefer-encrypt", "keydata")


class Recommendation(StrEnum):
    """The spec's ui-recommendation, weakest first."""

    DISABLE = "disable"  # encryption not possible: some recipient has no key
    DISCOURAGE = "discourage"  # possible, but the recipient may not read it
    AVAILABLE = "available"  # possible: offer it, do not default to it
    ENCRYPT = "encrypt"  # encrypt by default


@dataclass(frozen=True, slots=True)
class Header:
    """One valid Autocrypt (or Autocrypt-Gossip) header."""

    addr: str
    keydata: bytes  # the binary OpenPGP transferable public key
    mutual: bool = False


@dataclass(slots=True)
class Peer:
    """The spec's `peers[addr]` (timestamps: seconds since the epoch, UTC)."""

    last_seen: float = 0.0
    autocrypt_timestamp: float = 0.0
    public_key: str = ""  # base64 keydata of the youngest Autocrypt header
    prefer_encrypt: str = "nopreference"  # or "mutual"
    gossip_timestamp: float = 0.0
    gossip_key: str = ""

    @property
    def mutual(self) -> bool:
        return self.prefer_encrypt == "mutual"

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Peer | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(last_seen=float(data.get("last_seen") or 0),
                       autocrypt_timestamp=float(data.get("autocrypt_timestamp") or 0),
                       public_key=str(data.get("public_key") or ""),
                       prefer_encrypt="mutual" if data.get("prefer_encrypt") == "mutual"
                       else "nopreference",
                       gossip_timestamp=float(data.get("gossip_timestamp") or 0),
                       gossip_key=str(data.get("gossip_key") or ""))
        except (TypeError, ValueError):
            return None


def canonical(address: str) -> str:
    """The spec's canonical address: the domain in IDNA ASCII, the local part
    lower-cased (what every index of peers here is keyed by)."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return address.strip().lower()
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{local.lower()}@{domain.lower()}"


# -- the header ----------------------------------------------------------------------


def parse(value: str) -> Header | None:
    """One header's value as a Header; None when the spec calls it invalid: no
    addr or keydata, keydata not last or not base64, an unknown critical
    attribute, over 10 KiB. Remote input: nothing here raises."""
    if not isinstance(value, str) or len(value) + len("Autocrypt: ") > MAX_HEADER:
        return None
    attributes: dict[str, str] = {}
    names: list[str] = []
    for piece in value.split(";"):
        piece = piece.strip()
        if not piece:
            continue
        name, eq, content = piece.partition("=")
        name = name.strip().lower()
        if not eq or not name or name in attributes:
            return None
        attributes[name] = content.strip()
        names.append(name)
    if not names or names[-1] != "keydata" or "addr" not in attributes:
        return None
    if any(n not in KNOWN and not n.startswith("_") for n in names):
        return None
    addr = attributes["addr"]
    if "@" not in addr or any(c.isspace() or c in "<>,\"" for c in addr):
        return None
    compact = "".join(attributes["keydata"].split())
    try:
        keydata = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not keydata:
        return None
    return Header(canonical(addr), keydata, attributes.get("prefer-encrypt") == "mutual")


def format_value(addr: str, keydata: bytes, mutual: bool = False) -> str:
    """The value of our header: keydata last, its base64 cut into 76-column
    pieces by spaces, which is where the header is folded when it is written
    (a reader drops the whitespace inside keydata, as the spec's examples show)."""
    b64 = base64.b64encode(keydata).decode("ascii")
    pieces = " ".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    prefer = " prefer-encrypt=mutual;" if mutual else ""
    return f"addr={addr};{prefer} keydata= {pieces}"


# -- incoming mail --------------------------------------------------------------------


def effective_date(head: EmailMessage_, now: float) -> float:
    """The spec's effective date: the Date header, or the time of receipt when
    it is missing, unreadable or in the future."""
    try:
        when = parsedate_to_datetime(str(head.get("Date", ""))).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return now
    return min(when, now)


def single_from(head: EmailMessage_) -> str | None:
    addresses = [a for _n, a in getaddresses([str(v) for v in head.get_all("From", [])])
                 if a]
    return canonical(addresses[0]) if len(addresses) == 1 else None


def ignored(head: EmailMessage_) -> bool:
    """Mail the spec says not to learn from: auto-replies, reports (read
    receipts, bounces), and, our choice, mailing-list mail: a list may rewrite
    From or pass on a poster's header under its own address, and its senders
    are not who we write to."""
    if str(head.get("Auto-Submitted", "")).strip().lower().startswith("auto-replied"):
        return True
    if head.get_content_type() == "multipart/report":
        return True
    return head.get("List-Id") is not None or head.get("List-Post") is not None


def the_header(head: EmailMessage_, from_addr: str) -> Header | None:
    """The one valid Autocrypt header whose addr is From; None when there is
    none, or more than one (the spec: then all are discarded)."""
    valid = [h for h in (parse(str(v)) for v in head.get_all("Autocrypt", []))
             if h is not None and h.addr == from_addr]
    return valid[0] if len(valid) == 1 else None


def update(peer: Peer | None, date: float, header: Header | None) -> Peer | None:
    """The spec's update of `peers[from-addr]` by one message; None when
    nothing changes (so nothing is written)."""
    if peer is None:
        if header is None:
            return None  # no state for someone who never sent a header
        peer = Peer()
    elif date < peer.autocrypt_timestamp:
        return None
    changed = dataclasses.replace(peer)
    if date > changed.last_seen:
        changed.last_seen = date
    if header is not None:
        changed.autocrypt_timestamp = date
        changed.public_key = base64.b64encode(header.keydata).decode("ascii")
        changed.prefer_encrypt = "mutual" if header.mutual else "nopreference"
    return None if changed == peer else changed


def update_gossip(peer: Peer | None, date: float, header: Header) -> Peer | None:
    """The spec's update of `peers[gossip-addr]` by one gossip header."""
    peer = peer or Peer()
    if peer.gossip_timestamp > date:
        return None
    changed = dataclasses.replace(peer, gossip_timestamp=date,
                                  gossip_key=base64.b64encode(header.keydata).decode("ascii"))
    return None if changed == peer else changed


# -- the state on disk ----------------------------------------------------------------


class Peers:
    """`peers`, kept in `folder/autocrypt-peers.json` (0600)."""

    _thread_lock = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE

    def all(self) -> dict[str, Peer]:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text())
            if isinstance(data, dict):
                return {str(k): p for k, v in data.items()
                        if (p := Peer.from_json(v)) is not None}
        return {}

    def get(self, address: str) -> Peer | None:
        return self.all().get(canonical(address))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_suffix(".lock")
        with self._thread_lock:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def change(self, edit: Callable[[dict[str, Peer]], bool]) -> None:
        """Read, let `edit` change the peers in place (True: something changed),
        write back atomically: all under the lock."""
        with self._locked():
            peers = self.all()
            if not edit(peers):
                return
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({k: p.to_json() for k, p in sorted(peers.items())}, f, indent=1)
            tmp.replace(self.path)


def observe(folder: Path, head: EmailMessage_, now: float | None = None) -> bool:
    """Learn from one received email's header fields (its Autocrypt header, or
    its absence: last_seen). True when the state changed."""
    now = time.time() if now is None else now
    if ignored(head):
        return False
    sender = single_from(head)
    if sender is None:
        return False
    header = the_header(head, sender)
    date = effective_date(head, now)
    changed = False

    def edit(peers: dict[str, Peer]) -> bool:
        nonlocal changed
        new = update(peers.get(sender), date, header)
        if new is not None:
            peers[sender] = new
            changed = True
        return changed

    Peers(folder).change(edit)
    return changed


def observe_gossip(folder: Path, gossip: Sequence[str], recipients: Iterable[str],
                   date: float) -> list[str]:
    """Learn from the Autocrypt-Gossip headers found inside a decrypted email
    (`recipients`: its To, Cc and Reply-To). The addresses updated."""
    allowed = {canonical(a) for _n, a in getaddresses(list(recipients)) if a}
    headers = [h for h in (parse(v) for v in gossip) if h is not None and h.addr in allowed]
    done: list[str] = []

    def edit(peers: dict[str, Peer]) -> bool:
        for h in headers:
            new = update_gossip(peers.get(h.addr), date, h)
            if new is not None:
                peers[h.addr] = new
                done.append(h.addr)
        return bool(done)

    if headers:
        Peers(folder).change(edit)
    return done


# -- the recommendation ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advice:
    """The spec's recommendation for one message: ui-recommendation and
    target-keys (address -> keydata), with each recipient's word."""

    recommendation: Recommendation
    targets: Mapping[str, bytes] = field(default_factory=dict)
    each: Mapping[str, Recommendation] = field(default_factory=dict)


def recommend_one(peer: Peer | None, usable: Callable[[str], bool], *, own_mutual: bool,
                  reply_to_encrypted: bool = False) -> tuple[Recommendation, str]:
    """One recipient's ui-recommendation and the key (base64) it would use."""
    if peer is None:
        return Recommendation.DISABLE, ""
    public = peer.public_key if peer.public_key and usable(peer.public_key) else ""
    gossip = peer.gossip_key if peer.gossip_key and usable(peer.gossip_key) else ""
    if not public and not gossip:
        return Recommendation.DISABLE, ""
    if not public:
        target, preliminary = gossip, Recommendation.DISCOURAGE
    else:
        target = public
        stale = peer.autocrypt_timestamp < peer.last_seen - STALE
        preliminary = Recommendation.DISCOURAGE if stale else Recommendation.AVAILABLE
    if reply_to_encrypted:
        return Recommendation.ENCRYPT, target
    if preliminary is Recommendation.AVAILABLE and peer.mutual and own_mutual:
        return Recommendation.ENCRYPT, target
    return preliminary, target


def recommend(peers: Mapping[str, Peer], recipients: Sequence[str],
              usable: Callable[[str], bool], *, own_mutual: bool,
              reply_to_encrypted: bool = False) -> Advice:
    """The message's ui-recommendation from each recipient's (the spec's rules
    for several recipients, in order)."""
    each: dict[str, Recommendation] = {}
    targets: dict[str, bytes] = {}
    for address in dict.fromkeys(canonical(r) for r in recipients if r):
        word, key = recommend_one(peers.get(address), usable, own_mutual=own_mutual,
                                  reply_to_encrypted=reply_to_encrypted)
        each[address] = word
        if key:
            targets[address] = base64.b64decode(key)
    words = set(each.values())
    if not each or Recommendation.DISABLE in words:
        overall = Recommendation.DISABLE
    elif words == {Recommendation.ENCRYPT}:
        overall = Recommendation.ENCRYPT
    elif Recommendation.DISCOURAGE in words:
        overall = Recommendation.DISCOURAGE
    else:
        overall = Recommendation.AVAILABLE
    return Advice(overall, targets, each)


# -- this process's setup --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setup:
    """Autocrypt as the config has it for the store in `folder` ([crypto]
    autocrypt, autocrypt_prefer_encrypt, gnupg_home; the accounts' own
    [accounts.crypto] autocrypt)."""

    folder: Path
    home: Path | None = None
    mutual: bool = False
    # Our own addresses: our sent mail teaches nothing about a peer.
    own: frozenset[str] = frozenset()
    # The addresses whose mail goes with Autocrypt (the accounts that have it
    # on, [accounts.crypto] autocrypt; None: every one of ours).
    senders: frozenset[str] | None = None

    def sends_from(self, address: str) -> bool:
        return self.senders is None or canonical(address) in self.senders


# The engine says, when it starts, whether Autocrypt is on for its store: the
# mail layer (body fetch, send) reaches it by the store's folder, so that no
# signature below the engine has to carry the config.
_setups: dict[Path, Setup] = {}


def configure(folder: Path, setup: Setup | None) -> None:
    if setup is None:
        _setups.pop(folder, None)
    else:
        _setups[folder] = setup


def setup_for(folder: Path) -> Setup | None:
    return _setups.get(folder)


def header_fields(raw: bytes) -> EmailMessage_:
    """The header fields of raw mail bytes (compat32: as they came)."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    return BytesHeaderParser(policy=compat32).parsebytes(raw)


def received(folder: Path, raw: bytes) -> None:
    """A received email's bytes were fetched: learn from its header, when
    Autocrypt is on for this store. Never raises (a sync must not stop)."""
    setup = setup_for(folder)
    if setup is None:
        return
    with contextlib.suppress(Exception):
        head = header_fields(raw)
        if single_from(head) not in setup.own:
            observe(folder, head)
