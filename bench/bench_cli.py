"""Issue 22 row 2 without servers: whole-process commands, CPU and wall clock,
one or more trees side by side. Prints figures, asserts nothing.

    python bench/bench_cli.py [--n 10000] [--runs 10] [--tree DIR ...]

Fills a store with synthetic mail and chat (bench_store.synthetic) once, then
runs `tuiclient --help`, `list`, `search budget` and `show --no-fetch` as
whole processes on it (and the venv's bare Python), each tree with its own
`.venv/bin/python` (default: this tree only), the trees alternating run by
run so that a change of load falls on all of them alike. For each: the median
and best wall clock, and the median CPU (user + sys of the child, from
`wait4`), which moves much less with the load of a shared machine than the
wall clock does. The load average is printed before and after. The modules'
bytecode is cached as for an installed program (the first run writes
`__pycache__`), unless `--no-bytecode`: with PYTHONDONTWRITEBYTECODE set and no
`__pycache__`, every run compiles each module of the tree from source.

`--work DIR` keeps the config and the store in DIR (built there the first time,
reused after: a 100,000-message store takes a minute or two to fill).

`--importtime COMMAND` prints the `-X importtime` tree of one command (of the
first tree), the 25 heaviest cumulative entries, instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = """
[[accounts]]
name = "bench"
email = "me@example.org"
jid = "me@example.org"
password_command = "false"

[accounts.imap]
host = "127.0.0.1"
port = 9
tls = "plain"
"""

COMMANDS = {
    "bare": ["-c", "pass"],
    "--help": ["-m", "tuiclient", "--help"],
    "list": ["-m", "tuiclient", "--config", "{config}", "list"],
    "search": ["-m", "tuiclient", "--config", "{config}", "search", "budget"],
    "show": ["-m", "tuiclient", "--config", "{config}", "show", "1", "--no-fetch"],
    "outbox": ["-m", "tuiclient", "--config", "{config}", "outbox", "list"],
}


def build(work: Path, n: int) -> Path:
    """The config and a store of N synthetic messages under work/data."""
    from bench.bench_store import synthetic
    from bridge.store import Store

    config = work / "config.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    data = work / "data" / "tuiclient"
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    store = Store.open(data / "store.db")
    store.insert_messages(synthetic(n, max(1, n // 20)))
    while store.index_pending() and store.index_backlog():
        pass
    store.close()
    return config


def run(python: Path, argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(python), *argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="messages in the store")
    ap.add_argument("--runs", type=int, default=10, help="runs of each command and tree")
    ap.add_argument("--tree", action="append", type=Path, default=[],
                    help="a checkout with its own .venv (repeatable; default: this one)")
    ap.add_argument("--only", default=",".join(COMMANDS), help="commands to run")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="run without the modules' cached bytecode (compiled every time, "
                         "as with PYTHONDONTWRITEBYTECODE and no __pycache__)")
    ap.add_argument("--importtime", metavar="COMMAND", help="one command's -X importtime")
    ap.add_argument("--work", type=Path, metavar="DIR",
                    help="keep the config and store here (built once, reused after)")
    args = ap.parse_args()
    trees = [t.resolve() for t in args.tree] or [ROOT]
    only = [c for c in args.only.split(",") if c]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = args.work.resolve() if args.work else Path(tmp)
        built = work / "data" / "tuiclient" / "store.db"
        config = work / "config.toml" if args.work and built.exists() else build(work, args.n)
        env = {**os.environ, "XDG_DATA_HOME": str(work / "data"),
               "XDG_CONFIG_HOME": str(work / "xdg-config"),
               "XDG_STATE_HOME": str(work / "state")}
        env.pop("PYTHONPATH", None)
        if not args.no_bytecode:
            # As an installed program runs: its modules' bytecode cached (__pycache__,
            # written by the warm-up run), not compiled from source every time.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        if args.importtime:
            argv = [a.replace("{config}", str(config)) for a in COMMANDS[args.importtime]]
            done = subprocess.run([str(trees[0] / ".venv/bin/python"), "-X", "importtime",
                                   *argv], env=env, cwd=trees[0], capture_output=True,
                                  text=True, check=False)
            rows = [line.split("|") for line in done.stderr.splitlines()
                    if line.startswith("import time:") and "cumulative" not in line]
            rows.sort(key=lambda r: -int(r[1]))
            for r in rows[:25]:
                print(f"{int(r[1]) / 1000:7.1f} ms cumulative {int(r[0].split(':')[1]) / 1000:6.1f}"
                      f" self  {r[2].rstrip()}")
            return
        print(f"{args.n:,} messages; {args.runs} runs a command and tree; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        times: dict[tuple[str, Path], list[tuple[float, float]]] = {}
        for command in only:
            argv = [a.replace("{config}", str(config)) for a in COMMANDS[command]]
            for tree in trees:  # one warm-up each
                run(tree / ".venv/bin/python", argv, env, tree)
            for _ in range(args.runs):
                for tree in trees:
                    times.setdefault((command, tree), []).append(
                        run(tree / ".venv/bin/python", argv, env, tree))
        for command in only:
            for tree in trees:
                got = times[(command, tree)]
                walls, cpus = [w for w, _ in got], [c for _, c in got]
                print(f"{command:8} {tree.name:20} wall {ms(statistics.median(walls))} "
                      f"(best {ms(min(walls)).strip()})  CPU {ms(statistics.median(cpus))} "
                      f"(best {ms(min(cpus)).strip()})")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
