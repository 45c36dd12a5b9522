"""neomutt as the other side of an encrypted email: Debian's build, with its
GPGME backend (`crypt_use_gpgme=yes`), driven in tmux the way a person types
into it (send-keys) and read the way a person reads it (capture-pane), as
tests/harness/profanity.py drives profanity.

Each instance gets a private HOME, a muttrc of its own (`-n -F`: no system
config), the harness's CA for the IMAP server's certificate, and a GNUPGHOME
(the other side's gpg keyring, made by tests/gpg_peer.py). It reads the INBOX
over IMAPS from Dovecot, as any neomutt user's would.
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


class NeomuttError(AssertionError):
    pass


def missing() -> list[str]:
    """What is not installed of neomutt and tmux (scripts/dev setup installs both)."""
    return [tool for tool in ("neomutt", "tmux") if shutil.which(tool) is None]


class Neomutt:
    def __init__(self, world: World, account: Account, home: Path, gnupg_home: Path,
                 width: int = 160, height: int = 50) -> None:
        self.world, self.account, self.home = world, account, home
        self.gnupg_home = gnupg_home
        self.session = f"mutt-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height

    def start(self) -> Neomutt:
        if missing():
            raise NeomuttError(f"{' and '.join(missing())} not installed: run scripts/dev "
                               "setup")
        self.home.mkdir(parents=True, exist_ok=True)
        a = self.account
        port = self.world.ports.imaps
        rc = self.home / "muttrc"
        rc.write_text(
            f'set folder="imaps://{a.email}@127.0.0.1:{port}/"\n'
            'set spoolfile="+INBOX"\n'
            f'set imap_user="{a.email}"\nset imap_pass="{a.password}"\n'
            f'set ssl_ca_certificates_file="{self.world.ca_file}"\n'
            "set ssl_force_tls=yes\n"
            "set crypt_use_gpgme=yes\nset crypt_verify_sig=yes\n"
            "set crypt_autosign=no\nset crypt_replyencrypt=no\n"
            "set imap_passive=no\nset mail_check=2\nset timeout=2\n"
            "set header_cache=\"\"\nset message_cachedir=\"\"\n"
            "set sort=date\nset pager_stop=yes\nset pager_index_lines=0\n"
            "set wait_key=no\nset confirmappend=no\nset move=no\n"
            "unset mark_old\nunset help\n")
        rc.chmod(0o600)
        env = {"HOME": str(self.home), "GNUPGHOME": str(self.gnupg_home),
               "TERM": "xterm-256color", "LANG": "C.UTF-8",
               "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        command = " ".join(f"{k}={v}" for k, v in env.items())
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.session, "-x", str(self.width),
             "-y", str(self.height), f"env -i {command} neomutt -n -F {rc}"], check=True)
        return self

    # -- what a person does --------------------------------------------------
    def press(self, *keys: str) -> None:
        """Press keys, as tmux names them ("Enter", "q", "j")."""
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def screen(self) -> str:
        done = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", self.session],
                              capture_output=True, text=True, check=False)
        return done.stdout

    async def shows(self, text: str, timeout: float = 15.0) -> str:
        """Wait until the screen shows `text`."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise NeomuttError(f"neomutt never showed {text!r}; the screen:\n{shown}")
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session],
                       capture_output=True, check=False)
