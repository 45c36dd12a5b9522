"""A separate process that sends through the engine, for crash tests.

    python -m tests.harness.outbox_driver send CONFIG JID TEXT
    python -m tests.harness.outbox_driver settle CONFIG

`send` sends one chat line and waits for its receipt; with TUICLIENT_FAILPOINT set
it is killed on the way (see bridge/failpoints.py). `settle` starts the engine
again and waits until every chat row of the outbox is delivered, then prints the
states. The store lives under $XDG_DATA_HOME, as for the real app.
"""

from __future__ import annotations

import asyncio
import faulthandler
import sys
from pathlib import Path

from bridge.config import load_config
from bridge.engine import Engine
from bridge.model import DeliveryState, Transport


async def wait_delivered(engine: Engine, timeout: float = 30.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        items = [i for i in engine.store.outbox_items() if i.transport is Transport.XMPP]
        if items and all(i.state is DeliveryState.DELIVERED for i in items):
            return True
        await asyncio.sleep(0.05)
    return False


async def main(argv: list[str]) -> int:
    # A hang shows where it is, instead of a bare timeout in the test.
    faulthandler.dump_traceback_later(45, exit=True)
    command, config = argv[0], Path(argv[1])
    engine = Engine(load_config(config))
    await engine.start(mail=False)
    try:
        if command == "send":
            account = engine.accounts[0].name
            await engine.send_message(account, [argv[2]], argv[3], when_away="send")
        ok = await wait_delivered(engine)
        for item in engine.store.outbox_items():
            print(item.msg_id, item.state.value)
        return 0 if ok else 1
    finally:
        await engine.stop()
        engine.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
