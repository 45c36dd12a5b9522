"""Address completion in To, Cc and Bcc fields: the contacts the store knows (both
transports), offered as the user types the last address of the list; → takes it.
`hint` says who the offered address is, with the contact's email ↔ JID mapping
(the config's [contacts] and what was learned), for the screen to show under the
fields: the field itself only ever receives the address."""

from __future__ import annotations

from collections.abc import Iterable

from textual.suggester import Suggester

from bridge.model import Contact


class AddressSuggester(Suggester):
    """Completes the address being typed (after the last comma) from `addresses`,
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
        typed = value.rpartition(",")[2].strip().lower()
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
        head, comma, typed = value.rpartition(",")
        lead = typed[: len(typed) - len(typed.lstrip())]
        address = self.match(value)
        return None if address is None else f"{head}{comma}{lead}{address}"
