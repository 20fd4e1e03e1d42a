"""Creates the connector's topics before Faust starts (``LEC_KAFKA_TOPICS=create``), or checks that a platform team
created them (``check``). The plan is ``streams.topic_plan``: the catalogue, Faust's changelogs and leader topic.

The broker does not auto-create topics, so the bridges cannot create a one-partition topic by producing first;
the worker owns topic creation. Existing topics are left as they are, but one with fewer partitions than the
plan breaks co-partitioning and is reported.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from kafkaclients import KafkaConnection, admin_client
from streams.topic_plan import TopicPlan

logger = logging.getLogger(__name__)

UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION
LISTED_WITHIN_S = 15.0
TOPIC_AUTHORIZATION_FAILED = 29


class TopicsNotReady(Exception):
    """Some planned topic is missing or too small; the message says exactly which, and what to do."""


async def prepare_topics(connection: KafkaConnection, plan: TopicPlan, *, create: bool) -> None:
    """Create the missing topics (``create``) and check every one exists with enough partitions.

    Raises ``TopicsNotReady`` naming what is missing, or ``KafkaError`` when Kafka cannot be asked.
    """
    admin = admin_client(connection, request_timeout_ms=10000)
    refused: dict[str, str] = {}
    try:
        await admin.start()
        problems = await topic_problems(admin, plan)
        missing = [topic for topic in plan.topics if problems.get(topic.name) == "missing"]
        if create and missing:
            logger.info("creating topics: %s", ", ".join(topic.name for topic in missing))
            answer = await admin.create_topics([NewTopic(topic.name, topic.partitions, plan.replication,
                                                         topic_configs=topic.config) for topic in missing])
            # The broker answers each topic on its own and aiokafka raises for none: a refusal (a replication
            # factor above the brokers' count, a policy, an ACL) is only in the answer.
            for name, code, *message in answer.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):  # already there: another worker made it
                    detail = f" {message[0]}" if message and message[0] else ""
                    refused[name] = f"refused: {for_code(code).__name__}{detail}"
            problems = await topic_problems(admin, plan)
            # A topic just created may not be listed yet: the brokers learn it from the controller.
            deadline = time.monotonic() + LISTED_WITHIN_S
            while time.monotonic() < deadline and any(
                    problems.get(topic.name) == "missing" and topic.name not in refused for topic in missing):
                await asyncio.sleep(0.2)
                problems = await topic_problems(admin, plan)
    finally:
        await admin.close()
    problems |= {name: why for name, why in refused.items() if name in problems}
    if problems:
        listed = ", ".join(f"{name} ({problem})" for name, problem in sorted(problems.items()))
        advice = ("create them, or let the worker do it: LEC_KAFKA_TOPICS=create" if not create else
                  "create them (python -m streams topics prints the commands), or fix what the broker refused")
        raise TopicsNotReady(f"LEC_KAFKA_TOPICS={'create' if create else 'check'}: {len(problems)} topic(s) not "
                             f"ready: {listed}; {advice}")


async def topic_problems(admin: AIOKafkaAdminClient, plan: TopicPlan) -> dict[str, str]:
    """Each planned topic that is missing, not readable or has fewer partitions than planned, with why.

    Only listed topics are described: a metadata request naming a missing topic would have a broker with
    ``auto.create.topics.enable`` (Kafka's default) create it, with its default partition count.
    """
    existing = set(await admin.list_topics())
    present = [name for name in plan.names() if name in existing]
    described = {entry["topic"]: entry for entry in await admin.describe_topics(present)} if present else {}
    problems: dict[str, str] = {}
    for topic in plan.topics:
        entry = described.get(topic.name)
        code = entry.get("error_code", 0) if entry else UNKNOWN_TOPIC
        if code == UNKNOWN_TOPIC:
            problems[topic.name] = "missing"
        elif code == TOPIC_AUTHORIZATION_FAILED:
            problems[topic.name] = "not authorized to describe: see the worker's ACLs"
        elif code != 0:
            problems[topic.name] = f"error {code}"
        elif entry is not None and len(entry.get("partitions", [])) < topic.partitions:
            problems[topic.name] = f"{len(entry['partitions'])} partitions, needs {topic.partitions}"
    return problems


