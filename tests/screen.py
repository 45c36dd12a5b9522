"""What the app draws, read as a person reads it: the text of the screen."""

from __future__ import annotations

import html
import re
from pathlib import Path

from bridge.config import load_config
from bridge.engine import Engine
from bridge.store import Store
from tuiclient.app import TuiClientApp


def drawn_text(svg: str) -> str:
    """The characters of an exported screenshot, without its SVG markup."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg.split("</style>")[-1])).replace("\xa0", " ")


async def drawn_after_opening_first(tmp_path: Path, config_text: str,
                                    store: Store) -> tuple[str, TuiClientApp]:
    """Start the app offline on `store`, open the first conversation with Enter, and
    return what the screen shows, with the app (stopped) to ask what it did."""
    path = tmp_path / "config.toml"
    path.write_text(config_text)
    config = load_config(path)
    app = TuiClientApp(config, probe_on_start=False, start_engine=False,
                       engine=Engine(config, store))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # open the conversation
        for _ in range(10):
            await pilot.pause(0.05)
        drawn = drawn_text(app.export_screenshot())
    return drawn, app
