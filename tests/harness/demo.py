"""The demo world: real servers, alice's mail and chat, and the app opened on it.

    python -m tests.harness.demo            # start everything and open the app
    python -m tests.harness.demo --serve    # keep the world up without the app

Everything goes through the servers' real protocols: emails are sent over SMTP
(and alice's own copies appended to her Sent folder over IMAP), the chat history
is exchanged over XMPP and so lands in Prosody's archive (MAM). carol stays away
with a status text, dave (whose JID differs from his email address) is offline.

bob is alive: he runs `tuiclient run --rules` (the headless daemon) with
`BOB_RULES` below. He answers alice's emails by mail and her chats by chat, and
an email about a launch he hands over to chat, with its history. Right after
start the demo mails him such an email from alice, so the app opens on a thread
that has just moved from email to chat.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from bridge.config import ServerConfig
from bridge.mail.connect import open_imap, open_smtp
from bridge.xmpp.session import XmppSession

from .servers import REPO_ROOT, Account, World

DAY = timedelta(days=1)


class Mailer:
    """Sends the demo's emails as their authors would."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.now = datetime.now(UTC).replace(microsecond=0)

    def smtp(self) -> ServerConfig:
        return ServerConfig("127.0.0.1", self.world.ports.submission, "starttls",
                            self.world.ca_file)

    def imap(self) -> ServerConfig:
        return ServerConfig("127.0.0.1", self.world.ports.imaps, "tls", self.world.ca_file)

    def send(self, author: Account, to: list[Account], subject: str, body: str, *,
             cc: list[Account] = (), ago: timedelta, parent: EmailMessage | None = None,
             attachments: list[tuple[str, str, bytes]] = ()) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = f"{author.display_name} <{author.email}>"
        msg["To"] = ", ".join(f"{a.display_name} <{a.email}>" for a in to)
        if cc:
            msg["Cc"] = ", ".join(f"{a.display_name} <{a.email}>" for a in cc)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.now - ago)
        msg["Message-ID"] = make_msgid(domain="example.test")
        if parent is not None:
            refs = [*parent.get("References", "").split(), parent["Message-ID"]]
            msg["In-Reply-To"] = parent["Message-ID"]
            msg["References"] = " ".join(refs)
        msg.set_content(body)
        for filename, mime, data in attachments:
            maintype, subtype = mime.split("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)

        smtp = open_smtp(self.smtp(), author.email, author.password)
        try:
            smtp.send_message(msg)
        finally:
            smtp.quit()
        # The author's own copy, as their client would file it.
        imap = open_imap(self.imap(), author.email, author.password)
        try:
            imap.append("Sent", msg.as_bytes(), flags=[b"\\Seen"],
                        msg_time=self.now - ago)
        finally:
            imap.logout()
        return msg

    def send_raw(self, author: Account, to: Account, raw: bytes, *, ago: timedelta) -> None:
        """An email the author's own client built (here: gpg's PGP/MIME), as is."""
        smtp = open_smtp(self.smtp(), author.email, author.password)
        try:
            smtp.sendmail(author.email, [to.email], raw)
        finally:
            smtp.quit()
        imap = open_imap(self.imap(), author.email, author.password)
        try:
            imap.append("Sent", raw, flags=[b"\\Seen"], msg_time=self.now - ago)
        finally:
            imap.logout()


def tiny_png(color: tuple[int, int, int]) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes(color) * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def seed_mail(world: World, p: dict[str, Account]) -> None:
    m = Mailer(world)
    alice, bob, carol, dave = p["alice"], p["bob"], p["carol"], p["dave"]

    report = m.send(bob, [alice], "Q3 report draft", (
        "Hi Alice,\n\nattached is the draft of the Q3 report. Could you check the\n"
        "numbers in section 2 before Friday?\n\nThanks,\nBob\n"),
        cc=[carol, dave], ago=4 * DAY,
        attachments=[("q3-report.pdf", "application/pdf", b"%PDF-1.4\n% demo report\n"),
                     ("figures.csv", "text/csv", b"quarter,revenue\nQ1,10\nQ2,12\nQ3,15\n")])
    r1 = m.send(carol, [bob], "Re: Q3 report draft", (
        "Section 2 looks right to me. The chart on page 3 needs a legend.\n\n"
        "> Could you check the numbers in section 2 before Friday?\n\n-- \nCarol\n"),
        cc=[alice, dave], ago=4 * DAY - timedelta(hours=3), parent=report)
    m.send(dave, [bob], "Re: Q3 report draft", (
        "Agree with Carol. I added the legend, see the new figure.\n\nDave\n"),
        cc=[alice, carol], ago=3 * DAY, parent=r1,
        attachments=[("chart-v2.png", "image/png", tiny_png((30, 120, 200)))])

    trip = m.send(alice, [bob], "Trip to Lisbon", (
        "Bob, are we still on for Lisbon in March? I can book the flights.\n"), ago=10 * DAY)
    lines = [
        (bob, "Yes! Book them. Window seat for me please."),
        (alice, "Done. Hotel next: near Alfama or Baixa?"),
        (bob, "Alfama. Closer to the viewpoints."),
        (alice, "Booked a small place on Rua de São Miguel."),
        (bob, "Great. Should we rent a car for Sintra?"),
        (alice, "Train is easier. 40 minutes from Rossio."),
        (bob, "Train it is. Any restaurant you want to try?"),
        (alice, "Time Out Market for one evening, then something small."),
        (bob, "I'll ask Carol, she was there last year."),
        (alice, "Good idea. Send me the list when you have it."),
        (bob, "Carol's list: Taberna da Rua das Flores, Zé da Mouraria."),
        (alice, "Perfect. See you at the airport!"),
    ]
    parent = trip
    for i, (who, text) in enumerate(lines):
        other = bob if who is alice else alice
        parent = m.send(who, [other], "Re: Trip to Lisbon", text + "\n",
                        ago=10 * DAY - (i + 1) * timedelta(hours=9), parent=parent)

    m.send(carol, [alice], "Photos from the weekend", (
        "Two of my favourites from the hike. More on the shared drive.\n"),
        ago=2 * DAY, attachments=[("ridge.png", "image/png", tiny_png((200, 80, 40))),
                                  ("lake.png", "image/png", tiny_png((40, 160, 90)))])
    kickoff = m.send(dave, [alice], "Project kickoff on Monday", (
        "Hello all,\n\nthe kickoff is on Monday at 10:00 in the big room.\n"
        "Agenda to follow.\n\nDave\n"), cc=[bob, carol], ago=1 * DAY)
    m.send(alice, [dave], "Re: Project kickoff on Monday",
           "I'll be there. Can we add the Q3 report to the agenda?\n",
           cc=[bob, carol], ago=20 * timedelta(hours=1), parent=kickoff)
    m.send(bob, [alice], "Coffee?", "Coffee at 3?\n", ago=timedelta(hours=2))


async def seed_chat(world: World, p: dict[str, Account]) -> None:
    alice, bob = p["alice"], p["bob"]
    xmpp = ServerConfig("127.0.0.1", world.ports.c2s, "starttls", world.ca_file)
    a = XmppSession(alice.jid, alice.password, xmpp)
    b = XmppSession(bob.jid, bob.password, xmpp)
    await asyncio.gather(a.start(), b.start())
    got = asyncio.Queue()
    a.add_event_handler("message", lambda msg: got.put_nowait(msg))
    b.add_event_handler("message", lambda msg: got.put_nowait(msg))
    chat = [
        (b, alice, "Did you see the Q3 draft?"),
        (a, bob, "Yes, reading it now. Section 2 is fine."),
        (b, alice, "Great, thanks! Carol wants a legend on the chart."),
        (a, bob, "Dave already did it, it's in the thread."),
        (b, alice, "Coffee at 3?"),
    ]
    for sender, to, text in chat:
        sender.send_message(mto=to.jid, mbody=text, mtype="chat")
        await asyncio.wait_for(got.get(), 10)
    await asyncio.gather(a.stop(), b.stop())


BOB_RULES = """
# bob's scripted replies (tuiclient run --rules): see bridge/headless/rules.py.
[[rules]]
name = "launches go to chat"
[rules.match]
transport = "email"
from = ["{alice}"]
subject = "(?i)launch"
[rules.action]
handoff = "im"
history = true
text = "Moving this to chat, it's quicker. Friday works for me if QA signs off."

[[rules]]
name = "answer alice's mail"
[rules.match]
transport = "email"
from = ["{alice}"]
[rules.action]
reply = "email"
text = "Thanks $name, got it. I'll look at \\"$subject\\" today. -- Bob (auto-reply)"

[[rules]]
name = "answer alice's chats"
[rules.match]
transport = "xmpp"
from = ["{alice_jid}"]
[rules.action]
reply = "im"
text = "Noted: $snippet"
[rules.limit]
per_thread = 2
window = "10m"
"""


class BobDaemon:
    """bob's side of the demo: the real headless daemon, in its own process."""

    def __init__(self, world: World, p: dict[str, Account]) -> None:
        home = world.base / "bob"
        home.mkdir(mode=0o700, exist_ok=True)
        secret = home / "password"
        secret.write_text(p["bob"].password + "\n")
        secret.chmod(0o600)
        text = world.client_config(p["bob"], f"cat {secret}")
        alice = p["alice"]
        text += (f'\n[[contacts]]\nname = "{alice.display_name}"\nemails = ["{alice.email}"]'
                 f'\njids = ["{alice.jid}"]\n')
        self.config = home / "config.toml"
        self.config.write_text(text)
        self.config.chmod(0o600)
        self.rules = home / "rules.toml"
        self.rules.write_text(BOB_RULES.format(alice=alice.email, alice_jid=alice.jid))
        self.log = home / "daemon.log"
        self.env = dict(os.environ, XDG_DATA_HOME=str(home / "data"))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log.open("a")
        # bob has used tuiclient before: what is already there is history, and his
        # daemon answers only what comes after.
        subprocess.run([sys.executable, "-m", "tuiclient", "--config", str(self.config),
                        "sync"], stdout=log, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, env=self.env, cwd=REPO_ROOT, check=True,
                       timeout=120)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuiclient", "--config", str(self.config), "run",
             "--rules", str(self.rules)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env, cwd=REPO_ROOT)
        # Wait until he is listening, so the first email is answered.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and " started " not in self.log.read_text():
            if self.proc.poll() is not None:
                raise RuntimeError(f"bob's daemon ended: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def send_launch_mail(world: World, p: dict[str, Account]) -> None:
    """alice asks bob about the launch by mail; his daemon moves it to chat."""
    Mailer(world).send(p["alice"], [p["bob"]], "Launch date for the new site", (
        "Bob,\n\ncan we launch the new site on Friday? QA still has two open bugs.\n\n"
        "Alice\n"), ago=timedelta(0))


class Presences:
    """carol away, on a loop of her own, until stopped."""

    def __init__(self, world: World, p: dict[str, Account]) -> None:
        self.world, self.p = world, p
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.sessions: list[XmppSession] = []

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._online(), self.loop).result(30)

    async def _online(self) -> None:
        xmpp = ServerConfig("127.0.0.1", self.world.ports.c2s, "starttls", self.world.ca_file)
        for name, show, status in (("carol", "away", "In meetings until 3pm"),):
            acct = self.p[name]
            s = XmppSession(acct.jid, acct.password, xmpp)
            await s.start()
            s.send_presence(pshow=show, pstatus=status)
            self.sessions.append(s)

    def stop(self) -> None:
        async def down() -> None:
            await asyncio.gather(*(s.stop() for s in self.sessions))
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def seed_keys(world: World, p: dict[str, Account]) -> Path:
    """OpenPGP for the demo, made by gpg itself: alice and bob each have a key,
    each holds the other's (alice certified bob's locally, as after checking his
    fingerprint), and bob sends alice an encrypted, signed email. Returns alice's
    GnuPG home; both agents are stopped when the demo ends."""
    from tests.gpg_peer import Keyring, pgp_mime_encrypted

    alice, bob = p["alice"], p["bob"]
    rings: dict[str, Keyring] = {}
    for who in (alice, bob):
        ring = Keyring(world.base / "gnupg" / who.name)
        atexit.register(ring.close)
        ring.make_key(f"{who.display_name} <{who.email}>")
        rings[who.name] = ring
    rings["alice"].import_key(rings["bob"].export(bob.email))
    rings["bob"].import_key(rings["alice"].export(alice.email))
    rings["alice"].run("--quick-lsign-key", rings["alice"].fingerprint(bob.email))
    ago = 5 * timedelta(hours=1)
    headers = (f"From: {bob.display_name} <{bob.email}>\r\n"
               f"To: {alice.display_name} <{alice.email}>\r\n"
               f"Date: {format_datetime(datetime.now(UTC).replace(microsecond=0) - ago)}\r\n"
               f"Message-ID: {make_msgid(domain='example.test')}\r\n")
    raw = pgp_mime_encrypted(
        rings["bob"], bob.email, alice.email, headers,
        "Alice,\n\nthe new door code for the office is 4711, valid from Monday.\n"
        "Please don't forward it.\n\nBob\n", "Door code for the office")
    Mailer(world).send_raw(bob, alice, raw, ago=ago)
    return rings["alice"].home


def alice_config(world: World, p: dict[str, Account], gnupg_home: Path | None = None) -> Path:
    home = world.base / "alice"
    home.mkdir(mode=0o700, exist_ok=True)
    secret = home / "password"
    secret.write_text(p["alice"].password + "\n")
    secret.chmod(0o600)
    text = world.client_config(p["alice"], f"cat {secret}")
    text += "\n" + "\n".join(
        f'[[contacts]]\nname = "{a.display_name}"\nemails = ["{a.email}"]\njids = ["{a.jid}"]\n'
        for a in (p["bob"], p["carol"], p["dave"]))
    text += ('\n[[domain_rules]]\nemail = "*@corp.test"\njid = "{local}@chat.corp.test"\n'
             '\n[deferral]\nfirst_retry = "30s"\ngrowth = 2.0\nceiling = "30m"\n'
             'max_age = "2d"\non_max_age = "ask"\n')
    if gnupg_home is not None:
        text += f'\n[crypto]\ngnupg_home = "{gnupg_home}"\n'
    path = home / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def build(world: World) -> tuple[dict[str, Account], Path]:
    p = {
        "alice": world.add_account("alice"),
        "bob": world.add_account("bob"),
        "carol": world.add_account("carol"),
        "dave": world.add_account("dave", email="dave@example.test",
                                  jid="dave@chat.corp.test"),
    }
    for other in ("bob", "carol", "dave"):
        world.befriend(p["alice"], p[other])
    seed_mail(world, p)
    gnupg_home = seed_keys(world, p)
    asyncio.run(seed_chat(world, p))
    return p, alice_config(world, p, gnupg_home)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", action="store_true",
                    help="keep the servers up without opening the app (Ctrl-C stops)")
    args = ap.parse_args(argv)

    # A closed terminal or a kill still takes the servers down and their files away.
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    started = time.monotonic()
    with World() as world:
        people, config_path = build(world)
        os.environ["XDG_DATA_HOME"] = str(world.base / "alice" / "data")
        presences = Presences(world, people)
        presences.start()
        bob = BobDaemon(world, people)
        bob.start()
        send_launch_mail(world, people)
        print(f"demo world up in {time.monotonic() - started:.1f}s\n"
              f"  config: {config_path}\n  servers: {world.base}\n"
              f"  bob's daemon: {bob.rules} (log: {bob.log})", flush=True)
        try:
            if args.serve:
                stop = threading.Event()
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait()
            else:
                from bridge.config import load_config
                from tuiclient.app import TuiClientApp
                TuiClientApp(load_config(config_path)).run()
        finally:
            bob.stop()
            presences.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
