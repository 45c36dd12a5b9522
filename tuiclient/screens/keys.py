"""The keys screen (K, or `:keys`): our OpenPGP keys and our contacts', each with
whose it is (a contact's email address and JID side by side), how valid it is,
its owner trust, expiry, the contact's preference and their OMEMO devices; below,
the OMEMO devices themselves (ours, then each contact's, in the same order),
with their fingerprints and trust, and each Autocrypt peer's state (whether the
key came in their own header or only as gossip, prefer-encrypt, last seen,
the recommendation). `v` marks the chosen key verified (a local
certification by our key, as `gpg --lsign-key`) or the chosen device verified,
after the user has compared its fingerprint with its owner; `i` imports keys
from a file (`keys import FILE`'s screen twin, the fix the outbox offers after
"no key for X"). Everything through
the engine's openpgp_* and omemo_* calls; gpg-agent may ask for the passphrase
of our key meanwhile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Input, Label, Static

from bridge.errors import EngineError
from tuiclient.appref import client_app
from tuiclient.format import one_line
from tuiclient.keys import moving
from tuiclient.screens.pickers import Confirm
from tuiclient.widgets.footer import Footer


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


class DevicesTable(DataTable):
    BINDINGS = moving(top="scroll_top", bottom="scroll_bottom")


def devices_of(row: Any, devices: list[Any]) -> list[Any]:
    jids = {j.lower() for j in row.jids}
    return [d for d in devices if d.jid.lower() in jids]


def omemo_words(devices: list[Any]) -> str:
    if not devices:
        return "-"
    verified = sum(d.trust == "verified" for d in devices)
    new = sum(d.trust in ("undecided", "distrusted") for d in devices)
    words = [f"{len(devices)} device{'s' * (len(devices) > 1)}"]
    if verified:
        words.append(f"{verified} verified")
    if new:
        words.append(f"{new} NOT trusted")
    return ", ".join(words)


class KeyFilePrompt(ModalScreen[str | None]):
    """Which file holds the keys to import (armored or binary, one key or many)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="key-file-dialog"):
            yield Label("Import OpenPGP keys", classes="dialog-title")
            yield Input(placeholder="the key file's path (~ works), enter imports",
                        id="key-file")
            yield Static("Their public key as they sent it (e.g. an .asc file); it goes "
                         "into your GnuPG keyring. Compare its fingerprint with them "
                         "before you verify it (v).", classes="dialog-help", markup=False)

    def on_mount(self) -> None:
        self.query_one("#key-file", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class AutocryptTable(DataTable):
    BINDINGS = moving(top="scroll_top", bottom="scroll_bottom")


def autocrypt_cells(peer: dict[str, Any]) -> tuple[str, ...]:
    """One Autocrypt peer's row: address, where the key came from (their own
    header, or only gossip), prefer-encrypt, last seen, the key, and what
    Autocrypt recommends for an email to them alone."""
    key = peer.get("public_key") or peer.get("gossip_key") or {}
    source = "their header" if peer.get("public_key") else "gossip only"
    seen = time.strftime("%Y-%m-%d", time.localtime(peer.get("last_seen") or 0))
    usable = "" if key.get("usable") else " (not usable)"
    return (one_line(str(peer.get("address", ""))), source,
            str(peer.get("prefer_encrypt") or "nopreference"), seen,
            str(key.get("fingerprint", ""))[-16:] + usable,
            str(peer.get("recommendation") or "-"))


class KeysScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "back"),
                Binding("v", "verify", "verify"),
                Binding("i", "import_key", "import"),
                Binding("ctrl+r", "reload", "reload", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.devices: list[Any] = []  # OMEMO devices, in the order their table shows

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="keys"):
            yield Label("OpenPGP keys", classes="title")
            yield KeysTable(id="keys-table", cursor_type="row", zebra_stripes=True)
            yield Label("OMEMO devices", classes="title")
            yield DevicesTable(id="devices-table", cursor_type="row", zebra_stripes=True)
            yield Label("Autocrypt peers", classes="title", id="autocrypt-title")
            yield AutocryptTable(id="autocrypt-table", cursor_type="row", zebra_stripes=True)
            yield Label("", id="keys-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "keys"
        table = self.query_one(KeysTable)
        table.add_columns("whose", "email · JID", "fingerprint", "validity", "trust",
                          "prefers", "OMEMO")
        self.query_one(DevicesTable).add_columns("whose", "JID", "device", "fingerprint",
                                                 "trust")
        self.query_one(AutocryptTable).add_columns("address", "key from", "prefer-encrypt",
                                                   "last seen", "key", "recommends")
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
                validity_words(r.key), r.key.ownertrust, r.preference or "-", "…")
        self.query_one("#keys-detail", Label).update(
            "v: verify the chosen key (compare its whole fingerprint with its owner "
            "first); i: import keys from a file" if self.rows else "no keys of yours or of "
            "your contacts: i imports theirs from a file")
        await self.show_autocrypt()
        # The devices come from the server, after the keys: the keys are usable
        # meanwhile, and their rows (and the cursor on them) stay as they are.
        devices: list[Any] = []
        try:
            devices = await client_app(self).engine.omemo_devices()
        except Exception as exc:  # no chat connection, OMEMO off: keys only
            self.notify(f"OMEMO devices: {exc}", severity="warning", markup=False)
        self.show_devices(devices)

    async def show_autocrypt(self) -> None:
        """Each Autocrypt peer's state (bridge.crypto.autocrypt_mail.status);
        the section is hidden when there is none."""
        try:
            status = await client_app(self).engine.autocrypt_status()
        except Exception:  # the state file unreadable: the keys are still shown
            status = {}
        peers = list(status.get("peers") or [])
        table = self.query_one(AutocryptTable)
        table.clear()
        for peer in peers:
            table.add_row(*autocrypt_cells(peer))
        table.display = self.query_one("#autocrypt-title", Label).display = bool(peers)

    def show_devices(self, devices: list[Any]) -> None:
        table = self.query_one(KeysTable)
        shown: list[Any] = []
        whose: dict[int, str] = {}
        for i, r in enumerate(self.rows):
            name = "you" if r.mine else one_line(r.contact or r.email)
            theirs = [d for d in devices_of(r, devices) if d not in shown]
            shown += theirs
            whose.update({id(d): name for d in theirs})
            table.update_cell_at(Coordinate(i, 6), omemo_words(theirs), update_width=True)
        shown += sorted((d for d in devices if d not in shown),
                        key=lambda d: (not d.own, d.jid, d.device_id))
        self.devices = shown
        listing = self.query_one(DevicesTable)
        listing.clear()
        for d in shown:
            listing.add_row(
                "this device" if d.this_device else whose.get(id(d), "you" if d.own else "-"),
                one_line(d.jid), str(d.device_id), d.fingerprint,
                d.trust + ("" if d.active else ", inactive"))

    def chosen(self) -> Any | None:
        table = self.query_one(KeysTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # A table filled while another has the focus (the devices come last)
        # highlights its first row too: the detail follows the focused table only.
        if event.data_table.has_focus:
            self.show_detail(event.data_table)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, DataTable):
            self.show_detail(event.widget)

    def show_detail(self, table: DataTable[Any]) -> None:
        """The whole of the chosen row under the tables: a key's or a device's
        fingerprint in full, to compare with its owner's, and whose it is."""
        detail = self.query_one("#keys-detail", Label)
        row = table.cursor_row
        if isinstance(table, DevicesTable):
            if row is not None and 0 <= row < len(self.devices):
                d = self.devices[row]
                detail.update(f"OMEMO device {d.device_id} of {d.jid}: {d.trust}\n"
                              f"fingerprint {d.fingerprint}")
        elif isinstance(table, KeysTable):
            r = self.chosen()
            if r is not None:
                detail.update(f"OpenPGP key of {', '.join(r.key.uids)}\n"
                              f"fingerprint {grouped(r.key.fingerprint)}")

    def action_reload(self) -> None:
        self.load()

    def chosen_device(self) -> Any | None:
        table = self.query_one(DevicesTable)
        if not table.has_focus or table.cursor_row is None or \
                table.cursor_row >= len(self.devices):
            return None
        return self.devices[table.cursor_row]

    @work(exclusive=True, group="keys-verify")
    async def action_verify(self) -> None:
        device = self.chosen_device()
        if device is not None:
            await self._verify_device(device)
            return
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

    async def _verify_device(self, d: Any) -> None:
        if d.this_device or d.trust == "verified":
            self.notify("already verified", markup=False)
            return
        question = (f"{d.fingerprint}\nOnly if this is the fingerprint their device "
                    "shows: lines to and from it are then trusted, and a new device of "
                    f"{d.jid} is not until you verify it too.")
        if not await self.app.push_screen_wait(Confirm(
                f"Verify OMEMO device {d.device_id} of {d.jid}?", question, yes="Verify")):
            return
        try:
            done = await client_app(self).engine.omemo_trust(d.jid, str(d.device_id),
                                                             "verified")
        except (EngineError, OSError) as exc:
            self.notify(str(exc), title="Not verified", severity="error", markup=False)
            return
        self.notify(f"{done.jid} device {done.device_id}: {done.trust}", markup=False)
        self.load()

    @work(exclusive=True, group="keys-import")
    async def action_import_key(self) -> None:
        """Import the keys of a file the user names (through the engine: GPGME)."""
        path = await self.app.push_screen_wait(KeyFilePrompt())
        if not path:
            return
        try:
            data = Path(path).expanduser().read_bytes()
            done = await client_app(self).engine.openpgp_import(data)
        except (EngineError, OSError) as exc:
            self.notify(str(exc), title="Not imported", severity="error", markup=False)
            return
        self.notify(f"{done.imported} imported, {done.unchanged} unchanged: "
                    + (", ".join(done.fingerprints) or "no keys in it"),
                    title="Keys", markup=False)
        self.load()
