"""A reply's draft keeps its thread, a reply takes files from disk, and the list's
limit finds conversations: the engine and the command line against the real
Dovecot and SMTP server, checked as another mail client sees them."""

from __future__ import annotations

import email
import email.policy
import ssl

import imapclient
import pytest

from bridge.errors import EngineError
from bridge.headless.cli import EXIT_OK, EXIT_USAGE
from tests.others import engine_for, person, send_email, wait_inbox
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers
PDF = b"%PDF-1.4 the figures\n"


def drafts_on_server(world, who) -> list[email.message.EmailMessage]:
    """The Drafts folder as any client reads it."""
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True, ssl_context=ctx) as c:
        c.login(who.email, who.password)
        if not c.folder_exists("Drafts"):
            return []
        c.select_folder("Drafts", readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
    return [email.message_from_bytes(data[u][b"BODY[]"], policy=email.policy.default)
            for u in sorted(data)]


async def test_a_reply_draft_keeps_its_thread_until_it_is_sent(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    first = send_email(world, bob, [alice.email], [], "Budget", "Can you check it?")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Budget")
    engine = engine_for(world, tmp_path, alice)
    try:
        await engine.sync(here=True)
        original = engine.find_message(first)
        assert original.id is not None

        # Saved as the reply it is: To, Subject and the threading headers from the
        # message it answers; the store puts it in the same thread.
        saved = await engine.draft_save(alice.name, [], "", "Half an answer.",
                                        answering=original.id)
        (draft,) = drafts_on_server(world, alice)
        assert draft["In-Reply-To"] == f"<{first}>"
        assert f"<{first}>" in draft["References"]
        assert bob.email in draft["To"] and draft["Subject"] == "Re: Budget"
        assert saved.in_reply_to == first and saved.thread_id == original.thread_id

        # Given as ids (a draft resumed on a machine that lacks the original).
        again = await engine.draft_save(alice.name, [bob.email], "Re: Budget",
                                        "A whole answer.", replaces=saved.id,
                                        in_reply_to=first, references=[first])
        (draft,) = drafts_on_server(world, alice)
        assert draft["In-Reply-To"] == f"<{first}>" and "A whole answer." in \
            draft.get_body().get_content()

        # Sent from Drafts: bob's client threads it under his mail.
        await engine.draft_send(again.id or 0)
        await engine.drain()
        (got,) = await wait_inbox(world, bob, lambda m: m["Subject"] == "Re: Budget")
        assert got["In-Reply-To"] == f"<{first}>" and f"<{first}>" in got["References"]
        assert drafts_on_server(world, alice) == []

        # A draft saved and then answered another way is discarded for good.
        other = await engine.draft_save(alice.name, [], "", "Never mind.",
                                        answering=original.id)
        await engine.draft_discard(other.id or 0)
        assert drafts_on_server(world, alice) == []
    finally:
        await engine.stop()
        engine.close()


async def test_a_reply_takes_files_from_disk(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    first = send_email(world, bob, [alice.email], [], "Figures", "Send me the figures?")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Figures")
    figures = tmp_path / "figures.pdf"
    figures.write_bytes(PDF)
    engine = engine_for(world, tmp_path, alice)
    try:
        await engine.sync(here=True)
        original = engine.find_message(first)
        with pytest.raises(EngineError, match="by email"):
            await engine.reply(original.id or 0, "Here.", via="im", files=[figures])
        # "auto" with files from disk: by email.
        result = await engine.reply(original.id or 0, "Here they are.", files=[figures])
        assert result.via == "email"
        await engine.drain()
        (got,) = await wait_inbox(world, bob, lambda m: m["Subject"] == "Re: Figures")
        assert got["In-Reply-To"] == f"<{first}>"
        files = {p.get_filename(): (p.get_content_type(), p.get_payload(decode=True))
                 for p in got.iter_attachments()}
        assert files == {"figures.pdf": ("application/pdf", PDF)}
    finally:
        await engine.stop()
        engine.close()


async def test_headless_reply_file_and_reply_drafts(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    config = write_config(world, tmp_path, alice)
    first = send_email(world, bob, [alice.email], [], "Minutes", "The minutes, please.")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Minutes")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, _ = await cli(config, "search", "subject:minutes")
    row = str(hits[0]["id"])
    notes = tmp_path / "minutes.txt"
    notes.write_text("the minutes\n")

    code, out, err = await cli(config, "reply", row, "--file", str(tmp_path / "nothing.txt"),
                               "Here.")
    assert code == EXIT_USAGE and "no file" in err + str(out)
    code, _sent, err = await cli(config, "reply", row, "--file", str(notes), "Here they are.")
    assert code == EXIT_OK, err
    (got,) = await wait_inbox(world, bob, lambda m: m["Subject"] == "Re: Minutes")
    assert got["In-Reply-To"] == f"<{first}>"
    assert [(p.get_filename(), p.get_payload(decode=True)) for p in got.iter_attachments()] \
        == [("minutes.txt", b"the minutes\n")]

    # draft save --in-reply-to: To, Subject and the thread from the message.
    code, saved, err = await cli(config, "draft", "save", "--in-reply-to", row, "Later.")
    assert code == EXIT_OK, err
    (draft,) = drafts_on_server(world, alice)
    assert draft["In-Reply-To"] == f"<{first}>" and draft["Subject"] == "Re: Minutes"
    assert bob.email in draft["To"]
    # A Message-ID this store does not hold is taken as it is.
    code, _saved, err = await cli(config, "draft", "save", "--to", bob.email,
                                  "--in-reply-to", "<elsewhere@example.test>",
                                  "--replace", str(saved["id"]), "Later still.")
    assert code == EXIT_OK, err
    (draft,) = drafts_on_server(world, alice)
    assert draft["In-Reply-To"] == "<elsewhere@example.test>"
    assert draft["References"] == "<elsewhere@example.test>"


async def test_conversations_matching_a_limit(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    send_email(world, bob, [alice.email], [], "Lim one", "First.")
    send_email(world, carol, [alice.email], [], "Lim two", "Second.")
    first = send_email(world, bob, [alice.email], [], "Lim three", "Third.")
    send_email(world, carol, [alice.email], [], "Re: Lim three", "Answer.",
               in_reply_to=first)
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Re: Lim three")
    engine = engine_for(world, tmp_path, alice)
    try:
        await engine.sync(here=True)
        found = engine.conversations_matching(f"from:{bob.email}")
        # One row per conversation, newest first; the thread of two counts once.
        assert [t.subject for t in found] == ["Lim three", "Lim one"] or \
            [t.subject for t in found] == ["Re: Lim three", "Lim one"]
        assert len(engine.conversations_matching(f"from:{carol.email}")) == 2
        three = engine.find_message(first)
        await engine.mark_read([three.id or 0])
        unread = {t.subject for t in engine.conversations_matching(
            f"from:{bob.email} is:unread")}
        assert unread == {"Lim one"}
        assert engine.conversations_matching("nosuchwordanywhere") == []
        with pytest.raises(ValueError):
            engine.conversations_matching("after:someday")
    finally:
        await engine.stop()
        engine.close()
