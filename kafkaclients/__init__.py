"""How every process of the connector reaches Kafka: one settings block (``LEC_KAFKA_*``) and the only place that
turns it into client options, for aiokafka's producers, consumers and admin clients and for Faust.

Shared by the bridges, the worker and its tools, the console, analytics, the local stack and the benchmark, so a
TLS, SASL or mTLS cluster is reached the same way by all of them.
"""

from kafkaclients.clients import admin_client, client_options, consumer, faust_options, producer
from kafkaclients.settings import KafkaConnection

__all__ = ["KafkaConnection", "admin_client", "client_options", "consumer", "faust_options", "producer"]
