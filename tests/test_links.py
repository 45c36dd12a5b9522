"""A message's links for the link list (urlscan's job): from the text and HTML
parts, each once, with the words around them, nothing fetched, nothing a
terminal would act on."""

from __future__ import annotations

from email.message import EmailMessage

from bridge.mail.body_text import links_in_text, links_of_parts, text_parts


def test_links_in_text_once_each_without_the_sentence_around_them():
    found = links_in_text(
        "Read https://example.org/a_(b). Then (see https://x.example/y), or\n"
        "write mailto:bob@example.org; again https://example.org/a_(b)!\n"
        "not a link: https:// nor javascript:alert(1)")
    assert [x.url for x in found] == ["https://example.org/a_(b)", "https://x.example/y",
                                      "mailto:bob@example.org"]
    assert found[0].context.startswith("Read")
    assert "write" in found[2].context


def test_escape_sequences_never_ride_along_in_a_link():
    (link,) = links_in_text("click https://evil.example/\x1b]52;c;aGk=\x07 now")
    assert link.url == "https://evil.example/" and "\x1b" not in link.context


def test_the_html_part_gives_its_targets_not_its_images_nor_scripts():
    html = ('<p>The <a href="https://example.org/r?a=1&amp;b=2">report</a>'
            '<img src="https://track.example/p.gif" alt="logo">'
            '<a href="javascript:steal()">x</a><script>var u="https://s.example/"</script></p>')
    found = links_of_parts([("text/plain", "Report: https://example.org/plain"),
                            ("text/html", html)])
    assert [x.url for x in found] == ["https://example.org/plain",
                                      "https://example.org/r?a=1&b=2"]
    assert "report" in found[1].context


def test_text_parts_are_the_bodies_not_the_attachments():
    msg = EmailMessage()
    msg["Subject"] = "x"
    msg.set_content("plain https://a.example/")
    msg.add_alternative("<a href='https://b.example/'>b</a>", subtype="html")
    msg.add_attachment(b"https://c.example/ in a file", maintype="text", subtype="plain",
                       filename="notes.txt")
    parts = text_parts(msg.as_bytes())
    assert [c for c, _ in parts] == ["text/plain", "text/html"]
    assert [x.url for x in links_of_parts(parts)] == ["https://a.example/",
                                                      "https://b.example/"]
