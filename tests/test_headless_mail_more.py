"""Mail verbs' options and config keys the older tests left out (issue 19), each
run as a script would run it (`--json`, exit codes) against the real Dovecot and
SMTP server, and checked as other mail clients see the servers: `flag --off`,
`save` of one file, one part, all, of several messages; `forward --file`;
`bounce` and `draft send` of several; `draft save --cc --bcc --from`; the
`downloads`, `archive_folder` and `expunge_deletes` keys read from the config
file; exit 4 and 5 when the server refuses the login or is out of reach."""

from __future__ import annotations

import socket
import ssl

import imapclient
import pytest

from bridge.headless.cli import EXIT_AUTH, EXIT_NETWORK, EXIT_OK, EXIT_USAGE
from tests.conftest import password_command
from tests.others import inbox, person, send_email, wait_inbox
from tests.test_app_attachments import send_with_files
from tests.test_headless import cli
from tests.test_headless_mail import folder

pytestmark = pytest.mark.servers

PDF = b"%PDF-1.4 the plan\n"
NOTES = b"the notes\n"


def config_with(world, tmp_path, who, keys: str):
    """`who`'s config with account keys (TOML lines) added to its account."""
    text = world.client_config(who, password_command(tmp_path, who))
    head, sep, rest = text.partition("password_command = ")
    line, nl, tail = rest.partition("\n")
    path = tmp_path / "config.toml"
    path.write_text(f"{head}{sep}{line}{nl}{keys}{tail}")
    return path


async def rows_by_subject(config, query: str = "in:INBOX") -> dict[str, int]:
    code, _, err = await cli(config, "sync")
    assert code == EXIT_OK, err
    code, hits, err = await cli(config, "search", query)
    assert code == EXIT_OK, err
    return {h["subject"]: h["id"] for h in hits}


def raw_drafts(world, who) -> list:
    import email
    import email.policy
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True, ssl_context=ctx) as c:
        c.login(who.email, who.password)
        c.select_folder("Drafts", readonly=True)
        uids = c.search()
        data = c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
    return [email.message_from_bytes(d[b"BODY[]"], policy=email.policy.default)
            for d in data.values()]


async def test_save_one_a_part_all_and_of_several_messages(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    downloads = tmp_path / "from-config"
    config = config_with(world, tmp_path, alice, f'downloads = "{downloads}"\n')
    send_with_files(world, bob, alice.email, "Two files", "Both attached.",
                    [("notes.txt", "text/plain", NOTES), ("plan.pdf", "application/pdf", PDF)])
    send_email(world, bob, [alice.email], [], "One file", "One attached.",
               attachment=("single.pdf", "application/pdf", PDF))
    await wait_inbox(world, alice, lambda m: m["Subject"] == "One file")
    rows = await rows_by_subject(config)
    two, one = str(rows["Two files"]), str(rows["One file"])

    # Without --part or --all, a message with two files is a usage error; nothing saved.
    code, said, err = await cli(config, "save", two)
    assert code == EXIT_USAGE and "2 attachments" in err + str(said)
    assert not downloads.exists()
    # The only file of a message: into the config's `downloads`.
    code, saved, err = await cli(config, "save", one)
    assert code == EXIT_OK, err
    assert [p.rsplit("/", 1) for p in saved["saved"]] == [[str(downloads), "single.pdf"]]
    # --part 2: the second file only.
    code, saved, err = await cli(config, "save", two, "--part", "2", "--dir",
                                 str(tmp_path / "part"))
    assert code == EXIT_OK, err
    assert sorted(p.name for p in (tmp_path / "part").iterdir()) == ["plan.pdf"]
    assert (tmp_path / "part" / "plan.pdf").read_bytes() == PDF
    # --all: both.
    code, saved, err = await cli(config, "save", two, "--all", "--dir", str(tmp_path / "all"))
    assert code == EXIT_OK, err
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["notes.txt", "plan.pdf"]
    assert (tmp_path / "all" / "notes.txt").read_bytes() == NOTES
    # Several messages at once: every file of each.
    code, saved, err = await cli(config, "save", two, one, "--all", "--dir",
                                 str(tmp_path / "many"))
    assert code == EXIT_OK, err
    assert len(saved["saved"]) == 3
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == [
        "notes.txt", "plan.pdf", "single.pdf"]
    # A message with several among them and no option: refused before anything is written.
    code, _, err = await cli(config, "save", one, two, "--dir", str(tmp_path / "none"))
    assert code == EXIT_USAGE and not (tmp_path / "none").exists()


async def test_flag_off_forward_file_bounce_several_and_config_keys(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    config = config_with(world, tmp_path, alice,
                         'archive_folder = "Old mail"\nexpunge_deletes = true\n')
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ssl.create_default_context(
                                   cafile=str(world.ca_file))) as c:
        c.login(alice.email, alice.password)
        c.create_folder("Old mail")
    for subject in ("Star", "Old", "Spam", "Bounce one", "Bounce two"):
        send_email(world, bob, [alice.email], [], subject, f"About {subject}.",
                   attachment=("plan.pdf", "application/pdf", PDF)
                   if subject == "Star" else None)
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Bounce two")
    rows = await rows_by_subject(config)

    code, _, err = await cli(config, "flag", str(rows["Star"]))
    assert code == EXIT_OK, err
    assert "\\Flagged" in folder(world, alice, "INBOX")["Star"]
    code, _, err = await cli(config, "flag", str(rows["Star"]), "--off")
    assert code == EXIT_OK, err
    assert "\\Flagged" not in folder(world, alice, "INBOX")["Star"]

    # archive_folder from the config: there, not in the server's Archive.
    code, _, err = await cli(config, "archive", str(rows["Old"]))
    assert code == EXIT_OK, err
    assert set(folder(world, alice, "Old mail")) == {"Old"}
    assert "Old" not in folder(world, alice, "INBOX")
    # expunge_deletes from the config: gone for good, not in Trash.
    code, done, err = await cli(config, "delete", str(rows["Spam"]))
    assert code == EXIT_OK, err
    assert done["action"] == "expunge"
    assert "Spam" not in folder(world, alice, "INBOX")
    with imapclient.IMAPClient("127.0.0.1", world.ports.imaps, ssl=True,
                               ssl_context=ssl.create_default_context(
                                   cafile=str(world.ca_file))) as c:
        c.login(alice.email, alice.password)
        assert not c.folder_exists("Trash") or "Spam" not in folder(world, alice, "Trash")

    # forward --file: the original's file and ours go along.
    mine = tmp_path / "budget.csv"
    mine.write_text("a,b\n1,2\n")
    code, sent, err = await cli(config, "forward", str(rows["Star"]), "--to", carol.email,
                                "--file", str(mine), "See both.")
    assert code == EXIT_OK and sent["state"] == "sent", err
    (fwd,) = await wait_inbox(world, carol, lambda m: m["Subject"] == "Fwd: Star", 30)
    assert [p.get_filename() for p in fwd.iter_attachments()] == ["plan.pdf", "budget.csv"]
    assert next(p for p in fwd.iter_attachments()
                if p.get_filename() == "budget.csv").get_content() == "a,b\n1,2\n"

    # bounce of several: each redirected as it is; one answer per message.
    code, bounced, err = await cli(config, "bounce", str(rows["Bounce one"]),
                                   str(rows["Bounce two"]), "--to", carol.email)
    assert code == EXIT_OK, err
    assert [b["state"] for b in bounced] == ["sent", "sent"]
    await wait_inbox(world, carol, lambda m: m["Subject"] == "Bounce two", 30)
    got = {m["Subject"]: m for m in inbox(world, carol) if m["Resent-From"]}
    assert set(got) == {"Bounce one", "Bounce two"}
    assert all(bob.email in m["From"] for m in got.values())


async def test_draft_save_with_cc_bcc_from_and_send_several(world, tmp_path):
    alice, bob, carol, dave = (person(world, n) for n in ("alice", "bob", "carol", "dave"))
    alias = f"sales-{alice.email}"
    config = config_with(world, tmp_path, alice, f'aliases = ["{alias}"]\n')
    # `--json` before the sub-command (it used to be dropped there).
    code, saved, err = await cli(config, "draft", "--json", "save", "--to", bob.email,
                                 "--cc", carol.email, "--bcc", dave.email, "--from", alias,
                                 "--subject", "First", "One.")
    assert code == EXIT_OK and saved["subject"] == "First", err
    code, _, err = await cli(config, "draft", "save", "--to", bob.email, "--subject",
                             "Second", "Two.")
    assert code == EXIT_OK, err
    (first,) = [m for m in raw_drafts(world, alice) if m["Subject"] == "First"]
    assert alias in first["From"] and carol.email in first["Cc"]
    assert dave.email in first["Bcc"]  # kept in the draft, as mutt's postponed mail
    code, listed, err = await cli(config, "draft", "list")
    assert code == EXIT_OK, err
    ids = [str(d["id"]) for d in listed]
    assert len(ids) == 2
    code, sent, err = await cli(config, "draft", "send", *ids)
    assert code == EXIT_OK, err
    assert len(sent) == 2
    for who in (bob, carol, dave):
        (got,) = await wait_inbox(world, who, lambda m: m["Subject"] == "First", 30)
        assert alias in got["From"] and got["Bcc"] is None
    await wait_inbox(world, bob, lambda m: m["Subject"] == "Second", 30)
    assert folder(world, alice, "Drafts") == {}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_exit_4_when_the_login_is_refused_and_5_when_out_of_reach(world, tmp_path):
    alice, bob = person(world, "alice"), person(world, "bob")
    config = config_with(world, tmp_path, alice, "")
    send_email(world, bob, [alice.email], [], "Kept", "Still here.")
    await wait_inbox(world, alice, lambda m: m["Subject"] == "Kept")
    row = str((await rows_by_subject(config))["Kept"])
    good = config.read_text()

    # The server is out of reach: 5, for a triage verb and for one that lists.
    config.write_text(good.replace(f"port = {world.ports.imaps}\n",
                                   f"port = {closed_port()}\n"))
    for argv in (("delete", row), ("draft", "list"), ("save", row, "--all")):
        code, said, err = await cli(config, *argv)
        assert code == EXIT_NETWORK, (argv, code, said, err)
        assert "IMAP failed" in err + str(said)
    # The login is refused (a wrong password): 4.
    config.write_text(good)
    (tmp_path / f"{alice.name}.secret").write_text("not-the-password\n")
    for argv in (("delete", row), ("draft", "list")):
        code, said, err = await cli(config, *argv)
        assert code == EXIT_AUTH, (argv, code, said, err)
        assert "login refused" in err + str(said)
    assert "Kept" in folder(world, alice, "INBOX")
