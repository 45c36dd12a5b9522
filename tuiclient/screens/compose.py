"""Writing an email: a reply (with its options), a new message, a forward;
$EDITOR on demand. Leaving one that was not sent asks first: save it in the
account's Drafts folder, throw it away, or keep writing. A body that promises a
file ("attached") while none goes along asks before sending."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from email.utils import formataddr, getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
    TextArea,
)

from bridge.errors import EngineError
from bridge.model import Attachment, Direction, Message, Transport
from tuiclient.appref import client_app
from tuiclient.drafts import Forward, NewMessage, ReplyDraft, keep_unsent
from tuiclient.format import one_line, size, who
from tuiclient.screens.pickers import Confirm, UnsentPrompt
from tuiclient.screens.prompts import Files
from tuiclient.widgets.addresses import AddressSuggester
from tuiclient.widgets.local_files import LocalFiles, promises_a_file
from tuiclient.widgets.ticks import Choice, Tick

if TYPE_CHECKING:
    from bridge.handoff import ReplyFields


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi; split as a shell would (`code --wait`)."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def edit_text(text: str, command: Sequence[str] | None = None) -> str | None:
    """Run the editor on `text` in a private temporary file (0600) and read it back;
    None when the editor exits non-zero (`:cq` in vi: the user gave up)."""
    with tempfile.NamedTemporaryFile("w", prefix="tuiclient-", suffix=".txt",
                                     delete=False) as f:
        f.write(text)
        path = Path(f.name)
    try:
        done = subprocess.run([*(command or editor_command()), str(path)], check=False)
        if done.returncode != 0:
            return None
        return path.read_text()
    finally:
        path.unlink(missing_ok=True)


class ComposeBase(Screen):
    BINDINGS = [
        Binding("ctrl+s", "send", "send", priority=True),
        Binding("ctrl+e", "editor", "edit in $EDITOR", priority=True),
        Binding("escape", "cancel", "cancel"),
        Binding("q", "cancel", show=False),  # off the text fields: not the app's quit
    ]
    initial_text = ""  # what the body held when the screen opened
    resumed: int | None = None  # the draft this continues (replaced when saved again)
    settled = False  # sent, saved or discarded: nothing to keep when it closes
    # What would be lost if the app closed now: (account, to, subject), text.
    at_stake: tuple[tuple[str, list[str], str], str] | None = None

    def dismiss(self, result: object = None) -> AwaitComplete:
        self.settled = True
        return super().dismiss(result)

    def on_text_area_changed(self) -> None:
        self.note_stake()

    def on_input_changed(self) -> None:
        self.note_stake()

    def note_stake(self) -> None:
        try:
            text = self.query_one("#body", TextArea).text
            fields = self.draft_fields() or self.fallback_fields()
        except NoMatches:  # still being built
            return
        self.at_stake = (fields, text) if self.typed() else None

    def suggester(self) -> AddressSuggester:
        """The addresses the contacts have (mail and chat), for the To field."""
        names = client_app(self).contact_names
        return AddressSuggester(names, names)

    def fallback_fields(self) -> tuple[str, list[str], str]:
        accounts = client_app(self).engine.accounts
        return (accounts[0].name if accounts else "", [], "")

    def on_unmount(self) -> None:
        """The app closes under this screen (ctrl+q quits at once, without asking):
        what was typed is kept on disk, and P offers it again."""
        if self.settled or self.at_stake is None:
            return
        (account, to, subject), text = self.at_stake
        with contextlib.suppress(OSError):  # nowhere to write: nothing more to do now
            keep_unsent(account, to, subject, text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"send": self.action_send, "editor": self.action_editor,
         "cancel": self.action_cancel}[event.button.id or "cancel"]()

    def buttons(self) -> ComposeResult:
        with Horizontal(classes="buttons"):
            yield Button("Send \\[ctrl+s]", id="send", variant="primary")
            yield Button("Edit in $EDITOR \\[ctrl+e]", id="editor")
            yield Button("Cancel \\[esc]", id="cancel")

    def action_editor(self) -> None:
        """Write the body in the user's editor. The app hands the terminal over
        (App.suspend) and waits for the editor to close: this blocks the UI loop on
        purpose, as nothing is drawn meanwhile; workers and servers carry on."""
        area = self.query_one("#body", TextArea)
        try:
            with self.app.suspend():
                text = edit_text(area.text)
        except SuspendNotSupported:
            self.notify("$EDITOR needs the terminal, and this one cannot be handed over "
                        "(no tty?).", severity="error")
            return
        except OSError as exc:  # no such editor
            self.notify(f"$EDITOR failed: {exc}", severity="error", markup=False)
            return
        if text is None:
            self.notify("The editor gave up (non-zero exit): the text is as it was.",
                        severity="warning")
        else:
            area.text = text.rstrip("\n")
        area.focus()

    def action_send(self) -> None:
        """Check the text, then `send` (each kind of compose screen its own); a text
        that says "attached" with nothing attached asks first."""
        text = self.query_one("#body", TextArea).text
        if promises_a_file(text) and not self.has_files():
            def answered(yes: bool | None) -> None:
                if yes:
                    self.send()
            self.app.push_screen(Confirm("Nothing is attached",
                                         "The text speaks of an attachment, but no file "
                                         "goes along. Send it anyway?", "Send anyway"),
                                 answered)
            return
        self.send()

    def send(self) -> None:
        """Hand the result back."""
        raise NotImplementedError

    def has_files(self) -> bool:
        return bool(self.query(LocalFiles)) and bool(self.query_one(LocalFiles).paths)

    def local_files(self) -> list[Path]:
        return list(self.query_one(LocalFiles).paths) if self.query(LocalFiles) else []

    # -- leaving without sending ---------------------------------------------------------

    def typed(self) -> bool:
        """Whether leaving now would lose words the user wrote."""
        text = self.query_one("#body", TextArea).text
        return bool(text.strip()) and text != self.initial_text

    def draft_fields(self) -> tuple[str, list[str], str] | None:
        """Account, To and Subject of this message saved as a draft; None: it cannot
        be (a chat message, a forward)."""
        return None

    def threading(self) -> dict[str, Any]:
        """What keeps a reply's draft in its thread (engine.draft_save's `answering`,
        or `in_reply_to` and `references`); nothing for a new message."""
        return {}

    def action_cancel(self) -> None:
        if not self.typed():
            self.dismiss(None)
            return
        self.app.push_screen(UnsentPrompt(self.draft_fields() is not None), self._unsent)

    def _unsent(self, choice: str | None) -> None:
        if choice == "save":
            self.run_worker(self.save_draft(), name="save_draft", group="draft",
                            exclusive=True)
        elif choice == "discard":
            self.dismiss(None)
        else:
            self.query_one("#body", TextArea).focus()

    async def save_draft(self) -> None:
        """Into the account's Drafts folder on the server (from any machine, P lists
        it). A refusal keeps the screen, and its text, as it is."""
        fields = self.draft_fields()
        if fields is None:
            return
        account, to, subject = fields
        text = self.query_one("#body", TextArea).text
        try:
            await client_app(self).engine.draft_save(account, to, subject, text,
                                                     files=self.local_files(),
                                                     replaces=self.resumed,
                                                     **self.threading())
        except (EngineError, OSError, ValueError) as exc:  # ValueError: an address
            self.notify(f"Draft not saved (your text is still here): {exc}",
                        severity="error", markup=False)
            return
        self.app.notify("Saved in Drafts: P lists the drafts to resume one.",
                        title="Draft")
        self.dismiss(None)

    def signature(self, account: str) -> Static:
        """What the engine puts under the text when it is sent, shown (not editable
        here: the account's `signature` in the config)."""
        try:
            sig = client_app(self).engine.account(account).signature or ""
        except EngineError:
            sig = ""
        note = Static(Text.assemble(("signature, added when sent: ", "dim italic"),
                                    ("-- " + " / ".join(one_line(x) for x in
                                                         sig.strip().splitlines()), "dim")),
                      id="signature", markup=False)
        note.display = bool(sig.strip())
        return note


# ctrl+g walks through what OpenPGP does to the email (G for GnuPG; TextArea and the
# app leave it free): as mutt's compose menu offers sign, encrypt, both, or neither.
OPENPGP_STEPS = ((False, False), (True, False), (True, True), (False, True))
# What the OpenPGP line adds for Autocrypt's recommendation (bridge.crypto.autocrypt).
AUTOCRYPT_WORDS = {"encrypt": "  · Autocrypt: encrypted by default (both prefer it)",
                   "available": "  · Autocrypt: encryption available",
                   "discourage": "  · Autocrypt: encryption possible, they may not read it"}


class OpenPGPToggle(ComposeBase):
    """A compose screen whose email can be signed and/or encrypted (ctrl+g), the
    choice shown under its title; it starts from the config's [crypto] defaults."""

    BINDINGS = [Binding("ctrl+g", "openpgp", "sign/encrypt", priority=True)]
    openpgp: tuple[bool, bool] = (False, False)  # (sign, encrypt)
    # Autocrypt's word for the recipients typed ("" when off); once the user
    # pressed ctrl+g, it no longer changes the choice.
    autocrypt: str = ""
    chose_openpgp: bool = False

    def openpgp_label(self) -> Label:
        p = client_app(self).engine.protection()
        self.openpgp = (p.sign, p.encrypt)
        return Label(self.openpgp_words(), id="compose-openpgp", markup=False)

    def openpgp_words(self) -> Text:
        sign, encrypt = self.openpgp
        words = " + ".join(w for w, on in (("signed", sign), ("encrypted", encrypt)) if on)
        return Text.assemble(("OpenPGP: ", "bold"),
                             (words or "in clear", "green" if encrypt else
                              "yellow" if sign else "dim"),
                             ("  (ctrl+g changes it)", "dim"),
                             (AUTOCRYPT_WORDS.get(self.autocrypt, ""), "dim"))

    async def offer_autocrypt(self, account: str, to: Sequence[str]) -> None:
        """Ask Autocrypt about these recipients: "encrypt" turns signed +
        encrypted on, unless the user chose with ctrl+g; "available" only says
        that encryption is possible (the spec: offered, not forced)."""
        try:
            word = await client_app(self).engine.autocrypt_recommendation(account, to)
        except Exception:  # whatever was typed, compose goes on: no word, no change
            word = ""
        if word == self.autocrypt:
            return
        self.autocrypt = word
        if not self.chose_openpgp:
            default = client_app(self).engine.protection()
            self.openpgp = (True, True) if word == "encrypt" else (default.sign,
                                                                   default.encrypt)
        with contextlib.suppress(NoMatches):
            self.query_one("#compose-openpgp", Label).update(self.openpgp_words())

    def action_openpgp(self) -> None:
        self.chose_openpgp = True
        at = OPENPGP_STEPS.index(self.openpgp) if self.openpgp in OPENPGP_STEPS else 0
        self.openpgp = OPENPGP_STEPS[(at + 1) % len(OPENPGP_STEPS)]
        self.query_one("#compose-openpgp", Label).update(self.openpgp_words())


class ComposeScreen(OpenPGPToggle):
    """Reply by email: to the sender or all, with history and files if wanted.

    To an email, as mutt writes one: To and Cc are fields to edit (filled as the
    engine would address it, again when "Reply to all" changes), and the
    original is quoted below the text ("On DATE, NAME wrote:" and "> " lines)
    in a box of its own to trim or clear; the engine sends them as left here.
    The quote is not kept in a postponed draft: resuming quotes the original
    again."""

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
        self.to_email = draft.message.transport is Transport.EMAIL

    def recipients(self, reply_all: bool) -> str:
        m = self.draft.message
        named = client_app(self).contact_names
        first = who(m, named) if m.direction is Direction.IN else ", ".join(
            one_line(p.name) or one_line(p.address) for p in m.recipients[:1])
        if not reply_all:
            return first
        others = [one_line(p.name) or one_line(p.address) for p in m.recipients
                  if p.address.lower() not in self.me and p.role != "occupant"]
        return ", ".join(dict.fromkeys([first, *others]))

    def compose(self) -> ComposeResult:
        m = self.draft.message
        yield Header()
        with Vertical(id="compose"):
            came = "email" if m.transport is Transport.EMAIL else "chat line"
            title = Text.assemble(("Reply by email", "bold"),
                                  (" (draft, resumed)" if self.resumed is not None else "",
                                   "italic"), " to ",
                                  (who(m, client_app(self).contact_names), "bold"),
                                  f", on their {came}")
            if m.subject:
                title.append(f" “{one_line(m.subject)}”")
            yield Label(title, id="compose-title", markup=False)
            to = Label(Text.assemble(("To: ", "bold"), self.recipients(self.draft.reply_all)),
                       id="compose-to", markup=False)
            to.display = not self.to_email
            yield to
            if self.to_email:
                with Horizontal(id="compose-addresses"):
                    yield Label("To:", classes="field-label")
                    yield Input(id="reply-to", suggester=self.suggester())
                    yield Label("Cc:", classes="field-label")
                    yield Input(id="reply-cc", suggester=self.suggester())
            yield self.openpgp_label()
            with Horizontal(id="compose-options"):
                yield Tick("Reply to all", self.draft.reply_all, id="reply-all",
                           disabled=not self.several)
                history = Tick("Include history", self.draft.history, id="history")
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
        self.call_after_refresh(self.note_stake)

    def ask_autocrypt(self) -> None:
        """Autocrypt's word for the reply's To and Cc (bridge.crypto.autocrypt)."""
        typed = self.addresses("#reply-to") + self.addresses("#reply-cc")
        to = [a for _n, a in getaddresses(typed) if a]
        self.run_worker(self.offer_autocrypt(self.draft.message.account, to),
                        exclusive=True, group="autocrypt")

    def on_input_blurred(self, event: Input.Blurred) -> None:
        if event.input.id in ("reply-to", "reply-cc"):
            self.ask_autocrypt()

    def fill_addresses(self, reply_all: bool) -> None:
        """To and Cc as the engine addresses the reply (to the sender, or all)."""
        fields = self.engine_fields(reply_all)
        for field_id, parties in (("#reply-to", fields.to), ("#reply-cc", fields.cc)):
            self.query_one(field_id, Input).value = ", ".join(
                formataddr((p.name, p.address)) if p.name else p.address for p in parties)

    def engine_fields(self, reply_all: bool) -> ReplyFields:
        row = self.draft.message.id
        assert row is not None, "a reply answers a stored message"
        return client_app(self).engine.reply_fields(row, reply_all)

    def addresses(self, field_id: str) -> list[str]:
        return [a.strip() for a in self.query_one(field_id, Input).value.split(",")
                if a.strip()]

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "reply-all":
            self.query_one("#compose-to", Label).update(
                Text.assemble(("To: ", "bold"), self.recipients(event.value)))
            if self.to_email:
                self.fill_addresses(event.value)

    def has_files(self) -> bool:
        return bool(self.query_one(Files).chosen) or super().has_files()

    def threading(self) -> dict[str, Any]:
        return {"answering": self.draft.message.id}

    def draft_fields(self) -> tuple[str, list[str], str] | None:
        m = self.draft.message
        if m.transport is not Transport.EMAIL:
            return None
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
        self.draft.sign, self.draft.encrypt = self.openpgp
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
    row in the Drafts folder, replaced when saved again, gone once sent).
    ctrl+t switches between email and IM from any field (the footer says so)."""

    BINDINGS = [Binding("ctrl+t", "toggle_via", "email ↔ IM", priority=True)]

    def __init__(self, accounts: Sequence[str], to: str = "", via: str = "email", *,
                 subject: str = "", text: str = "", resumed: int | None = None,
                 account: str | None = None, kept: bool = False,
                 in_reply_to: str | None = None, references: Sequence[str] = ()) -> None:
        super().__init__()
        self.accounts = list(accounts)
        self.account = account or (self.accounts[0] if self.accounts else "")
        self.to = to
        self.via = via
        self.subject = subject
        self.text = text
        # A text kept on disk is at stake as it is; a draft is safe on the server.
        self.initial_text = "" if kept else text
        self.resumed = resumed
        self.in_reply_to = in_reply_to
        self.references = list(references)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="compose"):
            title = "Draft, resumed" if self.resumed is not None else "New message"
            yield Label(Text(title, style="bold"), id="compose-title")
            with RadioSet(id="via"):
                yield Choice("by email", self.via == "email", id="via-email")
                yield Choice("by IM", self.via == "im", id="via-im",
                             disabled=self.resumed is not None)
            yield Input(self.to, placeholder="To: addresses or JIDs, comma-separated "
                        "(→ completes a contact)", suggester=self.suggester(), id="to")
            yield Input(self.subject, placeholder="Subject (email only)", id="subject")
            yield self.openpgp_label()
            yield TextArea(self.text, id="body")
            yield self.signature(self.account)
            yield LocalFiles(id="local-files")
            yield from self.buttons()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "draft" if self.resumed is not None else "new message"
        self.query_one("#to" if not self.to else "#body").focus()
        self.call_after_refresh(self.note_stake)
        if self.to:
            self.run_worker(self.offer_autocrypt(self.account, self.recipients()))

    def on_input_blurred(self, event: Input.Blurred) -> None:
        """Leaving To: Autocrypt's word for who is in it (an email only)."""
        if event.input.id == "to" and self.by_email():
            self.run_worker(self.offer_autocrypt(self.account, self.recipients()),
                            exclusive=True, group="autocrypt")

    def by_email(self) -> bool:
        return not self.query_one("#via-im", RadioButton).value

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

    def threading(self) -> dict[str, Any]:
        if self.in_reply_to is None:
            return {}
        return {"in_reply_to": self.in_reply_to, "references": self.references}

    def recipients(self) -> list[str]:
        return [a.strip() for a in self.query_one("#to", Input).value.split(",")
                if a.strip()]

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
        sign, encrypt = self.openpgp
        self.dismiss(NewMessage(self.account, to, via,
                                self.query_one("#subject", Input).value, text,
                                files=self.local_files(), resumed=self.resumed,
                                sign=sign, encrypt=encrypt))


class ForwardScreen(ComposeBase):
    """Forward an email: to whom, a note above it, inline (its files kept) or as an
    attachment, with more files from disk."""

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        m = self.message
        yield Header()
        with Vertical(id="compose"):
            title = Text.assemble(("Forward", "bold"), " the email from ",
                                  (who(m, client_app(self).contact_names), "bold"))
            if m.subject:
                title.append(f" “{one_line(m.subject)}”")
            yield Label(title, id="compose-title", markup=False)
            yield Input(placeholder="To: addresses, comma-separated (→ completes a contact)",
                        suggester=self.suggester(), id="to")
            with Horizontal(id="compose-options"):
                yield Tick("As an attachment (message/rfc822)", False, id="as-attachment")
            kept = Text()
            for a in m.attachments:
                kept.append("\n" if kept else "")
                kept.append_text(Text.assemble(("+ ", "magenta"),
                                               (one_line(a.filename), "magenta"),
                                               (f"  {size(a.size)}  kept", "dim")))
            if kept:
                yield Static(kept, id="kept-files", markup=False)
            yield Label(Text("Your note; the email follows it, quoted as forwarded "
                             "mail is.", style="dim"), markup=False)
            yield TextArea(id="body")
            yield self.signature(m.account)
            yield LocalFiles(id="local-files")
            yield from self.buttons()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "forward"
        self.query_one("#to", Input).focus()

    def has_files(self) -> bool:
        return bool(self.message.attachments) or super().has_files() or \
            self.query_one("#as-attachment", Checkbox).value

    def send(self) -> None:
        to = [a.strip() for a in self.query_one("#to", Input).value.split(",") if a.strip()]
        if not to or not all("@" in a for a in to):
            self.notify("Forward to whom? Give email addresses.", severity="warning")
            self.query_one("#to", Input).focus()
            return
        self.dismiss(Forward(self.message, to, self.query_one("#body", TextArea).text,
                             self.query_one("#as-attachment", Checkbox).value,
                             self.local_files()))
