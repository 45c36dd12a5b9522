"""Named places where a test can make the process die, to prove nothing is lost.

`TUICLIENT_FAILPOINT=after-outbox-row` (say) makes `hit("after-outbox-row")`
kill the process with SIGKILL: no cleanup, no flush, exactly like a power cut or
the OOM killer. Unset (always, outside tests) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

OUTBOX_ROW_WRITTEN = "after-outbox-row"
STANZA_SENT = "after-stanza"
BEFORE_RECEIPT = "before-receipt"
SMTP_ACCEPTED = "after-smtp-250"  # the SMTP server said 250, nothing recorded yet


def armed(name: str) -> bool:
    return os.environ.get("TUICLIENT_FAILPOINT") == name


def hit(name: str) -> None:
    if os.environ.get("TUICLIENT_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
