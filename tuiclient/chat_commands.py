"""The `/` commands of the chat input, as Profanity and Poezio users type them.

Only the words: what each command is called, what it takes, and how a typed
line reads as one (`parse`) or completes (`complete`). Running them is the
main screen's (`tuiclient.screens.chatting`), through the engine, like every
other action of the app. A line that starts with `/me ` is no command but a
line of its own (XEP-0245: the receiver shows it as an action), and `//` sends
a line that starts with one `/`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    usage: str  # the arguments, as the help shows them
    help: str
    least: int = 0  # words the command needs at least
    most: int | None = 0  # at most (None: the rest of the line is the last one)
    lead: int = 0  # with most=None: single words before the rest of the line
    # What each word is, for Tab (`complete_line`): "room", "nick", "jid", or a
    # fixed choice ("show", "bookmark", "avatar"); words past the tuple complete nothing.
    kinds: tuple[str, ...] = ()


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("me", "text", "an action: shown as “* you text”", 1, None),
    Command("correct", "text", "correct your last line (or press ↑ in an empty input; "
            "tab brings its text)", 1, None, kinds=("last",)),
    Command("retract", "", "take back your selected (or last) line"),
    Command("react", "emoji", "react to the selected line (again: take it back)", 1, 1),
    Command("join", "room@service [nick] [password]", "join a group chat", 1, 3,
            kinds=("room",)),
    Command("leave", "[room]", "leave this group chat", 0, 1, kinds=("joined",)),
    Command("invite", "jid [reason]", "invite someone to this group chat", 1, None,
            1, kinds=("jid",)),
    Command("rooms", "[service]", "the group chats a service lists: choose one to join",
            0, 1),
    Command("bookmark", "[list|add|remove] [room]",
            "keep a group chat, joined at every login (none: this one)", 0, 2,
            kinds=("bookmark", "room")),
    Command("msg", "jid|name [text]",
            "open the chat with someone (and send text); in a group chat: privately "
            "to nick", 1, None, 1, kinds=("msg",)),
    Command("quote", "text", "reply to the selected line, quoting it", 1, None),
    Command("topic", "[subject]", "show or set this group chat's subject", 0, None),
    Command("occupants", "", "who is in this group chat"),
    Command("who", "", "who is in this group chat; in a chat: the contact's presence"),
    Command("nick", "name", "your nick in this group chat", 1, 1),
    Command("voice", "", "ask to speak in this moderated group chat"),
    Command("claim", "nick", "register a nick as yours in this group chat (XEP-0045 "
            "§7.10; members)", 1, 1),
    Command("kick", "nick [reason]", "take someone out of this group chat (moderators)",
            1, None, 1, kinds=("nick",)),
    Command("ban", "jid|nick [reason]", "ban someone from this group chat (moderators)",
            1, None, 1, kinds=("nick",)),
    Command("status", "online|away|dnd|xa|chat|invisible [message]",
            "your presence (invisible only where the server offers it)", 1, None, 1,
            kinds=("show",)),
    Command("roster", "", "your contacts: approve, deny, remove, block, write"),
    Command("keys", "", "OpenPGP keys: yours and your contacts', verify one"),
    Command("omemo", "on|off", "encrypt this chat with OMEMO (on), or not (off)", 1, 1),
    Command("add", "jid [name]", "add a contact and ask for their presence",
            1, None, 1, kinds=("jid",)),
    Command("remove", "jid", "remove a contact", 1, 1, kinds=("jid",)),
    Command("name", "jid name", "what to call a contact", 2, None, 1, kinds=("jid",)),
    Command("group", "jid [group,group…]", "a contact's groups (none: no group)",
            1, None, 1, kinds=("jid",)),
    Command("unsubscribe", "jid", "stop asking for (or seeing) a contact's presence",
            1, 1, kinds=("jid",)),
    Command("block", "[jid]", "block someone: no lines or presence either way "
            "(none: this chat's contact)", 0, 1, kinds=("jid",)),
    Command("unblock", "jid", "stop blocking someone", 1, 1, kinds=("blocked",)),
    Command("blocked", "", "whom you block"),
    Command("avatar", "set PATH | open JID",
            "publish your avatar, or open a contact's in the image viewer", 2, None, 1,
            kinds=("avatar",)),
    Command("sendfile", "PATH", "send a file to this chat (HTTP upload; OMEMO-sealed "
            "when the chat is)", 1, None, kinds=("path",)),
    Command("attach", "PATH", "the same as /sendfile", 1, None, kinds=("path",)),
    Command("help", "", "the keys and these commands"),
    # The screen's, no engine action (so no headless verb): as q and ctrl+q.
    Command("close", "", "close this conversation: back to the list (q while reading)"),
    Command("quit", "", "quit (told first of messages still in the outbox)"),
)}

BOOKMARK_VERBS = ("list", "add", "remove")
AVATAR_VERBS = ("set", "open")
SHOWS = {"online": "", "available": "", "chat": "chat", "away": "away", "dnd": "dnd",
         "xa": "xa", "invisible": "invisible"}
# The words a fixed-choice argument completes to.
CHOICES = {"show": tuple(SHOWS), "bookmark": BOOKMARK_VERBS, "avatar": AVATAR_VERBS}


@dataclass(frozen=True)
class Typed:
    """A command as typed: its name and its arguments (see `parse`)."""

    name: str
    args: tuple[str, ...]


class NotACommand(ValueError):
    """A typed `/` line that is no command, or a command with the wrong words;
    its message is the one line to show."""


def is_command(text: str) -> bool:
    """Whether an input line is a command rather than words to send."""
    return text.startswith("/") and not text.startswith("//") and \
        not text.startswith("/me ")


def literal(text: str) -> str:
    """The words to send for a line that is not a command (`//x` sends `/x`)."""
    return text[1:] if text.startswith("//") else text


def parse(text: str) -> Typed:
    """A `/` line as a command and its arguments; NotACommand says what is wrong."""
    head, _, rest = text[1:].strip().partition(" ")
    name = head.lower()
    command = COMMANDS.get(name)
    if command is None:
        near = complete("/" + name) if name else []
        hint = f" (did you mean /{near[0]}?)" if len(near) == 1 else " (/help lists them)"
        raise NotACommand(f"unknown command /{name}{hint}")
    rest = rest.strip()
    if command.most is None:
        # `lead` single words, then the rest of the line as one argument.
        words = rest.split(None, command.lead) if rest else []
    else:
        words = rest.split()
    if len(words) < command.least or (command.most is not None and len(words) > command.most):
        raise NotACommand(f"usage: /{command.name} {command.usage}".rstrip())
    if command.name == "status" and words[0].lower() not in SHOWS:
        raise NotACommand(f"/status takes {', '.join(SHOWS)}, not {words[0]!r}")
    if command.name == "omemo":
        if words[0].lower() not in ("on", "off"):
            raise NotACommand(f"/omemo takes on or off, not {words[0]!r}")
        words[0] = words[0].lower()
    if command.name == "avatar":
        if words[0].lower() not in AVATAR_VERBS:
            raise NotACommand(f"/avatar takes {' or '.join(AVATAR_VERBS)}, not {words[0]!r}")
        words[0] = words[0].lower()
    if command.name == "bookmark" and words and words[0].lower() in BOOKMARK_VERBS:
        words[0] = words[0].lower()
    elif command.name == "bookmark" and words:
        if len(words) > 1:
            raise NotACommand(f"/bookmark takes {', '.join(BOOKMARK_VERBS)}, "
                              f"not {words[0]!r}")
        words.insert(0, "add")  # `/bookmark room@service`
    return Typed(command.name, tuple(words))


def complete(text: str) -> list[str]:
    """The command names a typed `/prefix` can become, in the table's order."""
    if not text.startswith("/") or " " in text:
        return []
    prefix = text[1:].lower()
    return [name for name in COMMANDS if name.startswith(prefix)]


def complete_line(text: str, words: Mapping[str, Sequence[str]] | None = None
                  ) -> list[str]:
    """What Tab can make of a typed line, each a whole line: the command's name
    (`/inv` → `/invite `), or its word being typed from `words` (kind → the
    candidates: "room" bookmarked and joined rooms, "joined", "nick" the open
    room's occupants, "jid" the roster, "blocked", "last" the text of the
    user's last line, for `/correct`, as Poezio completes it), case-insensitively,
    in order.

    A line that is no command completes its last word from the open room's nicks,
    as Profanity and Poezio do: `Ca` → `Carol: ` at the start of the line (whom
    it is said to), `hey Ca` → `hey Carol ` further on."""
    if not text.startswith("/"):
        return _nick_completions(text, (words or {}).get("nick", ()))
    if " " not in text:
        return [f"/{name} " for name in complete(text)]
    head, _, rest = text[1:].partition(" ")
    command = COMMANDS.get(head.lower())
    if command is None:
        return []
    done = rest.split(" ")
    typing, before = done[-1], done[:-1]
    at = len([w for w in before if w])
    if at >= len(command.kinds):
        return []
    kind = command.kinds[at]
    if kind == "path":
        return [f"/{head} {p}" for p in path_completions(rest.lstrip())]
    pool = CHOICES.get(kind) or (words or {}).get(kind, ())
    start = f"/{head} " + "".join(f"{w} " for w in before if w)
    seen: list[str] = []
    for word in pool:
        if word.lower().startswith(typing.lower()) and word not in seen:
            seen.append(word)
    end = "" if kind == "last" else " "  # the text to correct: edited where it ends
    return [f"{start}{w}{end}" for w in seen]


def path_completions(typed: str, most: int = 200) -> list[str]:
    """The paths a typed one can become, as a shell's Tab: the names in its
    folder that start with its last part (hidden ones only when that starts
    with a dot), a folder's with a "/" to go on; `~` is kept as typed."""
    import os

    folder, sep, part = typed.rpartition("/")
    shown = folder + sep
    where = os.path.expanduser(shown) if shown else "."
    try:
        names = sorted(os.listdir(where))
    except OSError:
        return []
    out = []
    for name in names:
        if not name.startswith(part) or (name.startswith(".") and not part.startswith(".")):
            continue
        is_dir = os.path.isdir(os.path.join(where, name))
        out.append(f"{shown}{name}" + ("/" if is_dir else ""))
        if len(out) >= most:
            break
    return out


def _nick_completions(text: str, nicks: Sequence[str]) -> list[str]:
    head, _, typing = text.rpartition(" ")
    if not typing:
        return []
    start = f"{head} " if head else ""
    seen: list[str] = []
    for nick in nicks:
        if nick.lower().startswith(typing.lower()) and nick not in seen:
            seen.append(nick)
    return [f"{start}{nick}{' ' if head else ': '}" for nick in seen]


def help_lines() -> list[tuple[str, str]]:
    """(`/name args`, what it does), for the help screen."""
    return [(f"/{c.name} {c.usage}".rstrip(), c.help) for c in COMMANDS.values()]
