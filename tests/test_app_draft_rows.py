"""A reply saved as a draft, as the list shows its conversation afterwards. A draft
is not mail: it adds no unread message (the dot a row shows is its conversation's
own unread mail), and, as mutt and aerc keep postponed mail in Drafts without
touching the inbox's order, it does not move its conversation up either, nor
change who the row names or its words: the row reads as before, with a
"✎ draft" mark (the store's thread rows take their last date, sender and snippet
from the mail, and count the drafts). Against the real servers."""

from __future__ import annotations

import pytest

from tests.others import person, send_email
from tests.screen import drawn_text
from tests.test_app import alice_app, listing, pilot_until

pytestmark = pytest.mark.servers


async def saved_draft(world, tmp_path):
    alice, bob, carol = (person(world, n) for n in ("alice", "bob", "carol"))
    send_email(world, bob, [alice.email], [], "Budget 2027", "The numbers are in.")
    send_email(world, carol, [alice.email], [], "Lunch", "Noon?")
    app = alice_app(world, tmp_path, alice, bob, carol)
    async with app.run_test(size=(120, 30)) as pilot:
        assert await pilot_until(pilot, lambda: {"Budget 2027", "Lunch"} <= {
            t.subject for t in listing(app).rows}, 30)
        budget = next(t for t in listing(app).rows if t.subject == "Budget 2027")
        key = (budget.account, budget.thread_id)
        (original,) = app.engine.timeline(*key)
        before = [t.subject for t in listing(app).rows]
        unread_before = budget.unread_count
        # An email's Date is in whole seconds: the draft a second later than the
        # newest mail, or it ties with it and the order says nothing.
        await pilot.pause(1.1)
        await app.engine.draft_save(alice.name, [], "", "Half an answer", answering=original.id)
        assert await pilot_until(pilot, lambda: len(app.engine.timeline(*key)) == 2, 20)
        # The list has read the conversation again (its row counts the draft), not
        # a pause that may end before it did (which made the order test pass
        # before its time).
        assert await pilot_until(pilot, lambda: next(
            t for t in listing(app).rows if t.subject == "Budget 2027").message_count == 2, 20)
        after = next(t for t in listing(app).rows if t.subject == "Budget 2027")
        shown = listing(app).row_text(after, 120).plain
        await pilot.pause()
        screen = drawn_text(app.export_screenshot())
        return before, [t.subject for t in listing(app).rows], unread_before, after, \
            (bob, shown, screen)


async def test_a_saved_draft_adds_no_unread_mail_to_its_conversation(world, tmp_path):
    _before, _after, unread_before, row, _shown = await saved_draft(world, tmp_path)
    assert row.unread_count == unread_before  # the draft is \Seen: no new dot


async def test_a_saved_draft_leaves_its_conversation_where_it_was(world, tmp_path):
    before, after, _unread, row, (bob, shown, screen) = await saved_draft(world, tmp_path)
    assert after == before
    # The row still names Bob, who wrote last, not the draft's recipient ("to
    # Bob", as a message of ours reads), and not the draft's words.
    assert row.last_sender == bob.display_name and row.draft_count == 1
    assert bob.display_name in shown and "to " + bob.display_name not in shown
    assert "Half an answer" not in shown and "Half an answer" not in row.snippet
    # The mark, on the row as drawn.
    (line,) = [x for x in screen.splitlines() if "Budget 2027" in x]
    assert "✎ draft" in line and bob.display_name in line


async def test_a_conversation_of_one_draft_says_draft_once(world, tmp_path):
    """A new message saved as a draft is a conversation of its own, all of it in
    Drafts: its row said so twice ("Draft ✎ draft": where its mail is, and the
    draft mark); once now."""
    alice, dave = person(world, "alice"), person(world, "dave")
    app = alice_app(world, tmp_path, alice, dave)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause(0.5)
        await app.engine.draft_save(alice.name, [dave.email], "Offsite plans", "Half a plan")
        assert await pilot_until(pilot, lambda: "Offsite plans" in {
            t.subject for t in listing(app).rows}, 30)
        row = next(t for t in listing(app).rows if t.subject == "Offsite plans")
        assert await pilot_until(pilot, lambda: "draft" in listing(app).row_text(
            row, 120).plain.lower(), 20)
        await pilot.pause(0.5)
        shown = listing(app).row_text(row, 120).plain
        assert shown.lower().count("draft") == 1, shown
