"""Autocrypt on the emails we send and open: the header on every email of an
account that has Autocrypt on, the peers' keys and gossip for an encrypted one,
the gossip read back from a decrypted one. The glue between the mail layers and
bridge.crypto.autocrypt (the protocol's state) / autocrypt_keys (GPGME).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING

from . import autocrypt, autocrypt_keys
from .autocrypt import Peer, canonical

if TYPE_CHECKING:
    from ..model import Message
    from .openpgp import OpenPGP


@dataclass
class Keys:
    """What Autocrypt adds to the sealing of one email: keys (as data) for
    recipients the keyring has none for, and who may be gossiped about."""

    peers: dict[str, bytes] = field(default_factory=dict)
    visible: tuple[str, ...] = ()  # To and Cc (never Bcc: gossip would reveal them)
    home: Path | None = None
    # Recipients whose Autocrypt key gpg cannot encrypt to, with why ("it has
    # expired"): a refusal names it rather than saying they have no key at all.
    unusable: dict[str, str] = field(default_factory=dict)

    def gossip(self, port: OpenPGP, recipients: Sequence[str]) -> list[str]:
        """One Autocrypt-Gossip value per To/Cc recipient, with the key the mail
        is encrypted to for them, when there are several (the spec's "Key
        Gossip"); none for a mail to one person."""
        if len(self.visible) < 2:
            return []
        values = []
        for address in self.visible:
            # The key the mail is encrypted to: the keyring's first (as
            # OpenPGP.encrypt chooses), else the peer's Autocrypt key.
            data: bytes | None = None
            key = port._usable(address, secret=False, capability="can_encrypt")
            if key is not None:
                with contextlib.suppress(Exception):  # a key gpg cannot trim: no gossip
                    data = autocrypt_keys.export_minimal(port.home, key.fpr, address)
            else:
                data = self.peers.get(address)
            if data:
                values.append(autocrypt.format_value(address, data))
        return values


def addresses(mail: EmailMessage, *names: str) -> list[str]:
    fields = [str(v) for n in names for v in mail.get_all(n, [])]
    return [canonical(a) for _n, a in getaddresses(fields) if a]


def target_key(peer: Peer | None, home: Path | None) -> bytes | None:
    """The key Autocrypt would encrypt to for this peer (its header's, else a
    gossiped one), when gpg finds it usable."""
    if peer is None:
        return None
    for key in (peer.public_key, peer.gossip_key):
        if key and autocrypt_keys.usable(key, home):
            return base64.b64decode(key)
    return None


def why_unusable(peer: Peer | None, home: Path | None) -> str:
    """Why a peer's Autocrypt key (its header's, else a gossiped one) cannot be
    encrypted to, in words; "" when there is none, or it can."""
    if peer is None or target_key(peer, home) is not None:
        return ""
    kept = peer.public_key or peer.gossip_key
    if not kept:
        return ""
    how = "the Autocrypt key they sent" if peer.public_key else \
        "the Autocrypt key gossiped for them"
    found = autocrypt_keys.cached_facts(kept, home)
    if found is None:
        return f"{how} is not a key gpg can read"
    if found.revoked:
        return f"{how} is revoked"
    if found.expired:
        return f"{how} has expired"
    return f"{how} has no usable encryption subkey"


def outgoing(mail: EmailMessage, folder: Path, account_address: str
             ) -> tuple[EmailMessage, Keys | None]:
    """`mail` with our Autocrypt header (one, for its From address, replacing any),
    and the peers' keys for its recipients; unchanged and None when Autocrypt
    is off for this store, or for the account its From address is of
    ([accounts.crypto] autocrypt = false)."""
    setup = autocrypt.setup_for(folder)
    if setup is None:
        return mail, None
    sender = next(iter(addresses(mail, "From")), canonical(account_address))
    if not setup.sends_from(sender):
        return mail, None
    del mail["Autocrypt"]
    keydata = None
    with contextlib.suppress(Exception):  # no header rather than no email
        keydata = autocrypt_keys.own_keydata(setup.home, sender)
    if keydata is not None:
        value = autocrypt.format_value(sender, keydata, setup.mutual)
        # The spec: never a header over 10 KiB (a key bloated by signatures).
        if len("Autocrypt: ") + len(value) + value.count(" ") * 2 <= autocrypt.MAX_HEADER:
            mail["Autocrypt"] = value
    peers = autocrypt.Peers(folder).all()
    keys = Keys(visible=tuple(dict.fromkeys(addresses(mail, "To", "Cc"))), home=setup.home)
    for address in dict.fromkeys(addresses(mail, "To", "Cc", "Bcc")):
        data = target_key(peers.get(address), setup.home)
        if data is not None:
            keys.peers[address] = data
        elif why := why_unusable(peers.get(address), setup.home):
            keys.unusable[address] = why
    return mail, keys


def opened(folder: Path, m: Message, gossip: Sequence[str], allowed: Sequence[str]) -> None:
    """A decrypted email was opened: learn from the gossip inside it."""
    setup = autocrypt.setup_for(folder)
    if setup is None or not gossip:
        return
    # Gossip about ourselves teaches nothing about a peer.
    peers = [a for a in allowed if canonical(a) not in setup.own]
    with contextlib.suppress(Exception):  # never stops a message from showing
        autocrypt.observe_gossip(folder, gossip, peers, min(m.date, _now()))


def _now() -> float:
    import time

    return time.time()


def advice(folder: Path, sender: str, recipients: Sequence[str], *,
           reply_to_encrypted: bool = False) -> autocrypt.Advice | None:
    """The spec's recommendation for an email from `sender` to `recipients`; None
    when Autocrypt is off for this store, or `sender` has no usable key of ours
    (we could not sign, and a peer could not answer encrypted)."""
    setup = autocrypt.setup_for(folder)
    if setup is None or not recipients:
        return None
    try:
        if autocrypt_keys.own_keydata(setup.home, sender) is None:
            return None
    except Exception:  # GPGME missing or refusing: no recommendation
        return None
    return autocrypt.recommend(autocrypt.Peers(folder).all(), recipients,
                               lambda key: autocrypt_keys.usable(key, setup.home),
                               own_mutual=setup.mutual, reply_to_encrypted=reply_to_encrypted)


def _key_json(keydata_b64: str, home: Path | None) -> dict[str, object] | None:
    if not keydata_b64:
        return None
    try:
        found = autocrypt_keys.facts(base64.b64decode(keydata_b64), home)
    except Exception:  # a key gpg cannot read is shown as such
        found = None
    if found is None:
        return {"fingerprint": "", "usable": False, "emails": []}
    return {"fingerprint": found.fingerprint, "usable": found.usable,
            "emails": list(found.emails), "expires": found.expires,
            "revoked": found.revoked, "expired": found.expired}


def status(folder: Path, accounts: Sequence[tuple[str, str]]) -> dict[str, object]:
    """Autocrypt as `keys autocrypt` tells it: on or off, each account's own key
    and preference, each peer's state (keys as gpg reads them, and what the
    recommendation for an email to that peer alone is)."""
    setup = autocrypt.setup_for(folder)
    home = setup.home if setup is not None else None
    own = []
    for name, address in accounts:
        entry: dict[str, object] = {"account": name, "address": address,
                                    "prefer_encrypt": "mutual" if setup and setup.mutual
                                    else "nopreference", "fingerprint": None,
                                    "header_bytes": 0,
                                    "enabled": setup is not None and setup.sends_from(address)}
        if setup is not None and address:
            with contextlib.suppress(Exception):
                key = autocrypt_keys.own_key(home, address)
                if key is not None:
                    entry["fingerprint"] = str(key.fpr).upper()
                    data = autocrypt_keys.own_keydata(home, address) or b""
                    entry["header_bytes"] = len("Autocrypt: ") + len(
                        autocrypt.format_value(address, data, setup.mutual))
        own.append(entry)
    peers = []
    for address, peer in sorted(autocrypt.Peers(folder).all().items()):
        word = ""
        if setup is not None:
            word = autocrypt.recommend_one(
                peer, lambda k: autocrypt_keys.usable(k, home), own_mutual=setup.mutual)[0].value
        peers.append({"address": address, "last_seen": int(peer.last_seen),
                      "autocrypt_timestamp": int(peer.autocrypt_timestamp),
                      "prefer_encrypt": peer.prefer_encrypt,
                      "public_key": _key_json(peer.public_key, home),
                      "gossip_timestamp": int(peer.gossip_timestamp),
                      "gossip_key": _key_json(peer.gossip_key, home),
                      "recommendation": word})
    return {"enabled": setup is not None, "accounts": own, "peers": peers}
