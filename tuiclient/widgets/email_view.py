"""The email view: one message of the open conversation in full (headers, body,
files), whichever transport it came by.

`folded` (z, `:fold`, `:unfold`; aerc's fold, neomutt's hidden quotes) shows each
run of quoted lines, and the earlier messages carried along by a handoff, as one
line each that says how many lines it stands for; z again shows them."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import Static

from bridge.crypto import CryptoStatus, Verdict
from bridge.handoff import HISTORY_HEAD, TRANSCRIPT_HEAD
from bridge.model import Message, Party, Transport
from tuiclient.format import (
    delivery_mark,
    draft_mark,
    file_size,
    flag_mark,
    long_date,
    one_line,
    transport_mark,
    who,
)
from tuiclient.keys import moving
from tuiclient.links import linked
from tuiclient.people import Directory, party_name
from tuiclient.widgets.timeline import action_text, message_text


def folded_text(full: Text) -> Text:
    """`full` (a message's words as shown) with each run of two or more quoted
    lines, and the carried-over history to its end, folded to one dim line."""
    lines = full.split("\n", allow_blank=True)
    out = Text()
    i = 0

    def fold(what: str, first: str) -> None:
        out.append(f"▸ {what}", style="dim bold")
        if first:
            out.append(f": {first[:60]}{'…' * (len(first) > 60)}", style="dim italic")
        out.append("  (z unfolds)\n", style="dim")
    while i < len(lines):
        line = lines[i]
        plain = line.plain
        if plain.startswith((HISTORY_HEAD, TRANSCRIPT_HEAD)):
            rest = [x.plain for x in lines[i + 1:] if x.plain.strip()]
            fold(f"earlier messages, {len(rest)} line{'s' * (len(rest) != 1)}",
                 one_line(rest[0]) if rest else "")
            break
        if plain.startswith(">"):
            j = i
            while j < len(lines) and lines[j].plain.startswith(">"):
                j += 1
            if j - i >= 2:
                words = next((one_line(x.plain.lstrip("> ")) for x in lines[i:j]
                              if x.plain.lstrip("> ").strip()), "")
                fold(f"{j - i} quoted lines", words)
                i = j
                continue
        out.append_text(line)
        out.append("\n")
        i += 1
    out.rstrip()
    return out


class EmailView(VerticalScroll):
    """One message in full: headers, body, files. Its parent passes down who is
    who (`directory`) and the messages of the thread (`thread`, for naming a
    group chat by the people who wrote in it)."""

    BINDINGS = moving("scroll_down", "scroll_up", "scroll_home", "scroll_end")

    shown: Message | None = None
    directory: var[Directory] = var(Directory)
    thread: var[Sequence[Message]] = var(tuple)
    folded: var[bool] = var(False)
    _note = ""

    def watch_folded(self) -> None:
        if self.is_mounted and self.shown is not None:
            self._show_body(self.shown, self._note)

    def compose(self) -> ComposeResult:
        yield Static(id="email-head", markup=False)
        yield Static(id="email-body", markup=False)

    def show(self, m: Message | None, note: str = "") -> None:
        head = self.query_one("#email-head", Static)
        body = self.query_one("#email-body", Static)
        self.shown = m
        if m is None:
            head.update(Text("No conversation open", style="dim"))
            body.update(Text("Choose one in the list and press Enter.", style="dim"))
            return
        self.show_head(m)
        self._show_body(m, note)
        self.scroll_home(animate=False)

    def _show_body(self, m: Message, note: str) -> None:
        body = self.query_one("#email-body", Static)
        self._note = note
        if note:
            body.update(Text(note, style="dim italic"))
        elif m.malformed:
            body.update(Text("(malformed message, shown raw)\n\n", style="red")
                        + linked(message_text(m)))
        elif not m.text:
            body.update(Text("(no text)", style="dim"))
        else:  # a chat `/me` line as the action it is, as the timeline says it
            text = action_text(m, self.directory.names) or linked(message_text(m))
            body.update(folded_text(text) if self.folded else text)

    def show_again(self, m: Message) -> None:
        """The message it shows, as it is now: the headers and marks; the body too
        when its text changed (a correction, a retraction, a body fetched)."""
        old = self.shown
        if old is None or old.id != m.id:
            return
        self.shown = m
        self.show_head(m)
        changed = (m.text, m.retracted, m.malformed) != (old.text, old.retracted, old.malformed)
        if changed and not self._note:
            self._show_body(m, "")

    def show_head(self, m: Message) -> None:
        """The headers and marks alone (after F or N), the body as it is."""
        if self.shown is not None and self.shown.id != m.id:
            return
        t = Text()
        t.append_text(transport_mark(m.transport))
        t.append(" " + ("email" if m.transport is Transport.EMAIL else "chat"), style="dim")
        if m.unread:
            t.append("  ● unread", style="bold")
        drafts = self.directory.drafts.get(m.account, frozenset())
        for mark in (draft_mark(m, drafts), delivery_mark(m), flag_mark(m)):
            if mark:
                t.append("  ")
                t.append_text(mark)
        for tag in sorted((f for f in m.flags if not f.startswith("\\")), key=str.lower):
            t.append(f"  +{one_line(tag)}", style="cyan")
        if m.transport is Transport.EMAIL and m.folder and m.folder != "INBOX":
            t.append(f"  in {one_line(m.folder)}", style="dim")
        t.append("\nFrom: ", style="bold")
        t.append(who(m, self.directory.names))
        if m.sender.name:
            t.append(f" <{one_line(m.sender.address)}>", style="dim")
        to = [p for p in m.recipients if p.role in ("to", "occupant")]
        cc = [p for p in m.recipients if p.role == "cc"]
        for label, parties in (("To", to), ("Cc", cc)):
            if parties:
                t.append(f"\n{label}: ", style="bold")
                t.append(", ".join(dict.fromkeys(self.party(m, p) for p in parties)))
        if one_line(m.subject) or m.transport is Transport.EMAIL:
            t.append("\nSubject: ", style="bold")
            t.append(one_line(m.subject) or "(no subject)")
        t.append("\nDate: ", style="bold")
        t.append(long_date(m.date))
        if m.crypto is not None:
            t.append("\n")
            t.append_text(crypto_line(m.crypto))
        for a in m.attachments:
            t.append("\n+ ", style="magenta")
            t.append(one_line(a.filename), style="magenta")
            t.append(f"  {file_size(a)}", style="dim")
        self.query_one("#email-head", Static).update(t)

    def party(self, m: Message, p: Party) -> str:
        return party_name(self.directory, m, p, self.thread)


def crypto_line(status: CryptoStatus) -> Text:
    """The one line of how the message was protected: green when it was decrypted
    or every signature is good, red for a bad signature or no decryption, yellow
    for what could not be checked (an unknown key)."""
    verdicts = {s.verdict for s in status.signatures}
    if Verdict.BAD in verdicts or (status.encrypted and not status.decrypted):
        style, mark = "bold red", "✗"
    elif verdicts - {Verdict.GOOD}:
        style, mark = "yellow", "?"
    else:
        style, mark = "green", "✓"
    return Text(f"{mark} {one_line(status.line())}", style=style)
