"""What the worker waits for before Faust starts: a Kafka that accepts its connection, and every planned topic.

Until then it serves ``/livez`` (alive) and ``/readyz`` (503 with the problem, one line naming the setting to
fix), logs each new problem once, and tries again: a refused login or a missing topic is fixed from outside,
and the worker goes on by itself rather than crash-looping.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError

from kafkaclients.probe import diagnose, explain
from streams.health import ProbeSite
from streams.provision import TopicsNotReady, prepare_topics
from streams.settings import WorkerSettings
from streams.topic_plan import TopicPlan

logger = logging.getLogger(__name__)

LONGEST_WAIT_S = 10.0


async def wait_for_kafka(settings: WorkerSettings, plan: TopicPlan) -> None:
    """Return once Kafka is reachable and the topics are ready (created first with ``LEC_KAFKA_TOPICS=create``)."""
    problem: str | None = "checking Kafka"
    site = ProbeSite(settings.web_host, settings.web_port, lambda: problem)
    await site.start()
    try:
        delay = 0.5
        while True:
            try:
                await prepare_topics(settings, plan, create=settings.kafka_topics == "create")
                logger.info("Kafka at %s reachable, %d topics ready", settings.kafka_bootstrap, len(plan.topics))
                return
            except TopicsNotReady as exc:
                found = str(exc)
            except Exception as exc:  # noqa: BLE001 - not connected (or a token provider failed): say why
                found = await diagnose(settings) or (
                    f"LEC_KAFKA_TOPICS: Kafka refused to describe or create topics ({exc.__class__.__name__})"
                    if isinstance(exc, KafkaError) else explain(exc, settings, settings.kafka_bootstrap))
            if found != problem:
                logger.error("not ready: %s; retrying", found)
            problem = found
            await asyncio.sleep(delay)
            delay = min(delay * 2, LONGEST_WAIT_S)
    finally:
        await site.stop()
