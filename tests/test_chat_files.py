"""Files by chat, as a Profanity or Poezio user has them, against the real
Prosody and its mod_http_file_share (HTTPS, the test run's own CA): a file
bob's plain slixmpp client uploads (XEP-0363) and sends as an out-of-band link
(XEP-0066) is saved with `s` on its line, or with `save ROW` from the command
line, its bytes as sent, into the downloads folder; its size is "size unknown"
until then, never "0 B"; a redirect or a file over the limit is refused in
one line; and `/sendfile PATH` (or `/attach PATH`) in the chat input reaches
bob, or everyone in a room, as a link to the file's bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.plain_xmpp import fetch
from tests.harness.servers import MUC_DOMAIN, UPLOAD_DOMAIN
from tests.others import person
from tests.test_app import (
    alice_app,
    go_to_row,
    listing,
    notes,
    pilot_until,
    text_of,
    wait_until,
)
from tests.test_app_chat import command, drawn
from tests.test_headless import cli, write_config
from tests.test_headless_chat import plain
from tests.test_xmpp_chat import line, own_room
from tuiclient.screens.attachments import AttachmentsScreen
from tuiclient.widgets.timeline import Timeline

pytestmark = pytest.mark.servers

NOTES = b"Meeting notes\n" + b"- the vault opens at nine\n" * 6  # 170 bytes, as the tester's


async def _bob_sends_file(bob_x, to: str, data: bytes, name: str) -> str:
    url = await bob_x.upload(data, name, "text/plain", UPLOAD_DOMAIN)
    bob_x.send(to, url, oob=url)
    return url


async def test_s_on_a_chat_line_saves_its_file_and_the_size_is_not_zero(
        world, tmp_path, running, monkeypatch):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    downloads = tmp_path / "dl"
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(downloads))
    assert len(NOTES) == 170
    bob_x = await xmpp(plain(world, bob))
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name), 30)
        await _bob_sends_file(bob_x, alice.jid, NOTES, "notes.txt")
        assert await pilot_until(pilot, lambda: any(
            "file" in (t.snippet or "") or "notes.txt" in (t.snippet or "")
            or "https://" in (t.snippet or "") for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: True)
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.current is not None
                                 and timeline.current.attachments)
        timeline.focus()
        await pilot.pause()
        # Its size is not known before it is fetched (a bare link says none).
        head = text_of(app, "#email-head")
        assert "notes.txt" in head and "0 B" not in head and "size unknown" in head, head

        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, AttachmentsScreen), 20)
        assert text_of(app, ".dialog-title") == f"Files of {bob.display_name}'s chat line"
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: (downloads / "notes.txt").exists(), 30), \
            notes(app)
        assert (downloads / "notes.txt").read_bytes() == NOTES
        assert any(str(downloads) in n and "notes.txt" in n for n in notes(app)), notes(app)
        # Fetched, its real size is known.
        assert await pilot_until(pilot, lambda: "notes.txt  170 B" in text_of(
            app, "#email-head")), text_of(app, "#email-head")
        # Saved again: a new name, the first file left as it was.
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, AttachmentsScreen), 20)
        await pilot.press("s")
        assert await pilot_until(pilot, lambda: (downloads / "notes (1).txt").exists(), 30)
        assert (downloads / "notes.txt").read_bytes() == NOTES


async def test_save_from_the_command_line_fetches_a_chat_line_s_file(world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    data = os.urandom(50_000) + b"end"
    url = await _bob_sends_file(bob_x, alice.jid, data, "photo.jpg")
    code, _, err = await cli(config, "sync")
    assert code == 0, err
    code, hits, err = await cli(config, "search", url.rpartition("/")[2])
    assert code == 0 and hits, (hits, err)
    row = str(hits[0]["id"])
    target = tmp_path / "saved"
    code, saved, err = await cli(config, "save", row, "--dir", str(target))
    assert code == 0, (saved, err)
    (path,) = saved["saved"]
    assert path == str(target / "photo.jpg")
    assert (target / "photo.jpg").read_bytes() == data

    assert sorted(p.name for p in target.iterdir()) == ["photo.jpg"]


@contextlib.contextmanager
def hostile_server(world) -> Iterator[str]:
    """An https server on loopback (the test run's certificate) whose links
    redirect to a local file, or announce a file far over any limit."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "file:///etc/passwd")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(50 * 1024 ** 3))
            self.end_headers()
            self.wfile.write(b"x" * 1024)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(world.certs.chain, world.certs.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_hostile_link_is_refused_in_one_line(world, tmp_path, running):
    """A redirect (here to a local file) is never followed; a file announced
    far over the limit is not read: each refused in one line, nothing written."""
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    config = write_config(world, tmp_path, alice)
    bob_x = await xmpp(plain(world, bob))
    target = tmp_path / "saved"
    with hostile_server(world) as base:
        for name in ("redirect/passwd.txt", "huge/film.mp4"):
            bob_x.send(alice.jid, f"{base}/{name}", oob=f"{base}/{name}")
        code, _, err = await cli(config, "sync")
        assert code == 0, err
        refusals = {}
        for word in ("passwd.txt", "film.mp4"):
            code, hits, err = await cli(config, "search", word)
            assert hits, (word, err)
            code, refused, _ = await cli(config, "save", str(hits[0]["id"]),
                                         "--dir", str(target))
            assert code != 0 and "\n" not in refused["error"], refused
            refusals[word] = refused["error"]
    assert "redirect" in refusals["passwd.txt"], refusals
    assert "over the download limit" in refusals["film.mp4"] and "MiB" in \
        refusals["film.mp4"], refusals
    assert not target.exists() or not list(target.iterdir())


async def test_sendfile_in_the_chat_input_reaches_the_contact(world, tmp_path, running):
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    report = tmp_path / "report 2026.pdf"
    data = b"%PDF-1.4\n" + os.urandom(4000) + b"\n%%EOF\n"
    report.write_bytes(data)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name), 30)
        bob_x.send(alice.jid, "Send me the report?")
        assert await pilot_until(pilot, lambda: any(
            t.snippet == "Send me the report?" for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Send me the report?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Send me the report?" in x
                                                    for x in drawn(app)))
        await command(pilot, app, f"/sendfile {report}")
        assert await pilot_until(pilot, lambda: [r for r in bob_x.received if r.oob], 30)
        (got,) = [r for r in bob_x.received if r.oob]
        assert got.body == got.oob[0] and got.oob[0].startswith("https://")
        assert fetch(got.oob[0], str(world.ca_file)) == data
        # One line of ours: the file, no empty line before it, here or there.
        assert len([r for r in bob_x.received if r.sender.startswith(alice.jid)]) == 1
        assert await pilot_until(pilot, lambda: len(drawn(app)) == 2 and
                                 got.oob[0] in drawn(app)[-1]
                                 and "+1 file" in drawn(app)[-1]), drawn(app)


async def test_attach_in_a_room_reaches_everyone_there(world, tmp_path, running):
    """`/attach PATH` (Poezio's word) in a group chat: the file goes to the room."""
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    room = f"files{uuid.uuid4().hex[:6]}@{MUC_DOMAIN}"
    await own_room(bob_x, room, "bob")
    plan = tmp_path / "plan.txt"
    plan.write_bytes(NOTES)
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name), 30)
        await command(pilot, app, f"/join {room}")
        assert await pilot_until(pilot, lambda: app.engine.joined_rooms(alice.name) == [room])
        bob_x.send(room, "Who has the plan?", groupchat=True)
        assert await pilot_until(pilot, lambda: any(t.snippet == "Who has the plan?"
                                                    for t in listing(app).rows), 30)
        await go_to_row(pilot, app, lambda t: t.snippet == "Who has the plan?")
        await pilot.press("enter")
        assert await pilot_until(pilot, lambda: any("Who has the plan?" in x
                                                    for x in drawn(app)))
        await command(pilot, app, f"/attach {plan}")
        assert await pilot_until(pilot, lambda: [r for r in bob_x.received
                                                 if r.oob and r.mtype == "groupchat"], 30)
        # (slixmpp tells a room's line twice, as "message" and "groupchat_message")
        files = {r.origin_id: r for r in bob_x.received if r.oob}
        (got,) = files.values()
        assert got.sender.startswith(room) and fetch(got.oob[0], str(world.ca_file)) == NOTES


def test_tab_completes_the_path_of_sendfile(tmp_path, monkeypatch):
    """Tab after /sendfile completes from the folder typed, as a shell does:
    a folder with its "/" to go on, hidden names only when asked for."""
    from tuiclient.chat_commands import complete_line

    (tmp_path / "reports").mkdir()
    (tmp_path / "report 2026.pdf").write_bytes(b"x")
    (tmp_path / ".secret").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert complete_line("/sendfile rep") == ["/sendfile report 2026.pdf", "/sendfile reports/"]
    assert complete_line(f"/attach {tmp_path}/.s") == [f"/attach {tmp_path}/.secret"]
    assert complete_line(f"/attach {tmp_path}/") == [
        f"/attach {tmp_path}/report 2026.pdf", f"/attach {tmp_path}/reports/"]


async def test_a_file_go_sendxmpp_uploads_is_saved_and_send_file_goes_alone(
        world, tmp_path, running):
    """go-sendxmpp (a client we did not write) shares a file by HTTP upload
    (-h): `save` writes its bytes. `send --via im --file` with no words sends
    the file as one line, with no empty line before it."""
    _start, xmpp = running
    alice, dave = person(world, "alice"), person(world, "dave")
    world.befriend(alice, dave)
    config = write_config(world, tmp_path, alice)
    shared = tmp_path / "minutes.txt"
    shared.write_bytes(NOTES)
    home = tmp_path / "dave-home"
    home.mkdir()
    env = dict(os.environ, SSL_CERT_FILE=str(world.ca_file), HOME=str(home))
    done = await asyncio.to_thread(lambda: subprocess.run(
        ["go-sendxmpp", "-u", dave.jid, "-p", dave.password,
         "-j", f"127.0.0.1:{world.ports.c2s}", "-h", str(shared), alice.jid],
        env=env, capture_output=True, text=True, timeout=60))
    assert done.returncode == 0, done.stderr
    code, _, err = await cli(config, "sync")
    assert code == 0, err
    code, hits, err = await cli(config, "search", "minutes")
    assert code == 0 and hits, (hits, err)
    target = tmp_path / "saved"
    code, saved, err = await cli(config, "save", str(hits[0]["id"]), "--dir", str(target))
    assert code == 0, (saved, err)
    assert [Path(p).read_bytes() for p in saved["saved"]] == [NOTES]

    dave_x = await xmpp(plain(world, dave))
    code, sent, err = await cli(config, "send", "--via", "im", "--to", dave.jid,
                                "--file", str(shared), "--when-away", "send", stdin="")
    assert code == 0, (sent, err)
    assert await wait_until(lambda: [r for r in dave_x.received if r.oob], 30)
    mine = [r for r in dave_x.received if r.sender.startswith(alice.jid)]
    assert len(mine) == 1 and mine[0].body == mine[0].oob[0], mine
    assert fetch(mine[0].oob[0], str(world.ca_file)) == NOTES


async def test_the_size_a_sender_tells_is_shown_before_the_file_is_fetched(
        world, tmp_path, running):
    """Dino and Conversations tell a file's name, type and size beside its link
    (XEP-0447, SIMS XEP-0385): the message pane shows them; a size that is no
    number is "size unknown"."""
    _start, xmpp = running
    alice, bob = person(world, "alice"), person(world, "bob")
    world.befriend(alice, bob)
    bob_x = await xmpp(plain(world, bob))
    url = await bob_x.upload(NOTES, "upload-7f3a.bin", "text/plain", UPLOAD_DOMAIN)
    sfs = (f"<x xmlns='jabber:x:oob'><url>{url}</url></x>"
           "<file-sharing xmlns='urn:xmpp:sfs:0' disposition='attachment'>"
           "<file xmlns='urn:xmpp:file:metadata:0'><media-type>text/plain</media-type>"
           f"<name>notes.txt</name><size>{len(NOTES)}</size></file>"
           "<sources><url-data xmlns='http://jabber.org/protocol/url-data' "
           f"target='{url}'/></sources></file-sharing>")
    sims = (f"<x xmlns='jabber:x:oob'><url>{url}#b</url></x>"
            f"<reference xmlns='urn:xmpp:reference:0' type='data' uri='{url}#b'>"
            "<media-sharing xmlns='urn:xmpp:sims:1'>"
            "<file xmlns='urn:xmpp:jingle:apps:file-transfer:5'>"
            "<name>plan.txt</name><size>99999999999999999999999</size></file>"
            "<sources><reference xmlns='urn:xmpp:reference:0' type='data' "
            f"uri='{url}#b'/></sources></media-sharing></reference>")
    app = alice_app(world, tmp_path, alice, bob)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await pilot_until(pilot, lambda: app.engine.chat_online(alice.name), 30)
        bob_x.send_xml(line(alice.jid, url, sfs)[1])
        bob_x.send_xml(line(alice.jid, f"{url}#b", sims)[1])
        assert await pilot_until(pilot, lambda: listing(app).rows, 30)
        await go_to_row(pilot, app, lambda t: True)
        await pilot.press("enter")
        timeline = app.screen.query_one(Timeline)
        assert await pilot_until(pilot, lambda: timeline.option_count == 2)
        timeline.focus()
        await pilot.press("k")
        await pilot.pause()
        head = text_of(app, "#email-head")
        assert "notes.txt  170 B" in head, head
        await pilot.press("j")
        await pilot.pause()
        head = text_of(app, "#email-head")
        assert "plan.txt  size unknown" in head, head
