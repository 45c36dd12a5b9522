"""Regenerate screenshots/ from the real app on the demo world.

    scripts/dev screenshots

Each screen is captured as SVG (Textual's own export) and, where `rsvg-convert`
is installed (Debian's librsvg2-bin), also as PNG.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bridge.config import load_config
from tuiclient.app import TuiClientApp
from tuiclient.widgets.server_status import ServerStatus, state_of

from .demo import Presences, build
from .servers import REPO_ROOT, World

OUT = REPO_ROOT / "screenshots"
SIZE = (140, 40)


def save(app: TuiClientApp, name: str) -> Path:
    OUT.mkdir(exist_ok=True)
    svg = OUT / f"{name}.svg"
    app.save_screenshot(filename=svg.name, path=str(OUT))
    if shutil.which("rsvg-convert"):
        subprocess.run(["rsvg-convert", "-o", str(svg.with_suffix(".png")), str(svg)],
                       check=True)
    return svg


async def capture(config_path: Path) -> list[Path]:
    app = TuiClientApp(load_config(config_path))
    shots = []
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(ServerStatus)
        for _ in range(400):
            states = [state_of(table, "alice", s) for s in ("imap", "smtp", "xmpp")]
            if not any(s.startswith("connecting") for s in states):
                break
            await asyncio.sleep(0.05)
        await pilot.pause()
        shots.append(save(app, "home"))
    return shots


def main() -> int:
    with World() as world:
        people, config_path = build(world)
        os.environ["XDG_DATA_HOME"] = str(world.base / "alice" / "data")
        presences = Presences(world, people)
        presences.start()
        try:
            shots = asyncio.run(capture(config_path))
        finally:
            presences.stop()
    for shot in shots:
        print(shot.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
