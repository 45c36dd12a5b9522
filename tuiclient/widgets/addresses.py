"""Address completion in To, Cc and Bcc fields: the contacts the store knows (both
transports), offered as the user types the last address of the list; → takes it.
`hint` says who the offered address is, with the contact's email ↔ JID mapping
(the config's [contacts] and what was learned), for the screen to show under the
fields: the field itself only ever receives the address.

`split_addresses` is how every address field is read (a name may hold a comma when
quoted, `"Doe, Jo" <jo@x>`), `format_address` how one is written into a field, and
`last_item` which part of a field is being typed (completion's subject)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.utils import getaddresses, quote

from textual.suggester import Suggester

from bridge.model import Contact

# RFC 5322's specials: a display name holding one of them is written quoted.
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


def format_address(name: str, address: str) -> str:
    """`Name <address>` as a field shows it, the name quoted when it holds a comma or
    another special (the stdlib's formataddr would also RFC 2047-encode a non-ASCII
    name, which is for the wire, not for a field the user reads and edits)."""
    if not name:
        return address
    shown = f'"{quote(name)}"' if _SPECIALS.search(name) else name
    return f"{shown} <{address}>"


def split_addresses(value: str) -> list[str]:
    """The addresses an address field holds, each as `format_address` writes it:
    parsed by the stdlib's `getaddresses`, so `"Doe, Jo" <jo@x>, bob@y` is two."""
    return [format_address(name, address) for name, address in getaddresses([value])
            if address]


def last_item(value: str) -> tuple[str, str]:
    """`value` cut after its last comma that separates addresses (outside a quoted
    name and outside <…>): what comes before, the comma included, and the item
    being typed."""
    quoted = angled = escaped = False
    cut = -1
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch in "<>":
            angled = ch == "<"
        elif ch == "," and not quoted and not angled:
            cut = i
    return value[: cut + 1], value[cut + 1:]


class AddressSuggester(Suggester):
    """Completes the address being typed (the `last_item`) from `addresses`,
    matched on the address or on the contact's name (`names`: address -> name);
    `mappings` (address -> "email ↔ JID") is what `hint` tells of each. The first
    that matches is offered: in sorted order, or as given with `ordered`."""

    def __init__(self, addresses: Iterable[str], names: dict[str, str] | None = None,
                 mappings: dict[str, str] | None = None, *, ordered: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        given = list(dict.fromkeys(a for a in addresses if a))
        self.addresses = given if ordered else sorted(given)
        self.names = {a.lower(): n for a, n in (names or {}).items()}
        self.mappings = {a.lower(): m for a, m in (mappings or {}).items()}

    @classmethod
    def of_contacts(cls, contacts: Iterable[Contact]) -> AddressSuggester:
        """Every address of every contact, each with its name and its mapping;
        email addresses offered before JIDs (a name completes to the email)."""
        emails_first: list[str] = []
        jids_after: list[str] = []
        names: dict[str, str] = {}
        mappings: dict[str, str] = {}
        for c in contacts:
            emails, jids = c.emails, c.jids
            both = ", ".join(emails) + " ↔ " + ", ".join(jids) if emails and jids else ""
            if emails and set(emails) == set(jids):  # one address for both: said once
                both = ", ".join(emails) + " (email and chat)"
            emails_first += emails
            jids_after += [j for j in jids if j not in emails]
            for a in (*emails, *jids):
                if c.name:
                    names[a] = c.name
                if both:
                    mappings[a] = both
        return cls([*sorted(emails_first), *sorted(jids_after)], names, mappings,
                   ordered=True)

    def match(self, value: str) -> str | None:
        """The known address the last item of `value` starts (or whose name it starts)."""
        typed = last_item(value)[1].strip().lstrip('"').lower()
        if not typed:
            return None
        for address in self.addresses:
            name = self.names.get(address.lower(), "").lower()
            if address.lower().startswith(typed) or (name and name.startswith(typed)):
                return address
        return None

    def hint(self, value: str) -> str:
        """Who the last item of `value` is (offered or complete): "Bob: bob@x ↔
        bob@chat.x", or "" when it is nobody the store knows."""
        address = self.match(value)
        if address is None:
            return ""
        name = self.names.get(address.lower(), "")
        said = self.mappings.get(address.lower()) or address
        return f"{name}: {said}" if name else said

    async def get_suggestion(self, value: str) -> str | None:
        head, typed = last_item(value)
        lead = typed[: len(typed) - len(typed.lstrip())]
        address = self.match(value)
        return None if address is None else f"{head}{lead}{address}"
