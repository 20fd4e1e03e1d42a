"""Splitting a long text into parts that each fit a limit, cutting between words: one algorithm for every limit
(SMS segments on Twilio, LiveEngage's request size), each caller saying what fits."""

from __future__ import annotations

import re
from collections.abc import Callable


def split_between_words(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Parts of ``text``, in order, each one that ``fits``, cut after whitespace (inside a word only when the word
    alone does not fit). Joined with single spaces they give the text back up to whitespace at the cuts."""
    parts: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*", text):
        candidate = current + word
        if fits(candidate.rstrip()):
            current = candidate
            continue
        if current:
            parts.append(current.rstrip())
        current = ""
        while not fits(word.rstrip()):  # a word longer than a part: cut it
            cut = _longest_prefix(word, fits)
            parts.append(word[:cut])
            word = word[cut:]
        current = word
    if current.strip():
        parts.append(current.rstrip())
    return parts


def _longest_prefix(word: str, fits: Callable[[str], bool]) -> int:
    low, high = 1, len(word)
    while low < high:  # the longest prefix that fits (a one-character prefix always does)
        middle = (low + high + 1) // 2
        if fits(word[:middle]):
            low = middle
        else:
            high = middle - 1
    return low
