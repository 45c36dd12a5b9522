"""The list's order and filter, a draft's mark, a message's links, and a
conversation archived, muted or deleted on this machine, from the command line
(issue 19), against the real Dovecot and SMTP server."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
import sys
import uuid
from email.message import EmailMessage
from email.utils import formatdate

import pytest

from bridge.engine import default_store_path
from bridge.headless.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from bridge.model import Direction, Message, Party, Transport
from bridge.store import Store
from tests.harness.servers import REPO_ROOT
from tests.others import person, send_email, wait_inbox
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers


def send_html(world, sender, to: str, subject: str) -> None:
    """A text part and an HTML part, with a link only the HTML has."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender.email, to, subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content("The agenda is at https://example.org/agenda.\n"
                    "Again: https://example.org/agenda\n")
    msg.add_alternative(
        '<p>The agenda is at <a href="https://example.org/agenda">the wiki</a>.</p>'
        '<p>Tickets: <a href="https://tickets.example.org/buy?id=7&amp;x=1">buy</a>'
        '<img src="https://track.example.org/pixel.gif"></p>', subtype="html")
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with smtplib.SMTP("127.0.0.1", world.ports.submission, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(sender.email, sender.password)
        smtp.send_message(msg)


async def test_list_sorts_filters_and_lists_links(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    config = write_config(world, tmp_path, alice)
    send_email(world, carol, [alice.email], [], "Sort one", "From carol.")
    send_email(world, bob, [alice.email], [], "Sort two", "From bob.")
    send_html(world, carol, alice.email, "Sort three")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Sort three")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err

    async def subjects(*argv: str) -> list[str]:
        code, rows, err = await cli(config, "list", *argv)
        assert code == EXIT_OK, err
        return [r["subject"] for r in rows if r["subject"].startswith("Sort")]

    assert await subjects() == ["Sort three", "Sort two", "Sort one"]
    assert await subjects("--reverse") == ["Sort one", "Sort two", "Sort three"]
    # By sender: bob's before carol's (the names sort as the store sorts them).
    by_from = await subjects("--sort", "from")
    assert by_from[0] == "Sort two" and set(by_from[1:]) == {"Sort one", "Sort three"}
    assert (await subjects("--sort", "from", "--reverse"))[-1] == "Sort two"
    code, hits, _ = await cli(config, "search", "subject:Sort")
    rows = {h["subject"]: h["id"] for h in hits}
    code, _, err = await cli(config, "read", str(rows["Sort three"]), str(rows["Sort two"]))
    assert code == EXIT_OK, err
    assert (await subjects("--sort", "unread"))[0] == "Sort one"
    # --match: the search's language, sorted as asked.
    assert await subjects("--match", f"from:{carol.email}") == ["Sort three", "Sort one"]
    assert await subjects("--match", f"from:{carol.email}", "--reverse") == \
        ["Sort one", "Sort three"]
    code, out, _ = await cli(config, "list", "--match", "after:someday")
    assert code == EXIT_USAGE and "after" in out["error"]

    # links: the text part's and the HTML part's, each once, nothing fetched.
    code, links, err = await cli(config, "links", str(rows["Sort three"]))
    assert code == EXIT_OK, err
    assert [x["url"] for x in links] == ["https://example.org/agenda",
                                         "https://tickets.example.org/buy?id=7&x=1"]
    assert [x["n"] for x in links] == [1, 2]
    assert "agenda is at" in links[0]["context"] and "Tickets" in links[1]["context"]
    assert not any("track.example.org" in x["url"] for x in links)

    # An email conversation is not deleted on this machine: its emails go to Trash.
    code, th, _ = await cli(config, "list", "--match", "subject:\"Sort two\"")
    (two,) = th
    code, out, _ = await cli(config, "conversation", "delete", str(two["id"]), "--yes")
    assert code == EXIT_FAILED and "Trash" in out["error"]


async def test_a_saved_reply_draft_is_a_field_of_its_row_and_moves_nothing(world, tmp_path):
    """`list --json`: a conversation with a draft in it says so (`draft_count`)
    and stays where it was, naming who wrote last, as mutt and aerc keep
    postponed mail out of the inbox's order; the plain list marks it."""
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    config = write_config(world, tmp_path, alice)
    send_email(world, bob, [alice.email], [], "Plans one", "From bob.")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Plans one")
    send_email(world, carol, [alice.email], [], "Plans two", "From carol.")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Plans two")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err

    async def rows() -> list[dict]:
        code, found, err = await cli(config, "list")
        assert code == EXIT_OK, err
        return [r for r in found if r["subject"].startswith("Plans")]

    before = await rows()
    assert [r["subject"] for r in before] == ["Plans two", "Plans one"]
    assert [r["draft_count"] for r in before] == [0, 0]
    code, hits, _ = await cli(config, "search", "subject:\"Plans one\"")
    await asyncio.sleep(1.1)  # an email's Date is in whole seconds: the draft later
    code, _, err = await cli(config, "draft", "save", "--in-reply-to", str(hits[0]["id"]),
                             "Half an answer")
    assert code == EXIT_OK, err
    after = await rows()
    assert [r["subject"] for r in after] == ["Plans two", "Plans one"]
    one = after[1]
    assert (one["draft_count"], one["message_count"]) == (1, 2)
    assert (one["last_date"], one["last_sender"]) == (before[1]["last_date"],
                                                      before[1]["last_sender"])
    assert "Half an answer" not in one["snippet"] and after[0]["draft_count"] == 0
    plain = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "tuiclient", "--config", str(config), "list"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    (line,) = [x for x in plain.stdout.splitlines() if "Plans one" in x]
    assert line.endswith("[draft]") and "[draft]" not in plain.stdout.replace(line, "")


async def test_a_chat_conversation_archived_muted_and_deleted_here(world, tmp_path):
    alice = person(world, "alice")
    config = write_config(world, tmp_path, alice)
    code, _, err = await cli(config, "list")  # makes the store, with the account
    assert code == EXIT_OK, err
    store = Store.open(default_store_path())
    account = alice.name

    def line(n: int, date: float) -> Message:
        return Message(msg_id=f"line{n}@x", account=account, transport=Transport.XMPP,
                       direction=Direction.IN, thread_id="chat-with-dave",
                       date=date, sender=Party("dave@chat.example", "Dave"),
                       recipients=[Party(alice.jid, "", "to")], text=f"line {n}",
                       stanza_id=f"s{n}", origin_id=f"line{n}@x")
    store.insert_messages([line(1, 1_700_000_000.0), line(2, 1_700_000_100.0)])
    thread = store.get_thread(account, "chat-with-dave")
    assert thread is not None

    async def listed() -> set[str]:
        code, rows, err = await cli(config, "list")
        assert code == EXIT_OK, err
        return {r["thread_id"] for r in rows}

    assert "chat-with-dave" in await listed()
    code, done, err = await cli(config, "conversation", "archive", str(thread.id))
    assert code == EXIT_OK, err
    assert done == [{"id": thread.id, "account": account, "thread_id": "chat-with-dave",
                     "action": "archive"}]
    assert "chat-with-dave" not in await listed()
    store.insert_messages([line(3, 1_700_000_200.0)])  # a new line: back in the list
    assert "chat-with-dave" in await listed()

    code, _, err = await cli(config, "conversation", "mute", str(thread.id))
    assert code == EXIT_OK, err
    assert store.muted_conversations() == {(account, "chat-with-dave")}
    code, _, err = await cli(config, "conversation", "unmute", "chat-with-dave")
    assert code == EXIT_OK, err
    assert store.muted_conversations() == set()

    code, out, _ = await cli(config, "conversation", "delete", str(thread.id))
    assert code == EXIT_USAGE and "--yes" in out["error"]
    code, done, err = await cli(config, "conversation", "delete", str(thread.id), "--yes")
    assert code == EXIT_OK, err
    assert done[0]["removed"] == 3
    assert store.get_thread(account, "chat-with-dave") is None
    assert "chat-with-dave" not in await listed()
    code, out, _ = await cli(config, "conversation", "archive", "nothing-here")
    assert code == EXIT_FAILED
    store.close()
