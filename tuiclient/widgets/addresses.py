"""Address completion in To fields: the contacts the store knows (both
transports), offered as the user types the last address of the list; → takes it."""

from __future__ import annotations

from collections.abc import Iterable

from textual.suggester import Suggester


class AddressSuggester(Suggester):
    """Completes the address being typed (after the last comma) from `addresses`,
    matched on the address or on the contact's name (`names`: address -> name)."""

    def __init__(self, addresses: Iterable[str], names: dict[str, str] | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.addresses = sorted(dict.fromkeys(a for a in addresses if a))
        self.names = {a.lower(): n for a, n in (names or {}).items()}

    async def get_suggestion(self, value: str) -> str | None:
        head, comma, typed = value.rpartition(",")
        lead = typed[: len(typed) - len(typed.lstrip())]
        typed = typed.strip().lower()
        if not typed:
            return None
        for address in self.addresses:
            name = self.names.get(address.lower(), "").lower()
            if address.lower().startswith(typed) or (name and name.startswith(typed)):
                return f"{head}{comma}{lead}{address}"
        return None
