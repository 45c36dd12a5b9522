"""slixmpp-omemo's XEP-0384 plugin, made concrete for us: where its keys live and
what its trust does. No cryptography here: python-omemo (with its twomemo and
oldmemo backends) does all of it; this module only fills the three holes the
library leaves to the application (a Storage, whether blind trust before
verification is on, and what to do with devices nobody decided on).

- Storage: one JSON file per account in the data dir
  (`<data dir>/xmpp/<account>.omemo.json`, mode 0600: it holds the private
  identity key), written whole through a temporary file so a crash leaves the old
  file or the new one. A file rather than a store table: the library reads and
  writes it key by key through its own cache, it is per account like the XMPP
  state beside it, and it must never travel with an exported store.
- Trust: BTBV (blind trust before verification) on, as Conversations, Dino and
  Gajim do: a contact's devices are trusted blindly until the user verifies one;
  from then on a new device of theirs is not trusted by itself
  (`_prompt_manual_trust` leaves it undecided, so a send to it is refused and the
  user decides with `keys trust`). Each blindly trusted device is reported to the
  client (`on_blind_trust`), which flags it in the conversation.

Imported only when an account first needs OMEMO, by `omemo_plugin.OmemoStandby`
(in a thread, off the loop): the library loads cryptography, pydantic, protobuf
and xmlschema with its schemas, 35 MiB and a third of a second; until then the
standby plugin does what the account must do from login without them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omemo.storage import Just, Maybe, Nothing, Storage
from omemo.types import DeviceInformation, JSONType
from slixmpp.plugins.base import register_plugin
from slixmpp_omemo import XEP_0384

log = logging.getLogger(__name__)


class _FirstPublish(logging.Filter):
    """python-omemo warns, as it adds a new device to the list it publishes, that
    the device was not in it yet: true every first login, and nothing to act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Own device id was not included" not in record.getMessage()


logging.getLogger("omemo.core").addFilter(_FirstPublish())


class JsonStorage(Storage):
    """python-omemo's key-value Storage over one JSON file (see the module doc)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._data: dict[str, JSONType] = {}
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self._data = loaded
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            # Never start over silently: a new identity would look like a new
            # device to every contact. Keep the broken file aside for the user.
            aside = path.with_suffix(".broken")
            log.error("OMEMO data %s unreadable (%s); kept as %s, new keys made",
                      path, exc, aside)
            path.replace(aside)

    async def _load(self, key: str) -> Maybe[JSONType]:
        return Just(self._data[key]) if key in self._data else Nothing()

    async def _store(self, key: str, value: JSONType) -> None:
        self._data[key] = value
        self._write()

    async def _delete(self, key: str) -> None:
        self._data.pop(key, None)
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self._data, f)
        tmp.replace(self.path)


class OmemoPlugin(XEP_0384):
    """slixmpp-omemo's plugin with our storage and trust (see the module doc).
    Config: `path`, the account's JSON file; `on_blind_trust`, called with each
    device trusted blindly."""

    # Not "xep_0384": slixmpp keeps one plugin class per name for the whole
    # process, and another client in it (a test's peer) may bring its own.
    name = "tuiclient_omemo"
    default_config = {
        "fallback_message": "This message is encrypted with OMEMO, which your client "
                            "does not read.",
        "path": None,
        "on_blind_trust": None,
    }

    def plugin_init(self) -> None:
        config: Any = self
        if not config.path:
            raise ValueError("the OMEMO plugin needs the path of its data file")
        self._storage = JsonStorage(Path(config.path))
        super().plugin_init()

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def _btbv_enabled(self) -> bool:
        return True

    async def _devices_blindly_trusted(self, blindly_trusted: frozenset[DeviceInformation],
                                       identifier: str | None) -> None:
        config: Any = self
        tell: Callable[[DeviceInformation], None] | None = config.on_blind_trust
        for device in blindly_trusted:
            if tell is not None:
                tell(device)

    async def _prompt_manual_trust(self, manually_trusted: frozenset[DeviceInformation],
                                   identifier: str | None) -> None:
        # No prompt in the middle of a send: the devices stay undecided, the
        # encryption refuses them, and the user decides with `keys trust`.
        log.info("OMEMO devices left undecided until the user verifies them: %s",
                 ", ".join(f"{d.bare_jid}/{d.device_id}" for d in manually_trusted))


register_plugin(OmemoPlugin)
