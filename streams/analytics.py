"""Analytics events: what happened in each conversation, when and how fast, without who or what was said.

Consumers are named by an HMAC of their key under the deployment's analytics key, so analytics can count
distinct consumers and follow one across conversations, while a leaked topic does not give their numbers away
(a plain hash of a phone number is reversed by trying every number). Texts are reduced to their length.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timezone
from typing import Any

from faust.types import TopicT
from pydantic import SecretStr

from schemas.codec import codec
from schemas.topics import consumer_key

from streams import metrics
from streams.engine.topics import publish

logger = logging.getLogger(__name__)
EVENT = codec("AnalyticsEvent")
LATENCY_DIRECTIONS = {"CONSUMER_MESSAGE": "consumer_to_liveengage", "AGENT_MESSAGE": "agent_to_channel"}


def consumer_digest(key: bytes, consumer_key: str) -> str:
    return hmac.new(key, consumer_key.encode(), hashlib.sha256).hexdigest()


def since_ms(start: datetime | None) -> int | None:
    return None if start is None else int((datetime.now(timezone.utc) - start).total_seconds() * 1000)


class Analytics:
    """Writes AnalyticsEvent records, keyed by conversation; does nothing when no analytics key is set."""

    def __init__(self, topic: TopicT, key: SecretStr | None) -> None:
        self._topic = topic
        self._key = key.get_secret_value().encode() if key is not None else None
        if self._key is None:
            logger.info("LEC_ANALYTICS_KEY is not set: lec.analytics.events is not written")

    async def record(self, kind: str, *, event_id: str, account_id: str, channel_id: str, consumer_id: str,
                     conversation_id: str, content_type: str | None = None, text: str | None = None,
                     latency_ms: int | None = None) -> None:
        if latency_ms is not None and kind in LATENCY_DIRECTIONS:
            metrics.LATENCY.labels(LATENCY_DIRECTIONS[kind]).observe(latency_ms / 1000)
        if self._key is None:
            return
        event: dict[str, Any] = {
            "event_id": event_id, "kind": kind, "occurred_at": datetime.now(timezone.utc),
            "account_id": account_id, "channel_id": channel_id, "conversation_id": conversation_id,
            "consumer_digest": consumer_digest(self._key, consumer_key(channel_id, consumer_id)),
            "content_type": content_type, "length": len(text) if text is not None else None,
            "latency_ms": latency_ms,
        }
        await publish(self._topic, conversation_id, EVENT.encode(event))
