"""Real servers on loopback for the tests and the demo: Dovecot, SMTP, Prosody.

`World.start()` makes a temporary directory, a CA for the run, and starts:

- Dovecot (IMAP with STARTTLS and implicit TLS, LMTP), run as the `dovecot` user;
- the SMTP server of `smtp_server.py` (STARTTLS + AUTH, implicit TLS), handing
  mail to Dovecot's LMTP;
- Prosody (c2s with STARTTLS and direct TLS, MUC, HTTP file share), run as the
  `prosody` user.

Every port is a free random port on 127.0.0.1. Dovecot and Prosody refuse to run
as root, so when we are root they are started under their own system users and
the files they use are handed to those users.

Accounts are made on demand with `World.add_account`; by default the email address
and the JID are the same, and `jid=` gives an account a different JID so that
address mapping is exercised.

The World is also an OAuth 2.0 issuer (`issue_token`, see oauth.py): Dovecot's
oauth2 passdb and the SMTP server take its tokens over XOAUTH2 and OAUTHBEARER
next to the accounts' passwords.

Over 600 lines for a reason: the config templates of the three servers sit at
the end of this file, next to the code that fills them in.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import oauth
from .certs import CertFiles, make_certs

MAIL_DOMAIN = "example.test"
XMPP_DOMAINS = ("example.test", "chat.corp.test")
MUC_DOMAIN = "conference.example.test"
# A server without Prosody's mod_bookmarks: XEP-0049 private storage holds the
# XEP-0048 bookmarks as written, nothing converts them to XEP-0402 (no #compat).
LEGACY_BOOKMARKS_DOMAIN = "legacy.example.test"
UPLOAD_DOMAIN = "upload.example.test"
REPO_ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1


class HarnessError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path | None, timeout: float = 20.0,
                  name: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"{name} exited with {proc.returncode} before listening on "
                               f"{port}\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise HarnessError(f"{name} did not listen on {port} within {timeout}s\n{_tail(log)}")


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the harness process dies, however it dies.

    The servers run in sessions of their own (so a Ctrl-C reaches only us), which
    would leave them running after a killed test run or demo. Set after the switch
    to the service user, which would otherwise clear it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _is_root() -> bool:
    return os.geteuid() == 0


@dataclass
class ServiceUser:
    """The system user a server runs as (ourselves when we are not root)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def for_service(cls, wanted: str) -> ServiceUser:
        if _is_root():
            try:
                entry = pwd.getpwnam(wanted)
            except KeyError:
                raise HarnessError(
                    f"system user {wanted!r} is missing: install the {wanted} package "
                    f"(make setup)") from None
        else:
            entry = pwd.getpwuid(os.geteuid())
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)

    def popen(self, argv: list[str], home: Path, **kwargs: object) -> subprocess.Popen:
        """Start `argv` as this user, in its own session so it can be stopped whole."""
        env = dict(os.environ, HOME=str(home), USER=self.name, LOGNAME=self.name)
        if _is_root():
            kwargs.update(user=self.uid, group=self.gid, extra_groups=[])
        return subprocess.Popen(argv, env=env, cwd=home, start_new_session=True,
                                preexec_fn=_die_with_parent,
                                **kwargs)  # type: ignore[call-overload]

    def give(self, *paths: Path) -> None:
        if _is_root():
            for path in paths:
                os.chown(path, self.uid, self.gid)
                if path.is_dir():
                    for sub in path.rglob("*"):
                        os.chown(sub, self.uid, self.gid, follow_symlinks=False)


@dataclass
class Account:
    name: str
    email: str
    jid: str
    password: str
    display_name: str

    @property
    def jid_local(self) -> str:
        return self.jid.split("@", 1)[0]

    @property
    def jid_domain(self) -> str:
        return self.jid.split("@", 1)[1]


@dataclass
class Ports:
    imap: int = field(default_factory=free_port)
    imaps: int = field(default_factory=free_port)
    lmtp: int = field(default_factory=free_port)
    submission: int = field(default_factory=free_port)
    smtps: int = field(default_factory=free_port)
    c2s: int = field(default_factory=free_port)
    c2s_tls: int = field(default_factory=free_port)
    https: int = field(default_factory=free_port)


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lua_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def prosody_path_encode(part: str) -> str:
    """Prosody's datamanager encoding of a host or user name in file paths."""
    return "".join(c if c.isascii() and c.isalnum() else f"%{ord(c):02x}" for c in part)


class World:
    """The three servers and the accounts on them, for one test session or demo."""

    def __init__(self, base: Path | None = None, *, debug: bool = False) -> None:
        self._own_base = base is None
        self.base = base or Path(tempfile.mkdtemp(prefix="tuiclient-world-"))
        # Service users must be able to walk into our directory.
        self.base.chmod(0o755)
        self.debug = debug
        self.ports = Ports()
        self.accounts: dict[str, Account] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.dovecot_user = ServiceUser.for_service("dovecot")
        self.prosody_user = ServiceUser.for_service("prosody")
        self.certs: CertFiles | None = None
        self._rosters: dict[str, dict[str, str]] = {}
        # The OAuth issuer's signing key: Dovecot and the SMTP server check the
        # tokens of `issue_token` with it (XOAUTH2, OAUTHBEARER).
        self.oauth_key = os.urandom(32)

    # -- paths ---------------------------------------------------------------
    @property
    def ca_file(self) -> Path:
        assert self.certs is not None
        return self.certs.ca_cert

    @property
    def dovecot_dir(self) -> Path:
        return self.base / "dovecot"

    @property
    def prosody_dir(self) -> Path:
        return self.base / "prosody"

    @property
    def passwd_file(self) -> Path:
        return self.dovecot_dir / "passwd"

    @property
    def oauth_key_file(self) -> Path:
        """Where Dovecot's `local_validation_key_dict` finds the key: azp `default`,
        algorithm HS256, key id `default`."""
        return self.dovecot_dir / "oauth2-keys" / "default" / "HS256" / "default"

    @property
    def upload_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.https}/"

    # -- life cycle ----------------------------------------------------------
    def start(self) -> World:
        started = time.monotonic()
        tls_dir = self.base / "tls"
        self.certs = make_certs(tls_dir, [
            "mail.example.test", *XMPP_DOMAINS, LEGACY_BOOKMARKS_DOMAIN, MUC_DOMAIN,
            UPLOAD_DOMAIN, "localhost"])
        try:
            self._start_dovecot()
            self._start_smtp()
            self._start_prosody()
        except Exception:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        for _name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in self.procs.items():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if self._own_base and not os.environ.get("TUICLIENT_KEEP_WORLD"):
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _copy_tls(self, directory: Path) -> tuple[Path, Path]:
        # Each server gets its own copy of the key, owned by its own user.
        assert self.certs is not None
        cert = directory / "server.pem"
        key = directory / "server.key"
        shutil.copy(self.certs.chain, cert)
        shutil.copy(self.certs.key, key)
        key.chmod(0o600)
        return cert, key

    # -- Dovecot -------------------------------------------------------------
    def _start_dovecot(self) -> None:
        d = self.dovecot_dir
        for sub in ("", "run", "state", "mail", "tls", "users"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        cert, key = self._copy_tls(d / "tls")
        self.passwd_file.touch()
        self.passwd_file.chmod(0o640)
        oauth.write_key(self.oauth_key_file, self.oauth_key)
        (d / "oauth2.conf.ext").write_text(DOVECOT_OAUTH2_CONF.format(
            keys=d / "oauth2-keys", issuer=oauth.ISSUER))
        user = self.dovecot_user
        conf = d / "dovecot.conf"
        conf.write_text(DOVECOT_CONF.format(
            dir=d, user=user.name, uid=user.uid, cert=cert, key=key,
            imap=self.ports.imap, imaps=self.ports.imaps, lmtp=self.ports.lmtp,
            verbose="yes" if self.debug else "no"))
        user.give(d)
        log = d / "dovecot.log"
        proc = user.popen(["dovecot", "-F", "-c", str(conf)], d,
                          stdout=subprocess.DEVNULL, stderr=open(d / "stderr.log", "wb"))
        self.procs["dovecot"] = proc
        for port in (self.ports.imap, self.ports.imaps, self.ports.lmtp):
            wait_for_port(port, proc, log, name="dovecot")

    # -- SMTP ----------------------------------------------------------------
    def _start_smtp(self) -> None:
        d = self.base / "smtp"
        d.mkdir(exist_ok=True)
        cert, key = self._copy_tls(d)
        log = d / "smtp.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.smtp_server",
             "--submission-port", str(self.ports.submission),
             "--smtps-port", str(self.ports.smtps),
             "--lmtp-port", str(self.ports.lmtp),
             "--passwd", str(self.passwd_file), "--cert", str(cert), "--key", str(key),
             "--oauth-key", str(self.oauth_key_file)],
            cwd=REPO_ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        self.procs["smtp"] = proc
        for port in (self.ports.submission, self.ports.smtps):
            wait_for_port(port, proc, log, name="smtp")

    # -- Prosody -------------------------------------------------------------
    def _start_prosody(self) -> None:
        d = self.prosody_dir
        for sub in ("", "data", "tls", "uploads"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        cert, key = self._copy_tls(d / "tls")
        vhosts = "\n".join(f'VirtualHost "{h}"' for h in XMPP_DOMAINS) + \
            f'\nVirtualHost "{LEGACY_BOOKMARKS_DOMAIN}"\n' \
            '  modules_disabled = { "s2s", "bookmarks" }'
        conf = d / "prosody.cfg.lua"
        conf.write_text(PROSODY_CONF.format(
            dir=d, cert=cert, key=key, c2s=self.ports.c2s, c2s_tls=self.ports.c2s_tls,
            https=self.ports.https, vhosts=vhosts, muc=MUC_DOMAIN, upload=UPLOAD_DOMAIN,
            upload_url=self.upload_url, level="debug" if self.debug else "info"))
        self.prosody_user.give(d)
        log = d / "prosody.log"
        proc = self.prosody_user.popen(["prosody", "-F", "--config", str(conf)], d,
                                       stdout=open(d / "stdout.log", "wb"),
                                       stderr=subprocess.STDOUT)
        self.procs["prosody"] = proc
        for port in (self.ports.c2s, self.ports.c2s_tls, self.ports.https):
            wait_for_port(port, proc, log, name="prosody")

    # -- accounts ------------------------------------------------------------
    def add_account(self, name: str, *, email: str | None = None, jid: str | None = None,
                    password: str | None = None, display_name: str | None = None) -> Account:
        """Create a mail and an XMPP account (alice -> alice@example.test twice)."""
        if name in self.accounts:
            return self.accounts[name]
        email = email or f"{name}@{MAIL_DOMAIN}"
        jid = jid or email
        password = password or f"{name}-pw-{os.urandom(4).hex()}"
        account = Account(name, email, jid, password, display_name or name.capitalize())
        line = f"{email}:{{PLAIN}}{password}::::::\n"
        # One file per user for Dovecot: a file that exists before the first login
        # is read fresh, where a shared file rewritten within the same second can
        # be served from Dovecot's stale copy. The SMTP server reads the joint one.
        users = self.dovecot_dir / "users"
        user_file = users / email.lower()
        user_file.write_text(line)
        user_file.chmod(0o640)
        self.dovecot_user.give(user_file)
        with open(self.passwd_file, "a") as f:
            f.write(line)
        self._write_prosody_account(account)
        self.accounts[name] = account
        return account

    def _prosody_store(self, host: str, store: str) -> Path:
        path = self.prosody_dir / "data" / prosody_path_encode(host) / store
        if not path.exists():
            path.mkdir(parents=True)
            self.prosody_user.give(path.parent, path)
        return path

    def _write_lua_file(self, path: Path, body: str) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(body)
        self.prosody_user.give(tmp)
        tmp.rename(path)

    def _write_prosody_account(self, account: Account) -> None:
        accounts = self._prosody_store(account.jid_domain, "accounts")
        self._write_lua_file(accounts / f"{prosody_path_encode(account.jid_local)}.dat",
                             f"return {{\n\t[\"password\"] = {_lua_str(account.password)};\n}};\n")

    def befriend(self, a: Account, b: Account) -> None:
        """Put two accounts in each other's roster with a mutual subscription.

        Written into Prosody's storage, so do it before either logs in.
        """
        self._add_roster_items(a, [b])
        self._add_roster_items(b, [a])

    def _add_roster_items(self, owner: Account, contacts: list[Account]) -> None:
        rosters = self._prosody_store(owner.jid_domain, "roster")
        path = rosters / f"{prosody_path_encode(owner.jid_local)}.dat"
        items = self._rosters.setdefault(owner.jid, {})
        for c in contacts:
            items[c.jid] = c.display_name
        version = int(time.time() * 1000)
        lines = ["return {", f'\t[false] = {{ ["version"] = {version}; ["pending"] = {{}}; }};']
        for jid, name in sorted(items.items()):
            lines.append(f'\t[{_lua_str(jid)}] = {{ ["subscription"] = "both"; '
                         f'["groups"] = {{}}; ["name"] = {_lua_str(name)}; }};')
        lines.append("};\n")
        self._write_lua_file(path, "\n".join(lines))

    def _stop_server(self, name: str) -> None:
        """End one server's process: asked first, killed if it does not go in 10 s."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_smtp(self) -> None:
        """Take the SMTP server down (its ports refuse connections) until start_smtp()."""
        self._stop_server("smtp")

    def start_smtp(self) -> None:
        self._start_smtp()

    def stop_dovecot(self) -> None:
        """Take Dovecot down (IMAP and LMTP refuse connections; its imap processes
        end, so clients lose their sessions) until start_dovecot(). Mail stays."""
        self._stop_server("dovecot")

    def start_dovecot(self) -> None:
        self._start_dovecot()

    def start_bare_dovecot(self) -> int:
        """A second Dovecot on the same users and Maildirs that speaks plain IMAP
        only: no MOVE, UIDPLUS or SPECIAL-USE in its CAPABILITY, no folder marked
        \\Trash or \\Archive, and ACLs read from a `dovecot-acl` file in a folder
        (`read_only_folder`). Started once, for the tests of those paths; its
        implicit-TLS port is returned (the main server stays as it is)."""
        if "dovecot-bare" in self.procs:
            return self.bare_imaps
        d = self.dovecot_dir
        for sub in ("run-bare", "state-bare"):
            (d / sub).mkdir(exist_ok=True)
        self.bare_imaps, unused = free_port(), free_port()
        conf = DOVECOT_CONF.format(
            dir=d, user=self.dovecot_user.name, uid=self.dovecot_user.uid,
            cert=d / "tls" / "server.pem", key=d / "tls" / "server.key", imap=unused,
            imaps=self.bare_imaps, lmtp=0, verbose="no")
        conf = conf.replace(f"{d}/run\n", f"{d}/run-bare\n") \
            .replace(f"{d}/state\n", f"{d}/state-bare\n") \
            .replace("dovecot.log", "dovecot-bare.log") \
            .replace("protocols = imap lmtp", "protocols = imap") \
            .replace("mail_plugins =\n", "mail_plugins = acl\nplugin {\n  acl = vfile\n}\n") \
            .replace("  imap_capability = +MOVE\n", f"  imap_capability = {BARE_CAPABILITY}\n")
        lmtp = conf.index("service lmtp {")
        conf = conf[:lmtp] + conf[conf.index("service anvil {", lmtp):]
        conf = "".join(line for line in conf.splitlines(keepends=True)
                       if "special_use" not in line)
        path = d / "dovecot-bare.conf"
        path.write_text(conf)
        self.dovecot_user.give(path, d / "run-bare", d / "state-bare")
        proc = self.dovecot_user.popen(["dovecot", "-F", "-c", str(path)], d,
                                       stdout=subprocess.DEVNULL,
                                       stderr=open(d / "stderr-bare.log", "wb"))
        self.procs["dovecot-bare"] = proc
        wait_for_port(self.bare_imaps, proc, d / "dovecot-bare.log", name="dovecot-bare")
        return self.bare_imaps

    def read_only_folder(self, account: Account, folder: str) -> None:
        """The owner may list and read `folder`, not change flags in it (an ACL
        the bare Dovecot obeys: STORE is refused there)."""
        path = self.maildir(account) / f".{folder}" / "dovecot-acl"
        path.write_text("owner lr\n")
        self.dovecot_user.give(path)

    def maildir(self, account: Account) -> Path:
        """The account's INBOX as Dovecot stores it (Maildir), for bulk seeding."""
        local, domain = account.email.lower().split("@", 1)
        return self.dovecot_dir / "mail" / domain / local / "Maildir"

    def hand_mail_to_dovecot(self, account: Account) -> None:
        """Give files written into an account's Maildir to the dovecot user."""
        home = self.maildir(account).parent
        if _is_root():
            os.chown(home.parent, self.dovecot_user.uid, self.dovecot_user.gid)
        self.dovecot_user.give(home)

    def issue_token(self, account: Account, *, lifetime: float = 3600.0) -> str:
        """An OAuth access token for `account` that Dovecot and the SMTP server
        accept for `lifetime` seconds (a negative one is already expired)."""
        return oauth.make_token(self.oauth_key, account.email, lifetime=lifetime)

    # -- client settings ----------------------------------------------------
    def client_config(self, account: Account, password_command: str, *,
                      auth: str | None = None, token_command: str | None = None) -> str:
        """A config.toml for `account` pointing at these servers. With `auth`
        (xoauth2, oauthbearer) and `token_command`, its mail servers log in with
        tokens; the password_command stays for XMPP."""
        text = CLIENT_CONF.format(
            name=account.name, email=account.email, jid=account.jid,
            display=account.display_name, ca=self.ca_file, pwcmd=password_command,
            imaps=self.ports.imaps, submission=self.ports.submission, c2s=self.ports.c2s)
        if auth is not None:
            extra = f'auth = "{auth}"\n'
            if token_command is not None:
                extra += f"token_command = {_toml_str(token_command)}\n"
            text = text.replace("\n[accounts.imap]\n", f"{extra}\n[accounts.imap]\n", 1)
        return text

    def restart_prosody(self) -> None:
        """Stop Prosody and start it again on the same ports with the same data.

        Clients lose their connections (and their stream-management sessions, which
        live in Prosody's memory); rosters, archives and offline messages survive.
        """
        self._stop_server("prosody")
        self._start_prosody()


# Dovecot 2.3's own CAPABILITY after login, less MOVE, UIDPLUS and SPECIAL-USE.
BARE_CAPABILITY = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY "
                   "THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND "
                   "URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE LIST-EXTENDED "
                   "I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN "
                   "CONTEXT=SEARCH LIST-STATUS BINARY SNIPPET=FUZZY PREVIEW=FUZZY "
                   "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY")

DOVECOT_CONF = """\
# Made by the tuiclient test harness for one run.
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = tuiclient-{imap}
log_path = {dir}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {user}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login xoauth2 oauthbearer
auth_verbose = {verbose}
# Failed logins answer at once, and no penalty follows them: every test logs in
# from 127.0.0.1, and Dovecot's delays (2 s, then 4, 8 and 15 s for whoever logs
# in next from that address, for half a minute) would make each test that checks
# a refused password slow down the next ones. The refusal itself is unchanged.
auth_failure_delay = 0
mail_debug = {verbose}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
imap_idle_notify_interval = 1 mins
# IDLE hears of new mail through inotify; when the user's inotify instances run
# out (128 by default, shared by every Dovecot and client of the user: a CI run
# beside other test runs), Dovecot looks every mailbox_idle_check_interval
# instead, 30 s by default, as long as a test's wait. Looked at every second here.
mailbox_idle_check_interval = 1 secs
mail_plugins =

passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%Lu {dir}/users/%Lu
}}
# Bearer tokens of the harness's issuer (tests/harness/oauth.py), checked here by
# Dovecot's own JWT validation against the key in {dir}/oauth2-keys.
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/oauth2.conf.ext
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {dir}/users/%Lu
  default_fields = uid={user} gid={user} home={dir}/mail/%Ld/%Ln
}}

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = create
  }}
}}

protocol imap {{
  imap_capability = +MOVE
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    user = {user}
  }}
  unix_listener stats-writer {{
    user = {user}
  }}
}}
"""

DOVECOT_OAUTH2_CONF = """\
# Made by the tuiclient test harness: local validation of the issuer's JWTs.
introspection_mode = local
local_validation_key_dict = fs:posix:prefix={keys}/
issuers = {issuer}
username_attribute = email
username_format = %Lu
"""

PROSODY_CONF = """\
-- Made by the tuiclient test harness for one run.
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ {c2s_tls} }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ {https} }}
http_interfaces = {{ "127.0.0.1" }}
https_interfaces = {{ "127.0.0.1" }}
http_external_url = "{upload_url}"
-- Links are https://127.0.0.1:port/...: requests for that Host go to the file share.
http_default_host = "{upload}"
c2s_require_encryption = true
allow_registration = false
authentication = "internal_plain"
storage = "internal"
archive_expires_after = "never"
default_archive_policy = true
max_archive_query_results = 250
smacks_hibernation_time = 300
admin_socket = "{dir}/admin.sock"
log = {{ {{ levels = {{ min = "{level}" }}, to = "file", filename = "{dir}/prosody.log" }} }}
ssl = {{ certificate = "{cert}", key = "{key}" }}
modules_enabled = {{
  "roster"; "saslauth"; "tls"; "disco"; "carbons"; "pep"; "private"; "bookmarks"; "blocklist";
  "vcard4"; "vcard_legacy"; "version"; "uptime"; "time"; "ping"; "mam"; "smacks";
  "csi_simple"; "admin_shell"; "admin_socket"; "posix"; "offline";
}}
modules_disabled = {{ "s2s" }}

{vhosts}

Component "{muc}" "muc"
  modules_enabled = {{ "muc_mam" }}
  muc_log_by_default = true
  muc_log_all_rooms = true
  restrict_room_creation = false

Component "{upload}" "http_file_share"
  http_file_share_size_limit = 16 * 1024 * 1024
  http_file_share_access = {{ }}
"""

CLIENT_CONF = """\
# tuiclient config for {name}, pointing at the test harness's servers.
ca_file = "{ca}"

[[accounts]]
name = "{name}"
email = "{email}"
jid = "{jid}"
display_name = "{display}"
password_command = "{pwcmd}"

[accounts.imap]
host = "127.0.0.1"
port = {imaps}
tls = "tls"

[accounts.smtp]
host = "127.0.0.1"
port = {submission}
tls = "starttls"

[accounts.xmpp]
host = "127.0.0.1"
port = {c2s}
tls = "starttls"
"""
