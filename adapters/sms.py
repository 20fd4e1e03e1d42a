"""SMS length rules: GSM-7 or UCS-2, how many segments a text costs, and splitting long texts.

A text made only of GSM 03.38 characters is sent in GSM-7: 160 septets in one SMS, 153 per part when
concatenated, extension characters (``^ { } \\ [ ] ~ | €`` and form feed) costing two. Any other character
switches the whole text to UCS-2: 70 code units in one SMS, 67 per part, a character outside the BMP (most
emoji) costing two.
"""

from __future__ import annotations

import math

from adapters.textsplit import split_between_words

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
SINGLE = {"GSM-7": 160, "UCS-2": 70}
PER_PART = {"GSM-7": 153, "UCS-2": 67}


def encoding(text: str) -> str:
    return "GSM-7" if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text) else "UCS-2"


def units(text: str, encoded_as: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes."""
    if encoded_as == "GSM-7":
        return sum(2 if c in GSM_EXTENSION else 1 for c in text)
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def segments(text: str) -> int:
    """How many SMS the text is sent as (1 for an empty text)."""
    encoded_as = encoding(text)
    size = units(text, encoded_as)
    return 1 if size <= SINGLE[encoded_as] else math.ceil(size / PER_PART[encoded_as])


def split(text: str, *, max_segments: int, max_chars: int) -> list[str]:
    """Parts of ``text``, in order, each at most ``max_segments`` SMS and ``max_chars`` characters, cut
    between words where a word boundary is near enough. Joined with single spaces they give the text back
    up to whitespace at the cuts."""
    if fits(text, max_segments, max_chars):
        return [text]
    return split_between_words(text, lambda part: fits(part, max_segments, max_chars))


def fits(text: str, max_segments: int, max_chars: int) -> bool:
    return len(text) <= max_chars and segments(text) <= max_segments
