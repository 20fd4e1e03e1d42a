"""Renders LiveEngage structured content and quick replies as text for channels that only show text.

Text elements become lines; buttons and quick replies become a numbered list whose numbers the consumer can
answer with (``choices`` says what each number stands for); links, link previews and map locations keep their
URL. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CONTAINERS = ("vertical", "horizontal", "carousel")


@dataclass
class Rendered:
    lines: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    metadata: list[str | None] = field(default_factory=list)  # each choice's click.metadata, as JSON

    @property
    def text(self) -> str:
        return "\n".join(line for line in self.lines if line)

    def add_choice(self, title: str, stands_for: str, link: str | None = None,
                   metadata: list[Any] | None = None) -> None:
        self.choices.append(stands_for)
        self.metadata.append(json.dumps(metadata, separators=(",", ":")) if metadata else None)
        self.lines.append(f"{len(self.choices)}. {title}" + (f" ({link})" if link else ""))


def render(content: dict[str, Any] | None, text: str | None = None,
           quick_replies: dict[str, Any] | None = None) -> Rendered:
    """The text and numbered choices of an agent's message: plain ``text``, structured ``content``, or both,
    followed by its quick replies."""
    rendered = Rendered()
    if text:
        rendered.lines.append(text.rstrip("\n"))
    if isinstance(content, dict):
        _element(content, rendered)
    if isinstance(quick_replies, dict):
        for reply in quick_replies.get("replies") or []:
            if isinstance(reply, dict):
                _element(reply, rendered)
    return rendered


def _element(element: dict[str, Any], out: Rendered) -> None:
    kind = element.get("type")
    if kind in CONTAINERS:
        for child in element.get("elements") or []:
            if isinstance(child, dict):
                _element(child, out)
    elif kind == "text":
        out.lines.append(str(element.get("text", "")))
    elif kind == "image":
        out.lines.append(" ".join(str(p) for p in (element.get("caption"), element.get("url")) if p))
    elif kind == "linkPreview":
        out.lines.append(": ".join(str(p) for p in (element.get("title"), element.get("url")) if p))
    elif kind == "map":
        out.lines.append(f"{element.get('name') or 'Location'}: {_map_url(element)}")
    elif kind == "button":
        _button(element, out)
    elif kind == "template" and element.get("templateType") == "quickReply":
        out.lines.append(str(element.get("title", "")))
        for response in element.get("resp") or []:
            out.add_choice(str(response), str(response))


def _button(button: dict[str, Any], out: Rendered) -> None:
    title = str(button.get("title", ""))
    actions = [a for a in (button.get("click") or {}).get("actions") or [] if isinstance(a, dict)]
    stands_for, link = title, None
    for action in actions:
        if action.get("type") == "publishText" and action.get("text"):
            stands_for = str(action["text"])
        elif action.get("type") == "link" and action.get("uri"):
            link = str(action["uri"])
        elif action.get("type") == "navigate":
            link = _map_url(action)
    metadata = (button.get("click") or {}).get("metadata")
    out.add_choice(title, stands_for, link, metadata if isinstance(metadata, list) else None)


def _map_url(place: dict[str, Any]) -> str:
    return f"https://www.google.com/maps?q={place.get('la')},{place.get('lo')}"
