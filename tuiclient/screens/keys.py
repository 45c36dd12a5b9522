"""The OpenPGP keys screen (K, or `:keys`): our keys and our contacts', each with
whose it is (a contact's email address and JID side by side), how valid it is,
its owner trust, expiry and the contact's preference; `v` marks the chosen key
verified (a local certification by our key, as `gpg --lsign-key`), after the
user has compared its fingerprint with its owner. Everything through the
engine's openpgp_* calls (bridge.crypto.keys); gpg-agent may ask for the
passphrase of our key meanwhile."""

from __future__ import annotations

import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label

from bridge.errors import EngineError
from tuiclient.appref import client_app
from tuiclient.format import one_line
from tuiclient.keys import moving
from tuiclient.screens.pickers import Confirm


def grouped(fingerprint: str) -> str:
    """A fingerprint as people compare it aloud: groups of four."""
    return " ".join(fingerprint[i:i + 4] for i in range(0, len(fingerprint), 4))


def validity_words(key: Any) -> str:
    words = ["verified" if key.verified else f"not verified ({key.validity})"]
    if key.revoked:
        words.append("REVOKED")
    if key.expired:
        words.append("EXPIRED")
    elif key.expires:
        words.append("until " + time.strftime("%Y-%m-%d", time.localtime(key.expires)))
    return ", ".join(words)


class KeysTable(DataTable):
    BINDINGS = moving(top="scroll_top", bottom="scroll_bottom")


class KeysScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "back"),
                Binding("v", "verify", "verify"),
                Binding("ctrl+r", "reload", "reload", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="keys"):
            yield Label("OpenPGP keys", classes="title")
            yield KeysTable(id="keys-table", cursor_type="row", zebra_stripes=True)
            yield Label("", id="keys-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "keys"
        table = self.query_one(KeysTable)
        table.add_columns("whose", "email · JID", "fingerprint", "validity", "trust",
                          "prefers")
        self.load()

    @work(exclusive=True, group="keys")
    async def load(self) -> None:
        try:
            self.rows = await client_app(self).engine.openpgp_keys()
        except (EngineError, OSError) as exc:
            self.query_one("#keys-detail", Label).update(f"the keyring: {exc}")
            return
        table = self.query_one(KeysTable)
        table.clear()
        for r in self.rows:
            table.add_row(
                "you" if r.mine else one_line(r.contact or r.email),
                one_line(" · ".join([r.email, *r.jids])), r.key.fingerprint[-16:],
                validity_words(r.key), r.key.ownertrust, r.preference or "-")
        self.query_one("#keys-detail", Label).update(
            "v: verify the chosen key (compare its whole fingerprint with its owner "
            "first)" if self.rows else "no keys of yours or of your contacts: import "
            "theirs with `tuiclient keys import FILE`")

    def chosen(self) -> Any | None:
        table = self.query_one(KeysTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        r = self.chosen()
        if r is not None:
            self.query_one("#keys-detail", Label).update(
                f"{grouped(r.key.fingerprint)}\n{', '.join(r.key.uids)}")

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="keys-verify")
    async def action_verify(self) -> None:
        r = self.chosen()
        if r is None:
            return
        if r.mine or r.key.verified:
            self.notify("already verified", markup=False)
            return
        question = (f"{grouped(r.key.fingerprint)}\nOnly if this is the fingerprint "
                    "they gave you: it is certified by your key, on this machine only.")
        if not await self.app.push_screen_wait(Confirm(
                f"Verify {r.contact or r.email}'s key?", question, yes="Verify")):
            return
        try:
            key = await client_app(self).engine.openpgp_verify(r.key.fingerprint)
        except (EngineError, OSError) as exc:
            self.notify(str(exc), title="Not verified", severity="error", markup=False)
            return
        self.notify(f"{', '.join(key.uids)}: {validity_words(key)}", markup=False)
        self.load()
