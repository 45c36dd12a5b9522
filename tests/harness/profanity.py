"""Profanity as the other side: a full XMPP console client we did not write, driven
in tmux the way a person types into it (send-keys) and read the way a person reads
it (capture-pane).

Profanity 0.13 (Debian bookworm) speaks receipts (XEP-0184), corrections
(XEP-0308), chat states (XEP-0085), carbons, MAM and MUC with invitations, through
libstrophe, so what it shows is what another real client makes of our stanzas.
Each instance gets a private HOME with an accounts file (TLS policy `trust`: the
harness's CA is not in any system store, and profanity has no option to add one);
receipts and corrections are turned on by typing their commands.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from tests.harness.servers import Account, World


class ProfanityError(AssertionError):
    pass


def require() -> None:
    """Profanity and tmux come from scripts/dev's Debian packages: a machine without
    them fails the test that needs them (a skipped interop test proves nothing)."""
    missing = [tool for tool in ("profanity", "tmux") if shutil.which(tool) is None]
    if missing:
        raise ProfanityError(f"{' and '.join(missing)} not installed: run scripts/dev setup")


class Profanity:
    def __init__(self, world: World, account: Account, home: Path,
                 width: int = 200, height: int = 50) -> None:
        self.world, self.account, self.home = world, account, home
        self.session = f"prof-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height

    def start(self, timeout: float = 20.0) -> Profanity:
        require()
        data = self.home / ".local" / "share" / "profanity"
        conf = self.home / ".config" / "profanity"
        data.mkdir(parents=True, exist_ok=True)
        conf.mkdir(parents=True, exist_ok=True)
        a = self.account
        (data / "accounts").write_text(
            f"[{a.jid}]\nenabled=true\njid={a.jid}\nserver=127.0.0.1\n"
            f"port={self.world.ports.c2s}\nresource=profanity\npassword={a.password}\n"
            "tls.policy=trust\n")
        (data / "accounts").chmod(0o600)
        (conf / "profrc").write_text(
            "[notifications]\nmessage=false\nroom=false\ninvite=false\nsub=false\n")
        env = {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
               "XDG_DATA_HOME": str(self.home / ".local" / "share"), "TERM": "xterm-256color",
               "LANG": "C.UTF-8", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        command = " ".join(f"{k}={v}" for k, v in env.items())
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.session, "-x", str(self.width),
             "-y", str(self.height), f"env -i {command} profanity -a {a.jid}"], check=True)
        return self

    async def started(self, timeout: float = 20.0) -> Profanity:
        """Logged in, with receipts and corrections on (typed, as a user sets them)."""
        await self.shows("logged in successfully", timeout=timeout)
        for command in ("/receipts send on", "/receipts request on", "/correction on",
                        "/states on", "/outtype on"):
            self.type(command)
        return self

    # -- what a person does --------------------------------------------------
    def type(self, line: str) -> None:
        """Type a line and press Enter, as a person would."""
        subprocess.run(["tmux", "send-keys", "-t", self.session, "-l", line], check=True)
        subprocess.run(["tmux", "send-keys", "-t", self.session, "Enter"], check=True)

    def screen(self) -> str:
        done = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", self.session],
                              capture_output=True, text=True, check=False)
        return done.stdout

    async def shows(self, text: str, timeout: float = 10.0) -> str:
        """Wait until the screen shows `text`, letting our client's loop run."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise ProfanityError(f"profanity never showed {text!r}; the screen:\n{shown}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session],
                       capture_output=True, check=False)
