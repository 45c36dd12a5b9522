"""Contacts: the people behind email addresses and JIDs, and who counts as one person.

Addresses are stored lowercase, JIDs bare (`normalize_address`). Each address has
a source (config, rule, learned); a lower-ranked source never takes an address
from a higher-ranked one, and a learned guess never makes two senders one person.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .db import Db, to_json
from .records import Contact, ContactAddress

# A lower-ranked source never takes an address from a higher-ranked one: a learned
# guess must not override what the user wrote in the config.
SOURCE_RANK = {"learned": 0, "rule": 1, "config": 2}


def _person_key(address: str) -> str:
    # A full JID (a room occupant without a known real JID) stays full: two
    # occupants of one room are two people.
    return address.strip().lower().removeprefix("mailto:").removeprefix("xmpp:").strip("<>")


def same_person(conn: sqlite3.Connection, a: str, b: str) -> bool:
    """Whether two sender addresses (email or JID) are one person: the same
    address, or addresses of one contact the user gave (config, a rule) or
    confirmed. A guess the app learned does not count."""
    ka, kb = _person_key(a), _person_key(b)
    if not ka or not kb:
        return False
    if ka == kb:
        return True
    rows = conn.execute(
        "SELECT address, contact_id FROM contact_addresses WHERE address IN (?, ?) "
        "AND (source <> 'learned' OR confirmed = 1)",
        (normalize_address(a), normalize_address(b))).fetchall()
    owners = {r[0]: r[1] for r in rows}
    return len(owners) == 2 and len(set(owners.values())) == 1


def normalize_address(address: str) -> str:
    """The form contact addresses are stored and looked up in: lowercase, JIDs bare."""
    a = address.strip().lower()
    for scheme in ("mailto:", "xmpp:"):
        if a.startswith(scheme):
            a = a[len(scheme):].split("?", 1)[0]
    a = a.strip("<>")
    # A resource starts at the first "/" after the domain's "@"; an email local part
    # may itself contain "/", so only look past the last "@".
    slash = a.find("/", a.rfind("@") + 1)
    return a[:slash] if slash >= 0 else a


class Contacts(Db):
    """Add, merge, look up and forget contacts."""

    def add_contact(self, name: str, emails: Iterable[str] = (), jids: Iterable[str] = (),
                    source: str = "config", confirmed: bool = True) -> int:
        """Add a contact, or merge into the one that already owns any of the addresses.

        Addresses are stored lowercase, JIDs bare. An address owned by a contact
        with a higher-ranked source (config > rule > learned) keeps its owner.
        Returns the contact's id.
        """
        if source not in SOURCE_RANK:
            raise ValueError(f"contact source {source!r} is not one of {sorted(SOURCE_RANK)}")
        wanted: dict[str, str] = {}
        for kind, addresses in (("email", emails), ("jid", jids)):
            for address in addresses:
                normal = normalize_address(address)
                if normal:
                    # One address can be both (a server that serves mail and chat).
                    wanted[normal] = kind if wanted.get(normal, kind) == kind else "both"
        rank = SOURCE_RANK[source]
        with self._write() as conn:
            owners = {r["address"]: r for r in conn.execute(
                "SELECT address, contact_id, source FROM contact_addresses "
                "WHERE address IN (SELECT value FROM json_each(?))", (to_json(list(wanted)),))}
            contact_id = next((owners[a]["contact_id"] for a in wanted if a in owners), None)
            if contact_id is None:
                contact_id = conn.execute("INSERT INTO contacts (name, created) VALUES (?, ?)",
                                          (name, time.time())).lastrowid
            elif name:
                conn.execute("UPDATE contacts SET name = ? WHERE id = ? AND (name = '' OR ?)",
                             (name, contact_id, source == "config"))
            for address, kind in wanted.items():
                old = owners.get(address)
                if old is not None and SOURCE_RANK[old["source"]] > rank:
                    continue
                conn.execute(
                    "INSERT INTO contact_addresses (address, contact_id, kind, source, confirmed) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET "
                    "contact_id = excluded.contact_id, kind = CASE WHEN "
                    "contact_addresses.contact_id = excluded.contact_id AND "
                    "contact_addresses.kind != excluded.kind THEN 'both' "
                    "ELSE excluded.kind END, "
                    "source = excluded.source, confirmed = excluded.confirmed",
                    (address, contact_id, kind, source, int(confirmed)))
            # A contact whose last address moved away is an empty shell.
            conn.execute(
                "DELETE FROM contacts WHERE id IN (SELECT value FROM json_each(?)) AND NOT EXISTS "
                "(SELECT 1 FROM contact_addresses AS a WHERE a.contact_id = contacts.id)",
                (to_json([r["contact_id"] for r in owners.values()]),))
        assert contact_id is not None
        return contact_id

    def _contacts(self, conn: sqlite3.Connection, where: str, args: Sequence[Any]) -> list[Contact]:
        rows = conn.execute(
            f"SELECT c.id, c.name, a.address, a.kind, a.source, a.confirmed FROM contacts AS c "
            f"JOIN contact_addresses AS a ON a.contact_id = c.id {where} "
            f"ORDER BY c.id, a.kind, a.address", args).fetchall()
        grouped: dict[int, tuple[str, list[ContactAddress]]] = {}
        for cid, name, address, kind, source, confirmed in rows:
            grouped.setdefault(cid, (name, []))[1].append(
                ContactAddress(address, kind, source, bool(confirmed)))
        return [Contact(cid, name, tuple(addrs)) for cid, (name, addrs) in grouped.items()]

    def contact_for(self, address: str) -> Contact | None:
        """The contact with this email address or JID (a full JID finds its bare one)."""
        with self._read() as conn:
            found = self._contacts(
                conn, "WHERE c.id = (SELECT contact_id FROM contact_addresses WHERE address = ?)",
                (normalize_address(address),))
        return found[0] if found else None

    def contacts(self) -> list[Contact]:
        with self._read() as conn:
            return self._contacts(conn, "", ())

    def remove_contact_address(self, address: str,
                               sources: Iterable[str] = ("learned",)) -> bool:
        """Forget one address of a contact, if it came from one of `sources`."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT contact_id FROM contact_addresses WHERE address = ? AND source IN "
                "(SELECT value FROM json_each(?))",
                (normalize_address(address), to_json(list(sources)))).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM contact_addresses WHERE address = ?",
                         (normalize_address(address),))
            conn.execute("DELETE FROM contacts WHERE id = ? AND NOT EXISTS (SELECT 1 FROM "
                         "contact_addresses WHERE contact_id = ?)", (row[0], row[0]))
        return True
