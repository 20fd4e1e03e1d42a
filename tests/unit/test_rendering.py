"""Structured content and quick replies rendered as text, with numbered choices."""

from __future__ import annotations

from streams.consumer_flow import chosen
from streams.rendering import render

CARD = {
    "type": "vertical",
    "elements": [
        {"type": "text", "text": "Order A-4471", "style": {"bold": True}},
        {"type": "image", "url": "https://img.example/p.png", "caption": "Your parcel"},
        {"type": "button", "title": "Track parcel",
         "click": {"actions": [{"type": "link", "name": "Track", "uri": "https://tracking.example/A-4471"}]}},
        {"type": "horizontal", "elements": [
            {"type": "button", "title": "Yes", "click": {"actions": [{"type": "publishText", "text": "yes please"}]}},
            {"type": "button", "title": "No"},
        ]},
        {"type": "map", "la": 52.52, "lo": 13.405, "name": "Depot"},
        {"type": "linkPreview", "url": "https://help.example/returns", "title": "Returns"},
    ],
}


def test_card_renders_lines_and_numbered_buttons_with_links_kept() -> None:
    rendered = render(CARD)
    assert rendered.text.splitlines() == [
        "Order A-4471",
        "Your parcel https://img.example/p.png",
        "1. Track parcel (https://tracking.example/A-4471)",
        "2. Yes",
        "3. No",
        "Depot: https://www.google.com/maps?q=52.52,13.405",
        "Returns: https://help.example/returns",
    ]
    assert rendered.choices == ["Track parcel", "yes please", "No"]


def test_quick_replies_follow_the_text_and_continue_numbering() -> None:
    quick = {"type": "quickReplies", "itemsPerRow": 8, "replies": [
        {"type": "button", "title": "Yes", "click": {"actions": [{"type": "publishText", "text": "yep"}]}},
        {"type": "button", "title": "Later", "click": {"actions": [{"type": "publishText", "text": "later"}]}},
    ]}
    rendered = render(None, "Did that help?\n", quick)
    assert rendered.text == "Did that help?\n1. Yes\n2. Later"
    assert rendered.choices == ["yep", "later"]


def test_legacy_quick_reply_template() -> None:
    rendered = render({"type": "template", "templateType": "quickReply", "title": "Pick", "resp": ["A", "B"]})
    assert rendered.text == "Pick\n1. A\n2. B" and rendered.choices == ["A", "B"]


def test_unknown_elements_and_garbage_are_skipped() -> None:
    assert render({"type": "vertical", "elements": [{"type": "hologram"}, "x", {"type": "text", "text": "ok"}]}).text \
        == "ok"


def test_numbered_reply_maps_back_to_the_choice() -> None:
    choices = ["yep", "later", "Skip"]
    assert chosen("2", choices) == 1
    assert chosen(" 1. ", choices) == 0
    assert chosen("skip", choices) == 2  # the choice's own text picks it too
    assert chosen("4", choices) is None
    assert chosen("0", choices) is None
    assert chosen("yes 2", choices) is None
    assert chosen("1", []) is None
