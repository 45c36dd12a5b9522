"""The postponed messages (P, as mutt's): the drafts in the account's IMAP Drafts
folder, from this machine or any other (one with files says how many: "📎 2
files"), and the texts kept on this machine when the app closed under a compose
screen; enter resumes one in compose (its files with it), `d`
discards one (asked first): a draft leaves the server's Drafts (the engine's
`draft_discard`), a kept text its file."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from bridge.errors import EngineError
from bridge.model import Message
from tuiclient.appref import client_app
from tuiclient.drafts import Unsent
from tuiclient.format import one_line, short_date
from tuiclient.screens.pickers import Confirm
from tuiclient.widgets.moving import Choices


class DraftsScreen(ModalScreen[Message | Unsent | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel"),
                Binding("d,delete", "discard", "discard")]
    DEFAULT_CSS = """
    #drafts-dialog { width: 90; }
    #draft-list { height: auto; max-height: 16; }
    """

    def __init__(self, account: str, drafts: Sequence[Message], now: float,
                 kept: Sequence[Unsent] = ()) -> None:
        super().__init__(classes="prompt")
        self.account = account
        self.drafts = list(drafts)
        self.kept = list(kept)
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="drafts-dialog"):
            yield Label(f"Drafts of {self.account}", classes="dialog-title", markup=False)
            if not self.drafts and not self.kept:
                yield Static("No drafts. Esc in compose saves one.", classes="dialog-help")
                return
            yield Choices(*[Option(self.row(m), id=str(m.id)) for m in self.drafts],
                             *[Option(self.kept_row(u), id=f"kept:{i}")
                               for i, u in enumerate(self.kept)],
                             id="draft-list")
            yield Static("enter resume · d discard · esc back", classes="dialog-help")

    def row(self, m: Message) -> Text:
        to = ", ".join(one_line(p.name or p.address) for p in m.recipients
                       if p.role == "to") or "(no one yet)"
        n = len(m.attachments)
        subject = one_line(m.subject) or "(no subject)"
        if n and len(subject) > 34:  # the files' mark stays in the dialog's width
            subject = subject[:33] + "…"
        return Text.assemble((f"{short_date(m.date, self.now):>10}  ", "dim"),
                             (f"{to[:24]:<24}  ", ""), (subject, "bold"),
                             (f"  📎 {n} file{'s' * (n != 1)}" if n else "", "magenta"))

    def kept_row(self, u: Unsent) -> Text:
        to = ", ".join(one_line(a) for a in u.to) or "(no one yet)"
        return Text.assemble((f"{short_date(u.date, self.now):>10}  ", "dim"),
                             (f"{to[:24]:<24}  ", ""),
                             (one_line(u.subject) or one_line(u.text)[:40] or "(empty)", "bold"),
                             ("  by IM, kept for later" if u.via == "im" else
                              "  kept when the app closed", "dim italic"),
                             (" (this machine only)", "dim italic"))

    def on_mount(self) -> None:
        if self.drafts or self.kept:
            listing = self.query_one(OptionList)
            listing.highlighted = 0
            listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = event.option.id or ""
        if chosen.startswith("kept:"):
            self.dismiss(self.kept[int(chosen[5:])])
            return
        self.dismiss(next((m for m in self.drafts if str(m.id) == chosen), None))

    def highlighted(self) -> Message | Unsent | None:
        if not self.drafts and not self.kept:
            return None
        listing = self.query_one(Choices)
        if listing.highlighted is None:
            return None
        chosen = listing.get_option_at_index(listing.highlighted).id or ""
        if chosen.startswith("kept:"):
            return self.kept[int(chosen[5:])]
        return next((m for m in self.drafts if str(m.id) == chosen), None)

    def action_discard(self) -> None:
        chosen = self.highlighted()
        if chosen is None:
            return
        if isinstance(chosen, Unsent):
            what = one_line(chosen.subject) or one_line(chosen.text)[:40] or "(empty)"
            where = "It was kept on this machine only; it goes for good."
        else:
            what = one_line(chosen.subject) or "(no subject)"
            where = "It leaves the Drafts folder on the server, for every device."

        def answered(yes: bool | None) -> None:
            if yes:
                self._discard(chosen)

        self.app.push_screen(Confirm("Discard this draft?", f"“{what}”. {where}",
                                     "Discard it"), answered)

    @work(group="discard")
    async def _discard(self, chosen: Message | Unsent) -> None:
        if isinstance(chosen, Unsent):
            try:
                chosen.path.unlink(missing_ok=True)
            except OSError as exc:
                self.notify(f"Could not discard it: {exc}", severity="error", markup=False)
                return
            at = f"kept:{self.kept.index(chosen)}"
        else:
            assert chosen.id is not None
            try:
                await client_app(self).engine.draft_discard(chosen.id)
            except (EngineError, OSError) as exc:
                self.notify(f"Could not discard the draft: {exc}", severity="error",
                            markup=False)
                return
            at = str(chosen.id)
            main = client_app(self).main_screen()
            if main is not None:  # its row in the list goes (or is drawn again)
                main.conversation_changed(chosen.account, chosen.thread_id)
        listing = self.query_one(Choices)
        listing.remove_option(at)
        self.notify("Draft discarded.", timeout=3)
        if not listing.option_count:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
