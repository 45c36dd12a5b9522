"""What every compose screen shares (`ComposeBase`): Send, $EDITOR with the
header fields above the body (mutt's edit_headers), Cancel that asks before words
are lost (save a draft, discard, keep writing; a chat message is kept for later
instead, as its chat's unsent line or with the drafts P lists; a resumed draft's
changed file list counts), the text kept on disk when the app closes under it
(and saved in Drafts with its files or a forward's emails: `save_at_close`), the
"attached" check, address completion and its hint line; and `OpenPGPToggle`,
ctrl+g's sign/encrypt choice. The screens themselves are in
`tuiclient.screens.compose` and `tuiclient.screens.forward`."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import logging
import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult, SuspendNotSupported
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static, TextArea

from bridge.crypto import outgoing
from bridge.crypto.outgoing import Protection
from bridge.errors import EngineError
from tuiclient.appref import client_app
from tuiclient.drafts import keep_unsent
from tuiclient.format import one_line
from tuiclient.screens.pickers import Confirm, UnsentPrompt
from tuiclient.widgets.addresses import AddressSuggester
from tuiclient.widgets.local_files import LocalFiles, promises_a_file

log = logging.getLogger(__name__)


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi; split as a shell would (`code --wait`)."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def edit_text(text: str, command: Sequence[str] | None = None) -> str | None:
    """Run the editor on `text` in a private temporary file (0600) and read it back;
    None when the editor exits non-zero (`:cq` in vi: the user gave up)."""
    with tempfile.NamedTemporaryFile("w", prefix="tuiclient-", suffix=".txt",
                                     delete=False, encoding="utf-8") as f:
        f.write(text)
        path = Path(f.name)
    try:
        done = subprocess.run([*(command or editor_command()), str(path)], check=False)
        if done.returncode != 0:
            return None
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


def with_headers(fields: Sequence[tuple[str, str]], body: str) -> str:
    """The file $EDITOR gets, as mutt's edit_headers writes it: "Name: value" lines,
    a blank line, the body."""
    if not fields:
        return body
    return "".join(f"{name}: {one_line(value)}\n" for name, value in fields) + "\n" + body


def read_headers(text: str, names: Sequence[str]) -> tuple[dict[str, str] | None, str]:
    """The header block and body of an edited file (the stdlib's header parser):
    each of `names` as left (a line deleted: empty), and the body. None and the
    whole text when none of `names` is there (the block was removed: the fields
    stay as they were, and no line of the body is taken for a header)."""
    if not names:
        return None, text
    parsed = email.parser.HeaderParser(policy=email.policy.default).parsestr(text)
    if not any(name in parsed for name in names):
        return None, text
    body = parsed.get_payload()
    return ({name: str(parsed.get(name, "")).strip() for name in names},
            body if isinstance(body, str) else text)


class ComposeBase(Screen):
    # Tab and shift+Tab move between the fields at once, when the app reads the key
    # (priority): a key is handed to the field focused when it is read, so keys
    # typed ahead of a Tab the field has not yet passed up (a fast typist, a loaded
    # machine) would land in the field Tab was leaving. Tab never takes an address
    # completion (→ does, as in aerc's compose), nor one that shows after it. From
    # the text Tab reaches the buttons, not the path of a file to attach: that
    # field comes after them (`action_next_field`).
    BINDINGS = [
        Binding("tab", "next_field(1)", show=False, priority=True),
        Binding("shift+tab", "next_field(-1)", show=False, priority=True),
        Binding("ctrl+s", "send", "send", priority=True),
        Binding("ctrl+e", "editor", "edit in $EDITOR", priority=True),
        Binding("escape", "cancel", "cancel"),
        Binding("q", "cancel", show=False),  # off the text fields: not the app's quit
    ]
    initial_text = ""  # what the body held when the screen opened
    resumed: int | None = None  # the draft this continues (replaced when saved again)
    initial_files: list[Path] = []  # a resumed draft's files, as it came back
    settled = False  # sent, saved or discarded: nothing to keep when it closes
    # What would be lost if the app closed now: (account, to, subject), text; and
    # the draft's Cc, Bcc and From (`draft_extras`) as they were then.
    extras: dict[str, Any] = {}
    at_stake: tuple[tuple[str, list[str], str], str] | None = None
    _suggester: AddressSuggester | None = None

    def dismiss(self, result: object = None) -> AwaitComplete:
        self.settled = True
        return super().dismiss(result)

    def action_next_field(self, step: int) -> None:
        """Tab (shift+Tab: step -1) through the fields as they are shown, but for
        the path of a file to attach, which comes after the buttons: words typed
        after a Tab from the text never land in it unseen (Send has the focus,
        and takes no letters)."""
        chain = self.focus_chain
        late = [w for w in chain if w.id == "attach-path"]
        order = [w for w in chain if w not in late]
        buttons = [i for i, w in enumerate(order) if isinstance(w, Button)]
        at = buttons[-1] + 1 if buttons else len(order)
        order[at:at] = late
        if not order:
            return
        if self.focused not in order:  # inside a widget of its own (an open Select)
            (self.focus_next if step > 0 else self.focus_previous)()
            return
        # Now, not after a refresh (Widget.focus): the keys read next go there.
        self.set_focus(order[(order.index(self.focused) + step) % len(order)])

    def on_key(self, event: events.Key) -> None:
        """A character typed on a button (Tab from the text reached Send) goes on
        in the text, where it was meant to: no word typed is dropped."""
        if not isinstance(self.focused, Button) or not event.is_printable or \
                not event.character:
            return
        try:
            body = self.query_one("#body", TextArea)
        except NoMatches:
            return
        event.stop()
        event.prevent_default()
        self.set_focus(body)
        body.insert(event.character)

    def on_text_area_changed(self) -> None:
        self.note_stake()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.note_stake()
        suggester = event.input.suggester
        if isinstance(suggester, AddressSuggester):
            with contextlib.suppress(NoMatches):  # a screen without the hint line
                self.query_one("#address-hint", Static).update(
                    Text(suggester.hint(event.value), style="dim"))

    def note_stake(self) -> None:
        try:
            text = self.query_one("#body", TextArea).text
            fields = self.draft_fields() or self.fallback_fields()
        except NoMatches:  # still being built
            return
        self.at_stake = (fields, text) if self.typed() else None
        self.extras = self.draft_extras() if self.chat_fields() is None else {"via": "im"}

    def suggester(self) -> AddressSuggester:
        """The addresses the contacts in the store have (mail and chat), with their
        email ↔ JID mapping, for the address fields (one for the screen)."""
        if self._suggester is None:
            self._suggester = AddressSuggester.of_contacts(client_app(self).engine.contacts())
        return self._suggester

    def address_hint(self) -> Static:
        """The line under the address fields that says who is being completed."""
        return Static("", id="address-hint", markup=False)

    def fallback_fields(self) -> tuple[str, list[str], str]:
        accounts = client_app(self).engine.accounts
        return (accounts[0].name if accounts else "", [], "")

    def on_unmount(self) -> None:
        """The app closes under this screen (ctrl+q quits at once, without asking):
        what was typed is kept on disk, and P offers it again."""
        self.keep_typed()

    def keep_typed(self) -> Path | None:
        """Keep what was typed on disk now (once), unless it was sent, saved or
        discarded: the app closes under the screen, or its terminal went away.
        The file it is kept in (None: nothing kept)."""
        if self.settled or self.at_stake is None:
            return None
        self.settled = True
        (account, to, subject), text = self.at_stake
        with contextlib.suppress(OSError):  # nowhere to write: nothing more to do now
            return keep_unsent(account, to, subject, text, **self.extras)
        return None

    def keeps_more(self) -> bool:
        """Whether what would be lost carries what the text kept on this machine
        cannot: files (a resumed draft's live in a folder that goes with the
        compose) or a forward's emails. Those are saved in Drafts when the app
        closes (`tuiclient.closing`)."""
        return self.at_stake is not None and not self.settled and \
            self.draft_fields() is not None and \
            bool(self.local_files() or self.draft_more())

    async def save_at_close(self) -> bool:
        """The app closes under this screen: what is at stake saved in Drafts as
        the Unsent prompt's s saves it (its files, a forward's emails; a resumed
        draft replaced). True once it is on the server; an error is logged, not
        raised (the caller has kept the text on this machine already)."""
        fields = self.draft_fields()
        if fields is None or self.at_stake is None:
            return False
        account, to, subject = fields
        try:
            await client_app(self).engine.draft_save(
                account, to, subject, self.at_stake[1], files=self.local_files(),
                replaces=self.resumed, **self.draft_extras(), **self.threading(),
                **self.draft_more())
        except Exception:  # anything: the app is closing, the text is kept on disk
            log.exception("saving the draft with its files at close")
            return False
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"send": self.action_send, "editor": self.action_editor,
         "cancel": self.action_cancel}[event.button.id or "cancel"]()

    def buttons(self) -> ComposeResult:
        with Horizontal(classes="buttons"):
            yield Button("Send \\[ctrl+s]", id="send", variant="primary", compact=True)
            yield Button("Edit in $EDITOR \\[ctrl+e]", id="editor", compact=True)
            yield Button("Cancel \\[esc]", id="cancel", compact=True)

    def editor_fields(self) -> list[tuple[str, str]]:
        """The header lines $EDITOR gets above the body: (name, the id of its Input)."""
        return []

    def action_editor(self) -> None:
        """Write the body in the user's editor, the address and subject fields as
        header lines above it (mutt's edit_headers), read back when it closes. The
        app hands the terminal over (App.suspend) and waits for the editor to close:
        this blocks the UI loop on purpose, as nothing is drawn meanwhile; workers
        and servers carry on."""
        area = self.query_one("#body", TextArea)
        fields = self.editor_fields()
        inputs = {name: self.query_one(field_id, Input) for name, field_id in fields}
        try:
            with self.app.suspend():
                text = edit_text(with_headers(
                    [(name, field.value) for name, field in inputs.items()], area.text))
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
            headers, body = read_headers(text, list(inputs))
            for name, value in (headers or {}).items():
                inputs[name].value = value
            area.text = body.rstrip("\n")
            self.edited_headers()
        area.focus()

    def edited_headers(self) -> None:
        """The fields may have changed in $EDITOR: what depends on them follows."""

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
        """Whether leaving now would lose words the user wrote, or a change to a
        resumed draft's files (one taken off, one added)."""
        text = self.query_one("#body", TextArea).text
        if self.resumed is not None and self.local_files() != self.initial_files:
            return True
        return bool(text.strip()) and text != self.initial_text

    def draft_fields(self) -> tuple[str, list[str], str] | None:
        """Account, To and Subject of this message saved as a draft; None: it cannot
        be (a chat message, a forward)."""
        return None

    def draft_extras(self) -> dict[str, Any]:
        """A draft's Cc, Bcc and From (engine.draft_save's `cc`, `bcc`, `sender`)
        where the screen has those fields; nothing here."""
        return {}

    def draft_more(self) -> dict[str, Any]:
        """What a draft carries besides its fields, text and files (engine.draft_save's
        `forwarding`: a forward's emails); nothing here."""
        return {}

    def saved_words(self) -> str:
        """The toast once the draft is in Drafts."""
        return "Saved in Drafts: Enter on it in its conversation, or P (the drafts), " \
            "resumes it."

    def threading(self) -> dict[str, Any]:
        """What keeps a reply's draft in its thread (engine.draft_save's `answering`,
        or `in_reply_to` and `references`); nothing for a new message."""
        return {}

    def chat_fields(self) -> tuple[str, list[str], str] | None:
        """Account, To and Subject of a message that goes by chat (kept for later,
        not saved in Drafts: `keep_for_later`); None: it does not."""
        return None

    def action_cancel(self) -> None:
        if not self.typed():
            self.dismiss(None)
            return
        chat = self.chat_fields() is not None
        self.app.push_screen(UnsentPrompt(chat or self.draft_fields() is not None, chat),
                             self._unsent)

    def _unsent(self, choice: str | None) -> None:
        if choice == "save" and self.chat_fields() is not None:
            self.keep_for_later()
        elif choice == "save":
            self.run_worker(self.save_draft(), name="save_draft", group="draft",
                            exclusive=True)
        elif choice == "discard":
            self.dismiss(None)
        else:
            self.query_one("#body", TextArea).focus()

    def keep_for_later(self) -> None:
        """A chat message kept, and the user told where: as the unsent line of the
        chat with its one recipient when it fits one (one line, a chat with them in
        the list, its input free: `Replying.keep_line`), else on this machine with
        the drafts P lists, resumed as a chat message. Nowhere to write keeps the
        screen, and its text."""
        fields = self.chat_fields()
        if fields is None:
            return
        account, to, subject = fields
        text = self.query_one("#body", TextArea).text.strip("\n")
        main = client_app(self).main_screen()
        if main is not None and len(to) == 1 and main.replying.keep_line(to[0], text):
            self.app.notify(f"Kept as your unsent line in the chat with {one_line(to[0])}: "
                            "open that conversation and it is in the input.",
                            title="Not sent", markup=False)
        else:
            try:
                keep_unsent(account, to, subject, text, via="im")
            except OSError as exc:
                self.notify(f"Not kept (your text is still here): {exc}",
                            severity="error", markup=False)
                return
            self.app.notify("Kept on this machine with the drafts: P lists it, and "
                            "resumes it as a chat message.", title="Not sent")
        self.dismiss(None)

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
                                                     **self.draft_extras(),
                                                     **self.threading(),
                                                     **self.draft_more())
        except (EngineError, OSError, ValueError, LookupError) as exc:
            # ValueError: an address; LookupError: a forwarded email no longer there
            self.notify(f"Draft not saved (your text is still here): {exc}",
                        severity="error", markup=False)
            return
        self.app.notify(self.saved_words(), title="Draft", markup=False)
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
    choice shown under its title. It starts from the engine's one decision for
    this conversation and these recipients (`decide`: an encrypted conversation,
    a contact's `keys prefer`, Autocrypt, the [crypto] defaults), says why, and
    follows it as the recipients change until the user presses ctrl+g. Sent
    untouched, the engine decides again (the same decision); a choice weaker
    than the decision (in clear where it must be encrypted) asks first."""

    BINDINGS = [Binding("ctrl+g", "openpgp", "sign/encrypt", priority=True)]
    openpgp: tuple[bool, bool] = (False, False)  # (sign, encrypt)
    # Autocrypt's word for the recipients typed ("" when off); once the user
    # pressed ctrl+g, it no longer changes the choice.
    autocrypt: str = ""
    chose_openpgp: bool = False
    # The engine's decision (bridge.crypto.outgoing.Protection) for the
    # conversation and recipients as last asked; None until it answers.
    decided: Protection | None = None

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
                             (self.reason(), "bold red" if self.weaker() else "dim"),
                             (AUTOCRYPT_WORDS.get(self.autocrypt, ""), "dim"))

    def reason(self) -> str:
        """Why the decision is what it is, when it is not the config's default
        alone or Autocrypt's (which says so itself)."""
        d = self.decided
        if d is None or not d.why or d.why in (outgoing.AUTOCRYPT, outgoing.BY_CONFIG):
            return ""
        if self.weaker():
            return f"  · it should be encrypted: {d.why}"
        return f"  · {d.why}" if d.encrypt == self.openpgp[1] else ""

    def weaker(self) -> bool:
        """The user's choice leaves out the encryption the decision asks for."""
        return self.decided is not None and self.decided.encrypt and not self.openpgp[1]

    def chosen_openpgp(self) -> tuple[bool | None, bool | None]:
        """What the send asks the engine: the user's ctrl+g choice, or None for
        both (the engine's own decision, with its reason in a refusal)."""
        return self.openpgp if self.chose_openpgp else (None, None)

    async def decide(self, account: str, to: Sequence[str],
                     answering: int | None = None) -> None:
        """Ask the engine what this email must be (`answering`: the row a reply
        answers, whose conversation counts) and Autocrypt's word; the OpenPGP
        line follows, unless the user chose with ctrl+g. Autocrypt's "encrypt"
        turns signed + encrypted on; "available" only says that encryption is
        possible (the spec: offered, not forced)."""
        engine = client_app(self).engine
        try:
            decided = await self.decision(account, to, answering)
        except Exception:  # whatever was typed, compose goes on: no decision, no change
            decided = None
        try:
            word = await engine.autocrypt_recommendation(account, to)
        except Exception:  # as above
            word = ""
        self.autocrypt, self.decided = word, decided
        if not self.chose_openpgp:
            default = decided or engine.protection()
            self.openpgp = (default.sign, default.encrypt)
        with contextlib.suppress(NoMatches):
            self.query_one("#compose-openpgp", Label).update(self.openpgp_words())

    async def decision(self, account: str, to: Sequence[str],
                       answering: int | None = None) -> Protection | None:
        """The engine's decision for this email (None: no recipients yet)."""
        engine = client_app(self).engine
        if answering is not None:
            return await engine.reply_protection(answering, to=list(to) or None)
        return engine.send_protection(account, list(to)) if to else None

    async def offer_autocrypt(self, account: str, to: Sequence[str]) -> None:
        """The decision for a new email to `to` (the old name: `decide`)."""
        await self.decide(account, to)

    def action_openpgp(self) -> None:
        self.chose_openpgp = True
        at = OPENPGP_STEPS.index(self.openpgp) if self.openpgp in OPENPGP_STEPS else 0
        self.openpgp = OPENPGP_STEPS[(at + 1) % len(OPENPGP_STEPS)]
        self.query_one("#compose-openpgp", Label).update(self.openpgp_words())

    def action_send(self) -> None:
        """Two sends ask first: in clear where the decision says encrypted, and
        encrypted by the user's ctrl+g where Autocrypt discourages it (the
        spec's UI guidance: their key is old or only gossip, they may not be
        able to read it)."""
        question = self.send_question() if self.by_email_now() else None
        if question is None:
            super().action_send()
            return
        def answered(yes: bool | None) -> None:
            if yes:
                super(OpenPGPToggle, self).action_send()
        self.app.push_screen(Confirm(*question), answered)

    def send_question(self) -> tuple[str, str, str] | None:
        """The Confirm's title, question and yes, or None: nothing to ask."""
        if self.chose_openpgp and self.weaker():
            assert self.decided is not None
            return ("Send it in clear?",
                    f"This email should be encrypted: {self.decided.why}. You turned "
                    "encryption off (ctrl+g): anyone on its way can read it.",
                    "Send in clear")
        if self.chose_openpgp and self.openpgp[1] and self.autocrypt == "discourage":
            return ("Encrypt it?",
                    "Autocrypt discourages encrypting to them: the key it has is old (their "
                    "recent mail came without it) or was only passed on by someone else, "
                    "so they may not be able to read this. Send it encrypted anyway?",
                    "Encrypt")
        return None

    def by_email_now(self) -> bool:
        """Whether what is being written goes by email (the OpenPGP line is its)."""
        return True
