"""A body part to display text: RFC 3676 format=flowed, and HTML to plain text.

HTML is read by the stdlib's `HTMLParser`, bounded in size and time; a document
that breaks the parser falls back to stripping tags. Links show their real target
("text [url]"), and nothing remote is ever fetched. The links of a message, for
the link list (`links_of_parts`), are read from that same text.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser

from ..safe import inert_text

# HTML conversion is linear but slow in pure Python; a 5 MiB HTML body is already
# far beyond anything a person reads in a terminal.
_MAX_HTML = 5 * 1024 * 1024


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, keep quote depth."""
    out: list[str] = []
    buf = ""
    buf_depth = -1
    flowing = False
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        # "-- " is the signature separator and never flows.
        soft = content.endswith(" ") and content != "-- "
        if flowing and depth == buf_depth:
            buf += content
        else:
            if flowing:
                out.append(_quoted(buf, buf_depth))
            buf, buf_depth = content, depth
        if soft:
            if delsp:
                buf = buf[:-1]
            flowing = True
        else:
            out.append(_quoted(buf, buf_depth))
            buf, flowing, buf_depth = "", False, -1
    if flowing:
        out.append(_quoted(buf, buf_depth))
    return "\n".join(out)


def _quoted(text: str, depth: int) -> str:
    return ("> " * depth + text) if depth > 0 else text


_BLOCK_TAGS = frozenset({
    "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "table", "ul", "ol", "pre", "hr", "section", "article", "header", "footer", "dt",
    "dd", "dl", "address", "figure", "figcaption", "center", "form", "fieldset", "main",
    "nav", "aside", "tbody", "thead", "tfoot",
})
_HIDDEN_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "svg",
                          "object", "iframe", "math"})
_SHOWN_SCHEMES = ("http:", "https:", "mailto:", "ftp:", "tel:", "xmpp:")


class _HtmlText(HTMLParser):
    """Readable text of an HTML body: links shown as "text [url]", nothing fetched.

    Images contribute their alt text only; their src (where tracking pixels and
    remote content live) is never put into the output.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.quote = 0
        self.links: list[str] = []  # hrefs of the open <a> elements
        self.link_text: list[list[str]] = []
        self.list_stack: list[int] = []

    def newline(self, blank: bool = False) -> None:
        text = "".join(self.line)
        if not self.pre:
            text = " ".join(text.split())
        prefix = "> " * self.quote
        if text or not blank:
            self.lines.append(prefix + text if text else prefix.rstrip())
        self.line = []
        if blank and self.lines and self.lines[-1].strip("> ") != "":
            self.lines.append(prefix.rstrip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
            return
        if self.hidden:
            return
        a = {k: (v or "") for k, v in attrs}
        if tag == "br":
            self.newline()
        elif tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl"):
            self.flush_block(blank=True)
            if tag in ("ul", "ol"):
                self.list_stack.append(0 if tag == "ol" else -1)
        elif tag == "blockquote":
            self.flush_block(blank=True)
            self.quote += 1
        elif tag == "pre":
            self.flush_block(blank=True)
            self.pre += 1
        elif tag == "hr":
            self.flush_block()
            self.lines.append("> " * self.quote + "-" * 40)
        elif tag == "li":
            self.flush_block()
            indent = "  " * max(0, len(self.list_stack) - 1)
            if self.list_stack and self.list_stack[-1] >= 0:
                self.list_stack[-1] += 1
                self.line.append(f"{indent}{self.list_stack[-1]}. ")
            else:
                self.line.append(f"{indent}- ")
        elif tag in ("td", "th"):
            if self.line and "".join(self.line).strip():
                self.line.append(" | ")
        elif tag in _BLOCK_TAGS:
            self.flush_block()
        elif tag == "a":
            self.links.append(a.get("href", "").strip())
            self.link_text.append([])
        elif tag == "img":
            alt = " ".join(a.get("alt", "").split())
            if alt:
                self.data(f"[{alt}]")

    def flush_block(self, blank: bool = False) -> None:
        if "".join(self.line).strip():
            self.newline(blank)
        else:
            self.line = []
            if blank and self.lines and self.lines[-1].strip("> ") != "":
                self.lines.append(("> " * self.quote).rstrip())

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
            return
        if self.hidden:
            return
        if tag == "a" and self.links:
            href = self.links.pop()
            shown = "".join(self.link_text.pop()).strip()
            if self.link_text:
                self.link_text[-1].append(shown)
            suffix = _link_target(href, shown)
            if suffix:
                self.data(suffix, link=False)
        elif tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl"):
            self.flush_block(blank=True)
            if tag in ("ul", "ol") and self.list_stack:
                self.list_stack.pop()
        elif tag == "blockquote":
            self.flush_block()
            self.quote = max(0, self.quote - 1)
            self.flush_block(blank=True)
        elif tag == "pre":
            self.flush_block(blank=True)
            self.pre = max(0, self.pre - 1)
        elif tag in _BLOCK_TAGS:
            self.flush_block()

    def data(self, text: str, link: bool = True) -> None:
        if link and self.link_text:
            self.link_text[-1].append(text)
        if self.pre:
            parts = text.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self.newline()
                self.line.append(part)
        else:
            self.line.append(text)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.data(data)

    def text(self) -> str:
        self.flush_block()
        out = "\n".join(line.rstrip() for line in self.lines)
        return re.sub(r"\n{3,}", "\n\n", out).strip("\n")


# Linear: "[^<>]*" stops at the next "<", so a run of "<<<<" cannot make each
# attempt scan to the end of the document.
_TAG = re.compile(r"<[^<>]*>")
_HTML_CHUNK = 16 * 1024
# HTMLParser keeps an unfinished construct in `rawdata` and rescans it on every
# feed; Python 3.11's parser is quadratic on some of them (unclosed "<!--",
# runs of "</" or "<a"). A buffer this large or a parse this slow means hostile
# input, and the tag-stripping fallback takes over.
_HTML_MAX_PENDING = 64 * 1024
_HTML_SECONDS = 2.0


class _HtmlTooHard(Exception):
    pass


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document; scripts, styles and images dropped."""
    if len(html) > _MAX_HTML:
        html = html[:_MAX_HTML]
    # Nothing after the last ">" can be a complete tag; escaping its "<" stops
    # the parser from rescanning an unterminated tail to the end, again and again.
    last = html.rfind(">")
    if html.find("<", last + 1) >= 0:
        html = html[: last + 1] + html[last + 1 :].replace("<", "&lt;")
    parser = _HtmlText()
    deadline = time.monotonic() + _HTML_SECONDS
    try:
        for start in range(0, len(html), _HTML_CHUNK):
            parser.feed(html[start : start + _HTML_CHUNK])
            if len(parser.rawdata) > _HTML_MAX_PENDING or time.monotonic() > deadline:
                raise _HtmlTooHard
        parser.close()
        return parser.text()
    except Exception:
        # A hostile document must still give text, and its links their targets:
        # a document made to fail the parser must not hide where its links go.
        text = _strip_tags(html)
        text = re.sub(r"[ \t]+", " ", text)
        return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def _link_target(href: str, shown: str) -> str:
    """" [href]" to put after a link's text, unless its text already is the target.

    Only schemes a reader can use are shown; javascript:, data: and relative links
    are not links in a terminal, so their text stays plain text.
    """
    if not href.lower().startswith(_SHOWN_SCHEMES):
        return ""
    bare = href[7:] if href.lower().startswith("mailto:") else href
    if shown.strip() in (href, bare):
        return ""
    return f" [{href}]"


_A_OPEN = re.compile(r"<a[\s>/]", re.I)
_A_CLOSE = re.compile(r"</a[\s>]", re.I)
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
# Link text longer than this is not compared with the target: it is shown anyway.
_MAX_LINK_TEXT = 2048


def _strip_tags(html: str) -> str:
    """Text between the tags, unescaped, each link's target after its text. Linear."""
    import html as html_mod

    out: list[str] = []
    size = 0  # characters in `out`, to find a link's text without rejoining
    links: list[tuple[str, int, int]] = []  # (href, index in out, size) of open <a>
    pos = 0
    for match in _TAG.finditer(html):
        piece = html_mod.unescape(html[pos : match.start()])
        out.append(piece)
        size += len(piece)
        pos = match.end()
        tag = match.group(0)
        if _A_OPEN.match(tag):
            found = _HREF.search(tag)
            href = "" if found is None else next(g for g in found.groups() if g is not None)
            links.append((html_mod.unescape(href).strip(), len(out), size))
        elif _A_CLOSE.match(tag + " ") and links:
            href, index, start = links.pop()
            shown = "".join(out[index:]) if size - start <= _MAX_LINK_TEXT else ""
            suffix = _link_target(href, shown)
            out.append(suffix)
            size += len(suffix)
            continue
        out.append(" ")
        size += 1
    out.append(html_mod.unescape(html[pos:]))
    return "".join(out)


# -- links, for the link list (urlscan's job) ----------------------------------------------

# A link in text: a scheme a reader can use, then anything but space, quotes, angle
# brackets and control characters; trailing punctuation is the sentence's, not the
# link's. An HTML body is turned into text first (`html_to_text`), which writes each
# link's target after its words, so both kinds of part are read the same way.
_LINK = re.compile(r"""(?:https?://|ftp://|mailto:|xmpp:)[^\s<>"'\[\]\x00-\x1f\x7f-\x9f]+""",
                   re.I)
_TRAILING = ".,;:!?)}'\""
_CONTEXT = 72
_EMPTY = re.compile(r"\(\s*\)|\[\s*\]|<\s*>")  # what a link left behind


@dataclass(frozen=True, slots=True)
class Link:
    """One link of a message: where it goes, and the words around it."""

    url: str
    context: str


def _context(line: str, start: int, end: int) -> str:
    """The words of `line` around a link, the links themselves left out, on one line."""
    before = " ".join(_EMPTY.sub("", _LINK.sub("", line[:start])).split()).rstrip("[(<")
    after = " ".join(_EMPTY.sub("", _LINK.sub("", line[end:])).split()).lstrip("])>")
    if len(before) > _CONTEXT // 2:
        before = "…" + before[-(_CONTEXT // 2):]
    words = " ".join(inert_text(f"{before} {after}").split())
    return words if len(words) <= _CONTEXT else words[:_CONTEXT - 1] + "…"


def links_in_text(text: str) -> list[Link]:
    """The links of plain text (or of an HTML body's `html_to_text`), in order, each
    once, with the words around its first place."""
    found: dict[str, Link] = {}
    for line in text.split("\n"):
        for match in _LINK.finditer(line):
            url = match.group(0)
            closing = url.count(")") - url.count("(")
            while url and (url[-1] in _TRAILING and not (url[-1] == ")" and closing <= 0)):
                closing -= url[-1] == ")"
                url = url[:-1]
            if url.split(":", 1)[1].strip("/") and url not in found:
                found[url] = Link(url, _context(line, match.start(), match.start() + len(url)))
    return list(found.values())


def links_of_parts(parts: list[tuple[str, str]]) -> list[Link]:
    """The links of a message's text parts, (content type, text) each: plain text
    as it is, HTML through `html_to_text`; each link once, the first part's words."""
    found: dict[str, Link] = {}
    for ctype, text in parts:
        readable = html_to_text(text) if ctype == "text/html" else text
        for link in links_in_text(readable):
            found.setdefault(link.url, link)
    return list(found.values())


_MAX_PARTS_BYTES = 16 * 1024 * 1024


def text_parts(raw: bytes) -> list[tuple[str, str]]:
    """The text parts of an email that are not attachments, (content type, text),
    read by the stdlib's parser: what the link list looks through. Undecodable
    bytes become U+FFFD; a part that cannot be read at all is left out."""
    import email
    from email import policy

    msg = email.message_from_bytes(raw[:_MAX_PARTS_BYTES], policy=policy.default)
    found: list[tuple[str, str]] = []
    for part in msg.walk():
        try:
            ctype = part.get_content_type()
            if ctype not in ("text/plain", "text/html") or part.is_attachment():
                continue
            payload = part.get_payload(decode=True)
            charset = part.get_content_charset() or "utf-8"
        except Exception:  # a malformed part's headers: the other parts still count
            continue
        if not isinstance(payload, bytes):
            continue
        try:
            text = payload.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            text = payload.decode("utf-8", errors="replace")
        found.append((ctype, text))
    return found
