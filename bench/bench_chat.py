"""Issue 22's chat moments, ours next to a reference measured in the same run.

    .venv/bin/python -m bench.bench_chat [--lines 10000] [--contacts 1000]
                                         [--file-kb 1024] [--runs 3] [--only 9,10,11]

Starts the harness's real servers (tests/harness/servers.py World: Prosody with
mod_mam and HTTP file share, Dovecot, SMTP) on loopback and measures:

  9  MAM catch-up on a new device: --lines chat lines between alice and bob in
     Prosody's archive (filled by bench/chat_clients.py fill_archive: bob writes,
     one line in five goes back from an "old device" of alice's). Ours: the TUI's
     first start with an empty store until the newest line is on screen; the engine
     in process from `start()` until the newest line is stored, then paging back
     (`older_chat`, what scrolling up asks, pages of BULK_PAGE) until all of them
     are stored. Reference:
     the wire floor (bench/chat_clients.py Wire: bare slixmpp, a hand-written MAM
     query) logging in, asking the newest page, and paging the whole archive back
     with the server's largest page (250); Profanity 0.13 with `/mam on` and
     `/msg bob` for the newest line on screen.
  10 a roster of --contacts contacts (written into Prosody's storage). Ours: the
     TUI from launch (`:roster` typed at its first frame) to the roster screen
     showing its first contact ("Contact 0000"); that screen opened again on a
     logged-in app, from the Enter to the same (the app keeps the screen: shown
     again); the first `:roster` of another app logged in already, the same; the
     engine in process from `start()` until `roster()` holds them all. Reference:
     Profanity from launch until its roster panel shows the first contact; the
     wire floor's login + roster get.
  11 a handoff email->IM with history and a --file-kb file: bob's two emails (the
     second with the file) answered by IM with the history and the file. Ours: the
     TUI (open the email, `i`, ctrl+o: history and the file, the text), from the
     Enter that sends until bob's client has the text and the file's link; the
     engine in process from `reply(..., via="im", history=True, attachments=...)`
     to the same. Reference: the wire floor, connected (the history line, an HTTP
     upload of the file with its link, the text); go-sendxmpp as whole processes
     (`-h file`, then the history and the text), login included.

The peer (bob, a bare slixmpp client in this process) stamps each message as it
arrives; terminal programs run in a private tmux server (bench/tmux.py) and a
moment ends at the first capture-pane that shows it. Medians of --runs; "not
reached" says a moment never came (its screen goes to stderr). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_side_by_side import _alive, _children  # noqa: E402
from bench.chat_clients import (  # noqa: E402
    Loop,
    Profanity,
    Wire,
    fake_contacts,
    fill_archive,
    give_roster,
)
from bench.report import Figure, Row, machine, table, utc_now  # noqa: E402
from bench.tmux import ScreenTimeout, Tmux  # noqa: E402
from bridge.xmpp.archive import BULK_PAGE  # noqa: E402
from tests.harness.servers import UPLOAD_DOMAIN, Account, World  # noqa: E402

NEWEST_CHAT = "Newest chat marker"
FRAME = "q quit"  # our footer: the first frame is on the terminal
SUBJECT = "Quarterly plan"
BODY = "the plan is attached"
FILE_NAME = "plan.pdf"
OPTIONS = "Reply by IM: options"  # the reply options' dialog
TIMEOUT = 300.0
PROFANITY_TIMEOUT = 30.0


class ChatBench:
    def __init__(self, world: World, work: Path, runs: int) -> None:
        self.world, self.work, self.runs = world, work, runs
        self.loop = Loop()
        self.tmux = Tmux()
        self.figures: dict[str, Figure] = {}

    def fig(self, key: str, who: str, note: str = "") -> Figure:
        return self.figures.setdefault(key, Figure(who, note=note))

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run(coro, timeout=TIMEOUT * 4)

    # -- ours -----------------------------------------------------------------------
    def config(self, account: Account, extra: str = "") -> Path:
        home = self.work / f"ours-{account.name}"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = home / "password"
        secret.write_text(account.password + "\n")
        secret.chmod(0o600)
        path = home / "config.toml"
        path.write_text(self.world.client_config(account, f"cat {secret}") + extra)
        path.chmod(0o600)
        return path

    def fresh_data(self, name: str) -> Path:
        data = self.work / "data" / f"{name}-{time.monotonic_ns()}"
        data.mkdir(parents=True)
        return data

    def tui(self, name: str, config: Path, data: Path) -> float:
        env = {"XDG_DATA_HOME": str(data), "XDG_CONFIG_HOME": str(data / "config"),
               "XDG_STATE_HOME": str(data / "state"), "XDG_CACHE_HOME": str(data / "cache"),
               "TERM": "screen-256color", "LANG": "C.UTF-8"}
        return self.tmux.launch(name, [sys.executable, "-m", "tuiclient", "--config",
                                       str(config)], env, cwd=str(ROOT))

    def engine(self, config: Path, data: Path) -> Any:
        from bridge.config import load_config
        from bridge.engine import Engine
        from bridge.store import Store

        return Engine(load_config(config), Store.open(data / "store.db"))

    def stop(self, name: str) -> None:
        """End the program in session `name` and all it started."""
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
                os.kill(p, 9)

    def timed(self, figure: Figure, name: str, start: float,
              expected: str | Callable[[str], bool], timeout: float = TIMEOUT) -> bool:
        try:
            figure.runs.append(self.tmux.wait_for(name, expected, timeout) - start)
            return True
        except ScreenTimeout as exc:
            figure.failed = str(exc).splitlines()[0]
            print(f"  ! {exc}", file=sys.stderr)
            return False

    def keys(self, name: str, *keys: str, literal: bool = False) -> float:
        return self.tmux.send(name, *(["-l"] if literal else []), *keys)

    def command(self, name: str, line: str) -> float:
        """`:line` Enter on our main screen (":" again if the command line did not
        open: a key sent in the app's first instants can go before its bindings);
        the time of the Enter."""
        for _ in range(10):
            self.keys(name, ":")
            try:
                self.tmux.wait_for(name, ":command", 2.0)
                break
            except ScreenTimeout:
                continue
        self.keys(name, line, literal=True)
        self.tmux.wait_for(name, f":{line}", 10.0)
        return self.keys(name, "Enter")

    # -- 9: MAM catch-up --------------------------------------------------------------
    def catch_up(self, lines: int) -> None:
        w = self.world
        me, peer = w.add_account("alice"), w.add_account("bob")
        took = self.run(fill_archive(w, me, peer, lines, NEWEST_CHAT))
        print(f"archive filled with {lines:,} lines in {took:.1f} s", end="; ", flush=True)
        config = self.config(me)
        tui = self.fig("9.tui", "TUI, empty store: newest line on screen")
        for _ in range(self.runs):
            data = self.fresh_data("catchup")
            start = self.tui("ours", config, data)
            self.timed(tui, "ours", start, NEWEST_CHAT)
            self.stop("ours")
        newest = self.fig("9.engine.newest", "engine, empty store: start() to the newest "
                          "line stored")
        every = self.fig("9.engine.all", "engine: start() to all lines stored (paging "
                         "back with older_chat)")
        for _ in range(self.runs):
            stored = self.run(self._engine_catch_up(config, me, peer, newest, every))
            every.note = f"{stored:,} stored; pages of {BULK_PAGE}"
        floor_new = self.fig("9.floor.newest", "wire floor: login + newest page (50)")
        floor_all = self.fig("9.floor.all", "wire floor: login + whole archive")
        for _ in range(self.runs):
            pages, results = self.run(self._floor_catch_up(me, peer, floor_new, floor_all))
            floor_all.note = f"{results - 50:,} lines in {pages} pages of 250"
        prof = self.fig("9.profanity", "Profanity /mam on, /msg bob: newest line on screen")
        home = self.work / f"profanity-{time.monotonic_ns()}"
        p = Profanity(w, me, home)
        start = self.tmux.launch("prof", p.argv(), p.env())
        try:
            self.tmux.wait_for("prof", "logged in successfully", 60)
        except ScreenTimeout as exc:
            prof.failed = str(exc).splitlines()[0]
        else:
            self.keys("prof", "/mam on", literal=True)
            self.keys("prof", "Enter")
            self.keys("prof", f"/msg {peer.jid}", literal=True)
            self.keys("prof", "Enter")
            if not self.timed(prof, "prof", start, NEWEST_CHAT, PROFANITY_TIMEOUT):
                prof.failed = (f"not in {PROFANITY_TIMEOUT:.0f} s: it shows the archive's "
                               "oldest lines first")
        self.stop("prof")

    async def _engine_catch_up(self, config: Path, me: Account, peer: Account,
                               newest: Figure, every: Figure) -> int:
        engine = self.engine(config, self.fresh_data("engine-catchup"))
        try:
            t0 = time.perf_counter()
            await engine.start(mail=False)
            while not any(t.snippet == NEWEST_CHAT for t in engine.conversations(me.name)):
                await asyncio.sleep(0.005)
            newest.runs.append(time.perf_counter() - t0)
            before: str | None = ""
            while before is not None:
                _new, before = await engine.older_chat(me.name, peer.jid, before)
            every.runs.append(time.perf_counter() - t0)
            stored: int = engine.store.count_messages(me.name)
            return stored
        finally:
            await engine.stop()
            engine.close()

    async def _floor_catch_up(self, me: Account, peer: Account, newest: Figure,
                              every: Figure) -> tuple[int, int]:
        t0 = time.perf_counter()
        wire = await Wire(self.world, me, f"new-{time.monotonic_ns()}").start(presence=False)
        await wire.mam_page(peer.jid, 50)
        newest.runs.append(time.perf_counter() - t0)
        pages = await wire.whole_archive(peer.jid, 250)
        every.runs.append(time.perf_counter() - t0)
        await wire.stop()
        return pages, wire.results

    # -- 10: a roster of N contacts ---------------------------------------------------
    def roster(self, contacts: int) -> None:
        me = self.world.add_account("rita")
        give_roster(self.world, me, fake_contacts(contacts))
        config = self.config(me)
        # The roster screen's first row (the table, not the sidebar: the sidebar
        # lists the address book's contacts, not the roster).
        shown = "Contact 0000  contact0000@"
        tui = self.fig("10.tui", "TUI: launch, `:roster` at the first frame, until its "
                       "first contact")
        reopen = self.fig("10.screen", "TUI, logged in: `:roster` Enter until it shows them")
        for _ in range(self.runs):
            data = self.fresh_data("roster")
            start = self.tui("ours", config, data)
            if not self.timed(self.fig("10.frame", "TUI first frame"), "ours", start, FRAME):
                self.stop("ours")
                continue
            try:
                self.command("ours", "roster")
                if self.timed(tui, "ours", start, shown):
                    time.sleep(1.0)  # logged in, presences in
                    self.keys("ours", "Escape")
                    self.tmux.wait_for("ours", lambda s: shown not in s, TIMEOUT)
                    time.sleep(0.3)
                    pressed = self.command("ours", "roster")
                    self.timed(reopen, "ours", pressed, shown)
            except ScreenTimeout as exc:
                tui.failed = str(exc).splitlines()[0]
                print(f"  ! {exc}", file=sys.stderr)
            self.stop("ours")
        # The first `:roster` of an app that is logged in already (the screen built:
        # the one above is the kept screen shown again, see tuiclient/screens/roster.py).
        first = self.fig("10.first", "TUI, logged in: the first `:roster` Enter until it "
                         "shows them")
        for _ in range(self.runs):
            self.tui("ours", config, self.fresh_data("roster-first"))
            try:
                self.tmux.wait_for("ours", FRAME, TIMEOUT)
                time.sleep(3.0)  # logged in, presences in
                pressed = self.command("ours", "roster")
                self.timed(first, "ours", pressed, shown)
            except ScreenTimeout as exc:
                first.failed = str(exc).splitlines()[0]
                print(f"  ! {exc}", file=sys.stderr)
            self.stop("ours")
        engine = self.fig("10.engine", "engine: start() until roster() holds them all")
        for _ in range(self.runs):
            self.run(self._engine_roster(config, me, contacts, engine))
        floor = self.fig("10.floor", "wire floor: login + roster get")
        for _ in range(self.runs):
            self.run(self._floor_roster(me, contacts, floor))
        prof = self.fig("10.profanity", "Profanity: launch until its roster panel shows "
                        "the first contact")
        for _ in range(self.runs):
            p = Profanity(self.world, me, self.work / f"profanity-{time.monotonic_ns()}")
            start = self.tmux.launch("prof", p.argv(), p.env())
            self.timed(prof, "prof", start, "Contact 0000")
            prof.note = "offline contacts listed, as its default"
            self.stop("prof")

    async def _engine_roster(self, config: Path, me: Account, contacts: int,
                             figure: Figure) -> None:
        engine = self.engine(config, self.fresh_data("engine-roster"))
        try:
            t0 = time.perf_counter()
            start = asyncio.ensure_future(engine.start(mail=False))
            while True:
                try:
                    if len(engine.roster(me.name)) >= contacts:
                        break
                except Exception:  # not logged in yet
                    pass
                await asyncio.sleep(0.005)
            figure.runs.append(time.perf_counter() - t0)
            await start
        finally:
            await engine.stop()
            engine.close()

    async def _floor_roster(self, me: Account, contacts: int, figure: Figure) -> None:
        t0 = time.perf_counter()
        wire = await Wire(self.world, me, f"wire-{time.monotonic_ns()}").start(roster=True)
        got = wire.roster_size()
        figure.runs.append(time.perf_counter() - t0)
        figure.note = f"{got} contacts"
        await wire.stop()

    # -- 11: handoff email -> IM with history and a file ------------------------------
    def handoff(self, file_kb: int) -> None:
        from tests.others import contacts_toml, send_email

        w = self.world
        me, peer = w.add_account("hana"), w.add_account("pete")
        w.befriend(me, peer)
        data = os.urandom(file_kb * 1024)
        root = send_email(w, peer, [me.email], [], SUBJECT,
                          "Hi Hana,\nhere is the quarterly plan, draft one.\n\nPete")
        send_email(w, peer, [me.email], [], f"Re: {SUBJECT}",
                   f"Hana,\n{BODY}, draft two.\n\nPete",
                   (FILE_NAME, "application/pdf", data), in_reply_to=root)
        config = self.config(me, contacts_toml(peer))
        bob = self.run(self._peer(peer))
        size = f"{file_kb:,} KiB" if file_kb < 1024 else f"{file_kb / 1024:g} MiB"
        tui = self.fig("11.tui", "TUI: Enter that sends until the peer has the text and "
                       "the file's link", note=size)
        for run in range(self.runs):
            text = f"Let's talk here, take {run}"
            data_dir = self.fresh_data("handoff")
            self.tui("ours", config, data_dir)
            try:
                self.tmux.wait_for("ours", SUBJECT, TIMEOUT)
                time.sleep(0.5)
                self.keys("ours", "Enter")
                self.tmux.wait_for("ours", BODY, TIMEOUT)
                self.keys("ours", "i")
                time.sleep(0.2)
                self.keys("ours", "C-o")
                self.tmux.wait_for("ours", OPTIONS, TIMEOUT)
                time.sleep(0.2)
                for key in ("Space", "Tab", "Space"):  # history, the first file
                    self.keys("ours", key)
                    time.sleep(0.2)
                self.keys("ours", "C-s")
                self.tmux.wait_for("ours", "history, 1 file)", 60)
                time.sleep(0.3)
                self.keys("ours", text, literal=True)
                self.tmux.wait_for("ours", text, TIMEOUT)
            except ScreenTimeout as exc:
                tui.failed = str(exc).splitlines()[0]
                print(f"  ! {exc}", file=sys.stderr)
                self.stop("ours")
                continue
            pressed = self.keys("ours", "Enter")
            self.run(self._received(bob, text, pressed, tui))
            self.stop("ours")
        engine = self.fig("11.engine", "engine: reply(via=im, history, the file) until "
                          "the peer has both", note="the file's body fetched from IMAP "
                          "first")
        self.run(self._engine_handoff(config, me, bob, engine))
        floor = self.fig("11.floor", "wire floor, connected: history line, upload, link, "
                         "text")
        self.run(self._floor_handoff(me, peer, bob, data, floor))
        gsx = self.fig("11.gosendxmpp", "go-sendxmpp: `-h file`, then history + text "
                       "(whole processes, login included)")
        for run in range(self.runs):
            self._gosendxmpp(me, peer, bob, data, f"By go-sendxmpp, take {run}", gsx)
        self.run(bob.stop())

    async def _peer(self, peer: Account) -> Wire:
        return await Wire(self.world, peer, "peer").start()

    async def _received(self, bob: Wire, text: str, since: float, figure: Figure) -> None:
        """Wait until bob got `text` and a file's link after `since`; the later one's
        arrival goes into `figure`."""
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            got = [t for t, m in bob.received if t >= since
                   and (m.findtext("{jabber:client}body") or "") == text]
            link = [t for t, m in bob.received if t >= since
                    and m.find("{jabber:x:oob}x") is not None]
            if got and link:
                figure.runs.append(max(got[0], link[0]) - since)
                return
            await asyncio.sleep(0.005)
        figure.failed = f"the peer never got {text!r} and a link"

    async def _engine_handoff(self, config: Path, me: Account, bob: Wire,
                              figure: Figure) -> None:
        engine = self.engine(config, self.fresh_data("engine-handoff"))
        try:
            await engine.start()
            deadline = time.monotonic() + TIMEOUT
            thread = None
            while thread is None and time.monotonic() < deadline:
                thread = next((t for t in engine.conversations(me.name)
                               if SUBJECT in (t.subject or "")), None)
                await asyncio.sleep(0.05)
            assert thread is not None, "the emails never reached the engine's store"
            while len(engine.timeline(me.name, thread.thread_id)) < 2:
                await asyncio.sleep(0.05)
            for run in range(self.runs):
                newest = engine.timeline(me.name, thread.thread_id)[-1]  # with the file
                text = f"From the engine, take {run}"
                t0 = time.perf_counter()
                await engine.reply(newest.id or 0, text, via="im", history=True,
                                   attachments=[FILE_NAME])
                await self._received(bob, text, t0, figure)
        finally:
            await engine.stop()
            engine.close()

    async def _floor_handoff(self, me: Account, peer: Account, bob: Wire, data: bytes,
                             figure: Figure) -> None:
        from tests.harness.plain_xmpp import PlainXmpp

        w = self.world
        floor = await PlainXmpp(me.jid, me.password, "127.0.0.1", w.ports.c2s,
                                str(w.ca_file)).start()
        try:
            for run in range(self.runs):
                text = f"From the floor, take {run}"
                t0 = time.perf_counter()
                floor.send(peer.jid, "Earlier in this conversation: (the history)")
                url = await floor.upload(data, FILE_NAME, "application/pdf", UPLOAD_DOMAIN)
                floor.send(peer.jid, url, oob=url)
                floor.send(peer.jid, text)
                await self._received(bob, text, t0, figure)
        finally:
            await floor.stop()

    def _gosendxmpp(self, me: Account, peer: Account, bob: Wire, data: bytes, text: str,
                    figure: Figure) -> None:
        home = self.work / "gosendxmpp"
        home.mkdir(exist_ok=True)
        path = home / FILE_NAME
        path.write_bytes(data)
        message = home / "message.txt"
        message.write_text(f"Earlier in this conversation: (the history)\n\n{text}")
        env = {**os.environ, "SSL_CERT_FILE": str(self.world.ca_file), "HOME": str(home)}
        base = ["go-sendxmpp", "-u", me.jid, "-p", me.password,
                "-j", f"127.0.0.1:{self.world.ports.c2s}"]
        t0 = time.perf_counter()
        for argv in ([*base, "-h", str(path), peer.jid], [*base, "-m", str(message), peer.jid]):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                                  check=False)
            if done.returncode != 0:
                figure.failed = f"exit {done.returncode}: {done.stdout.strip()[-200:]}"
                return
        self.run(self._received_whole(bob, text, t0, figure))

    async def _received_whole(self, bob: Wire, text: str, since: float,
                              figure: Figure) -> None:
        """go-sendxmpp's text is the history and the text in one message."""
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            got = [t for t, m in bob.received if t >= since
                   and (m.findtext("{jabber:client}body") or "").endswith(text)]
            link = [t for t, m in bob.received if t >= since
                    and m.find("{jabber:x:oob}x") is not None]
            if got and link:
                figure.runs.append(max(got[0], link[0]) - since)
                return
            await asyncio.sleep(0.005)
        figure.failed = "the peer never got the text and a link"

    def close(self) -> None:
        self.tmux.close()
        self.loop.close()


def rows(b: ChatBench, lines: int, contacts: int, file_kb: int) -> list[Row]:
    f = b.figures.get
    size = f"{file_kb:,} KiB" if file_kb < 1024 else f"{file_kb / 1024:g} MiB"
    return [
        Row(9, f"MAM catch-up of {lines:,} lines on a new device: newest line",
            f("9.tui"), f("9.floor.newest"), "newest line <= 0.35 s after the first frame"),
        Row(9, "", f("9.tui"), f("9.profanity")),
        Row(9, "", f("9.engine.newest"), f("9.floor.newest")),
        Row(9, f"MAM catch-up of {lines:,} lines: all stored", f("9.engine.all"),
            f("9.floor.all"), "<= 2x the wire floor"),
        Row(10, f"roster of {contacts:,} contacts: login to roster on screen",
            f("10.tui"), f("10.profanity"), "<= Profanity"),
        Row(10, "", f("10.tui"), f("10.floor")),
        Row(10, "(the first frame, for the part that is the app's start)", f("10.frame"),
            None),
        Row(10, f"roster of {contacts:,}: in the engine", f("10.engine"), f("10.floor")),
        Row(10, f"roster of {contacts:,}: the roster screen drawn, logged in",
            f("10.screen"), None, "<= 0.1 s"),
        Row(10, "", f("10.first"), None),
        Row(11, f"handoff email->IM with history and a {size} file: key press to the "
                "peer's receipt", f("11.tui"), f("11.floor"), "<= 2x the wire floor"),
        Row(11, "", f("11.tui"), f("11.gosendxmpp")),
        Row(11, "", f("11.engine"), f("11.floor")),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000, help="chat lines in the archive")
    ap.add_argument("--contacts", type=int, default=1_000, help="roster entries")
    ap.add_argument("--file-kb", type=int, default=1024, help="the handed-off file")
    ap.add_argument("--runs", type=int, default=3, help="runs of each moment")
    ap.add_argument("--only", default="9,10,11", help="rows to measure")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    wanted = {int(x) for x in args.only.split(",")}
    # slixmpp's stream tasks of the clients stopped here end with the loop: not news.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    for tool in ("tmux", "profanity", "go-sendxmpp"):
        if shutil.which(tool) is None:
            print(f"bench_chat: {tool} is not installed (scripts/dev setup installs it)",
                  file=sys.stderr)
            return 1
    load_at_start, began = os.getloadavg(), utc_now()
    work = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    work.chmod(0o755)
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(work / "xdg" / var.lower())  # the engines in process
    print(f"chat side by side: {args.lines:,} archived lines, {args.contacts:,} contacts, "
          f"a {args.file_kb:,} KiB file, {args.runs} runs a moment; work in {work}",
          flush=True)
    with World() as world:
        bench = ChatBench(world, work, args.runs)
        steps: list[tuple[int, Callable[[], None]]] = [
            (9, lambda: bench.catch_up(args.lines)),
            (10, lambda: bench.roster(args.contacts)),
            (11, lambda: bench.handoff(args.file_kb)),
        ]
        try:
            for number, step in steps:
                if number in wanted:
                    t0 = time.monotonic()
                    print(f"- row {number} ...", end=" ", flush=True)
                    step()
                    print(f"{time.monotonic() - t0:.0f} s", flush=True)
        finally:
            bench.close()
    print()
    print(f"taken: {began} to {utc_now()}; {args.runs} runs a moment")
    print("machine: " + "\n         ".join(machine(load_at_start)))
    versions = {p: _version(p) for p in ("prosody", "profanity", "go-sendxmpp", "tmux")}
    print("references: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("XMPP: STARTTLS on loopback for every client (Profanity with tls.policy trust)\n")
    for line in table([r for r in rows(bench, args.lines, args.contacts, args.file_kb)
                       if r.number in wanted and (r.ours or r.ref)]):
        print(line)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _version(pkg: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                         text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else "?"


if __name__ == "__main__":
    sys.exit(main())
