"""`tuiclient keys`: the OpenPGP keyring and the OMEMO devices as they concern us
and our contacts.

    keys list                     our keys, and our contacts' (with their JIDs),
                                  each with the OMEMO devices of its JIDs
    keys import FILE|-            keys from a file or stdin, through GPGME
    keys verify FPR [--as ADDR]   mark a key verified: a local certification by
                                  our key (gpg --lsign-key), never published
    keys verify JID DEVICE        mark an OMEMO device verified (its id or its
                                  fingerprint, as `keys list` shows them)
    keys trust FPR --level L      owner trust: unknown|never|marginal|full|ultimate
    keys trust JID DEVICE --level verified|distrusted|undecided  (OMEMO)
    keys prefer ADDRESS CHOICE    a contact's default: encrypt|sign|clear|default;
                                  for a JID's chat also omemo (= /omemo on)
    keys autocrypt                Autocrypt: on or off, our keys, each peer's state
    keys autocrypt-setup [--account A] [--send]
                                  our Autocrypt key: the account's existing key,
                                  else a new one (Ed25519/Cv25519) made now;
                                  --send mails it to ourselves as an Autocrypt
                                  Setup Message, its setup code printed once
    keys autocrypt-import ID [--code CODE|-]
                                  import the key of a setup message (ours or
                                  another Autocrypt program's) with its code

`keys list` goes online for chat to read the device lists (OMEMO keys are held
by one process of ours at a time: with the app running, ask it instead).
Exit codes: 0 done; 1 failed (no such key or device, nothing importable, gpg
refused, with its reason); 2 usage. Every verb prints JSON with --json.
Its arguments are keys_args.py's (argparse only, so `--help` imports none of
this module; `add_keys_commands` and `KEYS_COMMANDS` importable from here).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EngineError
from . import output as out
from .keys_args import KEYS_COMMANDS as KEYS_COMMANDS
from .keys_args import OMEMO_LEVELS
from .keys_args import add_autocrypt_commands as add_autocrypt_commands
from .keys_args import add_keys_commands as add_keys_commands
from .outcome import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Outcome

if TYPE_CHECKING:
    from .host import Headless

# `k` and `r` below are what the engine's openpgp_* calls return
# (bridge.crypto.keys.KeyInfo and KeyRow): read by their attributes only, so the
# headless door stays the engine's.


def device_json(d: Any) -> dict[str, Any]:
    return {"jid": d.jid, "device_id": d.device_id, "fingerprint": d.fingerprint,
            "trust": d.trust, "active": d.active, "own": d.own,
            "this_device": d.this_device, "label": d.label}


def device_line(d: Any) -> str:
    who = "this device" if d.this_device else ("yours" if d.own else d.jid)
    state = "" if d.active else ", inactive"
    return f"  OMEMO {d.device_id:>10}  {d.fingerprint}  {out.t(who)}: {d.trust}{state}"


def _with_devices(rows: list[Any], devices: list[Any]) -> tuple[list[dict[str, Any]],
                                                                list[str]]:
    """The OpenPGP rows, each with the OMEMO devices of its JIDs beside its key
    (`omemo`), then a row for each JID that has devices and no key."""
    listed: list[dict[str, Any]] = []
    lines: list[str] = []
    placed: set[int] = set()
    for r in rows:
        jids = {j.lower() for j in r.jids}
        mine = [i for i, d in enumerate(devices) if d.jid.lower() in jids and i not in placed]
        placed.update(mine)
        listed.append({**row_json(r), "omemo": [device_json(devices[i]) for i in mine]})
        lines += [row_line(r)] + [device_line(devices[i]) for i in mine]
    rest: dict[str, list[Any]] = {}
    for i, d in enumerate(devices):
        if i not in placed:
            rest.setdefault(d.jid, []).append(d)
    for jid, theirs in rest.items():
        listed.append({"fingerprint": None, "contact": "", "email": "", "jids": [jid],
                       "mine": theirs[0].own, "preference": "",
                       "omemo": [device_json(d) for d in theirs]})
        lines += [f"(no OpenPGP key)  <{out.t(jid)}>"] + [device_line(d) for d in theirs]
    return listed, lines


def key_json(k: Any) -> dict[str, Any]:
    return {"fingerprint": k.fingerprint, "uids": list(k.uids), "emails": list(k.emails),
            "secret": k.secret, "validity": k.validity, "ownertrust": k.ownertrust,
            "verified": k.verified, "expires": k.expires, "revoked": k.revoked,
            "expired": k.expired, "disabled": k.disabled, "can_encrypt": k.can_encrypt,
            "can_sign": k.can_sign}


def row_json(r: Any) -> dict[str, Any]:
    return {**key_json(r.key), "contact": r.contact, "email": r.email, "jids": list(r.jids),
            "mine": r.mine, "preference": r.preference}


def key_words(k: Any) -> str:
    """validity, trust, expiry in a few words: "verified, trust marginal, expires
    2027-01-01" or "not verified (unknown), expired"."""
    words = ["verified" if k.verified else f"not verified ({k.validity})"]
    if k.ownertrust not in ("unknown", "undefined"):
        words.append(f"trust {k.ownertrust}")
    if k.revoked:
        words.append("REVOKED")
    if k.expired:
        words.append("EXPIRED")
    elif k.expires:
        words.append("expires " + time.strftime("%Y-%m-%d", time.localtime(k.expires)))
    return ", ".join(words)


def row_line(r: Any) -> str:
    who = "you" if r.mine else (r.contact or r.email)
    ids = " · ".join([r.email, *r.jids])
    pref = f" · prefers {r.preference}" if r.preference else ""
    return (f"{r.key.fingerprint}  {out.t(who)} <{out.t(ids)}>  "
            f"{key_words(r.key)}{pref}")


async def cmd_keys(h: Headless, a: argparse.Namespace) -> Outcome:
    command = a.keys_command or "list"
    engine = h.engine
    try:
        if command in ("autocrypt", "autocrypt-setup", "autocrypt-import"):
            return await cmd_autocrypt(h, a, command)
        if command == "list":
            rows = await engine.openpgp_keys()
            devices = []
            if any(acct.jid for acct in engine.accounts) and engine.config.crypto.omemo:
                await h.up(xmpp=True)
                devices = await engine.omemo_devices()
            listed, lines = _with_devices(rows, devices)
            listed, lines = with_autocrypt(listed, lines, await engine.autocrypt_status())
            for row in listed:
                if row.get("fingerprint") is None:
                    row["source"] = "omemo"  # devices only: no OpenPGP key
            return Outcome(EXIT_OK, listed, lines or ["no keys of yours or of your "
                                                      "contacts in the keyring"])
        if command in ("verify", "trust") and "@" in a.fingerprint:
            return await _omemo_trust(h, a, "verified" if command == "verify" else a.level)
        if command == "trust" and a.level in OMEMO_LEVELS:
            raise CommandError(EXIT_USAGE, f"--level {a.level} is for an OMEMO device: "
                                           "keys trust JID DEVICE --level ...")
        if command == "import":
            data = sys.stdin.buffer.read() if a.file == "-" else _read(Path(a.file))
            done = await engine.openpgp_import(data)
            result = {"considered": done.considered, "imported": done.imported,
                      "unchanged": done.unchanged, "fingerprints": list(done.fingerprints)}
            return Outcome(EXIT_OK, result, [
                f"{done.imported} imported, {done.unchanged} unchanged: "
                + ", ".join(done.fingerprints)])
        if command == "verify":
            key = await engine.openpgp_verify(a.fingerprint, a.signer)
            return Outcome(EXIT_OK, key_json(key), [
                f"{key.fingerprint} {out.t(', '.join(key.uids))}: {key_words(key)} "
                "(certified locally by your key; not published)"])
        if command == "trust":
            key = await engine.openpgp_trust(a.fingerprint, a.level)
            return Outcome(EXIT_OK, key_json(key), [
                f"{key.fingerprint} {out.t(', '.join(key.uids))}: {key_words(key)}"])
        if a.choice == "omemo":
            engine.omemo_prefer(a.address, True)
            return Outcome(EXIT_OK, {"address": a.address.lower(), "preference": "omemo"},
                           [f"chatting with {a.address}: OMEMO-encrypted by default"])
        try:
            engine.openpgp_prefer(a.address, a.choice)
        except ValueError as exc:
            raise CommandError(EXIT_USAGE, str(exc)) from exc
        result = {"address": a.address.lower(), "preference":
                  "" if a.choice == "default" else a.choice}
        return Outcome(EXIT_OK, result, [
            f"sending to {a.address}: " + ("the [crypto] defaults" if a.choice == "default"
                                           else f"{a.choice} by default")])
    except EngineError as exc:  # gpg's refusal, in words (the engine's OpenPGP calls)
        raise CommandError(EXIT_FAILED, str(exc)) from exc


async def _omemo_trust(h: Headless, a: argparse.Namespace, level: str) -> Outcome:
    if not a.device:
        raise CommandError(EXIT_USAGE, f"which device of {a.fingerprint}? give its id or "
                                       "fingerprint (see `keys list`)")
    if level not in OMEMO_LEVELS:
        raise CommandError(EXIT_USAGE, f"an OMEMO device is verified, distrusted or "
                                       f"undecided, not {level}")
    await h.up(xmpp=True)
    device = await h.engine.omemo_trust(a.fingerprint, a.device, level)
    return Outcome(EXIT_OK, device_json(device), [device_line(device).strip()])


def with_autocrypt(rows: list[dict[str, Any]], lines: list[str], status: dict[str, Any]
                   ) -> tuple[list[dict[str, Any]], list[str]]:
    """`keys list` with each contact's Autocrypt state (`autocrypt`, null when
    none), and the Autocrypt peers the keyring has no key of (`source`
    "autocrypt": their key lives in the Autocrypt state, not the keyring)."""
    peers = {p["address"]: p for p in status.get("peers", [])}
    for row in rows:
        row["source"] = "keyring"
        row["autocrypt"] = None if row["mine"] else peers.get(row["email"])
    listed = {row["email"] for row in rows}
    for address, peer in peers.items():
        if address in listed:
            continue
        key = peer["public_key"] or peer["gossip_key"] or {}
        rows.append({"fingerprint": key.get("fingerprint", ""), "email": address,
                     "emails": key.get("emails", []), "mine": False, "source": "autocrypt",
                     "can_encrypt": bool(key.get("usable")), "autocrypt": peer})
        lines.append(f"{key.get('fingerprint', '')}  <{out.t(address)}>  "
                     f"{autocrypt_words(peer)}")
    return rows, lines


def autocrypt_words(peer: dict[str, Any]) -> str:
    """"Autocrypt mutual, seen 2026-12-06, recommends encrypt"."""
    seen = time.strftime("%Y-%m-%d", time.localtime(peer["last_seen"] or 0))
    key = peer["public_key"] or peer["gossip_key"]
    how = "Autocrypt" if peer["public_key"] else "gossip only"
    usable = "" if key and key.get("usable") else ", key not usable"
    word = f", recommends {peer['recommendation']}" if peer["recommendation"] else ""
    return f"{how} {peer['prefer_encrypt']}, seen {seen}{usable}{word}"


async def cmd_autocrypt(h: Headless, a: argparse.Namespace, command: str) -> Outcome:
    engine = h.engine
    if command == "autocrypt-setup" and getattr(a, "send", False):
        await h.up(mail=True, xmpp=False)
        code, msg_id = await engine.autocrypt_setup_send(getattr(a, "account", None))
        await engine.drain()
        return Outcome(EXIT_OK, {"setup_code": code, "msg_id": msg_id}, [
            f"Autocrypt Setup Message sent to yourself ({msg_id}). Its setup code, "
            f"shown this once and kept nowhere:\n\n    {code}\n\nType it on your other "
            "device to import your key there."])
    if command == "autocrypt-import":
        await h.up(mail=True, xmpp=False)
        typed = sys.stdin.readline() if a.code == "-" else a.code
        fingerprints, prefer = await engine.autocrypt_setup_import(a.message, typed)
        return Outcome(EXIT_OK, {"fingerprints": list(fingerprints),
                                 "prefer_encrypt": prefer}, [
            f"imported {', '.join(fingerprints)} (prefer-encrypt {prefer}); set "
            "[crypto] autocrypt = true to use it"])
    if command == "autocrypt-setup":
        fingerprint, made = await engine.autocrypt_setup(getattr(a, "account", None))
        return Outcome(EXIT_OK, {"fingerprint": fingerprint, "created": made}, [
            f"{fingerprint}: " + ("a new key, made now" if made else
                                  "your existing key")
            + " is your Autocrypt key; set [crypto] autocrypt = true to send it"])
    status = await engine.autocrypt_status()
    lines = [f"Autocrypt is {'on' if status['enabled'] else 'off ([crypto] autocrypt)'}"]
    for acc in status["accounts"]:
        key = acc["fingerprint"] or "no key (keys autocrypt-setup makes one)"
        lines.append(f"  {out.t(acc['account'])} <{out.t(acc['address'])}>: {key}, "
                     f"prefer-encrypt {acc['prefer_encrypt']}")
    for peer in status["peers"]:
        lines.append(f"  peer {out.t(peer['address'])}: {autocrypt_words(peer)}")
    return Outcome(EXIT_OK, status, lines)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(EXIT_USAGE, f"cannot read {path}: {exc.strerror or exc}") from exc


KEYS_HANDLERS: dict[str, Callable[[Headless, argparse.Namespace], Awaitable[Outcome]]] = {
    "keys": cmd_keys,
}
