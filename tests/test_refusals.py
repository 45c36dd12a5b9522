"""Every refusal a user can read is a plain sentence that says what to do
(issue 21): the vocabulary in bridge.errors, walked with sample arguments, and
every `raise EngineError(...)` of the reply path and the engine, read from the
code: a refusal of the vocabulary, another layer's message passed on, or a
sentence written in place (a capital, a colon before what to do, a full stop).
No internal words: no state names, row numbers, option names or protocol names.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from bridge import errors

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "bridge" / "handoff" / "reply.py",
           *sorted((ROOT / "bridge").glob("engine*.py"))]
# What people must never read: a state's name, a row's number, an option of the
# command line or of the config's internals, the protocol's name for an address.
INTERNAL = re.compile(r"fell-back-to|outbox item|\bXMPP\b|\bJID\b|--\w|#\{|when_away|"
                      r"\brow\b|\bNone\b|->")

SAMPLES = {"account": "alice", "name": "report.pdf", "address": "bob", "known": ["alice"],
           "what": "The way to reply", "given": "fax", "choices": ("email", "im", "auto"),
           "how": "by chat", "text": "ok"}


def refusals() -> list[tuple[str, str]]:
    """(name, text) of every refusal of the vocabulary, with sample arguments (and
    each keyword's other value, where it changes the words)."""
    found = []
    for name, fn in vars(errors).items():
        if not inspect.isfunction(fn) or fn.__module__ != errors.__name__ \
                or name.startswith("_") or inspect.signature(fn).return_annotation != "str":
            continue
        if name in ("describe_presence", "state_words", "plain_words", "duration", "tries",
                    "item_tries"):
            continue  # words for a part of a sentence, not refusals
        params = inspect.signature(fn).parameters
        args = [SAMPLES[p] for p, v in params.items() if v.kind is v.POSITIONAL_OR_KEYWORD
                and v.default is inspect.Parameter.empty]
        found.append((name, fn(*args)))
        for p, v in params.items():
            if v.kind is v.KEYWORD_ONLY and isinstance(v.default, bool):
                found.append((f"{name}({p})", fn(*args, **{p: not v.default})))
        if "how" in params:
            found.append((f"{name}()", fn()))
    return found


@pytest.mark.parametrize(("name", "text"), refusals(), ids=lambda x: str(x)[:30])
def test_each_refusal_is_a_sentence_saying_what_to_do(name: str, text: str) -> None:
    assert text[:1].isupper() or text[:1] in "'\"", (name, text)
    assert text.endswith("."), (name, text)
    assert ": " in text, (name, text)  # what cannot be done: what to do
    assert not INTERNAL.search(text), (name, text)


def test_the_vocabulary_is_walked_whole() -> None:
    names = {n.split("(")[0] for n, _ in refusals()}
    assert {"no_chat_connection", "no_email_address", "message_gone", "nobody_to_reply",
            "no_chat_recipients", "not_an_address", "file_unavailable", "files_by_chat",
            "choose_one", "not_a_chat_line", "no_accounts", "unknown_account"} <= names


def written_refusals(path: Path) -> list[tuple[int, ast.expr]]:
    """(line, argument) of every `raise EngineError(argument)` in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "EngineError":
            found.extend((node.lineno, arg) for arg in node.exc.args)
    return found


def literal_start_and_end(arg: ast.expr) -> tuple[str, str]:
    parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
    text = [p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]
    first = parts[0]
    start = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) \
        else "X"  # a sentence may start with a name
    return start, "".join(text)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_engine_refusal_comes_from_the_vocabulary_or_is_a_sentence(path: Path) -> None:
    wrong = []
    for line, arg in written_refusals(path):
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) \
                and isinstance(arg.func.value, ast.Name) and arg.func.value.id == "refuse":
            assert hasattr(errors, arg.func.attr), f"{path.name}:{line}"
            continue
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) \
                and arg.func.id == "str":
            continue  # another layer's refusal passed on (the server's, the config's)
        start, text = literal_start_and_end(arg)
        if not (start[:1].isupper() and ": " in text and text.rstrip().endswith(".")) \
                or INTERNAL.search(text):
            wrong.append(f"{path.name}:{line}: {ast.unparse(arg)}")
    assert not wrong, "\n".join(wrong)


def test_the_walk_finds_the_refusals() -> None:
    assert sum(len(written_refusals(p)) for p in SOURCES) >= 20
