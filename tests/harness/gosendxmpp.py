"""go-sendxmpp as the other side: a chat client we did not write, that answers no
receipts (XEP-0184) and keeps no archive, like many bots and small clients.

`Listener` runs `go-sendxmpp --listen` for an account and collects each line it
prints ("<timestamp> <sender>: <body>"), so a test can count what the person on
the other side really got.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.servers import Account, World


@dataclass
class Listener:
    world: World
    account: Account
    home: Path
    lines: list[str] = field(default_factory=list)

    def start(self) -> Listener:
        self.home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, SSL_CERT_FILE=str(self.world.ca_file), HOME=str(self.home))
        self.proc = subprocess.Popen(
            ["go-sendxmpp", "--listen", "-u", self.account.jid, "-p", self.account.password,
             "-j", f"127.0.0.1:{self.world.ports.c2s}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def count(self, body: str) -> int:
        """How many times a one-line body reached go-sendxmpp."""
        return sum(1 for line in self.lines if line.endswith(f": {body}"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
