"""swaks, the SMTP test tool, as the other side: mail we did not build ourselves.

It submits through the harness's SMTP server (STARTTLS, verified against the run's
CA, AUTH PLAIN) and can set any header, the envelope sender (empty for a bounce)
and attachments with any content type and name.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from tests.harness.servers import Account, World


def swaks(world: World, sender: Account, to: str, *extra: str, envelope_from: str | None = None,
          subject: str = "Hello", body: str = "Hello there.") -> str:
    """Send one message with swaks; returns its Message-ID (without brackets).
    `envelope_from="<>"` is the null sender of a bounce."""
    if shutil.which("swaks") is None:
        # A missing swaks is a broken setup, not a reason to pass quietly.
        pytest.fail("swaks is not installed: run scripts/dev setup")
    msg_id = f"{uuid.uuid4().hex}@{sender.email.partition('@')[2]}"
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(world.ports.submission),
            "--tls", "--tls-verify", "--tls-ca-path", str(world.ca_file),
            "--auth", "PLAIN", "--auth-user", sender.email, "--auth-password", sender.password,
            "--from", sender.email if envelope_from is None else envelope_from, "--to", to,
            "--header", f"Subject: {subject}", "--header", f"Message-Id: <{msg_id}>",
            "--body", body, *extra]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return msg_id
