"""MailSync's "which message is which": header rows whose id needs the bytes.

A part of `bridge.mail.sync.MailSync` (a mixin over its connection). A row
without a Message-ID, or with one another row or a stored message has too, is
told apart by the sha256 of its bytes (BODY.PEEK, a few at a time; only the
digests are kept): the same bytes in two places are one message, different
bytes are two (DESIGN.md, "a message is a message").
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from ..store.store import Claim, distinct_msg_id
from .mime import content_message_id

if TYPE_CHECKING:
    import imapclient

    from ..config import AccountConfig
    from ..store import Store

# Messages whose bytes are fetched at once to tell which message is which.
DIGEST_BATCH = 50


class MessageDigests:
    """Ids that need the message's bytes (a part of MailSync)."""

    if TYPE_CHECKING:  # MailSync's connection and store
        account: AccountConfig
        store: Store

        def connect(self) -> imapclient.IMAPClient: ...

        def _examine(self, folder: str) -> dict[bytes, Any]: ...

        def is_selected(self, folder: str) -> bool: ...

    def _split_suspects(self, rows: list[tuple[Any, ...]]
                        ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Header rows whose id is sure, and those whose id needs the message's
        bytes: no Message-ID (the id is made from the bytes, never from the
        header alone), or a Message-ID that another row of the batch or a stored
        message has too (one message in two folders, or two messages)."""
        counts = Counter(r[3] for r in rows if r[12] is not None)
        taken = self.store.claims(self.account.name, list(counts)) if counts else {}
        sure, doubtful = [], []
        for r in rows:
            if r[12] is None or counts[r[3]] > 1 or r[3] in taken:
                doubtful.append(r)
            else:
                sure.append(r)
        return sure, doubtful

    def _digests(self, folder: str, uids: list[int]) -> dict[int, str]:
        """The sha256 of the raw bytes of messages of `folder` (BODY.PEEK: they
        stay unread), a few at a time: only the digests are kept."""
        if not uids:
            return {}
        if not self.is_selected(folder):
            self._examine(folder)
        out: dict[int, str] = {}
        for start in range(0, len(uids), DIGEST_BATCH):
            data = self.connect().fetch(uids[start:start + DIGEST_BATCH], [b"BODY.PEEK[]"])
            out.update({uid: hashlib.sha256(d[b"BODY[]"]).hexdigest()
                        for uid, d in data.items() if b"BODY[]" in d})
        return out

    def _store_suspects(self, folder: str, rows: list[tuple[Any, ...]]) -> int:
        """Store rows whose id needs their bytes (`_split_suspects`); return how
        many were new messages.

        A message without Message-ID gets an id made from the sha256 of its bytes.
        A Message-ID that a stored email holds already is that email only when
        both have the same bytes (fetched once, kept as the row's digest); a chat
        line holds it only for its own sender (`Store.is_same_message`). Any
        other message keeps the shared id as its Message-ID and gets an id of its
        own, in the shared id's thread. Within a batch the smallest digest takes
        a shared id first, so the outcome does not depend on UID order.
        """
        if not rows:
            return 0
        name = self.account.name
        digests = self._digests(folder, [r[2] for r in rows])
        settled: list[tuple[Any, ...]] = []
        for r in rows:
            if r[2] not in digests:
                continue  # expunged meanwhile
            if r[12] is None:
                content_id = content_message_id(digests[r[2]])
                # A message of its own starts its own thread; a reply stays in its.
                thread = content_id if r[4] == r[3] else r[4]
                r = (*r[:3], content_id, thread, *r[5:])
            settled.append(r)
        settled.sort(key=lambda r: (r[3], digests[r[2]]))
        claims = self.store.claims(name, {r[3] for r in settled})
        self._digests_of_claims(folder, claims)
        batch: dict[str, str] = {}  # id -> digest of the row of this batch that has it
        out = []
        for r in settled:
            digest, base, n = digests[r[2]], r[3], 0
            msg_id = base
            while True:
                if msg_id in batch:
                    same = batch[msg_id] == digest
                else:
                    if msg_id not in claims and n:
                        claims.update(self.store.claims(name, [msg_id]))
                        self._digests_of_claims(folder, claims)
                    owner = claims.get(msg_id)
                    same = owner is None or self.store.is_same_message(
                        "email", r[6], r[8], digest, owner[0])
                if same:
                    break
                n += 1
                msg_id = distinct_msg_id(base, "email", r[8], digest, n)
            batch[msg_id] = digest
            out.append((*r[:3], msg_id, *r[4:]))
        if not self.is_selected(folder):
            self._examine(folder)
        new = self.store.insert_email_headers(name, folder, out)
        self.store.set_digests_by_uid(name, folder, {r[2]: digests[r[2]] for r in out})
        return new

    def _digests_of_claims(self, folder: str,
                           claims: dict[str, tuple[Claim, list[tuple[str, int]]]]) -> None:
        """Fill in the digest of stored emails that hold a contested id, fetching
        their bytes from a place they have on the server."""
        wanted: dict[str, dict[int, Claim]] = defaultdict(dict)
        for claim, places in claims.values():
            if claim.digest is None and claim.transport == "email" and places:
                wanted[places[0][0]][places[0][1]] = claim
        found: dict[int, str] = {}
        for where in sorted(wanted, key=lambda f: f != folder):  # this folder first
            for uid, digest in self._digests(where, list(wanted[where])).items():
                claim = wanted[where][uid]
                claim.digest = found[claim.row_id] = digest
        if found:
            self.store.set_digests(found)
