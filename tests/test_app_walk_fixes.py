"""What a new user's walk through the app found (session 7), each against the
real servers: one toast for a chat message given up and sent by email; an
encrypted email read once opened; a draft marked as one in the timeline, and
Enter on it resumes it; an IM reply from the list to the person the row shows;
the main screen and the help readable at 80x24.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from email.message import EmailMessage

import imapclient
import pytest
from textual.widgets import Footer, Static, TextArea

from bridge.config import load_config
from bridge.crypto import outgoing
from bridge.engine import Engine
from bridge.errors import CLI_HINTS, EncryptionRefused, Hint
from tests.gpg_peer import Keyring, pgp_mime_encrypted
from tests.others import person, plain, send_email, until, wait_inbox
from tests.test_app import (
    alice_app,
    go_to_message,
    go_to_row,
    listing,
    notes,
    pilot_until,
    text_of,
    wait_until,
)
from tests.test_app_snapshots import Q3, make_app
from tests.test_app_walk import shown
from tests.test_crypto_mail import People, raw_mail
from tests.test_headless import cli
from tuiclient.app import TuiClientApp
from tuiclient.keys import DEFAULTS
from tuiclient.keys import shown as keys_shown
from tuiclient.replies import APP_HINTS, in_app_words
from tuiclient.screens.compose import ComposeScreen, NewMessageScreen
from tuiclient.screens.help import HelpScreen
from tuiclient.screens.outbox import OutboxScreen
from tuiclient.widgets.conversation import ResponseCard, Timeline

pytestmark = pytest.mark.servers

AWAY = "In meetings until 3pm"


async def test_a_deferred_chat_sent_by_email_is_told_once(world, tmp_path, running):
    """e in the outbox: carol's deferred chat message goes by email, and one toast
    says so, naming where it went (not one from the outbox and one from the
    engine's event, nor a third for the email's SMTP answer)."""
    _, xmpp = running
    alice, carol = person(world, "alice"), person(world, "carol")
    world.befriend(alice, carol)
    carol_x = await xmpp(plain(world, carol))
    carol_x.set_presence("away", AWAY)
    app = alice_app(world, tmp_path, alice, carol)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.xmpp.get(alice.name)
                                 is not None and app.engine.xmpp[alice.name].connected)
        result = await app.engine.send_message(alice.name, [carol.jid], "Lunch on Friday?",
                                               via="im", when_away="defer")
        assert result.deferred, result
        await pilot.press("O")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        assert await pilot_until(pilot, lambda: app.screen.items)
        before = len(notes(app))
        await pilot.press("e")
        assert await wait_inbox(world, carol, lambda m: "Lunch on Friday?" in str(
            m.get_body(("plain",)).get_content()))
        await pilot.pause(1.5)  # the events of the send (fallback, SMTP) all told
        told = notes(app)[before:]
        assert len(told) == 1, told
        assert told[0].startswith("Sent by email instead") and carol.email in told[0], told


async def test_an_encrypted_email_opened_is_read_in_its_header_too(
        world, tmp_path, monkeypatch) -> None:
    """Enter on an encrypted email: once decrypted, its header no longer says
    "● unread", nor its row, and the server has it \\Seen. gpg takes its time here
    (as with a passphrase to type): the copy fetched before the mark, decrypted
    after it, must not bring the unread mark back."""




    opened = Engine._open_openpgp

    def slow_gpg(self, m):
        time.sleep(2.5)  # in gpg's thread, not the app's loop
        return opened(self, m)
    monkeypatch.setattr(Engine, "_open_openpgp", slow_gpg)  # gpg-agent asks, the user types
    mark = Engine.mark

    async def slow_store(self, row_id, flag, on=True, **kw):
        await asyncio.sleep(1.0)  # a far server: the STORE lands after the body's fetch
        return await mark(self, row_id, flag, on, **kw)
    monkeypatch.setattr(Engine, "mark", slow_store)
    people = People(world, tmp_path)
    try:
        raw = pgp_mime_encrypted(people.theirs, people.peer.email, people.me.email,
                                 people.headers(), "The door code is 4711.", "Door code")
        people.deliver(world, raw, "encrypted")
        await until(lambda: raw_mail(world, people.me), 15, "the mail in Dovecot")
        app = TuiClientApp(load_config(people.config(world)), probe_on_start=False)
        async with app.run_test(size=(140, 40)) as pilot:
            assert await pilot_until(pilot, lambda: bool(listing(app).rows), 30)
            assert listing(app).rows[0].unread_count == 1
            await go_to_row(pilot, app, lambda t: True)
            await pilot.press("enter")
            assert await pilot_until(pilot, lambda: "4711" in text_of(app, "#email-body"))
            assert await pilot_until(pilot, lambda: listing(app).rows[0].unread_count == 0)
            await pilot.pause(1.5)  # gpg done, after the mark
            assert "unread" not in text_of(app, "#email-head"), text_of(app, "#email-head")
            assert "4711" in text_of(app, "#email-body")
            assert not app.screen.opened.messages[0].unread

        ctx = ssl.create_default_context(cafile=str(world.ca_file))
        with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                                   ssl_context=ctx) as c:
            c.login(people.me.email, people.me.password)
            c.select_folder("INBOX", readonly=True)
            flags = c.get_flags(c.search())
        assert all(b"\\Seen" in f for f in flags.values()), flags
    finally:
        people.mine.close()
        people.theirs.close()


async def test_a_reply_from_the_list_answers_the_person_the_row_shows(
        world, tmp_path, running) -> None:
    """bob started the thread, carol answered last: its row shows Carol. i (and r)
    pressed on the row answer carol, not the thread's starter; `handoff` of the
    thread, headless, answers her too; chosen in the open thread, bob's email is
    answered to bob."""


    _, xmpp = running
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    for other in (bob, carol):
        world.befriend(alice, other)
    bob_x = await xmpp(plain(world, bob))
    carol_x = await xmpp(plain(world, carol))
    root = send_email(world, bob, [alice.email], [carol.email], "Plans for Friday",
                      "Shall we meet at the lake?\n\nBob")
    send_email(world, carol, [alice.email, bob.email], [], "Re: Plans for Friday",
               "The lake is fine by me.", in_reply_to=root)
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            t.message_count == 2 for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.subject == "Plans for Friday")
        assert "Carol" in listing(app).row_text(listing(app).rows[listing(app).cursor],
                                                 120).plain
        await pilot.press("r")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen))
        assert app.screen.draft.message.sender.address == carol.email
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not isinstance(app.screen, ComposeScreen))
        await go_to_row(pilot, app, lambda t: t.subject == "Plans for Friday")
        await pilot.press("i")
        target = str(app.screen.query_one("#reply-target", Static).render())
        assert "Carol" in target and "Bob" not in target, target
        await pilot.press(*"See you at the lake", "enter")
        assert await pilot_until(pilot, lambda: "See you at the lake" in
                                 carol_x.bodies(alice.jid), 20), notes(app)
        assert "See you at the lake" not in bob_x.bodies(alice.jid)
        # Chosen in the thread: bob's email is answered to bob.
        await pilot.press("escape")
        await go_to_message(pilot, app, lambda m: m.msg_id == root)
        await pilot.press("i")
        target = str(app.screen.query_one("#reply-target", Static).render())
        assert "Bob" in target and "Carol" not in target, target
        assert text_of(app, "#email-body")
        thread_id = app.screen.query_one(Timeline).current.thread_id
    config = tmp_path / "config.toml"
    code, result, err = await cli(config, "handoff", thread_id, "--to", "im",
                                  "Continuing by chat.")
    assert code == 0, (result, err)
    assert await until_true(lambda: "Continuing by chat." in carol_x.bodies(alice.jid))
    assert "Continuing by chat." not in bob_x.bodies(alice.jid)


async def until_true(predicate, timeout: float = 20.0) -> bool:

    return await wait_until(predicate, timeout)


async def test_a_draft_is_marked_in_the_timeline_and_enter_resumes_it(
        world, tmp_path) -> None:
    """A reply postponed to Drafts sits in its conversation's timeline marked as a
    draft (not like a message sent), and is no response card of the email it
    answers; Enter on it resumes it in the reply editor, its words there, as P
    would."""


    alice, bob = person(world, "alice"), person(world, "bob")
    send_email(world, bob, [alice.email], [], "Budget 2027", "The numbers are in.\n\nBob")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: any(
            t.subject == "Budget 2027" for t in listing(app).rows), 30)
        row = next(t for t in listing(app).rows if t.subject == "Budget 2027")
        (original,) = app.engine.timeline(row.account, row.thread_id)
        draft = await app.engine.draft_save(alice.name, [], "", "Half an answer, to finish",
                                            answering=original.id)
        assert await pilot_until(pilot, lambda: len(app.engine.timeline(
            row.account, row.thread_id)) == 2)
        await go_to_row(pilot, app, lambda t: t.subject == "Budget 2027")
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: len(timeline.messages) == 2)
        # Not a response bob's email got: it is not sent.
        await go_to_message(pilot, app, lambda m: m.id == original.id)
        await pilot.pause()
        assert not [c for c in app.screen.query(ResponseCard) if c.message.id == draft.id]
        await go_to_message(pilot, app, lambda m: m.id == draft.id)
        await pilot.pause()
        lines = shown(timeline).splitlines()
        head = next(line for line in lines if "Alice" in line)
        assert "draft" in head.lower(), lines
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, ComposeScreen))
        assert app.screen.resumed == draft.id
        assert "Half an answer, to finish" in app.screen.query_one("#body", TextArea).text


async def test_at_80x24_the_footers_fit_and_the_help_keeps_its_columns(tmp_path) -> None:
    """The classic terminal of mutt's users: every screen's footer shows its last
    key whole (the main screen's, the outbox's, compose's), and the help's rows
    stay in their columns: no line wider than the screen, each key's [keys] name
    on the line of the key."""


    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = lambda: shown(app.screen.query_one(Footer))  # noqa: E731
        assert "q quit" in footer(), footer()
        await pilot.press(*Q3)
        await pilot.pause()
        assert "q back" in footer(), footer()  # reading: q goes back to the list
        await pilot.press("escape", "O")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        await pilot.pause()
        assert "esc back" in footer() and "q quit" in footer(), footer()
        await pilot.press("escape", "c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        await pilot.pause()
        assert "Cc/Bcc" in footer(), footer()
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("question_mark")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        lines = str(app.screen.query_one("#help Static", Static).render()).splitlines()
        width = app.screen.query_one("#help Static").content_region.width
        assert all(len(line) <= width for line in lines), \
            [line for line in lines if len(line) > width]
        for key in DEFAULTS.values():
            assert any(line.startswith(f"  {keys_shown(key.action, {})} ") and
                       line.rstrip().endswith(f"[keys] {key.action}") for line in lines), key
        assert "esc back" in footer(), footer()


def test_a_refusal_carries_what_to_do_as_data(tmp_path) -> None:
    """gpg finds no key for bob: the refusal says what cannot be done (`reason`)
    and what to do as a hint (an action, its argument); the command line prints it
    in its own words, exactly as it always did, and the app in its keys, as the
    [keys] config binds them, with no command line's words in it."""
    mine = Keyring(tmp_path / "gpg")
    mine.make_key("Alice <alice@example.org>")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "alice@example.org", "bob@example.org", "Hi"
    mail.set_content("Sealed words.")
    with outgoing.requested(outgoing.Protection(sign=True, encrypt=True, home=mine.home,
                                                explicit=True)), \
            pytest.raises(EncryptionRefused) as refused:
        outgoing.prepare(mail, "alice@example.org", tmp_path)
    exc = refused.value
    assert exc.hint == Hint("import-key-or-clear", "bob@example.org")
    assert exc.reason.startswith("not sent: cannot encrypt to bob@example.org: ")
    assert str(exc) == exc.reason + (
        " (import theirs with `keys import`, or send with --no-encrypt)")
    said = in_app_words(exc, {})
    assert said.startswith("Cannot encrypt to bob@example.org: ") and said.endswith(
        " (import their key: K, then i; or ctrl+g in compose to send in clear)."), said
    assert "keys import" not in said and "--no-encrypt" not in said
    rebound = in_app_words(exc, {"keys": ("ctrl+k",)})
    assert "import their key: ctrl+k, then i" in rebound, rebound


def test_every_hint_has_the_apps_words_and_the_command_lines_are_unchanged() -> None:
    """Each way on the engine names (CLI_HINTS) the app says in its keys, with no
    command line's verb or option in it; the command line's sentences stay word
    for word what they were before the hints were data."""
    assert set(APP_HINTS) >= {a for a in CLI_HINTS if not a.startswith("outbox-")}
    for action in APP_HINTS:
        said = in_app_words(EncryptionRefused("not sent: no", ["bob@example.org"],
                                              hint=Hint(action, "bob@example.org")), {})
        assert "--" not in said and "`" not in said, said
    peer = "bob@example.org"
    why = "every device of theirs is distrusted"
    before = {
        EncryptionRefused(f"not sent: cannot encrypt to {peer} with OMEMO: {why}", [peer],
                          hint=Hint("omemo-clear", peer), why=" (asked)"):
            f"not sent: cannot encrypt to {peer} with OMEMO: {why}; send it with "
            "--no-encrypt (or /omemo off) to send it in clear (asked)",
        EncryptionRefused(f"not sent: {peer} has a new OMEMO device you have not verified "
                          "(device 7)", [peer], hint=Hint("verify-device", peer)):
            f"not sent: {peer} has a new OMEMO device you have not verified (device 7); "
            f"compare its fingerprint with theirs, then `keys verify {peer} DEVICE` (or K, "
            "v), or distrust it",
    }
    for exc, words in before.items():
        assert str(exc) == words
    said = in_app_words(next(iter(before)), {})
    assert said == (f"Cannot encrypt to {peer} with OMEMO: {why} (asked); ctrl+g in the "
                    "reply line (or /omemo off) sends it in clear."), said
