"""Forwarding an email (`ForwardScreen`): to whom, a note above it, inline or as
an attachment, more files from disk; several marked emails go whole, each as
message/rfc822. Leaving it unsent asks as every compose screen does: saved in
Drafts, the draft carries the forwarded emails whole (message/rfc822, as the
server holds them), so that resumed from P and sent it goes as a forward by
attachment; the toast says so. Importable from `tuiclient.screens.compose` too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Header, Input, Label, Static, TextArea

from bridge.crypto.outgoing import Protection
from bridge.model import Message
from tuiclient.appref import client_app
from tuiclient.drafts import Forward
from tuiclient.format import file_size, one_line, who
from tuiclient.screens.compose_base import OpenPGPToggle
from tuiclient.widgets.addresses import split_addresses
from tuiclient.widgets.footer import Footer
from tuiclient.widgets.local_files import LocalFiles
from tuiclient.widgets.ticks import Tick


class ForwardScreen(OpenPGPToggle):
    """Forward an email: to whom, a note above it, inline (its files kept) or as an
    attachment, with more files from disk. With `more` (the marked conversations'
    emails after the first): one email carrying each of them whole as
    message/rfc822, as mutt's mime_forward does with tagged messages. Its
    OpenPGP line is compose's, from the engine's forward decision: an encrypted
    email is forwarded decrypted and encrypted again for the new recipients."""

    # To with its label, as a new message's (its placeholder is gone once filled);
    # the options under the note, so that Tab from To reaches the note.
    DEFAULT_CSS = """
    ForwardScreen .address-row { height: auto; }
    ForwardScreen .address-row .field-label { padding: 0 1 0 0; text-style: bold; }
    ForwardScreen .address-row Input { width: 1fr; }
    ForwardScreen #address-hint { color: $text-muted; height: auto; }
    """

    def __init__(self, message: Message, more: Sequence[Message] = ()) -> None:
        super().__init__()
        self.message = message
        self.more = list(more)

    def compose(self) -> ComposeResult:
        m = self.message
        several = [m, *self.more] if self.more else []
        yield Header()
        with Vertical(id="compose"):
            if several:
                title = Text.assemble(("Forward", "bold"), f" {len(several)} emails, "
                                      "each attached whole")
            else:
                title = Text.assemble(("Forward", "bold"), " the email from ",
                                      (who(m, client_app(self).contact_names), "bold"))
                if m.subject:
                    title.append(f" “{one_line(m.subject)}”")
            yield Label(title, id="compose-title", markup=False)
            with Horizontal(classes="address-row", id="to-row"):
                yield Label("To:", classes="field-label")
                yield Input(placeholder="addresses, comma-separated (→ completes a "
                            "contact)", suggester=self.suggester(), id="to", compact=True)
            yield self.address_hint()
            yield self.openpgp_label()
            kept = Text()
            for x in several:
                kept.append("\n" if kept else "")
                kept.append_text(Text.assemble(
                    ("+ ", "magenta"), (one_line(x.subject) or "(no subject)", "magenta"),
                    (f"  from {who(x, client_app(self).contact_names)}, message/rfc822"
                     + (f" with {len(x.attachments)} files" if x.attachments else ""),
                     "dim")))
            for a in [] if several else m.attachments:
                kept.append("\n" if kept else "")
                kept.append_text(Text.assemble(("+ ", "magenta"),
                                               (one_line(a.filename), "magenta"),
                                               (f"  {file_size(a)}  kept", "dim")))
            if kept:
                yield Static(kept, id="kept-files", markup=False)
            yield Label(Text("Your note; the emails follow it, attached." if several else
                             "Your note; the email follows it, quoted as forwarded "
                             "mail is.", style="dim"), markup=False)
            yield TextArea(id="body")
            with Horizontal(id="compose-options"):
                tick = Tick("As an attachment (message/rfc822)", bool(several),
                            id="as-attachment", compact=True)
                tick.disabled = bool(several)
                yield tick
            yield self.signature(m.account)
            yield LocalFiles(id="local-files")
            yield from self.buttons()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "forward"
        self.query_one("#to", Input).focus()
        self.run_worker(self.decide(self.message.account, []), exclusive=True,
                        group="autocrypt")

    def on_input_blurred(self, event: Input.Blurred) -> None:
        """Leaving To: the engine's decision for who is in it."""
        if event.input.id == "to":
            self.run_worker(self.decide(self.message.account, self.forward_to()),
                            exclusive=True, group="autocrypt")

    def forward_to(self) -> list[str]:
        return split_addresses(self.query_one("#to", Input).value)

    async def decision(self, account: str, to: Sequence[str],
                       answering: int | None = None) -> Protection | None:
        """The forward's decision: an encrypted email makes it encrypted, even
        before anyone is typed in To."""
        rows = [x.id for x in (self.message, *self.more) if x.id is not None]
        return client_app(self).engine.forward_protection(rows, list(to))

    def editor_fields(self) -> list[tuple[str, str]]:
        return [("To", "#to")]

    def has_files(self) -> bool:
        return bool(self.message.attachments) or super().has_files() or \
            self.query_one("#as-attachment", Checkbox).value

    def send(self) -> None:
        to = split_addresses(self.query_one("#to", Input).value)
        if not to or not all("@" in a for a in to):
            self.notify("Forward to whom? Give email addresses.", severity="warning")
            self.query_one("#to", Input).focus()
            return
        sign, encrypt = self.chosen_openpgp()
        self.dismiss(Forward(self.message, to, self.query_one("#body", TextArea).text,
                             self.query_one("#as-attachment", Checkbox).value,
                             self.local_files(), more=self.more, sign=sign,
                             encrypt=encrypt))

    # -- leaving it unsent: a draft that carries the forwarded emails ------------------

    def draft_fields(self) -> tuple[str, list[str], str] | None:
        """Its draft: in the forwarded email's account, To as typed, the subject
        a forward gets ("Fwd: ...", "(+N more)" for several)."""
        subject = one_line(self.message.subject)
        if not subject.lower().startswith(("fwd:", "fw:")):
            subject = f"Fwd: {subject}".rstrip()
        if self.more:
            subject += f" (+{len(self.more)} more)"
        return self.message.account, self.forward_to(), subject

    def draft_more(self) -> dict[str, Any]:
        """The forwarded emails go into the draft whole (engine.draft_save's
        `forwarding`)."""
        return {"forwarding": [x.id for x in (self.message, *self.more) if x.id is not None]}

    def saved_words(self) -> str:
        """What the draft holds, said exactly: a forward inline comes back as one
        by attachment (the draft holds the email whole, not its quoted text)."""
        n = 1 + len(self.more)
        emails = "the email" if n == 1 else f"the {n} emails"
        inline = not self.more and not self.query_one("#as-attachment", Checkbox).value
        files = any(x.attachments for x in (self.message, *self.more))
        return (f"Saved in Drafts: your note, To and {emails} attached whole "
                f"(message/rfc822{', their files inside' if files else ''})" +
                (": resumed from P and sent, it goes as an attachment, not quoted inline."
                 if inline else ". P (the drafts) resumes it."))
