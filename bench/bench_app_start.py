"""The app's start as a user sees it, on a 100k-message store: prints figures.

    python bench/bench_app_start.py [--n 100000] [--threads 20000] [--runs 7] [--keep DIR]
    python bench/bench_app_start.py --empty [--runs 9] [--trees DIR,DIR]

Builds a store of synthetic mail and chat (bench_store.synthetic: no servers) where
the app looks for it ($XDG_DATA_HOME), with a config whose account points at a
closed port (the app starts its engine as usual: the failed logins must not hold up
the screen). Then, several times over:

- start: a fresh `python -m tuiclient` in a pseudo-terminal of 140x40, from just
  before the process is spawned until the terminal has received the first frame
  with the list drawn (the text of the list's first row read back from the pty);
  process start, interpreter, imports, config, store and first paint included;
- open a thread: Enter on the first row, from writing the key to the pty until
  the conversation's title has come back (`<subject> · N messages`);
- and, for reference in the same run, `python -c pass`, `import textual.app` and
  `import tuiclient.app` (everything the app imports) as fresh processes.

With `--empty` (row 6 of issue 22): an empty store instead, and the first frame
is the main screen's footer on the terminal; beside the wall clock it prints the
CPU the process had used by then (user+sys from /proc, its children included),
the figure to read on a busy machine. `--trees` runs the same under the other
trees' checkouts (each with its own .venv), one after the other in every run, so
a before/after pair shares the machine's load.

Medians of the runs, with the fastest and slowest. Asserts nothing.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty  # noqa: F401  (POSIX only, like the app's terminal driver)
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_store import synthetic
from bridge.store import Store

ROOT = Path(__file__).resolve().parent.parent
COLUMNS, LINES = 140, 40
CONFIG = """
[[accounts]]
name = "bench"
email = "me@example.org"
password_command = "false"

[accounts.imap]
host = "127.0.0.1"
port = 9
tls = "plain"
"""
TIMEOUT = 30.0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def spread(times: list[float]) -> str:
    if not times:
        return "none"
    return (f"median {ms(statistics.median(times))}   min {ms(min(times))}   "
            f"max {ms(max(times))}   (n={len(times)})")


def clean_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "PYTHON"))}
    env.update(XDG_DATA_HOME=str(root / "data"), XDG_CONFIG_HOME=str(root / "config"),
               XDG_STATE_HOME=str(root / "state"), XDG_CACHE_HOME=str(root / "cache"),
               TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES),
               PYTHONPATH=str(ROOT), EDITOR="true")
    return env


def cpu_seconds(pid: int) -> float:
    """User+sys CPU of process `pid` and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def empty_frames(trees: list[Path], runs: int) -> None:
    """Row 6: the first frame on an empty store, wall clock and CPU, per tree."""
    walls: dict[Path, list[float]] = {t: [] for t in trees}
    cpus: dict[Path, list[float]] = {t: [] for t in trees}
    with tempfile.TemporaryDirectory(prefix="bench-frame-") as tmp:
        root = Path(tmp)
        config = root / "config.toml"
        config.write_text(CONFIG)
        config.chmod(0o600)
        for tree in trees:  # warm the page cache and the .pyc files
            python_time("import tuiclient.app", {**clean_env(root), "PYTHONPATH": str(tree)},
                        python=str(tree / ".venv" / "bin" / "python"), cwd=tree)
        for run in range(runs):
            for tree in trees:
                data = root / f"run{run}-{tree.name}"
                env = {**clean_env(data), "PYTHONPATH": str(tree)}
                argv = [str(tree / ".venv" / "bin" / "python"), "-m", "tuiclient",
                        "--config", str(config)]
                term = Terminal(argv, env, cwd=tree)
                try:
                    drawn = term.wait_for(b"quit")
                    cpus[tree].append(cpu_seconds(term.process.pid))
                    walls[tree].append(drawn - term.started)
                finally:
                    term.close()
    load = os.getloadavg()
    print(f"first frame, empty store, terminal {COLUMNS}x{LINES}, {runs} runs, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for tree in trees:
        print(f"{tree!s:32} wall {spread(walls[tree])}")
        print(f"{'':32} CPU  {spread(cpus[tree])}")


def python_time(code: str, env: dict[str, str], python: str = sys.executable,
                cwd: Path = ROOT) -> float:
    t0 = time.perf_counter()
    subprocess.run([python, "-c", code], env=env, cwd=cwd, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


class Terminal:
    """The app in a pseudo-terminal: what it writes is read back and searched."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.output = bytearray()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                        env=env, cwd=cwd, start_new_session=True,
                                        close_fds=True)
        os.close(slave)

    def wait_for(self, needle: bytes, since: int = 0, timeout: float = TIMEOUT) -> float:
        """Read until `needle` is in what came after byte `since`; the time it did."""
        deadline = time.perf_counter() + timeout
        while needle not in self.output[since:]:
            left = deadline - time.perf_counter()
            if left <= 0 or self.process.poll() is not None:
                tail = bytes(self.output[-600:]).decode("utf-8", "replace")
                raise RuntimeError(f"{needle!r} never came (exit {self.process.poll()}): "
                                   f"...{tail!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the other side closed
                    chunk = b""
                self.output += chunk
        return time.perf_counter()

    def send(self, keys: bytes) -> float:
        t = time.perf_counter()
        os.write(self.master, keys)
        return t

    def close(self) -> None:
        try:
            self.send(b"q")
            self.process.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.master)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="messages in the store")
    parser.add_argument("--threads", type=int, default=20_000, help="conversations")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the store here and keep it")
    parser.add_argument("--empty", action="store_true",
                        help="row 6: the first frame on an empty store, with its CPU")
    parser.add_argument("--trees", default=str(ROOT),
                        help="with --empty: checkouts to alternate, comma-separated")
    args = parser.parse_args()
    if args.empty:
        empty_frames([Path(t).resolve() for t in args.trees.split(",")], args.runs)
        return
    tmp = None
    if args.keep:
        root = args.keep.resolve()
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-start-")
        root = Path(tmp.name)
    (root / "data" / "tuiclient").mkdir(parents=True, exist_ok=True, mode=0o700)
    config = root / "config.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    path = root / "data" / "tuiclient" / "store.db"
    store = Store.open(path)
    if not store.count_messages("bench"):
        t0 = time.perf_counter()
        store.insert_messages(synthetic(args.n, args.threads))
        while store.index_backlog(limit=50_000):
            pass
        print(f"fill            {time.perf_counter() - t0:6.1f} s")
    first = store.list_threads(None, limit=1)[0]
    count = store.count_messages("bench")
    store.close()
    # What the first row and the open conversation show (see tuiclient's widgets).
    row_text = (first.subject or first.snippet)[:24].encode()
    title = f"{first.subject} · {first.message_count} message".encode()
    print(f"app start bench: {count} messages, {args.threads} conversations, "
          f"terminal {COLUMNS}x{LINES}, {args.runs} runs, Python {sys.version.split()[0]}")

    env = clean_env(root)
    argv = [sys.executable, "-m", "tuiclient", "--config", str(config)]
    python_time("import tuiclient.app", env)  # warm the page cache and the .pyc files
    starts: list[float] = []
    opens: list[float] = []
    bare: list[float] = []
    textual: list[float] = []
    ours: list[float] = []
    for _ in range(args.runs):
        bare.append(python_time("pass", env))
        textual.append(python_time("import textual.app", env))
        ours.append(python_time("import tuiclient.app", env))
        term = Terminal(argv, env)
        try:
            drawn = term.wait_for(row_text)
            starts.append(drawn - term.started)
            mark = len(term.output)
            pressed = term.send(b"\r")
            opens.append(term.wait_for(title, since=mark) - pressed)
        finally:
            term.close()
    print(f"python -c pass          {spread(bare)}")
    print(f"import textual.app      {spread(textual)}")
    print(f"import tuiclient.app    {spread(ours)}   (all the app's imports)")
    print(f"start to first frame    {spread(starts)}   (process spawn to the list on the "
          f"terminal; target <= 1000 ms)")
    print(f"open a thread           {spread(opens)}   (Enter to the conversation on the "
          f"terminal, {first.message_count} messages)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
