"""The mail keys' small parts, without servers: the tags prompt's words, the
"attached" promise, address and path completion, drafts' signatures."""

from __future__ import annotations

from tuiclient.drafts import without_signature
from tuiclient.screens.pickers import parse_tags
from tuiclient.widgets.addresses import AddressSuggester
from tuiclient.widgets.local_files import PathSuggester, promises_a_file


def test_tags_prompt_adds_bare_and_plus_words_and_removes_minus_words():
    assert parse_tags("+work -old urgent, -") == (["work", "urgent"], ["old"])
    assert parse_tags("  ") == ([], [])


def test_the_attached_promise_is_in_the_own_words_only():
    assert promises_a_file("The plans are attached.")
    assert promises_a_file("See the attachment")
    assert not promises_a_file("Nothing to see here.")
    # A quote of someone else's "attached", or a signature, promises nothing.
    assert not promises_a_file("Thanks!\n> I attached the file\n")
    assert not promises_a_file("Hi\n-- \nAttachments are scanned by IT")
    assert not promises_a_file("an attache case")


async def test_address_completion_takes_the_last_address_by_address_or_name():
    s = AddressSuggester(["bob@example.test", "carol@example.test"],
                         {"carol@example.test": "Carol Jones"})
    assert await s.get_suggestion("bo") == "bob@example.test"
    assert await s.get_suggestion("bob@example.test, car") == \
        "bob@example.test, carol@example.test"
    assert await s.get_suggestion("x, Carol") == "x, carol@example.test"
    assert await s.get_suggestion("zed") is None
    assert await s.get_suggestion("a, ") is None


async def test_path_completion_completes_names_and_marks_folders(tmp_path):
    (tmp_path / "report.pdf").write_bytes(b"%PDF")
    (tmp_path / "rest").mkdir()
    (tmp_path / ".hidden").write_text("x")
    s = PathSuggester()
    assert await s.get_suggestion(str(tmp_path / "rep")) == str(tmp_path / "report.pdf")
    assert await s.get_suggestion(str(tmp_path / "res")) == str(tmp_path / "rest") + "/"
    assert await s.get_suggestion(str(tmp_path) + "/") in (str(tmp_path / "report.pdf"),
                                                          str(tmp_path / "rest") + "/")
    assert await s.get_suggestion(str(tmp_path / "nope")) is None


def test_a_resumed_draft_leaves_its_signature_to_the_engine():
    assert without_signature("Hello\n\n-- \nAlice\n") == "Hello"
    assert without_signature("No signature") == "No signature"


def test_thread_labels_give_tags_folders_and_chat_per_conversation(tmp_path):
    from bridge.store import Store
    from tests.test_store import chat, email
    store = Store.open(tmp_path / "s.db")
    for name in ("INBOX", "Trash"):
        store.upsert_folder("work", name)
    store.insert_messages([
        email(1, thread="t1", flags={"\\Seen", "work"}),
        email(2, thread="t1", folder="Trash", flags={"$label1"}),
        email(3, thread="t2", folder="Trash"),
        chat(4, thread="t3"),
    ])
    labels = store.thread_labels([("work", "t1"), ("work", "t2"), ("work", "t3"),
                                  ("other", "t1")])
    assert labels[("work", "t1")] == (frozenset({"work", "$label1"}),
                                      frozenset({"INBOX", "Trash"}), False)
    assert labels[("work", "t2")] == (frozenset(), frozenset({"Trash"}), False)
    assert labels[("work", "t3")] == (frozenset(), frozenset(), True)
    assert ("other", "t1") not in labels


def test_no_two_actions_of_one_screen_share_a_key():
    """The main screen's actions (and the list's and the app's, active with it) each
    have keys of their own; the outbox's are on a screen of their own (t, m there
    mean retry and by chat)."""
    from tuiclient.keys import DEFAULTS
    main = [k for k in DEFAULTS.values() if k.where != "outbox"]
    outbox = [k for k in DEFAULTS.values() if k.where == "outbox"] + \
        [DEFAULTS[a] for a in ("down", "up", "back", "quit")]
    for keys in (main, outbox):
        seen: dict[str, str] = {}
        for k in keys:
            for name in k.keys.split(","):
                assert name not in seen, f"{name}: {seen[name]} and {k.action}"
                seen[name] = k.action


def test_completion_says_the_mapping_and_one_shared_address_once():
    from bridge.model import Contact, ContactAddress

    both = Contact(1, "Carol", (ContactAddress("carol@example.test", "both", "config", True),))
    split = Contact(2, "Bob", (ContactAddress("bob@example.test", "email", "config", True),
                               ContactAddress("bob@chat.example.test", "jid", "config", True)))
    s = AddressSuggester.of_contacts([both, split])
    assert s.hint("carol@example.test") == "Carol: carol@example.test (email and chat)"
    assert s.hint("bob@example.test") == "Bob: bob@example.test ↔ bob@chat.example.test"
