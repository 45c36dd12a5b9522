"""JWZ-style threading: chains, gaps, loops, subject fallback, incremental placement."""

from __future__ import annotations

import random

from bridge.mail.threader import (
    ThreadInput,
    ThreadNode,
    base_subject,
    flatten,
    thread,
    thread_for_new,
)
from bridge.model import thread_id_for_email


def msg(mid: str, refs: str = "", irt: str | None = None, subject: str = "s",
        date: float = 0.0) -> ThreadInput:
    return ThreadInput(msg_id=mid, in_reply_to=irt, references=tuple(refs.split()),
                       subject=subject, date=date)


def shape(node: ThreadNode) -> object:
    """A compact nested form of a display tree: id, or (id, [children])."""
    mark = node.id if node.present else f"({node.id})"
    return (mark, [shape(c) for c in node.children]) if node.children else mark


CHAIN = [
    msg("a", subject="Plan", date=1),
    msg("b", "a", "a", "Re: Plan", 2),
    msg("c", "a b", "b", "Re: Plan", 3),
    msg("d", "a", "a", "Re: Plan", 4),
    msg("e", "a b c", "c", "Something else entirely", 5),
]


def test_chain_builds_the_tree_and_agrees_with_the_model() -> None:
    t = thread(CHAIN)
    assert [shape(r) for r in t.roots] == [("a", [("b", [("c", ["e"])]), "d"])]
    assert set(t.root_of.values()) == {"a"}
    for m in CHAIN:
        assert t.root_of[m.msg_id] == thread_id_for_email(m.msg_id, m.in_reply_to,
                                                          list(m.references))


def test_arrival_order_does_not_matter() -> None:
    expected = [shape(r) for r in thread(CHAIN).roots]
    rng = random.Random(3)
    for _ in range(20):
        shuffled = CHAIN[:]
        rng.shuffle(shuffled)
        t = thread(shuffled)
        assert [shape(r) for r in t.roots] == expected
        assert set(t.root_of.values()) == {"a"}


def test_replies_with_a_different_subject_stay_in_the_thread() -> None:
    t = thread(CHAIN)
    assert t.root_of["e"] == "a"


def test_missing_parents() -> None:
    # The root "r" never arrived; two replies to it are tied by a placeholder.
    t = thread([msg("x", "r", "r", date=2), msg("y", "r", "r", date=3)])
    assert [shape(r) for r in t.roots] == [("(r)", ["x", "y"])]
    assert t.root_of == {"x": "r", "y": "r"}
    # A missing middle message: the grandchild hangs under the root directly in
    # the display, and the thread id is still the root's.
    t = thread([msg("a", date=1), msg("c", "a b", "b", date=3)])
    assert [shape(r) for r in t.roots] == [("a", ["c"])]
    assert t.root_of == {"a": "a", "c": "a"}
    # A single orphan keeps the missing root as its thread id (as the store does)
    # but shows as a root itself.
    t = thread([msg("c", "a b", "b")])
    assert [shape(r) for r in t.roots] == ["c"]
    assert t.root_of == {"c": "a"} and thread_id_for_email("c", "b", ["a", "b"]) == "a"


def test_in_reply_to_alone_threads() -> None:
    t = thread([msg("a", date=1), msg("b", irt="<a>", date=2)])
    assert [shape(r) for r in t.roots] == [("a", ["b"])]


def test_cycles_do_not_loop() -> None:
    messages = [
        msg("a", "b", "b", date=1),
        msg("b", "a", "a", date=2),
        msg("c", "c", "c", date=3),  # refers to itself
        msg("d", "x y x d", date=4),  # repeats and itself
        msg("x", "y", date=5),
        msg("y", "x", date=6),
    ]
    t = thread(messages)
    assert set(t.root_of) == {"a", "b", "c", "d", "x", "y"}
    seen = [n.id for _, n in flatten(t.roots)]
    assert sorted(i for i in seen if i in t.root_of) == ["a", "b", "c", "d", "x", "y"]
    assert len(seen) == len(set(seen))
    # Every message's root is a root of the forest.
    forest_roots = {r.id for r in t.roots}
    assert t.root_of["c"] == "c" and "c" in forest_roots


def test_subject_fallback_only_without_threading_headers() -> None:
    t = thread([
        msg("a", subject="Budget", date=1),
        msg("b", subject="Re: Budget", date=2),  # no headers: joins by subject
        msg("c", subject="AW: [team] SV: budget", date=3),  # prefixes and list tag
        msg("d", subject="Budget", date=4),  # no reply prefix: a new thread
        msg("e", "zzz", "zzz", subject="Re: Budget", date=5),  # has headers: never moved
        msg("f", subject="Re: Budget", date=0.5),  # older than every "Budget" thread
    ])
    assert t.root_of["b"] == t.root_of["c"] == "a"
    assert t.root_of["d"] == "d"
    assert t.root_of["e"] == "zzz"
    assert t.root_of["f"] == "f"


def test_subject_fallback_picks_the_latest_earlier_thread() -> None:
    t = thread([
        msg("jan", subject="Monthly report", date=10),
        msg("feb", subject="Monthly report", date=20),
        msg("re-feb", subject="Re: Monthly report", date=25),
    ])
    assert t.root_of["re-feb"] == "feb"


def test_base_subject() -> None:
    assert base_subject("Re: Fwd: [dev] AW:  Hello   World") == ("hello world", True)
    assert base_subject("[dev] Hello") == ("hello", False)
    assert base_subject("Re[3]: x") == ("x", True)
    # Bounded work on a hostile subject: the rest stays, it is not a loop.
    deep, replied = base_subject("Re: " * 10000 + "deep")
    assert replied and deep.endswith("deep") and len(deep) < 40000
    assert base_subject("") == ("", False)


def test_duplicates_and_empty_ids() -> None:
    t = thread([msg("a", date=1), msg("a", date=2), msg("", date=3), msg("b", "a", "a", date=4)])
    assert [shape(r) for r in t.roots] == [("a", ["b"])]


def test_long_chain_does_not_recurse() -> None:
    ids = [f"m{i}" for i in range(5000)]
    messages = [msg(ids[i], " ".join(ids[max(0, i - 10) : i]) if i else "",
                    ids[i - 1] if i else None, date=i) for i in range(len(ids))]
    messages[0] = msg("m0", date=0)
    t = thread(reversed(messages))
    assert set(t.root_of.values()) == {"m0"}
    flat = flatten(t.roots)
    assert len(flat) == 5000 and flat[-1][0] == 4999


def test_thread_for_new_normal_and_out_of_order() -> None:
    stored = {"a": "a", "b": "a"}
    p = thread_for_new(msg("c", "a b", "b"), stored)
    assert p.thread_id == "a" and p.merge == ["c"]
    # A child arrived before its parent: it sits in the thread named after the
    # parent, and the parent's arrival asks for that thread to be merged in.
    stored = {"c": "b"}  # c came with only In-Reply-To: b
    p = thread_for_new(msg("b", "a", "a"), stored)
    assert p.thread_id == "a" and "b" in p.merge
    # A stored ancestor whose own thread is deeper than this chain says wins.
    p = thread_for_new(msg("x", "a b", "b"), {"a": "root"}.get)
    assert p.thread_id == "root" and "a" in p.merge
    # No headers, no subject lookup: its own thread.
    assert thread_for_new(msg("n"), {}).thread_id == "n"


def test_thread_for_new_subject_fallback() -> None:
    calls: list[tuple[str, float]] = []

    def by_subject(base: str, date: float) -> str | None:
        calls.append((base, date))
        return "t1" if base == "budget" else None

    assert thread_for_new(msg("r", subject="Re: Budget", date=9), {}, by_subject).thread_id == "t1"
    assert calls == [("budget", 9.0)]
    assert thread_for_new(msg("s", subject="Budget", date=9), {}, by_subject).thread_id == "s"
    assert thread_for_new(msg("u", "p", subject="Re: Budget"), {}, by_subject).thread_id == "p"
    assert len(calls) == 1
