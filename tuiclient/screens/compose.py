"""Writing an email: a reply (with its options), a new message, a forward;
$EDITOR on demand. Leaving one that was not sent asks first: save it in the
account's Drafts folder, throw it away, or keep writing. A body that promises a
file ("attached") while none goes along asks before sending. What the screens
share is in `tuiclient.screens.compose_base` (its names are importable here too);
the forward's screen is in `tuiclient.screens.forward` (importable here too)."""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Checkbox,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    TextArea,
)

from bridge.errors import EngineError
from bridge.model import Attachment, Direction, Message, Transport
from tuiclient.appref import client_app
from tuiclient.drafts import NewMessage, ReplyDraft
from tuiclient.format import one_line, who
from tuiclient.screens.compose_base import (  # noqa: F401 (re-exported: their old home)
    OPENPGP_STEPS,
    ComposeBase,
    OpenPGPToggle,
    edit_text,
    editor_command,
    read_headers,
    with_headers,
)
from tuiclient.screens.forward import ForwardScreen  # noqa: F401 (re-exported: its old home)
from tuiclient.screens.prompts import Files
from tuiclient.widgets.addresses import format_address, split_addresses
from tuiclient.widgets.footer import Footer
from tuiclient.widgets.local_files import LocalFiles
from tuiclient.widgets.ticks import Choice, Tick

if TYPE_CHECKING:
    from bridge.handoff import ReplyFields
    from bridge.handoff.parties import ChatEmail


def at_end(area: TextArea) -> None:
    """The cursor after the last word of a resumed draft's text, where the next
    ones go (as mutt and aerc open the editor on a postponed message)."""
    area.move_cursor(area.document.end)


class ComposeScreen(OpenPGPToggle):
    """Reply by email: to the sender or all, with history and files if wanted.

    To an email, as mutt writes one: To and Cc are fields to edit (filled as the
    engine would address it, again when "Reply to all" changes), and the
    original is quoted below the text ("On DATE, NAME wrote:" and "> " lines)
    in a box of its own to trim or clear; the engine sends them as left here,
    completed from the store's contacts as a new message's are (who is offered
    shown under them). The quote is not kept in a postponed draft: resuming
    quotes the original again."""

    # One line a field (aerc's compose): the labels beside their one-line inputs.
    DEFAULT_CSS = """
    ComposeScreen #address-hint { color: $text-muted; height: auto; }
    ComposeScreen .field-name { padding: 0 1 0 0; text-style: bold; }
    ComposeScreen #compose-options Checkbox { margin-right: 2; }
    """

    def __init__(self, draft: ReplyDraft, several: bool, files: Sequence[Attachment],
                 me: Sequence[str] = ()) -> None:
        super().__init__()
        self.draft = draft
        self.several = several
        self.files = list(files)
        self.me = {a.lower() for a in me}
        # A resumed draft: replaced when saved again, deleted once the reply is sent;
        # its words as they were are not at stake.
        self.resumed = draft.resumed
        if draft.resumed is not None:
            self.initial_text = draft.text
            self.initial_files = list(draft.files)
        self.to_email = draft.message.transport is Transport.EMAIL
        self._chat_email: dict[bool, ChatEmail] = {}

    def recipients(self, reply_all: bool) -> str:
        m = self.draft.message
        named = client_app(self).contact_names
        first = who(m, named) if m.direction is Direction.IN else ", ".join(
            one_line(p.name) or one_line(p.address) for p in m.recipients[:1])
        if not reply_all:
            return first
        # A room is no email recipient: its line's reply goes to the people
        # (their mapped addresses), never to the room's JID.
        rooms = {r.lower() for r in client_app(self).engine.known_rooms(m.account)} \
            if m.transport is Transport.XMPP else set()
        others = [one_line(p.name) or one_line(p.address) for p in m.recipients
                  if p.address.lower() not in self.me and p.role != "occupant"
                  and p.address.split("/", 1)[0].lower() not in rooms]
        return ", ".join(dict.fromkeys([first, *others]))

    def mine(self, m: Message) -> bool:
        """Whether the user wrote `m` (sent, or from one of their addresses)."""
        return m.direction is Direction.OUT or \
            m.sender.address.split("/", 1)[0].lower() in self.me

    def other_side(self) -> str:
        """Whom the reply answers, never the user: the sender of their line; of
        the user's own line, whom it went to (a room's people, by its name)."""
        m = self.draft.message
        if not self.mine(m):
            return who(m, client_app(self).contact_names)
        if m.transport is Transport.XMPP:
            room = client_app(self).engine.room_conversations(m.account).get(
                (m.account, m.thread_id))
            if room is not None:
                return f"the people in {one_line(room[1])}"
        return self.recipients(False) or "(nobody)"

    def compose(self) -> ComposeResult:
        m = self.draft.message
        yield Header()
        with Vertical(id="compose"):
            came = "email" if m.transport is Transport.EMAIL else "chat line"
            title = Text.assemble(("Reply by email", "bold"),
                                  (" (draft, resumed)" if self.resumed is not None else "",
                                   "italic"), " to ", (self.other_side(), "bold"),
                                  f", on {'your' if self.mine(m) else 'their'}"
                                  f" {came}")
            if m.subject:
                title.append(f" “{one_line(m.subject)}”")
            yield Label(title, id="compose-title", markup=False)
            to = Label(Text.assemble(("To: ", "bold"), self.recipients(self.draft.reply_all)),
                       id="compose-to", markup=False)
            to.display = not self.to_email
            yield to
            if self.to_email:
                with Horizontal(id="compose-addresses"):
                    yield Label("To:", classes="field-name")
                    yield Input(id="reply-to", suggester=self.suggester(), compact=True)
                    yield Label("Cc:", classes="field-name")
                    yield Input(id="reply-cc", suggester=self.suggester(), compact=True)
                yield self.address_hint()
            yield self.openpgp_label()
            with Horizontal(id="compose-options"):
                yield Tick("Reply to all", self.draft.reply_all, id="reply-all",
                           disabled=not self.several, compact=True)
                history = Tick("Include history", self.draft.history, id="history",
                               compact=True)
                history.display = not self.to_email  # to an email: the quote below
                yield history
            yield Files(self.files, self.draft.attachments, id="files")
            yield TextArea(self.draft.text, id="body")
            if self.to_email:
                yield Label("Quoted below your text (trim it, or clear it to quote "
                            "nothing):", id="quote-label")
                yield TextArea(id="quote")
            yield self.signature(m.account)
            yield LocalFiles(self.draft.files, id="local-files")
            yield from self.buttons()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "draft" if self.resumed is not None else "compose"
        if self.to_email:
            self.fill_addresses(self.draft.reply_all)
            self.query_one("#quote", TextArea).text = self.engine_fields(False).quote
        self.ask_autocrypt()
        self.query_one("#body", TextArea).focus()
        if self.resumed is not None:
            at_end(self.query_one("#body", TextArea))
        self.call_after_refresh(self.note_stake)

    def ask_autocrypt(self) -> None:
        """The engine's decision for this reply (its conversation and its To and
        Cc), and Autocrypt's word: the OpenPGP line starts from it."""
        to: list[str] = []
        if self.to_email:
            typed = self.addresses("#reply-to") + self.addresses("#reply-cc")
            to = [a for _n, a in getaddresses(typed) if a]
        self.run_worker(self.decide(self.draft.message.account, to, self.draft.message.id),
                        exclusive=True, group="autocrypt")

    def on_input_blurred(self, event: Input.Blurred) -> None:
        if event.input.id in ("reply-to", "reply-cc"):
            self.ask_autocrypt()

    def fill_addresses(self, reply_all: bool) -> None:
        """To and Cc as the engine addresses the reply (to the sender, or all)."""
        fields = self.engine_fields(reply_all)
        for field_id, parties in (("#reply-to", fields.to), ("#reply-cc", fields.cc)):
            self.query_one(field_id, Input).value = ", ".join(
                format_address(p.name, p.address) for p in parties)

    def engine_fields(self, reply_all: bool) -> ReplyFields:
        row = self.draft.message.id
        assert row is not None, "a reply answers a stored message"
        return client_app(self).engine.reply_fields(row, reply_all)

    def addresses(self, field_id: str) -> list[str]:
        return split_addresses(self.query_one(field_id, Input).value)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "reply-all":
            self.query_one("#compose-to", Label).update(
                Text.assemble(("To: ", "bold"), self.recipients(event.value)))
            if self.to_email:
                self.fill_addresses(event.value)
                self.ask_autocrypt()

    def has_files(self) -> bool:
        return bool(self.query_one(Files).chosen) or super().has_files()

    def editor_fields(self) -> list[tuple[str, str]]:
        return [("To", "#reply-to"), ("Cc", "#reply-cc")] if self.to_email else []

    def threading(self) -> dict[str, Any]:
        return {"answering": self.draft.message.id}

    def draft_fields(self) -> tuple[str, list[str], str] | None:
        m = self.draft.message
        if m.transport is not Transport.EMAIL:  # a chat line: as its email would go
            return self.chat_line_fields()
        if self.to_email:  # the fields as typed ("Bob <bob@…>"): their addresses
            typed = self.addresses("#reply-to") + self.addresses("#reply-cc")
            return m.account, list(dict.fromkeys(a for _n, a in getaddresses(typed) if a)), \
                self.subject_of(m)
        to = [m.sender.address] if m.direction is Direction.IN else \
            [p.address for p in m.recipients if p.role == "to"][:1]
        if self.query_one("#reply-all", Checkbox).value:
            to += [p.address for p in m.recipients if p.role in ("to", "cc")
                   and p.address.lower() not in self.me]
        return m.account, list(dict.fromkeys(to)), self.subject_of(m)

    def chat_line_fields(self) -> tuple[str, list[str], str] | None:
        """A reply by email to a chat line, as a draft: the account's Drafts (None
        for an account without email), To as the engine maps the chat's people
        (reply to all as ticked), the subject of the conversation's email chain."""
        m = self.draft.message
        try:
            if m.id is None or not client_app(self).engine.account(m.account).email:
                return None
            link = self.chat_email()
        except EngineError:  # an account no longer in the config: no Drafts
            return None
        return m.account, link.to, link.subject

    def chat_email(self) -> ChatEmail:
        """The engine's addressing of this reply's email (read once for each
        reply-to-all choice: `draft_fields` is asked at every keystroke)."""
        reply_all = self.query_one("#reply-all", Checkbox).value
        if reply_all not in self._chat_email:
            assert self.draft.message.id is not None
            self._chat_email[reply_all] = client_app(self).engine.chat_email(
                self.draft.message.id, reply_all)
        return self._chat_email[reply_all]

    def saved_words(self) -> str:
        m = self.draft.message
        if m.transport is Transport.EMAIL or m.id is None or self.draft_fields() is None:
            return super().saved_words()
        link = self.chat_email()
        left = [f"no email address for {', '.join(link.unmapped)}: not in its To"] \
            if link.unmapped else []
        if self.query_one("#history", Checkbox).value or self.query_one(Files).chosen:
            left.append("the chat's transcript and files are not in it (a draft "
                        "holds your text and files from disk)")
        return "Saved in Drafts as an email" + "".join(f"; {x}" for x in left) + \
            ". P (the drafts) resumes it."

    @staticmethod
    def subject_of(m: Message) -> str:
        subject = one_line(m.subject)
        if subject and not subject.lower().startswith("re:"):
            subject = "Re: " + subject
        return subject

    def send(self) -> None:
        text = self.query_one("#body", TextArea).text
        if not text.strip():
            self.notify("The reply is empty.", severity="warning")
            return
        self.draft.text = text
        self.draft.reply_all = self.query_one("#reply-all", Checkbox).value
        self.draft.history = self.query_one("#history", Checkbox).value
        self.draft.attachments = self.query_one(Files).chosen
        self.draft.files = self.local_files()
        self.draft.sign, self.draft.encrypt = self.chosen_openpgp()
        if self.to_email:
            self.draft.to = self.addresses("#reply-to")
            self.draft.cc = self.addresses("#reply-cc")
            if not self.draft.to and not self.draft.cc:
                self.notify("The reply has nobody to go to: write an address in To.",
                            severity="warning")
                self.query_one("#reply-to", Input).focus()
                return
            self.draft.quote = self.query_one("#quote", TextArea).text
            self.draft.history = False  # the quote, as left above, is the history
        self.dismiss(self.draft)


class NewMessageScreen(OpenPGPToggle):
    """A new conversation, by email or by IM; or a draft resumed (`resumed`: its
    row in the Drafts folder, replaced when saved again, gone once sent; `files`:
    its files, copied from the server, in the file list; the cursor after its text).
    ctrl+t switches between email and IM from any field (the footer says so).
    An email has From (the account's address or one of its aliases), To, Cc and
    Bcc, as mutt's compose menu; by IM, To only. Cc and Bcc show when asked for
    (ctrl+b, as Thunderbird's and aerc's stay out of the way until wanted) or
    when they hold addresses (a resumed draft)."""

    BINDINGS = [Binding("ctrl+t", "toggle_via", "email ↔ IM", priority=True),
                Binding("ctrl+b", "copies", "Cc/Bcc", priority=True)]
    # One line a field, as aerc's compose has them: the body gets the rest (at 80x24,
    # most of the screen).
    DEFAULT_CSS = """
    NewMessageScreen .address-row { height: auto; }
    NewMessageScreen .address-row .field-label { padding: 0 1 0 0; text-style: bold;
                                                 min-width: 9; }
    NewMessageScreen .address-row Input { width: 1fr; }
    NewMessageScreen #from { width: 1fr; }
    NewMessageScreen #address-hint { color: $text-muted; height: auto; }
    """

    def __init__(self, accounts: Sequence[str], to: str = "", via: str = "email", *,
                 subject: str = "", text: str = "", resumed: int | None = None,
                 account: str | None = None, kept: bool = False,
                 in_reply_to: str | None = None, references: Sequence[str] = (),
                 cc: str = "", bcc: str = "", sender: str | None = None,
                 files: Sequence[Path] = ()) -> None:
        super().__init__()
        self.accounts = list(accounts)
        self.files = list(files)  # a resumed draft's, copied from the server
        self.account = account or (self.accounts[0] if self.accounts else "")
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.copies_wanted = bool(cc or bcc)
        self.sender = sender
        self.via = via
        self.subject = subject
        self.text = text
        # A text kept on disk is at stake as it is; a draft is safe on the server.
        self.initial_text = "" if kept else text
        self.resumed = resumed
        self.initial_files = list(files) if resumed is not None else []
        self.in_reply_to = in_reply_to
        self.references = list(references)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="compose"):
            title = "Draft, resumed" if self.resumed is not None else "New message"
            yield Label(Text(title, style="bold"), id="compose-title")
            with RadioSet(id="via", compact=True):
                yield Choice("by email", self.via == "email", id="via-email")
                yield Choice("by IM", self.via == "im", id="via-im",
                             disabled=self.resumed is not None)
            own = self.own_addresses()
            with Horizontal(classes="address-row email-only", id="from-row"):
                yield Label("From:", classes="field-label")
                yield Select([(a, a) for a in own], allow_blank=not own, id="from",
                             value=self.sender if self.sender in own else
                             own[0] if own else Select.BLANK, compact=True)
            with Horizontal(classes="address-row", id="to-row"):
                yield Label("To:", classes="field-label")
                yield Input(self.to, placeholder="addresses or JIDs, comma-separated "
                            "(→ completes a contact)", suggester=self.suggester(), id="to",
                            compact=True)
            with Horizontal(classes="address-row email-only", id="copies"):
                yield Label("Cc:", classes="field-label")
                yield Input(self.cc, placeholder="Cc", suggester=self.suggester(), id="cc",
                            compact=True)
                yield Label("Bcc:", classes="field-label")
                yield Input(self.bcc, placeholder="Bcc (not shown to the others)",
                            suggester=self.suggester(), id="bcc", compact=True)
            yield self.address_hint()
            with Horizontal(classes="address-row", id="subject-row"):
                yield Label("Subject:", classes="field-label")
                yield Input(self.subject, placeholder="Subject (email only)", id="subject",
                            compact=True)
            yield self.openpgp_label()
            yield TextArea(self.text, id="body")
            yield self.signature(self.account)
            yield LocalFiles(self.files, id="local-files")
            yield from self.buttons()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "draft" if self.resumed is not None else "new message"
        self.show_email_fields()
        self.query_one("#to" if not self.to else "#body").focus()
        if self.resumed is not None:
            at_end(self.query_one("#body", TextArea))
        self.call_after_refresh(self.note_stake)
        if self.to:
            self.run_worker(self.decide(self.account, self.everyone()))

    def on_input_blurred(self, event: Input.Blurred) -> None:
        """Leaving To, Cc or Bcc: the engine's decision (and Autocrypt's word) for
        who is in them (an email only)."""
        if event.input.id in ("to", "cc", "bcc") and self.by_email():
            self.run_worker(self.decide(self.account, self.everyone()),
                            exclusive=True, group="autocrypt")

    def everyone(self) -> list[str]:
        """To, Cc and Bcc: every recipient the OpenPGP decision is for."""
        return [*self.recipients(), *self.field_list("#cc"), *self.field_list("#bcc")]

    def by_email_now(self) -> bool:
        return self.by_email()

    def own_addresses(self) -> list[str]:
        """The From choices: the account's address, then its aliases (config)."""
        return client_app(self).engine.own_addresses(self.account)

    def by_email(self) -> bool:
        return not self.query_one("#via-im", RadioButton).value

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.show_email_fields()

    def show_email_fields(self) -> None:
        """From, Cc and Bcc are an email's: hidden while the message goes by IM;
        the Subject stays in view (kept for ctrl+t back) but out of Tab's way."""
        email = self.by_email()
        for row in self.query(".email-only"):
            row.display = email and (row.id != "copies" or self.copies_wanted)
        subject = self.query_one("#subject", Input)
        subject.disabled = not email

    def action_copies(self) -> None:
        """Cc and Bcc: shown and Cc focused; hidden again when both are empty."""
        if not self.by_email():
            self.notify("Cc and Bcc are an email's: ctrl+t makes it one.",
                        severity="warning")
            return
        shown = self.copies_wanted
        self.copies_wanted = not shown or bool(self.field_list("#cc") or
                                               self.field_list("#bcc"))
        self.show_email_fields()
        if self.copies_wanted:
            self.query_one("#cc", Input).focus()
        elif shown:
            self.query_one("#to", Input).focus()

    def field_list(self, field_id: str) -> list[str]:
        return split_addresses(self.query_one(field_id, Input).value)

    def chosen_sender(self) -> str | None:
        """The From chosen, None when it is the account's own address."""
        value = self.query_one("#from", Select).value
        own = self.own_addresses()
        return value if isinstance(value, str) and own and value != own[0] else None

    def editor_fields(self) -> list[tuple[str, str]]:
        if not self.by_email():
            return [("To", "#to")]
        return [("To", "#to"), ("Cc", "#cc"), ("Bcc", "#bcc"), ("Subject", "#subject")]

    def edited_headers(self) -> None:
        self.copies_wanted = self.copies_wanted or bool(self.field_list("#cc") or
                                                        self.field_list("#bcc"))
        self.show_email_fields()

    def draft_extras(self) -> dict[str, Any]:
        if not self.by_email():
            return {}
        return {"cc": self.field_list("#cc"), "bcc": self.field_list("#bcc"),
                "sender": self.chosen_sender()}

    def action_toggle_via(self) -> None:
        other = self.query_one("#via-email" if not self.by_email() else "#via-im",
                               RadioButton)
        if other.disabled:
            self.notify("A resumed draft stays an email.", severity="warning")
            return
        other.value = True

    def draft_fields(self) -> tuple[str, list[str], str] | None:
        if not self.by_email():
            return None
        return self.account, self.recipients(), self.query_one("#subject", Input).value

    def chat_fields(self) -> tuple[str, list[str], str] | None:
        if self.by_email():
            return None
        return self.account, self.recipients(), self.query_one("#subject", Input).value

    def fallback_fields(self) -> tuple[str, list[str], str]:
        return self.chat_fields() or super().fallback_fields()

    def threading(self) -> dict[str, Any]:
        if self.in_reply_to is None:
            return {}
        return {"in_reply_to": self.in_reply_to, "references": self.references}

    def recipients(self) -> list[str]:
        return self.field_list("#to")

    def typed(self) -> bool:
        return super().typed() or (self.resumed is None and bool(
            self.query_one("#subject", Input).value.strip() or self.local_files()))

    def send(self) -> None:
        to = self.recipients()
        text = self.query_one("#body", TextArea).text
        if not to or not text.strip():
            self.notify("Say to whom, and what.", severity="warning")
            return
        via = "email" if self.by_email() else "im"
        sign, encrypt = self.chosen_openpgp()
        self.dismiss(NewMessage(self.account, to, via,
                                self.query_one("#subject", Input).value, text,
                                files=self.local_files(), resumed=self.resumed,
                                sign=sign, encrypt=encrypt, **self.draft_extras()))
