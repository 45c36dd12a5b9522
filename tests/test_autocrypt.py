"""Autocrypt's bookkeeping as the spec words it (issue 23), without servers: the
header's grammar and its hostile forms, the peer update rules, the
recommendation for one and several recipients, the state file, and how the
recommendation feeds what a send must be. The whole exchange with gpg on the
other side is tests/test_autocrypt_mail.py.
"""

from __future__ import annotations

import base64
import os
import stat
import threading
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from bridge.crypto import autocrypt as ac
from bridge.crypto import outgoing
from bridge.crypto.autocrypt import Peer, Recommendation

KEY = bytes(range(256)) * 2
B64 = base64.b64encode(KEY).decode()
DAY = 86400.0


def head(*autocrypt: str, sender: str = "Bob <bob@example.org>", date: str | None = None,
         extra: tuple[tuple[str, str], ...] = ()) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "alice@example.org"
    m["Date"] = date or formatdate(1_800_000_000)
    for name, value in extra:
        m[name] = value
    for value in autocrypt:
        m["Autocrypt"] = value
    return m


# -- the header -------------------------------------------------------------------------


def test_a_header_parses_with_its_folding_and_round_trips() -> None:
    value = ac.format_value("Bob@Example.org", KEY, mutual=True)
    h = ac.parse(value)
    assert h == ac.Header("bob@example.org", KEY, True)
    folded = "addr=bob@example.org; keydata=\r\n " + "\r\n ".join(
        B64[i:i + 60] for i in range(0, len(B64), 60))
    assert ac.parse(folded) == ac.Header("bob@example.org", KEY, False)
    # Non-critical attributes are skipped; any other prefer-encrypt is no preference.
    assert ac.parse(f"addr=b@x.org; _note=hi; prefer-encrypt=maybe; keydata={B64}") == \
        ac.Header("b@x.org", KEY, False)


def test_hostile_headers_are_invalid_and_nothing_raises() -> None:
    huge = base64.b64encode(os.urandom(11 * 1024)).decode()
    for value in (
        f"addr=b@x.org; keydata=!!!{B64}",  # not base64
        "addr=b@x.org; keydata=QUJD=QUJD",  # base64 padding in the middle
        f"addr=b@x.org; keydata={huge}",  # over 10 KiB
        f"addr=b@x.org; danger=yes; keydata={B64}",  # an unknown critical attribute
        f"keydata={B64}; addr=b@x.org",  # keydata not last
        f"addr=b@x.org; addr=c@x.org; keydata={B64}",  # twice the same attribute
        f"addr=not-an-address; keydata={B64}",
        f"addr=<b@x.org>; keydata={B64}",
        "addr=b@x.org; keydata=",  # empty key
        "addr=b@x.org",
        "", ";;;", "=", f"addr; keydata={B64}", "\x00\x01" * 100,
    ):
        assert ac.parse(value) is None, value


def test_the_one_valid_header_whose_addr_is_from() -> None:
    good = f"addr=bob@example.org; keydata={B64}"
    other = f"addr=carol@example.org; keydata={B64}"
    assert ac.the_header(head(good), "bob@example.org") is not None
    assert ac.the_header(head(other), "bob@example.org") is None  # someone else's
    # An invalid one beside a valid one: the valid one stands.
    assert ac.the_header(head("addr=bob@example.org; keydata=**", good),
                         "bob@example.org") is not None
    # Two valid ones: all are discarded.
    assert ac.the_header(head(good, good), "bob@example.org") is None


# -- peers ------------------------------------------------------------------------------


def test_the_update_rules(tmp_path: Path) -> None:
    now = 1_900_000_000.0
    assert ac.observe(tmp_path, head(f"addr=bob@example.org; prefer-encrypt=mutual; "
                                     f"keydata={B64}"), now)
    peer = ac.Peers(tmp_path).get("BOB@example.org")
    assert peer == Peer(1_800_000_000, 1_800_000_000, B64, "mutual")
    assert stat.S_IMODE((tmp_path / ac.FILE).stat().st_mode) == 0o600
    # Older than the last header: nothing changes.
    assert not ac.observe(tmp_path, head(date=formatdate(1_700_000_000)), now)
    # Newer, without a header: last_seen only.
    assert ac.observe(tmp_path, head(date=formatdate(1_800_100_000)), now)
    peer = ac.Peers(tmp_path).get("bob@example.org")
    assert peer is not None and peer.last_seen == 1_800_100_000
    assert peer.autocrypt_timestamp == 1_800_000_000 and peer.public_key == B64
    # A newer header without prefer-encrypt changes the preference.
    assert ac.observe(tmp_path, head(f"addr=bob@example.org; keydata={B64}",
                                     date=formatdate(1_800_200_000)), now)
    assert ac.Peers(tmp_path).get("bob@example.org").prefer_encrypt == "nopreference"
    # A date in the future counts as the time of receipt.
    assert ac.observe(tmp_path, head(date=formatdate(now + 10 * DAY)), now)
    assert ac.Peers(tmp_path).get("bob@example.org").last_seen == now


def test_mail_the_spec_says_to_ignore(tmp_path: Path) -> None:
    value = f"addr=bob@example.org; keydata={B64}"
    for m in (head(value, extra=(("Auto-Submitted", "auto-replied"),)),
              head(value, extra=(("List-Id", "<list.example.org>"),)),
              head(value, sender="Bob <bob@example.org>, Carol <carol@example.org>")):
        assert not ac.observe(tmp_path, m)
    report = head(value)
    report.set_type("multipart/report")
    assert not ac.observe(tmp_path, report)
    # No header from someone never seen: no state at all.
    assert not ac.observe(tmp_path, head())
    assert ac.Peers(tmp_path).all() == {}


def test_gossip_updates_only_recipients_and_only_forward_in_time(tmp_path: Path) -> None:
    values = [f"addr=carol@example.org; keydata={B64}", f"addr=eve@example.org; keydata={B64}"]
    done = ac.observe_gossip(tmp_path, values, ["Carol <carol@example.org>"], 1_000.0)
    assert done == ["carol@example.org"]
    carol = ac.Peers(tmp_path).get("carol@example.org")
    assert carol == Peer(gossip_timestamp=1_000.0, gossip_key=B64)
    assert ac.observe_gossip(tmp_path, values[:1], ["carol@example.org"], 500.0) == []


def test_two_writers_lose_nothing(tmp_path: Path) -> None:
    def learn(i: int) -> None:
        ac.observe(tmp_path, head(f"addr=p{i}@example.org; keydata={B64}",
                                  sender=f"p{i}@example.org"))
    threads = [threading.Thread(target=learn, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ac.Peers(tmp_path).all()) == 20


# -- the recommendation ---------------------------------------------------------------


def good(_key: str) -> bool:
    return True


def test_one_recipient() -> None:
    mutual = Peer(10 * DAY, 10 * DAY, B64, "mutual")
    rec = ac.recommend_one
    assert rec(None, good, own_mutual=True)[0] is Recommendation.DISABLE
    assert rec(mutual, good, own_mutual=True)[0] is Recommendation.ENCRYPT
    assert rec(mutual, good, own_mutual=False)[0] is Recommendation.AVAILABLE
    assert rec(Peer(10 * DAY, 10 * DAY, B64), good, own_mutual=True)[0] is \
        Recommendation.AVAILABLE
    # A key gpg cannot use is no key.
    assert rec(mutual, lambda k: False, own_mutual=True)[0] is Recommendation.DISABLE
    # Stale: the last header is more than 35 days older than the last mail.
    stale = Peer(50 * DAY, 10 * DAY, B64, "mutual")
    assert rec(stale, good, own_mutual=True)[0] is Recommendation.DISCOURAGE
    # Gossip only: discouraged; a reply to an encrypted email encrypts anyway.
    gossip = Peer(gossip_timestamp=DAY, gossip_key=B64)
    assert rec(gossip, good, own_mutual=True) == (Recommendation.DISCOURAGE, B64)
    assert rec(gossip, good, own_mutual=True, reply_to_encrypted=True)[0] is \
        Recommendation.ENCRYPT


def test_several_recipients() -> None:
    mutual = Peer(DAY, DAY, B64, "mutual")
    plain = Peer(DAY, DAY, B64)
    peers = {"a@x.org": mutual, "b@x.org": mutual, "c@x.org": plain,
             "d@x.org": Peer(gossip_key=B64)}
    word = lambda *to: ac.recommend(peers, to, good, own_mutual=True).recommendation  # noqa: E731
    assert word("a@x.org", "B@X.org") is Recommendation.ENCRYPT
    assert word("a@x.org", "c@x.org") is Recommendation.AVAILABLE
    assert word("a@x.org", "d@x.org") is Recommendation.DISCOURAGE
    assert word("a@x.org", "nobody@x.org") is Recommendation.DISABLE
    advice = ac.recommend(peers, ["a@x.org", "c@x.org"], good, own_mutual=True)
    assert advice.targets == {"a@x.org": KEY, "c@x.org": KEY}


def test_encrypt_by_default_only_on_encrypt_and_below_the_users_own_choices() -> None:
    default = outgoing.Protection()
    req = outgoing.required
    made = req(None, default, conversation_encrypted=False, autocrypt="encrypt")
    assert made.encrypt and made.sign and made.why == outgoing.AUTOCRYPT
    for word in ("available", "discourage", "disable", ""):
        assert not req(None, default, conversation_encrypted=False, autocrypt=word).encrypt
    # --no-encrypt, and a contact preferred in clear, stay clear.
    clear = outgoing.Protection(explicit=True)
    assert not req(clear, default, conversation_encrypted=False, autocrypt="encrypt").encrypt
    assert not req(None, default, conversation_encrypted=False, preference="clear",
                   autocrypt="encrypt").encrypt


def test_configure_is_per_store(tmp_path: Path) -> None:
    ac.configure(tmp_path, ac.Setup(tmp_path, None, True))
    try:
        assert outgoing.autocrypt_on(tmp_path)
        assert not outgoing.autocrypt_on(tmp_path / "other")
    finally:
        ac.configure(tmp_path, None)
    assert not outgoing.autocrypt_on(tmp_path)


def test_autocrypt_never_turns_a_chat_send_into_an_email() -> None:
    from bridge.engine_sending import email_only

    asked = outgoing.Protection()
    by_autocrypt = outgoing.required(None, asked, conversation_encrypted=False,
                                     autocrypt="encrypt")
    assert email_only(by_autocrypt, asked, by_chat=True) == asked
    assert email_only(by_autocrypt, asked, by_chat=False) == by_autocrypt
    # An encrypted conversation is another matter: it stays encrypted, by email.
    by_conversation = outgoing.required(None, asked, conversation_encrypted=True)
    assert email_only(by_conversation, asked, by_chat=True) == by_conversation


def test_encrypted_mail_with_autocrypt_on_is_always_signed() -> None:
    """Autocrypt Level 1: an encrypted email is signed too, even when only
    --encrypt was asked (and whatever the reason it is encrypted); with
    Autocrypt off (no word), --encrypt alone stays unsigned."""
    req = outgoing.required
    asked = outgoing.Protection(encrypt=True, explicit=True)
    for word in ("encrypt", "available", "discourage", "disable"):
        made = req(asked, outgoing.Protection(), conversation_encrypted=False, autocrypt=word)
        assert made.encrypt and made.sign, word
    made = req(None, outgoing.Protection(), conversation_encrypted=True, autocrypt="disable")
    assert made.encrypt and made.sign
    assert not req(asked, outgoing.Protection(), conversation_encrypted=False).sign
