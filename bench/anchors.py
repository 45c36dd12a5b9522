"""The reference clients (neomutt, aerc, notmuch): installed, configured, launched.

Each is set up the way a user would point it at the harness's Dovecot, in a home of
its own so nothing of this machine's user config takes part:

- neomutt: a muttrc with `folder = imaps://...` (IMAP over implicit TLS, the harness's
  CA as `ssl_ca_certificates_file`, GnuTLS checking the server's 127.0.0.1 SAN), the
  password in `imap_pass`, `sort = reverse-date` (newest on top, like us and aerc), no
  sidebar, and a `status_format` the bench can read back: the message count (`%m`),
  the count shown (`%M`) and the limit pattern (`%V`). `header_cache` is a directory
  that the bench empties for a cold open and keeps for a warm one.
- aerc: accounts.conf with `source = imaps://...` (implicit TLS; Go takes the harness's
  CA from `SSL_CERT_FILE`), Debian's aerc.conf and binds.conf (G is `:select -1`).
- notmuch: a database over a Maildir holding the same files as the IMAP INBOX (hard
  links), `notmuch new` to index, `notmuch search` as a whole process.

`ensure_installed()` runs bench/anchors.sh (apt-get install) for what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ANCHORS = ("neomutt", "aerc", "notmuch")


def ensure_installed() -> dict[str, str]:
    """Install the missing anchors (bench/anchors.sh); their Debian versions."""
    if any(shutil.which(a) is None for a in (*ANCHORS, "tmux")):
        subprocess.run([str(HERE / "anchors.sh")], check=True)
    return versions()


def versions() -> dict[str, str]:
    found = {}
    for pkg in (*ANCHORS, "tmux"):
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                             capture_output=True, text=True, check=False)
        found[pkg] = out.stdout.strip() if out.returncode == 0 else "missing"
    return found


@dataclass
class ImapAccount:
    """What a client needs to reach one harness account over IMAP."""

    email: str
    password: str
    port: int  # Dovecot's implicit-TLS port (imaps)
    ca_file: Path
    host: str = "127.0.0.1"

    def url(self, scheme: str, with_password: bool = False) -> str:
        user = quote(self.email, safe="")
        if with_password:
            user += ":" + quote(self.password, safe="")
        return f"{scheme}://{user}@{self.host}:{self.port}"


STATUS = "BENCH msgs=%m shown=%M lim=%V end"


class Neomutt:
    """neomutt in its own home, reading one muttrc."""

    def __init__(self, home: Path, account: ImapAccount) -> None:
        self.home = home
        self.cache = home / "hcache"
        home.mkdir(parents=True, exist_ok=True)
        self.rc = home / "neomuttrc"
        self.rc.write_text(f"""\
set folder = "{account.url('imaps')}/"
set spoolfile = "+INBOX"
set imap_user = "{account.email}"
set imap_pass = "{account.password}"
set ssl_ca_certificates_file = "{account.ca_file}"
set certificate_file = "{home / 'certificates'}"
set ssl_force_tls = yes
set header_cache = "{self.cache}/"
set message_cachedir = ""
set imap_check_subscribed = no
set imap_idle = no
set mail_check_stats = no
set sort = reverse-date
set sort_aux = date
set sidebar_visible = no
set wait_key = no
set sleep_time = 0
set postponed = "+Drafts"
set record = ""
set status_format = "{STATUS}"
set index_format = "%4C %Z %{{%b %d}} %-15.15L %s"
""")
        self.rc.chmod(0o600)

    def cold(self) -> None:
        """Empty the header cache: the next open fetches every header."""
        shutil.rmtree(self.cache, ignore_errors=True)
        self.cache.mkdir(parents=True)

    def argv(self, *extra: str) -> list[str]:
        return ["neomutt", "-n", "-F", str(self.rc), *extra]

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "TERM": "screen-256color", "LANG": "C.UTF-8"}

    @staticmethod
    def loaded(count: int) -> str:
        """The status line once the mailbox of `count` messages is on screen."""
        return f"msgs={count} "


class Aerc:
    """aerc with one account and Debian's default aerc.conf and binds.conf."""

    def __init__(self, home: Path, account: ImapAccount, name: str = "bench") -> None:
        self.home = home
        conf = home / "config" / "aerc"
        conf.mkdir(parents=True, exist_ok=True)
        for f in ("aerc.conf", "binds.conf"):
            shutil.copy(f"/usr/share/aerc/{f}", conf / f)
        accounts = conf / "accounts.conf"
        accounts.write_text(f"""\
[{name}]
source = {account.url('imaps', with_password=True)}
outgoing = /bin/true
default = INBOX
from = Bench <{account.email}>
copy-to = Sent
""")
        accounts.chmod(0o600)
        self.ca_file = account.ca_file

    def argv(self) -> list[str]:
        return ["aerc"]

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / "config"),
                "XDG_CACHE_HOME": str(self.home / "cache"),
                "XDG_DATA_HOME": str(self.home / "data"),
                "SSL_CERT_FILE": str(self.ca_file), "TERM": "screen-256color",
                "LANG": "C.UTF-8"}


class Notmuch:
    """A notmuch database over a Maildir linked from the IMAP INBOX's files."""

    def __init__(self, home: Path, source_cur: Path) -> None:
        self.home = home
        self.maildir = home / "mail" / "INBOX"
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        for f in os.scandir(source_cur):
            target = self.maildir / "cur" / f.name
            if not target.exists():
                try:
                    os.link(f.path, target)
                except OSError:  # another file system: copy
                    shutil.copy2(f.path, target)
        self.config = home / "notmuch-config"
        self.config.write_text(f"""\
[database]
path={home / 'mail'}
[user]
name=Alice
primary_email=alice@example.test
[new]
tags=inbox;unread;
ignore=
[search]
exclude_tags=
[maildir]
synchronize_flags=false
""")

    def env(self) -> dict[str, str]:
        return {**os.environ, "NOTMUCH_CONFIG": str(self.config), "HOME": str(self.home)}

    def argv(self, *args: str) -> list[str]:
        return ["notmuch", *args]

    def wipe(self) -> None:
        """Forget the index: the next `notmuch new` indexes every file."""
        shutil.rmtree(self.home / "mail" / ".notmuch", ignore_errors=True)
