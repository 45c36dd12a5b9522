"""The benches' figures and tables: a figure's runs, a row beside its reference, the
machine's header (with the load average at the start and the end of a run)."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Figure:
    """One side of a row: a label and its runs (seconds, or MiB when unit says)."""

    who: str
    runs: list[float] = field(default_factory=list)
    unit: str = "s"
    note: str = ""
    failed: str = ""

    @property
    def value(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    def text(self) -> str:
        if self.value is None and not self.who:  # its step broke before it began
            return f"not measured ({self.failed})"
        if self.value is None:
            return f"{self.who}: not reached" + (f" ({self.failed})" if self.failed else "")
        if self.unit == "MiB":
            shown = f"{self.value:.0f} MiB"
        elif self.value < 1:
            shown = f"{self.value * 1000:.0f} ms"
        else:
            shown = f"{self.value:.2f} s"
        if len(self.runs) > 2 and self.unit == "s":
            best = min(self.runs)
            shown += f" (best {best * 1000:.0f} ms)" if best < 1 else f" (best {best:.2f} s)"
        # A run that failed beside ones that came: the median is of fewer runs.
        notes = [self.note] if self.note else []
        if self.failed:
            came = len(self.runs)
            notes.append(f"{came} run{'' if came == 1 else 's'} counted, another failed: "
                         f"{self.failed}")
        return f"{self.who} {shown}" + (f" [{'; '.join(notes)}]" if notes else "")


@dataclass
class Row:
    """One line of the table: our figure next to one reference's."""

    number: int
    moment: str
    ours: Figure | None
    ref: Figure | None
    target: str = ""

    def ratio(self) -> str:
        if self.ours is None or self.ref is None or not self.ours.value or not self.ref.value:
            return "-"
        text = f"{self.ours.value / self.ref.value:.1f}x"
        if self.ours.unit == "s" and len(self.ours.runs) > 2 and len(self.ref.runs) > 2:
            text += f" (best {min(self.ours.runs) / min(self.ref.runs):.1f}x)"
        return text


def machine(load_at_start: tuple[float, ...] | None = None) -> list[str]:
    """The machine's header; the load average now, and at the bench's start when given
    (other work on the machine moves the absolute figures: the ratios are the ones to
    read when the load was high)."""
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dovecot = subprocess.run(["dovecot", "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    load = "load average " + _loads(os.getloadavg())
    if load_at_start is not None:
        load = f"load average at the start {_loads(load_at_start)}, at the end {load[13:]}"
    return [f"{os.cpu_count()} cores, {model}; Linux {platform.release()}",
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"Dovecot {dovecot}; {load}"]


def _loads(loads: tuple[float, ...]) -> str:
    return " ".join(f"{x:.2f}" for x in loads)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def table(rows: list[Row]) -> list[str]:
    lines = ["| # | moment | ours | reference | ours / reference | target (issue 22) |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        ours = row.ours.text() if row.ours else "-"
        ref = row.ref.text() if row.ref else "-"
        lines.append(f"| {row.number} | {row.moment} | {ours} | {ref} | {row.ratio()} "
                     f"| {row.target} |")
    return lines
