"""The email view: one message of the open conversation in full (headers, body,
files), whichever transport it came by."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import Static

from bridge.model import Message, Party, Transport
from tuiclient.format import (
    delivery_mark,
    flag_mark,
    long_date,
    one_line,
    size,
    transport_mark,
    who,
)
from tuiclient.keys import moving
from tuiclient.links import linked
from tuiclient.people import Directory, party_name
from tuiclient.widgets.timeline import message_text


class EmailView(VerticalScroll):
    """One message in full: headers, body, files. Its parent passes down who is
    who (`directory`) and the messages of the thread (`thread`, for naming a
    group chat by the people who wrote in it)."""

    BINDINGS = moving("scroll_down", "scroll_up", "scroll_home", "scroll_end")

    shown: Message | None = None
    directory: var[Directory] = var(Directory)
    thread: var[Sequence[Message]] = var(tuple)

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
        if note:
            body.update(Text(note, style="dim italic"))
        elif m.malformed:
            body.update(Text("(malformed message, shown raw)\n\n", style="red")
                        + linked(message_text(m)))
        else:
            body.update(linked(message_text(m)) if m.text else Text("(no text)", style="dim"))
        self.scroll_home(animate=False)

    def show_head(self, m: Message) -> None:
        """The headers and marks alone (after F or N), the body as it is."""
        if self.shown is not None and self.shown.id != m.id:
            return
        t = Text()
        t.append_text(transport_mark(m.transport))
        t.append(" " + ("email" if m.transport is Transport.EMAIL else "chat"), style="dim")
        if m.unread:
            t.append("  ● unread", style="bold")
        for mark in (delivery_mark(m), flag_mark(m)):
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
        for a in m.attachments:
            t.append("\n+ ", style="magenta")
            t.append(one_line(a.filename), style="magenta")
            t.append(f"  {size(a.size)}", style="dim")
        self.query_one("#email-head", Static).update(t)

    def party(self, m: Message, p: Party) -> str:
        return party_name(self.directory, m, p, self.thread)
