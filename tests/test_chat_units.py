"""The chat client's pure parts, without servers: the `/` commands as typed,
message styling (XEP-0393), reactions and occupants as drawn."""

from __future__ import annotations

import pytest

from bridge.store import Reaction
from bridge.xmpp.core import Occupant
from tuiclient.chat_commands import (
    COMMANDS,
    NotACommand,
    Typed,
    complete,
    help_lines,
    is_command,
    literal,
    parse,
)
from tuiclient.people import Directory
from tuiclient.styling import styled
from tuiclient.widgets.occupants import occupants_text
from tuiclient.widgets.timeline import reactions_text


def test_commands_read_as_profanity_users_type_them():
    assert parse("/correct Meet  at noon") == Typed("correct", ("Meet  at noon",))
    assert parse("/react 👍") == Typed("react", ("👍",))
    assert parse("/join den@conference.example.test Ally") == \
        Typed("join", ("den@conference.example.test", "Ally"))
    assert parse("/status away at lunch, back at 2") == \
        Typed("status", ("away", "at lunch, back at 2"))
    assert parse("/add dave@example.test Dave Smith") == \
        Typed("add", ("dave@example.test", "Dave Smith"))
    assert parse("/invite c@example.test come and see") == \
        Typed("invite", ("c@example.test", "come and see"))
    assert parse("/LEAVE") == Typed("leave", ())


@pytest.mark.parametrize("typed, said", [
    ("/frob now", "unknown command /frob (/help lists them)"),
    ("/corr x", "unknown command /corr (did you mean /correct?)"),
    ("/retract 3", "usage: /retract"),
    ("/react", "usage: /react emoji"),
    ("/status sleepy", "/status takes"),
    ("/remove a@b c@d", "usage: /remove jid"),
])
def test_a_wrong_command_says_what_is_wrong_in_one_line(typed, said):
    with pytest.raises(NotACommand) as refused:
        parse(typed)
    assert str(refused.value).startswith(said) and "\n" not in str(refused.value)


def test_me_and_double_slash_are_lines_not_commands():
    assert not is_command("/me waves") and is_command("/me")
    assert not is_command("//etc/hosts is wrong") and literal("//etc/hosts") == "/etc/hosts"
    assert not is_command("hello /join")


def test_tab_completes_command_names():
    assert complete("/inv") == ["invite"]
    assert complete("/re") == ["retract", "react", "remove"]
    assert complete("/join x") == [] and complete("hello") == []
    assert [u.split()[0] for u, _ in help_lines()] == [f"/{n}" for n in COMMANDS]


def spans(text: str) -> list[tuple[str, str]]:
    t = styled(text)
    return [(str(t)[s.start:s.end], str(s.style)) for s in t.spans if s.style != "dim"]


def test_message_styling_follows_xep_0393():
    assert spans("see *this* and _that_ ~gone~ `x = 1`") == [
        ("this", "bold"), ("that", "italic"), ("gone", "strike"), ("x = 1", "reverse")]
    assert spans("2 * 3 * 4") == [] and spans("a*b*c") == [] and spans("* item") == []
    assert spans("*_both_*") == [("_both_", "bold"), ("both", "italic")]
    assert spans("`*not bold*`") == [("*not bold*", "reverse")]
    assert spans("```\n*raw*\n```\n*bold*") == [("*raw*\n", "cyan"), ("bold", "bold")]
    assert str(styled("*kept*")) == "*kept*"  # the directives stay on screen


def test_reactions_are_grouped_by_emoji_with_who():
    d = Directory(names={"bob@example.test": "Bob"}, own={"alice@example.test": "Alice"})
    drawn = reactions_text([
        Reaction("bob@example.test", ("👍", "🎉"), 1.0),
        Reaction("alice@example.test", ("👍",), 2.0),
        Reaction("den@conference.example.test/eve", ("🎉",), 3.0),
    ], d)
    assert drawn is not None and str(drawn) == "👍 Bob, you   🎉 Bob, eve"
    many = [Reaction(f"p{i}@example.test", ("❤",), float(i)) for i in range(5)]
    assert str(reactions_text(many, d)) == "❤ 5"
    assert reactions_text([], d) is None


def test_occupants_are_listed_by_role_with_presence():
    text = str(occupants_text([
        Occupant("zed", None, "participant", "none"),
        Occupant("bob", "bob@example.test", "moderator", "owner", "away"),
        Occupant("amy", None, "participant", "member", "dnd"),
    ], "den@conference.example.test"))
    assert text.splitlines() == ["3 in den", "moderators", "◑ bob away", "participants",
                                 "⊖ amy dnd", "● zed"]


def test_bookmark_msg_and_quote_read_as_typed():
    room = "den@conference.example.test"
    assert parse("/bookmark") == Typed("bookmark", ())
    assert parse("/bookmark LIST") == Typed("bookmark", ("list",))
    assert parse(f"/bookmark {room}") == Typed("bookmark", ("add", room))
    assert parse(f"/bookmark remove {room}") == Typed("bookmark", ("remove", room))
    with pytest.raises(NotACommand, match="/bookmark takes"):
        parse(f"/bookmark keep {room}")
    assert parse("/msg bob just  between us") == Typed("msg", ("bob", "just  between us"))
    assert parse("/msg bob") == Typed("msg", ("bob",))  # the chat with bob, opened
    with pytest.raises(NotACommand, match="usage: /msg"):
        parse("/msg")
    assert parse("/quote Noon is fine") == Typed("quote", ("Noon is fine",))


def test_a_reply_is_drawn_with_the_line_it_answers():
    from bridge.model import Direction, Message, Party, Transport
    from tuiclient.widgets.timeline import quote_text

    def chat(text: str, msg_id: str, answers: str | None = None) -> Message:
        return Message(msg_id, "me", Transport.XMPP, Direction.IN, "t", 0.0,
                       Party("bob@example.test", "Bob"), text=text, in_reply_to=answers)

    asked = chat("Lunch at noon?", "a1")
    answer = chat("Yes", "a2", "a1")
    assert quote_text(asked, None, {}) is None
    assert str(quote_text(answer, asked, {})) == "┃ Bob: Lunch at noon?"
    assert str(quote_text(answer, None, {})) == "┃ (an earlier line)"
    email = Message("m@x", "me", Transport.EMAIL, Direction.IN, "t", 0.0,
                    Party("bob@example.test"), in_reply_to="<a@x>")
    assert quote_text(email, None, {}) is None


def test_a_replys_fallback_is_read_only_inside_the_body():
    from xml.etree import ElementTree as ET

    from bridge.xmpp.stanzas import parse_message

    def parsed(body: str, start: str, end: str):
        return parse_message(ET.fromstring(
            f"<message xmlns='jabber:client' from='b@x/r' type='chat'><body>{body}</body>"
            "<reply xmlns='urn:xmpp:reply:0' to='a@x' id='m1'/>"
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>"
            f"<body start='{start}' end='{end}'/></fallback></message>"), set())

    p = parsed("&gt; hi\nhello", "0", "5")
    assert (p.reply_id, p.reply_to, p.reply_fallback) == ("m1", "a@x", (0, 5))
    assert p.body_without_fallback() == "hello"
    assert parsed("hello", "0", "99").reply_fallback is None
    assert parsed("hello", "x", "2").reply_fallback is None
    assert parsed("hello", "3", "1").body_without_fallback() == "hello"
