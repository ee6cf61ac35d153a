"""The one rule for free text people name things with (display, organization,
job-title, certification names): letters of every script, digits, punctuation,
symbols and emoji, but nothing that is invisible or rearranges the text around it.

Refused, by Unicode general category or property:

- control characters (Cc), line and paragraph separators (Zl, Zp: U+2028, U+2029);
- format characters (Cf): bidirectional embeddings, overrides and isolates
  (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C), zero-width space
  and joiners, word joiner, byte-order mark, soft hyphen, tag characters...;
  except the three uses that are part of writing, not hiding:

  * ZERO WIDTH JOINER (U+200D) between two emoji (``\\p{Extended_Pictographic}``,
    each optionally with its variation selector or skin-tone modifier), as in
    the ZWJ sequences 👩‍💻, 👨‍👩‍👧, 🏳️‍🌈;
  * ZERO WIDTH NON-JOINER (U+200C) between two characters of a script that
    spells with it (Arabic and Syriac, as in Persian names; the Indic scripts);
  * tag characters (U+E0020..U+E007F) only in an emoji tag sequence: 🏴 (U+1F3F4),
    tags, CANCEL TAG, as in the flags of England, Scotland and Wales;

- surrogates (Cs: a lone ``\\ud800`` from JSON), private-use characters (Co:
  no agreed glyph) and the 66 noncharacters (U+FDD0..U+FDEF, U+xxFFFE/U+xxFFFF).

Unassigned code points are allowed: emoji newer than this Python's Unicode
tables are unassigned to it. Pure; :mod:`prework.http.schemas` applies it to
``Name`` and ``ShortText``.
"""

from __future__ import annotations

import unicodedata
from typing import Final

import regex

__all__ = ["REFUSED_RANGES", "refused_ranges", "text_problem"]

_ZWJ = "\u200d"
_ZWNJ = "\u200c"
_EMOJI = regex.compile(r"\p{Extended_Pictographic}")
# what may sit between an emoji and a following ZWJ: variation selectors, skin tones
_EMOJI_TRAILER = regex.compile(r"[\uFE0E\uFE0F\p{Emoji_Modifier}]")
_TAG_SEQUENCE = regex.compile(r"\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F")
_JOINING_SCRIPT = regex.compile(
    r"[\p{scx=Arabic}\p{scx=Syriac}\p{scx=Devanagari}\p{scx=Bengali}\p{scx=Gurmukhi}"
    r"\p{scx=Gujarati}\p{scx=Oriya}\p{scx=Tamil}\p{scx=Telugu}\p{scx=Kannada}"
    r"\p{scx=Malayalam}\p{scx=Sinhala}]"
)

_INVISIBLE = (
    "must not contain invisible formatting characters "
    "(bidirectional controls, zero-width or tag characters)"
)
_REFUSED = {
    "Cc": "must not contain control characters",
    "Zl": "must not contain line or paragraph separators",
    "Zp": "must not contain line or paragraph separators",
    "Cs": "must be valid Unicode text (no lone surrogates)",
    "Co": "must not contain private-use characters",
}


def _noncharacter(cp: int) -> bool:
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


def _emoji_ends_at(text: str, i: int) -> bool:
    """Whether an emoji (with its trailing selectors or modifier) ends just before ``i``."""
    while i > 0 and _EMOJI_TRAILER.fullmatch(text[i - 1]):
        i -= 1
    return i > 0 and _EMOJI.fullmatch(text[i - 1]) is not None


def _allowed_format(text: str, i: int, tags: set[int]) -> bool:
    ch = text[i]
    following = text[i + 1] if i + 1 < len(text) else ""
    if ch == _ZWJ:
        return _emoji_ends_at(text, i) and _EMOJI.fullmatch(following) is not None
    if ch == _ZWNJ:
        return (
            i > 0
            and _JOINING_SCRIPT.fullmatch(text[i - 1]) is not None
            and _JOINING_SCRIPT.fullmatch(following) is not None
        )
    return i in tags


def text_problem(text: str) -> str | None:
    """Why ``text`` may not be a name (a short reason, without the text), or None."""
    tags: set[int] | None = None
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category in _REFUSED:
            return _REFUSED[category]
        if _noncharacter(ord(ch)):
            return "must not contain noncharacters"
        if category == "Cf":
            if tags is None:
                tags = {
                    j for m in _TAG_SEQUENCE.finditer(text) for j in range(m.start() + 1, m.end())
                }
            if not _allowed_format(text, i, tags):
                return _INVISIBLE
    return None


def refused_ranges() -> list[tuple[int, int]]:
    """The code points :func:`text_problem` refuses wherever they stand, as inclusive
    ranges, plus the format characters it allows only in context (ZWJ, ZWNJ, tags):
    a character class outside which text is certainly fine (for a schema pattern).
    Computed from this Python's Unicode tables (slow: :data:`REFUSED_RANGES` holds
    the result, and a test checks that they agree)."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x110000):
        category = unicodedata.category(chr(cp))
        if category in _REFUSED or category == "Cf" or _noncharacter(cp):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return ranges


# refused_ranges(), for Python 3.11's Unicode 14 tables
REFUSED_RANGES: Final[tuple[tuple[int, int], ...]] = (
    (0x0, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xD800, 0xF8FF),
    (0xFDD0, 0xFDEF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0xFFFE, 0xFFFF),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0x1FFFE, 0x1FFFF),
    (0x2FFFE, 0x2FFFF),
    (0x3FFFE, 0x3FFFF),
    (0x4FFFE, 0x4FFFF),
    (0x5FFFE, 0x5FFFF),
    (0x6FFFE, 0x6FFFF),
    (0x7FFFE, 0x7FFFF),
    (0x8FFFE, 0x8FFFF),
    (0x9FFFE, 0x9FFFF),
    (0xAFFFE, 0xAFFFF),
    (0xBFFFE, 0xBFFFF),
    (0xCFFFE, 0xCFFFF),
    (0xDFFFE, 0xDFFFF),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xEFFFE, 0x10FFFF),
)
