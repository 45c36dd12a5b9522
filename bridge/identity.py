"""Who is who across transports: email addresses <-> JIDs.

Sources, strongest first:
1. explicit contacts of the config file;
2. domain rules of the config (`*@corp.example` -> `{local}@chat.corp.example`);
3. learned mappings the user confirmed (a vCard email, a JID equal to an email
   address on a server that has both, a roster name equal to a mail display name).

Unconfirmed learned mappings are only *suggestions*: they are offered when a party
cannot be mapped, never used silently. When two sources disagree the stronger one
wins and the disagreement is reported with both sources, so the user can fix the
config instead of guessing why a message went to the wrong place.

Addresses are normalised before any comparison: display names dropped
(`"Bob" <Bob@Example.test>` -> `bob@example.test`), case folded, XMPP resources cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr

from .config import Config, is_valid_address
from .store import Store

SOURCE_CONFIG = "config"
SOURCE_RULE = "rule"
SOURCE_LEARNED = "learned"


# A character RFC 5322's address parser gives a meaning to (a display name, a comment,
# a route, a list, quoting) or drops (space). An address without any of them is its own
# addr-spec: parseaddr would return it unchanged, with no display name, so it needs no
# parse (a roster of 1,000 JIDs looked up one by one spent most of its time there).
_NEEDS_PARSE = re.compile(r'[\s<>()\[\]",:;\\]')


def _plain(address: str) -> bool:
    """`address` is a bare addr-spec (`bob@example.test`), nothing to parse."""
    return _NEEDS_PARSE.search(address) is None


def _valid(address: str) -> bool:
    """`config.is_valid_address`, without its Python loop over the characters (three
    of them per roster row): a printable character that is a space is " " itself,
    so "no space nor unprintable character" is `isprintable()` and no " ".
    tests/test_identity_index.py holds the two equal over every code point."""
    local, at, domain = address.partition("@")
    return (bool(at and local and domain) and "@" not in domain
            and address.isprintable() and " " not in address)


def normalize_email(address: str) -> str:
    """`"Bob" <Bob@Example.test>` -> `bob@example.test`; "" if it is not an address."""
    address = address or ""
    if _plain(address):
        return address.lower() if _valid(address) else ""
    _name, addr = parseaddr(address)
    addr = (addr or address or "").strip().strip("<>").strip()
    return addr.lower() if is_valid_address(addr) else ""


def normalize_jid(address: str) -> str:
    """A bare, lowercase JID: `Bob@Example.test/phone` -> `bob@example.test`."""
    addr = (address or "").strip()
    if addr.lower().startswith("xmpp:"):
        addr = addr[5:]
    addr = addr.partition("/")[0].lower()
    return addr if _valid(addr) else ""


@dataclass(frozen=True)
class Mapping:
    """One candidate answer, and where it came from ("config: contact Bob")."""

    address: str
    source: str
    detail: str
    confirmed: bool = True


@dataclass(frozen=True)
class Resolution:
    """What the identity layer knows of one address on the other transport."""

    query: str
    address: str | None  # the mapping to use, None if there is none
    source: str | None
    conflicts: tuple[Mapping, ...] = ()  # weaker sources that say something else
    suggestions: tuple[Mapping, ...] = ()  # unconfirmed: ask the user

    @property
    def mapped(self) -> bool:
        return self.address is not None

    def describe(self) -> str:
        if self.address is None:
            text = f"{self.query}: no mapping"
            if self.suggestions:
                text += "; suggestions: " + ", ".join(
                    f"{s.address} ({s.source}: {s.detail})" for s in self.suggestions)
            return text
        text = f"{self.query} -> {self.address} ({self.source})"
        for c in self.conflicts:
            text += f"; conflicts with {c.address} ({c.source}: {c.detail})"
        return text


class UnmappedParty(Exception):
    """Some parties have no address on the wanted transport; nothing was sent."""

    def __init__(self, transport: str, unresolved: Sequence[Resolution]) -> None:
        self.transport = transport
        self.unresolved = tuple(unresolved)
        kind = "JID" if transport == "xmpp" else "email address"
        parts = [r.describe() for r in unresolved]
        super().__init__(
            f"no {kind} known for {len(parts)} part{'y' if len(parts) == 1 else 'ies'}: "
            + "; ".join(parts)
            + f". Map them (contacts map ADDRESS {kind.upper().split()[-1]}) "
            "or send their part by email.")


@dataclass
class Identity:
    config: Config
    store: Store
    # Extra JID domains where an email address is also a JID ("a server that has
    # both"); filled by the engine from the accounts and roster.
    dual_domains: set[str] = field(default_factory=set)
    # JIDs whose roster entry carries this display name (the engine asks its XMPP
    # clients); a match is offered as a suggestion for an email with that name.
    roster_named: Callable[[str], list[str]] | None = None

    # The config's contacts by address (email -> their JIDs, JID -> their emails), in
    # file order, built once per Config (it is frozen): a lookup is one dict read, not a
    # walk over every contact (the roster screen asks for each of its rows).
    _index: tuple[Config, dict[str, tuple[Mapping, ...]], dict[str, tuple[Mapping, ...]]] \
        | None = field(default=None, init=False, repr=False, compare=False)

    def _config_index(self) -> tuple[dict[str, tuple[Mapping, ...]],
                                     dict[str, tuple[Mapping, ...]]]:
        if self._index is None or self._index[0] is not self.config:
            by_email: dict[str, list[Mapping]] = {}
            by_jid: dict[str, list[Mapping]] = {}
            for contact in self.config.contacts:
                detail = f"contact {contact.name}"
                jids = [Mapping(normalize_jid(j), SOURCE_CONFIG, detail) for j in contact.jids]
                emails = [Mapping(e.lower(), SOURCE_CONFIG, detail) for e in contact.emails]
                for email in dict.fromkeys(e.lower() for e in contact.emails):
                    by_email.setdefault(email, []).extend(jids)
                for jid in dict.fromkeys(normalize_jid(j) for j in contact.jids):
                    by_jid.setdefault(jid, []).extend(emails)
            self._index = (self.config, {k: tuple(v) for k, v in by_email.items()},
                           {k: tuple(v) for k, v in by_jid.items()})
        return self._index[1], self._index[2]

    # -- email -> JID -----------------------------------------------------------------

    def _candidates_for_email(self, email: str) -> list[Mapping]:
        found = list(self._config_index()[0].get(email, ()))
        for rule in self.config.domain_rules:
            mapped = rule.map(email)
            if mapped:
                found.append(Mapping(normalize_jid(mapped), SOURCE_RULE,
                                     f"{rule.email_pattern} -> {rule.jid_template}"))
        found.extend(self._learned(email, "jid"))
        return found

    def _candidates_for_jid(self, jid: str) -> list[Mapping]:
        found = list(self._config_index()[1].get(jid, ()))
        for rule in self.config.domain_rules:
            # The reverse of a rule: its template with {local} matched against the JID.
            prefix, _, suffix = rule.jid_template.lower().partition("{local}")
            if jid.startswith(prefix) and jid.endswith(suffix) and "{local}" in \
                    rule.jid_template.lower():
                mapped_local = jid[len(prefix):len(jid) - len(suffix)] if suffix else \
                    jid[len(prefix):]
                if mapped_local and "@" not in mapped_local:
                    found.append(Mapping(f"{mapped_local}@{rule.domain}", SOURCE_RULE,
                                         f"{rule.email_pattern} -> {rule.jid_template}"))
        found.extend(self._learned(jid, "email"))
        return found

    def _learned(self, address: str, want: str) -> list[Mapping]:
        contact = self.store.contact_for(address)
        if contact is None:
            return []
        own = next((a for a in contact.addresses if a.address == address), None)
        out = []
        for a in contact.addresses:
            if a.kind not in (want, "both") or a.source == SOURCE_CONFIG:
                continue  # config entries come from the config itself, above
            if a.source == SOURCE_RULE:
                continue
            confirmed = a.confirmed and (own is None or own.confirmed)
            out.append(Mapping(a.address, SOURCE_LEARNED, "confirmed by you" if confirmed
                               else "learned, not confirmed", confirmed))
        return out

    def _resolve(self, query: str, candidates: list[Mapping],
                 suggestions: Iterable[Mapping]) -> Resolution:
        usable = [c for c in candidates if c.confirmed and c.address]
        if not usable:
            extra = [c for c in candidates if not c.confirmed]
            seen: set[str] = set()
            sugg = []
            for s in [*extra, *suggestions]:
                if s.address and s.address not in seen:
                    seen.add(s.address)
                    sugg.append(s)
            return Resolution(query, None, None, (), tuple(sugg))
        winner = usable[0]
        conflicts = tuple(c for c in usable[1:] if c.address != winner.address)
        # Several config answers for one address: the config is ambiguous; the first
        # wins (file order) and the others are reported.
        return Resolution(query, winner.address, f"{winner.source}: {winner.detail}", conflicts)

    def jid_for(self, email: str, name: str = "") -> Resolution:
        """The JID to reach `email` by chat; `name` is its display name, if known."""
        query = normalize_email(email)
        if not query:
            return Resolution(email, None, None)
        if not name and not _plain(email):
            name = parseaddr(email)[0]
        return self._resolve(query, self._candidates_for_email(query),
                             self._email_suggestions(query, name))

    def email_for(self, jid: str) -> Resolution:
        """The email address to reach `jid` by mail."""
        query = normalize_jid(jid)
        if not query:
            return Resolution(jid, None, None)
        return self._resolve(query, self._candidates_for_jid(query),
                             self._jid_suggestions(query))

    def _email_suggestions(self, email: str, name: str) -> list[Mapping]:
        domain = email.rpartition("@")[2]
        out = []
        if domain in self.dual_domains:
            out.append(Mapping(email, SOURCE_LEARNED,
                               f"{domain} serves both mail and chat", False))
        if name.strip() and self.roster_named is not None:
            for jid in self.roster_named(name.strip()):
                out.append(Mapping(normalize_jid(jid), SOURCE_LEARNED,
                                   f"roster name {name.strip()!r}", False))
        return out

    def _jid_suggestions(self, jid: str) -> list[Mapping]:
        domain = jid.rpartition("@")[2]
        out = []
        if domain in self.dual_domains:
            out.append(Mapping(jid, SOURCE_LEARNED, f"{domain} serves both mail and chat", False))
        return out

    def conflicts(self) -> list[Resolution]:
        """Every address whose sources disagree, for `contacts list` and the app."""
        emails: set[str] = set()
        for contact in self.config.contacts:
            emails.update(e.lower() for e in contact.emails)
        for stored in self.store.contacts():
            emails.update(a.address for a in stored.addresses if a.kind in ("email", "both"))
        found = []
        for email in sorted(emails):
            r = self.jid_for(email)
            if r.conflicts:
                found.append(r)
        return found

    # -- changing -----------------------------------------------------------------------

    def confirm(self, email: str, jid: str, name: str = "") -> None:
        """The user says `email` and `jid` are the same person."""
        e, j = normalize_email(email), normalize_jid(jid)
        if not e or not j:
            raise ValueError(f"not an email address and a JID: {email!r}, {jid!r}")
        self.store.add_contact(name, emails=[e], jids=[j], source=SOURCE_LEARNED,
                               confirmed=True)

    def suggest(self, email: str, jid: str, name: str = "") -> None:
        """Remember a mapping the user has not confirmed yet."""
        e, j = normalize_email(email), normalize_jid(jid)
        if e and j and not self.jid_for(e).mapped:
            self.store.add_contact(name, emails=[e], jids=[j], source=SOURCE_LEARNED,
                                   confirmed=False)

    def map_parties(self, addresses: Iterable[str],
                    to: str) -> tuple[dict[str, str], list[Resolution]]:
        """Map each address to transport `to` ("xmpp" or "email").

        Returns (address -> mapped address, unresolved). Callers decide what to do
        with the unresolved ones: ask, send them the email leg, or refuse.
        """
        mapped: dict[str, str] = {}
        unresolved: list[Resolution] = []
        for address in addresses:
            r = self.jid_for(address) if to == "xmpp" else self.email_for(address)
            if r.address is None:
                unresolved.append(r)
            else:
                mapped[r.query] = r.address
        return mapped, unresolved
