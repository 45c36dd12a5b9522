"""Config reload without a restart (issue 21): SIGHUP and `:reload` read the
file again; new [keys] work at once, a clash is told with its file:line, and a
config that does not load is shown (file:line) while the app goes on with the
one it had. No servers: the snapshot tests' fixed store, the engine not started.
"""

from __future__ import annotations

import os
import signal

from bridge.config import load_config
from bridge.engine import Engine
from tests.test_app import pilot_until
from tests.test_app_snapshots import CONFIG, fixed_store
from tuiclient.app import TuiClientApp
from tuiclient.widgets.conversation import ChatReply


def notes(app: TuiClientApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_sighup_and_reload_read_the_config_again_and_show_its_errors(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    app = TuiClientApp(config, probe_on_start=False, start_engine=False,
                       engine=Engine(config, fixed_store(tmp_path / "store.db")))
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await pilot.pause()
        assert app.screen.query_one(ChatReply).placeholder == "press i to reply by IM"
        # SIGHUP: `i` no longer replies by IM, `m` does.
        path.write_text(CONFIG + '\n[keys]\nreply_im = "m"\n')
        os.kill(os.getpid(), signal.SIGHUP)
        assert await pilot_until(pilot, lambda: any(n.startswith("Config reloaded")
                                                    for n in notes(app))), notes(app)
        # The chat input's hint names the key as bound now.
        assert app.screen.query_one(ChatReply).placeholder == "press m to reply by IM"
        await pilot.press("i")
        assert not app.screen.query_one(ChatReply).has_focus
        await pilot.press("m")
        assert app.screen.query_one(ChatReply).has_focus
        await pilot.press("escape")

        # A clash, by `:reload`: told with the file and the line that made it.
        path.write_text(CONFIG + '\n[keys]\nreply_im = "j"\n')
        await pilot.press("colon", *"reload", "enter")
        line = len(CONFIG.splitlines()) + 3
        assert await pilot_until(pilot, lambda: any(
            f"{path}:{line}" in n and "reply_im" in n for n in notes(app))), notes(app)

        # A broken file: the error with its place, and the app keeps going with
        # the keys it had.
        path.write_text(CONFIG + '\n[keys]\nreply_im = "m"\n[notify\n')
        os.kill(os.getpid(), signal.SIGHUP)
        assert await pilot_until(pilot, lambda: any(
            n.startswith("Config not reloaded") and str(path) in n for n in notes(app))), \
            notes(app)
        assert app.is_running and app.config.keys.get("reply_im") == ("j",)
