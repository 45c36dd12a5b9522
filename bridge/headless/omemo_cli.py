"""`tuiclient omemo on|off|default JID`: the per-chat OMEMO switch, as `/omemo
on|off` in the app (and `keys prefer JID omemo|clear`).

    omemo on JID       every line to JID goes OMEMO-encrypted (or is refused,
                       naming who and why; never in clear); a room JID is
                       checked first: members-only, non-anonymous, every
                       member with a device, else refused (exit 9)
    omemo off JID      lines to JID go in clear (unless a send asks otherwise)
    omemo default JID  as the conversation goes (encrypted when its last line
                       or email was)

`--json` prints {"jid", "omemo": "on"|"off"|"default"}. The switch is kept in
the data dir; `on` logs in first, to tell a room (checked then) from a contact.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from . import output as out

# The verb's parser is chat_args.add_omemo (argparse only, for `--help`).
from .chat_args import OMEMO_CHOICES as OMEMO_CHOICES
from .outcome import EXIT_ENCRYPTION, EXIT_OK, CommandError, Outcome


class Headless(Protocol):
    """What this verb uses of bridge.headless.host's Headless (named here, as
    chat.py does, so that neither imports the other)."""

    engine: Any

    async def up(self, *, mail: bool = False, xmpp: bool = True) -> None: ...

    def need_xmpp(self, account: str) -> None: ...

# The verb's parser is chat_args.add_omemo (argparse only, for `--help`).


async def cmd_omemo(h: Headless, a: argparse.Namespace) -> Outcome:
    from ..errors import EncryptionRefused

    jid = a.jid.partition("/")[0].lower()
    engine = h.engine
    if a.choice == "on" and await _is_room(h, a, jid):
        account = engine.account(a.account).name
        try:
            await engine.omemo_room(account, jid, True)
        except EncryptionRefused as exc:
            raise CommandError(EXIT_ENCRYPTION, str(exc), {"kind": "encryption",
                                                            "missing": exc.missing}) from None
    else:
        engine.omemo_prefer(jid, None if a.choice == "default" else a.choice == "on")
    said = {"on": f"OMEMO on: lines to {out.t(jid)} go encrypted",
            "off": f"OMEMO off: lines to {out.t(jid)} go in clear",
            "default": f"OMEMO for {out.t(jid)}: as the conversation goes"}[a.choice]
    return Outcome(EXIT_OK, {"jid": jid, "omemo": a.choice}, [said])


async def _is_room(h: Headless, a: argparse.Namespace, jid: str) -> bool:
    """Whether `jid` is a room the account takes part in (its chat state, read
    when the chat account is up: a room's `on` is checked online)."""
    account = h.engine.account(a.account).name
    await h.up(xmpp=True)
    h.need_xmpp(account)
    return jid in h.engine.remembered_rooms(account) or jid in h.engine.joined_rooms(account)
