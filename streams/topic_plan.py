"""Every topic the connector needs, with partitions, replication and configs, and the ACLs each role needs.

The worker creates these topics (``LEC_KAFKA_TOPICS=create``) or only checks them (``check``, for clusters whose
topics a platform team owns); ``python -m streams topics`` prints them as ``kafka-topics``/``kafka-acls`` commands
or as Strimzi ``KafkaTopic``/``KafkaUser`` resources. Besides the catalogue, Faust needs a compacted changelog per
table ("<app id>-<table>-changelog") and a one-partition leader topic ("<app id>-__assignor-__leader").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schemas import topics as catalogue


@dataclass(frozen=True)
class PlannedTopic:
    name: str
    partitions: int
    config: dict[str, str]
    purpose: str


@dataclass(frozen=True)
class Acl:
    """One ACL: operations on a topic, group or the cluster, by literal name or by prefix."""

    resource: str  # topic, group or cluster
    name: str
    operations: tuple[str, ...]
    prefixed: bool = False


@dataclass(frozen=True)
class Role:
    name: str
    acls: tuple[Acl, ...]


@dataclass(frozen=True)
class TopicPlan:
    app_id: str
    replication: int
    topics: list[PlannedTopic] = field(default_factory=list)

    def names(self) -> list[str]:
        return [topic.name for topic in self.topics]


# Faust's own names (faust.tables.base, faust.assignor.leader_assignor); a test holds them to Faust's topics.
def changelog_topic(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"


def leader_topic(app_id: str) -> str:
    return f"{app_id}-__assignor-__leader"


def durable(min_insync_replicas: int) -> dict[str, str]:
    """The config every topic gets: a write is acknowledged once this many replicas have it."""
    return {"min.insync.replicas": str(min_insync_replicas)}


def plan(app_id: str, partitions: int, replication: int, min_insync_replicas: int) -> TopicPlan:
    topics = [PlannedTopic(spec.name, partitions, durable(min_insync_replicas),
                           f"{spec.value_record} records by {spec.key}") for spec in catalogue.ALL]
    topics += [PlannedTopic(changelog_topic(app_id, table), partitions,
                            {"cleanup.policy": "compact", **durable(min_insync_replicas)},
                            f"changelog of the worker's {table} table") for table in catalogue.TABLES]
    topics.append(PlannedTopic(leader_topic(app_id), 1, durable(min_insync_replicas), "Faust's leader election"))
    return TopicPlan(app_id, replication, topics)


def roles(app_id: str, *, worker_creates_topics: bool) -> list[Role]:
    """The least each process needs. Idempotent producers need only Write on their topics (Kafka 3.0+, KIP-679)."""
    worker_topic_ops = ("Read", "Write", "Describe", "DescribeConfigs") + (("Create",) if worker_creates_topics
                                                                          else ())
    return [
        Role("channel-bridge", (Acl("topic", catalogue.CHANNEL_INBOUND.name, ("Write", "Describe")),)),
        Role("webhook-bridge", (Acl("topic", catalogue.LIVEENGAGE_EVENTS.name, ("Write", "Describe")),)),
        Role("worker", (
            Acl("topic", "lec.", worker_topic_ops, prefixed=True),
            Acl("topic", f"{app_id}-", worker_topic_ops, prefixed=True),
            Acl("group", app_id, ("Read", "Describe")),
            Acl("group", f"{app_id}-dead-letter-replay", ("Read", "Describe")),  # python -m streams dead-letters
        )),
        Role("console", (  # the sandbox console: it shows every topic and replays dead letters to their source
            Acl("topic", "lec.", ("Read", "Write", "Describe"), prefixed=True),
            Acl("group", f"{app_id}-dead-letter-replay", ("Read", "Describe")),
        )),
        Role("analytics", (Acl("topic", catalogue.ANALYTICS_EVENTS.name, ("Read", "Describe")),)),
    ]


def kafka_cli(topics: TopicPlan, role_list: list[Role]) -> str:
    """The plan as Kafka's own tools' commands (principals are placeholders: User:<role>)."""
    lines = ["# Topics (kafka-topics.sh; add --command-config for a secured cluster)"]
    for topic in topics.topics:
        configs = "".join(f" --config {key}={value}" for key, value in sorted(topic.config.items()))
        lines.append(f"kafka-topics.sh --bootstrap-server $BOOTSTRAP --create --if-not-exists --topic {topic.name} "
                     f"--partitions {topic.partitions} --replication-factor {topics.replication}{configs}")
    lines.append("")
    lines.append("# ACLs (kafka-acls.sh); replace User:<role> with each process's principal")
    for role in role_list:
        for acl in role.acls:
            target = {"topic": f"--topic {acl.name}", "group": f"--group {acl.name}", "cluster": "--cluster"}
            pattern = " --resource-pattern-type prefixed" if acl.prefixed else ""
            operations = "".join(f" --operation {operation}" for operation in acl.operations)
            lines.append(f"kafka-acls.sh --bootstrap-server $BOOTSTRAP --add --allow-principal User:{role.name} "
                         f"{target[acl.resource]}{pattern}{operations}")
    return "\n".join(lines) + "\n"


def kubernetes_name(topic: str) -> str:
    """A resource name Kubernetes accepts (lower case, digits, '-' and '.') for a topic name that may have '_'."""
    return re.sub(r"[^a-z0-9.-]+", "-", topic.lower()).strip("-.")


def strimzi(topics: TopicPlan, role_list: list[Role], *, cluster: str, authentication: str) -> str:
    """The plan as Strimzi KafkaTopic and KafkaUser resources for the Kafka cluster named ``cluster``."""
    documents: list[str] = []
    for topic in topics.topics:
        config = "".join(f"\n    {key}: \"{value}\"" for key, value in sorted(topic.config.items()))
        documents.append(
            f"apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata:\n  name: {kubernetes_name(topic.name)}"
            f"\n  labels:\n    strimzi.io/cluster: {cluster}\nspec:\n  topicName: {topic.name}\n"
            f"  partitions: {topic.partitions}\n  replicas: {topics.replication}\n  config:{config}\n")
    for role in role_list:
        acls = "".join(
            f"\n      - resource:\n          type: {acl.resource}"
            + (f"\n          name: {acl.name}\n          patternType: {'prefix' if acl.prefixed else 'literal'}"
               if acl.resource != "cluster" else "")
            + "\n        operations: [" + ", ".join(acl.operations) + "]"
            for acl in role.acls)
        documents.append(
            f"apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaUser\nmetadata:\n  name: lec-{role.name}\n"
            f"  labels:\n    strimzi.io/cluster: {cluster}\nspec:\n  authentication:\n    type: {authentication}\n"
            f"  authorization:\n    type: simple\n    acls:{acls}\n")
    return "---\n".join(documents)
