"""Email threading in the manner of JWZ's algorithm, by References and In-Reply-To.

Each message's thread is the top of its chain of ancestors, placeholders for
missing messages included: that is the first id of its References for an
ordinary chain, which is what `bridge.model.thread_id_for_email` stores, so the
store's thread ids and this module agree. The subject is used only for messages
that carry no References and no In-Reply-To at all and whose subject says it is a
reply ("Re:", "AW:", "Fwd:" ...): mailers that drop threading headers exist, but
two unrelated mails called "Invoice" must not be merged.

Everything is iterative: a 10,000-message chain must not hit the recursion limit,
and a hostile References loop must not spin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bridge.model import normalize_message_id, parse_message_ids, thread_id_for_email


class Threadable(Protocol):
    """What threading reads; `Message`, `HeaderInfo` and `ThreadInput` all fit."""

    @property
    def msg_id(self) -> str: ...
    @property
    def in_reply_to(self) -> str | None: ...
    @property
    def references(self) -> Iterable[str]: ...
    @property
    def subject(self) -> str: ...
    @property
    def date(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class ThreadInput:
    msg_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str = ""
    date: float | None = None


@dataclass(slots=True)
class ThreadNode:
    """One entry of a displayed thread; `present` is False for a missing parent."""

    id: str
    present: bool
    date: float
    children: list[ThreadNode] = field(default_factory=list)


@dataclass(slots=True)
class Threading:
    root_of: dict[str, str]  # message id -> thread id
    roots: list[ThreadNode]  # display trees, oldest thread first


# Reply and forward markers in the languages mail clients actually write, a
# counter like "Re[2]:" or "Re(2):", and list tags like "[dev]".
_PREFIX = re.compile(
    r"^\s*(?:(?P<reply>re|fwd?|aw|sv|vs|antw|wg|tr|rif|odp|ynt|atb|vá|r)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*|\[[^\]]*\]\s*)",
    re.IGNORECASE,
)


def base_subject(subject: str) -> tuple[str, bool]:
    """The subject without reply/forward prefixes and list tags, casefolded, and
    whether a reply or forward prefix was among what was removed."""
    s = subject or ""
    replied = False
    for _ in range(100):  # bounded: a hostile subject of 10,000 "Re:" stays cheap
        m = _PREFIX.match(s)
        if m is None or m.end() == 0:
            break
        replied = replied or m.group("reply") is not None
        s = s[m.end() :]
    return " ".join(s.split()).casefold(), replied


def _chain(msg: Threadable) -> list[str]:
    """The message's ancestors, oldest first, without itself or repeats."""
    own = normalize_message_id(msg.msg_id)
    refs = parse_message_ids(list(msg.references or ()))
    if not refs:
        parent = normalize_message_id(msg.in_reply_to)
        refs = [parent] if parent else []
    seen = {own}
    out: list[str] = []
    for r in refs:
        if r not in seen:
            seen.add(r)
            out.append(r)
    return out


class _Box:
    __slots__ = ("children", "date", "id", "msg", "parent")

    def __init__(self, id_: str) -> None:
        self.id = id_
        self.msg: Threadable | None = None
        self.parent: _Box | None = None
        self.children: list[_Box] = []
        self.date = 0.0


def _is_ancestor(a: _Box, b: _Box) -> bool:
    """Whether `a` is `b` or above it."""
    node: _Box | None = b
    while node is not None:
        if node is a:
            return True
        node = node.parent
    return False


def _link(parent: _Box, child: _Box) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


def _top(box: _Box) -> _Box:
    while box.parent is not None:
        box = box.parent
    return box


def _own_id(msg: Threadable) -> str:
    # A stored message whose Message-ID another message has too keeps it in
    # message_id_header (its msg_id is its own): replies name the Message-ID.
    header = getattr(msg, "message_id_header", None)
    return normalize_message_id(header or msg.msg_id)


def thread(messages: Iterable[Threadable]) -> Threading:
    """Thread `messages` (any order: the result does not depend on it).

    Messages that share a Message-ID but not their msg_id (the store keeps such
    emails apart) are all kept: the earliest (by date, then id) holds the
    Message-ID, so a reply naming it goes under that one on every device; each
    other one is placed by its own References, under its msg_id. The same
    msg_id twice is one message, threaded once."""
    boxes: dict[str, _Box] = {}

    def box(id_: str) -> _Box:
        b = boxes.get(id_)
        if b is None:
            b = boxes[id_] = _Box(id_)
        return b

    headerless: list[_Box] = []
    ordered = sorted(messages, key=lambda m: (float(m.date or 0.0), str(m.msg_id)))
    for msg in ordered:
        own = _own_id(msg)
        if not own:
            continue
        me = box(own)
        if me.msg is not None:
            # The same id twice is one message seen twice; a message the store
            # told apart (its own msg_id, the Message-ID shared) is another one.
            other = normalize_message_id(msg.msg_id)
            if not other or other == normalize_message_id(me.msg.msg_id):
                continue
            key, n = other, 1
            while key == own or (key in boxes and boxes[key].msg is not None):
                n += 1
                key = f"{own}#{n}"
            me = box(key)
        me.msg = msg
        me.date = float(msg.date or 0.0)
        chain = _chain(msg)
        if not chain:
            headerless.append(me)
            continue
        prev: _Box | None = None
        for ref in chain:
            current = box(ref)
            # Links already made by other messages are trusted over this one's
            # (JWZ's rule); a link that would close a loop is refused.
            if prev is not None and current.parent is None and not _is_ancestor(current, prev):
                _link(prev, current)
            prev = current
        # The message's own parent is the one it names last, even over a parent
        # guessed from someone else's References.
        if prev is not None and not _is_ancestor(me, prev):
            _link(prev, me)

    _subject_fallback(headerless, list(boxes.values()))

    root_of: dict[str, str] = {}
    for b in boxes.values():
        if b.msg is not None:
            root_of[b.id] = _top(b).id
    roots = [_display_tree(b) for b in boxes.values() if b.parent is None]
    trees = [t for t in roots if t is not None]
    trees.sort(key=lambda n: (n.date, n.id))
    return Threading(root_of=root_of, roots=trees)


def _earliest(top: _Box) -> tuple[float, _Box | None]:
    best: _Box | None = None
    stack = [top]
    while stack:
        b = stack.pop()
        if b.msg is not None and (best is None or b.date < best.date):
            best = b
        stack.extend(b.children)
    return (best.date if best else 0.0), best


def _subject_fallback(headerless: list[_Box], boxes: Iterable[_Box]) -> None:
    if not headerless:
        return
    # Every thread, indexed by the base subject of its first message, so that a
    # headerless "Re: Budget" joins the thread that started as "Budget".
    by_subject: dict[str, list[tuple[float, _Box]]] = {}
    for top in (b for b in boxes if b.parent is None):
        date, first = _earliest(top)
        if first is None or first.msg is None:
            continue
        base, _ = base_subject(first.msg.subject)
        if base:
            by_subject.setdefault(base, []).append((date, top))

    for b in sorted(headerless, key=lambda x: (x.date, x.id)):
        assert b.msg is not None
        base, replied = base_subject(b.msg.subject)
        if not base or not replied or b.parent is not None:
            continue
        best: _Box | None = None
        best_date = float("-inf")
        for date, top in by_subject.get(base, ()):
            # Earlier fallbacks may have moved this thread under another one.
            target = _top(top)
            if target is _top(b) or date > b.date:
                continue
            if date > best_date:
                best, best_date = target, date
        if best is not None and not _is_ancestor(b, best):
            _link(best, b)


def _display_tree(top: _Box) -> ThreadNode | None:
    """The tree under `top` with placeholders pruned, built without recursion.

    A placeholder with no children goes; one with children hands them to its
    parent, except at the top where two or more children keep it as the root
    that ties them together (as in JWZ).
    """
    # Post-order: children are turned into nodes before their parent.
    order: list[_Box] = []
    stack = [top]
    while stack:
        b = stack.pop()
        order.append(b)
        stack.extend(b.children)
    built: dict[int, list[ThreadNode]] = {}
    for b in reversed(order):
        kids: list[ThreadNode] = []
        for c in b.children:
            kids.extend(built.pop(id(c), []))
        kids.sort(key=lambda n: (n.date, n.id))
        if b.msg is not None:
            built[id(b)] = [ThreadNode(b.id, True, b.date, kids)]
        elif b is top and len(kids) > 1:
            built[id(b)] = [ThreadNode(b.id, False, min(k.date for k in kids), kids)]
        else:
            built[id(b)] = kids
    result = built.get(id(top), [])
    if not result:
        return None
    if len(result) == 1:
        return result[0]
    return ThreadNode(top.id, False, min(n.date for n in result), result)


def flatten(roots: Iterable[ThreadNode]) -> list[tuple[int, ThreadNode]]:
    """Depth-first (depth, node) pairs, for drawing a thread as an indented list."""
    out: list[tuple[int, ThreadNode]] = []
    stack = [(0, n) for n in reversed(list(roots))]
    while stack:
        depth, node = stack.pop()
        out.append((depth, node))
        stack.extend((depth + 1, c) for c in reversed(node.children))
    return out


@dataclass(slots=True)
class Placement:
    """Where a newly arrived message goes.

    `merge` lists thread ids that should now be relabelled `thread_id`: threads
    that were started by earlier arrivals which referenced a message we had not
    seen, and which this message shows to be part of a larger thread. The caller
    relabels those that exist; the others are harmless.
    """

    thread_id: str
    merge: list[str] = field(default_factory=list)


def thread_for_new(
    msg: Threadable,
    thread_of: Mapping[str, str] | Callable[[str], str | None],
    subject_thread: Callable[[str, float], str | None] | None = None,
) -> Placement:
    """Thread one new message against what is already stored.

    `thread_of(id)` gives the stored thread id of a known message (or None).
    `subject_thread(base_subject, date)`, if given, finds a thread for a message
    without threading headers whose subject marks it as a reply: the newest
    thread with that base subject started before `date`.
    """
    lookup = thread_of.get if isinstance(thread_of, Mapping) else thread_of
    own = normalize_message_id(msg.msg_id)
    chain = _chain(msg)
    if not chain:
        if subject_thread is not None:
            base, replied = base_subject(msg.subject)
            if base and replied:
                found = subject_thread(base, float(msg.date or 0.0))
                if found and found != own:
                    return Placement(found, [own])
        return Placement(own)
    derived = thread_id_for_email(own, msg.in_reply_to, chain)
    known = [t for t in (lookup(ref) for ref in chain) if t]
    thread_id = known[0] if known else derived
    merge: list[str] = []
    for t in (*known, derived, own):
        if t != thread_id and t not in merge:
            merge.append(t)
    return Placement(thread_id, merge)


__all__ = [
    "Placement",
    "ThreadInput",
    "ThreadNode",
    "Threadable",
    "Threading",
    "base_subject",
    "flatten",
    "thread",
    "thread_for_new",
]
