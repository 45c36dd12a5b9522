"""The rules daemon and automatic mail (RFC 3834), against the real servers.

The other side is swaks, which sends what a mailing list, a bulk mailer, a
bounce or an autoresponder sends; bob runs `tuiclient run --rules` with a rule
that answers everyone. Nothing automatic gets an answer, and a person gets one
answer per `reply_once_per` (default a day), also after the daemon restarts.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.harness.servers import Account, World
from tests.others import inbox, person, until
from tests.swaks import swaks
from tests.test_daemon import Daemon, daemons  # noqa: F401  (the fixture)

pytestmark = pytest.mark.servers


def answer_all(extra: str = "") -> str:
    return extra + """
[[rules]]
name = "away"
[rules.action]
reply = "email"
text = "I am away this week."
[rules.limit]
per_thread = 100
"""


def answers(world: World, who: Account) -> list:
    return [m for m in inbox(world, who) if "I am away this week." in
            m.get_body(("plain",)).get_content()]


async def test_automatic_mail_of_every_kind_gets_no_answer(world, tmp_path, running,
                                                          daemons):  # noqa: F811
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_d = Daemon(world, tmp_path, bob, answer_all()).start()
    daemons.append(bob_d)
    await bob_d.started()
    domain = alice.email.partition("@")[2]
    robots = {  # subject: swaks arguments
        "auto-generated": ["--header", "Auto-Submitted: auto-generated"],
        "auto-replied": ["--header", "Auto-Submitted: auto-replied; owner=x@example.test"],
        "bulk": ["--header", "Precedence: bulk"],
        "list precedence": ["--header", "Precedence: list"],
        "junk": ["--header", "Precedence: junk"],
        "list": ["--header", "List-Id: Team talk <team.lists.example.test>"],
        "autoreply": ["--header", "X-Autoreply: yes"],
        "outlook": ["--header", "X-Auto-Response-Suppress: All"],
    }
    for subject, extra in robots.items():
        swaks(world, alice, bob.email, *extra, subject=subject)
    # A bounce: empty envelope sender (Dovecot writes it as an empty Return-Path).
    swaks(world, alice, bob.email, "--header", f"From: {alice.email}", envelope_from="<>",
          subject="bounce", body="Delivery failed.")
    for local in ("MAILER-DAEMON", "postmaster", "noreply", "no-reply"):
        swaks(world, alice, bob.email, "--header", f"From: {local}@{domain}",
              subject=f"from {local}")
    # A person's mail, saying explicitly that it is not automatic: answered.
    person_id = swaks(world, alice, bob.email, "--header", "Auto-Submitted: no",
                      subject="a person")
    total = len(robots) + 1 + 4
    await until(lambda: len(bob_d.actions("replied")) >= 1, 60, "the answer to the person")
    try:
        await until(lambda: len(bob_d.actions("held back")) >= total, 30, "every robot held back")
    except AssertionError:
        raise AssertionError(bob_d.lines) from None
    await asyncio.sleep(1.0)
    assert await bob_d.stop() == 0
    assert len(bob_d.actions("replied")) == 1
    got = answers(world, alice)
    assert len(got) == 1 and person_id in got[0]["In-Reply-To"]
    reasons = " | ".join(x["reason"] for x in bob_d.actions("held back"))
    for needle in ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-replied",
                   "Precedence: bulk", "Precedence: list", "Precedence: junk", "List-Id",
                   "X-Autoreply".lower(), "X-Auto-Response-Suppress", "empty Return-Path",
                   "mailer-daemon@", "postmaster@", "noreply@", "no-reply@"):
        assert needle in reasons, (needle, reasons)


async def test_a_person_is_answered_once_per_day_even_across_a_restart(
        world, tmp_path, running, daemons):  # noqa: F811
    alice, bob = person(world, "alice"), person(world, "bob")
    bob_d = Daemon(world, tmp_path, bob, answer_all()).start()
    daemons.append(bob_d)
    await bob_d.started()
    swaks(world, alice, bob.email, subject="First", body="Are you there?")
    await until(lambda: bob_d.actions("replied"), 60, "the first answer")
    swaks(world, alice, bob.email, subject="Second", body="Hello again?")
    await until(lambda: any("once per 1d" in x["reason"] for x in bob_d.actions("held back")),
                60, "the second mail held back")
    assert await bob_d.stop() == 0
    state = json.loads((bob_d.home / "data" / "tuiclient" / "rules-daemon.json").read_text())
    assert any(alice.email.lower() in key for key in state["replied"])

    # Started again: it remembers that alice was answered.
    again = Daemon.__new__(Daemon)
    again.__dict__.update(bob_d.__dict__, lines=[], proc=None, reader=None)
    again.start()
    daemons.append(again)
    await again.started()
    swaks(world, alice, bob.email, subject="Third", body="Anyone?")
    await until(lambda: any("once per 1d" in x["reason"] for x in again.actions("held back")),
                60, "the third mail held back")
    await asyncio.sleep(1.0)
    assert await again.stop() == 0
    assert again.actions("replied") == []
    assert len(answers(world, alice)) == 1
