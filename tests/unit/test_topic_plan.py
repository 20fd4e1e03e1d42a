"""``python -m streams topics``: every topic the worker needs, and the resources a Strimzi cluster takes for them.

The Strimzi checks hold the output to the enumerations of Strimzi's KafkaTopic and KafkaUser CRDs (v1beta2,
``packaging/install/cluster-operator/043-Crd-kafkatopic.yaml`` and ``044-Crd-kafkauser.yaml`` in
strimzi-kafka-operator); the kafka-topics and kafka-acls commands themselves run in tests/e2e (test_topic_ownership,
test_acls).
"""

from __future__ import annotations

import re

import yaml

from schemas import topics as catalogue
from streams.topic_plan import kafka_cli, plan, roles, strimzi

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
STRIMZI_OPERATIONS = {"Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "AlterConfigs",
                      "DescribeConfigs", "IdempotentWrite", "All"}


def test_the_plan_is_the_catalogue_the_changelogs_and_the_leader_topic() -> None:
    planned = plan("lec-worker", 6, 3, 2)
    names = planned.names()
    assert names[:len(catalogue.ALL)] == [spec.name for spec in catalogue.ALL]
    assert {f"lec-worker-{table}-changelog" for table in catalogue.TABLES} <= set(names)
    assert "lec-worker-__assignor-__leader" in names and len(names) == len(set(names))
    changelogs = [topic for topic in planned.topics if topic.name.endswith("-changelog")]
    assert all(topic.config == {"cleanup.policy": "compact", "min.insync.replicas": "2"} for topic in changelogs)
    assert all(topic.partitions == 6 for topic in planned.topics if "__leader" not in topic.name)


def test_strimzi_resources_fit_the_crds() -> None:
    planned = plan("lec-worker", 4, 3, 2)
    documents = list(yaml.safe_load_all(strimzi(planned, roles("lec-worker", worker_creates_topics=False),
                                                cluster="prod", authentication="tls")))
    topics = [doc for doc in documents if doc["kind"] == "KafkaTopic"]
    users = [doc for doc in documents if doc["kind"] == "KafkaUser"]
    assert [doc["spec"]["topicName"] for doc in topics] == planned.names()
    for doc in documents:
        assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert DNS_SUBDOMAIN.match(doc["metadata"]["name"]), doc["metadata"]["name"]
        assert doc["metadata"]["labels"] == {"strimzi.io/cluster": "prod"}
    assert all(doc["spec"]["replicas"] == 3 and doc["spec"]["config"]["min.insync.replicas"] == "2"
               for doc in topics)
    assert {doc["metadata"]["name"] for doc in users} == {
        "lec-channel-bridge", "lec-webhook-bridge", "lec-worker", "lec-console", "lec-analytics"}
    for user in users:
        assert user["spec"]["authentication"] == {"type": "tls"}
        assert user["spec"]["authorization"]["type"] == "simple"
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["type"] in {"topic", "group", "cluster", "transactionalId"}
            assert acl["resource"].get("patternType", "literal") in {"literal", "prefix"}
            assert set(acl["operations"]) <= STRIMZI_OPERATIONS


def test_in_check_mode_the_worker_is_not_granted_topic_creation() -> None:
    checking = kafka_cli(plan("lec-worker", 4, 3, 2), roles("lec-worker", worker_creates_topics=False))
    creating = kafka_cli(plan("lec-worker", 4, 3, 2), roles("lec-worker", worker_creates_topics=True))
    assert "--operation Create" not in checking and "--operation Create" in creating
    assert "--allow-principal User:channel-bridge --topic lec.channel.inbound --operation Write" in checking
