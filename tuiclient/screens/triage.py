"""The main screen's triage: mark conversations (space / t), then delete (d),
archive (a), move (m), copy (C), tag (T), flag and unread (F, N on the marked),
undo (u); the labels of the list's rows (tags, Trash, Archive).

What the keys act on, as in mutt and aerc: the marked conversations when there
are any; else, from the list, the conversation under the cursor (all its
emails); else the email chosen in the open conversation (our own email shown
once but kept in two folders, a note to self: its copy in the folder whose list
is shown, else each one out of the Trash). Chat lines are not
on an IMAP server: they are left out, and said so when nothing else is left.

Each action is one engine call in a worker. The engine moves the store at once
and puts it back if the server refuses; the row says where it is going while
the server answers, and a refusal is one line saying nothing changed.

Chats are conversations too: a chat has no server folder, so d and a on a
conversation with no email on a server delete it from this machine (asked
first) or archive it here (out of the list until its next line; u brings it
back), by the engine's local calls (schema 11).

A part of `MainScreen`, as `Marking` is: it calls the engine for the screen and
passes the marks and labels down to the list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bridge.engine import Engine
from bridge.errors import EngineError
from bridge.events import TriageDone
from bridge.model import FLAGGED, Message, Transport
from tuiclient.widgets.conversation_list import ConversationList, Key, RowLabel, key_of
from tuiclient.widgets.timeline import Timeline

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen

WHERE_ROLES = {"trash": "Trash", "archive": "Archive", "junk": "Junk", "drafts": "Draft"}
# Actions on a whole conversation leave our own copies in Sent where they are.
KEEP_SENT = ("archive", "move")


def on_server(m: Message) -> bool:
    """An email with a place on the IMAP server (not a chat line, not one being sent)."""
    return m.transport is Transport.EMAIL and m.folder is not None and \
        m.uid is not None and m.uid > 0 and m.id is not None


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def said(event: TriageDone) -> str:
    """One line of what was done, for the notification."""
    n = plural(len(event.rows), "email")
    moved = event.done.get("moved") or []
    target = moved[0][3] if moved else ""
    if event.undoes:
        return f"Undone: {n} back where {'it was' if len(event.rows) == 1 else 'they were'}."
    return {
        "delete": f"Deleted {n} (to {target or 'Trash'}).",
        "expunge": f"Deleted {n} for good.",
        "archive": f"Archived {n} to {target}.",
        "move": f"Moved {n} to {target}.",
        "copy": f"Copied {n} to {target}.",
        "tag": f"Tags changed on {n}.",
    }.get(event.action, f"Changed {n}.")


class Target:
    """What a triage key acts on: email row ids, the conversations they are in,
    and how to name them."""

    def __init__(self, rows: list[int], keys: list[Key], what: str, messages: list[Message]):
        self.rows = rows
        self.keys = keys
        self.what = what
        self.messages = messages


class Triage:
    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self.marked: set[Key] = set()
        self.pending: dict[Key, str] = {}  # rows on their way somewhere: "→ Trash…"
        self._roles: dict[str, dict[str, str]] = {}  # account -> folder -> role
        self._labels_due = False  # a pass of the labels is scheduled
        self._archived_here: list[Key] = []  # the last action, when it was a local archive

    @property
    def engine(self) -> Engine:
        return self.screen.engine

    @property
    def listing(self) -> ConversationList:
        return self.screen.query_one(ConversationList)

    # -- marks -------------------------------------------------------------------------

    def toggle_mark(self) -> None:
        """Mark or unmark the conversation under the list's cursor, then move on
        (as mutt's `t` and aerc's mark do)."""
        listing = self.listing
        thread = listing.current
        if thread is None:
            return
        self.marked ^= {key_of(thread)}
        listing.marked = frozenset(self.marked)
        listing.action_cursor_down()
        if len(self.marked) == 1 and key_of(thread) in self.marked:
            self.screen.notify("Marked: d a m C T F N now act on every marked "
                               "conversation (space again unmarks).", timeout=4)

    def clear_marks(self) -> None:
        self.marked.clear()
        self.listing.marked = frozenset()

    # -- what a key acts on ----------------------------------------------------------------

    def target(self, action: str = "") -> Target | None:
        screen = self.screen
        listing = self.listing
        keys: list[Key] = []
        if self.marked:
            keys = [key_of(t) for t in listing.rows if key_of(t) in self.marked]
            keys += [k for k in self.marked if k not in keys]
            what = plural(len(keys), "marked conversation")
        elif listing.has_focus or screen.opened.key is None:
            thread = listing.current
            if thread is None:
                return None
            keys = [key_of(thread)]
            what = "the conversation"
        if keys:
            # Every place of the conversation's emails: our own copies of one
            # message in two folders too (the view shows them once).
            messages = [m for k in keys for m in self.engine.timeline(*k, copies=True)]
        else:
            m = screen.query_one(Timeline).current
            if m is None or screen.opened.key is None:
                return None
            keys, messages, what = [screen.opened.key], self.copies(m), "the message"
        emails = [m for m in messages if on_server(m)]
        if action in KEEP_SENT and (what != "the message" or len(emails) > 1):
            sent = {f for account in {k[0] for k in keys}
                    for f, role in self.roles(account).items() if role == "sent"}
            emails = [m for m in emails if m.folder not in sent] or emails
        if not emails:
            screen.notify(f"Nothing to do: {what} has no email on the server (chat lines "
                          "stay where they are).", severity="warning")
            return None
        return Target([m.id for m in emails if m.id is not None], keys, what, emails)

    def copies(self, m: Message) -> list[Message]:
        """What "the message" is on the server: shown once, our own email may be
        in two folders (a note to self: INBOX and Sent). In a folder's list, its
        copy there (deleting it from INBOX keeps the one in Sent); else each one
        out of the Trash (a copy deleted before is not deleted for good now)."""
        copies = [c for c in self.engine.message_copies(m) if on_server(c)] or [m]
        here = self.screen.overview.folder
        if here is not None:
            return [c for c in copies if (c.account, c.folder) == here] or copies
        trash = {f for f, role in self.roles(m.account).items() if role == "trash"}
        return [c for c in copies if c.folder not in trash] or copies

    # -- chats: on this machine only ------------------------------------------------------

    def keys(self) -> list[Key]:
        """The conversations a key acts on: the marked ones, else the one under the
        cursor (from the list), else the open one."""
        listing = self.listing
        if self.marked:
            return [key_of(t) for t in listing.rows if key_of(t) in self.marked] + \
                [k for k in self.marked if k not in {key_of(t) for t in listing.rows}]
        if listing.has_focus or self.screen.opened.key is None:
            thread = listing.current
            return [key_of(thread)] if thread is not None else []
        return [self.screen.opened.key]

    def chats(self) -> tuple[list[Key], bool]:
        """Of those, the chats (chat lines only), and whether any other is left
        (for the server's triage: an email conversation's chat lines stay with it)."""
        chats: list[Key] = []
        other = False
        for key in self.keys():
            messages = self.screen.opened.messages if key == self.screen.opened.key \
                else self.engine.timeline(*key)
            if messages and all(m.transport is Transport.XMPP for m in messages):
                chats.append(key)
            else:
                other = True
        return chats, other

    def archive_here(self, keys: list[Key]) -> None:
        for key in keys:
            try:
                self.engine.archive_conversation(*key)
            except LookupError:
                continue
        self._archived_here = list(keys)
        self._gone(keys)
        self.screen.notify(f"Archived {plural(len(keys), 'chat')} here: back in the list "
                           "with the next line (u undoes).", markup=False)

    def delete_here(self, keys: list[Key]) -> None:
        from tuiclient.screens.pickers import Confirm

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            removed = 0
            for key in keys:
                try:
                    removed += self.engine.delete_conversation(*key)
                except (LookupError, EngineError) as exc:
                    self.screen.notify(f"Not deleted: {exc}", severity="error",
                                       markup=False)
            self._archived_here = []
            self._gone(keys)
            self.screen.notify(f"Deleted {plural(len(keys), 'chat')} from this machine "
                               f"({plural(removed, 'line')}).", markup=False)
        self.screen.app.push_screen(Confirm(
            "Delete from this machine?", f"{plural(len(keys), 'chat conversation')}: "
            "its lines are removed from this store (the server's archive keeps what it "
            "keeps); u cannot bring them back.", "Delete"), answered)

    def _gone(self, keys: list[Key]) -> None:
        """Rows archived or deleted here leave the list (and the marks)."""
        screen = self.screen
        self.listing.drop(keys)
        self.marked.difference_update(keys)
        self.listing.marked = frozenset(self.marked)
        if screen.opened.key in keys:
            screen.opened.refresh()
            screen.show_pane("list")

    # -- the actions -------------------------------------------------------------------

    def roles(self, account: str) -> dict[str, str]:
        """The account's folders that have a role (SPECIAL-USE): name -> role. Read
        once they are known (the labels are drawn again on every burst of rows)."""
        known = self._roles.get(account)
        if not known:
            known = {f.name: f.role for f in self.engine.folders(account) if f.role}
            self._roles[account] = known
        return known

    def next_row(self, target: Target) -> None:
        """After the conversation under the cursor went away, on to the next one (as
        mutt and aerc do), so that a run of d and a goes down the list."""
        listing = self.listing
        if len(target.keys) == 1 and not self.marked and listing.has_focus:
            listing.action_cursor_down()

    def delete(self) -> None:
        from tuiclient.screens.pickers import Confirm

        chats, other = self.chats()
        if chats:
            self.delete_here(chats)
        if not other:
            return
        target = self.target("delete")
        if target is None:
            return
        account = target.keys[0][0]
        trash = {f for f, role in self.roles(account).items() if role == "trash"}
        try:
            now = self.engine.account(account).expunge_deletes
        except EngineError:
            now = False
        purged = [m for m in target.messages if now or m.folder in trash]
        if not purged:
            self.run(target, "→ Trash…", lambda: self.engine.delete(target.rows))
            self.next_row(target)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run(target, "deleting…", lambda: self.engine.delete(target.rows))
                self.next_row(target)
        n = plural(len(purged), "email")
        self.screen.app.push_screen(Confirm(
            "Delete for good?", f"{n} of {target.what} will be gone from the server "
            f"({'the account deletes for good' if now else 'already in Trash'}); "
            "u cannot bring them back.", "Delete"), answered)

    def archive(self) -> None:
        chats, other = self.chats()
        if chats:
            self.archive_here(chats)
        if not other:
            return
        target = self.target("archive")
        if target is not None:
            self.run(target, "→ Archive…", lambda: self.engine.archive(target.rows))
            self.next_row(target)

    def move(self, copy: bool = False) -> None:
        from tuiclient.screens.pickers import FolderPicker

        target = self.target("copy" if copy else "move")
        if target is None:
            return
        accounts = {k[0] for k in target.keys}
        if len(accounts) != 1:
            self.screen.notify("The marked conversations are in several accounts: "
                               "move one account's at a time.", severity="warning")
            return
        here = {m.folder for m in target.messages}
        folders = [f.name for f in self.engine.folders(accounts.pop())
                   if copy or f.name not in here]
        verb = "Copy" if copy else "Move"

        def chosen(folder: str | None) -> None:
            if not folder:
                return
            call = self.engine.copy if copy else self.engine.move
            self.run(target, "" if copy else f"→ {folder}…",
                     lambda: call(target.rows, folder))
            if not copy:
                self.next_row(target)
        self.screen.app.push_screen(FolderPicker(f"{verb} {target.what} to…", folders),
                                    chosen)

    def tags(self) -> None:
        from tuiclient.screens.pickers import TagPrompt

        target = self.target()
        if target is None:
            return
        current = {f for m in target.messages for f in m.flags if not f.startswith("\\")}

        def chosen(answer: tuple[list[str], list[str]] | None) -> None:
            if answer is None:
                return
            add, remove = answer
            self.run(target, "", lambda: self.engine.tag(target.rows, add, remove))
        self.screen.app.push_screen(TagPrompt(target.what, sorted(current)), chosen)

    def flag(self) -> None:
        """F with marks: flag them all, or unflag when all are flagged already."""
        target = self.target()
        if target is not None:
            on = not all(FLAGGED in m.flags for m in target.messages)
            self.run(target, "", lambda: self.engine.flag(target.rows, on))

    def unread(self) -> None:
        """N with marks: read them all, or unread when all are read already."""
        target = self.target()
        if target is not None:
            read = any(m.unread for m in target.messages)
            self.run(target, "", lambda: self.engine.mark_read(target.rows, read))

    def undo(self) -> None:
        if self._archived_here:  # the last action archived chats here: back they come
            keys, self._archived_here = self._archived_here, []
            for key in keys:
                self.engine.unarchive_conversation(*key)
            self.follow(keys)
            self.screen.notify(f"Undone: {plural(len(keys), 'chat')} back in the list.",
                               markup=False)
            return
        self.screen.run_worker(self._undo(), name="undo", group="triage")

    async def _undo(self) -> None:
        try:
            event = await self.engine.undo()
        except EngineError as exc:
            self.screen.notify(f"Cannot undo: {exc}", severity="warning", markup=False)
            return
        self.screen.notify(said(event), markup=False)
        self.follow(self.keys_of(event.rows))

    # -- running one ---------------------------------------------------------------------

    def run(self, target: Target, going: str,
            call: Callable[[], Awaitable[TriageDone]]) -> None:
        self._archived_here = []  # u now undoes this one
        if going:
            for key in target.keys:
                self.pending[key] = going
            self.pass_labels()
        self.screen.run_worker(self._run(target, call), name="triage", group="triage")

    async def _run(self, target: Target, call: Callable[[], Awaitable[TriageDone]]) -> None:
        screen = self.screen
        try:
            event = await call()
        except EngineError as exc:
            screen.notify(f"Not done, nothing changed: {exc}", severity="error",
                          markup=False)
        else:
            undo = " (u undoes)" if event.action != "expunge" else ""
            screen.notify(said(event) + undo, markup=False)
            if self.marked:
                self.clear_marks()
        finally:
            for key in target.keys:
                self.pending.pop(key, None)
        self.follow(target.keys)

    def keys_of(self, rows: Sequence[int]) -> list[Key]:
        keys: dict[Key, None] = {}
        for row in rows:
            try:
                m = self.engine.message(row)
            except EngineError:
                continue
            keys[(m.account, m.thread_id)] = None
        return list(keys)

    def follow(self, keys: Sequence[Key]) -> None:
        """Draw again what a triage action changed: the rows, the folder counts,
        the open conversation."""
        screen = self.screen
        gone = [key for key in keys if self.engine.thread(*key) is None]
        if gone:  # deleted for good: no conversation left to draw
            self.listing.drop(gone)
            self.marked.difference_update(gone)
        for key in keys:
            screen.overview.merge_thread(*key)
        screen.overview.refresh_sidebar(contacts=False)
        if screen.opened.key in keys:
            screen.opened.refresh()
            screen.opened.refresh_head()
        self.pass_labels()

    # -- the rows' labels --------------------------------------------------------------

    def labels_soon(self) -> None:
        """The rows changed: their labels again, once for a run of changes (a burst
        of events merges many rows, each telling)."""
        if not self._labels_due:
            self._labels_due = True
            self.screen.call_later(self.pass_labels)

    def pass_labels(self) -> None:
        """Each row's tags and where its emails went (Trash, Archive), down to the list:
        read for the rows in view and near it (a long list is read as it scrolls)."""
        self._labels_due = False
        listing = self.listing
        keys = listing.keys_near_view()
        if not keys:
            listing.labels = {}
            return
        places: dict[str, dict[str, str]] = {}  # account -> folder -> label
        sent: set[tuple[str, str]] = set()  # (account, folder): not a place to name
        for account in {k[0] for k in keys}:
            roles = self.roles(account)
            named = {f: WHERE_ROLES[r] for f, r in roles.items() if r in WHERE_ROLES}
            sent.update((account, f) for f, r in roles.items() if r == "sent")
            try:
                archive = self.engine.account(account).archive_folder
            except EngineError:
                archive = None
            if archive:
                named[archive] = "Archive"
            places[account] = named
        near = set(keys)
        labels = {k: v for k, v in listing.labels.items() if k not in near}
        for key, (tags, folders, chat) in self.engine.thread_labels(keys).items():
            where = self.pending.get(key, "")
            folders = frozenset(f for f in folders if (key[0], f) not in sent)
            if not where and folders and not chat:
                names = {places[key[0]].get(f) for f in folders}
                if len(names) == 1 and None not in names:
                    where = names.pop() or ""
            flagged = FLAGGED in tags
            tags = tags - {FLAGGED}
            if tags or where or flagged:
                labels[key] = RowLabel(tuple(sorted(tags, key=str.lower)), where, flagged)
        for key, going in self.pending.items():
            labels.setdefault(key, RowLabel((), going))
        if labels != listing.labels:
            listing.labels = labels
