"""Creates the connector's topics before Faust starts (``LEC_KAFKA_TOPICS=create``), or checks that a platform team
created them (``check``). The plan is ``streams.topic_plan``: the catalogue, Faust's changelogs and leader topic.

The broker does not auto-create topics, so the bridges cannot create a one-partition topic by producing first;
the worker owns topic creation. Existing topics are left as they are, but one with fewer partitions than the
plan breaks co-partitioning and is reported.
"""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from kafkaclients import KafkaConnection, admin_client
from streams.topic_plan import TopicPlan

logger = logging.getLogger(__name__)

UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION
TOPIC_AUTHORIZATION_FAILED = 29


class TopicsNotReady(Exception):
    """Some planned topic is missing or too small; the message says exactly which, and what to do."""


async def prepare_topics(connection: KafkaConnection, plan: TopicPlan, *, create: bool) -> None:
    """Create the missing topics (``create``) and check every one exists with enough partitions.

    Raises ``TopicsNotReady`` naming what is missing, or ``KafkaError`` when Kafka cannot be asked.
    """
    admin = admin_client(connection, request_timeout_ms=10000)
    await admin.start()
    try:
        problems = await topic_problems(admin, plan)
        missing = [topic for topic in plan.topics if problems.get(topic.name) == "missing"]
        if create and missing:
            logger.info("creating topics: %s", ", ".join(topic.name for topic in missing))
            try:
                await admin.create_topics([NewTopic(topic.name, topic.partitions, plan.replication,
                                                    topic_configs=topic.config) for topic in missing])
            except TopicAlreadyExistsError:
                pass  # another worker was creating them: list them again
            problems = await topic_problems(admin, plan)
    finally:
        await admin.close()
    if problems:
        listed = ", ".join(f"{name} ({problem})" for name, problem in sorted(problems.items()))
        advice = ("create them, or let the worker do it: LEC_KAFKA_TOPICS=create" if not create else
                  "the worker could not create them: see the broker's answer above, or create them "
                  "(python -m streams topics prints the commands)")
        raise TopicsNotReady(f"LEC_KAFKA_TOPICS={'create' if create else 'check'}: {len(problems)} topic(s) not "
                             f"ready: {listed}; {advice}")


async def topic_problems(admin: AIOKafkaAdminClient, plan: TopicPlan) -> dict[str, str]:
    """Each planned topic that is missing, not readable or has fewer partitions than planned, with why."""
    described = {entry["topic"]: entry for entry in await admin.describe_topics(plan.names())}
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


