"""The mail verbs of the command line (issue 19), each run as a script would run
it (`--json`, exit codes), checked as other mail clients see the servers."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage

import imapclient
import pytest

from bridge.config import load_config
from bridge.engine import Engine
from bridge.headless.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from bridge.store import Store
from tests.conftest import password_command
from tests.others import inbox, person, send_email, until, wait_inbox
from tests.test_headless import cli, write_config

pytestmark = pytest.mark.servers
PDF = b"%PDF-1.4 the plan\n"


def folder(world, who, name: str) -> dict[str, set[str]]:
    """Subject -> flags of what another client sees in a folder."""
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True, ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.select_folder(name, readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"ENVELOPE", b"FLAGS"]) if uids else {}
    return {d[b"ENVELOPE"].subject.decode(): {f.decode() for f in d[b"FLAGS"]}
            for d in data.values()}


async def test_triage_verbs_on_the_server_and_undo(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    config = write_config(world, tmp_path, alice)
    for subject in ("Lunch", "Newsletter", "Receipt", "Plan"):
        send_email(world, bob, [alice.email], [], subject, f"About {subject}.")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Plan")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, _ = await cli(config, "search", "in:INBOX")
    rows = {h["subject"]: h["id"] for h in hits}

    code, done, err = await cli(config, "delete", str(rows["Newsletter"]), str(rows["Lunch"]))
    assert code == EXIT_OK, err
    assert done["action"] == "delete" and sorted(done["rows"]) == sorted(
        [rows["Newsletter"], rows["Lunch"]])
    assert set(folder(world, alice, "Trash")) == {"Newsletter", "Lunch"}
    code, _, err = await cli(config, "undo")
    assert code == EXIT_OK, err
    assert folder(world, alice, "Trash") == {}
    assert {"Newsletter", "Lunch"} <= set(folder(world, alice, "INBOX"))

    code, _, err = await cli(config, "archive", f"#{rows['Receipt']}")
    assert code == EXIT_OK, err
    assert set(folder(world, alice, "Archive")) == {"Receipt"}

    code, _, err = await cli(config, "flag", str(rows["Plan"]))
    assert code == EXIT_OK, err
    code, _, err = await cli(config, "tag", str(rows["Plan"]), str(rows["Lunch"]), "+work",
                             "+$later")
    assert code == EXIT_OK, err
    code, _, err = await cli(config, "tag", str(rows["Lunch"]), "-work")
    assert code == EXIT_OK, err
    code, _, err = await cli(config, "unread", str(rows["Plan"]))
    assert code == EXIT_OK, err
    flags = folder(world, alice, "INBOX")
    assert {"\\Flagged", "work", "$later"} <= flags["Plan"] and "\\Seen" not in flags["Plan"]
    assert "work" not in flags["Lunch"] and "$later" in flags["Lunch"]
    code, hits, _ = await cli(config, "search", "tag:work")
    assert [h["subject"] for h in hits] == ["Plan"]

    code, _, err = await cli(config, "move", str(rows["Plan"]), "Nowhere")
    assert code == EXIT_FAILED and "refused" in err + str(_)
    code, _, err = await cli(config, "copy", str(rows["Plan"]), "Archive")
    assert code == EXIT_OK, err
    assert set(folder(world, alice, "Archive")) == {"Receipt", "Plan"}
    assert "Plan" in folder(world, alice, "INBOX")
    code, _, _ = await cli(config, "tag", str(rows["Plan"]), "+two words")
    assert code in (EXIT_FAILED, EXIT_USAGE)


async def test_save_forward_bounce_and_drafts(world, tmp_path, monkeypatch):
    alice, bob, carol = person(world, "alice"), person(world, "bob"), person(world, "carol")
    config = write_config(world, tmp_path, alice)
    send_email(world, bob, [alice.email], [], "The plan", "Plan attached.",
               attachment=("plan.pdf", "application/pdf", PDF))
    await wait_inbox(world, alice, lambda m: m["Subject"] == "The plan")
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, _ = await cli(config, "search", "subject:plan")
    row = str(hits[0]["id"])

    code, saved, err = await cli(config, "save", row, "--dir", str(tmp_path / "dl"))
    assert code == EXIT_OK, err
    (path,) = saved["saved"]
    assert path.endswith("plan.pdf") and open(path, "rb").read() == PDF

    code, sent, err = await cli(config, "forward", row, "--to", carol.email, "For you.")
    assert code == EXIT_OK, err
    assert sent["state"] == "sent" and sent["outbox_id"]
    code, _sent, err = await cli(config, "forward", row, "--to", carol.email,
                                 "--as-attachment")
    assert code == EXIT_OK, err
    code, _bounced, err = await cli(config, "bounce", row, "--to", carol.email)
    assert code == EXIT_OK, err
    await wait_inbox(world, carol, lambda m: len(inbox(world, carol)) >= 3)
    mails = inbox(world, carol)
    fwd = [m for m in mails if m["Subject"] == "Fwd: The plan"]
    assert len(fwd) == 2
    inline = next(m for m in fwd if "For you." in m.get_body().get_content())
    assert [p.get_filename() for p in inline.iter_attachments()] == ["plan.pdf"]
    attached = next(m for m in fwd if m is not inline)
    inner = next(p for p in attached.iter_attachments()
                 if p.get_content_type() == "message/rfc822").get_content()
    assert [p.get_payload(decode=True) for p in inner.iter_attachments()] == [PDF]
    bounce = next(m for m in mails if m["Subject"] == "The plan")
    assert alice.email in bounce["Resent-From"] and bob.email in bounce["From"]

    code, _draft, err = await cli(config, "draft", "save", "--to", carol.email, "--subject",
                                 "Later", "Half a thought")
    assert code == EXIT_OK, err
    assert "Later" in folder(world, alice, "Drafts")
    # Another machine: a fresh store sees the draft on the server, and sends it.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "other-machine"))
    code, listed, err = await cli(config, "draft", "list")
    assert code == EXIT_OK, err
    assert [d["subject"] for d in listed] == ["Later"]
    code, _sent, err = await cli(config, "draft", "send", str(listed[0]["id"]))
    assert code == EXIT_OK, err
    assert folder(world, alice, "Drafts") == {}
    later = await wait_inbox(world, carol, lambda m: m["Subject"] == "Later")
    assert "Half a thought" in later[0].get_body().get_content()


async def test_reply_from_the_alias_with_signature_sets_answered(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    alias = f"sales-{alice.email}"
    text = world.client_config(alice, password_command(tmp_path, alice))
    head, sep, rest = text.partition("password_command = ")
    line, nl, tail = rest.partition("\n")
    path = tmp_path / "config.toml"
    path.write_text(f'{head}{sep}{line}{nl}aliases = ["{alias}"]\n'
                    f'signature = "Alice, sales desk"\n{tail}')
    # bob writes to alice's alias; the envelope reaches her mailbox.
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = bob.email, alias, "Quote please"
    msg["Message-ID"] = original_id = f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content("How much for ten?")
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with smtplib.SMTP("127.0.0.1", world.ports.submission, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(bob.email, bob.password)
        smtp.sendmail(bob.email, [alice.email], msg.as_bytes())
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Quote please")

    engine = Engine(load_config(path), Store.open(tmp_path / "data" / "store.db"))
    try:
        await engine.sync(here=True)
        original = engine.find_message(original_id.strip("<>"))
        await engine.reply(original.id or 0, "Ten for 100.", via="email")
        await engine.drain()
        (reply,) = await wait_inbox(world, bob, lambda m: m["Subject"] == "Re: Quote please")
        assert alias in reply["From"]
        body = reply.get_body().get_content()
        body = body.replace("\r\n", "\n")
        assert body.startswith("Ten for 100.") and "\n-- \nAlice, sales desk" in body
        await until(lambda: "\\Answered" in folder(world, alice, "INBOX")["Quote please"],
                    15, "\\Answered on the original")
    finally:
        await engine.stop()
        engine.close()
