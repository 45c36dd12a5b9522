"""Issue 22's moments, ours next to neomutt, aerc and notmuch, measured in one run.

    .venv/bin/python -m bench.bench_side_by_side [--n 10000] [--runs 3] [--cli-runs 10]
                                                 [--only 1,2,...] [--keep]
                                                 [--trees DIR,DIR] (rows 1 and 6)
    (--n 300000 --runs 1 --cli-runs 5: ~12 minutes on 2 cores, 6 of them notmuch new)

Installs the anchors when missing (bench/anchors.sh: apt-get install neomutt aerc
notmuch tmux), starts the harness's real Dovecot (tests/harness/servers.py World),
and builds the mail once with bench/mailgen.py:

- alice: INBOX of N messages, plus one "Oldest inbox marker" dated before all of them
  (the oldest conversation, for the scroll row);
- bob: an Archive of the same N messages (hard links of alice's files) and a small
  INBOX (--inbox 200) plus one "Newest inbox marker" dated after everything;
- notmuch: a Maildir of alice's INBOX files (hard links), indexed by `notmuch new`.

Every client reaches Dovecot over IMAP with implicit TLS on the loopback (the harness's
imaps port), trusting the harness's own CA; the bench's Dovecot gets a larger
`vsz_limit` first (raise_dovecot_memory: at 300k the default broke it). Terminal
clients (our TUI, neomutt, aerc) run in a private tmux server (bench/tmux.py): the
clock starts at the launch command or the key sent, and stops at the first
capture-pane that shows the expected text. CLI commands are whole processes, timed
from spawn to exit. Each figure is the median of its runs, with the best in
parentheses when there were more than two. Rows (the table of issue 22):

  1 newest INBOX mail on screen, bob's big Archive listed before INBOX, empty caches
    (ours, neomutt's header cache; and before every run of every client the server's
    index of the Archive is removed, so each run finds the server as the first did:
    `cold_archive`)
  2 whole-process commands, warm: ours --help / list / search vs notmuch search, neomutt -h
  3 first search after a cold sync: ours `sync` then `search`; notmuch `new` then
    `search`; neomutt limit `~s budget` right after its cold open
  4 from: filter: ours whole process and in process vs notmuch whole process
  5 scroll to the oldest conversation (G; neomutt End) on a loaded mailbox
  6 TUI first frame, empty store, vs neomutt's first frame (an empty local Maildir)
  7 cold header sync of alice's INBOX: ours in process (MailSync) vs neomutt's open
    with an empty header cache
  8 RSS with the mailbox loaded (VmRSS of the process in the tmux pane)

With `--trees A,B`, rows 1 and 6 run our TUI from each checkout in turn (its own
.venv), run after run, so a before/after pair shares the machine's load; the
table shows the first tree, a block after it every tree's wall clock and CPU (user
+sys of the app's process when the moment was on the screen).

Asserts nothing about time; a moment that never comes is printed as "not reached".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.anchors import Aerc, ImapAccount, Neomutt, Notmuch, ensure_installed  # noqa: E402
from bench.mailbox import (  # noqa: E402
    NEWEST,
    OLDEST,
    Mail,
    build_mail,
    raise_dovecot_memory,
)
from bench.report import Figure, Row, machine, table, utc_now  # noqa: E402 (bench_chat once took them from here)
from bench.tmux import ScreenTimeout, Tmux, rss_mib  # noqa: E402
from tests.harness.servers import Account, World  # noqa: E402

FIRST_FRAME = "q quit"  # our footer: the whole first frame is on the terminal
LIST_ROW = re.compile(r"✉ .*#\d+")  # a mail conversation row of ours
SEARCH_WORD = "budget"
FROM_NAME = "nakamura"
TIMEOUT = 180.0


# -- the bench --------------------------------------------------------------------
class Bench:
    def __init__(self, world: World, mail: Mail, work: Path, runs: int, cli_runs: int,
                 omemo: bool = True, trees: list[Path] | None = None) -> None:
        self.world, self.mail, self.work = world, mail, work
        # Checkouts whose TUI rows 1 and 6 run in turn (the first one's is the table's).
        self.trees = trees or [ROOT]
        self.cpu: dict[str, list[float]] = {}  # figure key -> CPU of each run
        self.runs, self.cli_runs = runs, cli_runs
        self.omemo = omemo  # [crypto] omemo of our config (on by default, as a user's)
        self.tmux = Tmux()
        self.configs = {a.name: self.our_config(a) for a in (mail.alice, mail.bob)}
        self.figures: dict[str, Figure] = {}
        self.alice_imap = ImapAccount(mail.alice.email, mail.alice.password,
                                      world.ports.imaps, world.ca_file)
        self.bob_imap = ImapAccount(mail.bob.email, mail.bob.password,
                                    world.ports.imaps, world.ca_file)
        self.warm_data: Path | None = None  # alice's synced store (XDG_DATA_HOME)

    def fig(self, key: str, who: str, unit: str = "s", note: str = "") -> Figure:
        return self.figures.setdefault(key, Figure(who, unit=unit, note=note))

    # -- ours ---------------------------------------------------------------------
    def our_config(self, account: Account) -> Path:
        home = self.work / f"ours-{account.name}"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = home / "password"
        secret.write_text(account.password + "\n")
        secret.chmod(0o600)
        config = home / "config.toml"
        text = self.world.client_config(account, f"cat {secret}")
        config.write_text(text if self.omemo else text + "\n[crypto]\nomemo = false\n")
        config.chmod(0o600)
        return config

    def our_env(self, data: Path) -> dict[str, str]:
        return {"XDG_DATA_HOME": str(data), "XDG_CONFIG_HOME": str(data / "config"),
                "XDG_STATE_HOME": str(data / "state"), "XDG_CACHE_HOME": str(data / "cache"),
                "TERM": "screen-256color", "LANG": "C.UTF-8"}

    def fresh_data(self, name: str) -> Path:
        data = self.work / "data" / f"{name}-{time.monotonic_ns()}"
        data.mkdir(parents=True)
        return data

    def our_tui(self, account: str, data: Path, tree: Path = ROOT) -> list[str]:
        python = sys.executable if tree == ROOT else str(tree / ".venv" / "bin" / "python")
        return [python, "-m", "tuiclient", "--config", str(self.configs[account])]

    def tree_key(self, key: str, tree: Path) -> str:
        """The figure of `key` for `tree`: the table's own for the first tree."""
        return key if tree == self.trees[0] else f"{key}@{tree}"

    def ours_per_tree(self, key: str, account: str, expected: str | re.Pattern[str],
                      before: Callable[[], None] = lambda: None) -> None:
        """Rows 1 and 6: our TUI from every tree in turn, each run; wall clock to
        `expected` on the screen, and the CPU its process had used by then."""
        for _ in range(self.runs):
            for tree in self.trees:
                key_of_tree = self.tree_key(key, tree)
                figure = self.fig(key_of_tree, "TUI" if key == "1.ours" else "TUI first frame")
                data = self.fresh_data(account)
                before()
                start = self.tmux.launch("ours", self.our_tui(account, data, tree),
                                         self.our_env(data), cwd=str(tree))
                if self.timed(figure, "ours", start, expected):
                    with contextlib.suppress(OSError, RuntimeError, ValueError):
                        self.cpu.setdefault(key_of_tree, []).append(
                            _cpu(self.tmux.pane_pid("ours")))
                self.stop("ours")

    def cold_archive(self) -> None:
        """Drop the server's index of bob's Archive (Dovecot's dovecot.index*
        files; the UID list stays): the next client that asks for its counts waits
        for the server to build it again (0.15-0.36 s at 100,000 messages), as the
        first client after the mail was built did. Before every run of row 1, so
        that no run finds the index another client's run left behind."""
        for path in (self.world.maildir(self.mail.bob) / ".Archive").glob("dovecot.index*"):
            path.unlink(missing_ok=True)

    def our_cli(self, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.our_env(data)}
        return subprocess.run([sys.executable, "-m", "tuiclient", "--config",
                               str(self.configs["alice"]), *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=TIMEOUT * 4, check=False)

    # -- running a terminal client ------------------------------------------------
    def stop(self, name: str) -> None:
        """End the program in session `name` and all it started; wait until gone."""
        try:
            pid = self.tmux.pane_pid(name)
        except (RuntimeError, ValueError):
            self.tmux.kill(name)
            return
        family = [pid, *_children(pid)]
        self.tmux.kill(name)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in family):
            time.sleep(0.05)
        for p in family:
            if _alive(p):
                os.kill(p, signal.SIGKILL)

    def timed(self, figure: Figure, name: str, start: float,
              expected: str | re.Pattern[str] | Callable[[str], bool]) -> bool:
        try:
            figure.runs.append(self.tmux.wait_for(name, expected, TIMEOUT) - start)
            return True
        except ScreenTimeout as exc:
            figure.failed = str(exc).splitlines()[0]
            print(f"  ! {exc}", file=sys.stderr)
            return False

    # -- the moments --------------------------------------------------------------
    def first_frame(self) -> None:
        """Row 6: our first frame on an empty store; neomutt's on an empty Maildir."""
        self.ours_per_tree("6.ours", "alice", FIRST_FRAME)
        neo = Neomutt(self.work / "neomutt-empty", self.alice_imap)
        empty = self.work / "empty-maildir"
        for sub in ("cur", "new", "tmp"):
            (empty / sub).mkdir(parents=True, exist_ok=True)
        ref = self.fig("6.neomutt", "neomutt", note="empty local Maildir")
        for _ in range(self.runs):
            start = self.tmux.launch("neomutt", neo.argv("-f", str(empty)), neo.env())
            self.timed(ref, "neomutt", start, Neomutt.loaded(0))
            self.stop("neomutt")

    def newest_inbox(self) -> None:
        """Row 1: bob's newest INBOX mail on screen, his big Archive listed before."""
        self.ours_per_tree("1.ours", "bob", NEWEST, before=self.cold_archive)
        neo = Neomutt(self.work / "neomutt-bob", self.bob_imap)
        ref = self.fig("1.neomutt", "neomutt", note="header cache empty")
        for _ in range(self.runs):
            neo.cold()
            self.cold_archive()
            start = self.tmux.launch("neomutt", neo.argv(), neo.env())
            self.timed(ref, "neomutt", start, NEWEST)
            self.stop("neomutt")
        aerc = Aerc(self.work / "aerc-bob", self.bob_imap)
        ref = self.fig("1.aerc", "aerc")
        for _ in range(self.runs):
            self.cold_archive()
            start = self.tmux.launch("aerc", aerc.argv(), aerc.env())
            self.timed(ref, "aerc", start, NEWEST)
            self.stop("aerc")

    def cold_sync_ours(self) -> None:
        """Rows 7 and 3 (ours): MailSync of alice's INBOX into an empty store, in
        process; then `tuiclient sync` and the first `search` as whole processes."""
        from bridge.config import AccountConfig, ServerConfig
        from bridge.mail.connect import open_imap
        from bridge.mail.imap_fetch import search_uids, stream_fetch, uid_set
        from bridge.mail.sync import HEADER_ITEMS, MailSync
        from bridge.store import Store

        alice = self.mail.alice
        imap = ServerConfig("127.0.0.1", self.world.ports.imaps, "tls", self.world.ca_file)
        account = AccountConfig(name="alice", email=alice.email, jid=alice.jid, imap=imap)
        # Dovecot fills its cache of a mailbox's header fields for the first client
        # that asks for them; neomutt's open comes later and finds it made, so
        # ours must not pay for it either: one unmeasured read of the same items.
        warm = open_imap(imap, alice.email, alice.password)
        try:
            warm.select_folder("INBOX", readonly=True)
            every = search_uids(warm, b"ALL")
            for start in range(0, len(every), 5000):
                for _ in stream_fetch(warm, uid_set(every[start:start + 5000]), HEADER_ITEMS):
                    pass
        finally:
            warm.logout()
        cold = self.fig("7.ours", "MailSync, in process")
        first = self.fig("3.ours.inproc", "any index backlog + first search, in process")
        cpu: list[float] = []
        for _ in range(self.runs):
            db = self.fresh_data("mailsync") / "store.db"
            store = Store.open(db)
            own0 = resource.getrusage(resource.RUSAGE_SELF)
            kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            sync = MailSync(account, lambda: alice.password, store)
            sync.sync_folder("INBOX")
            cold.runs.append(time.perf_counter() - t0)
            sync.close()  # reaps the parser child, whose CPU then counts
            own1 = resource.getrusage(resource.RUSAGE_SELF)
            kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(own1.ru_utime - own0.ru_utime + own1.ru_stime - own0.ru_stime
                       + kids1.ru_utime - kids0.ru_utime + kids1.ru_stime - kids0.ru_stime)
            early = len(store.search(SEARCH_WORD, limit=30))
            t0 = time.perf_counter()
            while store.index_backlog():
                pass
            hits = store.search(SEARCH_WORD, limit=30)
            first.runs.append(time.perf_counter() - t0)
            first.note = f"{len(hits)} hits; {early} before any backlog ran"
            store.close()
        cold.note = (f"CPU user+sys with the parser child {statistics.median(cpu):.2f} s; "
                     f"load average {os.getloadavg()[0]:.1f} after it")
        whole_sync = self.fig("3.ours.sync", "`tuiclient sync` (all folders, XMPP)")
        search = self.fig("3.ours", "first `search` after it, whole process")
        for _ in range(self.runs):
            data = self.fresh_data("alice")
            t0 = time.perf_counter()
            done = self.our_cli(data, "sync")
            took = time.perf_counter() - t0
            stored = _stored(data)
            if done.returncode != 0 or stored < self.mail.n + 1:
                # Not a figure: a sync that broke off early would read as a fast one,
                # and a search on what it left as a search of the mailbox.
                whole_sync.failed = (f"exit {done.returncode} after {took:.1f} s, "
                                     f"{stored:,} of {self.mail.n + 1:,} stored: "
                                     f"{done.stderr.strip()[-200:]}")
                search.failed = "the sync before it broke off"
                print(f"  ! tuiclient sync: {whole_sync.failed}", file=sys.stderr)
                continue
            whole_sync.runs.append(took)
            whole_sync.note = f"{stored:,} stored"
            t0 = time.perf_counter()
            out = self.our_cli(data, "search", SEARCH_WORD)
            search.runs.append(time.perf_counter() - t0)
            search.note = f"{_hits(out.stdout)} hits"
            self.warm_data = data
        if self.warm_data is None:
            raise RuntimeError(f"no synced store for rows 2, 4, 5, 8: `tuiclient sync` "
                               f"{whole_sync.failed}")

    def notmuch(self) -> None:
        """Rows 3, 2 and 4 (notmuch): `notmuch new` from nothing, first search, warm."""
        nm = Notmuch(self.work / "notmuch", self.world.maildir(self.mail.alice) / "cur")
        new = self.fig("3.notmuch.new", "notmuch new (index from nothing)")
        first = self.fig("3.notmuch", "notmuch first search")
        for _ in range(self.runs):
            nm.wipe()
            new.runs.append(_run(nm.argv("new", "--quiet"), nm.env()))
            first.runs.append(_run(nm.argv("search", "--limit=30", SEARCH_WORD), nm.env()))
        for key, args in (("2.notmuch.list", ("search", "--limit=30", "*")),
                          ("2.notmuch.search", ("search", "--limit=30", SEARCH_WORD)),
                          ("4.notmuch", ("search", "--limit=30", f"from:{FROM_NAME}"))):
            fig = self.fig(key, f"notmuch {' '.join(args)}")
            for _ in range(self.cli_runs):
                fig.runs.append(_run(nm.argv(*args), nm.env()))

    def cli_warm(self) -> None:
        """Rows 2 and 4 (ours): warm whole-process commands on alice's synced store;
        the in-process from: filter; neomutt -h and bare Python for reference."""
        assert self.warm_data is not None, "cold_sync_ours runs first"
        data = self.warm_data
        env = {**os.environ, **self.our_env(data)}
        # As an installed program runs: its modules' bytecode cached. Inherited,
        # PYTHONDONTWRITEBYTECODE (set in the sessions' shells) kept the warm-up
        # from writing __pycache__, and every run compiled each module from source
        # (--help 95 instead of 72 ms CPU, list 185 instead of 126: bench_cli.py).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        base = [sys.executable, "-m", "tuiclient", "--config", str(self.configs["alice"])]
        commands = {"2.python": ("python -c pass", [sys.executable, "-c", "pass"]),
                    "2.help": ("tuiclient --help", [*base, "--help"]),
                    "2.list": ("tuiclient list", [*base, "list"]),
                    "2.search": (f"tuiclient search {SEARCH_WORD}",
                                 [*base, "search", SEARCH_WORD]),
                    "4.ours": (f"tuiclient search from:{FROM_NAME}",
                               [*base, "search", f"from:{FROM_NAME}"]),
                    "2.neomutt": ("neomutt -h", ["neomutt", "-h"])}
        for _label, argv in commands.values():  # warm the page cache and the .pyc files
            _run(argv, env)
        for _ in range(self.cli_runs):
            for key, (label, argv) in commands.items():
                self.fig(key, label).runs.append(_run(argv, env))
        from bridge.store import Store

        store = Store.open(data / "tuiclient" / "store.db")
        fig = self.fig("4.ours.inproc", f"store.search('from:{FROM_NAME}'), in process")
        for _ in range(self.cli_runs):
            t0 = time.perf_counter()
            hits = store.search(f"from:{FROM_NAME}", limit=30)
            fig.runs.append(time.perf_counter() - t0)
        fig.note = f"{len(hits)} hits, limit 30"
        store.close()

    def scroll_ours(self) -> None:
        """Rows 5 and 8 (ours): the TUI on alice's synced store; G to the oldest;
        RSS once there."""
        assert self.warm_data is not None
        fig = self.fig("5.ours", "TUI G (again while it stops short), warm store")
        rss = self.fig("8.ours", "TUI", unit="MiB")
        for _ in range(self.runs):
            self.tmux.launch("ours", self.our_tui("alice", self.warm_data),
                             self.our_env(self.warm_data), cwd=str(ROOT))
            try:
                self.tmux.wait_for("ours", LIST_ROW, TIMEOUT)
                self.tmux.wait_for("ours", re.compile(r"imap \d+ms"), TIMEOUT)
                time.sleep(1.0)  # the warm resync (nothing new) is over
            except ScreenTimeout as exc:
                fig.failed = str(exc).splitlines()[0]
                print(f"  ! {exc}", file=sys.stderr)
                self.stop("ours")
                continue
            try:
                first, shown, presses = self.tmux.press_until("ours", "G", OLDEST,
                                                              timeout=TIMEOUT)
            except ScreenTimeout as exc:
                fig.failed = str(exc).splitlines()[0]
                print(f"  ! {exc}", file=sys.stderr)
            else:
                fig.runs.append(shown - first)
                fig.note = (f"{presses} presses of G, each after 0.1 s of a still screen"
                            if presses > 1 else "")
                time.sleep(1.0)
                pid = self.tmux.pane_pid("ours")
                rss.runs.append(rss_mib(pid))
                rss.note = f"with children {rss_mib(pid, with_children=True):.0f} MiB"
            self.stop("ours")

    def neomutt_alice(self) -> None:
        """Rows 7, 3, 5 and 8 (neomutt): cold open of alice's INBOX, limit, End, RSS."""
        neo = Neomutt(self.work / "neomutt-alice", self.alice_imap)
        total = self.mail.n + 1
        cold = self.fig("7.neomutt", "neomutt open, header cache empty")
        limit = self.fig("3.neomutt", "neomutt limit ~s budget")
        end = self.fig("5.neomutt", "neomutt End")
        rss = self.fig("8.neomutt", "neomutt", unit="MiB")
        for _ in range(self.runs):
            neo.cold()
            start = self.tmux.launch("neomutt", neo.argv(), neo.env())
            if not self.timed(cold, "neomutt", start, Neomutt.loaded(total)):
                self.stop("neomutt")
                continue
            rss.runs.append(rss_mib(self.tmux.pane_pid("neomutt")))
            self.tmux.send("neomutt", "l")
            self.tmux.wait_for("neomutt", "Limit to messages", TIMEOUT)
            self.tmux.send("neomutt", "-l", f"~s {SEARCH_WORD}")
            pressed = self.tmux.send("neomutt", "Enter")
            self.timed(limit, "neomutt", pressed, f"lim=~s {SEARCH_WORD}")
            self.tmux.send("neomutt", "l")
            self.tmux.wait_for("neomutt", "Limit to messages", TIMEOUT)
            self.tmux.send("neomutt", "-l", "all")
            self.tmux.send("neomutt", "Enter")
            self.tmux.wait_for("neomutt", f"shown={total} ", TIMEOUT)
            pressed = self.tmux.send("neomutt", "End")
            self.timed(end, "neomutt", pressed, OLDEST)
            self.stop("neomutt")

    def aerc_alice(self) -> None:
        """Rows 5 and 8 (aerc): open alice's INBOX, G to the oldest, RSS."""
        aerc = Aerc(self.work / "aerc-alice", self.alice_imap)
        end = self.fig("5.aerc", "aerc G")
        rss = self.fig("8.aerc", "aerc", unit="MiB")
        for _ in range(self.runs):
            self.tmux.launch("aerc", aerc.argv(), aerc.env())
            try:
                self.tmux.wait_for("aerc", re.compile(r"Re: .*#\d+|[A-Z][a-z]+ #\d+"), TIMEOUT)
            except ScreenTimeout as exc:
                end.failed = str(exc).splitlines()[0]
                print(f"  ! {exc}", file=sys.stderr)
                self.stop("aerc")
                continue
            time.sleep(0.5)
            pressed = self.tmux.send("aerc", "G")
            if self.timed(end, "aerc", pressed, OLDEST):
                time.sleep(1.0)
                rss.runs.append(rss_mib(self.tmux.pane_pid("aerc")))
            self.stop("aerc")

    def close(self) -> None:
        self.tmux.close()


def _run(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def _cpu(pid: int) -> float:
    """User+sys CPU seconds of process `pid` and its waited-for children so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def per_tree(b: Bench) -> list[str]:
    """Rows 1 and 6 of every tree (`--trees`): wall clock and CPU, each run."""
    lines = []
    for key, what in (("1.ours", "row 1, newest INBOX mail"), ("6.ours", "row 6, first frame")):
        for tree in b.trees:
            figure = b.figures.get(b.tree_key(key, tree))
            if figure is None:
                continue
            cpu = b.cpu.get(b.tree_key(key, tree), [])
            wall = " ".join(f"{t * 1000:.0f}" for t in figure.runs)
            used = " ".join(f"{t * 1000:.0f}" for t in cpu)
            lines.append(f"{what:26} {tree!s:28} wall {figure.text():24} runs [{wall}] ms"
                         + (f"; CPU median {statistics.median(cpu) * 1000:.0f} ms "
                            f"runs [{used}]" if cpu else ""))
    return lines


def _stored(data: Path) -> int:
    """Messages in the store under XDG_DATA_HOME `data` (0 when there is none)."""
    path = data / "tuiclient" / "store.db"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    finally:
        db.close()


def _hits(stdout: str) -> int:
    return sum(1 for line in stdout.splitlines() if line.startswith("#"))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid: int) -> list[int]:
    from bench.tmux import _descendants

    return _descendants(pid)


# -- the report -------------------------------------------------------------------
def rows(b: Bench, n: int, small: int, broken: dict[int, str] | None = None) -> list[Row]:
    """The table's rows; a figure of a row whose step broke (`broken`: row -> why)
    says why instead of being left out."""
    broken = broken or {}

    def f(key: str) -> Figure | None:
        number = int(key.split(".", 1)[0])
        figure = b.figures.get(key)
        if number not in broken:
            return figure
        if figure is None:
            return Figure("", failed=broken[number])
        if not figure.runs and not figure.failed:
            figure.failed = broken[number]
        return figure

    big = f"{n:,}"
    return [
        Row(1, f"newest INBOX mail on screen ({small}-message INBOX, {big} in an Archive "
               "listed before it), empty store / caches", f("1.ours"), f("1.neomutt"),
            "<= 0.3 s"),
        Row(1, "", f("1.ours"), f("1.aerc")),
        Row(2, "`--help`, whole process, warm", f("2.help"), f("2.neomutt"), "<= 60 ms"),
        Row(2, "`list`, whole process, warm", f("2.list"), f("2.notmuch.list"), "<= 60 ms"),
        Row(2, "`search`, whole process, warm", f("2.search"), f("2.notmuch.search"),
            "<= 60 ms"),
        Row(2, "(floor: the venv's bare Python)", f("2.python"), f("2.notmuch.search")),
        Row(3, f"first search right after a cold sync of {big}", f("3.ours"), f("3.neomutt"),
            "<= 0.3 s, UI never blocked"),
        Row(3, "", f("3.ours"), f("3.notmuch")),
        Row(3, "", f("3.ours.inproc"), f("3.neomutt")),
        Row(3, "(the sync / indexing before it)", f("3.ours.sync"), f("3.notmuch.new")),
        Row(4, f"`from:` filter, {big}", f("4.ours.inproc"), f("4.notmuch"),
            "<= 20 ms in process"),
        Row(4, "", f("4.ours"), f("4.notmuch")),
        Row(5, f"scroll to the oldest conversation ({big} messages)", f("5.ours"),
            f("5.aerc"), "<= 0.1 s"),
        Row(5, "", f("5.ours"), f("5.neomutt")),
        Row(6, "TUI first frame, empty store", f("6.ours"), f("6.neomutt"), "<= 0.35 s"),
        Row(7, f"cold header sync, {big}-message INBOX", f("7.ours"), f("7.neomutt"),
            "<= 0.5x neomutt"),
        Row(8, f"RSS with the {big}-message INBOX loaded", f("8.ours"), f("8.aerc"),
            "<= aerc"),
        Row(8, "", f("8.ours"), f("8.neomutt")),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="messages in the big mailbox")
    ap.add_argument("--inbox", type=int, default=200, help="bob's small INBOX (row 1)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each terminal moment")
    ap.add_argument("--cli-runs", type=int, default=10, help="runs of each CLI command")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8", help="rows to measure")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--trees", default="",
                    help="rows 1 and 6: checkouts (each with its .venv) to run in turn, "
                         "comma-separated; the first one's figures are the table's")
    ap.add_argument("--no-omemo", action="store_true",
                    help="our config with [crypto] omemo = false (row 8: OMEMO's share of RSS)")
    args = ap.parse_args()
    wanted = {int(x) for x in args.only.split(",")}
    # Every process of ours (tmux panes too) runs as an installed program does,
    # its modules' bytecode cached: PYTHONDONTWRITEBYTECODE, set in the sessions'
    # shells, made each run compile every module from source (see cli_warm).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    trees = [Path(t).resolve() for t in args.trees.split(",") if t] or [ROOT]
    for tree in {ROOT, *trees}:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "bridge"),
                        str(tree / "tuiclient")], check=False)
    versions = ensure_installed()
    load_at_start, began = os.getloadavg(), utc_now()
    work = Path(tempfile.mkdtemp(prefix="bench-sbs-"))
    work.chmod(0o755)
    print(f"side by side: {args.n:,} messages, {args.runs} runs a terminal moment, "
          f"{args.cli_runs} a command; work in {work}", flush=True)
    with World() as world:
        vsz = raise_dovecot_memory(world)
        mail = build_mail(world, args.n, args.inbox)
        print(f"mail built in {mail.built_in:.1f} s; IMAP over implicit TLS on "
              f"127.0.0.1:{world.ports.imaps} (harness CA {world.ca_file}); Dovecot "
              f"vsz_limit {vsz}", flush=True)
        bench = Bench(world, mail, work, args.runs, args.cli_runs, omemo=not args.no_omemo,
                      trees=trees)
        steps: list[tuple[set[int], Callable[[], None]]] = [
            ({6}, bench.first_frame),
            ({1}, bench.newest_inbox),
            ({2, 3, 4, 5, 7, 8}, bench.cold_sync_ours),
            ({2, 3, 4}, bench.notmuch),
            ({2, 4}, bench.cli_warm),
            ({5, 8}, bench.scroll_ours),
            ({3, 5, 7, 8}, bench.neomutt_alice),
            ({5, 8}, bench.aerc_alice),
        ]
        broken: dict[int, str] = {}  # row -> why a step it needs broke
        try:
            for needs, step in steps:
                if needs & wanted:
                    t0 = time.monotonic()
                    print(f"- {step.__name__} ...", end=" ", flush=True)
                    try:
                        step()
                    except Exception as exc:  # one step breaking costs its rows, not the table
                        why = f"{step.__name__} broke: {type(exc).__name__}: " + (
                            str(exc).splitlines() or [""])[0][:160]
                        print(f"{time.monotonic() - t0:.0f} s; {why}", flush=True)
                        traceback.print_exc()
                        for number in needs:
                            broken.setdefault(number, why)
                        continue
                    print(f"{time.monotonic() - t0:.0f} s", flush=True)
        finally:
            bench.close()
    print()
    print(f"taken: {began} to {utc_now()}; {args.n:,} messages, {args.runs} runs a "
          f"terminal moment, {args.cli_runs} a command")
    print("machine: " + "\n         ".join(machine(load_at_start)))
    print("anchors: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("IMAP: implicit TLS (imaps) on loopback for every client, the harness's CA"
          + ("" if bench.omemo else "\nours: [crypto] omemo = false") + "\n")
    for line in table([r for r in rows(bench, args.n, args.inbox, broken)
                       if r.number in wanted and (r.ours or r.ref)]):
        print(line)
    if len(bench.trees) > 1 or bench.cpu:
        print(f"\nper tree (load average at the end {os.getloadavg()[0]:.2f}):")
        for line in per_tree(bench):
            print(line)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
