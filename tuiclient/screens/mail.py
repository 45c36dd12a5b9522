"""The main screen's email keys: save or open an email's files (s), forward (f),
bounce (b), the drafts (P: resume one with its files, send it), and a message's links (L, ctrl+b:
open or copy one; tuiclient/screens/links.py).

Which email: the one chosen in the open conversation; from the list, the newest
email of the conversation under the cursor. `s` on a chat line that links
files saves those instead (fetched from their links by the engine). Every
call to the servers runs in a worker; its result is one line in a
notification.

A part of `MainScreen`, as `Triage` and `Marking` are.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import SuspendNotSupported

from bridge.engine import Engine
from bridge.errors import EngineError
from bridge.model import Direction, Message, Transport
from bridge.paths import default_downloads
from bridge.safe import inert_text
from tuiclient.appref import client_app
from tuiclient.drafts import Forward, NewMessage, Unsent, unsent, without_signature
from tuiclient.format import one_line
from tuiclient.replies import send_new, sent_words
from tuiclient.widgets.conversation_list import ConversationList, key_of
from tuiclient.widgets.timeline import Timeline

if TYPE_CHECKING:
    from tuiclient.screens.main import MainScreen


def needs_body(m: Message) -> bool:
    return m.transport is Transport.EMAIL and not m.text and m.uid is not None


class MailKeys:
    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen

    @property
    def engine(self) -> Engine:
        return self.screen.engine

    def email(self) -> Message | None:
        """The email the keys act on, or None (and the user told why): the chosen
        message, or when it is a chat line the email before it."""
        screen = self.screen
        listing = screen.query_one(ConversationList)
        thread = listing.current
        m: Message | None
        if listing.has_focus and thread is not None and key_of(thread) != screen.opened.key:
            m = self.newest_email(self.engine.timeline(*key_of(thread)))
        else:
            m = screen.query_one(Timeline).current
            if m is not None and m.transport is not Transport.EMAIL:
                # A chat line chosen: the newest email of the conversation before it.
                earlier = [x for x in screen.opened.messages if x.date <= m.date
                           and x.transport is Transport.EMAIL]
                m = earlier[-1] if earlier else None
        if m is None or m.transport is not Transport.EMAIL or m.id is None:
            screen.notify("Choose an email first (or, to save them, a chat line "
                          "with files).", severity="warning")
            return None
        return m

    async def body(self, m: Message, what: str = "email") -> Message | None:
        """The email with its body and files, fetched if needed; None (and the
        reason told) when the server cannot give it."""
        try:
            if needs_body(m) and m.id is not None:
                return await self.engine.fetch_body(m.id)
        except (EngineError, OSError) as exc:
            self.screen.notify(f"Could not fetch the {what}: {exc}", severity="error",
                               markup=False)
            return None
        return m

    # -- attachments ---------------------------------------------------------------------

    def save(self) -> None:
        """s: the files of the chosen chat line (their links fetched, in a worker),
        else of the email the keys act on (`email`)."""
        m = self.chat_line_with_files() or self.email()
        if m is not None:
            self.screen.run_worker(self._save(m), name="save_files", group="mail")

    def chat_line_with_files(self) -> Message | None:
        """The chat line chosen in the open conversation, when it links files."""
        screen = self.screen
        if screen.query_one(ConversationList).has_focus:
            return None
        m = screen.query_one(Timeline).current
        if m is None or m.transport is not Transport.XMPP or m.id is None \
                or not m.attachments:
            return None
        return m

    async def _save(self, m: Message) -> None:
        from tuiclient.screens.attachments import AttachmentsScreen

        screen = self.screen
        fetched = await self.body(m)
        if fetched is None:
            return
        m = fetched
        if not m.attachments and m.transport is Transport.EMAIL:
            # The email chosen has none (often the user's own reply, last in the
            # conversation): the newest one before it that has files, said so.
            earlier = self.with_files_before(m)
            fetched = await self.body(earlier) if earlier is not None else None
            if fetched is None or not fetched.attachments:
                screen.notify("This email has no attachments.", severity="warning")
                return
            m = fetched
            who = one_line(m.sender.name or m.sender.address)
            screen.notify(f"This email has no attachments: these are the files of "
                          f"{who}'s email before it.", markup=False)
        assert m.id is not None
        downloads = self.engine.account(m.account).downloads or default_downloads()
        choice = await screen.app.push_screen_wait(
            AttachmentsScreen(m, downloads, screen.overview.names))
        if choice is None:
            return
        what, positions = choice
        if what == "open" and positions:
            await self._open(m, positions[0])
            return
        if what == "view" and positions:
            await self._view(m, positions[0])
            return
        if m.transport is Transport.XMPP:
            n = len(m.attachments) if positions is None else len(positions)
            screen.notify(f"Fetching {n} file{'s' * (n != 1)}…", timeout=3)
        try:
            paths = await self.engine.save_attachments(m.id, positions)
        except (EngineError, OSError) as exc:
            screen.notify(f"Not saved: {exc}", severity="error", markup=False)
            return
        if m.transport is Transport.XMPP:
            screen.opened.refresh()  # fetched: their real sizes, in the pane too
        names = ", ".join(p.name for p in paths)
        folder = paths[0].parent if paths else downloads
        n = len(paths)
        screen.notify(f"Saved {n} file{'s' * (n != 1)} in {folder}: {names}",
                      title="Saved", timeout=8, markup=False)

    async def _open(self, m: Message, position: int) -> None:
        """Open one file with the system's handler (its mailcap entry, else
        xdg-open), from a private copy (a folder of our own, 0700), never from the
        downloads folder nor the store. The copy goes once a mailcap command
        returns; one handed to xdg-open stays until the app exits (the viewer
        reads it after xdg-open returned)."""
        from tuiclient.screens.attachments import (
            open_detached,
            opener_for,
            private_folder,
            remove_private,
        )

        screen = self.screen
        assert m.id is not None
        private = private_folder()
        try:
            (path,) = await self.engine.save_attachments(m.id, [position], private)
        except (EngineError, OSError, ValueError) as exc:
            remove_private(private)
            screen.notify(f"Could not open it: {exc}", severity="error", markup=False)
            return
        opener = opener_for(path, m.attachments[position].content_type)
        if opener is None:
            remove_private(private)
            screen.notify("No mailcap entry for it and no xdg-open here: save it (s) "
                          "instead.", severity="warning")
            return
        try:
            if opener.waits:
                try:
                    with screen.app.suspend():
                        subprocess.run(opener.command, check=False)
                finally:
                    remove_private(private)
            else:
                open_detached(opener.command, path)
        except (OSError, SuspendNotSupported) as exc:
            screen.notify(f"Could not open it: {exc or 'no terminal to hand over'}",
                          severity="error", markup=False)
            return
        screen.notify(f"Opened {path.name} with {opener.via}.", markup=False)

    async def _view(self, m: Message, position: int) -> None:
        """A text file shown here (v), read from a private copy that goes at once."""
        from tuiclient.screens.attachments import (
            TextFileScreen,
            private_folder,
            remove_private,
            shown_text,
        )

        screen = self.screen
        assert m.id is not None
        private = private_folder()
        try:
            (path,) = await self.engine.save_attachments(m.id, [position], private)
            data = path.read_bytes()
        except (EngineError, OSError, ValueError) as exc:
            screen.notify(f"Could not show it: {exc}", severity="error", markup=False)
            return
        finally:
            remove_private(private)
        a = m.attachments[position]
        await screen.app.push_screen_wait(
            TextFileScreen(a.filename, shown_text(data, a.content_type)))

    # -- links ---------------------------------------------------------------------------

    def message(self) -> Message | None:
        """The message whose links L lists: the chosen one (an email or a chat line);
        from the list, the newest one someone else wrote in the conversation."""
        screen = self.screen
        listing = screen.query_one(ConversationList)
        thread = listing.current
        if listing.has_focus and thread is not None and key_of(thread) != screen.opened.key:
            messages = self.engine.timeline(*key_of(thread))
            incoming = [x for x in messages if x.direction is Direction.IN]
            m = (incoming or messages)[-1] if messages else None
        else:
            m = screen.query_one(Timeline).current
        if m is None or m.id is None:
            screen.notify("Open a message first.", severity="warning")
            return None
        return m

    def links(self) -> None:
        m = self.message()
        if m is not None:
            self.screen.run_worker(self._links(m), name="links", group="mail")

    async def _links(self, m: Message) -> None:
        from tuiclient.screens.links import LinksScreen, open_url, url_opener

        screen = self.screen
        assert m.id is not None
        try:
            found = await self.engine.links(m.id)
        except (EngineError, OSError) as exc:
            screen.notify(f"Could not read the links: {exc}", severity="error", markup=False)
            return
        if not found:
            screen.notify("No links in this message.", timeout=3)
            return
        title = one_line(m.subject) or one_line(m.text)[:40] or "(no subject)"
        choice = await screen.app.push_screen_wait(LinksScreen(found, title))
        if choice is None:
            return
        what, url = choice
        if what == "copy":
            screen.app.copy_to_clipboard(url)  # OSC 52: the terminal's clipboard
            screen.notify(f"Copied {inert_text(url)}", timeout=4, markup=False)
            return
        opener = url_opener()
        if opener is None:
            screen.notify("No xdg-open nor $BROWSER here: y copies the link instead.",
                          severity="warning")
            return
        command, in_terminal = opener
        try:
            if in_terminal:
                with screen.app.suspend():
                    subprocess.run([*command, url], check=False)
            else:
                open_url(command, url)
        except OSError as exc:
            screen.notify(f"Could not open it: {exc}", severity="error", markup=False)
            return
        screen.notify(f"Opened {inert_text(url)} with {command[0]}.", markup=False)

    # -- forward, bounce -----------------------------------------------------------------

    def forward(self) -> None:
        """f: the chosen email; with marked conversations, the newest email of each
        (incoming first, as from the list), all in one email."""
        if self.screen.triage.marked:
            chosen = self.screen.triage.keys()  # the marked, in the list's order
            emails = [m for key in chosen
                      if (m := self.newest_email(self.engine.timeline(*key))) is not None]
            if not emails:
                self.screen.notify("The marked conversations have no email to forward.",
                                   severity="warning")
                return
            self.screen.run_worker(self._forward(emails[0], emails[1:]), name="forward",
                                   group="compose")
            return
        m = self.email()
        if m is not None:
            self.screen.run_worker(self._forward(m), name="forward", group="compose")

    def with_files_before(self, m: Message) -> Message | None:
        """The newest email with files before `m` in the open conversation."""
        opened = self.screen.opened.messages
        if not any(x.id == m.id for x in opened):
            return None
        earlier = [x for x in opened if x.transport is Transport.EMAIL and x.id is not None
                   and x.id != m.id and x.date <= m.date and x.attachments]
        return earlier[-1] if earlier else None

    @staticmethod
    def newest_email(messages: list[Message]) -> Message | None:
        """A conversation's email the keys act on from the list: its newest incoming
        one, else its newest."""
        emails = [x for x in messages if x.transport is Transport.EMAIL and x.id is not None]
        incoming = [x for x in emails if x.direction is Direction.IN]
        return (incoming or emails)[-1] if emails else None

    async def _forward(self, m: Message, more: list[Message] | None = None) -> None:
        from tuiclient.screens.forward import ForwardScreen

        screen = self.screen
        fetched = await self.body(m)
        if fetched is None:
            return
        m = fetched
        bodies = [await self.body(x) for x in more or ()]
        if any(b is None for b in bodies):
            return
        result = await screen.app.push_screen_wait(
            ForwardScreen(m, [b for b in bodies if b is not None]))
        if not isinstance(result, Forward) or m.id is None:
            return
        try:
            if result.more:
                await self.engine.forward_several(
                    [m.id, *(x.id for x in result.more if x.id is not None)],
                    result.to, result.text, files=result.files, sign=result.sign,
                    encrypt=result.encrypt)
            else:
                await self.engine.forward(m.id, result.to, result.text,
                                          as_attachment=result.as_attachment,
                                          files=result.files, sign=result.sign,
                                          encrypt=result.encrypt)
        except (EngineError, OSError) as exc:
            screen.notify(f"Not forwarded: {exc}", severity="error", markup=False)
            return
        screen.notify(f"Forward to {', '.join(result.to)} queued for sending.",
                      title="Forward", markup=False)
        screen.overview.refresh_outbox()

    def bounce(self) -> None:
        from tuiclient.screens.pickers import ToPrompt
        from tuiclient.widgets.addresses import AddressSuggester

        m = self.email()
        if m is None:
            return

        def chosen(to: list[str] | None) -> None:
            if to:
                self.screen.run_worker(self._bounce(m, to), name="bounce", group="mail")
        self.screen.app.push_screen(ToPrompt(
            "Bounce (redirect) this email to…",
            "It goes as it is, from its sender, with Resent-From: you.",
            AddressSuggester.of_contacts(self.engine.contacts())), chosen)

    async def _bounce(self, m: Message, to: list[str]) -> None:
        assert m.id is not None
        try:
            await self.engine.bounce(m.id, to)
        except (EngineError, OSError) as exc:
            self.screen.notify(f"Not bounced: {exc}", severity="error", markup=False)
            return
        self.screen.notify(f"Bounced to {', '.join(to)}: queued for sending.",
                           title="Bounce", markup=False)
        self.screen.overview.refresh_outbox()

    # -- drafts ----------------------------------------------------------------------------

    def account(self) -> str | None:
        accounts = [a.name for a in self.engine.accounts if a.email]
        chosen = self.screen.overview.account
        return chosen if chosen in accounts else (accounts[0] if accounts else None)

    def drafts(self) -> None:
        account = self.account()
        if account is None and not unsent():  # chat only: the chat messages kept
            self.screen.notify("No email account.", severity="warning")
            return
        self.screen.run_worker(self._drafts(account), name="drafts", group="compose")

    async def _drafts(self, account: str | None) -> None:
        from tuiclient.screens.drafts import DraftsScreen

        screen = self.screen
        try:
            drafts = await self.engine.drafts(account) if account is not None else []
        except (EngineError, OSError) as exc:
            screen.notify(f"Could not read the drafts: {exc}", severity="error", markup=False)
            return
        chosen = await screen.app.push_screen_wait(
            DraftsScreen(account or "this machine", drafts, client_app(screen).clock(),
                         unsent()))
        if isinstance(chosen, Unsent):
            await self._resume_kept(chosen)
            return
        if chosen is None or chosen.id is None:
            return
        await self._resume(chosen)

    def resume(self, draft: Message) -> None:
        """A draft chosen where it sits (Enter on it in its conversation's timeline):
        back in compose, as P resumes one."""
        self.screen.run_worker(self._resume(draft), name="drafts", group="compose")

    async def _resume(self, chosen: Message) -> None:
        """A draft back in compose, its files with it: copied from the server's
        draft into a private temporary folder (as mutt's postponed mail brings
        its attachments back), attached as files from disk are, so that sending
        or saving again carries them and `-NAME` takes one off; the folder goes
        when the compose is done."""
        screen = self.screen
        fetched = await self.body(chosen, "draft")
        if fetched is None:
            return
        folder = Path(tempfile.mkdtemp(prefix="tuiclient-draft-"))
        try:
            files = await self.engine.draft_files(fetched.id or 0, folder) \
                if fetched.attachments else []
        except (EngineError, OSError, LookupError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            screen.notify(f"Could not read the draft's files: {exc}", severity="error",
                          markup=False)
            return
        try:
            await self._resume_with(fetched, files)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _resume_with(self, chosen: Message, files: list[Path]) -> None:
        from tuiclient.screens.compose import NewMessageScreen

        screen = self.screen
        account = chosen.account
        text = without_signature(chosen.text)
        answered = self.answered(chosen)
        if answered is not None:
            # A reply's draft goes on as the reply it was: the same thread, history
            # and the thread's files at hand; sent, the draft leaves Drafts.
            await screen.replying.resume(answered, chosen, text, files)
            return
        # Its From, To, Cc and Bcc as the server has them (the store keeps no Bcc).
        try:
            fields = await self.engine.draft_addresses(chosen.id or 0)
        except (EngineError, OSError) as exc:
            screen.notify(f"Could not read the draft: {exc}", severity="error",
                          markup=False)
            return
        to, cc, bcc = (", ".join(x) for x in (fields.to, fields.cc, fields.bcc))
        # From: None for the account's own address, else the alias as the config has it.
        own = self.engine.own_addresses(account)
        sender = next((a for a in own[1:] if a.lower() == fields.sender.lower()), None)
        result = await screen.app.push_screen_wait(NewMessageScreen(
            [a.name for a in self.engine.accounts], to, "email", subject=chosen.subject,
            text=text, resumed=chosen.id, account=account,
            in_reply_to=chosen.in_reply_to, references=chosen.references,
            cc=cc, bcc=bcc, sender=sender, files=files))
        if not isinstance(result, NewMessage) or result.resumed is None:
            return
        await self._send_draft(result, chosen, unchanged=(
            result.text == text and ", ".join(result.to) == to and
            ", ".join(result.cc) == cc and ", ".join(result.bcc) == bcc and
            result.sender == sender and result.subject == chosen.subject and
            result.files == files))

    def answered(self, draft: Message) -> Message | None:
        """The email a reply's draft answers, when this store has it."""
        if not draft.in_reply_to:
            return None
        try:
            m = self.engine.find_message(draft.in_reply_to, draft.account)
        except LookupError:
            return None
        return m if m.id != draft.id else None

    async def _resume_kept(self, kept: Unsent) -> None:
        """A text kept on disk when the app closed: back into compose (the file goes:
        the screen holds the text now, and keeps it again if the app closes)."""
        from tuiclient.screens.compose import NewMessageScreen

        screen = self.screen
        kept.path.unlink(missing_ok=True)
        accounts = [a.name for a in self.engine.accounts]
        result = await screen.app.push_screen_wait(NewMessageScreen(
            accounts, ", ".join(kept.to), kept.via, subject=kept.subject, text=kept.text,
            account=kept.account if kept.account in accounts else None, kept=True,
            cc=", ".join(kept.cc), bcc=", ".join(kept.bcc), sender=kept.sender))
        if not isinstance(result, NewMessage):
            return
        sent = await send_new(screen, result)
        if sent is not None:
            screen.notify(sent_words(sent), title="Message")
            screen.limit.merge(top=50)
            screen.overview.refresh_outbox()

    async def _send_draft(self, new: NewMessage, draft: Message, unchanged: bool) -> None:
        """A resumed draft goes as it is on the server when it was not changed (its
        files and all); changed, it is saved again first, then sent from there."""
        screen = self.screen
        assert draft.id is not None
        try:
            row = draft.id
            if not unchanged:
                saved = await self.engine.draft_save(new.account, new.to, new.subject,
                                                     new.text, files=new.files,
                                                     cc=new.cc, bcc=new.bcc,
                                                     sender=new.sender,
                                                     replaces=draft.id,
                                                     in_reply_to=draft.in_reply_to,
                                                     references=draft.references)
                assert saved.id is not None
                row = saved.id
            await self.engine.draft_send(row)
        except (EngineError, OSError) as exc:
            screen.notify(f"Draft not sent (it is still in Drafts): {exc}",
                          severity="error", markup=False)
            return
        screen.notify("The draft is queued for sending, and gone from Drafts.",
                      title="Draft", markup=False)
        screen.limit.merge(top=50)
        screen.overview.refresh_outbox()
