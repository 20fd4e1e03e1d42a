"""SMS length rules: encodings, segment counts at the limits, and splitting that keeps every word."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sms import encoding, segments, split


@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),  # GSM-7: 160 alone, 153 per part
    ("€" * 80, 1), ("€" * 81, 2),  # extension characters cost two septets
    ("é" * 160, 1),  # in the GSM basic set
    ("ж" * 70, 1), ("ж" * 71, 2), ("ж" * 134, 2), ("ж" * 135, 3),  # UCS-2: 70 alone, 67 per part
    ("😀" * 35, 1), ("😀" * 36, 2),  # outside the BMP: two UTF-16 units each
    ("a" * 159 + "😀", 3),  # one emoji switches the whole text to UCS-2: 161 units, 67 per part
])
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_encoding() -> None:
    assert encoding("Grüße, {ok}") == "GSM-7" and encoding("naïve") == "UCS-2"


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1,
                              max_size=40), min_size=1, max_size=200),
       max_segments=st.integers(1, 10), max_chars=st.integers(40, 1600))
def test_split_parts_fit_and_keep_every_word(words: list[str], max_segments: int, max_chars: int) -> None:
    text = " ".join(words)
    parts = split(text, max_segments=max_segments, max_chars=max_chars)
    assert all(len(p) <= max_chars and segments(p) <= max_segments for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")  # cut between or inside words, nothing lost
