"""Helpers that make hostile remote input harmless: file names and terminal text.

Everything here is pure and cheap, because it runs on every header of every synced
message and on every attachment a user saves.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

# Escape sequences a terminal acts on. String-type sequences (OSC, DCS, SOS, PM,
# APC) carry a payload up to BEL or ST; OSC 8 (hyperlinks) and OSC 52 (clipboard
# write) live there, so the payload has to go with the introducer or a link target
# or clipboard text would be left behind as visible junk at best.
_ESCAPES = re.compile(
    r"""
    (?: \x1b[\]PX^_] | [\x90\x98\x9d\x9e\x9f] )   # OSC/DCS/SOS/PM/APC, 7- or 8-bit
        [^\x07\x1b\x9c\n]*                     # payload, never past a line
        (?: \x07 | \x1b\\ | \x9c )?                # BEL or ST, if it came
  | (?: \x1b\[ | \x9b ) [\x20-\x3f]* [\x40-\x7e]?  # CSI: params, intermediates, final
  | \x1b [\x20-\x2f]* [\x30-\x7e]?               # other ESC sequences (charset, keypad)
    """,
    re.VERBOSE | re.DOTALL,
)
_C1_INTRODUCER = re.compile("[\x90\x98\x9b\x9d\x9e\x9f]")
# C0 except tab and newline, DEL, C1, and the bidi controls that reorder text
# around them (embeddings, overrides, isolates): those let "exe.pdf" display as
# "fdp.exe" or hide text after a quote. LRM/RLM only affect neutral characters
# next to them and real right-to-left text uses them, so they stay.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BIDI_AND_INVISIBLE = frozenset(
    "\u200b\u200c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u061c\ufeff\u00ad"
)


def inert_text(s: str) -> str:
    """`s` without anything a terminal would act on instead of print.

    Removes escape sequences (CSI, OSC including OSC 8 links and OSC 52 clipboard
    writes, DCS and friends, in 7- and 8-bit form), C0 controls except newline and
    tab, DEL, C1 controls and bidi embedding/override/isolate characters. A lone CR
    becomes a newline so that text cannot overwrite the start of its own line.
    Rich markup is left alone: escaping it is the UI's job.
    """
    # Nearly every header is plain printable ASCII; skip the regexes for it.
    if s.isascii() and s.isprintable():
        return s
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in s or _C1_INTRODUCER.search(s):
        s = _ESCAPES.sub("", s)
    return _CONTROLS.sub("", s)


# RFC 2045: type "/" subtype, both tokens (printable ASCII without specials).
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$%&'*+.^_`{|}~-]{1,127}/[a-z0-9!#$%&'*+.^_`{|}~-]{1,127}")


def safe_content_type(value: str) -> str:
    """A MIME type as RFC 2045 spells it (`type/subtype`, lower case), else
    `application/octet-stream`: a sender's content type is shown next to its file
    name and must carry no escape, control or bidi character, nor markup."""
    value = (value or "").strip().lower()
    return value if _CONTENT_TYPE.fullmatch(value) else "application/octet-stream"


# Reserved by Windows whatever the extension; a file saved as "CON.txt" on a
# share, or synced to a Windows machine, cannot be opened or deleted normally.
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{n}" for p in ("COM", "LPT") for n in "0123456789¹²³"]
)
# Characters Windows and macOS Finder refuse, or that shells treat specially
# enough to surprise someone typing the name.
_UNSAFE_CHARS = re.compile(r'[<>:"|?*/\\]')
# File systems limit a name to 255 bytes; leaving room for " (999)" means the
# collision suffix never has to cut into the name again.
_MAX_NAME_BYTES = 240
_MAX_EXT_CHARS = 16


def _clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    # Both separators count: a name from Windows uses backslashes, and a name made
    # to attack us uses whichever the target does not check.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch for ch in name
        if ch not in _BIDI_AND_INVISIBLE and unicodedata.category(ch) not in ("Cc", "Cf")
    )
    name = _UNSAFE_CHARS.sub("_", name)
    name = " ".join(name.split())
    # Leading dots hide the file (or make "..");  trailing dots and spaces are
    # dropped silently by Windows, which would turn "a.exe." into "a.exe".
    name = name.lstrip(". ").rstrip(". ")
    return name


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXT_CHARS or " " in ext:
        return name, ""
    return stem, "." + ext


def _truncate_utf8(s: str, limit: int) -> str:
    data = s.encode("utf-8")
    if len(data) <= limit:
        return s
    return data[:limit].decode("utf-8", "ignore").rstrip(". ")


def safe_basename(name: str) -> str:
    """`name` reduced to one harmless file name, without touching the disk."""
    cleaned = _clean_name(inert_text(name or ""))
    if not cleaned:
        return "attachment"
    # Windows looks at the part before the first dot: "COM1.tar.gz" is COM1 too.
    first, dot, rest = cleaned.partition(".")
    if first.rstrip(" ").upper() in _WINDOWS_DEVICES:
        cleaned = f"{first}_{dot}{rest}"
    stem, ext = _split_ext(cleaned)
    stem = _truncate_utf8(stem, _MAX_NAME_BYTES - len(ext.encode("utf-8"))) or "attachment"
    return stem + ext


def safe_filename(name: str, directory: Path) -> Path:
    """A path inside `directory` for a file a remote party called `name`.

    Path parts, "..", leading dots, control, bidi and invisible characters and
    characters Windows refuses are removed; Windows device names get a "_"; an
    empty result is "attachment"; the name is kept under 255 bytes with its
    extension intact; an existing name (even a dangling symlink) gets " (1)",
    " (2)" ... so nothing is overwritten.

    Between this call and the write another process could take the name: write
    with exclusive creation (open mode "xb"), or use `write_new_file`.
    """
    base = safe_basename(name)
    stem, ext = _split_ext(base)
    candidate = directory / base
    n = 0
    while os.path.lexists(candidate):
        n += 1
        candidate = directory / f"{stem} ({n}){ext}"
    return candidate


def write_new_file(directory: Path, name: str, data: bytes) -> Path:
    """Write `data` to a new file in `directory` named after `name`; never overwrite.

    The exclusive create closes the race that a check-then-write would leave open
    against another download (or an attacker) choosing the same name.
    """
    # Created owner-only: it holds files strangers sent; an existing one is left alone.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for _ in range(1000):
        target = safe_filename(name, directory)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(target, flags, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return target
    raise FileExistsError(f"no free file name for {name!r} in {directory}")
