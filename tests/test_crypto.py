"""OpenPGP in mail against gpg itself: what gpg makes we open, what we make gpg opens.

No servers here (tests/test_crypto_mail.py goes through SMTP and Dovecot); the
other side is always gpg's command line in its own throwaway keyring.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.crypto import CryptoStatus, Verdict
from bridge.crypto.detect import Shape
from bridge.crypto.openpgp import MissingKeys, OpenPGP
from bridge.crypto.pgpmime import HIDDEN_SUBJECT, open_message, protect, shape_of_raw
from bridge.mail.compose import build_email
from bridge.mail.mime import parse_message
from bridge.model import Party
from tests.gpg_peer import Keyring, pgp_mime_encrypted, pgp_mime_signed

ME = "alice@example.org"
PEER = "bob@example.net"
HEAD = f"From: Bob <{PEER}>\r\nTo: <{ME}>\r\nMessage-ID: <x1@example.net>\r\n" \
       "Date: Mon, 1 Jun 2026 10:00:00 +0000\r\n"


@pytest.fixture(scope="module")
def rings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Keyring, Keyring]]:
    base = tmp_path_factory.mktemp("gpg")
    mine, peer = Keyring(base / "me"), Keyring(base / "peer")
    mine.make_key(f"Alice <{ME}>")
    peer.make_key(f"Bob <{PEER}>")
    mine.import_key(peer.export(PEER))
    peer.import_key(mine.export(ME))
    yield mine, peer
    mine.close()
    peer.close()


def port(ring: Keyring) -> OpenPGP:
    return OpenPGP(ring.home)


def test_gpg_encrypted_and_signed_opens_with_protected_subject(rings) -> None:
    mine, peer = rings
    raw = pgp_mime_encrypted(peer, PEER, ME, HEAD, "the secret word is xylophone",
                             "Our plans")
    assert shape_of_raw(raw) is Shape.ENCRYPTED
    opened = open_message(raw, port(mine))
    assert opened is not None
    assert "xylophone" in opened.text
    assert opened.subject == "Our plans"
    status = opened.status
    assert status.encrypted and status.decrypted and status.protected_subject
    (sig,) = status.signatures
    assert sig.verdict is Verdict.GOOD
    assert sig.fingerprint == peer.fingerprint(PEER)
    assert sig.uid == f"Bob <{PEER}>"
    assert status.line().startswith(f"encrypted · signed by Bob <{PEER}> (good")


def test_the_walk_keeps_no_text_of_an_encrypted_email_and_keeps_its_bytes(rings) -> None:
    _mine, peer = rings
    raw = pgp_mime_encrypted(peer, PEER, ME, HEAD, "xylophone", "s")
    parsed = parse_message(raw)
    assert parsed.pgp is Shape.ENCRYPTED
    assert parsed.text == "" and parsed.attachments == []
    assert parsed.raw == raw


def test_signed_by_gpg_is_good_and_a_changed_word_is_bad(rings) -> None:
    mine, peer = rings
    raw = pgp_mime_signed(peer, PEER, HEAD + "Subject: signed\r\n", "I owe you 10 euros.")
    opened = open_message(raw, port(mine))
    assert opened is not None and "I owe you 10 euros." in opened.text
    assert opened.status.good and not opened.status.encrypted
    tampered = raw.replace(b"10 euros", b"99 euros")
    bad = open_message(tampered, port(mine))
    assert bad is not None
    assert [s.verdict for s in bad.status.signatures] == [Verdict.BAD]
    assert "BAD signature" in bad.status.line()


def test_a_signature_by_a_key_we_do_not_have_is_unknown(rings, tmp_path: Path) -> None:
    mine, _peer = rings
    stranger = Keyring(tmp_path / "carol")
    try:
        stranger.make_key("Carol <carol@example.com>")
        raw = pgp_mime_signed(stranger, "carol@example.com", HEAD + "Subject: hi\r\n", "Hi.")
        opened = open_message(raw, port(mine))
    finally:
        stranger.close()
    assert opened is not None
    (sig,) = opened.status.signatures
    assert sig.verdict is Verdict.UNKNOWN_KEY
    assert "unknown key" in opened.status.line()


def test_inline_pgp_encrypted_and_clearsigned(rings) -> None:
    mine, peer = rings
    armored = peer.run("--armor", "--encrypt", "--sign", "--local-user", PEER,
                       "--recipient", ME, "--trust-model", "always",
                       data=b"inline secret: marimba").stdout
    raw = (HEAD + "Subject: inline\r\nContent-Type: text/plain\r\n\r\n").encode() + armored
    opened = open_message(raw, port(mine))
    assert opened is not None and "marimba" in opened.text
    assert opened.status.decrypted and opened.status.good
    assert opened.status.scheme == "inline"
    clear = peer.run("--clearsign", "--local-user", PEER, data=b"plain words\n").stdout
    raw = (HEAD + "Subject: clear\r\nContent-Type: text/plain\r\n\r\n").encode() + clear
    opened = open_message(raw, port(mine))
    assert opened is not None and opened.text.strip() == "plain words"
    assert opened.status.good and not opened.status.encrypted


def _composed(text: str = "Grüße: the secret word is xylophone\nFrom here on.\n") -> EmailMessage:
    return build_email(Party(ME, "Alice", "from"), [PEER], [], "Secret plans", text,
                       msg_id="out1@example.org")


def test_we_sign_and_encrypt_gpg_decrypts_and_checks_our_signature(rings) -> None:
    mine, peer = rings
    sealed = protect(_composed(), port(mine), sender=ME, recipients=[PEER], sign=True,
                     encrypt=True)
    wire = sealed.as_bytes()
    assert b"xylophone" not in wire and b"Secret plans" not in wire
    # Every line ends in CRLF: SMTP servers read a bare LF as no line end at all.
    assert b"\n" not in wire.replace(b"\r\n", b"")
    outer = email.message_from_bytes(wire)
    assert outer["Subject"] == HIDDEN_SUBJECT
    assert outer.get_content_type() == "multipart/encrypted"
    ciphertext = outer.get_payload()[1].get_payload(decode=True)
    done = peer.run("--decrypt", "--status-fd", "2", data=ciphertext)
    status = done.stderr.decode()
    assert re.search(r"^\[GNUPG:\] GOODSIG [0-9A-F]+ Alice", status, re.M), status
    assert mine.fingerprint(ME) in status  # VALIDSIG names our key's fingerprint
    inner = email.message_from_bytes(done.stdout)
    assert inner["Subject"] == "Secret plans"
    assert inner.get_param("protected-headers") == "v1"
    assert "xylophone" in inner.get_payload(decode=True).decode()
    # And we read our own copy (it is encrypted to us too).
    opened = open_message(wire, port(mine))
    assert opened is not None and "xylophone" in opened.text
    assert opened.subject == "Secret plans" and opened.status.good


def test_we_sign_only_gpg_verifies_the_exact_bytes(rings) -> None:
    mine, peer = rings
    wire = protect(_composed("From the start, a line that mail servers quote.\n"),
                   port(mine), sender=ME, recipients=[PEER], sign=True,
                   encrypt=False).as_bytes()
    outer = email.message_from_bytes(wire)
    assert outer["Subject"] == "Secret plans"
    boundary = outer.get_boundary()
    assert boundary is not None
    body = wire.split(b"\r\n\r\n", 1)[1]
    pieces = body.split(b"--" + boundary.encode())
    signed = pieces[1][2:-2]  # between the delimiter lines' CRLFs
    signature = outer.get_payload()[1].get_payload(decode=True)
    (Path(peer.home) / "signed").write_bytes(signed)
    (Path(peer.home) / "sig.asc").write_bytes(signature)
    done = peer.run("--verify", "--status-fd", "2", str(peer.home / "sig.asc"),
                    str(peer.home / "signed"))
    assert "GOODSIG" in done.stderr.decode()
    opened = open_message(wire, port(mine))
    assert opened is not None and opened.status.good
    assert "From the start" in opened.text


def test_encrypting_to_someone_without_a_key_names_them(rings) -> None:
    mine, _peer = rings
    with pytest.raises(MissingKeys) as caught:
        protect(_composed(), port(mine), sender=ME, recipients=[PEER, "nokey@example.com"],
                sign=True, encrypt=True)
    assert caught.value.missing == ["nokey@example.com"]
    assert port(mine).missing_keys([PEER, "Nokey@Example.com"]) == ["nokey@example.com"]


def test_not_decryptable_says_so(rings, tmp_path: Path) -> None:
    _mine, peer = rings
    raw = pgp_mime_encrypted(peer, PEER, ME, HEAD, "xylophone", "s")
    empty = Keyring(tmp_path / "nobody")
    try:
        opened = open_message(raw, OpenPGP(empty.home))
    finally:
        empty.close()
    assert opened is not None and opened.text == ""
    assert opened.status.encrypted and not opened.status.decrypted
    assert "NOT decrypted" in opened.status.line()


def test_status_line_words() -> None:
    assert CryptoStatus().line() == ""


def test_an_armored_block_inside_a_multipart_email_is_only_text() -> None:
    raw = (HEAD + "Subject: pasted\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           "--b\r\nContent-Type: text/plain\r\n\r\nLook:\r\n-----BEGIN PGP MESSAGE-----\r\n"
           "hQEMA\r\n-----END PGP MESSAGE-----\r\n"
           '--b\r\nContent-Type: application/pdf; name="a.pdf"\r\n\r\n%PDF-1.4\r\n--b--\r\n'
           ).encode()
    parsed = parse_message(raw)
    assert parsed.pgp is Shape.NONE and parsed.raw is None
    assert "BEGIN PGP MESSAGE" in parsed.text and len(parsed.attachments) == 1


def test_the_crypto_table_of_the_config(tmp_path: Path) -> None:
    from bridge.config import ConfigError, CryptoPolicy, load_config

    path = tmp_path / "config.toml"
    path.write_text("")
    assert load_config(path).crypto == CryptoPolicy()
    path.write_text('[crypto]\ngnupg_home = "keys"\nindex_decrypted = true\nsign = true\n')
    policy = load_config(path).crypto
    assert policy.gnupg_home == tmp_path / "keys"  # beside the config file
    assert policy.index_decrypted and policy.sign and not policy.encrypt
    path.write_text('[crypto]\nencrypt = "yes"\n')
    with pytest.raises(ConfigError, match=r"crypto\.encrypt.*true or false"):
        load_config(path)
    path.write_text("[crypto]\nencrpyt = true\n")
    with pytest.raises(ConfigError, match="encrpyt"):
        load_config(path)


def test_send_options_override_the_defaults() -> None:
    import argparse

    from bridge.headless.arguments import add_commands, parse

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    a = parse(parser, ["send", "--to", PEER, "hi"])
    assert (a.sign, a.encrypt) == (None, None)  # the config decides
    a = parse(parser, ["reply", "12", "--sign", "--no-encrypt", "hi"])
    assert (a.sign, a.encrypt) == (True, False)
    a = parse(parser, ["handoff", "12", "--to", "email", "--encrypt", "--no-sign"])
    assert (a.sign, a.encrypt) == (False, True)
