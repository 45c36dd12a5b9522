"""The OMEMO layer's devices and trust (`keys list`, `keys trust`): ours and
each contact's devices with their fingerprints, the user's decisions about
them, and whether a contact has a device a line may be sealed for
(`omemo_ready`), through python-omemo's session manager (bridge/xmpp/omemo.py
loads it).
"""

from __future__ import annotations

import logging
from typing import Any

from slixmpp import JID

from ..crypto.status import BLIND, DISTRUSTED, UNDECIDED, VERIFIED, OmemoDevice
from ..errors import EncryptionRefused, Hint
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

    async def omemo_ready(self, jid: str) -> None:
        """Refuse (EncryptionRefused, naming who and why) unless a line to `jid`
        can be OMEMO-encrypted now: OMEMO is on and they have a device we may
        encrypt for. Their device list is fetched first (it may be new)."""
        peer = bare(jid)
        if not self.omemo_on:
            raise EncryptionRefused(f"not sent: {peer} cannot be written to encrypted: "
                                    f"{self.omemo_off}", [peer])
        try:
            omemo = await self._omemo_stack(f"a line to {peer} may go sealed")
            await omemo.refresh_device_lists({JID(peer)}, force_download=True)
            manager = await omemo.get_session_manager()
            devices = await manager.get_device_information(peer)
        except Exception as exc:
            raise EncryptionRefused(f"not sent: the OMEMO devices of {peer} could not be "
                                    f"read: {exc or type(exc).__name__}", [peer]) from exc
        active = [d for d in devices if any(on for _ns, on in d.active)]
        usable = [d for d in active if d.trust_level_name != "DISTRUSTED"]
        verified = any(d.trust_level_name == "TRUSTED" for d in devices)
        new = [d for d in active if d.trust_level_name == "UNDECIDED"]
        if usable and verified and new:
            # BTBV after a verification: a new device is not trusted by itself, and
            # python-omemo would refuse the whole line for it.
            raise EncryptionRefused(
                f"not sent: {peer} has a new OMEMO device you have not verified "
                f"(device {', '.join(str(d.device_id) for d in new)})", [peer],
                hint=Hint("verify-device", peer))
        if not usable:
            why = "every device of theirs is distrusted" if devices else \
                "they have published no OMEMO device (their client has no OMEMO, or it is off)"
            raise EncryptionRefused(f"not sent: cannot encrypt to {peer} with OMEMO: {why}",
                                    [peer], hint=Hint("omemo-clear", peer))

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
