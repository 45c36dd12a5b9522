"""The OMEMO layer's devices and trust (`keys list`, `keys trust`): ours and
each contact's devices with their fingerprints, and the user's decisions about
them, through python-omemo's session manager (bridge/xmpp/omemo.py loads it).
"""

from __future__ import annotations

import logging
from typing import Any

from slixmpp import JID

from ..crypto.status import BLIND, DISTRUSTED, UNDECIDED, VERIFIED, OmemoDevice
from .stanzas import bare

log = logging.getLogger(__name__)

# python-omemo's trust level names (slixmpp_omemo.TrustLevel) in our words.
TRUST_WORDS = {"TRUSTED": VERIFIED, "BLINDLY_TRUSTED": BLIND, "UNDECIDED": UNDECIDED,
               "DISTRUSTED": DISTRUSTED}
TRUST_NAMES = {"verified": "TRUSTED", "trusted": "TRUSTED", "distrusted": "DISTRUSTED",
               "untrusted": "DISTRUSTED", "undecided": "UNDECIDED"}


class OmemoKeys:
    """Devices and trust, a part of the OMEMO layer (`Omemo` has the rest)."""

    name: str
    own: str
    omemo_on: bool
    omemo_off: str

    async def _omemo_stack(self, why: str) -> Any:
        raise NotImplementedError  # Omemo's

    def _on_blind_trust(self, device: Any) -> None:
        raise NotImplementedError  # Omemo's

    async def _blind_trust(self, manager: Any, device: Any) -> str:
        """The trust in a device a line came from, deciding on a new one as BTBV
        does (python-omemo decides only when it encrypts): blindly trusted while
        the user verified none of that contact's devices, else left undecided,
        and the line says it came from a device nobody vouched for."""
        if device.trust_level_name == "UNDECIDED":
            known = await manager.get_device_information(device.bare_jid) \
                if device.bare_jid != self.own else (await manager.get_own_device_information())[1]
            if not any(d.trust_level_name == "TRUSTED" for d in known):
                await manager.set_trust(device.bare_jid, device.identity_key, "BLINDLY_TRUSTED")
                self._on_blind_trust(device)
                return BLIND
        return TRUST_WORDS.get(device.trust_level_name, UNDECIDED)

    async def omemo_devices(self, jids: list[str]) -> list[OmemoDevice]:
        """Our devices and those of `jids`, each with its fingerprint and trust."""
        if not self.omemo_on:
            return []
        omemo = await self._omemo_stack("the devices were asked for (keys)")
        manager = await omemo.get_session_manager()
        own, others = await manager.get_own_device_information()
        out = [self._device(own, own=True, this=True)]
        out += [self._device(d, own=True) for d in sorted(others, key=lambda d: d.device_id)]
        for jid in jids:
            peer = bare(jid)
            if not peer or peer == self.own:
                continue
            try:
                await omemo.refresh_device_lists({JID(peer)})
                devices = await manager.get_device_information(peer)
            except Exception as exc:
                log.info("%s: no OMEMO devices of %s: %s", self.name, peer, exc)
                continue
            out += [self._device(d) for d in sorted(devices, key=lambda d: d.device_id)]
        return out

    @staticmethod
    def _device(d: Any, *, own: bool = False, this: bool = False) -> OmemoDevice:
        from omemo.session_manager import SessionManager

        return OmemoDevice(
            jid=d.bare_jid, device_id=d.device_id,
            fingerprint=" ".join(SessionManager.format_identity_key(d.identity_key)),
            trust=VERIFIED if this else TRUST_WORDS.get(d.trust_level_name, UNDECIDED),
            active=any(active for _ns, active in d.active), own=own, this_device=this,
            label=d.label or "")

    async def omemo_trust(self, jid: str, device: str, level: str) -> OmemoDevice:
        """Set the trust in one device of `jid`, named by its id or fingerprint
        (spaces optional): verified (the user compared the fingerprint),
        distrusted, or undecided."""
        name = TRUST_NAMES.get(level.lower())
        if name is None:
            raise ValueError(f"the trust must be verified, distrusted or undecided, "
                             f"not {level!r}")
        if not self.omemo_on:
            raise ValueError(self.omemo_off)
        peer = bare(jid)
        omemo = await self._omemo_stack("a trust decision (keys trust)")
        manager = await omemo.get_session_manager()
        if peer == self.own:
            _me, devices = await manager.get_own_device_information()
        else:
            await omemo.refresh_device_lists({JID(peer)})
            devices = await manager.get_device_information(peer)
        wanted = "".join(device.split()).lower()
        for d in devices:
            fingerprint = "".join(manager.format_identity_key(d.identity_key))
            if wanted in (str(d.device_id), fingerprint):
                await manager.set_trust(d.bare_jid, d.identity_key, name)
                return self._device(
                    d._replace(trust_level_name=name), own=peer == self.own)
        raise ValueError(f"{peer} has no OMEMO device {device!r} (see `keys list`)")
