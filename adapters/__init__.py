"""Channel adapters: one module per gateway format, found by name (a channel's ``adapter`` setting).

Adding an adapter is adding a module here that defines ``ADAPTER``, an instance of
``adapters.base.ChannelAdapter``; nothing else changes. Both the channel bridge and the worker use adapters,
and adapters import neither.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, SecretStr, ValidationError, model_validator

from adapters.base import AdapterConfig, Capabilities, ChannelAdapter

ADAPTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
NOT_ADAPTERS = {"base", "sms"}


@dataclass(frozen=True)
class Binding:
    """A channel's adapter with the channel's validated settings."""

    adapter: ChannelAdapter[Any]
    config: AdapterConfig

    @property
    def capabilities(self) -> Capabilities:
        return self.adapter.capabilities(self.config)

    def secrets(self) -> list[str]:
        """Every secret in the channel's adapter settings, for log redaction."""
        return [value.get_secret_value() for value in vars(self.config).values() if isinstance(value, SecretStr)]


def load(name: str) -> ChannelAdapter[Any]:
    """The adapter called ``name``; ``ValueError`` when there is none."""
    if not ADAPTER_NAME.match(name) or name in NOT_ADAPTERS:
        raise ValueError(f"no channel adapter named {name!r}")
    try:
        module = importlib.import_module(f"adapters.{name}")
    except ModuleNotFoundError as exc:
        raise ValueError(f"no channel adapter named {name!r}") from exc
    adapter = getattr(module, "ADAPTER", None)
    if not isinstance(adapter, ChannelAdapter):
        raise ValueError(f"adapters.{name} defines no ADAPTER")
    return adapter


def bind(channel: dict[str, Any]) -> Binding:
    """Bind a channel's settings (its LEC_CHANNELS entry) to its adapter; ``ValueError`` names what is wrong."""
    adapter = load(str(channel.get("adapter", "generic")))
    try:
        return Binding(adapter, adapter.config(channel))
    except ValidationError as exc:  # re-raised without the input, which holds secrets
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        raise ValueError(f"{adapter.name} adapter settings: {problems}") from None


class BoundChannel(BaseModel):
    """A channel's settings (one LEC_CHANNELS entry) bound to its adapter at validation; subclasses add the
    fields their process reads. The adapter's own fields stay in the entry, as extra fields."""

    model_config = ConfigDict(extra="allow")
    adapter: str = "generic"
    _binding: Binding | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _bind(self) -> BoundChannel:
        self._binding = bind(self.model_dump())
        return self

    @property
    def binding(self) -> Binding:
        assert self._binding is not None
        return self._binding

    @property
    def capabilities(self) -> Capabilities:
        return self.binding.capabilities
