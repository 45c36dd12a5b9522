"""OpenPGP mail end to end (issue 23): gpg on the other side, the real SMTP server
and Dovecot in between, our client run as a script would run it.

(a) gpg encrypts and signs a mail to us, swaks delivers it: `show` has it
    decrypted with a good signature, and its words are searchable only when
    `[crypto] index_decrypted` allows it;
(b) we send signed and encrypted: what Dovecot holds is opaque (Subject "..."),
    and gpg on the other side decrypts it and finds our good signature;
(c) a changed word under a signature shows as BAD;
(d) encrypting to someone without a key is refused with exit 9, nothing is sent,
    and the text waits in Drafts.
"""

from __future__ import annotations

import email
import re
import ssl
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import imapclient
import pytest

from bridge.headless.outcome import EXIT_ENCRYPTION, EXIT_OK
from tests.gpg_peer import Keyring, pgp_mime_encrypted, pgp_mime_signed
from tests.harness.servers import Account, World
from tests.others import person, until
from tests.swaks import swaks
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers


def raw_mail(world: World, who: Account, folder: str = "INBOX") -> list[bytes]:
    """The bytes another client fetches from a folder."""
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.select_folder(folder, readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
    return [data[u][b"BODY[]"] for u in sorted(data)]


class People:
    def __init__(self, world: World, tmp: Path) -> None:
        self.me, self.peer = person(world, "alice"), person(world, "bob")
        self.mine, self.theirs = Keyring(tmp / "gpg-me"), Keyring(tmp / "gpg-peer")
        self.mine.make_key(f"Alice <{self.me.email}>")
        self.theirs.make_key(f"Bob <{self.peer.email}>")
        self.mine.import_key(self.theirs.export(self.peer.email))
        self.theirs.import_key(self.mine.export(self.me.email))
        self.tmp = tmp

    def config(self, world: World, index_decrypted: bool = False) -> Path:
        return write_config(world, self.tmp, self.me, (
            f'\n[crypto]\ngnupg_home = "{self.mine.home}"\n'
            f"index_decrypted = {'true' if index_decrypted else 'false'}\n"))

    def headers(self) -> str:
        return (f"From: Bob <{self.peer.email}>\r\nTo: <{self.me.email}>\r\n"
                f"Date: {formatdate()}\r\n")

    def deliver(self, world: World, raw: bytes, name: str) -> None:
        """swaks hands the whole message, as gpg made it, to the SMTP server."""
        path = self.tmp / f"{name}.eml"
        path.write_bytes(raw)
        swaks(world, self.peer, self.me.email, "--data", str(path), subject="...")


@pytest.fixture
def people(world: World, tmp_path: Path) -> Iterator[People]:
    p = People(world, tmp_path)
    yield p
    p.mine.close()
    p.theirs.close()


async def synced_thread(config: Path, world: World, me: Account, count: int = 1) -> str:
    await until(lambda: len(raw_mail(world, me)) >= count, 15, "the mail in Dovecot")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, threads, err = await cli(config, "list")
    assert code == EXIT_OK and threads, err
    return str(threads[0]["thread_id"])


async def test_gpg_encrypted_mail_shows_decrypted_and_stays_out_of_the_index(
        world, people) -> None:
    raw = pgp_mime_encrypted(people.theirs, people.peer.email, people.me.email,
                             people.headers(), "The secret word is xylophone.", "Our plans")
    people.deliver(world, raw, "encrypted")
    assert b"xylophone" not in raw_mail(world, people.me)[0]
    config = people.config(world)
    thread = await synced_thread(config, world, people.me)

    code, shown, err = await cli(config, "show", thread)
    assert code == EXIT_OK, err
    (m,) = shown["messages"]
    assert "xylophone" in m["text"]
    assert m["subject"] == "Our plans"  # the protected Subject, not the outer "..."
    crypto = m["crypto"]
    assert crypto["encrypted"] and crypto["decrypted"] and crypto["protected_subject"]
    (sig,) = crypto["signatures"]
    assert sig["verdict"] == "good"
    assert sig["fingerprint"] == people.theirs.fingerprint(people.peer.email)
    assert sig["uid"] == f"Bob <{people.peer.email}>"

    code, hits, err = await cli(config, "search", "xylophone")
    assert code == EXIT_OK and hits == [], (hits, err)
    # The people who read the plain output get the one line.
    done = await _plain(config, "show", thread)
    assert re.search(r"openpgp: encrypted · signed by Bob <[^>]+> \(good, key not certified, "
                     r"0x[0-9A-F]{16}\)", done), done

    allowed = people.config(world, index_decrypted=True)
    code, _, err = await cli(allowed, "show", thread)
    assert code == EXIT_OK, err
    code, hits, err = await cli(allowed, "search", "xylophone")
    assert code == EXIT_OK and [h["id"] for h in hits] == [m["id"]], (hits, err)


async def _plain(config: Path, *argv: str) -> str:
    import asyncio
    import subprocess
    import sys

    from tests.harness.servers import REPO_ROOT

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tuiclient", "--config", str(config),
                               *argv], capture_output=True, text=True, timeout=60,
                              cwd=REPO_ROOT)
    done = await asyncio.to_thread(run)
    assert done.returncode == EXIT_OK, done.stderr
    return done.stdout


async def test_we_send_signed_and_encrypted_and_gpg_reads_it(world, people) -> None:
    config = people.config(world)
    code, sent, err = await cli(config, "send", "--to", people.peer.email, "--via", "email",
                                "--subject", "Secret plans", "--sign", "--encrypt",
                                "The secret word is marimba.")
    assert code == EXIT_OK, (sent, err)
    await until(lambda: raw_mail(world, people.peer), 15, "bob's copy")
    (wire,) = raw_mail(world, people.peer)
    assert b"marimba" not in wire and b"Secret plans" not in wire
    outer = email.message_from_bytes(wire)
    assert outer["Subject"] == "..."
    assert outer.get_content_type() == "multipart/encrypted"
    ciphertext = outer.get_payload()[1].get_payload(decode=True)
    done = people.theirs.run("--decrypt", "--status-fd", "2", data=ciphertext)
    status = done.stderr.decode()
    assert "[GNUPG:] GOODSIG" in status, status
    assert people.mine.fingerprint(people.me.email) in status  # VALIDSIG: our key
    inner = email.message_from_bytes(done.stdout)
    assert inner["Subject"] == "Secret plans"
    assert "marimba" in inner.get_payload(decode=True).decode()
    # Our own copy in Sent is encrypted too, to us as well: we read it back.
    sent_copy = raw_mail(world, people.me, "Sent")
    assert sent_copy and all(b"marimba" not in raw for raw in sent_copy)


async def test_a_changed_word_under_a_signature_is_bad(world, people) -> None:
    raw = pgp_mime_signed(people.theirs, people.peer.email,
                          people.headers() + "Subject: IOU\r\n", "I owe you 10 euros.")
    people.deliver(world, raw.replace(b"10 euros", b"99 euros"), "tampered")
    config = people.config(world)
    thread = await synced_thread(config, world, people.me)
    code, shown, err = await cli(config, "show", thread)
    assert code == EXIT_OK, err
    (m,) = shown["messages"]
    assert [s["verdict"] for s in m["crypto"]["signatures"]] == ["bad"]
    assert not m["crypto"]["encrypted"]
    assert "BAD signature" in await _plain(config, "show", thread)


async def test_encrypting_to_someone_without_a_key_is_refused_and_the_text_kept(
        world, people) -> None:
    config = people.config(world)
    stranger = person(world, "carol")
    code, result, err = await cli(config, "send", "--to", stranger.email, "--via", "email",
                                  "--subject", "For your eyes", "--encrypt",
                                  "Typed with care, never lost.")
    assert code == EXIT_ENCRYPTION, (result, err)
    assert stranger.email in result["error"]
    assert result["detail"]["missing"] == [stranger.email]
    assert result["detail"]["draft"]
    code, outbox, err = await cli(config, "outbox", "list", "--all")
    assert code == EXIT_OK and outbox == [], outbox
    drafts = raw_mail(world, people.me, "Drafts")
    assert any(b"Typed with care, never lost." in raw for raw in drafts)
    assert raw_mail(world, stranger) == []


async def test_the_app_shows_it_decrypted_and_compose_encrypts_or_refuses(
        world, people) -> None:
    """The TUI: the email view shows the decrypted words and the status line; in
    compose, ctrl+g turns encryption on (shown under the title); to someone
    without a key it is refused, the words kept for P; to bob it goes encrypted."""
    from textual.widgets import Input, Label, TextArea

    from bridge.config import load_config
    from tests.test_app import go_to_row, listing, notes, pilot_until, text_of
    from tuiclient.app import TuiClientApp
    from tuiclient.drafts import unsent
    from tuiclient.screens.compose import NewMessageScreen
    from tuiclient.screens.main import MainScreen

    raw = pgp_mime_encrypted(people.theirs, people.peer.email, people.me.email,
                             people.headers(), "The secret word is xylophone.", "Our plans")
    people.deliver(world, raw, "encrypted")
    await until(lambda: raw_mail(world, people.me), 15, "the mail in Dovecot")
    app = TuiClientApp(load_config(people.config(world)), probe_on_start=False)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: bool(listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: True)
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: "xylophone" in text_of(app, "#email-body"))
        head = text_of(app, "#email-head")
        assert "encrypted · signed by Bob" in head and "(good, key not certified" in head
        assert "Our plans" in head  # the protected Subject
        # ... and the conversation's title says it too, not the outer "..."
        assert await pilot_until(pilot, lambda: text_of(app, "#chat-title").startswith(
            "Our plans · 1 message")), text_of(app, "#chat-title")
        assert "Our plans" in listing(app).row_text(listing(app).rows[0], 120).plain

        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        compose = app.screen
        state = lambda: str(compose.query_one("#compose-openpgp", Label).render())  # noqa: E731
        assert "in clear" in state()
        stranger = person(world, "carol")
        await pilot.press(*stranger.email, "tab")
        compose.query_one("#subject", Input).value = "Sealed"
        compose.query_one("#body", TextArea).text = "Words that must not be lost."
        await pilot.press("ctrl+g", "ctrl+g")
        assert "signed + encrypted" in state()
        await pilot.press("ctrl+s")
        assert await pilot_until(pilot, lambda: any("Cannot encrypt to" in n
                                                    for n in notes(app)), 20), notes(app)
        # In the app's words: its keys, not the command line's.
        said = next(n for n in notes(app) if "Cannot encrypt to" in n)
        assert "K, then i" in said and "keys import" not in said, said
        assert "not sent: " not in said, said
        assert any(u.text == "Words that must not be lost." for u in unsent())
        assert raw_mail(world, stranger) == []

        assert await pilot_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("c")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, NewMessageScreen))
        await pilot.press(*people.peer.email, "tab")
        app.screen.query_one("#subject", Input).value = "Sealed for bob"
        app.screen.query_one("#body", TextArea).text = "The answer is marimba."
        await pilot.press("ctrl+g", "ctrl+g", "ctrl+s")
        await until(lambda: raw_mail(world, people.peer), 20, "bob's copy")
    (wire,) = raw_mail(world, people.peer)
    assert b"marimba" not in wire and b"Sealed for bob" not in wire
    ciphertext = email.message_from_bytes(wire).get_payload()[1].get_payload(decode=True)
    done = people.theirs.run("--decrypt", "--status-fd", "2", data=ciphertext)
    assert "[GNUPG:] GOODSIG" in done.stderr.decode()
    assert b"marimba" in done.stdout


async def test_the_config_encrypts_by_default_forwards_too_and_no_encrypt_is_clear(
        world, people) -> None:
    from tests.others import send_email

    config = people.config(world)
    config.write_text(config.read_text().replace("index_decrypted = false",
                                                 "index_decrypted = false\nencrypt = true"))
    send_email(world, people.peer, [people.me.email], [], "Minutes", "The minutes: oboe.")
    thread = await synced_thread(config, world, people.me)
    code, shown, err = await cli(config, "show", thread)
    assert code == EXIT_OK, err
    row = shown["messages"][0]["id"]
    code, _, err = await cli(config, "forward", str(row), "--to", people.peer.email)
    assert code == EXIT_OK, err
    code, _, err = await cli(config, "send", "--to", people.peer.email, "--via", "email",
                             "--subject", "Open words", "--no-encrypt", "Nothing secret.")
    assert code == EXIT_OK, err
    await until(lambda: len(raw_mail(world, people.peer)) >= 2, 20, "bob's two emails")
    forwarded, plain = sorted(raw_mail(world, people.peer), key=lambda r: b"Open words" in r)
    assert b"oboe" not in forwarded
    assert email.message_from_bytes(forwarded).get_content_type() == "multipart/encrypted"
    assert b"Nothing secret." in plain and b"Open words" in plain


async def test_an_encrypted_reply_keeps_the_thread_and_quotes_nothing_in_clear(
        world, people) -> None:
    raw = pgp_mime_encrypted(people.theirs, people.peer.email, people.me.email,
                             people.headers() + "Message-ID: <plans-1@example.net>\r\n",
                             "The secret word is xylophone.", "Our plans")
    people.deliver(world, raw, "encrypted")
    config = people.config(world)
    thread = await synced_thread(config, world, people.me)
    code, shown, err = await cli(config, "show", thread)
    assert code == EXIT_OK, err
    row = shown["messages"][0]["id"]
    code, out, err = await cli(config, "reply", str(row), "--sign", "--encrypt", "--history",
                               "Agreed: marimba.")
    assert code == EXIT_OK, (out, err)
    await until(lambda: raw_mail(world, people.peer), 20, "bob's copy")
    (wire,) = raw_mail(world, people.peer)
    outer = email.message_from_bytes(wire)
    assert outer["Subject"] == "..." and b"marimba" not in wire and b"xylophone" not in wire
    assert outer["In-Reply-To"].strip() == "<plans-1@example.net>"
    done = people.theirs.run("--decrypt", data=outer.get_payload()[1].get_payload(decode=True))
    inner = email.message_from_bytes(done.stdout)
    assert inner["Subject"] == "Re: Our plans"  # from the protected Subject
    assert b"marimba" in done.stdout
