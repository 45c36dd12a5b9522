"""Whether a reaction is one emoji (XEP-0444 §4: "a single emoji", as Unicode's
UTS #51 defines them), checked before one is sent.

Hand-written for a reason: slixmpp's own check (xep_0444's `is_emoji`) says yes to
any text unless the `emoji` package is installed, and slixmpp imports that package
as it loads the plugin at login, tables and all (emoji 2.16: 8 MiB of RSS), in
every process that logs in.
Here the shape of one emoji is read from UTS #51's grammar, with the code points
that are emoji (emoji-data.txt's Emoji=Yes) written as ranges: exact in the Basic
Multilingual Plane, mostly by block above it (the few pictographs of those blocks
that are no emoji pass). No table is loaded, nothing is imported.

    emoji        := element (ZWJ element)*          at most MAX_ELEMENTS
    element      := RI RI                           a flag
                  | [0-9#*] VS16? U+20E3            a keycap
                  | base VS16? modifier?            (or VS15: text style)
                  | U+1F3F4 tag+ U+E007F            a subdivision flag
"""

from __future__ import annotations

ZWJ, VS15, VS16, KEYCAP, CANCEL_TAG = "\u200d", "\ufe0e", "\ufe0f", "\u20e3", "\U000e007f"
MAX_ELEMENTS = 10

# emoji-data.txt's Emoji=Yes in the BMP (bar the keycap bases), as (first, last).
_BMP = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
    (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA),
    (0x231A, 0x231B), (0x2328, 0x2328), (0x23CF, 0x23CF), (0x23E9, 0x23F3),
    (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB), (0x25B6, 0x25B6),
    (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x2604), (0x260E, 0x260E),
    (0x2611, 0x2611), (0x2614, 0x2615), (0x2618, 0x2618), (0x261D, 0x261D),
    (0x2620, 0x2620), (0x2622, 0x2623), (0x2626, 0x2626), (0x262A, 0x262A),
    (0x262E, 0x262F), (0x2638, 0x263A), (0x2640, 0x2640), (0x2642, 0x2642),
    (0x2648, 0x2653), (0x265F, 0x2660), (0x2663, 0x2663), (0x2665, 0x2666),
    (0x2668, 0x2668), (0x267B, 0x267B), (0x267E, 0x267F), (0x2692, 0x2697),
    (0x2699, 0x2699), (0x269B, 0x269C), (0x26A0, 0x26A1), (0x26A7, 0x26A7),
    (0x26AA, 0x26AB), (0x26B0, 0x26B1), (0x26BD, 0x26BE), (0x26C4, 0x26C5),
    (0x26C8, 0x26C8), (0x26CE, 0x26CF), (0x26D1, 0x26D1), (0x26D3, 0x26D4),
    (0x26E9, 0x26EA), (0x26F0, 0x26F5), (0x26F7, 0x26FA), (0x26FD, 0x26FD),
    (0x2702, 0x2702), (0x2705, 0x2705), (0x2708, 0x270D), (0x270F, 0x270F),
    (0x2712, 0x2712), (0x2714, 0x2714), (0x2716, 0x2716), (0x271D, 0x271D),
    (0x2721, 0x2721), (0x2728, 0x2728), (0x2733, 0x2734), (0x2744, 0x2744),
    (0x2747, 0x2747), (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755),
    (0x2757, 0x2757), (0x2763, 0x2764), (0x2795, 0x2797), (0x27A1, 0x27A1),
    (0x27B0, 0x27B0), (0x27BF, 0x27BF), (0x2934, 0x2935), (0x2B05, 0x2B07),
    (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x3030, 0x3030),
    (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
)
# Above it, by block: mahjong and card, enclosed letters and ideographs, the
# pictographs, emoticons, transport, geometric shapes' coloured ones, the
# supplemental and extended-A pictographs.
_ASTRAL = (
    (0x1F004, 0x1F004), (0x1F0CF, 0x1F0CF), (0x1F170, 0x1F171), (0x1F17E, 0x1F17F),
    (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A), (0x1F201, 0x1F202), (0x1F21A, 0x1F21A),
    (0x1F22F, 0x1F22F), (0x1F232, 0x1F23A), (0x1F250, 0x1F251), (0x1F300, 0x1F64F),
    (0x1F680, 0x1F6FF), (0x1F7E0, 0x1F7F0), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF),
)
_MODIFIERS = (0x1F3FB, 0x1F3FF)  # skin tones
_REGIONAL = (0x1F1E6, 0x1F1FF)  # flag letters
_TAGS = (0xE0020, 0xE007E)


def _within(c: str, spans: tuple[tuple[int, int], ...]) -> bool:
    n = ord(c)
    return any(first <= n <= last for first, last in spans)


def _element(s: str) -> bool:
    if not s:
        return False
    if len(s) == 2 and all(_within(c, (_REGIONAL,)) for c in s):
        return True
    if s[0] in "0123456789#*":
        return s[1:] in (KEYCAP, VS16 + KEYCAP)
    if not _within(s[0], _BMP + _ASTRAL) or _within(s[0], (_REGIONAL, _MODIFIERS)):
        return _within(s[0], (_MODIFIERS,)) and len(s) == 1  # a tone alone: an emoji
    rest = s[1:]
    if s[0] == "\U0001f3f4" and rest.endswith(CANCEL_TAG) and len(rest) > 1:
        return all(_within(c, (_TAGS,)) for c in rest[:-1])
    rest = rest.removeprefix(VS16) if rest.startswith(VS16) else rest.removeprefix(VS15)
    if rest and _within(rest[0], (_MODIFIERS,)):
        rest = rest[1:]
    return rest in ("", VS16)


def is_emoji(text: str) -> bool:
    """Whether `text` is one emoji (a flag, a keycap, a skin tone, a family joined
    by ZWJ are one each); "ok", ":)", "✓", two emoji are not."""
    parts = text.split(ZWJ)
    return 0 < len(parts) <= MAX_ELEMENTS and all(map(_element, parts))
